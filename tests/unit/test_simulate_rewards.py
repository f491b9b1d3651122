"""Scenario rewards: heterogeneous effects, not monotone in the reward's cost."""

from __future__ import annotations

import numpy as np

from causal_targeting.data.simulate import mu_column, tau_column
from simulate_support import large


def test_rewards_effects_are_heterogeneous_and_not_monotone_in_cost() -> None:
    rows = large("rewards")
    tau = np.column_stack(
        [rows[tau_column("spend", a)] for a in ("reward_5", "reward_10", "reward_20")]
    )
    monotone = (np.diff(tau, axis=1) > 0).all(axis=1)
    cheaper_is_better = tau[:, 0] > tau[:, 2]
    assert 0.2 < monotone.mean() < 0.9
    assert cheaper_is_better.mean() > 0.01
    assert len(np.unique(tau.argmax(axis=1))) == 3
    assert (rows[mu_column("redeemed", "none")] == 0).all()
