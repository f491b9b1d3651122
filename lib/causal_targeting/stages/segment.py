"""The segment stage: the two-stage intent model fitted, registered and scored, beside the
model-free uplift strata, and judged against the truth when the data carry one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from causal_targeting import tracking
from causal_targeting.data.contract import CUSTOMERS, EXPERIMENT
from causal_targeting.data.io import read_output, write_json, write_table, write_text
from causal_targeting.errors import ConfigError, DataContractError
from causal_targeting.layout import ingest_paths, score_paths, segment_paths
from causal_targeting.spark import get_spark

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import DataFrame, SparkSession

    from causal_targeting.config import Config
    from causal_targeting.segments.model import IntentModel

STRATA = "strata__"
"""Prefix of the uplift strata's columns beside the model's (``strata__p__organic``, ...)."""
EXPOSED = "exposed"
TRUE_TYPE = "true_type"


@dataclass(frozen=True)
class SegmentResult:
    """What the segment stage registered and wrote.

    mix: one row per segment, the share of customers in it by the model (``model``) and by the
    uplift strata (``strata``). recovery: on simulator data, AUC, PR-AUC, macro-F1 and Brier
    score of each method against the true types (None without a truth column).
    """

    model_uri: str
    version: str
    rows: int
    exposure_share: float
    mix: pd.DataFrame
    recovery: pd.DataFrame | None
    paths: dict[str, str]


def conversion_outcome(cfg: Config) -> str:
    """``segment.converted``, else the first binary outcome of ``data.outcomes``."""
    if cfg.segment.converted is not None:
        return cfg.segment.converted
    binary = [name for name, kind in cfg.data.outcomes.items() if kind == "binary"]
    if not binary:
        raise ConfigError(
            "segment.converted is not set and data.outcomes has no binary outcome; the segment "
            "model needs a 0/1 conversion: set segment.converted=<column>"
        )
    return binary[0]


def with_exposure(pdf: pd.DataFrame, cfg: Config) -> tuple[pd.DataFrame, str]:
    """The experiment rows and the name of their 0/1 exposure column: ``segment.exposed``, else
    ``exposed`` = 1 where the treatment is not the control (any arm counts as exposure)."""
    if cfg.segment.exposed is not None:
        return pdf, cfg.segment.exposed
    exposed = (pdf["treatment"] != cfg.data.control).astype(np.int64)
    return pdf.assign(**{EXPOSED: exposed}), EXPOSED


def fit_intent_model(sample: pd.DataFrame, cfg: Config) -> IntentModel:
    """The configured :class:`~causal_targeting.segments.model.IntentLearner` fitted on the
    experiment rows ``sample`` (seeded from the config)."""
    from causal_targeting.segments.model import IntentLearner

    rows, exposed = with_exposure(sample, cfg)
    learner = IntentLearner(**cfg.segment.learner_arguments(cfg.seed))
    fitted = learner.fit(
        rows,
        features=cfg.data.features,
        exposed=exposed,
        converted=conversion_outcome(cfg),
        attributed=cfg.segment.attributed,
        id_column="customer_id",
    )
    return fitted.model_


def strata_scores(
    scores: DataFrame, cfg: Config, base_rates: tuple[float, float, float] | None
) -> DataFrame:
    """``customer_id`` and the uplift strata (``strata__p__...``, ``strata__segment``) of every
    row of the uplift scores, computed per partition by
    :func:`~causal_targeting.segments.strata.best_arm_strata`; segments by lift over the intent
    model's ``base_rates`` (the same population shares for both methods), or by argmax."""
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    from causal_targeting.segments.combine import PROBABILITY_COLUMNS, SEGMENT
    from causal_targeting.segments.strata import best_arm_strata

    outcome, control, arms = conversion_outcome(cfg), cfg.data.control, list(cfg.data.arms)
    thresholds = dict(cfg.segment.thresholds)
    columns = [f"mu__{outcome}__{a}" for a in [control, *arms]]
    columns += [f"tau__{outcome}__{a}" for a in arms]
    missing = [c for c in columns if c not in scores.columns]
    if missing:
        raise DataContractError(
            "scores",
            f"the uplift strata need {', '.join(missing)}, which the scores lack",
            f"score the conversion outcome '{outcome}' with the uplift model (train and score "
            "with it in data.outcomes), or set segment.converted",
        )
    fields = [StructField(STRATA + c, DoubleType()) for c in PROBABILITY_COLUMNS]
    schema = StructType(
        [scores.schema["customer_id"], *fields, StructField(STRATA + SEGMENT, StringType())]
    )

    def batches(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in frames:
            strata = best_arm_strata(pdf, outcome, control, arms, thresholds, base_rates)
            strata = strata.add_prefix(STRATA)
            yield pd.concat([pdf[["customer_id"]], strata], axis=1)

    return scores.select("customer_id", *columns).mapInPandas(batches, schema)


def segment_counts(table: DataFrame) -> pd.DataFrame:
    """Customers of ``table`` by the model's segment and the uplift strata's, in one aggregation:
    columns ``segment``, ``strata__segment``, ``count``."""
    from causal_targeting.segments.combine import SEGMENT

    return table.groupBy(SEGMENT, STRATA + SEGMENT).count().toPandas()


def segment_mix(counts: pd.DataFrame) -> pd.DataFrame:
    """Share of customers in each segment, by the model (``model``) and by the uplift strata
    (``strata``), from :func:`segment_counts`."""
    from causal_targeting.segments.combine import SEGMENT, SEGMENTS

    shares = {}
    for method, column in (("model", SEGMENT), ("strata", STRATA + SEGMENT)):
        by_segment = counts.groupby(column)["count"].sum()
        shares[method] = [by_segment.get(s, 0) / by_segment.sum() for s in SEGMENTS]
    return pd.DataFrame({"segment": list(SEGMENTS), **shares})


def recovery_frames(
    truth: pd.DataFrame, fit_rows: pd.DataFrame, cfg: Config
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The recovery table and the reliability curves of each method on ``truth`` (customers with
    ``true_type``, the features, and both methods' columns); the naive attribution classifier,
    fitted on ``fit_rows``, joins them when ``segment.attributed`` is set (missing labels count
    as negatives, as a naive user would take them)."""
    from causal_targeting.segments.combine import PROBABILITY_COLUMNS, SEGMENT
    from causal_targeting.segments.evidence import (
        naive_attribution_scores,
        recovery_table,
        reliability,
    )

    ours = [*PROBABILITY_COLUMNS, SEGMENT]
    methods = {
        "segment model": truth[ours],
        "uplift strata": truth[[STRATA + c for c in ours]].set_axis(ours, axis=1),
    }
    attributed = cfg.segment.attributed
    if attributed is not None:
        labels = fit_rows.assign(**{attributed: fit_rows[attributed].fillna(0.0)})
        naive = naive_attribution_scores(
            labels, truth, cfg.data.features, attributed, cfg.seed, cfg.segment.params
        )
        methods["naive attribution"] = pd.DataFrame({PROBABILITY_COLUMNS[0]: naive})
    true_type = truth[TRUE_TYPE].to_numpy()
    curves = pd.concat(
        [reliability(true_type, frame).assign(method=name) for name, frame in methods.items()]
    )
    return recovery_table(true_type, methods), curves


def segment(cfg: Config, spark: SparkSession | None = None) -> SegmentResult:
    """Fit the intent model, register it, score every customer, and write the segments.

    The experiment (the ingest stage's output) is sampled per arm like the train stage's
    (``train.cap_per_arm``); the exposure share e of the label correction is the sample's own,
    and since sampling within an arm keeps each arm's conversion rates, the segments do not
    depend on the cap. The model is registered as a new version of
    ``tracking.segment_model_name`` and scored through the same broadcast + mapInPandas path as
    the uplift model; the uplift strata come from the score stage's scores. On data with a
    ``true_type`` column (the simulator's) the methods are judged against it on a sample of the
    customers. Every check (exposure identified, binary conversion, features of the customer
    table) runs before anything is registered or written.
    """
    from causal_targeting.learners.spark_fit import stratified_sample
    from causal_targeting.scoring import check_customer_features, table_engine
    from causal_targeting.scoring import score as score_table
    from causal_targeting.segments.pyfunc import log_intent_model

    spark = spark or get_spark(cfg.spark)
    data = cfg.data
    experiment = read_output(spark, ingest_paths(cfg)["experiment"], EXPERIMENT)
    customers = read_output(spark, ingest_paths(cfg)["customers"], CUSTOMERS)
    uplift = read_output(spark, score_paths(cfg)["scores"], "scores")
    fit_rows = stratified_sample(
        experiment, "treatment", [data.control, *data.arms], cfg.train.cap_per_arm, cfg.seed
    ).toPandas()
    model = fit_intent_model(fit_rows, cfg)
    check_customer_features(customers.schema, model)
    strata = strata_scores(uplift, cfg, model.base_rates)
    paths = segment_paths(cfg)
    name = cfg.tracking.segment_model_name
    tracking.configure(cfg.tracking.uri, cfg.tracking.experiment, cfg.tracking.artifact_location)
    with tracking.start_run(run_name=f"{cfg.name}-segment", tags={"stage": "segment"}):
        tracking.log_config(cfg.model_dump(mode="json"))
        version = str(log_intent_model(model, registered_model_name=name).registered_model_version)
        scores = score_table(
            customers,
            model,
            version,
            engine=table_engine(cfg.score.engine, customers, model, cfg.score.cache_dir),
            threads=cfg.score.threads,
            cache_dir=cfg.score.cache_dir,
        )
        write_table(scores.join(strata, on="customer_id"), paths["scores"])
        table = spark.read.parquet(paths["scores"])
        counts = segment_counts(table)
        rows = int(counts["count"].sum())
        mix = segment_mix(counts)
        recovery = None
        if TRUE_TYPE in customers.columns:
            recovery = judged(table, customers, fit_rows, rows, cfg, paths)
            tracking.log_frame(recovery, "segment_recovery.csv")
        tracking.log_frame(mix, "segment_mix.csv")
    model_uri = f"models:/{name}/{version}"
    write_json(
        {
            "model_uri": model_uri,
            "rows": rows,
            "fit_rows": len(fit_rows),
            "exposure_share": model.exposure_share,
            "mix": mix.to_dict(orient="records"),
            "recovery": None if recovery is None else recovery.to_dict(orient="records"),
        },
        paths["report"],
    )
    return SegmentResult(model_uri, version, rows, model.exposure_share, mix, recovery, paths)


def recovery_rows(
    table: DataFrame,
    customers: DataFrame,
    features: Iterable[str],
    rows: int,
    size: int,
    seed: int,
) -> pd.DataFrame:
    """The scored customers the recovery is judged on, joined to their true type and
    ``features``: those of the ``rows`` whose id hashes below size / rows (about ``size``; the
    same customers however the tables are partitioned or ordered), in customer_id order."""
    from causal_targeting.sampling import hash_uniform

    fraction = min(1.0, size / max(rows, 1))
    truth = customers.select("customer_id", TRUE_TYPE, *features)
    drawn = hash_uniform("customer_id", seed, "segment_recovery") < fraction
    sample = table.join(truth, on="customer_id").where(drawn).toPandas()
    return sample.sort_values("customer_id", ignore_index=True)


def judged(
    table: DataFrame,
    customers: DataFrame,
    fit_rows: pd.DataFrame,
    rows: int,
    cfg: Config,
    paths: dict[str, str],
) -> pd.DataFrame:
    """Recovery of the true types on about ``train.cap_per_arm`` customers (:func:`recovery_rows`);
    writes the recovery table, the reliability curves and their plot; returns the table."""
    from causal_targeting.evaluation.figures import reliability_figure
    from causal_targeting.plots import save_png

    sample = recovery_rows(
        table, customers, cfg.data.features, rows, cfg.train.cap_per_arm, cfg.seed
    )
    recovery, curves = recovery_frames(sample, fit_rows, cfg)
    write_text(recovery.to_csv(index=False), paths["recovery"])
    write_text(curves.to_csv(index=False), paths["reliability"])
    save_png(reliability_figure(curves), paths["plot"])
    return recovery
