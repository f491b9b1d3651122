"""Decision quality on real experiments: the default pipeline against causalml and simple policies.

Each case trains on one file of a randomized experiment and is judged on another, never seen in
training:

- Hillstrom (data/hillstrom_email_2008.csv), split 50/50 by ``--seed``; the valued outcome is
  ``visit`` ($2 an incremental visit), ``conversion`` ($35 an incremental order, as in
  conf/scenarios/hillstrom.yaml) or ``spend`` ($0.30 an incremental dollar: the 30% margin
  that prices an order at $35; a continuous outcome, 99% zeros with a heavy tail), less $0.10
  an e-mail;
- the Information campaign (data/information/): trained on the training file, judged on the
  validation file, $30 a purchase less $0.50 an offer (conf/scenarios/information.yaml).

With ``--public DIR``, instead, two public experiments of the kind issue 11's reports describe,
read from ``DIR`` as downloaded. They are not bundled (the Starbucks files state no licence) and
serve only to check the reported failures, never to choose a default:

- the Starbucks promotion experiment (Udacity's "Starbucks" portfolio exercise:
  ``DIR/starbucks/training.csv``, 84,534 rows, and ``DIR/starbucks/Test.csv``, 41,650; one
  promotion against none, a 1% purchase rate, 7 features): trained on the training file, judged
  on the test file, $10 a purchase less $0.15 a promotion (the exercise's own value model);
- the social pressure experiment of Gerber, Green and Larimer (2008; ISPS Data Archive, study
  D001, https://isps.yale.edu/research/data/d001:
  ``DIR/GerberGreenLarimer_APSR_2008_social_pressure.csv``, or ``.csv.gz``): 344,084 voters,
  four mailings against none, randomized by household, ``voted`` as "Yes"/"No" and arm labels
  with a leading space, as published. Split 50/50 by household (``--seed``), trained with the
  household as ``data.cluster`` and judged by resampling households; $10 a vote less $0.10 a
  letter (every mailing pays), and again with letters priced by their intrusiveness ($0.05
  Civic Duty, $0.10 Hawthorne, $0.30 Self, $0.60 Neighbors), where no one mailing is best for
  everyone. Illustrative prices: the study gives none;
- the Pennsylvania reemployment bonus experiment (1988-89; ``DIR/penn_jae.dat`` as in the
  replication files of Bilias (2000) and of double machine learning, Chernozhukov et al. 2018):
  13,913 unemployment claimants, six bonus offers against none, the weeks of the first spell of
  unemployment insurance (``inuidur1``) as the outcome where less is better. Split 50/50 by
  ``--seed``; $180 a week saved (about the weekly benefit), less each offer's expected bonus
  (the bonus times an assumed share of claimants who earn it: $80, $135, $270, $150, $135 and
  $160 for groups 1 to 6). Illustrative prices again.

Ours runs the real stages with DEFAULT settings (ingest, train, score, allocate; the training
file is ``data.experiment`` and the judged file ``data.customers``; outputs in a temporary
folder); "ours, safeguard off" is the model's own targeting, allocated again with
``allocation.safeguard: false``, to show what the safeguard changed. Guardrails are dropped,
so every policy is the unconstrained net-value policy of its model and the comparison is
between models, on the same value model. Beside it:

- causalml 0.18 X- and T-learners (LGBMRegressor, 200 trees, 15 leaves, 100 rows a leaf, seed),
  fit on the same training rows; their policy gives each customer the arm of highest
  ``w * tau_hat - cost`` when positive, else no offer;
- static policies: no offer, each single arm to everyone; ``random``: a uniformly random arm
  (no offer included) per customer, valued by its expectation over the draw (a stochastic
  policy, :func:`~causal_targeting.evaluation.policy_value.stochastic_policy`); ``response``:
  the best-on-average arm (by the training rows' net value) to the customers a LightGBM
  response model (same settings, all training rows; a classifier of a binary outcome, a
  regressor of a continuous one) ranks highest, as many as ours contacts.

Judged on the held-out file only: the net value ``w Y - c_T`` per customer of each policy by
the doubly robust estimator with the arm means of the judged file as its regression (model-free,
so no policy is judged with its own model), with the paired Poisson bootstrap
(:mod:`causal_targeting.evaluation.paired`): its CI and the paired difference ours minus each
other policy, with CI and two-sided p-value.

Run: ``.venv/bin/python benchmarks/decision_quality.py`` (needs the ``bench`` extra: causalml).
``--set key.path=value`` (repeatable) fits ours with that setting over the defaults, e.g.
``--set train.folds=3``, and prints only: what a setting a user may lower for speed costs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from _causalml import LGBM, causalml_scores
from _results import publish
from causal_targeting.config import Config, apply_overrides, load_raw, validate
from causal_targeting.config.data import CLUSTER_COLUMN
from causal_targeting.data.io import read_output
from causal_targeting.evaluation.paired import policy_differences
from causal_targeting.evaluation.policy_value import Policy, policy_values, stochastic_policy
from causal_targeting.layout import allocate_paths
from causal_targeting.learners.features import FeatureSpec
from causal_targeting.spark import get_spark
from causal_targeting.stages.allocate import allocate
from causal_targeting.stages.ingest import ingest
from causal_targeting.stages.score import score
from causal_targeting.stages.train import train
from causal_targeting.value import ValueModel, net_value_policy

SECTION = "## decision quality"
PUBLIC_SECTION = "## decision quality on public experiments"
ROOT = Path(__file__).resolve().parents[1]
ID = "row_id"
OURS = "ours (default)"


@dataclass(frozen=True)
class Case:
    """One train/judge pair and its value model: ``weight`` per unit of ``outcome``, ``cost``."""

    name: str
    config: Path
    train: Path
    judge: Path
    outcome: str
    weight: float
    cost: float
    customer_id: str
    kind: str = "binary"
    positive: str | None = None
    """The label of a binary outcome's positive rows, when it is not 0/1 (``outcomes.positive``)."""
    direction: str = "higher"
    """``lower`` where less of the outcome is better: ``weight`` then values each unit less."""
    cost_by_arm: dict[str, float] | None = None
    """Each arm's own cost, replacing ``cost``, when the arms cost differently."""

    @property
    def signed_weight(self) -> float:
        """The weight on the outcome's effect as the value model takes it (negative where less
        is better)."""
        return -self.weight if self.direction == "lower" else self.weight

    def costs(self, treatment: pd.Series, control: str) -> np.ndarray:
        """The cost of each row's arm (0 for the control)."""
        prices = self.cost_by_arm or {}
        cost = treatment.map(lambda arm: prices.get(arm, self.cost)).to_numpy(dtype=float)
        return np.where((treatment == control).to_numpy(), 0.0, cost)

    def measured(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows`` as the benchmark's own code reads them: the outcome as numbers (the
        positive label as 1). Ours reads the files as they are."""
        if self.positive is None:
            return rows
        return rows.assign(**{self.outcome: (rows[self.outcome] == self.positive).astype(float)})


def halves(
    rows: pd.DataFrame, name: str, seed: int, folder: Path, by: str | None = None
) -> tuple[Path, Path]:
    """``rows`` split 50/50 at random by ``seed`` (whole groups of equal ``by``, when given),
    each row given a ``row_id``, written as ``{name}_train.csv`` and ``{name}_judge.csv``."""
    rows = rows.assign(**{ID: np.arange(len(rows))})
    rng = np.random.default_rng(seed)
    if by is None:
        order = rng.permutation(len(rows))
        parts = rows.iloc[order[: len(rows) // 2]], rows.iloc[order[len(rows) // 2 :]]
    else:
        groups = rows[by].unique()
        fit = rows[by].isin(rng.choice(groups, len(groups) // 2, replace=False))
        parts = rows[fit], rows[~fit]
    paths = folder / f"{name}_train.csv", folder / f"{name}_judge.csv"
    for part, path in zip(parts, paths, strict=True):
        part.to_csv(path, index=False)
    return paths


def hillstrom_halves(seed: int, folder: Path) -> tuple[Path, Path]:
    """The Hillstrom file split 50/50 at random by ``seed``, each half with a ``row_id``."""
    return halves(
        pd.read_csv(ROOT / "data" / "hillstrom_email_2008.csv"), "hillstrom", seed, folder
    )


def case_config(case: Case, out: Path, seed: int, settings: Sequence[str] = ()) -> Config:
    """The scenario's config with default settings, the case's files, value model and outcome;
    then the ``key.path=value`` ``settings`` over it (``--set``)."""
    raw = load_raw(case.config)
    data = raw["data"]
    data["experiment"] = {"path": str(case.train), "format": "csv"}
    data["customers"] = {"path": str(case.judge), "format": "csv"}
    data["customer_id"] = case.customer_id
    outcome: str | dict[str, str] = case.kind
    if case.positive is not None or case.direction != "higher":
        outcome = {"kind": case.kind, "direction": case.direction}
        outcome |= {"positive": case.positive} if case.positive is not None else {}
    data["outcomes"] = {case.outcome: outcome}
    cost = case.cost_by_arm or case.cost
    raw["allocation"] = {"weights": {case.outcome: case.weight}, "fixed_cost": cost}
    raw["outputs"] = {"root": str(out / "outputs")}
    raw["tracking"] = {
        "uri": f"sqlite:///{out}/mlflow.db",
        "artifact_location": str(out / "mlruns"),
        "experiment": case.name,
        "model_name": f"decision-quality-{case.name}",
    }
    raw["seed"] = seed
    raw["name"] = case.name
    return validate(apply_overrides(raw, list(settings)))


def allocated(cfg: Config, judged: pd.DataFrame, spark: Any) -> tuple[np.ndarray, str]:
    """The allocate stage's offer for each judged row, and the safeguard's line."""
    result = allocate(cfg, spark)
    allocation = read_output(spark, allocate_paths(cfg)["allocation"], "allocation").toPandas()
    offers = allocation.set_index("customer_id")["offer"]
    ids = judged[cfg.data.customer_id]
    policy = offers.reindex(ids.to_numpy()).fillna(cfg.data.control).to_numpy(dtype=object)
    line = result.safeguard.line(cfg.data.control) if result.safeguard else "safeguard off"
    return policy, line


def our_policies(cfg: Config, judged: pd.DataFrame, spark: Any) -> tuple[dict, str]:
    """The default pipeline's allocation on the judged rows (and, beside it, the model's own
    targeting with the safeguard off), and the safeguard's line."""
    ingest(cfg, spark)
    trained = train(cfg, spark)
    score(cfg, spark, trained.model_uri)
    ours, line = allocated(cfg, judged, spark)
    unguarded = cfg.model_copy(deep=True)
    unguarded.allocation.safeguard = False
    targeting, _ = allocated(unguarded, judged, spark)
    return {OURS: ours, "ours, safeguard off": targeting}, line


