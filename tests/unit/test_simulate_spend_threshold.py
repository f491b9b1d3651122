"""Scenario spend_threshold: concave spend curves, rewards paid only when reached, arm names."""

from __future__ import annotations

import numpy as np

from causal_targeting.data.simulate import THRESHOLDS, mu_column, scenario
from simulate_support import large


def test_spend_threshold_curves_are_concave_and_heterogeneous() -> None:
    spec, rows = scenario("spend_threshold"), large("spend_threshold")
    spend = rows[[mu_column("spend", a) for a in spec.arms]].to_numpy()
    redeemed = rows[[mu_column("redeemed", a) for a in spec.arms]].to_numpy()
    assert np.allclose(np.diff(THRESHOLDS), 10.0)
    assert (np.diff(spend, n=2, axis=1) <= 1e-9).all()  # equally spaced thresholds: concave
    assert (np.diff(redeemed, axis=1) <= 0).all()  # higher thresholds are reached less often
    best = spend.argmax(axis=1)
    assert len(np.unique(best)) >= 10
    assert ((best > 0) & (best < len(spec.arms) - 1)).mean() > 0.5  # interior peaks


def test_spend_threshold_reward_is_paid_only_when_the_threshold_is_reached() -> None:
    spec, rows = scenario("spend_threshold"), large("spend_threshold")
    threshold = rows["treatment"].map({a: spec.costs[a].threshold for a in spec.arms})
    offered = rows["treatment"] != spec.control
    assert (rows.loc[~offered, "redeemed"] == 0).all()
    reached = rows.loc[offered, "spend"] >= threshold[offered]
    np.testing.assert_array_equal(rows.loc[offered, "redeemed"], reached.astype(float))


def test_spend_threshold_arm_names_match_thresholds_and_rewards() -> None:
    spec = scenario("spend_threshold")
    assert len(spec.arms) == 20
    for arm in spec.arms:
        cost = spec.costs[arm]
        assert arm == f"spend_{cost.threshold:g}_get_{cost.reward:g}"
