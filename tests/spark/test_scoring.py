"""The score stage on Spark: same numbers as in-process predict, refusals before any job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causal_targeting.errors import DataContractError
from causal_targeting.learners.compiled import CompiledEngine
from causal_targeting.learners.model import UpliftModel
from causal_targeting.scoring import score, table_engine, unseen_levels_report
from scoring_support import customer_frame, fit_small_model


@pytest.fixture(scope="module")
def model() -> UpliftModel:
    return fit_small_model(seed=3)


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return customer_frame(2_000, seed=4, unseen_level="Atlantis")


@pytest.mark.parametrize("engine", ["compiled", "lightgbm"])
def test_spark_scores_equal_in_process_predict(
    spark, model: UpliftModel, customers: pd.DataFrame, engine: str, tmp_path: Path
) -> None:
    df = spark.createDataFrame(customers).repartition(3)
    scored = score(df, model, "test/7", engine=engine, cache_dir=tmp_path).toPandas()
    scored = scored.sort_values("customer_id").reset_index(drop=True)
    expected = model.predict(customers)
    columns = list(model.score_columns())
    assert list(scored.columns) == ["customer_id", *columns, "model_version"]
    assert set(scored["model_version"]) == {"test/7"}
    np.testing.assert_array_equal(scored["customer_id"], customers["customer_id"])
    for column in columns:
        np.testing.assert_allclose(scored[column], expected[column], rtol=0, atol=1e-9)


def test_auto_compiles_a_model_already_compiled_here_and_by_size_otherwise(
    spark, model: UpliftModel, customers: pd.DataFrame, tmp_path: Path
) -> None:
    df = spark.createDataFrame(customers)
    assert table_engine("auto", df, model, cache_dir=tmp_path) == "lightgbm"  # 2,000 customers
    CompiledEngine(cache_dir=tmp_path).compiled_objects(model.model_strings())
    assert table_engine("auto", df, model, cache_dir=tmp_path) == "compiled"  # nothing to pay
    assert table_engine("lightgbm", df, model, cache_dir=tmp_path) == "lightgbm"


def _refusal_without_jobs(spark, df, model: UpliftModel) -> DataContractError:
    tracker = spark.sparkContext.statusTracker()
    spark.sparkContext.setJobGroup("refusal", "scoring refusal test")
    try:
        with pytest.raises(DataContractError) as caught:
            score(df, model, "v")
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    assert list(tracker.getJobIdsForGroup("refusal")) == []
    return caught.value


def test_missing_feature_is_refused_before_any_job(
    spark, model: UpliftModel, customers: pd.DataFrame
) -> None:
    error = _refusal_without_jobs(spark, spark.createDataFrame(customers).drop("spend"), model)
    assert (error.table, error.column) == ("customers", "spend")
    assert "missing" in str(error) and "Fix:" in str(error)


@pytest.mark.parametrize(
    ("column", "bad", "expected"),
    [
        ("age", lambda s: s.astype(str), "expects numeric"),
        ("region", lambda s: s.map({"north": 1, "south": 2}).astype("Int64"), "stored as string"),
    ],
)
def test_incompatible_feature_type_is_refused_before_any_job(
    spark, model: UpliftModel, customers: pd.DataFrame, column: str, bad, expected: str
) -> None:
    frame = customers.assign(**{column: bad(customers[column])})
    error = _refusal_without_jobs(spark, spark.createDataFrame(frame), model)
    assert error.column == column
    assert expected in str(error) and f"cast '{column}'" in str(error)


def test_missing_id_column_is_refused(spark, model: UpliftModel, customers: pd.DataFrame) -> None:
    df = spark.createDataFrame(customers.drop(columns="customer_id"))
    error = _refusal_without_jobs(spark, df, model)
    assert error.column == "customer_id"


def test_unseen_levels_are_counted(spark, model: UpliftModel, customers: pd.DataFrame) -> None:
    report = unseen_levels_report(spark.createDataFrame(customers), model)
    assert report == {"region": int((customers["region"] == "Atlantis").sum())}
    assert report["region"] == 40


def test_an_intent_model_scores_through_the_same_path(spark, tmp_path: Path) -> None:
    from causal_targeting.segments.model import IntentLearner
    from intent_support import FEATURES, intent_frame

    experiment = intent_frame(3_000, seed=5)
    model = (
        IntentLearner(n_estimators=20, seed=5)
        .fit(experiment, features=FEATURES, exposed="exposed", converted="converted")
        .model_
    )
    customers = intent_frame(1_000, seed=6)[["customer_id", *FEATURES]]
    df = spark.createDataFrame(customers).repartition(2)
    scored = score(df, model, "segments/1", cache_dir=tmp_path).toPandas()
    scored = scored.sort_values("customer_id").reset_index(drop=True)
    expected = model.predict(customers)
    assert list(scored.columns) == ["customer_id", *model.score_columns(), "model_version"]
    assert scored["segment"].tolist() == expected["segment"].tolist()
    for column in model.score_columns()[:-1]:
        np.testing.assert_allclose(scored[column], expected[column], rtol=0, atol=1e-9)
