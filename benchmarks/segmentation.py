"""Intent segments on the simulator's ``intent`` scenario, judged against the true types.

Experiment rows (randomized e-mail exposure, attribution labels with missing values) train
every method; fresh customers of the same population, with their true type and both potential
outcomes, judge them. Methods:

- segment model: the two-stage intent model with the default config (label correction on,
  self-paced schedule off), and its ablations: the self-paced schedule on (``segment.self_paced``
  defaults), and no label correction (stage 2 on the attribution labels at face value, missing
  ones as 0);
- uplift strata: the model-free view from a T-learner's mu_0, mu_1, tau (same LightGBM
  settings as the segment model);
- naive: a LightGBM classifier of the attribution label (missing ones as 0);
- true-type ceiling: the same classifier trained on the true type, which no real experiment
  records: about the best AUC the features allow, so the room any method has over the naive one.

Segments are given by lift over the segment model's base rates (the default ``segment.assign``),
for the model and the strata alike.

Tables: recovery of the campaign-driven type (AUC, PR-AUC, Brier of P(campaign-driven);
macro-F1 of the three segments) at the default parameters and over exposure shares 0.5, 0.8,
0.9 and organic shares 0.25, 0.45; decisions at equal contacts (the top ``--contact-share``
of customers by each rule's score: segment-aware = p__campaign_driven, uplift = the T-learner's
tau, response = the T-learner's P(converted | e-mail); contact-all beside them), judged by the
true potential outcomes; the contacts the segment-aware rule needs to match the response
rule's true incremental conversions, and how many of them are organic; and the segment stage's
wall time on Spark against one pass over its input (the experiment and customer tables read
and every feature summed).

Run: ``.venv/bin/python benchmarks/segmentation.py --rows 1000000`` (``--sweep-rows`` sets the
experiment size of the parameter sweep, ``--no-stage`` skips the Spark timing, ``--no-write``
leaves RESULTS.md alone).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from _results import publish
from causal_targeting.config import SegmentConfig
from causal_targeting.data import simulate as sim
from causal_targeting.learners.uplift import TLearner
from causal_targeting.segments.evidence import (
    decisions_at_equal_contacts,
    naive_attribution_scores,
    recovery_table,
)
from causal_targeting.segments.model import IntentLearner, IntentModel
from causal_targeting.segments.strata import uplift_strata

SECTION = "## segmentation"
CONF = Path(__file__).resolve().parents[1] / "conf" / "scenarios" / "intent.yaml"
FEATURES = dict(sim.scenario("intent").features)
ORGANIC_SHARES = (0.25, 0.45)
EXPOSURE_SHARES = (0.5, 0.8, 0.9)


def simulated(
    params: Mapping[str, float], rows: int, customers: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(experiment rows, fresh customers with the truth) of the intent scenario."""
    spec = sim.scenario("intent", dict(params))
    experiment = sim.simulate_block(spec, np.arange(rows), seed)
    base = sim.customer_block(spec, sim.CUSTOMER_ID_OFFSET + np.arange(customers), seed)
    return experiment, base


def exposed_rows(experiment: pd.DataFrame) -> pd.DataFrame:
    """The experiment with 0/1 ``exposed`` and the attribution label's missing values as 0."""
    return experiment.assign(
        exposed=(experiment["treatment"] == "email").astype(int),
        attributed=experiment["attributed"].fillna(0.0),
    )


def intent_model(rows: pd.DataFrame, seed: int, **changes: object) -> IntentModel:
    """The segment model fitted on ``rows``, default config with ``changes``."""
    arguments = SegmentConfig().learner_arguments(seed) | changes
    return IntentLearner(**arguments).fit(
        rows,
        features=FEATURES,
        exposed="exposed",
        converted="converted",
        attributed="attributed",
        id_column="customer_id",
    ).model_


