"""The simulator's Spark edge: same rows as the core, independent of partitions, Parquet schema,
the planted summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import DataType, StructType

from causal_targeting.data.simulate import (
    CUSTOMER_ID_OFFSET,
    customer_block,
    planted_summary,
    scenario,
    simulate,
    simulate_block,
    spark_schema,
    write_simulation,
)
from causal_targeting.errors import ConfigError, UserError


def _rows(df: DataFrame) -> pd.DataFrame:
    return df.toPandas().sort_values("customer_id").reset_index(drop=True)


def _fields(schema: StructType) -> list[tuple[str, DataType]]:
    return [(field.name, field.dataType) for field in schema.fields]


def test_spark_rows_equal_the_core_on_the_same_ids(spark: SparkSession) -> None:
    spec = scenario("spend_threshold")
    probs = {arm: (0.4 if arm == spec.control else 0.6 / len(spec.arms)) for arm in spec.all_arms}
    experiment, customers = simulate(
        spark,
        "spend_threshold",
        1_000,
        21,
        partitions=3,
        assignment_probs=probs,
        customers_rows=500,
    )
    pd.testing.assert_frame_equal(
        _rows(experiment), simulate_block(spec, np.arange(1_000), 21, probs)
    )
    pd.testing.assert_frame_equal(
        _rows(customers), customer_block(spec, CUSTOMER_ID_OFFSET + np.arange(500), 21)
    )


def test_same_seed_gives_identical_rows_whatever_the_partitions(spark: SparkSession) -> None:
    one, _ = simulate(spark, "rewards", 2_000, 4, partitions=1)
    four, _ = simulate(spark, "rewards", 2_000, 4, partitions=4)
    assert one.rdd.getNumPartitions() == 1 and four.rdd.getNumPartitions() == 4
    rows = _rows(four)
    pd.testing.assert_frame_equal(_rows(one), rows)
    other_seed, _ = simulate(spark, "rewards", 2_000, 5, partitions=2)
    assert (_rows(other_seed)["treatment"] != rows["treatment"]).mean() > 0.3


def test_write_simulation_writes_parquet_with_the_explicit_schema(
    spark: SparkSession, tmp_path: Path
) -> None:
    spec = scenario("retention")
    paths = write_simulation(
        spark, "retention", 1_000, 3, str(tmp_path / "retention"), partitions=2, customers_rows=400
    )
    assert paths == {
        "experiment": str(tmp_path / "retention" / "experiment"),
        "customers": str(tmp_path / "retention" / "customers"),
    }
    experiment = spark.read.parquet(paths["experiment"])
    customers = spark.read.parquet(paths["customers"])
    assert _fields(experiment.schema) == _fields(spark_schema(spec, experiment=True))
    assert _fields(customers.schema) == _fields(spark_schema(spec, experiment=False))
    assert (experiment.count(), customers.count()) == (1_000, 400)
    ids = {r.customer_id for r in customers.select("customer_id").collect()}
    assert min(ids) == CUSTOMER_ID_OFFSET and len(ids) == 400


def test_bad_arguments_are_refused_before_any_job(spark: SparkSession) -> None:
    with pytest.raises(UserError, match="rows must be a positive integer"):
        simulate(spark, "retention", 0, 1)
    with pytest.raises(UserError, match="customers_rows must be a positive integer"):
        simulate(spark, "retention", 10, 1, customers_rows=0)
    with pytest.raises(UserError, match="partitions must be >= 1"):
        simulate(spark, "retention", 10, 1, partitions=0)
    with pytest.raises(UserError, match="unknown simulation scenario 'loyalty'"):
        simulate(spark, "loyalty", 10, 1)
    with pytest.raises(UserError, match="sum to"):
        simulate(
            spark, "retention", 10, 1, assignment_probs={"none": 0.2, "retention_message": 0.2}
        )


@pytest.mark.parametrize(
    ("name", "params"),
    [("rare_binary", None), ("no_signal", None), ("intent", {"exposure_share": 0.6})],
)
def test_new_scenarios_in_spark_equal_the_core(
    spark: SparkSession, name: str, params: dict[str, float] | None
) -> None:
    spec = scenario(name, params)
    experiment, customers = simulate(
        spark, name, 600, 13, partitions=2, customers_rows=300, params=params
    )
    pd.testing.assert_frame_equal(_rows(experiment), simulate_block(spec, np.arange(600), 13))
    pd.testing.assert_frame_equal(
        _rows(customers), customer_block(spec, CUSTOMER_ID_OFFSET + np.arange(300), 13)
    )
    assert _fields(experiment.schema) == _fields(spark_schema(spec, experiment=True))


def test_planted_summary_counts_arms_and_averages_the_true_effects(
    spark: SparkSession, tmp_path: Path
) -> None:
    paths = write_simulation(
        spark, "no_signal", 2_000, 6, str(tmp_path / "no_signal"), partitions=2, customers_rows=10
    )
    summary = planted_summary(spark, paths, "no_signal")
    core = simulate_block(scenario("no_signal"), np.arange(2_000), 6)
    counts = core["treatment"].value_counts()
    assert list(summary.columns) == ["arm", "rows", "true_ate__purchased"]
    assert list(summary["arm"]) == ["none", "email", "sms", "coupon"]
    assert list(summary["rows"]) == [int(counts[arm]) for arm in summary["arm"]]
    np.testing.assert_allclose(summary["true_ate__purchased"], [0.0, 0.010, 0.004, 0.020])


def test_scenario_parameters_are_checked_before_anything_is_written(
    spark: SparkSession, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"simulate\.params\.exposure_share = 1\.5"):
        write_simulation(
            spark, "intent", 100, 1, str(tmp_path / "intent"), params={"exposure_share": 1.5}
        )
    assert not (tmp_path / "intent").exists()
