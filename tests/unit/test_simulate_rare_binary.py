"""Scenario rare_binary: a ~1% base rate, an effect of a tenth of it, noise, an oracle to find."""

from __future__ import annotations

import numpy as np
import pandas as pd

from causal_targeting.data.simulate import (
    Draws,
    mu_column,
    scenario,
    tau_column,
    true_values,
)
from causal_targeting.data.simulate.rare_binary import NOISE_FEATURES, population_with_noise
from simulate_support import large

BASE, TAU = mu_column("purchased", "none"), tau_column("purchased", "promotion")


def test_base_rate_is_about_one_percent_and_the_effect_a_tenth_of_it() -> None:
    rows = large("rare_binary")
    assert 0.009 < rows[BASE].mean() < 0.011
    control = rows.loc[rows["treatment"] == "none", "purchased"]
    assert abs(control.mean() - 0.01) < 3 * np.sqrt(0.01 * 0.99 / len(control)) + 0.001
    assert 0.08 < rows[TAU].mean() / rows[BASE].mean() < 0.12


def test_the_effect_varies_with_discount_share_channel_and_open_rate() -> None:
    rows = large("rare_binary")
    tau = rows[TAU]
    assert tau.std() > 0.5 * tau.mean()
    assert np.corrcoef(tau, rows["discount_share"])[0, 1] > 0.2
    assert tau[rows["channel"] == "app"].mean() > 1.5 * tau[rows["channel"] != "app"].mean()
    assert (tau < 0).mean() < 0.15


def test_noise_features_are_independent_draws_that_no_outcome_reads() -> None:
    spec = scenario("rare_binary")
    x = population_with_noise(Draws(np.arange(50_000), 3))
    for name in list(NOISE_FEATURES)[:4]:
        assert abs(x[name].mean()) < 0.02 and abs(x[name].std() - 1) < 0.02
    shares = x["noise_5"].value_counts(normalize=True)
    assert set(shares.index) == {"a", "b", "c", "d", "e"} and (shares - 0.2).abs().max() < 0.01
    shuffled = x.copy()
    for name in NOISE_FEATURES:
        shuffled[name] = np.random.default_rng(0).permutation(x[name].to_numpy())
    original, permuted = spec.response.means(x), spec.response.means(shuffled)
    for arm in spec.all_arms:
        np.testing.assert_array_equal(original["purchased"][arm], permuted["purchased"][arm])


def test_the_value_model_leaves_an_oracle_policy_to_find() -> None:
    spec = scenario("rare_binary")
    rows = large("rare_binary")
    values = true_values(spec, rows)["promotion"]
    pd.testing.assert_series_equal(values, 30.0 * rows[TAU] - 0.03, check_names=False)
    oracle, everyone = values.clip(lower=0).mean(), values.mean()
    assert 0.2 < (values > 0).mean() < 0.5
    assert oracle > 0.01
    assert abs(everyone) < 0.3 * oracle  # sending to everyone about breaks even
