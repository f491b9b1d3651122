"""Benchmark: the train stage's wall time, this version against a reference version of the code.

Issue 11 made the default train stage cross-fit (5 folds), tune each LightGBM base model by
cross-validation and fit the candidate learners to choose one by out-of-fold policy value; this
says what that costs. One simulated experiment (Parquet) is written once; then, for each version,
a fresh Python process with that version's ``lib/`` first on the path ingests it and runs the
train stage in Spark ``local[2]`` with the version's own ``conf/scenarios/{scenario}.yaml``, and
reports the stage's wall time (ingest and the JVM start are not counted). The reference is a
checkout of an earlier commit (``git worktree add --detach /tmp/before <commit>``). Each
``--variant "key.path=value ..."`` adds a row of ours with those settings over the defaults, on
the same data in the same run: what a setting a user can lower for speed buys (printed only,
never written to RESULTS.md).

    .venv/bin/python benchmarks/train_stage.py --rows 1000000 --reference /tmp/before
    .venv/bin/python benchmarks/train_stage.py --reference /tmp/before --variant "train.folds=3"
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from _results import publish

SECTION = "## train stage"
ROOT = Path(__file__).resolve().parents[1]

RUN_ONE = """
import json, sys, time
from causal_targeting.config import load_config
from causal_targeting.spark import get_spark
try:
    from causal_targeting.stages.ingest import ingest
    from causal_targeting.stages.train import train
except ImportError:  # versions before the stages/ package
    from causal_targeting.pipeline import ingest, train
conf, work, data, *settings = sys.argv[1:]
cfg = load_config(conf, [
    *settings, f"outputs.root={work}/out", f"data.experiment.path={data}/experiment",
    f"data.customers.path={data}/customers", f"tracking.uri=sqlite:///{work}/mlflow.db",
    f"tracking.artifact_location={work}/mlruns", "spark.master=local[2]",
    "spark.driver_memory=6g",
])
spark = get_spark(cfg.spark)
ingest(cfg, spark)
start = time.perf_counter()
train(cfg, spark)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def simulate(scenario: str, rows: int, seed: int, where: str) -> None:
    """Write ``rows`` experiment rows and as many customers of ``scenario`` under ``where``."""
    from causal_targeting.config import SparkConfig
    from causal_targeting.data.simulate import write_simulation
    from causal_targeting.spark import get_spark

    spark = get_spark(SparkConfig(master="local[2]", driver_memory="6g"))
    write_simulation(spark, scenario, rows, seed, where)
    spark.stop()


def train_seconds(repo: Path, scenario: str, data: str, settings: Sequence[str] = ()) -> float:
    """Seconds of the train stage of the code in ``repo`` (its lib/ and conf/, with the
    ``key.path=value`` ``settings`` over them) on ``data``."""
    work = tempfile.mkdtemp(prefix="train-stage-")
    conf = repo / "conf" / "scenarios" / f"{scenario}.yaml"
    env = {**os.environ, "PYTHONPATH": str(repo / "lib")}
    done = subprocess.run(
        [sys.executable, "-c", RUN_ONE, str(conf), work, data, *settings],
        env=env, check=True, capture_output=True, text=True,
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--scenario", default="rewards")
    parser.add_argument("--reference", type=Path, required=True, help="checkout of the reference")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="'KEY=VALUE ...'",
        help="a row of ours with these settings, e.g. 'train.folds=3' (repeatable; no write)",
    )
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "-C", str(args.reference), "rev-parse", "--short", "HEAD"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/python benchmarks/train_stage.py --rows "
        f"{' '.join(map(str, args.rows))} --scenario {args.scenario} --reference <checkout of "
        f"{commit}>`",
        "",
        f"Scenario `{args.scenario}`, Spark `local[2]` on the shared 2-core machine, one run of "
        "each. The reference is the train stage at commit "
        f"{commit} with its defaults (one X-learner fit, early stopping on a 20% validation "
        "fold, 30% of the rows held out); ours with today's (5-fold cross-fitting, tuned base "
        "models, the candidate learners compared out of fold). Both sample at most "
        "`train.cap_per_arm` = 200,000 rows of each arm.",
        "",
        "| rows | reference (s) | ours (s) | ours / reference |",
        "|---:|---:|---:|---:|",
    ]
    for rows in args.rows:
        data = tempfile.mkdtemp(prefix="train-stage-data-")
        simulate(args.scenario, rows, args.seed, data)
        reference = train_seconds(args.reference, args.scenario, data)
        ours = train_seconds(ROOT, args.scenario, data)
        lines.append(f"| {rows:,} | {reference:.1f} | {ours:.1f} | {ours / reference:.2f}x |")
        print(lines[-1], flush=True)
        for variant in args.variant:
            seconds = train_seconds(ROOT, args.scenario, data, variant.split())
            print(
                f"| {rows:,} | {reference:.1f} | {seconds:.1f} | {seconds / reference:.2f}x "
                f"| {variant} ({seconds / ours:.2f}x the defaults) |",
                flush=True,
            )
    publish(SECTION, "\n".join(lines) + "\n", write=not (args.no_write or args.variant))


if __name__ == "__main__":
    main()
