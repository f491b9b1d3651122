"""The Spark edge of the allocation gives the numpy core's allocation on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal_targeting.allocation.distributed import cached_blocks, solve
from causal_targeting.allocation.problem import (
    DoNoHarm,
    Guardrail,
    option_block,
)
from causal_targeting.allocation.solver import allocation_frame, solve_block
from causal_targeting.errors import InfeasibleError
from causal_targeting.spark import task_slots
from causal_targeting.value import (
    ValueModel,
    VariableCost,
)

ARMS = ["low", "mid", "high"]
MODEL = ValueModel(
    weights={"margin": 1.0},
    fixed_cost=0.2,
    variable_costs=(VariableCost("mu__spend__{arm}", {"low": 0.0, "mid": 0.02, "high": 0.05}),),
)
GUARDRAILS = [
    Guardrail("budget", "budget", share=0.6),
    Guardrail("revenue", "revenue_floor", share=0.7, outcome="spend"),
    Guardrail("contacts", "contacts", share=0.5),
    Guardrail("north", "segment_cap", share=0.3, segment_column="region", segment="north"),
]


def scores(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 20.0, n)
    frame = {"customer_id": np.arange(n, dtype=np.int64) * 7 + 3,
             "region": rng.choice(["north", "south"], n)}
    for arm, lift, margin in zip(ARMS, (0.05, 0.12, 0.25), (0.5, 0.4, 0.2), strict=True):
        tau = base * lift * rng.lognormal(0.0, 0.5, n) - 0.5
        frame[f"tau__spend__{arm}"] = tau
        frame[f"tau__margin__{arm}"] = tau * margin
        frame[f"mu__spend__{arm}"] = base + tau
    frame["eligible__high"] = rng.random(n) < 0.8
    return pd.DataFrame(frame)


def test_spark_solve_equals_numpy_solve_on_the_same_data(spark: object) -> None:
    data = scores(3_000, 11)
    harm = DoNoHarm("spend", margin=0.0)
    block = option_block(data, MODEL, GUARDRAILS, ARMS, harm)
    choice, expected_report = solve_block(block, GUARDRAILS)
    expected = allocation_frame(data["customer_id"], block, choice, ARMS, GUARDRAILS, "run-7")

    frame = spark.createDataFrame(data).repartition(3)  # type: ignore[attr-defined]
    passes: list[int] = []
    allocation, report = solve(frame, MODEL, GUARDRAILS, ARMS, do_no_harm=harm, run_id="run-7",
                               callback=lambda log: passes.append(log.index))
    got = allocation.toPandas().sort_values("customer_id").reset_index(drop=True)

    assert list(got.columns) == list(expected.columns)
    assert got["customer_id"].tolist() == expected["customer_id"].tolist()
    assert got["offer"].tolist() == expected["offer"].tolist()
    assert np.allclose(got.drop(columns=["customer_id", "offer", "run_id"]).to_numpy(),
                       expected.drop(columns=["customer_id", "offer", "run_id"]).to_numpy())
    assert (got["run_id"] == "run-7").all()
    assert report.primal == pytest.approx(expected_report.primal, rel=1e-9)
    assert report.passes == expected_report.passes and passes
    for guardrail in report.guardrails:
        column = got[f"usage__{guardrail.name}"].sum()
        assert column == pytest.approx(guardrail.usage, rel=1e-9)
        if guardrail.kind == "revenue_floor":
            assert column >= guardrail.limit * (1 - 1e-9)
        else:
            assert column <= guardrail.limit * (1 + 1e-9)
    harmful = data.set_index("customer_id")
    for offer in ARMS:
        chosen = got.loc[got["offer"] == offer, "customer_id"]
        assert (harmful.loc[chosen, f"tau__spend__{offer}"] > 0).all()
    assert not got.loc[~data["eligible__high"].to_numpy(), "offer"].eq("high").any()


def test_cached_blocks_are_arrow_batches_in_few_partitions(spark: object) -> None:
    data = scores(2_500, 5)
    frame = spark.createDataFrame(data).repartition(16)  # type: ignore[attr-defined]
    conf = spark.conf  # type: ignore[attr-defined]
    batch = conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "100")
    try:
        blocks = cached_blocks(frame, MODEL, GUARDRAILS, ARMS)
    finally:
        conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", batch)
    keyed, level = blocks.collect(), blocks.getStorageLevel()
    blocks.unpersist()
    parallelism = spark.sparkContext.defaultParallelism  # type: ignore[attr-defined]
    assert blocks.getNumPartitions() <= 2 * parallelism < 16
    assert level.useDisk and level.useMemory  # spilled, never rebuilt from the scores per pass
    assert len(keyed) >= 25 and max(len(ids) for ids, _ in keyed) <= 100
    ids = np.concatenate([ids for ids, _ in keyed])
    assert sorted(ids.tolist()) == data["customer_id"].tolist()
    expected = option_block(data.set_index("customer_id").loc[ids].reset_index(), MODEL,
                            GUARDRAILS, ARMS)
    np.testing.assert_array_equal(np.concatenate([b.values for _, b in keyed]), expected.values)


def test_task_slots_are_the_cores_not_the_default_parallelism(
    spark: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = spark.sparkContext  # type: ignore[attr-defined]
    monkeypatch.setattr(type(context), "defaultParallelism", property(lambda self: 64))
    assert context.defaultParallelism == 64
    assert task_slots(spark) == 2  # the test session's local[2, 2]


def test_spark_solve_names_an_unreachable_minimum(spark: object) -> None:
    data = scores(200, 12).assign(eligible__high=False)
    frame = spark.createDataFrame(data)  # type: ignore[attr-defined]
    minimum = Guardrail("high_minimum", "offer_min", limit=5, arm="high")
    with pytest.raises(InfeasibleError, match="high_minimum"):
        solve(frame, MODEL, [minimum], ARMS)


def test_spark_solve_values_the_allocation_by_another_model(spark: object) -> None:
    data = scores(600, 5)
    other = ValueModel(weights={"spend": 1.0}, fixed_cost=0.1)
    frame = spark.createDataFrame(data).repartition(2)  # type: ignore[attr-defined]
    allocation, _ = solve(frame, MODEL, GUARDRAILS[:1], ARMS, valued_by=other)
    got = allocation.toPandas().set_index("customer_id").loc[data["customer_id"]]

    offered = got["offer"].notna().to_numpy()
    assert 0 < offered.sum() < len(data)  # some customers get an offer, some none
    spend = [data.at[i, f"tau__spend__{o}"] - 0.1 if o else 0.0 for i, o in enumerate(got["offer"])]
    assert np.allclose(got["value"], spend)  # the other model's net value, 0 for no offer
