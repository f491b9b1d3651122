"""The ingest stage: validate the tables, quarantine bad rows, summarize each arm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from causal_targeting.config.data import CLUSTER_COLUMN
from causal_targeting.data import manifest
from causal_targeting.data.balance import imbalance_lines
from causal_targeting.data.contract import CUSTOMERS, EXPERIMENT, release, validate
from causal_targeting.data.io import read_table, write_json, write_table, write_text
from causal_targeting.evaluation.abtest import effects_vs_control
from causal_targeting.evaluation.distributed import cluster_variances_spark
from causal_targeting.layout import ingest_paths
from causal_targeting.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from causal_targeting.config import Config


@dataclass(frozen=True)
class IngestResult:
    """What the ingest stage wrote and found."""

    paths: dict[str, str]
    summary: pd.DataFrame
    rows_read: dict[str, int]
    quarantined: dict[str, dict[str, int]]
    imbalance: list[str]


def ingest(cfg: Config, spark: SparkSession | None = None) -> IngestResult:
    """Validate the experiment and customer tables, quarantine bad rows, summarize each arm.

    The effect of each arm against control is read with the rows as independent, or, with
    ``data.cluster``, with each arm's mean's cluster-robust variance
    (:func:`~causal_targeting.evaluation.distributed.cluster_variances_spark`).

    A CSV table is parsed once (after the schema inference) and cached for the jobs that read
    it (the duplicate-id aggregation, the summary aggregation, the clean rows' write, the
    quarantine's write); a columnar one (Parquet, Delta, a catalog table) is read again by
    each, which measured faster than caching its columns (benchmarks/ingest_checks.py).

    Writes the canonical tables, the quarantine table, the per-arm summary (CSV) and a JSON
    report; raises :class:`~causal_targeting.errors.DataContractError` before writing anything
    when a table breaks the contract.
    """
    spark = spark or get_spark(cfg.spark)
    started = manifest.begin(cfg, "ingest")
    data = cfg.data
    experiment_raw = read_table(spark, data.experiment, EXPERIMENT)
    customers_raw = read_table(spark, data.customers, CUSTOMERS) if data.customers else None
    sources = {EXPERIMENT: data.experiment, CUSTOMERS: data.customers}
    cache = [name for name, source in sources.items() if source and source.format == "csv"]
    tables = validate(experiment_raw, customers_raw, data, cfg.ingest, cache)
    stats = tables.arm_stats
    if data.cluster:
        robust = cluster_variances_spark(
            tables.experiment, outcomes=list(data.outcomes), cluster_col=CLUSTER_COLUMN
        )
        stats = stats.merge(robust, on=["arm", "outcome"])
    summary = effects_vs_control(
        stats, control=data.control, outcome_kinds=data.outcomes, alpha=cfg.ingest.alpha
    )
    paths = ingest_paths(cfg)
    try:
        write_table(tables.experiment, paths["experiment"])
        write_table(tables.customers, paths["customers"])
        write_table(tables.quarantine, paths["quarantine"])
    finally:
        release(tables.cached)
    write_text(summary.to_csv(index=False), paths["summary"])
    write_json(
        {
            "rows_read": tables.rows_read,
            "quarantined": tables.quarantined,
            "arms": tables.arm_stats.to_dict(orient="records"),
            "effects": summary.to_dict(orient="records"),
            "alpha": cfg.ingest.alpha,
            "imbalanced_features": tables.imbalanced.to_dict(orient="records"),
            "balance_checked": data.propensity is None,
        },
        paths["report"],
    )
    manifest.finish(cfg, started)
    return IngestResult(
        paths, summary, tables.rows_read, tables.quarantined, imbalance_lines(tables.imbalanced)
    )
