"""The Spark edge of training: executor fits equal driver fits; sampling and splitting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from causal_targeting.config import load_config
from causal_targeting.errors import ConfigError, DataContractError
from causal_targeting.learners.base import TUNE_DRAW, tuning_rows
from causal_targeting.learners.design import check_holdout, kept_shares
from causal_targeting.learners.model import UpliftModel
from causal_targeting.learners.spark_fit import (
    FOLD,
    SparkRunner,
    arm_rows,
    assign_folds,
    fit_candidates_on_spark,
    fit_on_spark,
    learner_rows,
    out_of_fold_scores_spark,
    partition_slots,
    spark_design,
    spark_feature_spec,
    stratified_sample,
    train_holdout_split,
    with_sampled_propensity,
    with_tuning_draw,
)
from causal_targeting.learners.tasks import FitTask, dr_tasks, outcome_tasks
from causal_targeting.learners.uplift import (
    DRLearner,
    RiskLearner,
    TLearner,
    XLearner,
    fit_candidates,
)
from causal_targeting.stages.ingest import ingest
from causal_targeting.stages.train import train
from scoring_support import ARMS, CONTROL, FEATURES, OUTCOMES, customer_frame, experiment_frame

DESIGN = {
    "features": FEATURES,
    "treatment": "treatment",
    "control": CONTROL,
    "arms": ARMS,
    "outcomes": OUTCOMES,
}


@pytest.fixture(scope="module")
def experiment() -> pd.DataFrame:
    return experiment_frame(1_500, seed=5)


def assert_same_model(on_spark: UpliftModel, local: UpliftModel) -> None:
    """Same model strings, same artifact, and predictions equal to 1e-9."""
    assert on_spark.boosters == local.boosters
    assert on_spark == local
    customers = customer_frame(300, seed=6)
    np.testing.assert_allclose(
        on_spark.predict(customers).to_numpy(), local.predict(customers).to_numpy(), atol=1e-9
    )


def spark_runner(
    df: DataFrame, draw_seed: int | None = None, slots: int | None = None
) -> SparkRunner:
    """A runner of ``df``'s experiment rows (with their tuning draw of ``draw_seed``, if set)."""
    design, summary, rows = spark_design(df, "customer_id", DESIGN)
    return SparkRunner(
        rows if draw_seed is None else with_tuning_draw(rows, "customer_id", draw_seed),
        spark_feature_spec(rows, design.features),
        design,
        "customer_id",
        {str(arm): int(n) for arm, n in summary["rows"].items()},
        slots=slots,
    )


def test_spark_t_learner_equals_the_in_process_fit(spark, experiment: pd.DataFrame) -> None:
    """Same rows (shuffled over 3 partitions on Spark), same seed: the same model strings."""
    df = spark.createDataFrame(experiment.sample(frac=1.0, random_state=3)).repartition(3)
    learner = TLearner(n_estimators=15, early_stopping_rounds=5, seed=2)
    local = learner.fit(experiment, **DESIGN, id_column="customer_id").model_
    assert_same_model(fit_on_spark(df, learner, **DESIGN), local)


def test_spark_x_learner_equals_the_in_process_fit(spark, experiment: pd.DataFrame) -> None:
    """Both stages, fitted propensity models (the design propensity varies with x) and weights."""
    frame = experiment.assign(
        propensity=np.where(experiment["age"] > 50, 0.3, 0.35),
        weight=np.where(experiment["spend"] > 80, 2.0, 1.0),
    )
    design = {**DESIGN, "propensity": "propensity", "weight": "weight"}
    learner = XLearner(n_estimators=15, early_stopping_rounds=5, seed=4)
    on_spark = fit_on_spark(spark.createDataFrame(frame).repartition(3), learner, **design)
    local = learner.fit(frame, **design, id_column="customer_id").model_
    assert {"propensity__email", "propensity__sms", "tau0__revenue__sms"} <= set(local.boosters)
    assert_same_model(on_spark, local)


def test_spark_fit_refuses_bad_tables_on_the_driver(spark, experiment: pd.DataFrame) -> None:
    learner = TLearner(n_estimators=5)
    no_sms = spark.createDataFrame(experiment[experiment["treatment"] != "sms"])
    with pytest.raises(DataContractError, match="arm 'sms' has no rows"):
        fit_on_spark(no_sms, learner, **DESIGN)
    with pytest.raises(DataContractError, match="column 'customer_id'"):
        fit_on_spark(
            spark.createDataFrame(experiment.drop(columns="customer_id")), learner, **DESIGN
        )
    bad = experiment.assign(conversion=experiment["conversion"] * 3)
    with pytest.raises(DataContractError, match=r"column 'conversion'.*other than 0 and 1"):
        fit_on_spark(spark.createDataFrame(bad), learner, **DESIGN)
    text_age = experiment.assign(age=experiment["age"].astype(str))
    with pytest.raises(DataContractError, match=r"column 'age'.*numeric feature"):
        fit_on_spark(spark.createDataFrame(text_age), learner, **DESIGN)


