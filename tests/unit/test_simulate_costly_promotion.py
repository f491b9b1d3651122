"""Scenario costly_promotion: a ~1% rate the promotion doubles, a loss unless it is targeted."""

from __future__ import annotations

import numpy as np
import pandas as pd

from causal_targeting.data.simulate import mu_column, scenario, tau_column, true_values
from simulate_support import large

BASE, TAU = mu_column("purchased", "none"), tau_column("purchased", "promotion")


def test_the_promotion_about_doubles_a_one_percent_rate() -> None:
    rows = large("costly_promotion")
    assert 0.008 < rows[BASE].mean() < 0.010
    assert 0.85 < rows[TAU].mean() / rows[BASE].mean() < 1.2
    promoted = rows.loc[rows["treatment"] == "promotion", "purchased"].mean()
    control = rows.loc[rows["treatment"] == "none", "purchased"].mean()
    assert 1.7 < promoted / control < 2.4


def test_the_effect_is_concentrated_on_discount_driven_app_readers() -> None:
    rows = large("costly_promotion")
    tau = rows[TAU]
    assert tau.std() > tau.mean()
    assert tau[rows["channel"] == "app"].mean() > 2 * tau[rows["channel"] != "app"].mean()
    assert np.corrcoef(tau, rows["discount_share"])[0, 1] > 0.2


def test_sending_to_everyone_loses_and_targeting_pays() -> None:
    spec = scenario("costly_promotion")
    rows = large("costly_promotion")
    values = true_values(spec, rows)["promotion"]
    pd.testing.assert_series_equal(values, 10.0 * rows[TAU] - 0.15, check_names=False)
    assert values.mean() < -0.03  # the promotion to everyone: a loss
    assert 0.1 < (values > 0).mean() < 0.3
    assert values.clip(lower=0).mean() > 0.02  # the oracle's gain over no offer
