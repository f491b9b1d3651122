"""Benchmark: the score stage against its own kernel and against raw LightGBM, in one run.

One uplift artifact (T-learner: control + two arms, two outcomes, 100 trees per booster) scores
the same Parquet customer table four ways, timed in ``--repeats`` interleaved rounds (medians):

1. raw LightGBM: ``Booster.predict`` of every booster, 2 threads, on the prepared float array;
2. kernel: ``UpliftModel.predict`` with the engine the score stage uses (lleaves-compiled
   trees, 2 threads), in-process on the pandas table;
3. score stage, ``local[2]``, to Spark's ``noop`` sink;
4. score stage, ``local[2]``, to a Parquet sink;
5. Spark's transfer alone: the stage's input columns through ``mapInPandas`` to its output
   schema with zeros for scores, noop sink (what the stage costs beyond its kernel at best);

the stage with Arrow batches of 10,000 rows (the project's default) and of 50,000 rows.

Targets: (a) stage (noop) >= 0.95x the kernel's throughput; (b) stage >= 2x raw LightGBM.
Compiling the boosters is timed once, separately (it happens once per model and machine): as
the score stage compiles them (side by side in worker processes), beside one after the other in
process; the stage runs once untimed first (Python workers start and load the compiled
boosters).

    .venv/bin/python benchmarks/scoring.py --rows 1000000

With ``--folds 5`` the artifact is the train stage's default shape: cross-fitted, it scores the
mean of its refit and its 5 fold models (``train.bag``), six times the boosters; its results go
to their own section.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from _results import publish
from causal_targeting.config import SparkConfig
from causal_targeting.learners.compiled import CompiledEngine
from causal_targeting.learners.model import UpliftModel
from causal_targeting.learners.uplift import TLearner
from causal_targeting.scoring import MODEL_VERSION, score, score_schema
from causal_targeting.spark import get_spark

SECTION = "## scoring"
BAGGED_SECTION = "## scoring the cross-fitted, bagged model"
ARMS = ["arm_a", "arm_b"]
CONTROL = "control"
NUMERIC = [f"x{i}" for i in range(8)]
CATEGORICAL = {"region": ["n", "s", "e", "w", "c"], "channel": ["web", "store", "app"]}
OUTCOMES = {"conversion": "binary", "revenue": "continuous"}
BATCH_ROWS = (10_000, 50_000)  # the project's default Arrow batch, and a larger one
RAW = "raw LightGBM Booster.predict, 2 threads"
KERNEL = "kernel: UpliftModel.predict, compiled, 2 threads"
TRANSFER = "Spark transfer alone (no prediction), local[2], noop sink, Arrow batches of 10,000"


def verdict(ratio: float, target: float) -> str:
    return "met" if ratio >= target else "missed"


def stage_name(sink: str, batch_rows: int) -> str:
    return f"score stage, local[2], {sink} sink, Arrow batches of {batch_rows:,}"


def customers(n: int, seed: int) -> pd.DataFrame:
    """Customers with 8 numeric features (some NaN) and 2 string categoricals."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"customer_id": np.arange(n, dtype=np.int64)})
    for name in NUMERIC:
        values = rng.normal(size=n)
        values[rng.random(n) < 0.02] = np.nan
        frame[name] = values
    for name, levels in CATEGORICAL.items():
        frame[name] = rng.choice(levels, size=n)
    return frame


