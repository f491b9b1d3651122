"""Scenario every_arm_pays: every offer pays on average, and each is best for other customers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from causal_targeting.data.simulate import scenario, tau_column, true_values
from simulate_support import large

ARMS = ["email", "sms", "push", "coupon"]


def test_every_offer_pays_on_average_and_email_the_most() -> None:
    values = true_values(scenario("every_arm_pays"), large("every_arm_pays"))
    means = values[ARMS].mean()
    assert (means > 0.02).all()
    assert means.idxmax() == "email"


def test_each_offer_is_the_best_for_some_customers() -> None:
    rows = large("every_arm_pays")
    values = true_values(scenario("every_arm_pays"), rows)[ARMS]
    best = values.idxmax(axis=1)
    assert (best.value_counts(normalize=True).reindex(ARMS) > 0.05).all()
    assert best[rows["channel"] == "app"].value_counts().idxmax() == "push"
    assert best[rows["channel"] == "store"].value_counts().idxmax() == "sms"
    tau = rows[tau_column("purchased", "email")]
    assert np.corrcoef(tau, rows["email_open_rate"].fillna(0.0))[0, 1] > 0.5


def test_the_best_offer_of_each_customer_beats_the_best_offer_to_everyone() -> None:
    spec = scenario("every_arm_pays")
    rows = large("every_arm_pays")
    values = true_values(spec, rows)
    pd.testing.assert_series_equal(
        values["coupon"], 20.0 * rows[tau_column("purchased", "coupon")] - 0.25, check_names=False
    )
    oracle = values[ARMS].max(axis=1).clip(lower=0).mean()
    assert oracle > 1.4 * values["email"].mean()