def causalml_policies(
    cfg: Config, case: Case, fit: pd.DataFrame, judged: pd.DataFrame, seed: int
) -> dict[str, np.ndarray]:
    """The net-value policies (:func:`~causal_targeting.value.net_value_policy` under the
    case's value model) of causalml's X- and T-learners fit on the training rows."""
    cost = case.cost_by_arm or case.cost
    value_model = ValueModel(weights={case.outcome: case.signed_weight}, fixed_cost=cost)
    arms, control = list(cfg.data.arms), cfg.data.control
    return {
        name: net_value_policy(scores, value_model, arms, control)
        for name, scores in causalml_scores(cfg, fit, judged, seed).items()
    }


def simple_policies(
    cfg: Config, case: Case, fit: pd.DataFrame, judged: pd.DataFrame, contacts: int, seed: int
) -> dict[str, Policy]:
    """No offer, each arm to all, random arms, and the response model's top ``contacts``."""
    from lightgbm import LGBMClassifier, LGBMRegressor

    control, arms, n = cfg.data.control, list(cfg.data.arms), len(judged)
    policies = {"no offer": np.full(n, control, dtype=object)}
    policies |= {f"all '{a}'": np.full(n, a, dtype=object) for a in arms}
    everyone = [control, *arms]
    policies["random"] = stochastic_policy({arm: 1 / len(everyone) for arm in everyone}, n)
    treatment = fit[cfg.data.treatment].astype(str).str.strip()
    value = case.signed_weight * fit[case.outcome] - case.costs(treatment, control)
    best = value.groupby(treatment).mean().drop(control).idxmax()
    features = FeatureSpec.from_frame(fit, dict(cfg.data.features))
    y = fit[case.outcome].to_numpy(dtype=float)
    if case.kind == "binary":
        response = LGBMClassifier(**LGBM, random_state=seed, n_jobs=1).fit(features.array(fit), y)
        predicted = response.predict_proba(features.array(judged))[:, 1]
    else:
        response = LGBMRegressor(**LGBM, random_state=seed, n_jobs=1).fit(features.array(fit), y)
        predicted = response.predict(features.array(judged))
    ranked = np.argsort(-predicted, kind="stable")
    chosen = np.full(n, control, dtype=object)
    chosen[ranked[:contacts]] = best
    policies["response"] = chosen
    return policies


