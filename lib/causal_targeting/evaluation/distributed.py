"""Spark edges of the evaluation: sums computed with one ``groupBy``, maths in the pandas cores.

- :func:`curve_bucket_stats_spark`: per score-quantile bucket sums of several curves (an arm
  against control on an outcome, :class:`Curve`) in two jobs, the input of
  :func:`causal_targeting.evaluation.uplift.curves_from_buckets`; :func:`score_bucket_stats_spark`
  for one;
- :func:`uplift_metrics_spark` / :func:`uplift_table_spark`: AUUC, Qini and curves per arm and
  outcome from those sums;
- :func:`arm_stats_spark`: ``n``, ``mean``, ``var`` per arm and outcome, the input of
  :func:`causal_targeting.evaluation.abtest.effects_vs_control`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from causal_targeting.errors import ConfigError, DataContractError, refuse_missing_columns
from causal_targeting.evaluation.abtest import (
    CLUSTER_MOMENTS,
    OUTCOME_KINDS,
    cluster_mean_variance,
)
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


@dataclass(frozen=True)
class Curve:
    """One uplift curve: the rows of ``arm`` and the control, ranked by ``sign * score_col``,
    measuring ``offset + sign * outcome_col`` (``sign = -1`` where less of the outcome is
    better; ``offset = 1`` keeps a binary outcome 0/1: the Qini of "the bad event did not
    happen", ranked by the predicted reduction)."""

    score_col: str
    outcome_col: str
    arm: str
    sign: float = 1.0
    offset: float = 0.0


def curve_bucket_stats_spark(
    df: DataFrame,
    curves: Sequence[Curve],
    *,
    control: str,
    treatment_col: str = "treatment",
    weight_col: str | None = None,
    buckets: int = 100,
    relative_error: float = 1e-4,
) -> list[pd.DataFrame]:
    """Per-bucket ``n_t, n_c, sum_y_t, sum_y_c`` of each curve's rows (its arm's and the
    control's), in two Spark jobs whatever the number of curves.

    Buckets are score quantiles: the ``buckets - 1`` inner quantiles of a curve's score over
    its rows (``percentile_approx`` with accuracy ``1 / relative_error``, one aggregation for
    every curve; tied quantiles merge buckets) split the scores, a row's bucket being the
    number of splits at or below its score (so tied scores share a bucket), found by a binary
    search written in SQL (:func:`_bucket`). Then each row gives one entry per curve it
    belongs to (``explode``) and one ``groupBy`` of (curve, bucket) sums them. Highest bucket
    first, as
    :func:`~causal_targeting.evaluation.uplift.bucket_stats` returns it.
    """
    if buckets < 1:
        raise ConfigError(f"evaluation buckets={buckets}: use a positive number, e.g. 100")
    shared = [treatment_col, *([weight_col] if weight_col else [])]
    for curve in curves:
        refuse_missing_columns(
            df.columns,
            [curve.score_col, curve.outcome_col, *shared],
            HOLDOUT_TABLE,
            "score the holdout rows and keep outcomes",
        )
    members = [F.col(treatment_col).isin(curve.arm, control) for curve in curves]
    scores = [f"__score{i}" for i in range(len(curves))]
    measured = [f"__y{i}" for i in range(len(curves))]
    df = df.select(
        *[F.col(name) for name in shared],
        *[
            (F.lit(c.sign) * F.col(c.score_col).cast("double")).alias(score)
            for c, score in zip(curves, scores, strict=True)
        ],
        *[
            (F.lit(c.offset) + F.lit(c.sign) * F.col(c.outcome_col).cast("double")).alias(y)
            for c, y in zip(curves, measured, strict=True)
        ],
    )
    probs = np.linspace(0, 1, buckets + 1)[1:-1]
    splits: list[list[float]] = [[] for _ in curves]
    if len(probs):
        accuracy = round(1 / relative_error)
        quantiles = df.agg(
            *[
                F.percentile_approx(F.when(member, F.col(score)), _sql_array(probs), accuracy)
                for member, score in zip(members, scores, strict=True)
            ]
        ).first()
        splits = [sorted(set(q or [])) for q in quantiles]
    weight = F.col(weight_col).cast("double") if weight_col else F.lit(1.0)
    entries = [
        F.when(
            member,
            F.struct(
                F.lit(i).alias("curve"),
                F.expr(_bucket(score, cuts)).alias("bucket"),
                F.col(score).alias("score"),
                F.col(y).alias("y"),
                (F.col(treatment_col) == c.arm).cast("double").alias("t"),
                weight.alias("w"),
            ),
        )
        for i, (c, member, score, y, cuts) in enumerate(
            zip(curves, members, scores, measured, splits, strict=True)
        )
    ]
    rows = df.select(F.explode(F.array(*entries)).alias("e")).where(F.col("e").isNotNull())
    sums = (
        rows.select("e.*")
        .groupBy("curve", "bucket")
        .agg(
            F.sum(F.col("w") * F.col("t")).alias("n_t"),
            F.sum(F.col("w") * (1 - F.col("t"))).alias("n_c"),
            F.sum(F.col("w") * F.col("t") * F.col("y")).alias("sum_y_t"),
            F.sum(F.col("w") * (1 - F.col("t")) * F.col("y")).alias("sum_y_c"),
            F.sum(_invalid_row().cast("int")).alias("invalid"),
        )
        .toPandas()
    )
    return [
        _curve_stats(sums[sums["curve"] == i], curve, control) for i, curve in enumerate(curves)
    ]


def _sql_double(value: float) -> str:
    """``value`` as an exact SQL double literal (NaN and infinities by name)."""
    value = float(value)
    if np.isfinite(value):
        return f"{value!r}D"
    name = "NaN" if np.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return f"CAST('{name}' AS DOUBLE)"


def _sql_array(values: Sequence[float]) -> F.Column:
    """``values`` as one literal array of doubles, parsed on the JVM in one call (a ``lit``
    each would cost a round trip to it per value)."""
    return F.expr(f"array({', '.join(_sql_double(v) for v in values)})")


def _bucket(column: str, splits: Sequence[float], lo: int = 0, hi: int | None = None) -> str:
    """SQL for the number of ``splits`` (sorted) at or below the column ``column``: a
    binary search in nested ``CASE WHEN`` (log2 of the splits' number of comparisons a row,
    compiled with the query), over ``splits[lo:hi]`` given that those before ``lo`` are at or
    below the value and those from ``hi`` on above it. NaN, above every number in Spark, is in
    the last bucket; null in the first (such rows are refused by their ``invalid`` count)."""
    hi = len(splits) if hi is None else hi
    if lo == hi:
        return str(lo)
    mid = (lo + hi) // 2
    above, below = _bucket(column, splits, mid + 1, hi), _bucket(column, splits, lo, mid)
    return f"CASE WHEN {column} >= {_sql_double(splits[mid])} THEN {above} ELSE {below} END"


def _curve_stats(sums: pd.DataFrame, curve: Curve, control: str) -> pd.DataFrame:
    """One curve's bucket sums, highest bucket first; DataContractError when it has no rows
    or a row the metrics cannot use."""
    if sums.empty or sums["invalid"].sum() > 0:
        raise DataContractError(
            HOLDOUT_TABLE,
            f"no rows of arms '{curve.arm}'/'{control}', or rows with null/NaN outcome or score,"
            " or weight <= 0",
            "check the arm names and drop or fix those rows",
            column=curve.score_col,
        )
    return sums.set_index("bucket").sort_index(ascending=False)[BUCKET_COLUMNS]


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
    """Per-bucket ``n_t, n_c, sum_y_t, sum_y_c`` of the rows of ``arm`` and ``control``: the
    :func:`curve_bucket_stats_spark` of one :class:`Curve`."""
    curve = Curve(score_col, outcome_col, arm, sign, offset)
    return curve_bucket_stats_spark(
        df,
        [curve],
        control=control,
        treatment_col=treatment_col,
        weight_col=weight_col,
        buckets=buckets,
        relative_error=relative_error,
    )[0]


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


def measured_curve(kind: str, outcome: str, direction: str) -> tuple[float, float]:
    """(sign, offset) of the :class:`Curve` of an outcome of ``kind`` measured in the better
    ``direction``: the negated outcome ranked by the negated score where less is better (for a
    binary outcome, ``1 - y``), so a higher Qini is better either way. ConfigError for an
    unknown kind."""
    if kind not in OUTCOME_KINDS:
        raise ConfigError(f"outcome '{outcome}' has kind '{kind}': use one of {OUTCOME_KINDS}")
    lower = direction == "lower"
    return (-1.0 if lower else 1.0), (1.0 if lower and kind == "binary" else 0.0)


def metrics_and_curves(stats: pd.DataFrame, kind: str) -> tuple[dict[str, float], pd.DataFrame]:
    """``(metrics, curves)`` of one curve's bucket sums: ``n_t``, ``n_c``, ``auuc``, ``qini``
    (normalized, NaN unless ``kind == "binary"``) and their unnormalized values; the curves'
    ``n``, ``uplift``, ``qini`` at the bucket boundaries."""
    metrics = {"n_t": float(stats["n_t"].sum()), "n_c": float(stats["n_c"].sum())}
    metrics |= metrics_from_buckets(stats, binary=kind == "binary")
    return metrics, curves_from_buckets(stats)


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
    """AUUC and Qini (see :mod:`causal_targeting.evaluation.uplift`) and the curves, bucketed
    (:func:`metrics_and_curves` of :func:`score_bucket_stats_spark`).

    ``direction="lower"`` (less of the outcome is better) measures the negated outcome ranked
    by the negated score (for a binary outcome, ``1 - y``), so a higher Qini is better either way.
    """
    sign, offset = measured_curve(kind, outcome_col, direction)
    stats = score_bucket_stats_spark(
        df,
        score_col=score_col,
        outcome_col=outcome_col,
        arm=arm,
        control=control,
        treatment_col=treatment_col,
        weight_col=weight_col,
        buckets=buckets,
        sign=sign,
        offset=offset,
    )
    return metrics_and_curves(stats, kind)


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
    """:func:`uplift_metrics_spark` for every non-control arm and outcome, by ``tau__`` score,
    all curves' bucket sums in two Spark jobs (:func:`curve_bucket_stats_spark`);
    ``directions`` maps an outcome to ``"lower"`` where less of it is better (config
    ``data.directions``), so its metrics are measured in the better direction.

    Returns:
        ``(metrics, curves)``: one metrics row per (arm, outcome) with ``METRIC_COLUMNS``, and the
        curves stacked with ``arm`` and ``outcome`` columns.
    """
    pairs = [(o, a) for o in outcome_kinds for a in arms if a != control]
    curves = [
        Curve(
            f"tau__{outcome}__{arm}",
            outcome,
            arm,
            *measured_curve(
                outcome_kinds[outcome], outcome, (directions or {}).get(outcome, "higher")
            ),
        )
        for outcome, arm in pairs
    ]
    stats = curve_bucket_stats_spark(
        df,
        curves,
        control=control,
        treatment_col=treatment_col,
        weight_col=weight_col,
        buckets=buckets,
    )
    rows, tables = [], []
    for (outcome, arm), curve_stats in zip(pairs, stats, strict=True):
        metrics, curve = metrics_and_curves(curve_stats, outcome_kinds[outcome])
        rows.append({"arm": arm, "outcome": outcome, **metrics})
        tables.append(curve.assign(arm=arm, outcome=outcome))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS), pd.concat(tables, ignore_index=True)


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


