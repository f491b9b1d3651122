"""Scenario costly_retention: six offers against churn, each losing money for every customer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from causal_targeting.config import load_config
from causal_targeting.data.simulate import scenario, tau_column, true_values
from causal_targeting.data.simulate.costly_retention import CONTACT_COSTS, EFFECTS
from simulate_support import large


def test_every_offer_lowers_churn_by_the_same_amount_for_everyone_or_not_at_all() -> None:
    rows = large("costly_retention")
    assert 0.1 < rows["churned"].mean() < 0.3
    for arm, effect in EFFECTS.items():
        np.testing.assert_allclose(rows[tau_column("churned", arm)], effect, atol=1e-12)
    control = rows.loc[rows["treatment"] == "none", "churned"].mean()
    best = rows.loc[rows["treatment"] == "discount_20", "churned"].mean()
    assert best < control  # the largest effect shows in the arm means


def test_every_offer_loses_for_every_customer() -> None:
    rows = large("costly_retention")
    values = true_values(scenario("costly_retention"), rows)
    for arm in EFFECTS:
        expected = -50.0 * rows[tau_column("churned", arm)] - CONTACT_COSTS[arm]
        pd.testing.assert_series_equal(values[arm], expected, check_names=False)
    assert (values.to_numpy() < 0).all()


def test_the_config_values_a_churn_saved_as_the_spec_does(root: Path) -> None:
    cfg = load_config(root / "conf" / "scenarios" / "costly_retention.yaml")
    assert cfg.data.sign("churned") == -1.0
    assert cfg.allocation.weights == {"churned": 50.0}
    assert cfg.allocation.fixed_cost == dict(CONTACT_COSTS)
