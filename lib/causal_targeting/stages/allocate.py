"""The allocate stage: each customer's offer (or none) under the guardrails, certified."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from causal_targeting import tracking
from causal_targeting.data import manifest
from causal_targeting.data.io import write_json, write_table
from causal_targeting.decision import (
    allocation_input,
    allocation_problem,
    chosen_offers,
    eligible_column,
    intent_segments,
    partial_value_model,
    safeguard_decision,
    scored_experiment_rows,
    solver_options,
    static_problem_gains,
    static_value_model,
    stay_bonus,
    uses_segments,
)
from causal_targeting.errors import InfeasibleError
from causal_targeting.layout import allocate_paths
from causal_targeting.spark import get_spark

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from causal_targeting.allocation.dual import PassLog
    from causal_targeting.allocation.problem import Guardrail
    from causal_targeting.allocation.report import SolveReport
    from causal_targeting.config import Config
    from causal_targeting.evaluation.safeguard import SafeguardDecision
    from causal_targeting.value import ValueModel


@dataclass(frozen=True)
class AllocateResult:
    """What the allocate stage wrote: the solve report and the offers it used."""

    report: SolveReport
    offers: list[str]
    run_id: str
    paths: dict[str, str]
    safeguard: SafeguardDecision | None = None
    segment_mix: pd.DataFrame | None = None


def guarded_problem(
    cfg: Config,
    spark: SparkSession,
    scores: DataFrame,
    offers: list[str],
    value_model: ValueModel,
) -> tuple[DataFrame, ValueModel, SafeguardDecision]:
    """The safeguard's verdict and the problem to solve: as configured when targeting is kept,
    with the partial policy's bonus columns (:func:`with_stay_bonus`) when part of it is, else
    the best static policy's (its arm to every eligible customer the guardrails allow, the
    other offers not options, :func:`~causal_targeting.decision.static_value_model`; no offer
    to anyone: no offer is an option)."""
    from pyspark.sql import functions as F

    rows = scored_experiment_rows(spark, cfg)
    decision = safeguard_decision(cfg, rows, offers, scores.count())
    if decision.kind == "targeted":
        return scores, value_model, decision
    if decision.kind == "partial":
        shifted = with_stay_bonus(scores, decision, cfg.data.control, offers)
        return shifted, partial_value_model(value_model), decision

    def largest(columns: list[str]) -> dict[str, float]:
        if not columns:
            return {}
        return scores.agg(*[F.max(F.abs(F.col(c))).alias(c) for c in columns]).first().asDict()

    spread = (F.abs(F.xxhash64("customer_id")) % 1_000_000) / 1_000_000
    gains = static_problem_gains(
        value_model, decision.static_arm, cfg.data.control, offers, largest, spread
    )
    static = scores.withColumns(
        {name: F.lit(value) if isinstance(value, float) else value for name, value in gains.items()}
    )
    return static, static_value_model(value_model), decision


def with_stay_bonus(
    scores: DataFrame, decision: SafeguardDecision, control: str, offers: list[str]
) -> DataFrame:
    """``scores`` with the partial policy's bonus columns (:func:`~causal_targeting.decision.
    stay_bonus` at the decision's static arm and threshold; eligibility for the static arm
    from :func:`~causal_targeting.decision.eligible_column`)."""
    from pyspark.sql import functions as F

    eligible = eligible_column(scores, decision.static_arm)
    bonus = stay_bonus(decision.static_arm, control, offers, decision.threshold)
    return scores.withColumns(
        {name: F.when(eligible, F.lit(on)).otherwise(F.lit(off)) for name, (on, off) in
         bonus.items()}
    )  # fmt: skip


def static_report(report: SolveReport, value: float) -> SolveReport:
    """The solve report of a static or partial policy: ``primal`` is its predicted net value;
    the dual bound, gap and shadow prices belong to its constant-gain (or bonus) problem, not to
    the value model, so they are not reported (NaN)."""
    nan = float("nan")
    guardrails = tuple(replace(g, shadow_price=nan) for g in report.guardrails)
    return replace(
        report,
        primal=value,
        dual_bound=nan,
        gap=nan,
        guardrails=guardrails,
        prices=tuple(nan for _ in report.prices),
    )


def pass_metrics(log: PassLog, guardrails: list[Guardrail]) -> dict[str, float]:
    """One pass of the solver as MLflow metrics: prices, bounds, primal, worst violation."""
    metrics = {
        "pass_dual_bound": log.dual_bound,
        "pass_primal": log.primal_value,
        "pass_worst_violation": log.worst_violation,
    }
    metrics |= {f"lambda__{g.name}": float(v) for g, v in zip(guardrails, log.lam, strict=True)}
    return metrics


def offer_segment_mix(allocation: DataFrame, segments: DataFrame, control: str) -> pd.DataFrame:
    """Customers per offer (``control`` for no offer) and intent segment: columns ``offer``,
    ``segment``, ``customers``, ``share`` (of the offer's customers)."""
    from pyspark.sql import functions as F

    counts = (
        allocation.select("customer_id", F.coalesce("offer", F.lit(control)).alias("offer"))
        .join(segments, on="customer_id", how="left")
        .groupBy("offer", "segment")
        .count()
        .toPandas()
        .rename(columns={"count": "customers"})
        .sort_values(["offer", "segment"], ignore_index=True)
    )
    counts["share"] = counts["customers"] / counts.groupby("offer")["customers"].transform("sum")
    return counts


def allocate(
    cfg: Config,
    spark: SparkSession | None = None,
    offers: list[str] | None = None,
    on_pass: Callable[[PassLog], None] | None = None,
) -> AllocateResult:
    """Choose each customer's offer (or none) to maximize net value under the guardrails.

    Reads the scores (and, from the customer table, ``eligible__{arm}`` and segment columns
    when there are any), solves by dual decomposition across partitions with a certified gap,
    logs every pass to MLflow, and writes the allocation table and the solve report.
    ``offers`` defaults to the coarsened menu when the coarsen stage wrote one, else every arm.
    A static allocation's predicted net value is summed while it is written.
    """
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    from causal_targeting.allocation.distributed import solve

    spark = spark or get_spark(cfg.spark)
    started = manifest.begin(cfg, "allocate")
    value_model, guardrails, do_no_harm = allocation_problem(cfg)
    offers = offers or chosen_offers(cfg)
    scores = allocation_input(cfg, spark, offers)
    decision = None
    chosen, chosen_model = scores, value_model
    if cfg.allocation.safeguard:
        chosen, chosen_model, decision = guarded_problem(cfg, spark, scores, offers, value_model)
    tracking.configure(cfg.tracking.uri, cfg.tracking.experiment, cfg.tracking.artifact_location)
    with tracking.start_run(run_name=f"{cfg.name}-allocate", tags={"stage": "allocate"}) as run:
        tracking.log_config(cfg.model_dump(mode="json"))

        def log_pass(log: PassLog) -> None:
            tracking.log_metrics(pass_metrics(log, guardrails), step=log.index)
            if on_pass is not None and not static:  # a static policy's passes value a stand-in
                on_pass(log)

        def solved(
            frame: DataFrame, model: ValueModel, valued_by: ValueModel | None = None
        ) -> tuple[DataFrame, SolveReport]:
            return solve(
                frame,
                model,
                guardrails,
                offers,
                do_no_harm,
                options=solver_options(cfg),
                run_id=run.info.run_id,
                callback=log_pass,
                valued_by=valued_by,
            )

        static = decision is not None and decision.kind != "targeted"
        try:  # a static or partial allocation is valued by the configured model
            allocation, report = solved(chosen, chosen_model, value_model if static else None)
        except InfeasibleError:
            if decision is None or decision.kind == "targeted":
                raise
            decision = replace(decision, kind="targeted", static_feasible=False)
            static = False
            allocation, report = solved(scores, value_model)
        paths = allocate_paths(cfg)
        if static:
            valued = Observation("static value")
            allocation = allocation.observe(valued, F.sum("value").alias("value"))
        write_table(allocation, paths["allocation"])
        if static:
            report = static_report(report, float(valued.get["value"] or 0.0))
        summary = {**report.to_dict(), "offers": offers}
        summary.pop("lam_history", None)
        if decision is not None:
            summary["safeguard"] = {**decision.to_dict(), "line": decision.line(cfg.data.control)}
            tracking.log_metrics(
                {"safeguard_difference": decision.difference, "safeguard_ci_low": decision.ci_low,
                 "safeguard_targeted": float(decision.kind == "targeted"),
                 "safeguard_share": decision.share}
            )
        mix = None
        if uses_segments(cfg):
            written = spark.read.parquet(paths["allocation"])
            mix = offer_segment_mix(written, intent_segments(cfg, spark), cfg.data.control)
            summary["segment_mix"] = mix.to_dict(orient="records")
        write_json(summary, paths["report"])
        tracking.log_metrics(
            {"primal": report.primal, "dual_bound": report.dual_bound, "gap": report.gap}
        )
        tracking.log_dict(summary, "solve_report.json")
    manifest.finish(cfg, started, run.info.run_id)
    return AllocateResult(report, offers, run.info.run_id, paths, decision, mix)