def test_partition_slots_land_in_distinct_partitions(spark) -> None:
    slots = partition_slots(spark, 7)
    df = spark.createDataFrame([(s,) for s in slots], "slot long").repartition(7, "slot")
    partitions = df.select(F.spark_partition_id().alias("p")).collect()
    assert sorted(row["p"] for row in partitions) == list(range(7))


@pytest.fixture(scope="module")
def arms_table(spark):
    """4,000 rows: arm a 2,500, arm b 1,000, control 400, arm z 100 (not asked for)."""
    arms = ["a"] * 2_500 + ["b"] * 1_000 + ["none"] * 400 + ["z"] * 100
    frame = pd.DataFrame({"customer_id": np.arange(4_000, dtype=np.int64) * 3, "treatment": arms})
    return spark.createDataFrame(frame).repartition(4)


def test_stratified_sample_caps_each_arm(spark, arms_table) -> None:
    sample = stratified_sample(arms_table, "treatment", ["none", "a", "b"], 600, seed=1).toPandas()
    assert sample["treatment"].value_counts().to_dict() == {"a": 600, "b": 600, "none": 400}
    ids = set(sample["customer_id"])
    again = stratified_sample(arms_table.repartition(7), "treatment", ["none", "a", "b"], 600, 1)
    assert {r["customer_id"] for r in again.collect()} == ids
    other = stratified_sample(arms_table, "treatment", ["none", "a", "b"], 600, seed=2)
    assert {r["customer_id"] for r in other.collect()} != ids


def design_table(spark, propensity: np.ndarray, arms: list[str]):
    frame = pd.DataFrame(
        {"customer_id": np.arange(len(arms), dtype=np.int64), "treatment": arms}
    ).assign(propensity=propensity)
    return spark.createDataFrame(frame).repartition(3)


def test_arm_rows_counts_and_propensity_ranges(spark, arms_table) -> None:
    assert arm_rows(arms_table, "treatment", ["none", "a", "b"])["rows"].to_dict() == {
        "a": 2_500,
        "b": 1_000,
        "none": 400,
    }
    arms = ["t"] * 3 + ["c"] * 2
    table = design_table(spark, np.array([0.8, 0.7, 0.9, 0.2, 0.3]), arms)
    ranges = arm_rows(table, "treatment", ["c", "t"], "propensity").sort_index()
    assert ranges.to_dict("index") == {
        "c": {"rows": 2, "propensity_min": 0.2, "propensity_max": 0.3},
        "t": {"rows": 3, "propensity_min": 0.7, "propensity_max": 0.9},
    }


def test_sampled_propensity_of_a_constant_design(spark) -> None:
    """85% treated, the treated capped at 1,000: the kept rows' propensity is their share."""
    arms = ["t"] * 3_400 + ["c"] * 600
    table = design_table(spark, np.where(np.array(arms) == "t", 0.85, 0.15), arms)
    ranges = arm_rows(table, "treatment", ["c", "t"], "propensity")
    kept = kept_shares(dict(ranges["rows"]), 1_000)
    sample = stratified_sample(table, "treatment", ["c", "t"], 1_000, seed=1)
    by_arm = with_sampled_propensity(sample, ranges, kept).toPandas().groupby("treatment")
    share = {"t": 1_000 / 1_600, "c": 600 / 1_600}
    for arm, rows in by_arm:
        np.testing.assert_allclose(rows["propensity"], share[arm], atol=0.01)


def test_sampled_propensity_of_a_two_arm_design_varying_by_row(spark) -> None:
    rng = np.random.default_rng(4)
    p = rng.uniform(0.3, 0.9, 4_000)
    arms = np.where(rng.random(4_000) < p, "t", "c")
    own = np.where(arms == "t", p, 1 - p)
    table = design_table(spark, own, list(arms))
    ranges = arm_rows(table, "treatment", ["c", "t"], "propensity")
    kept = kept_shares(dict(ranges["rows"]), 1_000)
    out = with_sampled_propensity(table, ranges, kept).toPandas().sort_values("customer_id")
    s_t, s_c = kept["t"], kept["c"]
    expected_t = p * s_t / (p * s_t + (1 - p) * s_c)
    expected = np.where(arms == "t", expected_t, 1 - expected_t)
    np.testing.assert_allclose(out["propensity"].to_numpy(), expected, rtol=1e-12)
    untouched = with_sampled_propensity(table, ranges, {"t": 0.5, "c": 0.5}).toPandas()
    np.testing.assert_allclose(
        untouched.sort_values("customer_id")["propensity"].to_numpy(), own, rtol=0
    )


