"""The stages as functions from configured inputs to configured outputs, wired by ``run``.

Each stage reads its inputs from the locations in the config and writes its outputs under
``outputs.root``; it validates everything before it writes anything, and every write is atomic,
so a stage that fails leaves the previous outputs intact. The CLI and the jobs/ entry points are
thin wrappers around these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from causal_targeting import tracking
from causal_targeting.data.contract import CUSTOMERS, EXPERIMENT, validate
from causal_targeting.data.io import path_exists, read_table, write_json, write_table, write_text
from causal_targeting.errors import ConfigError, DataContractError
from causal_targeting.evaluation.abtest import effects_vs_control
from causal_targeting.spark import get_spark

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pyspark.sql import DataFrame, SparkSession

    from causal_targeting.allocation.dual import PassLog
    from causal_targeting.allocation.problem import DoNoHarm, Guardrail, ValueModel
    from causal_targeting.allocation.solver import SolveReport, SolverOptions
    from causal_targeting.config import Config
    from causal_targeting.learners.uplift import UpliftLearner, UpliftModel


@dataclass(frozen=True)
class IngestResult:
    """What the ingest stage wrote and found."""

    paths: dict[str, str]
    summary: pd.DataFrame
    rows_read: dict[str, int]
    quarantined: dict[str, dict[str, int]]


def ingest_paths(cfg: Config) -> dict[str, str]:
    """Where the ingest stage writes each output."""
    out = cfg.outputs.path
    return {
        "experiment": out("ingest", "experiment"),
        "customers": out("ingest", "customers"),
        "quarantine": out("ingest", "quarantine"),
        "report": out("ingest", "report.json"),
        "summary": out("ingest", "arm_summary.csv"),
    }


def ingest(cfg: Config, spark: SparkSession | None = None) -> IngestResult:
    """Validate the experiment and customer tables, quarantine bad rows, summarize each arm.

    Writes the canonical tables, the quarantine table, the per-arm summary (CSV) and a JSON
    report; raises :class:`~causal_targeting.errors.DataContractError` before writing anything
    when a table breaks the contract.
    """
    spark = spark or get_spark(cfg.spark)
    data = cfg.data
    experiment_raw = read_table(spark, data.experiment, EXPERIMENT)
    customers_raw = read_table(spark, data.customers, CUSTOMERS) if data.customers else None
    tables = validate(experiment_raw, customers_raw, data, cfg.ingest)
    summary = effects_vs_control(
        tables.arm_stats, control=data.control, outcome_kinds=data.outcomes, alpha=cfg.ingest.alpha
    )
    paths = ingest_paths(cfg)
    write_table(tables.experiment, paths["experiment"])
    write_table(tables.customers, paths["customers"])
    write_table(tables.quarantine, paths["quarantine"])
    write_text(summary.to_csv(index=False), paths["summary"])
    write_json(
        {
            "rows_read": tables.rows_read,
            "quarantined": tables.quarantined,
            "arms": tables.arm_stats.to_dict(orient="records"),
            "effects": summary.to_dict(orient="records"),
            "alpha": cfg.ingest.alpha,
        },
        paths["report"],
    )
    return IngestResult(paths, summary, tables.rows_read, tables.quarantined)


@dataclass(frozen=True)
class TrainResult:
    """What the train stage registered and measured."""

    model_uri: str
    version: str
    run_id: str
    metrics: pd.DataFrame
    promotion: tracking.Promotion | None
    paths: dict[str, str]


def learner_of(cfg: Config) -> UpliftLearner:
    """The configured T- or X-learner (unfitted), seeded from the config."""
    from causal_targeting.learners.uplift import TLearner, XLearner

    common = {
        "params": cfg.train.params,
        "n_estimators": cfg.train.n_estimators,
        "early_stopping_rounds": cfg.train.early_stopping_rounds,
        "valid_fraction": cfg.train.valid_fraction,
        "seed": cfg.seed,
    }
    if cfg.train.learner == "t":
        return TLearner(**common)
    return XLearner(**common, propensity_clip=cfg.train.propensity_clip)


def fit_arguments(cfg: Config) -> dict[str, object]:
    """The learner's ``fit`` arguments for the canonical experiment table."""
    data = cfg.data
    return {
        "features": data.features,
        "treatment": "treatment",
        "control": data.control,
        "arms": data.arms,
        "outcomes": data.outcomes,
        "propensity": "propensity" if data.propensity else None,
        "weight": "weight" if data.weight else None,
    }


