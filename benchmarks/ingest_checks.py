"""Benchmark: ingest's checks as the stage runs them against the two ways of reading each input
table once for them, on the same tables in one run.

Ingest reads each input table three times: the duplicate-id aggregation, the aggregation of
counts, reasons and per-arm statistics, and the write (which must wait for the checks: a table
that breaks the contract writes nothing). The first two are the checks. Three plans for them,
timed in ``--repeats`` interleaved rounds (medians), on each table:

1. the stage: ``contract.classify_rows`` / ``classify_customers`` (the duplicate-id aggregation:
   a scan of the id column and a shuffle of the ids), then ``experiment_summary`` /
   ``customer_summary`` (a scan of the columns the reasons and statistics read);
2. cached: the columns the checks read (id, arm, reason, outcomes, propensity) classified once
   and cached (``DataFrame.cache``); the duplicate-id aggregation fills the cache, the summary
   reads it;
3. fused: one aggregation by ``customer_id`` (its copies and each column's first value), then
   the summary of those rows per (arm, reason, repeated id): one scan, whose shuffle carries
   every column the summary needs instead of the ids alone.

Each plan's summary is checked against the stage's (the same groups and counts).

    .venv/bin/python benchmarks/ingest_checks.py --simulated /tmp/ct10m/simulate
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from _config import simulated_config
from _results import publish
from causal_targeting.config import DataConfig
from causal_targeting.data import contract
from causal_targeting.data.io import read_table
from causal_targeting.data.simulate import write_simulation
from causal_targeting.spark import get_spark

SECTION = "## ingest checks"
PLANS = ("the stage (two scans)", "cached check columns", "fused (one aggregation by id)")


def with_reasons(canonical: DataFrame, reasons: list) -> DataFrame:
    """The rows with ``reason`` (every problem but a repeated id), as the stage joins them."""
    joined = F.concat_ws("; ", *reasons)
    return canonical.withColumn("reason", F.when(joined == "", None).otherwise(joined))


def experiment_plans(raw: DataFrame, data: DataConfig) -> dict[str, Callable[[], pd.DataFrame]]:
    """The three plans of the experiment table's checks, each returning its summary."""
    optional = [name for name in ("propensity", "weight") if getattr(data, name)]
    columns = ["treatment", "reason", *data.outcomes, *optional]

    def rows() -> DataFrame:
        canonical = contract.canonical_experiment(raw, data).withColumn("__dup", F.lit(1))
        reasons = [
            *contract.value_reasons(canonical, data),
            *contract.experiment_reason_columns(data),
        ]
        return with_reasons(canonical, reasons)

    def stage() -> pd.DataFrame:
        classified = contract.classify_rows(contract.canonical_experiment(raw, data), data)
        return contract.experiment_summary(classified, data)

    def cached() -> pd.DataFrame:
        checked = rows().select("customer_id", *columns).cache()
        try:
            assert not contract.has_duplicate_ids(checked)
            return contract.experiment_summary(checked, data)
        finally:
            checked.unpersist()

    def fused() -> pd.DataFrame:
        per_id = rows().groupBy("customer_id").agg(
            F.count(F.lit(1)).alias("__copies"), *[F.first(c).alias(c) for c in columns]
        )
        repeated = (F.col("__copies") > 1).alias("__repeated")
        summary = per_id.groupBy("treatment", "reason", repeated).agg(
            *contract.arm_aggregates(data)
        )
        frame = summary.toPandas()
        assert not frame["__repeated"].any()
        return frame.drop(columns="__repeated")

    return dict(zip(PLANS, (stage, cached, fused), strict=True))


