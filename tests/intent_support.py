"""A small intent experiment with a known truth, for the segment tests (pure numpy).

The structure of the simulator's ``intent`` scenario: latent types campaign_driven (converts
with the campaign, rarely without), organic (converts either way; more likely among highly
engaged customers, so a response model ranks them first), low_engagement (rarely converts) and
put_off (converts only without the campaign); randomized exposure with share ``exposure_share``
recorded as ``propensity``; ``converted``; ``attributed`` = 1 for an exposed conversion credited
to the campaign, with a share ``unattributed`` of conversions never attributed; truth columns
``true_type``, ``y0``, ``y1``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = {
    "visits": "numeric",
    "recency": "numeric",
    "frequency": "numeric",
    "tenure": "numeric",
    "past_spend": "numeric",
    "channel": "categorical",
}
TYPES = ("campaign_driven", "organic", "low_engagement", "put_off")
CONVERSION = {  # type -> (P(Y_0 = 1), P(Y_1 = 1))
    "campaign_driven": (0.03, 0.75),
    "organic": (0.8, 0.8),
    "low_engagement": (0.02, 0.02),
    "put_off": (0.6, 0.05),
}


def type_logits(frame: pd.DataFrame, organic_bias: float) -> np.ndarray:
    """(n, 4) logits of the latent types from the engagement features (overlapping)."""
    engagement = (
        0.6 * np.log1p(frame["visits"])
        + 0.5 * np.log1p(frame["frequency"])
        - 0.02 * frame["recency"]
        + 0.004 * frame["past_spend"]
    ).to_numpy()
    engagement = (engagement - engagement.mean()) / engagement.std()
    app = (frame["channel"] == "app").to_numpy(dtype=float)
    tenure = frame["tenure"].to_numpy()
    return np.column_stack(
        [
            0.3 + 1.4 * app - 0.6 * engagement**2 + 0.1 * tenure,
            organic_bias + 1.6 * engagement + 0.1 * tenure,
            -1.6 * engagement - 0.3 * app,
            np.full(len(frame), -2.5),
        ]
    )


def intent_frame(
    n: int,
    seed: int,
    exposure_share: float = 0.8,
    unattributed: float = 0.3,
    organic_bias: float = 0.0,
) -> pd.DataFrame:
    """``n`` customers with features, exposure, outcomes, attribution and the truth."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n, dtype=np.int64),
            "visits": rng.poisson(4.0, n).astype(float),
            "recency": rng.exponential(30.0, n),
            "frequency": rng.poisson(2.0, n).astype(float),
            "tenure": rng.uniform(0.0, 10.0, n),
            "past_spend": rng.gamma(2.0, 60.0, n),
            "channel": rng.choice(["web", "app", "store"], n),
        }
    )
    logits = type_logits(frame, organic_bias)
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    types = np.asarray(TYPES)[(rng.random(n)[:, None] > proba.cumsum(axis=1)).sum(axis=1)]
    rates = np.array([CONVERSION[t] for t in types])
    shared = rng.random(n)  # organic and low-engagement customers do the same either way
    own = rng.random(n)
    same = np.isin(types, ("organic", "low_engagement"))
    y0 = (np.where(same, shared, own) < rates[:, 0]).astype(np.int64)
    y1 = (shared < rates[:, 1]).astype(np.int64)
    exposed = (rng.random(n) < exposure_share).astype(np.int64)
    converted = np.where(exposed == 1, y1, y0)
    frame["exposed"] = exposed
    frame["propensity"] = np.where(exposed == 1, exposure_share, 1.0 - exposure_share)
    frame["converted"] = converted
    frame["attributed"] = exposed * converted * (rng.random(n) >= unattributed)
    frame["true_type"], frame["y0"], frame["y1"] = types, y0, y1
    return frame