def promotion_score(metrics: pd.DataFrame, cfg: Config) -> float:
    """Mean holdout Qini over arms of the promotion outcome (normalized when it is binary)."""
    outcome = cfg.train.promotion_outcome or next(iter(cfg.data.outcomes))
    column = "qini" if cfg.data.outcomes[outcome] == "binary" else "qini_unnormalized"
    return float(np.nanmean(metrics.loc[metrics["outcome"] == outcome, column]))


def holdout_with_scores(holdout: DataFrame, model: UpliftModel, cfg: Config) -> DataFrame:
    """The holdout experiment rows joined with the model's scores of them."""
    from causal_targeting.scoring import score

    scores = score(holdout, model, "holdout", engine="lightgbm", threads=cfg.score.threads)
    return holdout.join(scores.drop("model_version"), on="customer_id")


def train_paths(cfg: Config) -> dict[str, str]:
    """Where the train stage writes each output."""
    out = cfg.outputs.path
    return {
        "holdout": out("train", "holdout_scores"),
        "metrics": out("train", "holdout_metrics.csv"),
        "curves": out("train", "holdout_curves.csv"),
        "report": out("train", "report.json"),
    }


def train(
    cfg: Config, spark: SparkSession | None = None, promote: bool | None = None
) -> TrainResult:
    """Fit the uplift model on a stratified sample, measure it on the holdout, register it.

    The canonical experiment table (the ingest stage's output) is sampled per arm (at most
    ``train.cap_per_arm`` rows each), split into train and holdout by a hash of ``customer_id``
    and the seed, and every base model is fitted on the executors. The holdout's Qini and AUUC per
    arm and outcome are logged with the resolved config, the feature importance and the model,
    which is registered as a new version with the alias ``challenger``; with ``promote`` the
    alias ``champion`` moves to it when its holdout Qini is no worse.
    """
    from causal_targeting.evaluation.distributed import uplift_table_spark
    from causal_targeting.learners.importance import feature_importance
    from causal_targeting.learners.spark_fit import (
        fit_on_spark,
        stratified_sample,
        train_holdout_split,
    )

    spark = spark or get_spark(cfg.spark)
    promote = cfg.train.promote if promote is None else promote
    data = cfg.data
    experiment = read_table_at(spark, ingest_paths(cfg)["experiment"], EXPERIMENT)
    sample = stratified_sample(
        experiment, "treatment", [data.control, *data.arms], cfg.train.cap_per_arm, cfg.seed
    )
    fit_rows, holdout = train_holdout_split(sample, cfg.train.holdout_fraction, cfg.seed)
    model = fit_on_spark(fit_rows.cache(), learner_of(cfg), **fit_arguments(cfg))
    scored = holdout_with_scores(holdout, model, cfg).cache()
    metrics, curves = uplift_table_spark(
        scored,
        arms=data.arms,
        control=data.control,
        outcome_kinds=data.outcomes,
        weight_col="weight" if data.weight else None,
        buckets=cfg.train.metric_buckets,
    )
    paths = train_paths(cfg)
    tracking.configure(cfg.tracking.uri, cfg.tracking.experiment, cfg.tracking.artifact_location)
    with tracking.start_run(run_name=f"{cfg.name}-train", tags={"stage": "train"}) as run:
        tracking.log_config(cfg.model_dump(mode="json"))
        tracking.log_metrics(metric_dict(metrics))
        tracking.log_frame(feature_importance(model), "feature_importance.csv")
        version = tracking.register(
            model, {}, cfg.tracking.model_name, promotion_score(metrics, cfg)
        )
        promotion = tracking.promote(cfg.tracking.model_name, version) if promote else None
    write_table(scored, paths["holdout"])
    write_text(metrics.to_csv(index=False), paths["metrics"])
    write_text(curves.to_csv(index=False), paths["curves"])
    model_uri = f"models:/{cfg.tracking.model_name}/{version}"
    write_json(
        {
            "model_uri": model_uri,
            "run_id": run.info.run_id,
            "rows": {"fit": fit_rows.count(), "holdout": holdout.count()},
            "metrics": metrics.to_dict(orient="records"),
            "promotion": None if promotion is None else promotion.__dict__,
        },
        paths["report"],
    )
    return TrainResult(model_uri, version, run.info.run_id, metrics, promotion, paths)


