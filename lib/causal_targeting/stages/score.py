"""The score stage: every customer scored with a registered uplift model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from causal_targeting import tracking
from causal_targeting.data import manifest
from causal_targeting.data.contract import CUSTOMERS
from causal_targeting.data.io import read_output, write_json, write_table
from causal_targeting.layout import ingest_paths, score_paths
from causal_targeting.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from causal_targeting.config import Config


ROWS = "__rows"
"""The observed metric counting the customers scored (a name no feature can take)."""


@dataclass(frozen=True)
class ScoreResult:
    """What the score stage wrote."""

    model_uri: str
    version: str
    rows: int
    engine: str
    unseen_levels: dict[str, int]
    paths: dict[str, str]


def score(
    cfg: Config, spark: SparkSession | None = None, model_uri: str | None = None
) -> ScoreResult:
    """Score every customer with the model at ``model_uri`` (default: the configured one).

    The customer table is checked against the model's features before any work; unseen
    category levels are scored as LightGBM scores them and counted in the report. The rows and
    the unseen levels are observed while the scores are written (one pass over the customers).
    """
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    from causal_targeting.scoring import (
        check_customer_features,
        table_engine,
        unseen_level_counts,
        unseen_levels,
    )
    from causal_targeting.scoring import score as score_table

    spark = spark or get_spark(cfg.spark)
    started = manifest.begin(cfg, "score")
    uri = model_uri or cfg.model_uri()
    tracking.configure(cfg.tracking.uri, cfg.tracking.experiment, cfg.tracking.artifact_location)
    model, version = tracking.load_model(uri)
    customers = read_output(spark, ingest_paths(cfg)["customers"], CUSTOMERS)
    check_customer_features(customers.schema, model)  # before the observed columns are named
    engine = table_engine(cfg.score.engine, customers, model, cfg.score.cache_dir)
    counted = Observation("score")
    observed = customers.observe(
        counted, F.count(F.lit(1)).alias(ROWS), *unseen_level_counts(model)
    )
    scores = score_table(
        observed,
        model,
        version,
        engine=engine,
        threads=cfg.score.threads,
        cache_dir=cfg.score.cache_dir,
    )
    paths = score_paths(cfg)
    write_table(scores, paths["scores"])
    metrics = counted.get
    rows, unseen = int(metrics[ROWS]), unseen_levels(metrics, model)
    write_json(
        {
            "model_uri": uri,
            "version": version,
            "rows": rows,
            "engine": engine,
            "unseen_levels": unseen,
        },
        paths["report"],
    )
    manifest.finish(cfg, started, model_version=version)
    return ScoreResult(uri, version, rows, engine, unseen, paths)