def judged_frame(cfg: Config, case: Case, judged: pd.DataFrame) -> pd.DataFrame:
    """The held-out rows as the estimators take them: realized net value, design propensity and
    the arm means of the net value as the (model-free) DR regression; with ``data.cluster``, the
    unit of randomization, which the bootstrap then resamples."""
    treatment = judged[cfg.data.treatment].astype(str).str.strip()
    value = case.signed_weight * judged[case.outcome].to_numpy(dtype=float)
    value = value - case.costs(treatment, cfg.data.control)
    frame = pd.DataFrame({"treatment": treatment.to_numpy(), "value": value})
    if cfg.data.cluster:
        frame[CLUSTER_COLUMN] = judged[cfg.data.cluster].to_numpy()
    frame["propensity"] = frame["treatment"].map(frame["treatment"].value_counts(normalize=True))
    means = frame.groupby("treatment")["value"].mean()
    for arm in [cfg.data.control, *cfg.data.arms]:
        frame[f"mu__value__{arm}"] = means[arm]
    return frame


def run_case(
    case: Case, folder: Path, seed: int, reps: int, spark: Any, settings: Sequence[str] = ()
) -> str:
    """Markdown table of one case: value per customer and ours minus each other policy (ours
    with ``settings`` over the defaults)."""
    out = folder / case.name
    cfg = case_config(case, out, seed, settings)
    fit, judged = case.measured(pd.read_csv(case.train)), case.measured(pd.read_csv(case.judge))
    policies, line = our_policies(cfg, judged, spark)
    contacts = int((policies[OURS] != cfg.data.control).sum())
    policies |= causalml_policies(cfg, case, fit, judged, seed)
    policies |= simple_policies(cfg, case, fit, judged, contacts, seed)
    frame = judged_frame(cfg, case, judged)
    arms = [cfg.data.control, *cfg.data.arms]
    common = {"outcome": "value", "arms": arms, "control": cfg.data.control, "costs": {}}
    values = policy_values(frame, policies, **common, reps=reps, seed=seed)
    diffs = policy_differences(frame, policies, against=OURS, **common, reps=reps, seed=seed)
    values = values[values["estimator"] == "dr"].set_index("policy")
    diffs = diffs[diffs["estimator"] == "dr"].set_index("baseline")
    lines = [
        f"### {case.name}: trained on {len(fit):,} rows, judged on {len(judged):,}",
        "",
        f"{line}",
        "",
        "| policy | contacts | net value per customer (DR) [95% CI] | ours minus policy "
        "[95% paired CI] | p |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in values.iterrows():
        cells = [f"{row['value']:.4f} [{row['ci_low']:.4f}, {row['ci_high']:.4f}]"]
        if name in diffs.index:
            d = diffs.loc[name]
            cells.append(f"{d['difference']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]")
            cells.append(f"{d['p_value']:.3f}")
        else:
            cells += ["", ""]
        lines.append(f"| {name} | {int(row['contacts']):,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cases(folder: Path, seed: int) -> list[Case]:
    """Hillstrom (visit, conversion, spend) on the two halves and the Information campaign."""
    fit, judge = hillstrom_halves(seed, folder)
    scenario = ROOT / "conf" / "scenarios"
    info = ROOT / "data" / "information"
    return [
        Case("hillstrom-visit", scenario / "hillstrom.yaml", fit, judge, "visit", 2.0, 0.10, ID),
        Case(
            "hillstrom-conversion",
            scenario / "hillstrom.yaml",
            fit,
            judge,
            "conversion",
            35.0,
            0.10,
            ID,
        ),
        Case(
            "hillstrom-spend",
            scenario / "hillstrom.yaml",
            fit,
            judge,
            "spend",
            0.30,
            0.10,
            ID,
            "continuous",
        ),
        Case(
            "information",
            scenario / "information.yaml",
            info / "information_train.csv",
            info / "information_valid.csv",
            "PURCHASE",
            30.0,
            0.50,
            "UNIQUE_ID",
        ),
    ]


STARBUCKS = """\
inherit: {base}
name: starbucks
data:
  customer_id: ID
  treatment: Promotion
  control: "No"
  arms: ["Yes"]
  features: {{V1: numeric, V2: numeric, V3: numeric, V4: numeric, V5: numeric, V6: numeric,
    V7: numeric}}
"""
"""The Starbucks experiment's config as a user writes it (files and value model: the case's)."""

SOCIAL_PRESSURE = """\
inherit: {base}
name: social-pressure
data:
  customer_id: row_id
  cluster: hh_id
  treatment: treatment
  control: Control
  arms: [Civic Duty, Hawthorne, Self, Neighbors]
  features: {{sex: categorical, yob: numeric, hh_size: numeric, g2000: categorical,
    g2002: categorical, g2004: categorical, p2000: categorical, p2002: categorical,
    p2004: categorical}}
"""
"""The social pressure experiment's config as a user writes it: the nine covariates of the
study's replication files, the household as the unit of randomization."""


def social_pressure_halves(source: Path, seed: int, folder: Path) -> tuple[Path, Path]:
    """The social pressure file split 50/50 by household at random by ``seed``, each row given
    a ``row_id`` (the file has none: a household's voters share ``hh_id``)."""
    return halves(pd.read_csv(source), "social_pressure", seed, folder, by="hh_id")


PENN = """\
inherit: {base}
name: reemployment-bonus
data:
  customer_id: row_id
  treatment: tg
  control: "0"
  arms: ["1", "2", "3", "4", "5", "6"]
  features: {{female: numeric, black: numeric, hispanic: numeric, othrace: numeric,
    dep: numeric, q1: numeric, q2: numeric, q3: numeric, q4: numeric, q5: numeric, q6: numeric,
    recall: numeric, agelt35: numeric, agegt54: numeric, durable: numeric, nondurable: numeric,
    lusd: numeric, husd: numeric, muld: numeric}}
"""
"""The reemployment bonus experiment's config: the claimant's covariates of the replication
files (quarter of the claim, the local labour market, demographics)."""


def penn_halves(source: Path, seed: int, folder: Path) -> tuple[Path, Path]:
    """The reemployment bonus file (whitespace-separated) split 50/50 at random by ``seed``,
    written as CSV with a ``row_id``."""
    return halves(pd.read_csv(source, sep=r"\s+"), "penn", seed, folder)


def public_cases(public: Path, folder: Path, seed: int) -> list[Case]:
    """Those of Starbucks, the social pressure experiment (fixed and per-arm letter costs) and
    the reemployment bonus experiment whose files are in the ``public`` folder, as downloaded."""
    base = ROOT / "conf" / "base.yaml"
    configs = {}
    texts = {"starbucks": STARBUCKS, "social-pressure": SOCIAL_PRESSURE, "penn": PENN}
    for name, text in texts.items():
        configs[name] = folder / f"{name}.yaml"
        configs[name].write_text(text.format(base=base))
    found: list[Case] = []
    starbucks = public / "starbucks"
    if (starbucks / "training.csv").exists() and (starbucks / "Test.csv").exists():
        found.append(
            Case("starbucks", configs["starbucks"], starbucks / "training.csv",
                 starbucks / "Test.csv", "purchase", 10.0, 0.15, "ID")
        )  # fmt: skip
    social = public / "GerberGreenLarimer_APSR_2008_social_pressure.csv"
    source = next((f for f in (social, social.with_suffix(".csv.gz")) if f.exists()), None)
    if source is not None:
        fit, judge = social_pressure_halves(source, seed, folder)
        letters = {"Civic Duty": 0.05, "Hawthorne": 0.10, "Self": 0.30, "Neighbors": 0.60}
        voted = {"outcome": "voted", "weight": 10.0, "customer_id": ID, "positive": "Yes"}
        found += [
            Case("social-pressure", configs["social-pressure"], fit, judge, cost=0.10, **voted),
            Case("social-pressure-priced", configs["social-pressure"], fit, judge, cost=0.10,
                 cost_by_arm=letters, **voted),
        ]  # fmt: skip
    if (public / "penn_jae.dat").exists():
        fit, judge = penn_halves(public / "penn_jae.dat", seed, folder)
        bonuses = {"1": 80.0, "2": 135.0, "3": 270.0, "4": 150.0, "5": 135.0, "6": 160.0}
        found.append(
            Case("reemployment-bonus", configs["penn"], fit, judge, "inuidur1", 180.0, 0.0, ID,
                 "continuous", direction="lower", cost_by_arm=bonuses)
        )  # fmt: skip
    return found


def header(args: argparse.Namespace) -> list[str]:
    """The section's heading and the line that says how its tables were made."""
    version = importlib.metadata.version("causalml")
    command = (
        f"`.venv/bin/python benchmarks/decision_quality.py --seed {args.seed} --reps {args.reps}"
    )
    common = (
        f"(causalml {version}). Ours: default settings through the real stages; guardrails "
        "dropped, so every policy is its model's unconstrained net-value policy."
    )
    if args.public:
        return [
            PUBLIC_SECTION,
            "",
            f"{command} --public <folder>` {common} Judged only on rows no model saw (the "
            "Starbucks test file; the other half of the social pressure households; the other "
            "half of the reemployment bonus claimants), DR with the judged file's arm means as "
            "regression. The data are not bundled: see the script's docstring for where to "
            "download them.",
        ]
    return [
        SECTION,
        "",
        f"{command}` {common} Judged only on rows no model saw (the other Hillstrom half; the "
        "Information validation file), DR with the judged file's arm means as regression.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true", help="print only, keep RESULTS.md")
    parser.add_argument("--cases", nargs="+", help="run only these cases (implies --no-write)")
    parser.add_argument(
        "--public",
        type=Path,
        metavar="DIR",
        help="run the public experiments downloaded into DIR instead (see the docstring)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of ours over the defaults, e.g. train.folds=3 (repeatable; no write)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="decision-quality-") as tmp:
        folder = Path(tmp)
        found = (
            public_cases(args.public, folder, args.seed)
            if args.public
            else cases(folder, args.seed)
        )
        all_cases = [c for c in found if c.name in (args.cases or [c.name])]
        if not found:
            parser.error(f"none of the public experiments' files is in {args.public}")
        if not all_cases:
            parser.error(f"no case named {args.cases}")
        spark = get_spark(case_config(all_cases[0], folder, args.seed).spark)
        tables = [
            run_case(case, folder, args.seed, args.reps, spark, args.set) for case in all_cases
        ]
    text = "\n".join([*header(args), "", *[t + "\n" for t in tables]])
    section = PUBLIC_SECTION if args.public else SECTION
    publish(section, text, write=not (args.no_write or args.cases or args.set))


if __name__ == "__main__":
    main()
