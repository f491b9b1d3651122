"""Benchmark: the Qini/AUUC table on Spark, this version against a reference version of the code.

The train stage measures the chosen learner's out-of-fold scores by Qini and AUUC per arm and
outcome (:func:`causal_targeting.evaluation.distributed.uplift_table_spark`: score quantiles by
``percentile_approx``, each row's bucket among them, one ``groupBy`` of the bucket sums). One
scored table of three arms and three outcomes (six curves, 100 buckets each) is written once;
then, for each version, a fresh Python process with that version's ``lib/`` first on the path
reads it in Spark ``local[2]``, caches it, builds the table once to warm up and then
``--repeats`` times, and reports the median wall time and the metrics. The two versions' metrics
must be identical. The reference is a checkout of an earlier commit (``git worktree add
--detach /tmp/before <commit>``).

    .venv/bin/python benchmarks/uplift_table.py --rows 64000 800000 --reference /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from _results import publish

SECTION = "## uplift table"
ROOT = Path(__file__).resolve().parents[1]
ARMS = ["control", "a", "b"]
OUTCOMES = {"visit": "binary", "conversion": "binary", "spend": "continuous"}

RUN_ONE = """
import json, sys, time
from pyspark.sql import SparkSession
from causal_targeting.evaluation.distributed import uplift_table_spark
path, repeats, arms, outcomes = sys.argv[1], int(sys.argv[2]), *map(json.loads, sys.argv[3:5])
spark = (
    SparkSession.builder.master("local[2]").config("spark.sql.shuffle.partitions", 8)
    .config("spark.driver.memory", "4g").getOrCreate()
)
df = spark.read.parquet(path).cache()
df.count()
def table():
    return uplift_table_spark(df, arms=arms[1:], control=arms[0], outcome_kinds=outcomes)
table()
seconds = []
for _ in range(repeats):
    start = time.perf_counter()
    metrics, _ = table()
    seconds.append(time.perf_counter() - start)
print(json.dumps({"seconds": seconds, "metrics": metrics.to_dict(orient="records")}))
"""


def scored_table(rows: int, seed: int) -> pd.DataFrame:
    """``rows`` experiment rows of :data:`ARMS` with :data:`OUTCOMES` and a ``tau__`` score of
    every arm and outcome that ranks the rows' true effects with noise."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(ARMS, rows)
    x = rng.normal(size=rows)
    lift = np.where(arm == "control", 0.0, 0.02 * (x > 0))
    table = pd.DataFrame({"treatment": arm})
    for outcome, kind in OUTCOMES.items():
        hit = rng.random(rows) < 0.1 + lift
        table[outcome] = hit * (rng.gamma(2.0, 20.0, rows) if kind == "continuous" else 1.0)
        for treated in ARMS[1:]:
            table[f"tau__{outcome}__{treated}"] = x + rng.normal(size=rows)
    return table


def run_version(repo: Path, path: str, repeats: int) -> dict:
    """Seconds of each repeat and the metrics of the code in ``repo`` on the table at ``path``."""
    env = {**os.environ, "PYTHONPATH": str(repo / "lib")}
    done = subprocess.run(
        [sys.executable, "-c", RUN_ONE, path, str(repeats), json.dumps(ARMS), json.dumps(OUTCOMES)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[64_000, 800_000])
    parser.add_argument("--reference", type=Path, required=True, help="checkout of the code before")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    args = parser.parse_args()

    lines = []
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="uplift-table-") as work:
            path = f"{work}/scored"
            scored_table(rows, args.seed).to_parquet(path)
            ours = run_version(ROOT, path, args.repeats)
            reference = run_version(args.reference, path, args.repeats)
        pd.testing.assert_frame_equal(
            pd.DataFrame(ours["metrics"]), pd.DataFrame(reference["metrics"]), rtol=1e-12
        )
        mine, before = statistics.median(ours["seconds"]), statistics.median(reference["seconds"])
        lines.append(
            f"| {rows:,} | {len(OUTCOMES) * (len(ARMS) - 1)} | {before:.2f} | {mine:.2f} | "
            f"{before / mine:.2f}x |"
        )
        print(lines[-1], flush=True)

    rows_arg = " ".join(str(rows) for rows in args.rows)
    text = "\n".join(
        [
            SECTION,
            "",
            f"Command: `.venv/bin/python benchmarks/uplift_table.py --rows {rows_arg} "
            f"--reference <checkout of the code before> --repeats {args.repeats}`",
            "",
            "Spark `local[2]`, the scored table cached, one warm-up build; median of the "
            "repeats. The metrics of both versions are identical (checked in the run).",
            "",
            "| rows | curves | reference (s, median) | ours (s, median) | reference / ours |",
            "|---:|---:|---:|---:|---:|",
            *lines,
            "",
        ]
    )
    publish(SECTION, text, write=not args.no_write)


if __name__ == "__main__":
    main()
