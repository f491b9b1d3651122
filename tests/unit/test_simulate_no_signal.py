"""Scenario no_signal: every customer's effect is its arm's average; only e-mail pays."""

from __future__ import annotations

import numpy as np

from causal_targeting.data.simulate import mu_column, scenario, tau_column, true_values
from causal_targeting.data.simulate.no_signal import EFFECTS
from simulate_support import large


def test_every_customers_effect_equals_the_arms_average() -> None:
    rows = large("no_signal")
    for arm, effect in EFFECTS.items():
        tau = rows[tau_column("purchased", arm)].to_numpy()
        np.testing.assert_allclose(tau, effect, rtol=0, atol=1e-12)
    assert rows[mu_column("purchased", "none")].std() > 0.02  # the level varies, the effect not


def test_only_email_is_profitable_and_equally_so_for_everyone() -> None:
    spec = scenario("no_signal")
    values = true_values(spec, large("no_signal"))
    assert values["email"].mean() > 0.05
    assert (values[["sms", "coupon"]].max() < 0).all()
    assert (values.max() - values.min()).max() < 1e-9
