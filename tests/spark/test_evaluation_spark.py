"""Spark edges of the evaluation against the numpy/pandas cores on the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from causal_targeting.errors import ConfigError, DataContractError
from causal_targeting.evaluation.distributed import (
    METRIC_COLUMNS,
    _bucket,
    arm_stats_spark,
    score_bucket_stats_spark,
    uplift_metrics_spark,
    uplift_table_spark,
)
from causal_targeting.evaluation.uplift import (
    auuc,
    curves_from_buckets,
    qini_coefficient,
    qini_curve,
)

EXACT = 1e-9


def _holdout(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    arm = rng.choice(["ctl", "a", "b"], size=n)
    lift = np.where(arm == "a", 0.08 * (x > 0), np.where(arm == "b", 0.03, 0.0))
    visit = (rng.random(n) < 0.1 + lift).astype(float)
    return pd.DataFrame(
        {
            "treatment": arm,
            "visit": visit,
            "spend": visit * rng.gamma(2.0, 20.0, size=n),
            "tau__visit__a": x + rng.normal(scale=0.5, size=n),
            "tau__visit__b": rng.normal(size=n),
            "tau__spend__a": x,
            "tau__spend__b": rng.normal(size=n),
            "weight": rng.integers(1, 3, size=n).astype(float),
        }
    )


def test_bucketed_metrics_equal_numpy_core(spark) -> None:
    pdf = _holdout()
    df = spark.createDataFrame(pdf)
    metrics, curves = uplift_metrics_spark(
        df, score_col="tau__visit__a", outcome_col="visit", arm="a", control="ctl", buckets=50
    )
    rows = pdf[pdf["treatment"].isin(["a", "ctl"])]
    score, y, t = rows["tau__visit__a"], rows["visit"], rows["treatment"] == "a"
    assert metrics["n_t"] == t.sum() and metrics["n_c"] == (~t).sum()
    assert len(curves) <= 51
    assert abs(metrics["auuc"] - auuc(score, y, t)) < 2e-3
    assert abs(metrics["qini"] - qini_coefficient(score, y, t)) < 2e-3
    # the bucketed curve passes through the exact curve at every bucket boundary
    x, q = qini_curve(score, y, t)
    exact_at = pd.Series(q, index=x).reindex(curves["n"]).to_numpy()
    np.testing.assert_allclose(curves["qini"], exact_at, rtol=EXACT, atol=EXACT)


def test_weighted_continuous_buckets_follow_the_exact_curve(spark) -> None:
    pdf = _holdout(2000, 1).assign(score=lambda f: np.round(f["tau__spend__a"], 1))
    rows = pdf[pdf["treatment"].isin(["a", "ctl"])]
    stats = score_bucket_stats_spark(
        spark.createDataFrame(pdf),
        score_col="score",
        outcome_col="spend",
        arm="a",
        control="ctl",
        weight_col="weight",
        buckets=20,
    )
    assert 15 <= len(stats) <= 20
    score, y, t, w = rows["score"], rows["spend"], rows["treatment"] == "a", rows["weight"]
    x, q = qini_curve(score, y, t, w)
    coarse = curves_from_buckets(stats)
    exact_at = pd.Series(q, index=x).reindex(coarse["n"]).to_numpy()
    np.testing.assert_allclose(coarse["qini"], exact_at, rtol=EXACT, atol=EXACT)
    assert coarse["n"].iloc[-1] == w.sum()


def test_one_bucket_is_the_random_line(spark) -> None:
    metrics, curves = uplift_metrics_spark(
        spark.createDataFrame(_holdout(300, 5)),
        score_col="tau__visit__a",
        outcome_col="visit",
        arm="a",
        control="ctl",
        buckets=1,
    )
    assert len(curves) == 2
    assert metrics["qini"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["auuc_unnormalized"] == pytest.approx(0.0, abs=1e-12)


def test_uplift_table_covers_every_arm_and_outcome(spark) -> None:
    df = spark.createDataFrame(_holdout(1500, 2)).cache()
    metrics, curves = uplift_table_spark(
        df,
        arms=["ctl", "a", "b"],
        control="ctl",
        outcome_kinds={"visit": "binary", "spend": "continuous"},
        buckets=10,
    )
    assert list(metrics.columns) == METRIC_COLUMNS
    assert set(zip(metrics["arm"], metrics["outcome"], strict=True)) == {
        ("a", "visit"),
        ("b", "visit"),
        ("a", "spend"),
        ("b", "spend"),
    }
    spend = metrics[metrics["outcome"] == "spend"]
    assert spend["qini"].isna().all() and spend["qini_unnormalized"].notna().all()
    assert metrics.loc[metrics["outcome"] == "visit", "qini"].notna().all()
    assert set(curves.columns) == {"n", "uplift", "qini", "arm", "outcome"}
    for row in metrics.itertuples():  # one pass over every curve, as each curve on its own
        kind = "binary" if row.outcome == "visit" else "continuous"
        alone, curve = uplift_metrics_spark(
            df, score_col=f"tau__{row.outcome}__{row.arm}", outcome_col=row.outcome,
            arm=row.arm, control="ctl", kind=kind, buckets=10,
        )
        assert alone == pytest.approx({k: getattr(row, k) for k in alone}, nan_ok=True, rel=1e-12)
        mine = curves[(curves["arm"] == row.arm) & (curves["outcome"] == row.outcome)]
        np.testing.assert_allclose(mine[["n", "uplift", "qini"]].to_numpy(), curve.to_numpy())
    df.unpersist()


@pytest.mark.parametrize("n_splits", [0, 1, 2, 7, 99])
def test_the_sql_bucket_counts_the_splits_at_or_below_each_value(spark, n_splits) -> None:
    """Ties with a split count it; NaN (above every number in Spark) is in the last bucket and
    null in the first."""
    rng = np.random.default_rng(n_splits)
    splits = np.sort(rng.choice(np.round(rng.normal(size=400), 1), n_splits, replace=False))
    values = np.concatenate([np.round(rng.normal(size=300), 1), splits, [-1e300, 1e300]])
    rows = spark.createDataFrame(pd.DataFrame({"i": np.arange(len(values)), "x": values}))
    nan = F.expr("CAST('NaN' AS DOUBLE)")
    special = spark.createDataFrame([(len(values), None)], "i long, x double").union(
        spark.range(len(values) + 1, len(values) + 2).select("id", nan)
    )
    buckets = (
        rows.union(special)
        .select("i", F.expr(_bucket("x", list(splits))).alias("b"))
        .toPandas()
        .sort_values("i")["b"]
        .to_numpy()
    )
    expected = [*np.searchsorted(splits, values, side="right"), 0, n_splits]
    np.testing.assert_array_equal(buckets, expected)


def test_arm_stats_equal_pandas(spark) -> None:
    pdf = _holdout(800, 3)
    out = arm_stats_spark(spark.createDataFrame(pdf), outcomes=["visit", "spend"])
    ref = (
        pdf.melt(id_vars="treatment", value_vars=["visit", "spend"], var_name="outcome")
        .groupby(["outcome", "treatment"])["value"]
        .agg(["count", "mean", "var"])
    )
    assert len(out) == 6
    for row in out.itertuples():
        expect = ref.loc[(row.outcome, row.arm)]
        assert row.n == expect["count"]
        assert row.mean == pytest.approx(expect["mean"], rel=1e-12)
        assert row.var == pytest.approx(expect["var"], rel=1e-9)


def test_refusals(spark) -> None:
    df = spark.createDataFrame(_holdout(200, 4).assign(bad=np.nan))
    kwargs = {"outcome_col": "visit", "arm": "a", "control": "ctl"}
    with pytest.raises(DataContractError, match="missing columns"):
        score_bucket_stats_spark(df, score_col="tau__nope", **kwargs)
    with pytest.raises(DataContractError, match="null/NaN"):
        score_bucket_stats_spark(df, score_col="bad", **kwargs)
    with pytest.raises(DataContractError, match="no rows"):
        score_bucket_stats_spark(
            df, score_col="tau__visit__a", **{**kwargs, "arm": "zz", "control": "yy"}
        )
    with pytest.raises(ConfigError, match="kind 'count'"):
        uplift_metrics_spark(df, score_col="tau__visit__a", kind="count", **kwargs)
    with pytest.raises(ConfigError, match="buckets"):
        score_bucket_stats_spark(df, score_col="tau__visit__a", buckets=0, **kwargs)


def test_lower_direction_measures_the_negated_outcome(spark) -> None:
    """Where less is better, the Qini is that of 1 - y ranked by -tau (binary outcome)."""
    pdf = _holdout()
    df = spark.createDataFrame(pdf)
    kwargs = {"score_col": "tau__visit__a", "outcome_col": "visit", "arm": "a", "control": "ctl"}
    lower, _ = uplift_metrics_spark(df, **kwargs, buckets=50, direction="lower")
    flipped = spark.createDataFrame(
        pdf.assign(visit=1.0 - pdf["visit"], tau__visit__a=-pdf["tau__visit__a"])
    )
    expected, _ = uplift_metrics_spark(flipped, **kwargs, buckets=50)
    assert lower["qini"] == pytest.approx(expected["qini"], abs=1e-3)
    assert lower["auuc"] == pytest.approx(expected["auuc"], abs=1e-3)