def metric_dict(metrics: pd.DataFrame) -> dict[str, float]:
    """Holdout metrics as ``holdout_{metric}__{outcome}__{arm}`` for MLflow."""
    return {
        f"holdout_{name}__{row['outcome']}__{row['arm']}": float(row[name])
        for _, row in metrics.iterrows()
        for name in ("auuc", "qini", "qini_unnormalized", "auuc_unnormalized")
    }


def read_table_at(spark: SparkSession, path: str, table: str) -> DataFrame:
    """Read a Parquet output of an earlier stage; a missing one names the stage to run."""

    if not path_exists(spark, path):
        raise DataContractError(
            table, f"no output of the earlier stage at '{path}'", "run the earlier stage first"
        )
    return spark.read.parquet(path)


@dataclass(frozen=True)
class ScoreResult:
    """What the score stage wrote."""

    model_uri: str
    version: str
    rows: int
    unseen_levels: dict[str, int]
    paths: dict[str, str]


def score_paths(cfg: Config) -> dict[str, str]:
    """Where the score stage writes each output."""
    return {
        "scores": cfg.outputs.path("score", "scores"),
        "report": cfg.outputs.path("score", "report.json"),
    }


def score(
    cfg: Config, spark: SparkSession | None = None, model_uri: str | None = None
) -> ScoreResult:
    """Score every customer with the model at ``model_uri`` (default: the configured one).

    The customer table is checked against the model's features before any work; unseen
    category levels are scored as LightGBM scores them and counted in the report.
    """
    from causal_targeting.scoring import score as score_table
    from causal_targeting.scoring import unseen_levels_report

    spark = spark or get_spark(cfg.spark)
    uri = model_uri or cfg.model_uri()
    tracking.configure(cfg.tracking.uri, cfg.tracking.experiment, cfg.tracking.artifact_location)
    model, version = tracking.load_model(uri)
    customers = read_table_at(spark, ingest_paths(cfg)["customers"], CUSTOMERS)
    scores = score_table(
        customers,
        model,
        version,
        engine=cfg.score.engine,
        threads=cfg.score.threads,
        cache_dir=cfg.score.cache_dir,
    )
    unseen = unseen_levels_report(customers, model)
    paths = score_paths(cfg)
    write_table(scores, paths["scores"])
    rows = spark.read.parquet(paths["scores"]).count()
    write_json(
        {"model_uri": uri, "version": version, "rows": rows, "unseen_levels": unseen},
        paths["report"],
    )
    return ScoreResult(uri, version, rows, unseen, paths)


@dataclass(frozen=True)
class AllocateResult:
    """What the allocate stage wrote: the solve report and the offers it used."""

    report: SolveReport
    offers: list[str]
    run_id: str
    paths: dict[str, str]


def allocation_problem(cfg: Config) -> tuple[ValueModel, list[Guardrail], DoNoHarm | None]:
    """The value model, guardrails and do-no-harm rule of the config, as the solver takes them."""
    from causal_targeting.allocation.problem import DoNoHarm, Guardrail, ValueModel, VariableCost

    settings = cfg.allocation
    if not settings.weights:
        raise ConfigError(
            "allocation.weights is empty; give the value of one unit of effect on each outcome "
            "that counts, e.g. --set allocation.weights.spend=0.3"
        )
    value_model = ValueModel(
        weights=settings.weights,
        fixed_cost=settings.fixed_cost,
        variable_costs=tuple(VariableCost(v.column, v.rate) for v in settings.variable_costs),
    )
    guardrails = [Guardrail(**g.model_dump()) for g in settings.guardrails]
    rule = settings.do_no_harm
    return value_model, guardrails, None if rule is None else DoNoHarm(**rule.model_dump())