def cluster_variances_spark(
    df: DataFrame,
    *,
    outcomes: Sequence[str],
    cluster_col: str,
    treatment_col: str = "treatment",
) -> pd.DataFrame:
    """``arm, outcome, mean_var``: the cluster-robust variance of every arm's mean outcome
    (:func:`~causal_targeting.evaluation.abtest.cluster_mean_variance`) from its
    :data:`~causal_targeting.evaluation.abtest.CLUSTER_MOMENTS`: the rows summed within each
    (arm, cluster), then those sums' moments within each arm, two aggregations on the
    executors; one row per arm reaches the driver."""
    arm = F.col(treatment_col).alias("arm")
    totals = df.groupBy(arm, F.col(cluster_col)).agg(
        F.count(F.lit(1)).alias("n"),
        *[F.sum(F.col(f"`{o}`")).alias(f"y__{i}") for i, o in enumerate(outcomes)],
    )
    moments = [F.count(F.lit(1)).alias("clusters"), F.sum("n").alias("rows")]
    moments.append(F.sum(F.col("n") * F.col("n")).alias("rows_sq"))
    for i in range(len(outcomes)):
        y = F.col(f"y__{i}")
        moments += [
            F.sum(y).alias(f"sum__{i}"),
            F.sum(y * y).alias(f"sum_sq__{i}"),
            F.sum(y * F.col("n")).alias(f"sum_by_rows__{i}"),
        ]
    wide = totals.groupBy("arm").agg(*moments).toPandas()
    parts = [
        pd.DataFrame(
            {
                "arm": wide["arm"],
                "outcome": o,
                "clusters": wide["clusters"],
                "rows": wide["rows"],
                "sum": wide[f"sum__{i}"],
                "sum_sq": wide[f"sum_sq__{i}"],
                "sum_by_rows": wide[f"sum_by_rows__{i}"],
                "rows_sq": wide["rows_sq"],
            }
        )
        for i, o in enumerate(outcomes)
    ]
    table = pd.concat(parts, ignore_index=True)[list(CLUSTER_MOMENTS)]
    return table[["arm", "outcome"]].assign(mean_var=cluster_mean_variance(table))