def test_sampled_propensity_varying_over_three_arms_is_refused(spark) -> None:
    arms = ["a"] * 5 + ["b"] * 3 + ["c"] * 2
    table = design_table(spark, np.linspace(0.2, 0.6, 10), arms)
    ranges = arm_rows(table, "treatment", ["a", "b", "c"], "propensity")
    with pytest.raises(ConfigError, match=r"train\.cap_per_arm to at least 5"):
        with_sampled_propensity(table, ranges, kept_shares(dict(ranges["rows"]), 2))


def test_train_holdout_split_is_deterministic_and_disjoint(spark, arms_table) -> None:
    train, holdout = train_holdout_split(arms_table, 0.25, seed=3)
    train_ids = {r["customer_id"] for r in train.collect()}
    holdout_ids = {r["customer_id"] for r in holdout.collect()}
    assert not train_ids & holdout_ids
    assert len(train_ids) + len(holdout_ids) == 4_000
    assert 0.2 < len(holdout_ids) / 4_000 < 0.3  # binomial sd of the share: 0.007
    _, again = train_holdout_split(arms_table.repartition(5), 0.25, seed=3)
    assert {r["customer_id"] for r in again.collect()} == holdout_ids


def test_check_holdout_refuses_a_holdout_short_of_an_arm() -> None:
    check_holdout({"a": 30, "b": 31}, ["a", "b"], 0.01)
    check_holdout({}, ["a", "b"], 0.0)  # no holdout: judged out of fold
    with pytest.raises(ConfigError, match=r"holdout_fraction = 0\.01 holds out 59 rows, 29 of "
                       r"'b': fewer than the 30 rows.*Fix: raise train\.holdout_fraction.*or set "
                       r"it to 0"):
        check_holdout({"a": 30, "b": 29}, ["a", "b"], 0.01)
    with pytest.raises(ConfigError, match=r"holds out 3 rows, 3 of 'a', 0 of 'b': fewer"):
        check_holdout({"a": 3}, ["a", "b"], 0.01)


def test_the_train_stage_refuses_a_holdout_short_of_an_arm_and_writes_nothing(
    spark, root: Path, tmp_path: Path
) -> None:
    """A holdout of 1% of a small experiment is short of every arm: one line, before any fit,
    no MLflow store, no train outputs."""
    sample = tmp_path / "hillstrom.csv"
    pd.read_csv(root / "data" / "hillstrom_email_2008.csv", nrows=600).to_csv(sample, index=False)
    cfg = load_config(
        root / "conf" / "local.yaml",
        [
            f"data.experiment.path={sample}",
            f"outputs.root={tmp_path / 'work'}",
            f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
            f"tracking.artifact_location={tmp_path / 'mlruns'}",
            "train.holdout_fraction=0.01",
        ],
    )
    ingest(cfg, spark)
    written = sorted(p.name for p in (tmp_path / "work").iterdir())
    with pytest.raises(ConfigError, match=r"train\.holdout_fraction = 0\.01 holds out \d+ rows, "
                       r"\d+ of 'No E-Mail', .*fewer than the 30.*Fix: raise train\.holdout"):
        train(cfg, spark)
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == written
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()


def households_table(spark) -> DataFrame:
    """1,200 households of 1 to 3 rows, every row of a household in its arm (none, a or b)."""
    rng = np.random.default_rng(8)
    sizes = rng.integers(1, 4, 1_200)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(sizes.sum(), dtype=np.int64),
            "treatment": np.repeat(rng.choice(["none", "a", "b"], 1_200), sizes),
            "cluster_id": np.repeat(np.arange(1_200), sizes).astype(str),
        }
    )
    return spark.createDataFrame(frame).repartition(4)


