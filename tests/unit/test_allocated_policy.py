"""The evaluate stage values the policy the allocate stage allocated: the static one when the
safeguard chose it, not the model's targeting."""

from __future__ import annotations

import numpy as np
import pandas as pd

from causal_targeting.config import validate
from causal_targeting.stages.evaluate import allocated_policy
from safeguard_support import ONE_ARM_DATA

CFG = validate(
    {
        "data": ONE_ARM_DATA,
        "allocation": {"weights": {"y": 1.0}, "fixed_cost": 0.2},
    }
)


def noise_scores(n: int) -> pd.DataFrame:
    tau = np.random.default_rng(0).normal(size=n)
    return pd.DataFrame(
        {"customer_id": np.arange(n), "mu__y__ctl": 0.0, "mu__y__a": tau, "tau__y__a": tau}
    )


def test_the_static_policy_is_valued_when_the_safeguard_chose_it() -> None:
    rows = noise_scores(400)
    static = allocated_policy(rows, CFG, ["a"], 400, {"kind": "static", "static_arm": "a"})
    targeted = allocated_policy(rows, CFG, ["a"], 400, {"kind": "targeted", "static_arm": "a"})
    assert (static == "a").all()
    assert 0 < (targeted == "a").sum() < len(rows)  # the noise scores target only some
    none = allocated_policy(rows, CFG, ["a"], 400, {"kind": "static", "static_arm": "ctl"})
    assert (none == "ctl").all()
