"""The data section of a one-arm experiment ('a' against 'ctl', one continuous outcome y), and
scored rows of it where only part of the targeting pays, shared by the safeguard and
allocated-policy tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

ONE_ARM_DATA = {
    "experiment": {"path": "unused"},
    "control": "ctl",
    "arms": ["a"],
    "features": {"f": "numeric"},
    "outcomes": {"y": "continuous"},
}


def top_slice_rows(n: int, seed: int) -> pd.DataFrame:
    """Rows where the offer pays (+2) on a top slice of x (x > 1.2, about 12%) and loses (-0.2)
    elsewhere; the scores know the slice and are noise around +0.2 elsewhere, so the whole
    targeted policy also makes many departures from no offer that lose."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    treated = rng.random(n) < 0.5
    top = x > 1.2
    y = x + treated * np.where(top, 2.0, -0.2) + rng.normal(scale=3.0, size=n)
    tau = np.where(top, 2.0, rng.normal(0.2, 0.3, size=n))
    return scored_one_arm_rows(treated, y, x, tau)


def scored_one_arm_rows(
    treated: np.ndarray, y: np.ndarray, x: np.ndarray, tau: np.ndarray
) -> pd.DataFrame:
    """Scored rows of the one-arm experiment: arm 'a' where ``treated``, outcome ``y``, design
    propensity 0.5, control prediction ``x`` and effect scores ``tau``."""
    return pd.DataFrame(
        {
            "treatment": np.where(treated, "a", "ctl"),
            "y": y,
            "propensity": 0.5,
            "mu__y__ctl": x,
            "mu__y__a": x + tau,
            "tau__y__a": tau,
        }
    )

