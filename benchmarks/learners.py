"""Uplift learners: our T/X-learners against causalml's BaseTRegressor/BaseXRegressor.

On the simulator's ``rewards`` scenario (three reward arms and a control, known effects), for a
balanced design (25% per arm) and an unbalanced one (control 70%, 10% per reward), each learner
is fit on the same experiment rows to the continuous outcome ``spend`` and predicts the effects
of fresh customers. Reported, as medians over ``--repeats`` runs:

- fit time and predict time (one thread each; ours fits on the driver, in process). Predict
  scores the customers with a loaded model; for ours, "load" is the one-off parse of each
  booster's model string (once per model and Spark worker), timed apart on a 1-row prediction;
- PEHE = sqrt(mean over arms and customers of (tau_hat − tau)²);
- regret of the implied best-arm policy: mean over customers of max(0, max_a tau_a(x)) −
  tau_chosen(x), where the policy chooses the arm with the largest estimated effect (the control,
  effect 0, when none is positive).

Same LightGBM settings on both sides (trees, learning rate, leaves, min rows per leaf, seed, one
thread). Ours stops each base model early on a validation fold (our default); causalml fits the
full number of trees, so "ours, no early stopping" is shown too. causalml sees the categorical
features as their integer codes (it takes a numeric matrix), ours as LightGBM categories. Both
X-learners combine with the design's pair propensities (constants here).

Run: ``.venv/bin/python benchmarks/learners.py`` (needs the ``bench`` extra: causalml).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from _results import write_section
from causal_targeting.data import simulate as sim
from causal_targeting.learners.features import FeatureSpec
from causal_targeting.learners.uplift import TLearner, XLearner

SECTION = "## learners"
OUTCOME = "spend"
DESIGNS = {
    "balanced": {"none": 0.25, "reward_5": 0.25, "reward_10": 0.25, "reward_20": 0.25},
    "unbalanced": {"none": 0.70, "reward_5": 0.10, "reward_10": 0.10, "reward_20": 0.10},
}


def simulated(design: str, rows: int, customers: int, seed: int) -> tuple[pd.DataFrame, ...]:
    """(experiment rows, customers with the truth) of the rewards scenario under ``design``."""
    spec = sim.scenario("rewards")
    experiment = sim.simulate_block(spec, np.arange(rows), seed, DESIGNS[design])
    base = sim.customer_block(spec, sim.CUSTOMER_ID_OFFSET + np.arange(customers), seed)
    return experiment, base


def accuracy(tau_hat: pd.DataFrame, customers: pd.DataFrame, arms: tuple[str, ...]) -> dict:
    """PEHE over all arms, the regret of the best-arm policy of ``tau_hat`` (column = arm), and
    the sd of the true effects around their per-arm means (the PEHE of the best constants)."""
    truth = np.column_stack([customers[sim.tau_column(OUTCOME, a)] for a in arms])
    estimate = tau_hat[list(arms)].to_numpy()
    pehe = float(np.sqrt(np.mean((estimate - truth) ** 2)))
    spread = float(np.sqrt(np.mean((truth - truth.mean(axis=0)) ** 2)))
    with_control = np.column_stack([np.zeros(len(truth)), truth])
    chosen = np.argmax(np.column_stack([np.zeros(len(truth)), estimate]), axis=1)
    regret = with_control.max(axis=1) - with_control[np.arange(len(truth)), chosen]
    return {"pehe": pehe, "regret": float(regret.mean()), "truth_sd": spread}


class Ours:
    """Our learner, fit in process on the experiment frame."""

    def __init__(self, learner: TLearner | XLearner) -> None:
        self.learner = learner

    def fit(self, experiment: pd.DataFrame, spec: sim.Scenario) -> None:
        self.learner.fit(
            experiment,
            features=dict(spec.features),
            treatment="treatment",
            control=spec.control,
            arms=spec.arms,
            outcomes={OUTCOME: "continuous"},
            propensity="propensity",
        )

    def effects(self, customers: pd.DataFrame, spec: sim.Scenario) -> pd.DataFrame:
        scores = self.learner.model_.predict(customers)
        return pd.DataFrame({a: scores[f"tau__{OUTCOME}__{a}"] for a in spec.arms})


class CausalML:
    """causalml's meta-learner with LightGBM regressors, on the numeric matrix."""

    def __init__(self, kind: str, lgbm: dict[str, Any], design: dict[str, float]) -> None:
        self.kind, self.lgbm, self.design = kind, lgbm, design

    def _pair_propensities(self, n: int, spec: sim.Scenario) -> dict[str, np.ndarray]:
        p_control = self.design[spec.control]
        return {a: np.full(n, self.design[a] / (self.design[a] + p_control)) for a in spec.arms}

    def fit(self, experiment: pd.DataFrame, spec: sim.Scenario) -> None:
        from causalml.inference.meta import BaseTRegressor, BaseXRegressor
        from lightgbm import LGBMRegressor

        self.features = FeatureSpec.from_frame(experiment, dict(spec.features))
        X = self.features.array(experiment)
        treatment = experiment["treatment"].to_numpy()
        y = experiment[OUTCOME].to_numpy()
        if self.kind == "t":
            self.model = BaseTRegressor(LGBMRegressor(**self.lgbm), control_name=spec.control)
            self.model.fit(X, treatment=treatment, y=y)
        else:
            self.model = BaseXRegressor(LGBMRegressor(**self.lgbm), control_name=spec.control)
            self.model.fit(X, treatment=treatment, y=y, p=self._pair_propensities(len(y), spec))

    def effects(self, customers: pd.DataFrame, spec: sim.Scenario) -> pd.DataFrame:
        X = self.features.array(customers)
        if self.kind == "t":
            tau = self.model.predict(X)
        else:
            tau = self.model.predict(X, p=self._pair_propensities(len(X), spec), verbose=False)
        return pd.DataFrame(tau, columns=list(self.model.t_groups))


