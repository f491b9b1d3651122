"""Benchmark: the whole pipeline on N simulated customers in Spark ``local[2]``, stage by stage.

Each stage runs in-process through ``causal_targeting.pipeline`` on one Spark session, the way
``causal-targeting run`` runs them; for each stage the benchmark records its wall time, the peak
resident memory of the whole process tree (JVM + Python workers) and of the Python driver alone,
and beside it, in the same run, its reference: one Spark pass over the stage's input table
(Parquet read into the ``noop`` sink), the floor of any stage that reads that table. The ratio
stage / pass says how many full passes' worth of time the stage costs.

Where the time goes comes from Spark's own evidence: the session writes its event log under the
workdir, and after each stage the new events are summed by ``_sparklog.stage_breakdown``: Spark
jobs and SQL queries (by action), passes over the input (records read from files / input rows),
shuffles and bytes shuffled, rows written, and task time in Python workers against the JVM (and
printed job by job, for the jobs of a second or more: ``_sparklog.job_breakdown``). Peak
resident memory is sampled apart for the Python driver, the JVM and the Python workers.

No stage may collect a table to the driver: the session runs with
``spark.driver.maxResultSize`` (default 256m), far below any of the tables (10M rows are several
GB), so a collect of a full table fails the run instead of passing unseen.

Config overrides (``--set KEY=VALUE``, repeatable, the same dotted keys as
``causal-targeting run --set``) are applied after the benchmark's own (paths, driver memory,
shuffle partitions, seed) and printed in the recorded command. ``--set train.cap_per_arm=20000``
trains on a small sample: the stages after train read the model's scores, whose cost depends on
the model's shape (learner, trees, leaves, features), not on how many rows it was fitted on.

    .venv/bin/python benchmarks/pipeline.py --rows 10000000
    .venv/bin/python benchmarks/pipeline.py --rows 10000000 --set train.cap_per_arm=20000
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from _config import simulated_config
from _measure import peak_memory, timed
from _results import publish
from _sparklog import job_breakdown, read_events, stage_breakdown
from causal_targeting.config import Config
from causal_targeting.data.simulate import write_simulation
from causal_targeting.spark import get_spark
from causal_targeting.stages.allocate import allocate
from causal_targeting.stages.coarsen import coarsen
from causal_targeting.stages.evaluate import evaluate
from causal_targeting.stages.ingest import ingest
from causal_targeting.stages.score import score
from causal_targeting.stages.train import train

SECTION = "## pipeline"


def one_pass_seconds(spark: SparkSession, path: str, repeats: int) -> float:
    """Median seconds of reading the Parquet table at ``path`` into the ``noop`` sink."""
    times = [
        timed(lambda: spark.read.parquet(path).write.format("noop").mode("overwrite").save())[1]
        for _ in range(repeats)
    ]
    return statistics.median(times)


def drained(spark: SparkSession) -> None:
    """Wait until Spark's listener bus has handed every event so far to the event log."""
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()


