"""Benchmark: the simulator's numpy core against the Spark write of the same rows, in one run.

1. core: ``simulate_block`` + ``customer_block`` in-process, in blocks of 10,000 ids (the Arrow
   batch size ``mapInPandas`` hands the core), on ``--core-rows`` ids, one Python thread;
2. Spark, ``local[2]``, reference: the same tables to the ``noop`` sink, each Arrow batch a slice
   of one block generated once on the driver (Spark's transfer alone, the ceiling of path 3);
3. Spark, ``local[2]``: ``simulate`` to Spark's ``noop`` sink (generation + Arrow transfer);
4. Spark, ``local[2]``: ``write_simulation`` (the same plus Parquet, written atomically).

Each Spark path produces ``--rows`` experiment rows and ``--rows`` customer rows, after an
untimed warm-up job that starts the Python workers. Rows/s count both tables. The ratio
Spark / core says how much of the core's single-thread speed the distributed path delivers on
2 cores (2x would be perfect scaling with free I/O). Several scenarios can be given.

    .venv/bin/python benchmarks/simulate.py --scenario retention spend_threshold --rows 10000000
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from _results import publish
from causal_targeting.config import SparkConfig
from causal_targeting.data.simulate import (
    SCENARIOS,
    customer_block,
    default_partitions,
    scenario,
    simulate,
    simulate_block,
    spark_schema,
    write_simulation,
)
from causal_targeting.spark import get_spark

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import DataFrame, SparkSession

SECTION = "## simulate"
BLOCK = 10_000
SEED = 7


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``run``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_core(name: str, rows: int) -> None:
    """Both tables of ``rows`` ids each, block by block, as the executors do."""
    spec = scenario(name)
    for first in range(0, rows, BLOCK):
        ids = np.arange(first, min(first + BLOCK, rows))
        simulate_block(spec, ids, SEED)
        customer_block(spec, ids, SEED)


def transfer_only(spark: SparkSession, name: str, rows: int) -> list[DataFrame]:
    """The same two tables, but each batch is a slice of one block generated on the driver.

    Spark's part alone (ids to Python, pandas to Arrow to the JVM): the ceiling of the real path.
    """
    spec = scenario(name)
    ids = np.arange(BLOCK)
    tables = []
    for block, experiment in (
        (simulate_block(spec, ids, SEED), True),
        (customer_block(spec, ids, SEED), False),
    ):

        def repeat(
            batches: Iterator[pd.DataFrame], block: pd.DataFrame = block
        ) -> Iterator[pd.DataFrame]:
            for batch in batches:
                yield (
                    block.iloc[np.arange(len(batch)) % BLOCK]
                    if len(batch) > BLOCK
                    else block.iloc[: len(batch)]
                )

        ranged = spark.range(rows, numPartitions=default_partitions(spark, rows))
        tables.append(ranged.mapInPandas(repeat, schema=spark_schema(spec, experiment)))
    return tables




def measure(
    spark: SparkSession, name: str, args: argparse.Namespace, out: Path
) -> tuple[list[str], str]:
    """Table rows (core, ceiling, noop, Parquet) of one scenario and a note on the ceiling.

    An untimed warm-up job starts the Python workers first.
    """
    for table in simulate(spark, name, BLOCK, SEED):  # starts and warms the Python workers
        table.write.format("noop").mode("overwrite").save()
    core = median_seconds(lambda: run_core(name, args.core_rows), max(3, args.repeats))

    def noop() -> None:
        for table in simulate(spark, name, args.rows, SEED):
            table.write.format("noop").mode("overwrite").save()

    def ceiling() -> None:
        for table in transfer_only(spark, name, args.rows):
            table.write.format("noop").mode("overwrite").save()

    def parquet() -> None:
        write_simulation(spark, name, args.rows, SEED, str(out / name))

    timings = {
        "Spark local[2], noop sink, precomputed blocks (transfer ceiling)": median_seconds(
            ceiling, args.repeats
        ),
        "Spark local[2], noop sink": median_seconds(noop, args.repeats),
        "Spark local[2], Parquet (write_simulation)": median_seconds(parquet, args.repeats),
    }
    gib = sum(f.stat().st_size for f in (out / name).rglob("*.parquet")) / 2**30
    shutil.rmtree(out / name, ignore_errors=True)
    columns = len(simulate_block(scenario(name), np.arange(1), SEED).columns)
    core_rate = 2 * args.core_rows / core
    rows = [
        f"| {name} ({columns} cols) | core, 1 thread | {core:.2f} | {core_rate:,.0f} | 1.00 | |"
    ]
    for path, seconds in timings.items():
        rate = 2 * args.rows / seconds
        rows.append(f"| | {path} | {seconds:.1f} | {rate:,.0f} | {rate / core_rate:.2f} | |")
    rows[-1] = rows[-1][: -len(" |")] + f" {gib:.2f} |"
    ceiling_s, noop_s, _ = timings.values()
    note = (
        f"- {name}: simulate to noop runs at {ceiling_s / noop_s:.2f}x the speed of Spark's "
        "transfer alone (1.00 would mean generation is free)"
    )
    return rows, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), nargs="+", default=["retention"])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of each table")
    parser.add_argument("--core-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    spark = get_spark(SparkConfig(master="local[2]", shuffle_partitions=2, driver_memory="4g"))
    workdir = Path(tempfile.mkdtemp(prefix="bench-simulate-"))
    try:
        partitions = default_partitions(spark, args.rows)
        measured = [measure(spark, name, args, workdir) for name in args.scenario]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        spark.stop()

    command = (
        f".venv/bin/python benchmarks/simulate.py --scenario {' '.join(args.scenario)}"
        f" --rows {args.rows} --core-rows {args.core_rows} --repeats {args.repeats}"
    )
    lines = [
        SECTION,
        "",
        f"Command: `{command}`",
        "",
        f"Seed {SEED}. Core: {args.core_rows:,} ids x 2 tables (experiment + customers) in blocks "
        f"of {BLOCK:,}, one thread, median of {max(3, args.repeats)}. Spark: {args.rows:,} rows "
        f"x 2 tables, {partitions} partitions per table, after an untimed warm-up job, median of "
        f"{args.repeats}. Rows/s count both tables; ratio = Spark rows/s / core rows/s. "
        f"Load average at the start: {load:.1f} on {os.cpu_count()} cores (the machine is shared).",
        "",
        "| scenario | path | median s | rows/s | ratio to core | Parquet GiB |",
        "|---|---|---:|---:|---:|---:|",
        *[row for rows, _ in measured for row in rows],
        "",
        *[note for _, note in measured],
        "",
    ]
    text = "\n".join(lines)
    publish(SECTION, text, write=not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
