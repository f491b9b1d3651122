"""The evaluate stage: our policy against the baselines on the holdout, and the report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from causal_targeting import tracking
from causal_targeting.data import manifest
from causal_targeting.data.io import read_json, read_output, write_text
from causal_targeting.decision import (
    allocation_problem,
    chosen_offers,
    expected_static_policy,
    partial_sample_policy,
    sample_policy,
    scored_experiment_rows,
)
from causal_targeting.layout import (
    allocate_paths,
    coarsen_paths,
    evaluate_paths,
    frontier_paths,
    ingest_paths,
    score_paths,
    segment_paths,
    train_paths,
)
from causal_targeting.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from causal_targeting.config import Config
    from causal_targeting.evaluation.policy_value import Policy
    from causal_targeting.evaluation.report import Section


@dataclass(frozen=True)
class EvaluateResult:
    """The policy value table, where the report is, and the report's opening lines (the decision
    paragraph and the verdict against the best baseline)."""

    values: pd.DataFrame
    report: str
    paths: dict[str, str]
    differences: pd.DataFrame | None = None
    headline: list[str] = field(default_factory=list)


def offer_counts(cfg: Config, spark: SparkSession) -> pd.DataFrame:
    """Customers per offer of the allocation (``offer``, ``customers``; none: ``no offer``), by
    the segment columns of the segment guardrails when there are any."""
    from pyspark.sql import functions as F

    from causal_targeting.evaluation.sections import NO_OFFER

    allocation = read_output(spark, allocate_paths(cfg)["allocation"], "allocation")
    segments = sorted({g.segment_column for g in cfg.allocation.guardrails if g.segment_column})
    if segments:
        customers = read_output(spark, ingest_paths(cfg)["customers"], "customers")
        allocation = allocation.join(
            customers.select("customer_id", *segments), "customer_id", "left"
        )
    counts = allocation.groupBy(*segments, "offer").agg(F.count("*").alias("customers"))
    frame = counts.toPandas()
    frame["offer"] = frame["offer"].fillna(NO_OFFER)
    return frame.sort_values([*segments, "offer"], ignore_index=True)


def without_organic(policy: Policy, holdout: pd.DataFrame, cfg: Config) -> Policy:
    """Our policy with the customers the segment model calls organic given no offer (the
    segment stage's registered model predicts the holdout rows); a stochastic policy gives
    them no offer with probability 1."""
    from causal_targeting.evaluation.policy_value import with_no_offer
    from causal_targeting.segments.pyfunc import load_intent_model

    model = load_intent_model(read_json(segment_paths(cfg)["report"])["model_uri"])
    organic = model.predict(holdout)["segment"].to_numpy() == "organic"
    return with_no_offer(policy, organic, cfg.data.control)


def segment_part(cfg: Config) -> Section:
    """The report's intent segment section from the segment and allocate stages' outputs."""
    from causal_targeting.evaluation import sections

    paths = segment_paths(cfg)
    curves = Path(paths["reliability"])
    return sections.segment_section(
        read_json(paths["report"]),
        pd.read_csv(curves) if curves.exists() else None,
        read_json(allocate_paths(cfg)["report"]).get("segment_mix"),
    )


def response_column(cfg: Config) -> str:
    """The propensity baseline's ranking: predicted outcome without treatment."""
    kinds = cfg.data.outcomes
    outcome = cfg.evaluate.response_outcome or next(
        (o for o, kind in kinds.items() if kind == "binary"), next(iter(kinds))
    )
    return f"mu__{outcome}__{cfg.data.control}"


def allocated_static_arm(safeguard: Mapping[str, Any] | None) -> str | None:
    """The arm the allocate stage gave every eligible customer the guardrails allow when its
    safeguard allocated the best static policy (its report's ``safeguard``), else None
    (targeting was kept)."""
    return safeguard["static_arm"] if safeguard and safeguard["kind"] == "static" else None


def allocated_policy(
    holdout: pd.DataFrame,
    cfg: Config,
    offers: list[str],
    base_rows: int,
    safeguard: Mapping[str, Any] | None,
) -> Policy:
    """The allocate stage's policy on the holdout rows: the model's targeting (an arm per row),
    its partial policy when the safeguard kept part of it (:func:`~causal_targeting.decision.
    partial_sample_policy`), or, when the safeguard allocated the best static policy instead,
    that policy by its expectation over the customers its tie-break draws (each row's
    probability of the arm: the customers a cap leaves out are a random draw, see
    :func:`~causal_targeting.decision.expected_static_policy`)."""
    arm = allocated_static_arm(safeguard)
    if arm is not None:
        return expected_static_policy(holdout, cfg, offers, base_rows, arm)
    if safeguard and safeguard["kind"] == "partial":
        return partial_sample_policy(
            holdout, cfg, offers, base_rows, safeguard["static_arm"], safeguard["threshold"]
        )
    return sample_policy(holdout, cfg, offers, base_rows)


def evaluate(cfg: Config, spark: SparkSession | None = None) -> EvaluateResult:
    """Value our policy and the baselines on the randomized holdout; write the evidence report.

    The holdout rows scored by the train stage (a sample bounded by ``train.cap_per_arm``) are
    valued in the allocator's units (:mod:`causal_targeting.evaluation.net_value`); our policy
    is the allocation solved on them (over the coarsened menu when there is one) with amounts
    scaled to their share of the base; the baselines, free to use any offer, get the same
    contacts and budget (random: our own offers, shuffled). IPS, SNIPS and DR estimates carry
    Poisson bootstrap CIs; on simulator data the true value of each policy is added. Targeting
    minus each baseline, with paired bootstrap CIs and p-values, goes to
    ``policy_differences.csv`` and MLflow. The report opens with the decision: customers per
    offer (by segment), value against the best baseline (paired), binding guardrails and their
    shadow prices; then the paired differences with the allocate stage's safeguard line.
    """
    from causal_targeting.evaluation import sections, verdict
    from causal_targeting.evaluation.baselines import baseline_policies
    from causal_targeting.evaluation.net_value import VALUE, policy_cost, with_net_value
    from causal_targeting.evaluation.paired import policy_differences
    from causal_targeting.evaluation.policy_value import policy_values
    from causal_targeting.evaluation.report import write_report
    from causal_targeting.value import cost_frame

    spark = spark or get_spark(cfg.spark)
    started = manifest.begin(cfg, "evaluate")
    offers = chosen_offers(cfg)
    every_offer = list(cfg.data.arms)
    arms = [cfg.data.control, *every_offer]
    value_model, _, _ = allocation_problem(cfg)
    holdout = scored_experiment_rows(spark, cfg)
    base_rows = read_output(spark, score_paths(cfg)["scores"], "scores").count()
    frame = with_net_value(holdout, value_model, every_offer, cfg.data.control)
    solved = read_json(allocate_paths(cfg)["report"])
    safeguard = solved.get("safeguard")
    policy = allocated_policy(holdout, cfg, offers, base_rows, safeguard)
    cost_table = cost_frame(holdout, value_model, every_offer)
    costs = cost_table.mean().rename(lambda column: column.removeprefix("cost__"))
    policies = {"targeting": policy} | baseline_policies(
        frame,
        policy,
        outcome=VALUE,
        arms=arms,
        control=cfg.data.control,
        costs=costs.to_dict(),
        response_col=response_column(cfg),
    )
    if cfg.segment.enabled:
        policies["targeting without organic"] = without_organic(policy, holdout, cfg)
    valued = {
        "outcome": VALUE,
        "arms": arms,
        "control": cfg.data.control,
        "costs": {},
        "reps": cfg.evaluate.bootstrap_reps,
        "alpha": cfg.evaluate.alpha,
        "seed": cfg.seed,
    }
    values = policy_values(frame, policies, **valued)
    values["cost"] = values["policy"].map(  # values are net of cost; this is what they spent
        {name: policy_cost(cost_table, p) for name, p in policies.items()}
    )
    differences = policy_differences(frame, policies, against="targeting", **valued)
    paths = evaluate_paths(cfg)
    trained = read_json(train_paths(cfg)["report"])
    currency = cfg.allocation.currency
    rows = cfg.train.evaluated_rows
    decision = verdict.decision_section(
        offer_counts(cfg, spark),
        values,
        solved,
        currency=currency,
        estimator=cfg.evaluate.estimator,
        alpha=cfg.evaluate.alpha,
        differences=differences,
        rows=rows,
    )
    against = verdict.difference_section(
        differences, cfg.evaluate.estimator, cfg.evaluate.alpha, safeguard
    )
    parts = [
        decision,
        against,
        sections.data_section(read_json(ingest_paths(cfg)["report"])),
        sections.model_section(
            pd.read_csv(train_paths(cfg)["metrics"]),
            pd.read_csv(train_paths(cfg)["curves"]),
            trained["model_uri"],
            rows,
        ),
        sections.policy_section(
            values, len(holdout), cfg.evaluate.estimator, currency, differences, rows
        ),
        sections.design_section(
            values,
            float(frame[VALUE].std(ddof=1)),
            cfg.evaluate.alpha,
            cfg.evaluate.estimator,
            currency,
            base_rows,
            differences,
        ),
        sections.guardrail_section(solved, currency),
    ]
    if "frontier" in started.inputs:  # a frontier of this chain, not one left by another run
        frontier = frontier_paths(cfg)["frontier"]
        static = bool(safeguard) and safeguard["kind"] != "targeted"
        parts.append(sections.frontier_section(pd.read_csv(frontier), currency, static, rows))
    if cfg.coarsen.enabled:
        recovery = pd.read_csv(coarsen_paths(cfg)["recovery"])
        menu = read_json(coarsen_paths(cfg)["menu"])
        parts.append(sections.coarsening_section(recovery, menu))
    if cfg.segment.enabled:
        parts.append(segment_part(cfg))
    write_text(values.to_csv(index=False), paths["values"])
    write_text(differences.to_csv(index=False), paths["differences"])
    report = write_report(paths["report"], "Targeting evidence", cfg.name, parts)
    tracking.configure(cfg.tracking.uri, cfg.tracking.experiment, cfg.tracking.artifact_location)
    with tracking.start_run(run_name=f"{cfg.name}-evaluate", tags={"stage": "evaluate"}) as run:
        tracking.log_config(cfg.model_dump(mode="json"))
        tracking.log_metrics(
            {
                f"value_{row.estimator}__{row.policy}": row.value
                for row in values.itertuples(index=False)
            }
        )
        tracking.log_metrics(
            {
                f"difference_{row.estimator}__{row.baseline}{suffix}": value
                for row in differences.itertuples(index=False)
                for suffix, value in (("", row.difference), ("_p", row.p_value))
            }
        )
        tracking.log_artifacts(str(report.parent), "report")
    manifest.finish(cfg, started, run.info.run_id)
    headline = [*decision.paragraphs, against.paragraphs[0]]  # the verdict is its first line
    return EvaluateResult(values, str(report), paths, differences, headline)
