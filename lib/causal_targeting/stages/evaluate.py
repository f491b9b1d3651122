"""The evaluate stage: our policy against the baselines on the holdout, and the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from causal_targeting import tracking
from causal_targeting.data.io import read_json, read_output, write_text
from causal_targeting.decision import (
    allocation_problem,
    chosen_offers,
    scaled_guardrails,
    solver_options,
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
    from causal_targeting.evaluation.report import Section


@dataclass(frozen=True)
class EvaluateResult:
    """The policy value table and where the report is."""

    values: pd.DataFrame
    report: str
    paths: dict[str, str]


def holdout_policy(
    holdout: pd.DataFrame, cfg: Config, offers: list[str], base_rows: int
) -> np.ndarray:
    """Our policy on the holdout rows: the allocation solved on them, guardrails scaled."""
    from causal_targeting.allocation.problem import option_block
    from causal_targeting.allocation.solver import solve_block

    value_model, guardrails, do_no_harm = allocation_problem(cfg)
    scaled = scaled_guardrails(guardrails, len(holdout) / base_rows)
    block = option_block(holdout, value_model, scaled, offers, do_no_harm)
    choice, _ = solve_block(block, scaled, solver_options(cfg))
    return np.array([*offers, cfg.data.control], dtype=object)[choice]


def without_organic(policy: np.ndarray, holdout: pd.DataFrame, cfg: Config) -> np.ndarray:
    """Our policy with the customers the segment model calls organic given no offer (the
    segment stage's registered model predicts the holdout rows)."""
    from causal_targeting.segments.pyfunc import load_intent_model

    model = load_intent_model(read_json(segment_paths(cfg)["report"])["model_uri"])
    organic = model.predict(holdout)["segment"].to_numpy() == "organic"
    return np.where(organic, cfg.data.control, policy)


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


def evaluate(cfg: Config, spark: SparkSession | None = None) -> EvaluateResult:
    """Value our policy and the baselines on the randomized holdout; write the evidence report.

    The holdout rows scored by the train stage (a sample bounded by ``train.cap_per_arm``) are
    valued in the allocator's units (:mod:`causal_targeting.evaluation.net_value`); our policy
    is the allocation solved on them (over the coarsened menu when there is one) with amounts
    scaled to their share of the base; the baselines, free to use any offer, get the same
    contacts and budget. IPS, SNIPS and DR estimates carry Poisson
    bootstrap CIs; on simulator data the true value of each policy is added.
    """
    from causal_targeting.evaluation import sections
    from causal_targeting.evaluation.baselines import baseline_policies
    from causal_targeting.evaluation.net_value import VALUE, with_net_value
    from causal_targeting.evaluation.policy_value import policy_values
    from causal_targeting.evaluation.report import write_report
    from causal_targeting.value import cost_frame

    spark = spark or get_spark(cfg.spark)
    offers = chosen_offers(cfg)
    every_offer = list(cfg.data.arms)
    arms = [cfg.data.control, *every_offer]
    value_model, _, _ = allocation_problem(cfg)
    holdout = read_output(spark, train_paths(cfg)["holdout"], "holdout").toPandas()
    base_rows = read_output(spark, score_paths(cfg)["scores"], "scores").count()
    frame = with_net_value(holdout, value_model, every_offer, cfg.data.control)
    policy = holdout_policy(holdout, cfg, offers, base_rows)
    costs = cost_frame(holdout, value_model, every_offer).mean()
    costs = costs.rename(lambda column: column.removeprefix("cost__"))
    policies = {"targeting": policy} | baseline_policies(
        frame,
        policy,
        outcome=VALUE,
        arms=arms,
        control=cfg.data.control,
        costs=costs.to_dict(),
        response_col=response_column(cfg),
        seed=cfg.seed,
    )
    if cfg.segment.enabled:
        policies["targeting without organic"] = without_organic(policy, holdout, cfg)
    values = policy_values(
        frame,
        policies,
        outcome=VALUE,
        arms=arms,
        control=cfg.data.control,
        costs={},
        reps=cfg.evaluate.bootstrap_reps,
        alpha=cfg.evaluate.alpha,
        seed=cfg.seed,
    )
    paths = evaluate_paths(cfg)
    trained = read_json(train_paths(cfg)["report"])
    parts = [
        sections.data_section(read_json(ingest_paths(cfg)["report"])),
        sections.model_section(
            pd.read_csv(train_paths(cfg)["metrics"]),
            pd.read_csv(train_paths(cfg)["curves"]),
            trained["model_uri"],
        ),
        sections.policy_section(values, len(holdout), cfg.evaluate.estimator),
        sections.design_section(
            values, float(frame[VALUE].std(ddof=1)), cfg.evaluate.alpha, cfg.evaluate.estimator
        ),
        sections.guardrail_section(read_json(allocate_paths(cfg)["report"])),
    ]
    frontier = Path(frontier_paths(cfg)["frontier"])
    if frontier.exists():
        parts.append(sections.frontier_section(pd.read_csv(frontier)))
    if cfg.coarsen.enabled:
        recovery = pd.read_csv(coarsen_paths(cfg)["recovery"])
        menu = read_json(coarsen_paths(cfg)["menu"])
        parts.append(sections.coarsening_section(recovery, menu))
    if cfg.segment.enabled:
        parts.append(segment_part(cfg))
    write_text(values.to_csv(index=False), paths["values"])
    report = write_report(paths["report"], "Targeting evidence", cfg.name, parts)
    tracking.configure(cfg.tracking.uri, cfg.tracking.experiment, cfg.tracking.artifact_location)
    with tracking.start_run(run_name=f"{cfg.name}-evaluate", tags={"stage": "evaluate"}):
        tracking.log_config(cfg.model_dump(mode="json"))
        tracking.log_metrics(
            {
                f"value_{row.estimator}__{row.policy}": row.value
                for row in values.itertuples(index=False)
            }
        )
        tracking.log_artifacts(str(report.parent), "report")
    return EvaluateResult(values, str(report), paths)