def experiment(n: int, seed: int) -> pd.DataFrame:
    """A randomized experiment over ``customers`` with a binary and a continuous outcome."""
    rng = np.random.default_rng(seed + 1)
    frame = customers(n, seed)
    frame["treatment"] = rng.choice([CONTROL, *ARMS], size=n)
    x = frame[NUMERIC].fillna(0.0).to_numpy()
    lift = np.where(frame["treatment"] == "arm_a", 0.5 * x[:, 0], 0.0) + np.where(
        frame["treatment"] == "arm_b", 0.4 * (frame["region"] == "n"), 0.0
    )
    logit = x[:, 1] - 1.0 + lift
    frame["conversion"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    frame["revenue"] = x[:, 2] * 3 + lift * 5 + rng.normal(size=n)
    return frame


def fit_model(seed: int, folds: int) -> UpliftModel:
    """The T-learner artifact of 100-tree boosters; with ``folds`` > 0, cross-fitted, and its
    model the bag of the refit and its ``folds`` fold models (the train stage's default shape)."""
    features = {name: "numeric" for name in NUMERIC} | {name: "categorical" for name in CATEGORICAL}
    learner = TLearner(
        n_estimators=100, early_stopping_rounds=None, seed=seed, n_folds=folds or None
    )
    learner.fit(
        experiment(60_000, seed),
        features=features,
        treatment="treatment",
        control=CONTROL,
        arms=ARMS,
        outcomes=OUTCOMES,
    )
    return learner.model_


def transfer_only(df: DataFrame, model: UpliftModel) -> DataFrame:
    """The score stage's data path without its kernel: same input columns, same output schema,
    zeros for the scores."""
    schema = score_schema(df.schema, model, "customer_id")
    score_columns = model.score_columns()

    def zeros(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            out = pd.DataFrame(0.0, index=batch.index, columns=score_columns)
            out.insert(0, "customer_id", batch["customer_id"].to_numpy())
            out[MODEL_VERSION] = "transfer"
            yield out

    features = [F.col(name).cast("double") for name in NUMERIC] + list(CATEGORICAL)
    return df.select("customer_id", *features).mapInPandas(zeros, schema)


def interleaved_medians(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Time each run once per round, ``repeats`` rounds; return each run's median seconds.

    Interleaving the paths spreads the load of a shared machine evenly over them.
    """
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--folds",
        type=int,
        default=0,
        help="cross-fit the model with K folds: it scores the mean of K + 1 members (train.bag)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    try:
        model = fit_model(seed=0, folds=args.folds)
        table = workdir / "customers.parquet"
        customers(args.rows, seed=1).to_parquet(table, index=False)
        frame = pd.read_parquet(table)
        rows = model.spec.array(frame)
        strings = model.model_strings()
        boosters = [lgb.Booster(model_str=text) for text in strings]

        serial = CompiledEngine(cache_dir=workdir / "serial", n_threads=2, processes=1)
        start = time.perf_counter()
        serial.compiled_objects(strings)
        serial_seconds = time.perf_counter() - start
        engine = CompiledEngine(cache_dir=workdir / "compiled", n_threads=2)
        start = time.perf_counter()
        engine.compiled_objects(strings)
        compile_seconds = time.perf_counter() - start

        def raw_lightgbm() -> None:
            for booster in boosters:
                booster.predict(rows, num_threads=2)

        spark = get_spark(SparkConfig(master="local[2]", shuffle_partitions=2, driver_memory="4g"))
        df = spark.read.parquet(str(table))

        def stage(sink: str, batch_rows: int) -> Callable[[], None]:
            def run() -> None:
                spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
                scores = score(df, model, "bench/1", cache_dir=workdir / "compiled")
                if sink == "noop":
                    scores.write.format("noop").mode("overwrite").save()
                else:
                    scores.write.mode("overwrite").parquet(str(workdir / "scores"))

            return run

        start = time.perf_counter()
        stage("noop", BATCH_ROWS[0])()  # Python workers start and load the compiled boosters
        warmup_seconds = time.perf_counter() - start
        runs = {
            RAW: raw_lightgbm,
            KERNEL: lambda: model.predict(frame, engine=engine),
        }

        def transfer() -> None:
            spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH_ROWS[0]))
            transfer_only(df, model).write.format("noop").mode("overwrite").save()

        runs[TRANSFER] = transfer
        for batch_rows in BATCH_ROWS:
            for sink in ("noop", "Parquet"):
                runs[stage_name(sink, batch_rows)] = stage(sink.lower(), batch_rows)
        timings = interleaved_medians(runs, args.repeats)
        spark.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    command = f".venv/bin/python benchmarks/scoring.py --rows {args.rows} --repeats {args.repeats}"
    if args.folds:
        command += f" --folds {args.folds}"
    members = (
        f"the mean of {len(model.members)} members (the refit and its {args.folds} fold models), "
        if args.folds
        else ""
    )
    section = BAGGED_SECTION if args.folds else SECTION
    lines = [
        section,
        "",
        f"Command: `{command}`",
        "",
        f"{args.rows:,} customers (8 numeric + 2 categorical features) in one Parquet file; one "
        f"T-learner artifact: control + 2 arms, 2 outcomes, {members}{len(boosters)} boosters "
        f"of 100 trees; median of {args.repeats} interleaved rounds. Compiling the {len(boosters)} "
        f"boosters with lleaves, once, as the score stage does (in {engine.processes} worker "
        f"processes): {compile_seconds:.1f} s, against {serial_seconds:.1f} s one after the "
        f"other in process ({serial_seconds / compile_seconds:.2f}x); the stage's first (untimed) "
        f"run, in which the Python workers start and load the compiled boosters: "
        f"{warmup_seconds:.1f} s. Raw LightGBM predicts on the float64 model array "
        "(categoricals as codes), its fastest input. Load average of the shared 2-core "
        f"machine during the run: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after.",
        "",
        "| path | median s | rows/s |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {name} | {secs:.2f} | {args.rows / secs:,.0f} |" for name, secs in timings.items()
    ]
    lines.append("")
    for batch_rows in BATCH_ROWS:
        noop = timings[stage_name("noop", batch_rows)]
        parquet = timings[stage_name("Parquet", batch_rows)]
        lines += [
            f"- Arrow batches of {batch_rows:,} rows: (a) stage (noop) / kernel throughput "
            f"**{timings[KERNEL] / noop:.2f}x** (target >= 0.95x: "
            f"{verdict(timings[KERNEL] / noop, 0.95)}); (b) stage (noop) / raw LightGBM "
            f"**{timings[RAW] / noop:.2f}x** (target >= 2x: {verdict(timings[RAW] / noop, 2.0)}); "
            f"stage (Parquet) / raw LightGBM {timings[RAW] / parquet:.2f}x",
        ]
    lines += [
        f"- kernel / raw LightGBM throughput: {timings[RAW] / timings[KERNEL]:.2f}x",
        f"- Spark's transfer alone takes {timings[TRANSFER]:.2f} s; if it did not overlap the "
        f"kernel at all, (a) could be at most kernel / (kernel + transfer) = "
        f"{timings[KERNEL] / (timings[KERNEL] + timings[TRANSFER]):.2f}x: the share of the "
        "stage that is Spark's own reading and moving of rows, which both cores also serve.",
        "",
    ]
    text = "\n".join(lines)
    publish(section, text, write=not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