def solver_options(cfg: Config) -> SolverOptions:
    """The solver's knobs from the allocation config."""
    from causal_targeting.allocation.solver import SolverOptions

    settings = cfg.allocation
    return SolverOptions(
        tolerance=settings.tolerance, max_passes=settings.max_passes, method=settings.method
    )


def allocate_paths(cfg: Config) -> dict[str, str]:
    """Where the allocate stage writes each output."""
    out = cfg.outputs.path
    return {"allocation": out("allocate", "allocation"), "report": out("allocate", "report.json")}


def customer_columns_for(cfg: Config, customers: DataFrame, offers: list[str]) -> list[str]:
    """Customer columns the allocation needs beside the scores: eligibility and segments."""
    wanted = {f"eligible__{arm}" for arm in offers}
    wanted |= {g.segment_column for g in cfg.allocation.guardrails if g.segment_column}
    return sorted(c for c in wanted if c in customers.columns)


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
    """
    from causal_targeting.allocation.distributed import solve

    spark = spark or get_spark(cfg.spark)
    value_model, guardrails, do_no_harm = allocation_problem(cfg)
    offers = offers or chosen_offers(cfg)
    scores = allocation_input(cfg, spark, offers)
    tracking.configure(cfg.tracking.uri, cfg.tracking.experiment, cfg.tracking.artifact_location)
    with tracking.start_run(run_name=f"{cfg.name}-allocate", tags={"stage": "allocate"}) as run:
        tracking.log_config(cfg.model_dump(mode="json"))

        def log_pass(log: PassLog) -> None:
            tracking.log_metrics(pass_metrics(log, guardrails), step=log.index)
            if on_pass is not None:
                on_pass(log)

        allocation, report = solve(
            scores,
            value_model,
            guardrails,
            offers,
            do_no_harm,
            options=solver_options(cfg),
            run_id=run.info.run_id,
            callback=log_pass,
        )
        paths = allocate_paths(cfg)
        write_table(allocation, paths["allocation"])
        summary = {**report.to_dict(), "offers": offers}
        summary.pop("lam_history", None)
        write_json(summary, paths["report"])
        tracking.log_metrics(
            {"primal": report.primal, "dual_bound": report.dual_bound, "gap": report.gap}
        )
        tracking.log_dict(summary, "solve_report.json")
    return AllocateResult(report, offers, run.info.run_id, paths)


def allocation_input(cfg: Config, spark: SparkSession, offers: list[str]) -> DataFrame:
    """The scores, with the customer table's eligibility and segment columns when there are any."""
    scores = read_table_at(spark, score_paths(cfg)["scores"], "scores")
    customers = read_table_at(spark, ingest_paths(cfg)["customers"], CUSTOMERS)
    extra = customer_columns_for(cfg, customers, offers)
    if extra:
        scores = scores.join(customers.select("customer_id", *extra), on="customer_id", how="left")
    return scores


@dataclass(frozen=True)
class FrontierResult:
    """The value-budget frontier and where it was written."""

    frame: pd.DataFrame
    paths: dict[str, str]