def contenders(args: argparse.Namespace, design: dict[str, float]) -> dict[str, Callable[[], Any]]:
    """Fresh learners by name, all with the same LightGBM settings."""
    ours = {"learning_rate": args.learning_rate, "num_leaves": 31, "min_data_in_leaf": 20}
    lgbm = {
        "n_estimators": args.n_estimators,
        "learning_rate": args.learning_rate,
        "num_leaves": 31,
        "min_child_samples": 20,
        "n_jobs": 1,
        "random_state": args.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }
    common = {"params": ours, "n_estimators": args.n_estimators, "seed": args.seed}
    return {
        "ours T": lambda: Ours(TLearner(**common)),
        "ours T, no early stopping": lambda: Ours(TLearner(**common, early_stopping_rounds=None)),
        "causalml T": lambda: CausalML("t", lgbm, design),
        "ours X": lambda: Ours(XLearner(**common)),
        "ours X, no early stopping": lambda: Ours(XLearner(**common, early_stopping_rounds=None)),
        "causalml X": lambda: CausalML("x", lgbm, design),
    }


def run_design(args: argparse.Namespace, design: str) -> list[dict[str, Any]]:
    """Median fit/predict time and accuracy of every contender under one design.

    Each repeat runs every contender once, in turn, so drifts in the machine's load hit all
    of them alike.
    """
    spec = sim.scenario("rewards")
    experiment, customers = simulated(design, args.rows, args.customers, args.seed)
    makers = contenders(args, DESIGNS[design])
    times = {name: {"fit_s": [], "load_s": [], "predict_s": []} for name in makers}
    measured: dict[str, dict[str, float]] = {}
    for _ in range(args.repeats):
        for name, make in makers.items():
            learner = make()
            start = time.perf_counter()
            learner.fit(experiment, spec)
            times[name]["fit_s"].append(time.perf_counter() - start)
            start = time.perf_counter()
            learner.effects(customers.head(1), spec)  # ours: parses each booster's string once
            times[name]["load_s"].append(time.perf_counter() - start)
            start = time.perf_counter()
            tau_hat = learner.effects(customers, spec)
            times[name]["predict_s"].append(time.perf_counter() - start)
            measured[name] = accuracy(tau_hat, customers, spec.arms)
    rows = []
    for name in makers:
        row = {"design": design, "learner": name, **measured[name]}
        row.update({key: statistics.median(values) for key, values in times[name].items()})
        rows.append(row)
        print(
            f"{design:10s} {name:27s} fit {row['fit_s']:6.2f}s  load {row['load_s']:5.3f}s  "
            f"predict {row['predict_s']:6.3f}s  PEHE {row['pehe']:.3f}  regret {row['regret']:.3f}",
            flush=True,
        )
    return rows


