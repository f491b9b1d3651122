"""Benchmark: the score stage with each prediction engine from a cold start, and what
``score.engine: auto`` chooses, in one run.

The bagged T-learner of ``benchmarks/scoring.py`` (the train stage's default shape: the refit and
its 5 fold models, 36 boosters of 100 trees) scores each customer table of ``--rows`` twice per
round, to Spark's ``noop`` sink on ``local[2]``:

1. ``lightgbm``: LightGBM's own predictions;
2. ``compiled``: the boosters compiled with lleaves first, into an empty cache (what a score run
   pays for a new model on a new machine), then the compiled trees;

``--repeats`` interleaved rounds, medians. The ratio compiled / lightgbm above 1 says LightGBM
is faster at that size; the line for each size names the engine ``auto`` takes there
(``scoring.chosen_engine`` on the session's task slots) and whether it is the faster one.

    .venv/bin/python benchmarks/score_engine.py --rows 64000 640000 2000000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from functools import partial
from pathlib import Path

from pyspark.sql import DataFrame

from _results import publish
from causal_targeting.config import SparkConfig
from causal_targeting.learners.model import UpliftModel
from causal_targeting.scoring import COMPILE_ROWS_PER_SLOT, chosen_engine, score
from causal_targeting.spark import get_spark, task_slots
from scoring import customers, fit_model, interleaved_medians

SECTION = "## score engine"


def cold_stage(df: DataFrame, model: UpliftModel, engine: str, cache: Path) -> None:
    """One score of ``df`` to the noop sink, the compiled cache emptied first."""
    shutil.rmtree(cache, ignore_errors=True)
    score(df, model, "bench", engine=engine, cache_dir=cache).write.format("noop").mode(
        "overwrite"
    ).save()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[64_000, 640_000, 2_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    args = parser.parse_args()

    spark = get_spark(SparkConfig(master="local[2]", driver_memory="4g"))
    slots = task_slots(spark)
    model = fit_model(seed=1, folds=5)
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/python benchmarks/score_engine.py --rows "
        f"{' '.join(str(n) for n in args.rows)} --repeats {args.repeats}`",
        "",
        f"The bagged T-learner of `benchmarks/scoring.py` ({len(model.model_strings())} "
        f"boosters of 100 trees); the score stage on local[{slots}] to the noop sink, each engine "
        f"from an empty compiled cache; median of {args.repeats} interleaved rounds. "
        f"`auto` compiles from {COMPILE_ROWS_PER_SLOT:,} customers a task slot.",
        "",
        "| customers | lightgbm (s) | compiled, compile included (s) | compiled / lightgbm "
        "| auto takes | the faster |",
        "|---:|---:|---:|---:|---|---|",
    ]
    with tempfile.TemporaryDirectory() as workdir:
        for n in args.rows:
            path = str(Path(workdir) / f"customers-{n}.parquet")
            customers(n, seed=2).to_parquet(path, index=False)
            df = spark.read.parquet(path)
            score(df, model, "warm-up", engine="lightgbm").write.format("noop").mode(
                "overwrite"
            ).save()  # Python workers started before any timing
            cache = Path(workdir) / "compiled"
            median = interleaved_medians(
                {
                    engine: partial(cold_stage, df, model, engine, cache)
                    for engine in ("lightgbm", "compiled")
                },
                args.repeats,
            )
            ratio = median["compiled"] / median["lightgbm"]
            faster = "compiled" if ratio < 1 else "lightgbm"
            auto = chosen_engine("auto", n, slots)
            lines.append(
                f"| {n:,} | {median['lightgbm']:.1f} | {median['compiled']:.1f} | {ratio:.2f}x "
                f"| {auto} | {faster}{'' if auto == faster else ' (auto is not)'} |"
            )
            print(lines[-1], flush=True)
    publish(SECTION, "\n".join(lines) + "\n", write=not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