def frontier(cfg: Config, spark: SparkSession | None = None) -> FrontierResult:
    """The allocation's value against the budget: one certified solve per budget of the grid.

    The customers' options are built and cached on the executors once; each budget is a dual
    solve over that cache with the other guardrails as configured. The grid is
    ``allocation.frontier_budgets``, else ten budgets up to the unconstrained policy's cost.
    """
    from causal_targeting.allocation.distributed import cached_blocks, spark_finisher, spark_oracle
    from causal_targeting.allocation.frontier import budget_grid, budget_guardrail, plot_frontier
    from causal_targeting.allocation.frontier import frontier as frontier_frame
    from causal_targeting.allocation.solver import solve_dual

    spark = spark or get_spark(cfg.spark)
    value_model, guardrails, do_no_harm = allocation_problem(cfg)
    offers = chosen_offers(cfg)
    budget = budget_guardrail(guardrails)
    blocks = cached_blocks(
        allocation_input(cfg, spark, offers), value_model, guardrails, offers, do_no_harm
    )
    try:
        oracle, finisher = spark_oracle(blocks, len(guardrails)), spark_finisher(blocks)

        def solve_at(changed: list[Guardrail]) -> SolveReport:
            return solve_dual(oracle, finisher, changed, solver_options(cfg))[1]

        unconstrained = float(oracle(np.zeros(len(guardrails))).usage[budget])
        budgets = cfg.allocation.frontier_budgets or list(budget_grid(unconstrained))
        frame = frontier_frame(solve_at, guardrails, budgets)
    finally:
        blocks.unpersist()
    paths = {
        "frontier": cfg.outputs.path("frontier", "frontier.csv"),
        "plot": cfg.outputs.path("frontier", "frontier.png"),
    }
    write_text(frame.to_csv(index=False), paths["frontier"])
    plot_frontier(frame, paths["plot"])
    return FrontierResult(frame, paths)


def pass_metrics(log: PassLog, guardrails: list[Guardrail]) -> dict[str, float]:
    """One pass of the solver as MLflow metrics: prices, bounds, primal, worst violation."""
    metrics = {
        "pass_dual_bound": log.dual_bound,
        "pass_primal": log.primal_value,
        "pass_worst_violation": log.worst_violation,
    }
    metrics |= {f"lambda__{g.name}": float(v) for g, v in zip(guardrails, log.lam, strict=True)}
    return metrics


def chosen_offers(cfg: Config) -> list[str]:
    """The coarsened menu when coarsening is on (the coarsen stage wrote it), else all arms."""
    if not cfg.coarsen.enabled:
        return list(cfg.data.arms)
    menu = coarsen_paths(cfg)["menu"]
    if not Path(menu).exists():
        raise DataContractError(
            "menu",
            f"coarsen.enabled is true but no menu at '{menu}'",
            "run the coarsen stage first",
        )
    return list(read_json(menu)["offers"])


@dataclass(frozen=True)
class EvaluateResult:
    """The policy value table and where the report is."""

    values: pd.DataFrame
    report: str
    paths: dict[str, str]


def evaluate_paths(cfg: Config) -> dict[str, str]:
    """Where the evaluate stage writes each output."""
    out = cfg.outputs.path
    return {
        "values": out("evaluate", "policy_values.csv"),
        "report": out("evaluate", "report", "index.html"),
    }


def scaled_guardrails(guardrails: list[Guardrail], ratio: float) -> list[Guardrail]:
    """The guardrails for a sample that is ``ratio`` of the base: amounts scale, shares stay."""
    from dataclasses import replace

    return [g if g.limit is None else replace(g, limit=g.limit * ratio) for g in guardrails]


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
    from causal_targeting.allocation.problem import cost_frame
    from causal_targeting.evaluation import sections
    from causal_targeting.evaluation.baselines import baseline_policies
    from causal_targeting.evaluation.net_value import VALUE, with_net_value
    from causal_targeting.evaluation.policy_value import policy_values
    from causal_targeting.evaluation.report import write_report

    spark = spark or get_spark(cfg.spark)
    offers = chosen_offers(cfg)
    every_offer = list(cfg.data.arms)
    arms = [cfg.data.control, *every_offer]
    value_model, _, _ = allocation_problem(cfg)
    holdout = read_table_at(spark, train_paths(cfg)["holdout"], "holdout").toPandas()
    base_rows = read_table_at(spark, score_paths(cfg)["scores"], "scores").count()
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
    frontier = Path(cfg.outputs.path("frontier", "frontier.csv"))
    if frontier.exists():
        parts.append(sections.frontier_section(pd.read_csv(frontier)))
    if cfg.coarsen.enabled:
        recovery = pd.read_csv(coarsen_paths(cfg)["recovery"])
        menu = read_json(coarsen_paths(cfg)["menu"])
        parts.append(sections.coarsening_section(recovery, menu))
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


