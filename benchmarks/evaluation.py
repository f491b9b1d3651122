"""Benchmark: evaluation cores against their references, in one run.

1. Policy-value bootstrap: our vectorized Poisson bootstrap (one matrix product per chunk of
   replicates, all policies and estimators at once) against the textbook loop that resamples
   row indices once per replicate and recomputes IPS/SNIPS/DR per policy.
2. Poisson(1) bootstrap weights: ours (comparisons with the CDF's first values, a binary search
   for the rare rest) against a binary search of the CDF for every draw (``np.searchsorted``, the
   code before); the draws must be identical.
3. Exact AUUC + Qini coefficient: ours (per-distinct-score sums) against scikit-uplift's
   ``uplift_auc_score`` + ``qini_auc_score`` on the same rows; the values must agree to 1e-9.

Each is timed ``--repeats`` times; medians and ratios are printed and written to RESULTS.md.

    .venv/bin/python benchmarks/evaluation.py --rows 20000 --reps 1000 --weight-rows 800000 \
        --metric-rows 1000000
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from sklift import metrics as sk

from _results import publish
from causal_targeting.evaluation.policy_value import (
    BOOTSTRAP_CELLS,
    POISSON1_CDF,
    estimate_policy_values,
    estimates_from_sums,
    estimator_terms,
    poisson_weights,
)
from causal_targeting.evaluation.uplift import auuc, qini_coefficient

SECTION = "## evaluation"


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def policy_inputs(n: int, n_policies: int, seed: int) -> dict:
    """A randomized holdout with three arms and ``n_policies`` random policies."""
    rng = np.random.default_rng(seed)
    return {
        "policies": {f"p{j}": rng.integers(0, 3, n) for j in range(n_policies)},
        "treatment": rng.integers(0, 3, n),
        "y": rng.gamma(1.0, 10.0, n),
        "propensity": np.full(n, 1 / 3),
        "mu": rng.gamma(1.0, 10.0, (n, 3)),
        "cost": np.array([0.0, 1.0, 2.0]),
    }


def loop_bootstrap(inputs: dict, reps: int, seed: int) -> np.ndarray:
    """Reference: resample row indices per replicate, recompute every policy's estimators."""
    rng = np.random.default_rng(seed)
    n = len(inputs["y"])
    out = np.empty((reps, len(inputs["policies"]), 3))
    for b in range(reps):
        idx = rng.integers(0, n, n)
        for j, policy in enumerate(inputs["policies"].values()):
            terms = estimator_terms(
                policy[idx],
                inputs["treatment"][idx],
                inputs["y"][idx],
                inputs["propensity"][idx],
                inputs["mu"][idx],
                inputs["cost"],
            )
            out[b, j] = estimates_from_sums(terms.sum(axis=0), np.asarray(float(n)))[0]
    return out


def searched_weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Reference: Poisson(1) draws by a binary search of the CDF at every uniform."""
    return np.searchsorted(POISSON1_CDF, rng.random(shape), side="right").astype(float)


def weight_chunks(draw: Callable, rows: int, reps: int, seed: int) -> float:
    """Every replicate's weights of ``rows`` rows drawn chunk by chunk as the bootstrap does
    (about ``BOOTSTRAP_CELLS`` cells a chunk); returns their total (so each chunk is used)."""
    rng = np.random.default_rng(seed)
    chunk = max(1, BOOTSTRAP_CELLS // rows)
    return sum(
        float(draw(rng, (min(chunk, reps - start), rows)).sum()) for start in range(0, reps, chunk)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="holdout rows (bootstrap)")
    parser.add_argument("--policies", type=int, default=6)
    parser.add_argument("--reps", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument("--weight-rows", type=int, default=800_000, help="rows (weights)")
    parser.add_argument("--metric-rows", type=int, default=1_000_000, help="rows (AUUC/Qini)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    args = parser.parse_args()

    inputs = policy_inputs(args.rows, args.policies, seed=0)
    ours_boot = median_seconds(
        lambda: estimate_policy_values(**inputs, reps=args.reps, seed=1), args.repeats
    )
    loop_boot = median_seconds(lambda: loop_bootstrap(inputs, args.reps, seed=1), args.repeats)

    totals = {}
    ours_w = median_seconds(
        lambda: totals.update(ours=weight_chunks(poisson_weights, args.weight_rows, args.reps, 3)),
        args.repeats,
    )
    searched_w = median_seconds(
        lambda: totals.update(ref=weight_chunks(searched_weights, args.weight_rows, args.reps, 3)),
        args.repeats,
    )
    shape = (max(1, BOOTSTRAP_CELLS // args.weight_rows), args.weight_rows)
    np.testing.assert_array_equal(
        poisson_weights(np.random.default_rng(4), shape),
        searched_weights(np.random.default_rng(4), shape),
    )
    assert totals["ours"] == totals["ref"]

    rng = np.random.default_rng(2)
    score, t = np.round(rng.normal(size=args.metric_rows), 3), rng.random(args.metric_rows) < 0.5
    y = (rng.random(args.metric_rows) < 0.1 + 0.02 * t * (score > 0)).astype(float)
    values = {}

    def ours_metrics() -> None:
        values["ours"] = (auuc(score, y, t), qini_coefficient(score, y, t))

    def sklift_metrics() -> None:
        values["sklift"] = (sk.uplift_auc_score(y, score, t), sk.qini_auc_score(y, score, t))

    ours_m = median_seconds(ours_metrics, args.repeats)
    sklift_m = median_seconds(sklift_metrics, args.repeats)
    np.testing.assert_allclose(values["ours"], values["sklift"], rtol=1e-9)

    text = "\n".join(
        [
            SECTION,
            "",
            "Command: `.venv/bin/python benchmarks/evaluation.py "
            f"--rows {args.rows} --policies {args.policies} --reps {args.reps} "
            f"--weight-rows {args.weight_rows} --metric-rows {args.metric_rows} "
            f"--repeats {args.repeats}`",
            "",
            "| what | ours (s, median) | reference (s, median) | reference / ours |",
            "|---|---|---|---|",
            f"| bootstrap IPS/SNIPS/DR, {args.rows} rows x {args.policies} policies x "
            f"{args.reps} reps (ref: per-replicate index loop) | {ours_boot:.3f} | "
            f"{loop_boot:.3f} | {loop_boot / ours_boot:.1f}x |",
            f"| Poisson(1) weights, {args.weight_rows} rows x {args.reps} reps (ref: binary "
            f"search of every draw; same draws) | {ours_w:.3f} | {searched_w:.3f} | "
            f"{searched_w / ours_w:.1f}x |",
            f"| exact AUUC + Qini, {args.metric_rows} rows, {np.unique(score).size} distinct "
            "scores (ref: "
            f"scikit-uplift 0.5.1) | {ours_m:.3f} | {sklift_m:.3f} | {sklift_m / ours_m:.1f}x |",
            "",
            f"AUUC/Qini values equal to 1e-9: ours {values['ours'][0]:.6f}/"
            f"{values['ours'][1]:.6f}, sklift {values['sklift'][0]:.6f}/"
            f"{values['sklift'][1]:.6f}.",
            "",
        ]
    )
    publish(SECTION, text, write=not args.no_write)


if __name__ == "__main__":
    main()
