"""The simulated customer population: realistic features, nulls where documented."""

from __future__ import annotations

import numpy as np

from causal_targeting.data.simulate import customer_block, scenario


def test_features_are_realistic_with_nulls_where_documented() -> None:
    x = customer_block(scenario("retention"), np.arange(20_000), 4)
    assert 0.10 < x["email_open_rate"].isna().mean() < 0.14
    assert 0.02 < x["region"].isna().mean() < 0.04
    assert set(x["channel"]) == {"web", "app", "store"}
    assert set(x["loyalty_tier"]) == {"none", "silver", "gold"}
    assert (x["tenure_months"].between(1, 240)).all()
    assert (x["recency_days"].between(1, 730)).all()
    assert np.allclose(x["monetary_12m"], x["frequency_12m"] * x["avg_order_value"], atol=0.01)
    frequent = x["frequency_12m"] >= 6
    assert x.loc[frequent, "recency_days"].median() < x.loc[~frequent, "recency_days"].median()
