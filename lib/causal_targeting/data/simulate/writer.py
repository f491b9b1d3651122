"""The Spark edge: ``spark.range`` ids spread over partitions, rows made by the numpy core.

The experiment's customers have ids ``0 .. rows−1``; the customer base has ids
``CUSTOMER_ID_OFFSET + (0 .. customers_rows−1)``: disjoint samples of the same population.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from causal_targeting.data.simulate.generator import (
    CUSTOMER_ID_OFFSET,
    check_assignment_probs,
    check_rows,
    check_seed,
    customer_block,
    customer_columns,
    experiment_columns,
    simulate_block,
    tau_column,
)
from causal_targeting.data.simulate.registry import scenario
from causal_targeting.data.simulate.spec import Scenario
from causal_targeting.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

ROWS_PER_PARTITION = 1_000_000


def spark_schema(spec: Scenario, experiment: bool) -> StructType:
    """The explicit Spark schema of the experiment (``experiment=True``) or customer table."""
    from pyspark.sql import types as T

    kinds: dict[str, T.DataType] = {"customer_id": T.LongType(), "treatment": T.StringType()}
    for name, kind in {**spec.features, **spec.latent}.items():
        kinds[name] = T.StringType() if kind == "categorical" else T.DoubleType()
    columns = experiment_columns(spec) if experiment else customer_columns(spec)
    return T.StructType(
        [
            T.StructField(c, kinds.get(c, T.DoubleType()), nullable=c != "customer_id")
            for c in columns
        ]
    )


def default_partitions(spark: SparkSession, rows: int) -> int:
    """max(default parallelism, ⌈rows / 1M⌉): every core busy, partitions of ≤ 1M rows."""
    return max(spark.sparkContext.defaultParallelism, -(-rows // ROWS_PER_PARTITION))


def _blocks(
    spark: SparkSession,
    spec: Scenario,
    id_range: tuple[int, int],
    partitions: int | None,
    make_rows: Callable[[np.ndarray], pd.DataFrame],
    experiment: bool,
) -> DataFrame:
    """``spark.range`` of the ids, turned into rows by ``make_rows(ids)`` in mapInPandas.

    ``make_rows`` returns the columns in the order of :func:`spark_schema`.
    """
    first_id, rows = id_range
    n_partitions = default_partitions(spark, rows) if partitions is None else partitions
    if n_partitions < 1:
        raise UserError(f"simulation partitions must be >= 1, got {partitions!r}")

    def generate(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield make_rows(batch["id"].to_numpy())

    ids = spark.range(first_id, first_id + rows, numPartitions=n_partitions)
    return ids.mapInPandas(generate, schema=spark_schema(spec, experiment))


def simulate(
    spark: SparkSession,
    scenario_name: str,
    rows: int,
    seed: int,
    partitions: int | None = None,
    assignment_probs: Mapping[str, float] | None = None,
    customers_rows: int | None = None,
    params: Mapping[str, float] | None = None,
) -> tuple[DataFrame, DataFrame]:
    """The simulated (experiment, customers) DataFrames of a scenario, lazily.

    The experiment has ``rows`` rows with ids 0 .. rows−1; the customer base has
    ``customers_rows`` rows (default ``rows``) with ids ``CUSTOMER_ID_OFFSET + (0 ..)``.
    ``params`` set the scenario's parameters (``simulate.params``; checked before any job).
    The rows do not depend on ``partitions`` (default :func:`default_partitions`).
    """
    spec = scenario(scenario_name, params)
    rows = check_rows(rows)
    n_customers = check_rows(rows if customers_rows is None else customers_rows, "customers_rows")
    seed = check_seed(seed)
    probs = check_assignment_probs(spec, assignment_probs)
    experiment = _blocks(
        spark,
        spec,
        (0, rows),
        partitions,
        lambda ids: simulate_block(spec, ids, seed, probs),
        experiment=True,
    )
    customers = _blocks(
        spark,
        spec,
        (CUSTOMER_ID_OFFSET, n_customers),
        partitions,
        lambda ids: customer_block(spec, ids, seed),
        experiment=False,
    )
    return experiment, customers


def write_simulation(
    spark: SparkSession,
    scenario_name: str,
    rows: int,
    seed: int,
    out_dir: str,
    partitions: int | None = None,
    customers_rows: int | None = None,
    assignment_probs: Mapping[str, float] | None = None,
    params: Mapping[str, float] | None = None,
) -> dict[str, str]:
    """Write ``experiment`` and ``customers`` as Parquet under ``out_dir`` (atomically).

    Returns ``{"experiment": path, "customers": path}``.
    """
    from causal_targeting.data.io import write_table

    experiment, customers = simulate(
        spark, scenario_name, rows, seed, partitions, assignment_probs, customers_rows, params
    )
    base = out_dir.rstrip("/")
    return {
        "experiment": write_table(experiment, f"{base}/experiment"),
        "customers": write_table(customers, f"{base}/customers"),
    }


def planted_summary(
    spark: SparkSession, paths: Mapping[str, str], scenario_name: str
) -> pd.DataFrame:
    """Rows per arm of the written experiment and the true average effects planted in it.

    One Spark aggregation over ``paths["experiment"]``: for every arm a (control first), ``rows``
    = #{i : treatment_i = a} and ``true_ate__{outcome}`` = mean over all experiment rows of
    true_tau__{outcome}__a (0 for the control): the average effect of giving a to everyone.
    """
    from pyspark.sql import functions as F

    spec = scenario(scenario_name)
    experiment = spark.read.parquet(paths["experiment"])
    counts = [
        F.count(F.when(F.col("treatment") == arm, 1)).alias(f"rows__{arm}") for arm in spec.all_arms
    ]
    effects = [
        F.avg(tau_column(outcome, arm)).alias(tau_column(outcome, arm))
        for outcome in spec.outcomes
        for arm in spec.arms
    ]
    totals = experiment.agg(*counts, *effects).collect()[0]
    return pd.DataFrame(
        {
            "arm": list(spec.all_arms),
            "rows": [int(totals[f"rows__{arm}"]) for arm in spec.all_arms],
            **{
                f"true_ate__{outcome}": [
                    0.0 if arm == spec.control else float(totals[tau_column(outcome, arm)])
                    for arm in spec.all_arms
                ]
                for outcome in spec.outcomes
            },
        }
    )
