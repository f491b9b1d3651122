"""Benchmark: the distributed allocation solver against the exact HiGHS LP, in one run.

Instance: N customers x 5 offers (synthetic scores from a seed: spend effects, margin effects,
predicted spend), value = margin effect - (fixed cost + discount x predicted spend), and three
guardrails: budget (70% of the unconstrained policy's cost), revenue floor (85% of its
incremental spend) and a contact cap (60% of the base); all three bind at the optimum.

    .venv/bin/python benchmarks/allocation.py --customers 1000000
    .venv/bin/python benchmarks/allocation.py --customers 10000000 --distributed-only

Prints the HiGHS LP optimum and time (interior point + crossover), the distributed solver's
value, certified gap, passes and time in Spark local[2], their ratios and each side's peak
memory (resident set of the process tree, sampled every 0.2 s).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from _measure import peak_memory, timed
from causal_targeting.allocation.dual import PassLog, dual_terms
from causal_targeting.allocation.exact import solve_lp
from causal_targeting.allocation.problem import (
    Guardrail,
    option_block,
    row_limits,
)
from causal_targeting.value import (
    ValueModel,
    VariableCost,
)

ARMS = ["A", "B", "C", "D", "E"]
DISCOUNT = {"A": 0.0, "B": 0.02, "C": 0.04, "D": 0.06, "E": 0.08}
LIFT = (0.03, 0.08, 0.13, 0.2, 0.3)
MARGIN = (0.5, 0.45, 0.4, 0.3, 0.2)
VALUE_MODEL = ValueModel(
    weights={"margin": 1.0},
    fixed_cost=0.2,
    variable_costs=(VariableCost("mu__spend__{arm}", DISCOUNT),),
)
GUARDRAILS = [
    Guardrail("budget", "budget", share=0.7),
    Guardrail("revenue", "revenue_floor", share=0.85, outcome="spend"),
    Guardrail("contacts", "contacts", share=0.6),
]


def synthetic_scores(n: int, seed: int, start: int = 0) -> pd.DataFrame:
    """Scores of ``n`` customers (ids from ``start``): tau/mu spend and tau margin per offer."""
    rng = np.random.default_rng([seed, start])
    base = rng.gamma(2.0, 20.0, n)
    response = rng.lognormal(0.0, 0.8, n)
    columns: dict[str, np.ndarray] = {"customer_id": np.arange(start, start + n, dtype=np.int64)}
    for arm, lift, margin in zip(ARMS, LIFT, MARGIN, strict=True):
        tau = base * response * lift * rng.lognormal(0.0, 0.3, n)
        columns[f"tau__spend__{arm}"] = tau
        columns[f"tau__margin__{arm}"] = tau * margin
        columns[f"mu__spend__{arm}"] = base + tau
    return pd.DataFrame(columns)


def write_parquet(n: int, seed: int, directory: Path, chunk: int = 1_000_000) -> Path:
    """Write the instance as Parquet files of ``chunk`` customers each."""
    directory.mkdir(parents=True, exist_ok=True)
    for index, start in enumerate(range(0, n, chunk)):
        frame = synthetic_scores(min(chunk, n - start), seed, start)
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False),
                       directory / f"part-{index:04d}.parquet", row_group_size=250_000)
    return directory


def highs_reference(frame: pd.DataFrame) -> dict[str, float]:
    """The exact LP optimum by HiGHS (IPX interior point + crossover: the fastest of HiGHS's LP
    solvers on this instance at 100k, against HiPO and dual simplex), time and peak memory."""
    with peak_memory() as peak:
        block = option_block(frame, VALUE_MODEL, GUARDRAILS, ARMS)
        first = dual_terms(block, np.zeros(len(GUARDRAILS)))
        limits = row_limits(GUARDRAILS, first.usage, first.population)
        solution, seconds = timed(lambda: solve_lp(block, limits, solver="ipx"))
    print(f"HiGHS: {solution.status}, optimum {solution.objective:.6f}, {seconds:.1f} s, "
          f"prices {np.round(solution.prices, 5)}, peak {peak['tree']:.2f} GB", flush=True)
    return {"objective": solution.objective, "seconds": seconds, "peak_gb": peak["tree"]}


def progress(started: float) -> Callable[[PassLog], None]:
    def show(log: PassLog) -> None:
        print(f"  pass {log.index:2d}  {time.perf_counter() - started:6.1f} s  "
              f"lambda {np.array2string(log.lam, precision=4)}  dual {log.dual_bound:.6f}  "
              f"primal {log.primal_value:.6f}  violation {log.worst_violation:.2e}", flush=True)

    return show


def distributed(parquet: Path, driver_memory: str) -> dict[str, float]:
    """The distributed solver in Spark local[2] on the Parquet instance."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from causal_targeting.allocation.distributed import solve
    from causal_targeting.config import SparkConfig
    from causal_targeting.spark import get_spark

    spark = get_spark(SparkConfig(master="local[2]", shuffle_partitions=2,
                                  driver_memory=driver_memory, arrow_batch_rows=50_000))
    frame = spark.read.parquet(str(parquet))
    with peak_memory() as peak:
        started = time.perf_counter()
        (allocation, report), seconds = timed(
            lambda: solve(frame, VALUE_MODEL, GUARDRAILS, ARMS, run_id="benchmark",
                          callback=progress(started))
        )
        output = Path(tempfile.mkdtemp(prefix="allocation-")) / "allocation"
        _, write_seconds = timed(lambda: allocation.write.parquet(str(output)))
    offered = spark.read.parquet(str(output)).where("offer IS NOT NULL").count()
    print(f"distributed: value {report.primal:.6f}, dual bound {report.dual_bound:.6f}, "
          f"gap {report.gap:.2e}, {report.passes} passes, solve {seconds:.1f} s, "
          f"allocation write {write_seconds:.1f} s, {offered} offers, peak {peak['tree']:.2f} GB",
          flush=True)
    for guardrail in report.guardrails:
        print(f"  {guardrail.name}: usage {guardrail.usage:.2f} / limit {guardrail.limit:.2f}, "
              f"shadow price {guardrail.shadow_price:.5f}")
    spark.stop()
    return {"objective": report.primal, "gap": report.gap, "passes": report.passes,
            "seconds": seconds, "write_seconds": write_seconds, "peak_gb": peak["tree"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--distributed-only", action="store_true")
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--workdir", default=None, help="where the Parquet instance is written")
    parser.add_argument("--reuse", action="store_true",
                        help="read the instance already in --workdir instead of writing it")
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="allocation-bench-"))
    parquet = workdir / "scores"
    if not (args.reuse and parquet.exists()):
        _, seconds = timed(lambda: write_parquet(args.customers, args.seed, parquet))
        print(f"instance written in {seconds:.1f} s", flush=True)
    print(f"{args.customers} customers x {len(ARMS)} offers x {len(GUARDRAILS)} guardrails "
          f"in {parquet}", flush=True)
    reference = None
    if not args.distributed_only:
        frame = pd.read_parquet(parquet)
        reference = highs_reference(frame)
        del frame
    ours = distributed(parquet, args.driver_memory)
    if reference is not None:
        print("\n| metric | HiGHS LP | distributed (local[2]) | ratio |\n|---|---|---|---|")
        print(f"| objective | {reference['objective']:.2f} | {ours['objective']:.2f} | "
              f"{ours['objective'] / reference['objective']:.6f} |")
        print(f"| wall time (s) | {reference['seconds']:.1f} | {ours['seconds']:.1f} | "
              f"{reference['seconds'] / ours['seconds']:.1f}x faster |")
        print(f"| peak memory (GB) | {reference['peak_gb']:.2f} | {ours['peak_gb']:.2f} | |")
        print(f"| passes over the data | - | {ours['passes']} | |")


if __name__ == "__main__":
    main()