def uplift_scores(rows: pd.DataFrame, customers: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A T-learner's mu and tau of ``converted`` on ``customers`` (segment model's settings)."""
    defaults = SegmentConfig()
    model = TLearner(
        params=defaults.params, n_estimators=defaults.n_estimators, seed=seed
    ).fit(
        rows,
        features=FEATURES,
        treatment="treatment",
        control="none",
        arms=["email"],
        outcomes={"converted": "binary"},
    )
    return model.model_.predict(customers)


def methods_of(
    experiment: pd.DataFrame, customers: pd.DataFrame, seed: int, ablations: bool
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Each method's intent columns on ``customers`` (naive: p__campaign_driven only), and the
    T-learner's scores."""
    rows = exposed_rows(experiment)
    uplift = uplift_scores(rows, customers, seed)
    model = intent_model(rows, seed)
    methods = {"segment model": model.predict(customers)}
    if ablations:
        rounds = SegmentConfig().self_paced.rounds
        methods["with self-paced"] = intent_model(rows, seed, rounds=rounds).predict(customers)
        methods["no label correction"] = intent_model(
            rows, seed, label_correction=False
        ).predict(customers)
    methods["uplift strata"] = uplift_strata(
        uplift,
        "mu__converted__none",
        "mu__converted__email",
        "tau__converted__email",
        base_rates=model.base_rates,
    )
    params = SegmentConfig().params
    naive = naive_attribution_scores(rows, customers, FEATURES, "attributed", seed, params)
    methods["naive attribution"] = pd.DataFrame({"p__campaign_driven": naive})
    typed = rows.assign(true_cd=(rows["true_type"] == "campaign_driven").astype(float))
    ceiling = naive_attribution_scores(typed, customers, FEATURES, "true_cd", seed, params)
    methods["true-type ceiling"] = pd.DataFrame({"p__campaign_driven": ceiling})
    return methods, uplift


def contacts_to_match(
    scores: np.ndarray, effect: np.ndarray, organic: np.ndarray, target: float
) -> tuple[int, int]:
    """(contacts, organic contacts) of the fewest top-``scores`` customers whose true
    incremental conversions reach ``target`` (all customers when none do)."""
    order = np.argsort(-scores, kind="stable")
    reached = np.flatnonzero(np.cumsum(effect[order]) >= target)
    k = int(reached[0]) + 1 if len(reached) else len(order)
    return k, int(organic[order[:k]].sum())


def decisions(
    customers: pd.DataFrame, ours: pd.DataFrame, uplift: pd.DataFrame, share: float
) -> tuple[pd.DataFrame, str]:
    """The decisions-at-equal-contacts table and the equal-incremental-conversions sentence."""
    y0 = customers["true_y__converted__none"].to_numpy()
    y1 = customers["true_y__converted__email"].to_numpy()
    contacts = int(share * len(customers))
    rankings = {
        "segment_aware": ours["p__campaign_driven"].to_numpy(),
        "uplift": uplift["tau__converted__email"].to_numpy(),
        "response": uplift["mu__converted__email"].to_numpy(),
    }
    table = decisions_at_equal_contacts(customers["true_type"], y0, y1, rankings, contacts)
    target = float(table.loc["response", "incremental"])
    organic = (customers["true_type"] == "organic").to_numpy()
    k, organic_k = contacts_to_match(rankings["segment_aware"], y1 - y0, organic, target)
    fewer = 1 - organic_k / max(int(table.loc["response", "organic_contacts"]), 1)
    sentence = (
        f"To match the response model's {target:,.0f} true incremental conversions "
        f"(at {contacts:,} contacts), segment-aware targeting needs {k:,} contacts, "
        f"{organic_k:,} of them organic: {fewer:.0%} fewer organic contacts than the response "
        f"model's {int(table.loc['response', 'organic_contacts']):,} (target: at least 30%)."
    )
    return table.reset_index(names="rule"), sentence


def verdict(table: pd.DataFrame) -> str:
    """The issue's AUC targets, met or not: at least 0.10 above the naive classifier, and not
    below the uplift strata."""
    auc = table.set_index("method")["auc"]
    over_naive = auc["segment model"] - auc["naive attribution"]
    over_strata = auc["segment model"] - auc["uplift strata"]
    room = auc["true-type ceiling"] - auc["naive attribution"]
    return (
        f"AUC of the segment model minus the naive classifier's: {over_naive:+.3f} (target "
        f"+0.10: {'met' if over_naive >= 0.10 else 'not met'}); minus the uplift strata's: "
        f"{over_strata:+.3f} (target ≥ 0: {'met' if over_strata >= 0 else 'not met'}). A "
        f"classifier trained on the true types reaches {auc['true-type ceiling']:.3f}, "
        f"{room:+.3f} over the naive one: the room the features leave on this simulator; the "
        f"segment model takes {over_naive / room:.0%} of it."
    )