def test_folds_and_the_holdout_keep_each_cluster_whole(spark) -> None:
    table = households_table(spark)
    folds = assign_folds(table, "treatment", 5, seed=2, cluster="cluster_id").toPandas()
    assert len(folds) == table.count() and folds["customer_id"].is_unique
    assert (folds.groupby("cluster_id")[FOLD].nunique() == 1).all()
    clusters = folds.drop_duplicates("cluster_id")
    per_arm = pd.crosstab(clusters["treatment"], clusters[FOLD])
    assert per_arm.shape == (3, 5) and (per_arm.max(axis=1) - per_arm.min(axis=1) <= 1).all()
    again = assign_folds(table.repartition(7), "treatment", 5, seed=2, cluster="cluster_id")
    pd.testing.assert_series_equal(
        folds.set_index("customer_id")[FOLD].sort_index(),
        again.toPandas().set_index("customer_id")[FOLD].sort_index(),
    )
    two = pd.DataFrame(
        {
            "customer_id": np.arange(40),
            "treatment": ["a"] * 20 + ["b"] * 20,
            "cluster_id": [str(i) for i in range(20)] + ["x"] * 10 + ["y"] * 10,
        }
    )
    with pytest.raises(ConfigError, match=r"more than the 2 clusters \(data\.cluster\) of arm "
                       r"'b'"):
        assign_folds(spark.createDataFrame(two), "treatment", 5, seed=2, cluster="cluster_id")
    train_rows, holdout = train_holdout_split(table, 0.3, seed=2, id_column="cluster_id")
    held = set(holdout.toPandas()["cluster_id"])
    assert 0.25 < len(held) / 1_200 < 0.35 and not held & set(train_rows.toPandas()["cluster_id"])


def test_the_train_stage_scores_households_with_their_cluster(
    spark, root: Path, tmp_path: Path
) -> None:
    """Hillstrom's first 3,000 rows as 1,500 households of two, each in its first member's arm:
    the scored rows the comparison, the safeguard and the evaluation resample carry the
    household of every row."""
    frame = pd.read_csv(root / "data" / "hillstrom_email_2008.csv", nrows=3_000)
    frame["household"] = np.arange(3_000) // 2
    frame["segment"] = frame.groupby("household")["segment"].transform("first")
    sample = tmp_path / "households.csv"
    frame.to_csv(sample, index=False)
    cfg = load_config(
        root / "conf" / "local.yaml",
        [
            f"data.experiment.path={sample}",
            "data.cluster=household",
            f"outputs.root={tmp_path / 'work'}",
            f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
            f"tracking.artifact_location={tmp_path / 'mlruns'}",
            "train.n_estimators=10",
        ],
    )
    ingest(cfg, spark)
    trained = train(cfg, spark)
    scored = spark.read.parquet(trained.paths["holdout"]).toPandas()
    assert len(scored) == 3_000
    household = scored["customer_id"].astype(int) // 2
    assert (scored["cluster_id"] == household.astype(str)).all()
    assert trained.comparison[["ci_low", "ci_high"]].notna().all().all()


def test_spark_cross_fit_equals_the_in_process_fit(spark, experiment: pd.DataFrame) -> None:
    """Tuned (on 300 of each task's rows), cross-fitted X- and DR-learners sharing base models:
    the same tunings, the same models on all rows and outside each fold, and the same
    out-of-fold scores."""
    learners = [
        cls(n_estimators=15, seed=4, n_folds=3, tune=True, tune_rows=300)
        for cls in (XLearner, DRLearner)
    ]
    df = assign_folds(spark.createDataFrame(experiment).repartition(3), "treatment", 3, seed=4)
    on_spark, tuning = fit_candidates_on_spark(df, learners, **DESIGN)
    frame = df.toPandas()
    local = fit_candidates(learners, frame, id_column="customer_id", fold_column=FOLD, **DESIGN)
    assert tuning == local["x"].tuning
    for kind in ("x", "dr"):
        model, fold_models = on_spark[kind]
        assert_same_model(model, local[kind].model)
        for spark_fold, local_fold in zip(fold_models, local[kind].fold_models, strict=True):
            assert spark_fold == local_fold
    scored = out_of_fold_scores_spark(df, {k: on_spark[k][1] for k in ("x", "dr")})
    for kind in ("x", "dr"):
        rows = learner_rows(scored, list(frame.columns), kind, on_spark[kind][0].score_columns())
        mine = rows.toPandas().sort_values("customer_id", ignore_index=True)
        assert list(mine.columns) == [*frame.columns, *local[kind].oof.columns]
        pd.testing.assert_frame_equal(
            mine[frame.columns], frame.sort_values("customer_id", ignore_index=True)
        )
        oof = mine.set_index("customer_id")[local[kind].oof.columns]
        expected = local[kind].oof.set_index(frame.loc[local[kind].oof.index, "customer_id"])
        pd.testing.assert_frame_equal(oof.sort_index(), expected.sort_index(), atol=1e-9)
    assert pd.crosstab(frame["treatment"], frame[FOLD]).min().min() > 0


