"""The train stage: cross-fit the candidate learners on a stratified sample, choose one by the
out-of-fold value of its decisions, measure it, register its refit on all sampled rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from causal_targeting import tracking
from causal_targeting.config.data import CLUSTER_COLUMN
from causal_targeting.data import manifest
from causal_targeting.data.contract import EXPERIMENT
from causal_targeting.data.io import read_output, write_json, write_table, write_text
from causal_targeting.layout import ingest_paths, train_paths
from causal_targeting.learners.design import check_holdout, kept_shares, sampled_design
from causal_targeting.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from causal_targeting.config import Config
    from causal_targeting.learners.base import Tuning
    from causal_targeting.learners.model import UpliftModel
    from causal_targeting.learners.uplift import UpliftLearner
    from causal_targeting.value import ValueModel


@dataclass(frozen=True)
class TrainResult:
    """What the train stage registered and measured."""

    model_uri: str
    version: str
    run_id: str
    metrics: pd.DataFrame
    promotion: tracking.Promotion | None
    paths: dict[str, str]
    comparison: pd.DataFrame
    learner: str
    sample: pd.DataFrame


def candidates(cfg: Config) -> list[UpliftLearner]:
    """The candidate learners (unfitted): T, X, DR, their ensemble and risk for ``train.learner:
    auto``, else the one named; cross-fitted on ``train.folds`` folds, tuned, seeded from the
    config."""
    from causal_targeting.learners.uplift import LEARNER_CLASSES

    kinds = list(LEARNER_CLASSES) if cfg.train.learner == "auto" else [cfg.train.learner]
    common = {
        "params": cfg.train.params,
        "n_estimators": cfg.train.n_estimators,
        "seed": cfg.seed,
        "n_folds": cfg.train.folds,
        "tune": True,
        "tune_rows": cfg.train.tune_rows,
        "propensity_clip": cfg.train.propensity_clip,
        "bag": cfg.train.bag,
    }
    return [LEARNER_CLASSES[kind](**common) for kind in kinds]


def fit_arguments(cfg: Config, sample: pd.DataFrame | None = None) -> dict[str, object]:
    """The learner's ``fit`` arguments for the canonical experiment table, or for its per-arm
    sample (:func:`sample_summary`), whose design probabilities among the kept rows then replace
    the configured ones."""
    data = cfg.data
    design = data.design_probabilities()
    if design is not None and sample is not None:
        design = sample["design"].to_dict()
    return {
        "features": data.features,
        "treatment": "treatment",
        "control": data.control,
        "arms": data.arms,
        "outcomes": data.outcomes,
        "propensity": "propensity" if data.propensity else None,
        "weight": "weight" if data.weight else None,
        "design_propensity": design,
    }


def sample_summary(
    rows: Mapping[str, int], cap: int, design: Mapping[str, float] | None
) -> pd.DataFrame:
    """One row per arm (index: the arm, in ``rows``' order): ``rows`` in the experiment,
    ``kept`` by the per-arm sample of at most ``cap``, ``share`` kept
    (:func:`~causal_targeting.learners.design.kept_shares`), and ``design``, the arm's design
    probability among the kept rows (:func:`~causal_targeting.learners.design.sampled_design`
    of the known ``design``; NaN when unknown)."""
    shares = kept_shares(rows, cap)
    sampled = sampled_design(design, shares) if design is not None else {}
    return pd.DataFrame(
        {
            "rows": [int(n) for n in rows.values()],
            "kept": [min(int(n), cap) for n in rows.values()],
            "share": list(shares.values()),
            "design": [sampled.get(arm, np.nan) for arm in rows],
        },
        index=pd.Index(list(rows), name="arm"),
    )


def promotion_score(metrics: pd.DataFrame, cfg: Config) -> float:
    """Mean Qini over arms of the promotion outcome (normalized when it is binary) on the
    evaluated rows (out of fold, or the holdout)."""
    outcome = cfg.train.promotion_outcome or next(iter(cfg.data.outcomes))
    column = "qini" if cfg.data.outcomes[outcome] == "binary" else "qini_unnormalized"
    return float(metrics.loc[metrics["outcome"] == outcome, column].mean())  # NaN when every one is


def comparison_rows(
    scored: DataFrame,
    columns: Sequence[str],
    score_columns: Mapping[str, Sequence[str]],
    cfg: Config,
) -> dict[str, pd.DataFrame]:
    """Each learner's scored experiment rows as the learner comparison reads them, from the
    table of every learner's out-of-fold scores beside the rows' own ``columns``
    (:func:`~causal_targeting.learners.spark_fit.out_of_fold_scores_spark`): collected once,
    without the feature columns (treatment, outcomes, weight, score columns: a fraction of the
    rows' width), in ``customer_id`` order (every learner's rows in the same order, so one
    bootstrap reweights them alike)."""
    from causal_targeting.learners.uplift import learner_view

    features = set(cfg.data.features)
    own = [column for column in columns if column not in features]
    views = {kind: learner_view(own, kind, names) for kind, names in score_columns.items()}
    kept = list(dict.fromkeys(name for view in views.values() for name in view))
    frame = scored.select(*[f"`{name}`" for name in kept]).toPandas()
    frame = frame.sort_values("customer_id", ignore_index=True)
    return {kind: frame[list(view)].rename(columns=view) for kind, view in views.items()}


def holdout_with_scores(holdout: DataFrame, model: UpliftModel, cfg: Config) -> DataFrame:
    """The holdout experiment rows joined with the model's scores of them (scored rows of the
    same columns as the out-of-fold rows)."""
    from causal_targeting.scoring import score

    scores = score(holdout, model, "holdout", engine="lightgbm", threads=cfg.score.threads)
    return holdout.join(scores.drop("model_version"), on="customer_id")


def selection_value_model(cfg: Config) -> ValueModel:
    """The configured value model; without ``allocation.weights`` one with no weights (the
    selection then falls back to the Qini)."""
    from causal_targeting.decision import allocation_problem
    from causal_targeting.value import ValueModel

    return allocation_problem(cfg)[0] if cfg.allocation.weights else ValueModel(weights={})


def tuning_metrics(tuning: dict[str, Tuning]) -> dict[str, float]:
    """The chosen tree count and cross-validated loss of every tuned base model, for MLflow."""
    return {
        f"{name}__{key}": float(value)
        for key, tuned in tuning.items()
        for name, value in (("cv_trees", tuned.n_estimators), ("cv_loss", tuned.loss))
    }


def comparison_metrics(comparison: pd.DataFrame) -> dict[str, float]:
    """The learner comparison's figures (every column but the learner and the chosen flag) as
    ``oof_{column}__{learner}`` for MLflow."""
    figures = comparison.columns.drop(["learner", "chosen"])
    return {
        f"oof_{column}__{row['learner']}": float(row[column])
        for _, row in comparison.iterrows()
        for column in figures
    }


def metric_dict(metrics: pd.DataFrame) -> dict[str, float]:
    """Holdout metrics as ``holdout_{metric}__{outcome}__{arm}`` for MLflow."""
    return {
        f"holdout_{name}__{row['outcome']}__{row['arm']}": float(row[name])
        for _, row in metrics.iterrows()
        for name in ("auuc", "qini", "qini_unnormalized", "auuc_unnormalized")
    }


def train(
    cfg: Config, spark: SparkSession | None = None, promote: bool | None = None
) -> TrainResult:
    """Cross-fit the candidate learners, choose one, measure it, register its refit.

    The canonical experiment table (the ingest stage's output) is sampled per arm (at most
    ``train.cap_per_arm`` rows each); with ``train.holdout_fraction`` > 0 an untouched holdout
    is split off by a hash of ``customer_id`` and the seed. The other rows get ``train.folds``
    folds stratified by arm (with ``data.cluster``, the holdout and the folds take whole
    clusters: :func:`~causal_targeting.learners.spark_fit.assign_folds`); every candidate
    (:func:`candidates`) is tuned and fitted on all of them and outside each fold on the
    executors, its base models shared, and scores every row
    out of fold. The candidates are compared on those rows (:func:`~causal_targeting.selection.
    learner_comparison`) and the chosen one's model on all rows (with ``train.bag``, scoring the
    mean of it and its models outside each fold) is registered as a new version
    with the alias ``challenger``; with ``promote`` the alias ``champion`` moves to it when its
    Qini is no worse. The scored rows written for evaluation (and measured by Qini and AUUC
    per arm and outcome) are the chosen learner's out-of-fold rows, or the holdout scored by
    its model when there is one.
    """
    from causal_targeting.evaluation.distributed import uplift_table_spark
    from causal_targeting.learners.importance import feature_importance
    from causal_targeting.learners.spark_fit import (
        FOLD,
        arm_rows,
        assign_folds,
        fit_candidates_on_spark,
        learner_rows,
        out_of_fold_scores_spark,
        stratified_sample,
        train_holdout_split,
        with_sampled_propensity,
    )
    from causal_targeting.selection import chosen_learner, learner_comparison

    spark = spark or get_spark(cfg.spark)
    started = manifest.begin(cfg, "train")
    promote = cfg.train.promote if promote is None else promote
    data = cfg.data
    experiment = read_output(spark, ingest_paths(cfg)["experiment"], EXPERIMENT)
    arms = [data.control, *data.arms]
    ranges = arm_rows(experiment, "treatment", arms, "propensity" if data.propensity else None)
    counts, cap = dict(ranges["rows"]), cfg.train.cap_per_arm
    sampled = sample_summary(counts, cap, data.design_probabilities())
    sample = stratified_sample(experiment, "treatment", arms, cap, cfg.seed, rows=counts)
    if data.propensity:
        sample = with_sampled_propensity(sample, ranges, sampled["share"].to_dict())
    cluster = CLUSTER_COLUMN if data.cluster else None
    fit_rows, holdout = train_holdout_split(
        sample, cfg.train.holdout_fraction, cfg.seed, cluster or "customer_id"
    )
    evaluated = cfg.train.holdout_fraction > 0
    held_out = arm_rows(holdout, "treatment", arms)["rows"].to_dict() if evaluated else {}
    check_holdout(held_out, arms, cfg.train.holdout_fraction)
    rows = assign_folds(fit_rows, "treatment", cfg.train.folds, cfg.seed, cluster=cluster).cache()
    fits, tuning = fit_candidates_on_spark(rows, candidates(cfg), **fit_arguments(cfg, sampled))
    columns = [column for column in rows.columns if column != FOLD]
    score_columns = {kind: model.score_columns() for kind, (model, _) in fits.items()}
    oof = out_of_fold_scores_spark(
        rows, {kind: fold_models for kind, (_, fold_models) in fits.items()}
    ).cache()
    comparison = learner_comparison(
        comparison_rows(oof, columns, score_columns, cfg),
        selection_value_model(cfg),
        data.arms,
        data.control,
        data.outcomes,
        reps=cfg.evaluate.bootstrap_reps,
        alpha=cfg.evaluate.alpha,
        seed=cfg.seed,
        confidence=cfg.allocation.min_gain_confidence,
    )
    learner = chosen_learner(comparison)
    model = fits[learner][0]
    scored = (
        holdout_with_scores(holdout, model, cfg).cache()
        if evaluated
        else learner_rows(oof, columns, learner, score_columns[learner])
    )
    metrics, curves = uplift_table_spark(
        scored,
        arms=data.arms,
        control=data.control,
        outcome_kinds=data.outcomes,
        weight_col="weight" if data.weight else None,
        buckets=cfg.train.metric_buckets,
        directions=data.directions,
    )
    paths = train_paths(cfg)
    tracking.configure(cfg.tracking.uri, cfg.tracking.experiment, cfg.tracking.artifact_location)
    with tracking.start_run(run_name=f"{cfg.name}-train", tags={"stage": "train"}) as run:
        tracking.log_config(cfg.model_dump(mode="json"))
        tracking.log_metrics(
            {**metric_dict(metrics), **tuning_metrics(tuning), **comparison_metrics(comparison)}
        )
        tracking.log_dict({key: asdict(t) for key, t in tuning.items()}, "tuning.json")
        tracking.log_frame(comparison, "learner_comparison.csv")
        tracking.log_frame(feature_importance(model), "feature_importance.csv")
        version = tracking.register(
            model, {}, cfg.tracking.model_name, promotion_score(metrics, cfg)
        )
        promotion = tracking.promote(cfg.tracking.model_name, version) if promote else None
    write_table(scored, paths["holdout"])
    write_text(metrics.to_csv(index=False), paths["metrics"])
    write_text(curves.to_csv(index=False), paths["curves"])
    write_text(comparison.to_csv(index=False), paths["comparison"])
    model_uri = f"models:/{cfg.tracking.model_name}/{version}"
    write_json(
        {
            "model_uri": model_uri,
            "run_id": run.info.run_id,
            "learner": learner,
            "evidence": "holdout" if evaluated else "out_of_fold",
            "rows": {"fit": rows.count(), "holdout": sum(held_out.values())},
            "sample": sampled.reset_index().to_dict(orient="records"),
            "metrics": metrics.to_dict(orient="records"),
            "comparison": comparison.to_dict(orient="records"),
            "tuning": {key: asdict(t) for key, t in tuning.items()},
            "promotion": None if promotion is None else promotion.__dict__,
        },
        paths["report"],
    )
    manifest.finish(cfg, started, run.info.run_id, f"{cfg.tracking.model_name}/{version}")
    return TrainResult(
        model_uri, version, run.info.run_id, metrics, promotion, paths, comparison, learner, sampled
    )