def read_json(path: str) -> dict[str, Any]:
    """An earlier stage's JSON report."""
    import json

    return json.loads(Path(path).read_text())


@dataclass(frozen=True)
class CoarsenResult:
    """The chosen menu and the recovery curve."""

    offers: list[str]
    k: int
    realized_share: float
    curve: pd.DataFrame
    paths: dict[str, str]


def coarsen_paths(cfg: Config) -> dict[str, str]:
    """Where the coarsen stage writes each output (the allocate stage reads ``menu``)."""
    out = cfg.outputs.path
    return {
        "menu": out("coarsen", "menu.json"),
        "recovery": out("coarsen", "recovery.csv"),
        "sizes": out("coarsen", "segment_sizes.csv"),
        "plot": out("coarsen", "recovery.png"),
    }


def values_table(scores: DataFrame, cfg: Config) -> DataFrame:
    """``customer_id`` and ``value__{arm}`` (the allocator's net value) for every arm."""
    from causal_targeting.allocation.problem import values_frame

    value_model, _, _ = allocation_problem(cfg)
    arms = list(cfg.data.arms)
    id_type = scores.schema["customer_id"].dataType.simpleString()
    schema = f"customer_id {id_type}, " + ", ".join(f"`value__{arm}` double" for arm in arms)

    def values(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            frame = values_frame(batch, value_model, arms)
            yield pd.concat([batch[["customer_id"]], frame], axis=1)

    return scores.mapInPandas(values, schema)


def coarsen(cfg: Config, spark: SparkSession | None = None) -> CoarsenResult:
    """Choose the K offers of the fine menu worth running; write the menu for the allocate stage.

    Each customer's expected incremental profit under every offer is the allocator's net value
    ``value__{arm}``; customers reduce to a weighted set the driver holds, K offers are chosen
    for K = 1..k_max (ours beside the baselines), K is the smallest reaching
    ``coarsen.target_share``, and every customer is assigned on the executors to check sizes.
    """
    from causal_targeting.coarsening.distributed import coarsen_offers
    from causal_targeting.coarsening.report import plot_recovery

    spark = spark or get_spark(cfg.spark)
    settings = cfg.coarsen
    scores = read_table_at(spark, score_paths(cfg)["scores"], "scores")
    arms = list(cfg.data.arms)
    menu = coarsen_offers(
        values_table(scores, cfg),
        [f"value__{arm}" for arm in arms],
        offer_names=arms,
        k_max=settings.k_max,
        target_share=settings.target_share,
        restarts=settings.restarts,
        seed=cfg.seed,
        reduction=settings.reduction,
        reduction_size=settings.reduction_size,
        min_share=settings.min_share,
        max_share=settings.max_share,
        size_margin=settings.size_margin,
        allow_no_offer=settings.allow_no_offer,
        grid_step=settings.grid_step,
    )
    paths = coarsen_paths(cfg)
    write_text(menu.curve.to_csv(index=False), paths["recovery"])
    write_text(menu.sizes.to_csv(index=False), paths["sizes"])
    plot_recovery(menu.curve, paths["plot"], target_share=settings.target_share)
    write_json(
        {
            "offers": menu.offers,
            "k": menu.k,
            "realized_share": menu.realized_share,
            "reduction": {
                "method": menu.reduction.method,
                "size": menu.reduction.size,
                "loss_share": menu.reduction.loss_share,
                "loss_bound_share": menu.reduction.loss_bound_share,
            },
            "potentials": None if menu.potentials is None else list(map(float, menu.potentials)),
        },
        paths["menu"],
    )
    return CoarsenResult(menu.offers, menu.k, menu.realized_share, menu.curve, paths)