def test_spark_risk_learner_equals_the_in_process_fit(spark, experiment: pd.DataFrame) -> None:
    """The risk learner's arm means summed batch by batch on the executors: the same control
    models and relative effects (to rounding) on all rows and outside each fold, and the same
    out-of-fold scores."""
    learner = RiskLearner(n_estimators=15, seed=4, n_folds=3)
    df = assign_folds(spark.createDataFrame(experiment).repartition(3), "treatment", 3, seed=4)
    on_spark, _ = fit_candidates_on_spark(df, [learner], **DESIGN)
    frame = df.toPandas()
    local = fit_candidates([learner], frame, id_column="customer_id", fold_column=FOLD, **DESIGN)
    pairs = zip(
        [on_spark["risk"][0], *on_spark["risk"][1]],
        [local["risk"].model, *local["risk"].fold_models],
        strict=True,
    )
    ratios = set()
    for spark_model, local_model in pairs:
        assert spark_model.boosters == local_model.boosters
        for key, effect in local_model.relative_effects.items():
            assert spark_model.relative_effects[key].kind == effect.kind
            assert spark_model.relative_effects[key].value == pytest.approx(effect.value, 1e-12)
            ratios.add(round(effect.value, 12))
    assert len(ratios) > len(local["risk"].model.relative_effects)  # the folds' differ
    scored = out_of_fold_scores_spark(df, {"risk": on_spark["risk"][1]})
    columns = on_spark["risk"][0].score_columns()
    rows = learner_rows(scored, list(frame.columns), "risk", columns).toPandas()
    oof = rows.set_index("customer_id")[columns].sort_index()
    expected = local["risk"].oof.set_index(frame.loc[local["risk"].oof.index, "customer_id"])
    pd.testing.assert_frame_equal(oof, expected.sort_index(), atol=1e-9)


def test_a_limited_task_moves_a_fraction_of_its_rows_and_every_row_it_reads(
    spark, experiment: pd.DataFrame
) -> None:
    """With a limit above the task's rows every row moves; with a limit of 100 only rows of
    small draw: a fraction of the task's rows, among them the 100 of smallest draw (those its
    work reads)."""
    runner = spark_runner(spark.createDataFrame(experiment).repartition(3), draw_seed=4)
    design, arm_rows = runner.design, runner.arm_rows
    task = dr_tasks(design, {}, (0.01, 0.99))[0]

    def read(task: FitTask, rows: pd.DataFrame, *_: Any) -> str:
        kept = rows["customer_id"].to_numpy()[tuning_rows(rows[TUNE_DRAW].to_numpy(), 100)]
        return json.dumps({"moved": len(rows), "read": sorted(kept.tolist())})

    whole = json.loads(runner.run([task], read, {}, row_limit=10**9)[task.name])
    limited = json.loads(runner.run([task], read, {}, row_limit=100)[task.name])
    assert whole["moved"] == sum(arm_rows[arm] for arm in task.arms)
    assert 100 <= limited["moved"] < whole["moved"] / 3
    assert limited["read"] == whole["read"]


@pytest.mark.parametrize("slots", [1, 100])
def test_each_task_gets_exactly_its_rows_in_a_group_or_alone(
    spark, experiment: pd.DataFrame, slots: int
) -> None:
    """Outcome models on all rows and outside each of 3 folds, run in one group a key
    (1 slot) or one task a group (100 slots): every task reads its arm's rows outside its
    fold, in id order, with their folds; the rows and their matrix indexed by their positions
    among the group's rows (what the predictor keeps its predictions by)."""
    df = assign_folds(spark.createDataFrame(experiment).repartition(3), "treatment", 3, seed=4)
    runner = spark_runner(df, slots=slots)
    tasks = [
        task.on_fold(fold) for task in outcome_tasks(runner.design) for fold in (None, 0, 1, 2)
    ]

    def read(task: FitTask, rows: pd.DataFrame, X: pd.DataFrame, folds: np.ndarray, *_: Any) -> str:
        assert rows.index.equals(X.index) and rows.index.is_monotonic_increasing
        assert rows.index.is_unique and rows.index.min() >= 0
        if task.fold is None:
            assert list(rows.index) == list(range(len(rows)))
        return json.dumps({"ids": rows["customer_id"].tolist(), "folds": folds.tolist()})

    read_rows = runner.run(tasks, read, {})
    frame = df.toPandas().sort_values("customer_id")
    for task in tasks:
        mine = frame[frame["treatment"].isin(task.arms)]
        if task.fold is not None:
            mine = mine[mine[FOLD] != task.fold]
        assert json.loads(read_rows[task.name]) == {
            "ids": mine["customer_id"].tolist(),
            "folds": mine[FOLD].tolist(),
        }
