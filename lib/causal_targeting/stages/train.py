"""The train stage: fit the uplift model on a stratified sample, measure it, register it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from causal_targeting import tracking
from causal_targeting.data import manifest
from causal_targeting.data.contract import EXPERIMENT
from causal_targeting.data.io import read_output, write_json, write_table, write_text
from causal_targeting.layout import ingest_paths, train_paths
from causal_targeting.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from causal_targeting.config import Config
    from causal_targeting.learners.uplift import UpliftLearner, UpliftModel


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
    started = manifest.begin(cfg, "train")
    promote = cfg.train.promote if promote is None else promote
    data = cfg.data
    experiment = read_output(spark, ingest_paths(cfg)["experiment"], EXPERIMENT)
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
    manifest.finish(cfg, started, run.info.run_id, f"{cfg.tracking.model_name}/{version}")
    return TrainResult(model_uri, version, run.info.run_id, metrics, promotion, paths)