def recovery_of(
    params: Mapping[str, float], rows: int, customers: int, seed: int, ablations: bool
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(recovery table, customers, segment model's scores, T-learner's scores) at ``params``."""
    experiment, base = simulated(params, rows, customers, seed)
    methods, uplift = methods_of(experiment, base, seed, ablations)
    table = recovery_table(base["true_type"].to_numpy(), methods)
    return table, base, methods["segment model"], uplift


def sweep(rows: int, customers: int, seed: int) -> pd.DataFrame:
    """AUC of P(campaign-driven) per method over exposure and organic shares."""
    parts = []
    for organic in ORGANIC_SHARES:
        for exposure in EXPOSURE_SHARES:
            params = {"exposure_share": exposure, "organic_share": organic}
            table, *_ = recovery_of(params, rows, customers, seed, ablations=False)
            wide = table.set_index("method")["auc"].to_frame().T
            parts.append(wide.assign(exposure_share=exposure, organic_share=organic))
    frame = pd.concat(parts, ignore_index=True)
    return frame[["exposure_share", "organic_share", *parts[0].columns[:-2]]]


def stage_time(rows: int, seed: int) -> dict[str, float]:
    """Seconds of the segment stage on Spark (after ingest, train and score) and of one pass
    over its input (experiment and customers read, every numeric feature summed)."""
    from pyspark.sql import functions as F

    from causal_targeting.config import load_config
    from causal_targeting.data.simulate.writer import write_simulation
    from causal_targeting.layout import ingest_paths
    from causal_targeting.spark import get_spark
    from causal_targeting.stages.ingest import ingest
    from causal_targeting.stages.score import score
    from causal_targeting.stages.segment import segment
    from causal_targeting.stages.train import train

    work = tempfile.mkdtemp(prefix="segmentation-bench-")
    simulated_at = f"{work}/simulate"
    cfg = load_config(
        CONF,
        [
            f"outputs.root={work}/out",
            f"data.experiment.path={simulated_at}/experiment",
            f"data.customers.path={simulated_at}/customers",
            f"tracking.uri=sqlite:///{work}/mlflow.db",
            f"tracking.artifact_location={work}/mlruns",
            "spark.master=local[2]",
            "spark.driver_memory=6g",
        ],
    )
    spark = get_spark(cfg.spark)
    write_simulation(spark, "intent", rows, seed, simulated_at)
    ingest(cfg, spark)
    trained = train(cfg, spark)
    score(cfg, spark, trained.model_uri)
    start = time.perf_counter()
    segment(cfg, spark)
    seconds = time.perf_counter() - start
    numeric = [name for name, kind in FEATURES.items() if kind == "numeric"]
    start = time.perf_counter()
    for table in ("experiment", "customers"):
        frame = spark.read.parquet(ingest_paths(cfg)[table])
        frame.agg(*[F.sum(c) for c in numeric]).collect()
    one_pass = time.perf_counter() - start
    return {"segment stage (s)": seconds, "one pass (s)": one_pass, "ratio": seconds / one_pass}


def markdown(frame: pd.DataFrame) -> str:
    """A frame as a Markdown table: integers with separators, other numbers to 3 decimals."""

    def cell(value: object) -> str:
        if isinstance(value, (int, np.integer)) or (
            isinstance(value, (float, np.floating)) and float(value).is_integer()
        ):
            return f"{int(value):,}"
        return f"{value:.3f}" if isinstance(value, (float, np.floating)) else str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.to_numpy(object)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="experiment rows")
    parser.add_argument("--customers", type=int, default=200_000, help="fresh customers judged")
    parser.add_argument("--sweep-rows", type=int, default=200_000, help="rows of the sweep")
    parser.add_argument("--contact-share", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-stage", action="store_true", help="skip the Spark stage timing")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    defaults = dict(sim.scenario("intent").params)
    table, base, ours, uplift = recovery_of({}, args.rows, args.customers, args.seed, True)
    choices, sentence = decisions(base, ours, uplift, args.contact_share)
    grid = sweep(args.sweep_rows, args.customers, args.seed)
    text = [
        SECTION,
        "",
        f"`.venv/bin/python benchmarks/segmentation.py --rows {args.rows} --customers "
        f"{args.customers} --sweep-rows {args.sweep_rows} --seed {args.seed}`",
        "",
        f"Simulator `intent`, defaults {defaults} (campaign-driven share 0.2, low-engagement the "
        f"rest); {args.rows:,} experiment rows train every method, {args.customers:,} fresh "
        "customers with their true type judge them. Segment model: the default config "
        "(`segment.*` in conf/base.yaml).",
        "",
        "### Recovery of the true types, with the ablations",
        "",
        markdown(table),
        "",
        verdict(table),
        "",
        f"### Decisions at equal contacts ({args.contact_share:.0%} of customers; same "
        "parameters)",
        "",
        markdown(choices),
        "",
        sentence,
        "",
        f"### AUC of P(campaign-driven) over the design ({args.sweep_rows:,} experiment rows; "
        "other parameters at their defaults)",
        "",
        markdown(grid),
    ]
    if not args.no_stage:
        timing = stage_time(args.rows, args.seed)
        text += [
            "",
            f"### Segment stage on Spark ({args.rows:,} rows, local[2], same parameters)",
            "",
            markdown(pd.DataFrame([timing])),
        ]
    publish(SECTION, "\n".join(text) + "\n", write=not args.no_write)


if __name__ == "__main__":
    main()