def customer_plans(raw: DataFrame, data: DataConfig) -> dict[str, Callable[[], pd.DataFrame]]:
    """The three plans of the customer table's checks, each returning its counts per reason."""

    def rows() -> DataFrame:
        canonical = contract.canonical_customers(raw, data)
        null_id = F.when(F.col("customer_id").isNull(), F.lit("null customer_id"))
        return with_reasons(canonical, [*contract.value_reasons(canonical, data), null_id])

    def stage() -> pd.DataFrame:
        classified = contract.classify_customers(contract.canonical_customers(raw, data), data)
        return contract.customer_summary(classified)

    def cached() -> pd.DataFrame:
        checked = rows().select("customer_id", "reason").cache()
        try:
            assert not contract.has_duplicate_ids(checked)
            return contract.customer_summary(checked)
        finally:
            checked.unpersist()

    def fused() -> pd.DataFrame:
        per_id = rows().groupBy("customer_id").agg(
            F.count(F.lit(1)).alias("__copies"), F.first("reason").alias("reason")
        )
        counts = per_id.groupBy("reason", (F.col("__copies") > 1).alias("__repeated")).count()
        frame = counts.withColumnRenamed("count", "n").toPandas()
        assert not frame["__repeated"].any()
        return frame.drop(columns="__repeated")

    return dict(zip(PLANS, (stage, cached, fused), strict=True))


def same_counts(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two summaries have the same groups with the same row counts."""
    keys = [c for c in ("treatment", "reason") if c in a.columns]
    left = a.set_index(keys)["n"].sort_index()
    right = b.set_index(keys)["n"].sort_index()
    return left.equals(right)


def timed_rounds(
    plans: dict[str, Callable[[], pd.DataFrame]], repeats: int
) -> dict[str, list[float]]:
    """Seconds of each plan in each of ``repeats`` interleaved rounds; every plan's summary is
    checked against the first plan's."""
    times: dict[str, list[float]] = {name: [] for name in plans}
    for _ in range(repeats):
        reference = None
        for name, plan in plans.items():
            start = time.perf_counter()
            summary = plan()
            times[name].append(time.perf_counter() - start)
            reference = summary if reference is None else reference
            assert same_counts(reference, summary), f"{name}: a different summary"
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--scenario", default="rewards")
    parser.add_argument("--simulated", help="simulate/ folder of the pipeline benchmark: reused")
    parser.add_argument("--workdir", default="/tmp/ct-ingest-checks")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--shuffle-partitions", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    args = parser.parse_args()

    simulated = Path(args.simulated or Path(args.workdir) / "simulate")
    cfg = simulated_config(
        args.scenario,
        simulated,
        f"{args.workdir}/out",
        args.driver_memory,
        args.shuffle_partitions,
    )
    spark = get_spark(cfg.spark)
    if not args.simulated:
        write_simulation(spark, args.scenario, args.rows, args.seed, str(simulated))
    experiment = read_table(spark, cfg.data.experiment, contract.EXPERIMENT)
    customers = read_table(spark, cfg.data.customers, contract.CUSTOMERS)
    rows = experiment.count()
    for table in (experiment, customers):  # warm: the files in the page cache, the JIT
        table.write.format("noop").mode("overwrite").save()
    results = {
        "experiment": timed_rounds(experiment_plans(experiment, cfg.data), args.repeats),
        "customers": timed_rounds(customer_plans(customers, cfg.data), args.repeats),
    }
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/python benchmarks/ingest_checks.py --rows {args.rows}"
        + (f" --simulated {args.simulated}" if args.simulated else "")
        + f" --repeats {args.repeats}`",
        "",
        f"Scenario `{args.scenario}`, {rows:,} rows per table, Spark `local[2]`, driver memory "
        f"{args.driver_memory}, {args.shuffle_partitions} shuffle partitions; median of "
        f"{args.repeats} interleaved rounds. Each plan gave the stage's groups and counts.",
        "",
        "| table | plan | median (s) | rounds (s) | plan / stage |",
        "|---|---|---:|---:|---:|",
    ]
    for table, times in results.items():
        stage = statistics.median(times[PLANS[0]])
        for name, values in times.items():
            median = statistics.median(values)
            rounds = ", ".join(f"{v:.1f}" for v in values)
            lines.append(f"| {table} | {name} | {median:.1f} | {rounds} | {median / stage:.2f}x |")
    publish(SECTION, "\n".join(lines) + "\n", write=not args.no_write)


if __name__ == "__main__":
    main()
