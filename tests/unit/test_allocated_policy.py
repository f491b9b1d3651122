"""The evaluate stage values the policy the allocate stage allocated: the static one when the
safeguard chose it, or the part of the targeting it kept, not the model's whole targeting."""

from __future__ import annotations

import numpy as np
import pandas as pd

from causal_targeting.config import validate
from causal_targeting.evaluation.baselines import baseline_policies
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
    assert isinstance(static, pd.DataFrame) and (static["a"] == 1.0).all()
    assert 0 < (targeted == "a").sum() < len(rows)  # the noise scores target only some
    none = allocated_policy(rows, CFG, ["a"], 400, {"kind": "static", "static_arm": "ctl"})
    assert set(none.columns) == {"ctl"} and (none["ctl"] == 1.0).all()


def test_the_partial_policy_is_valued_when_the_safeguard_kept_part_of_the_targeting() -> None:
    rows = noise_scores(400)
    threshold = float(np.quantile(rows["tau__y__a"] - 0.2, 0.8))
    for static in ("ctl", "a"):
        kept = {"kind": "partial", "static_arm": static, "threshold": threshold}
        policy = allocated_policy(rows, CFG, ["a"], 400, kept)
        value = rows["tau__y__a"].to_numpy() - 0.2
        expected = np.where(value > threshold, "a", "ctl") if static == "ctl" else np.where(
            -value > threshold, "ctl", "a"
        )
        assert (policy == expected).all()
        assert 0 < (policy != static).sum() < (np.where(value > 0, "a", "ctl") != static).sum()


def test_a_capped_static_policy_is_valued_by_its_expectation_like_the_static_baseline() -> None:
    """Under a cap of 30% of the customers the static policy reaches a random 30% (its
    tie-break's draw): it is valued as 'a' with probability 0.3 on every row, the static_best
    baseline's own policy, so the two are the same policy (a difference of exactly 0)."""
    cfg = validate(
        {
            "data": ONE_ARM_DATA,
            "allocation": {
                "weights": {"y": 1.0},
                "fixed_cost": 0.2,
                "guardrails": [{"name": "c", "kind": "contacts", "share": 0.3}],
            },
        }
    )
    rows = noise_scores(400)
    static = allocated_policy(rows, cfg, ["a"], 400, {"kind": "static", "static_arm": "a"})
    np.testing.assert_allclose(static["a"], 0.3)
    np.testing.assert_allclose(static["ctl"], 0.7)
    net = rows.assign(**{"mu__value__ctl": 0.0, "mu__value__a": rows["tau__y__a"] - 0.2})
    baselines = baseline_policies(
        net, static, outcome="value", arms=["ctl", "a"], control="ctl", costs={"a": 0.2}
    )
    for name in ("static_best", "random"):
        same = baselines[name].reindex(columns=static.columns, fill_value=0.0)
        np.testing.assert_allclose(same.to_numpy(), static.to_numpy(), rtol=0, atol=1e-12)
    assert baselines["propensity"].tolist().count("a") == 120  # the same contacts
