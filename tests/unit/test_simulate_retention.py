"""Scenario retention: the message helps on average and harms a share; the ATE check bites."""

from __future__ import annotations

from scipy.stats import norm

from causal_targeting.data.simulate import tau_column
from simulate_support import ate_z_scores, large


def test_the_ate_check_rejects_a_wrong_truth() -> None:
    rows = large("retention").copy()
    column = tau_column("retained", "retention_message")
    rows[column] += 0.02  # two points of retention off
    assert max(ate_z_scores("retention", rows)) > norm.ppf(1 - 0.005 / 2)


def test_retention_message_helps_on_average_and_harms_a_share() -> None:
    tau = large("retention")[tau_column("retained", "retention_message")]
    assert tau.mean() > 0.02
    assert 0.1 < (tau < 0).mean() < 0.4
    assert (tau < -0.02).mean() > 0.05
