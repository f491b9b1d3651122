"""The Spark edge of coarsening: reduction without collecting, executor-side assignment, sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal_targeting.coarsening import (
    NO_OFFER,
    assign,
    choose_offers,
    menu_profit,
    personalized_profit,
)
from causal_targeting.coarsening.distributed import (
    assign_offers,
    coarsen_offers,
    reduce_profit_table,
    segment_sizes,
)
from causal_targeting.errors import ConfigError, DataContractError

N, OFFERS = 1200, 8
COLUMNS = [f"value__spend_{t}" for t in range(OFFERS)]
NAMES = [f"spend_{t}" for t in range(OFFERS)]


def profits(seed: int = 0) -> np.ndarray:
    """Concave heterogeneous threshold responses (as in the unit tests), with losses."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, OFFERS)
    a = rng.lognormal(0.0, 0.7, N)[:, None]
    c = rng.beta(2.0, 2.0, N)[:, None]
    b = rng.lognormal(1.5, 0.5, N)[:, None]
    return a * (1.0 - b * (x[None, :] - c) ** 2) - 0.3 * rng.random(N)[:, None]


@pytest.fixture(scope="module")
def table(spark):
    P = profits()
    frame = pd.DataFrame(P, columns=COLUMNS)
    frame.insert(0, "customer_id", np.arange(N, dtype=np.int64))
    return P, spark.createDataFrame(frame).repartition(3)


def offers_by_id(df) -> np.ndarray:
    """The assigned fine-menu index per customer id (-1 for none), from assign_offers output."""
    got = df.toPandas().sort_values("customer_id")
    index = {name: t for t, name in enumerate(NAMES)}
    return np.array([index.get(o, NO_OFFER) if o is not None else NO_OFFER for o in got["offer"]])


def test_executor_assignment_equals_the_core(table) -> None:
    P, df = table
    menu = choose_offers(P, None, 3)
    prices = np.array([0.05, -0.02, 0.1])
    for potentials in (None, prices):
        out = assign_offers(df, COLUMNS, menu.chosen, potentials, offer_names=NAMES)
        assert out.columns == ["customer_id", "offer", "profit"]
        assert np.array_equal(offers_by_id(out), assign(P, menu.chosen, potentials))
    total = assign_offers(df, COLUMNS, menu.chosen).agg({"profit": "sum"}).first()[0]
    assert total == pytest.approx(menu_profit(P, np.ones(N), menu.chosen))


def test_realized_sizes_hold_the_bounds(table) -> None:
    P, df = table
    k, lo, hi = 4, 0.15, 0.3
    slack = (2 * k + 1) / N  # the tied customers a deterministic rule may move (unit weights)
    menu = choose_offers(P, None, k, min_share=lo + slack, max_share=hi - slack)
    out = assign_offers(df, COLUMNS, menu.chosen, menu.potentials, offer_names=NAMES)
    names = [NAMES[t] for t in menu.chosen]
    sizes = segment_sizes(out, names, min_share=lo, max_share=hi)
    assert sizes["offer"].tolist() == names
    assert sizes["customers"].sum() <= N
    assert (sizes["violation"] == 0).all()
    assert sizes["share"].between(lo, hi).all()
    loose = segment_sizes(out, names, min_share=0.29, max_share=0.3)
    assert loose["violation"].max() > 0  # the check can fail


def test_reduction_does_not_need_the_full_table(table) -> None:
    P, df = table
    w = np.ones(N)
    P_s, w_s, sampled = reduce_profit_table(df, COLUMNS, method="sample", size=300, seed=1)
    assert len(P_s) == 300
    assert w_s.sum() == pytest.approx(N)
    assert sampled.personalized_full == pytest.approx(personalized_profit(P, w))
    P_m, w_m, clustered = reduce_profit_table(df, COLUMNS, method="microclusters", size=40)
    assert len(P_m) <= 40
    assert w_m.sum() == pytest.approx(N)
    for menu in ([0], [2, 5], [1, 3, 6]):
        gap = menu_profit(P, w, menu) - menu_profit(P_m, w_m, menu)
        assert -1e-6 <= gap <= clustered.loss_bound + 1e-6


def test_the_sample_depends_on_the_ids_and_seed_not_the_row_order(table) -> None:
    from pyspark.sql import functions as F

    from causal_targeting.sampling import hash_uniform

    P, df = table
    reversed_rows = df.orderBy(F.col("customer_id").desc()).coalesce(1)
    first, w, _ = reduce_profit_table(df, COLUMNS, size=300, seed=1)
    again, _, _ = reduce_profit_table(reversed_rows, COLUMNS, size=300, seed=1)
    assert np.array_equal(first, again)
    assert w == pytest.approx(np.full(300, N / 300))
    smallest = (
        df.withColumn("u", hash_uniform("customer_id", 1, "coarsen"))
        .orderBy("u", "customer_id")
        .limit(300)
        .toPandas()["customer_id"]
    )
    assert np.array_equal(first, P[smallest.to_numpy()])  # the 300 of smallest draw, in order
    other, _, _ = reduce_profit_table(df, COLUMNS, size=300, seed=2)
    assert not np.array_equal(first, other)


def test_microclusters_do_not_depend_on_the_row_order_within_a_partition(table) -> None:
    from pyspark.sql import functions as F

    _, df = table
    ascending = df.sortWithinPartitions("customer_id")
    descending = df.sortWithinPartitions(F.col("customer_id").desc())
    P, w, report = reduce_profit_table(ascending, COLUMNS, method="microclusters", size=40)
    P_again, w_again, again = reduce_profit_table(
        descending, COLUMNS, method="microclusters", size=40
    )
    assert np.array_equal(P, P_again) and np.array_equal(w, w_again)
    assert report.loss_bound == again.loss_bound


def test_coarsen_stage_picks_k_by_the_target_and_checks_sizes(table) -> None:
    P, df = table
    result = coarsen_offers(
        df, COLUMNS, offer_names=NAMES, k_max=4, target_share=0.9, reduction_size=600,
        min_share=0.1, max_share=0.6, size_margin=0.02,
    )  # fmt: skip
    ours = result.curve[result.curve["method"] == "ours"].set_index("k")["share"]
    assert result.k == int(ours[ours >= 0.9].index.min())
    assert result.offers == [NAMES[t] for t in result.chosen]
    assert len(result.offers) == result.k
    assert result.potentials is not None
    assert result.sizes["violation"].max() <= 0.03
    # realized share on all 1200 customers, beside the same menu scored by the core
    expected = menu_profit(P, np.ones(N), result.chosen, result.potentials)
    assert result.realized_share == pytest.approx(expected / personalized_profit(P, np.ones(N)))


def test_refuses_missing_or_non_numeric_profit_columns(table, spark) -> None:
    _, df = table
    with pytest.raises(DataContractError, match="value__other"):
        assign_offers(df, [*COLUMNS, "value__other"], [0])
    text = spark.createDataFrame(pd.DataFrame({"customer_id": [1], "p": ["x"]}))
    with pytest.raises(DataContractError, match="cast it to double"):
        reduce_profit_table(text, ["p"])
    with pytest.raises(ConfigError, match="offer names"):
        assign_offers(df, COLUMNS, [0], offer_names=NAMES[:2])
    with pytest.raises(ConfigError, match="size_margin"):
        coarsen_offers(df, COLUMNS, size_margin=-0.1)