def comparison_table(results: pd.DataFrame) -> str:
    """Markdown: each of our learners beside causalml's, with the ratios."""
    lines = [
        "| design | learner | fit s (ours / causalml) | causalml / ours fit | predict s (ours / "
        "causalml) | causalml / ours predict | ours load s | PEHE (ours / causalml) "
        "| regret (ours / causalml) | sd(true tau) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (design, kind), group in results.groupby(["design", "kind"], sort=False):
        ref = group[group["learner"] == f"causalml {kind}"].iloc[0]
        for _, row in group[group["learner"] != f"causalml {kind}"].iterrows():
            lines.append(
                f"| {design} | {row['learner']} | {row['fit_s']:.2f} / {ref['fit_s']:.2f} | "
                f"{ref['fit_s'] / row['fit_s']:.1f}x | {row['predict_s']:.3f} / "
                f"{ref['predict_s']:.3f} | {ref['predict_s'] / row['predict_s']:.1f}x | "
                f"{row['load_s']:.3f} | "
                f"{row['pehe']:.3f} / {ref['pehe']:.3f} | {row['regret']:.3f} / "
                f"{ref['regret']:.3f} | {row['truth_sd']:.3f} |"
            )
    return "\n".join(lines)




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="experiment rows")
    parser.add_argument("--customers", type=int, default=20_000, help="customers scored")
    parser.add_argument("--n-estimators", type=int, default=300)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--designs", default="balanced,unbalanced")
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    args = parser.parse_args()
    version = importlib.metadata.version("causalml")
    rows = [row for design in args.designs.split(",") for row in run_design(args, design)]
    results = pd.DataFrame(rows)
    results["kind"] = results["learner"].str.extract(r"\b([TX])\b", expand=False)
    table = comparison_table(results)
    print(table)
    if args.no_write:
        return
    command = (
        f".venv/bin/python benchmarks/learners.py --rows {args.rows} --customers "
        f"{args.customers} --n-estimators {args.n_estimators} --learning-rate "
        f"{args.learning_rate} --repeats {args.repeats} --seed {args.seed} --designs {args.designs}"
    )
    write_section(SECTION,
        f"{SECTION}\n\nCommand: `{command}`\n\n"
        f"Simulator scenario `rewards` (3 reward arms + control), outcome `{OUTCOME}`, "
        f"{args.rows} experiment rows, {args.customers} customers scored; causalml {version}, "
        f"LightGBM with the same settings on both sides, one thread. Medians of {args.repeats} "
        "runs. PEHE: root mean squared error of the effects over arms and customers; regret: "
        "mean loss in true effect of the best-estimated-arm policy against the true best arm "
        "(control counted as 0). Ours stops early on a 20% validation fold by default; causalml "
        "fits all trees, so the rows 'no early stopping' compare like with like. Predict is "
        "warm; 'ours load' is the one-off parse of our boosters' strings. Our X-learner "
        "predicts one booster per outcome more than causalml's (the control outcome model, "
        "for the mu__ columns causalml does not produce).\n\n"
        f"{table}\n"
    )


if __name__ == "__main__":
    main()