def breakdown_table(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The per-stage Spark evidence as a Markdown table."""
    lines = [
        "| stage | Spark jobs | SQL queries (by action) | passes over its input | shuffles (MB) "
        "| rows written | task time: Python workers / JVM (s) | JVM GC (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, b in rows:
        actions = ", ".join(f"{n} {a}" for a, n in sorted(b["actions"].items()))
        lines.append(
            f"| {name} | {b['jobs']} | {b['queries']} ({actions}) | {b['passes']:.2f} "
            f"| {b['shuffles']} ({b['shuffle_bytes'] / 1e6:,.0f}) | {b['rows_written']:,} "
            f"| {b['python_s']:.1f} / {b['jvm_s']:.1f} | {b['gc_s']:.1f} |"
        )
    return lines


def stages(cfg: Config, spark: SparkSession) -> list[tuple[str, Callable[[], object], str]]:
    """(name, run, the Parquet table it reads) for each stage of ``causal-targeting run``."""
    out = cfg.outputs.root
    steps: list[tuple[str, Callable[[], object], str]] = [
        ("ingest", lambda: ingest(cfg, spark), cfg.data.experiment.path),
        ("train", lambda: train(cfg, spark, promote=True), f"{out}/ingest/experiment"),
        ("score", lambda: score(cfg, spark), f"{out}/ingest/customers"),
    ]
    if cfg.coarsen.enabled:
        steps.append(("coarsen", lambda: coarsen(cfg, spark), f"{out}/score/scores"))
    steps += [
        ("allocate", lambda: allocate(cfg, spark), f"{out}/score/scores"),
        ("evaluate", lambda: evaluate(cfg, spark), f"{out}/ingest/experiment"),
    ]
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="experiment = customer rows")
    parser.add_argument("--scenario", default="rewards")
    parser.add_argument("--workdir", default="/tmp/causal-targeting-pipeline-bench")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--max-result-size", default="256m")
    parser.add_argument("--shuffle-partitions", type=int, default=64)
    parser.add_argument("--pass-repeats", type=int, default=3, help="repeats of the reference")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    parser.add_argument(
        "--simulated",
        help="simulate/ folder of an earlier run (same rows and seed) outside --workdir: reused",
    )
    parser.add_argument(
        "--stages",
        help="comma-separated stages to run again on the workdir's outputs of an earlier run "
        "(e.g. score,allocate,evaluate: the code of two commits on the same trained model)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="config override applied after the benchmark's own (repeatable), e.g. "
        "train.cap_per_arm=20000",
    )
    args = parser.parse_args()

    work = Path(args.workdir)
    again = args.stages.split(",") if args.stages else None
    if again is None:
        shutil.rmtree(work, ignore_errors=True)
    simulated = Path(args.simulated) if args.simulated else work / "simulate"
    cfg = simulated_config(
        args.scenario,
        simulated,
        work / "out",
        args.driver_memory,
        args.shuffle_partitions,
        (
            f"tracking.uri=sqlite:///{work}/mlflow.db",
            f"tracking.artifact_location={work}/mlruns",
            f"seed={args.seed}",
            *args.overrides,
        ),
    )
    events = work / "eventlog" / time.strftime("%Y%m%dT%H%M%S")  # earlier runs' logs are kept
    events.mkdir(parents=True)
    cfg.spark.extra |= {
        "spark.driver.maxResultSize": args.max_result_size,
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": events.resolve().as_uri(),
        "spark.eventLog.compress": "false",
    }
    spark = get_spark(cfg.spark)
    print(f"Spark {spark.version}, master {spark.sparkContext.master}", flush=True)

    rows: list[tuple[str, float, dict[str, float], float]] = []
    evidence: list[tuple[str, dict[str, Any]]] = []
    if not args.simulated and again is None:
        with peak_memory() as peak:
            _, seconds = timed(
                lambda: write_simulation(spark, args.scenario, args.rows, args.seed, str(simulated))
            )
        rows.append(("simulate (both tables)", seconds, dict(peak), float("nan")))
        print(f"simulate: {seconds:.1f} s", flush=True)

    for name, run, source in stages(cfg, spark):
        if again is not None and name not in again:
            continue
        reference = one_pass_seconds(spark, source, args.pass_repeats)
        input_rows = spark.read.parquet(source).count()
        drained(spark)
        _, seen = read_events(events)
        with peak_memory() as peak:
            _, seconds = timed(run)
        drained(spark)
        new_events = read_events(events, seen)[0]
        evidence.append((name, stage_breakdown(new_events, input_rows)))
        rows.append((name, seconds, dict(peak), reference))
        print(
            f"{name}: {seconds:.1f} s (one pass over its input {reference:.1f} s), "
            f"peak {peak['tree']:.2f} GB tree / {peak['driver']:.2f} driver / "
            f"{peak['jvm']:.2f} JVM / {peak['workers']:.2f} Python workers; {evidence[-1][1]}",
            flush=True,
        )
        for job in job_breakdown(new_events):
            if job["seconds"] >= 1.0:
                print(f"  {name} job {job}", flush=True)
    spark.stop()

    total = sum(row[1] for row in rows)
    lines = [
        "| stage | wall time (s) | one pass over its input (s) | stage / pass "
        "| peak memory, tree (GB) | Python driver (GB) | JVM (GB) | Python workers (GB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, seconds, peak, reference in rows:
        ratio = f"{seconds / reference:.1f}x" if reference == reference else "-"
        ref = f"{reference:.1f}" if reference == reference else "-"
        lines.append(
            f"| {name} | {seconds:.1f} | {ref} | {ratio} | {peak['tree']:.2f} "
            f"| {peak['driver']:.2f} | {peak['jvm']:.2f} | {peak['workers']:.2f} |"
        )
    lines.append(f"| **total** | **{total:.1f}** | | | | | | |")
    text = "\n".join(
        [
            SECTION,
            "",
            f"Command: `.venv/bin/python benchmarks/pipeline.py --rows {args.rows} "
            f"--scenario {args.scenario} --driver-memory {args.driver_memory} "
            f"--shuffle-partitions {args.shuffle_partitions}"
            + "".join(f" --set {override}" for override in args.overrides)
            + "`",
            "",
            f"The `{args.scenario}` scenario: {args.rows:,} experiment rows and {args.rows:,} "
            f"customers, Spark `{cfg.spark.master}` on the shared 2-core machine, driver memory "
            f"{args.driver_memory}, `spark.driver.maxResultSize={args.max_result_size}` (a collect "
            "of a full table would fail the run). One run; the reference pass is the median of "
            f"{args.pass_repeats}. Peak memory is the resident set sampled every 0.2 s, each "
            "column the peak of its own sum (the JVM is the `java` process, the Python workers "
            "every other process under it).",
            "",
            *lines,
            "",
            "Where the time goes, from Spark's event log: passes = records read from files / "
            "rows of the input table (reads of cached data are not file input); Python worker "
            "time = the SQL metric \"time to execute Python code\" of the `mapInPandas` "
            "operators plus the whole task time of RDD-API Python stages (the allocation's "
            "dual passes, which have no SQL metrics); JVM = the rest of the tasks' run time.",
            "",
            *breakdown_table(evidence),
            "",
        ]
    )
    publish(SECTION, text, write=not args.no_write)


if __name__ == "__main__":
    main()
