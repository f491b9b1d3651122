"""Spark edges of the evaluation: sums computed with one ``groupBy``, maths in the pandas cores.

- :func:`score_bucket_stats_spark`: per score-quantile bucket sums for one arm against control,
  the input of :func:`causal_targeting.evaluation.uplift.curves_from_buckets`;
- :func:`uplift_metrics_spark` / :func:`uplift_table_spark`: AUUC, Qini and curves per arm and
  outcome from those sums;
- :func:`arm_stats_spark`: ``n``, ``mean``, ``var`` per arm and outcome, the input of
  :func:`causal_targeting.evaluation.abtest.effects_vs_control`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from causal_targeting.errors import ConfigError, DataContractError
from causal_targeting.evaluation.abtest import OUTCOME_KINDS
from causal_targeting.evaluation.uplift import (
    BUCKET_COLUMNS,
    HOLDOUT_TABLE,
    curves_from_buckets,
    metrics_from_buckets,
)

METRIC_COLUMNS = [
    "arm",
    "outcome",
    "n_t",
    "n_c",
    "auuc",
    "qini",
    "auuc_unnormalized",
    "qini_unnormalized",
]


def score_bucket_stats_spark(
    df: DataFrame,
    *,
    score_col: str,
    outcome_col: str,
    arm: str,
    control: str,
    treatment_col: str = "treatment",
    weight_col: str | None = None,
    buckets: int = 100,
    relative_error: float = 1e-4,
    sign: float = 1.0,
    offset: float = 0.0,
) -> pd.DataFrame:
    """Per-bucket ``n_t, n_c, sum_y_t, sum_y_c`` of the rows of ``arm`` and ``control``.

    The outcome is read as ``offset + sign * y`` and the score as ``sign * score``: ``sign = -1``
    where less of the outcome is better (``offset = 1`` keeps a binary outcome 0/1: the Qini of
    "the bad event did not happen", ranked by the predicted reduction).

    Buckets are score quantiles: the ``buckets - 1`` inner quantiles of ``score_col`` over the
    two arms' rows (``approxQuantile`` with ``relative_error``; tied quantiles merge buckets)
    split the scores, a row's bucket being the number of splits at or below its score (so tied
    scores share a bucket); one ``groupBy`` sums each bucket. Highest bucket first, as
    :func:`~causal_targeting.evaluation.uplift.bucket_stats` returns it.
    """
    if buckets < 1:
        raise ConfigError(f"evaluation buckets={buckets}: use a positive number, e.g. 100")
    needed = [score_col, outcome_col, treatment_col, *([weight_col] if weight_col else [])]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataContractError(
            HOLDOUT_TABLE,
            f"missing columns {missing}",
            "score the holdout rows and keep outcomes",
            column=missing[0],
        )
    rows = df.where(F.col(treatment_col).isin(arm, control)).select(
        (F.lit(sign) * F.col(score_col).cast("double")).alias("score"),
        (F.lit(offset) + F.lit(sign) * F.col(outcome_col).cast("double")).alias("y"),
        (F.col(treatment_col) == arm).cast("double").alias("t"),
        (F.col(weight_col).cast("double") if weight_col else F.lit(1.0)).alias("w"),
    )
    probs = list(np.linspace(0, 1, buckets + 1)[1:-1])
    inner = sorted(set(rows.approxQuantile("score", probs, relative_error))) if probs else []
    splits = F.array(*[F.lit(float(v)) for v in inner])
    bucketed = rows.withColumn(
        "bucket", F.aggregate(splits, F.lit(0), lambda k, v: k + (F.col("score") >= v).cast("int"))
    )
    sums = (
        bucketed.groupBy("bucket")
        .agg(
            F.sum(F.col("w") * F.col("t")).alias("n_t"),
            F.sum(F.col("w") * (1 - F.col("t"))).alias("n_c"),
            F.sum(F.col("w") * F.col("t") * F.col("y")).alias("sum_y_t"),
            F.sum(F.col("w") * (1 - F.col("t")) * F.col("y")).alias("sum_y_c"),
            F.sum(_invalid_row().cast("int")).alias("invalid"),
        )
        .toPandas()
    )
    if sums.empty or sums["invalid"].sum() > 0:
        raise DataContractError(
            HOLDOUT_TABLE,
            f"no rows of arms '{arm}'/'{control}', or rows with null/NaN outcome or score, or"
            " weight <= 0",
            "check the arm names and drop or fix those rows",
            column=score_col,
        )
    return sums.set_index("bucket").sort_index(ascending=False)[BUCKET_COLUMNS]


def _invalid_row() -> F.Column:
    """True for a row the metrics cannot use: null or NaN score or outcome, weight <= 0."""
    return (
        F.col("score").isNull()
        | F.isnan("score")
        | F.col("y").isNull()
        | F.isnan("y")
        | F.col("w").isNull()
        | (F.col("w") <= 0)
    )


def uplift_metrics_spark(
    df: DataFrame,
    *,
    score_col: str,
    outcome_col: str,
    arm: str,
    control: str,
    kind: str = "binary",
    treatment_col: str = "treatment",
    weight_col: str | None = None,
    buckets: int = 100,
    direction: str = "higher",
) -> tuple[dict[str, float], pd.DataFrame]:
    """AUUC and Qini (see :mod:`causal_targeting.evaluation.uplift`) and the curves, bucketed.

    ``direction="lower"`` (less of the outcome is better) measures the negated outcome ranked
    by the negated score (for a binary outcome, ``1 - y``), so a higher Qini is better either way.

    Returns:
        ``(metrics, curves)``: ``metrics`` has ``n_t``, ``n_c``, ``auuc``, ``qini`` (normalized,
        NaN unless ``kind == "binary"``) and their unnormalized values; ``curves`` has ``n``,
        ``uplift``, ``qini`` at the bucket boundaries.
    """
    if kind not in OUTCOME_KINDS:
        raise ConfigError(f"outcome '{outcome_col}' has kind '{kind}': use one of {OUTCOME_KINDS}")
    stats = score_bucket_stats_spark(
        df,
        score_col=score_col,
        outcome_col=outcome_col,
        arm=arm,
        control=control,
        treatment_col=treatment_col,
        weight_col=weight_col,
        buckets=buckets,
        sign=-1.0 if direction == "lower" else 1.0,
        offset=1.0 if direction == "lower" and kind == "binary" else 0.0,
    )
    metrics = {"n_t": float(stats["n_t"].sum()), "n_c": float(stats["n_c"].sum())}
    metrics |= metrics_from_buckets(stats, binary=kind == "binary")
    return metrics, curves_from_buckets(stats)


def uplift_table_spark(
    df: DataFrame,
    *,
    arms: Sequence[str],
    control: str,
    outcome_kinds: Mapping[str, str],
    treatment_col: str = "treatment",
    weight_col: str | None = None,
    buckets: int = 100,
    directions: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`uplift_metrics_spark` for every non-control arm and outcome, by ``tau__`` score;
    ``directions`` maps an outcome to ``"lower"`` where less of it is better (config
    ``data.directions``), so its metrics are measured in the better direction.

    Returns:
        ``(metrics, curves)``: one metrics row per (arm, outcome) with ``METRIC_COLUMNS``, and the
        curves stacked with ``arm`` and ``outcome`` columns.
    """
    rows, curves = [], []
    for outcome, kind in outcome_kinds.items():
        for arm in (a for a in arms if a != control):
            metrics, curve = uplift_metrics_spark(
                df,
                score_col=f"tau__{outcome}__{arm}",
                outcome_col=outcome,
                arm=arm,
                control=control,
                kind=kind,
                treatment_col=treatment_col,
                weight_col=weight_col,
                buckets=buckets,
                direction=(directions or {}).get(outcome, "higher"),
            )
            rows.append({"arm": arm, "outcome": outcome, **metrics})
            curves.append(curve.assign(arm=arm, outcome=outcome))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS), pd.concat(curves, ignore_index=True)


def arm_stats_spark(
    df: DataFrame, *, outcomes: Sequence[str], treatment_col: str = "treatment"
) -> pd.DataFrame:
    """``arm, outcome, n, mean, var`` (non-null rows, ddof=1) with one ``groupBy``."""
    aggs = [
        agg(F.col(o)).alias(f"{name}__{i}")
        for i, o in enumerate(outcomes)
        for name, agg in (("n", F.count), ("mean", F.avg), ("var", F.var_samp))
    ]
    wide = df.groupBy(F.col(treatment_col).alias("arm")).agg(*aggs).toPandas()
    parts = [
        pd.DataFrame(
            {
                "arm": wide["arm"],
                "outcome": o,
                "n": wide[f"n__{i}"],
                "mean": wide[f"mean__{i}"],
                "var": wide[f"var__{i}"],
            }
        )
        for i, o in enumerate(outcomes)
    ]
    return pd.concat(parts, ignore_index=True).sort_values(["outcome", "arm"], ignore_index=True)
