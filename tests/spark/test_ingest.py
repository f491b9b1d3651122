"""The ingest stage: quarantine reasons, table-level refusals with nothing written, per-arm CIs."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from scipy import stats

from causal_targeting.config import Config, validate
from causal_targeting.data.contract import canonical_test_table
from causal_targeting.errors import DataContractError
from causal_targeting.evaluation.abtest import cluster_mean_variance, cluster_moments
from causal_targeting.evaluation.distributed import arm_stats_spark, cluster_variances_spark
from causal_targeting.stages.ingest import ingest

ARMS = ["a", "b"]
N_PER_ARM = 120


def experiment_frame(seed: int = 0) -> pd.DataFrame:
    """A clean randomized experiment: control 'ctl', arms a and b, one binary, one continuous."""
    rng = np.random.default_rng(seed)
    arms = np.repeat(["ctl", *ARMS], N_PER_ARM)
    n = arms.size
    lift = np.select([arms == "a", arms == "b"], [0.15, 0.05], 0.0)
    return pd.DataFrame(
        {
            "id": np.arange(n, dtype=np.int64),
            "age": rng.integers(18, 80, n).astype(float),
            "region": rng.choice(["north", "south"], n),
            "group": arms,
            "buy": (rng.random(n) < 0.2 + lift).astype(float),
            "spend": rng.gamma(2.0, 10.0, n) + 20 * lift,
        }
    )


def config_for(tmp_path: Path, experiment: str, fmt: str = "parquet", **data: Any) -> Config:
    raw: dict[str, Any] = {
        "outputs": {"root": str(tmp_path / "work")},
        "data": {
            "experiment": {"path": experiment, "format": fmt},
            "customer_id": "id",
            "treatment": "group",
            "control": "ctl",
            "arms": ARMS,
            "features": {"age": "numeric", "region": "categorical"},
            "outcomes": {"buy": "binary", "spend": "continuous"},
        },
        "ingest": {"min_rows_per_arm": 50, "max_quarantine_share": 0.2},
    }
    raw["data"].update(data)
    return validate(raw)


def write_parquet(frame: pd.DataFrame, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return str(path)


def test_clean_table_is_written_with_summary(spark: Any, tmp_path: Path) -> None:
    frame = experiment_frame()
    cfg = config_for(tmp_path, write_parquet(frame, tmp_path / "exp.parquet"))
    result = ingest(cfg, spark)
    experiment = spark.read.parquet(result.paths["experiment"])
    assert experiment.columns == ["customer_id", "age", "region", "treatment", "buy", "spend"]
    assert experiment.count() == len(frame)
    assert spark.read.parquet(result.paths["quarantine"]).count() == 0
    customers = spark.read.parquet(result.paths["customers"])
    assert customers.columns == ["customer_id", "age", "region"]
    report = json.loads(Path(result.paths["report"]).read_text())
    assert report["rows_read"] == {"experiment": len(frame)}
    assert set(result.summary["arm"]) == set(ARMS)


def test_summary_matches_scipy(spark: Any, tmp_path: Path) -> None:
    frame = experiment_frame(1)
    result = ingest(
        config_for(tmp_path, write_parquet(frame, tmp_path / "e.parquet")), spark
    )
    control = frame[frame.group == "ctl"]
    for arm in ARMS:
        treated = frame[frame.group == arm]
        row = result.summary.set_index(["arm", "outcome"]).loc[(arm, "spend")]
        welch = stats.ttest_ind(treated.spend, control.spend, equal_var=False)
        ci = welch.confidence_interval(0.95)
        assert row.effect == pytest.approx(treated.spend.mean() - control.spend.mean(), rel=1e-12)
        assert (row.ci_low, row.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
        assert row.p_value == pytest.approx(welch.pvalue, rel=1e-9)
        binary = result.summary.set_index(["arm", "outcome"]).loc[(arm, "buy")]
        table = [
            [treated.buy.sum(), len(treated) - treated.buy.sum()],
            [control.buy.sum(), len(control) - control.buy.sum()],
        ]
        assert binary.p_value == pytest.approx(
            stats.chi2_contingency(table, correction=False)[1], rel=1e-9
        )
        assert binary.ci_low < binary.effect < binary.ci_high


def test_each_quarantine_reason(spark: Any, tmp_path: Path) -> None:
    frame = experiment_frame().astype({"group": object, "spend": object})
    frame.loc[0, "group"] = None
    frame.loc[1, "group"] = "zzz"
    frame.loc[2, "buy"] = np.nan  # NaN in a double column: written as NaN, not null
    frame.loc[3, "spend"] = None
    frame.loc[4, "spend"] = "lots"
    frame.loc[5, "id"] = 6  # ids 6 appears twice: both copies go
    frame.loc[8, "spend"] = "NA"  # R's missing value: null, not 'not numeric'
    path = tmp_path / "exp.csv"
    frame.to_csv(path, index=False)
    cfg = config_for(tmp_path, str(path), fmt="csv")
    result = ingest(cfg, spark)
    quarantine = spark.read.parquet(result.paths["quarantine"]).select("customer_id", "reason")
    expected = spark.createDataFrame(
        [
            ("0", "null arm"),
            ("1", "unknown arm 'zzz'"),
            ("2", "outcome 'buy' is null"),
            ("3", "outcome 'spend' is null"),
            ("4", "outcome 'spend' is not numeric"),
            ("6", "duplicate customer_id"),
            ("6", "duplicate customer_id"),
            ("8", "outcome 'spend' is null"),
        ],
        "customer_id string, reason string",
    )
    assert_df_equality(quarantine, expected, ignore_row_order=True)
    assert spark.read.parquet(result.paths["experiment"]).count() == len(frame) - 8


def stages_input(spark: Any) -> dict[int, int]:
    """Records read from files by each stage Spark's status store keeps, by stage id."""
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()
    store = spark.sparkContext._jsc.sc().statusStore()
    defaults = [getattr(store, f"stageList$default${i}")() for i in (2, 3, 4, 5)]
    stages = store.stageList(None, *defaults)
    found = (stages.apply(i) for i in range(stages.length()))
    return {stage.stageId(): int(stage.inputRecords()) for stage in found}


def test_a_csv_table_is_parsed_once_after_its_schema_is_inferred(
    spark: Any, tmp_path: Path
) -> None:
    frame = experiment_frame()
    frame.loc[5, "id"] = 6  # a repeated id: the window reads the cache too
    path = tmp_path / "exp.csv"
    frame.to_csv(path, index=False)
    before = stages_input(spark)
    ingest(config_for(tmp_path, str(path), fmt="csv"), spark)
    read = sum(n for stage, n in stages_input(spark).items() if stage > max(before, default=-1))
    assert 2 * len(frame) <= read <= 2 * len(frame) + 10  # inference, the cache; a few probes


def test_nan_outcome_in_parquet_is_quarantined(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "e.parquet")
    nan_at_7 = F.when(F.col("id") == 7, F.lit(float("nan"))).otherwise(F.col("spend"))
    spark.createDataFrame(experiment_frame()).withColumn("spend", nan_at_7).write.parquet(path)
    cfg = config_for(tmp_path, path)
    result = ingest(cfg, spark)
    rows = spark.read.parquet(result.paths["quarantine"]).collect()
    assert [(r.customer_id, r.reason) for r in rows] == [("7", "outcome 'spend' is NaN")]
    assert json.loads(rows[0].row)["treatment"] == "ctl"


def refused(spark: Any, cfg: Config, match: str) -> None:
    """Assert the stage refuses with a message matching ``match`` and writes nothing."""
    with pytest.raises(DataContractError, match=match):
        ingest(cfg, spark)
    assert not Path(cfg.outputs.root).exists()


def test_refuses_missing_configured_column(spark: Any, tmp_path: Path) -> None:
    path = write_parquet(experiment_frame().drop(columns="spend"), tmp_path / "e.parquet")
    refused(
        spark, config_for(tmp_path, path), r"table 'experiment', column 'spend': configured column"
    )


def test_a_missing_column_lists_the_table_columns_not_the_csv_readers_own(
    spark: Any, tmp_path: Path
) -> None:
    path = tmp_path / "e.csv"
    experiment_frame().drop(columns="spend").to_csv(path, index=False)
    with pytest.raises(DataContractError) as refusal:
        ingest(config_for(tmp_path, str(path), fmt="csv"), spark)
    assert "(the table has: id, age, region, group, buy)" in str(refusal.value)


def test_refuses_numbering_rows_over_an_own_customer_id_column(
    spark: Any, tmp_path: Path
) -> None:
    """data.customer_id: null numbers the rows as customer_id; a table with a column of that
    name was an unexpected Spark error (an ambiguous reference), now a refusal naming the fix."""
    frame = experiment_frame().rename(columns={"id": "customer_id"})
    path = write_parquet(frame, tmp_path / "e.parquet")
    refused(
        spark,
        config_for(tmp_path, path, customer_id=None),
        r"column 'customer_id': data.customer_id is null .* set data.customer_id: customer_id",
    )


def test_refuses_no_control_rows(spark: Any, tmp_path: Path) -> None:
    frame = experiment_frame()
    path = write_parquet(frame[frame.group != "ctl"], tmp_path / "e.parquet")
    refused(spark, config_for(tmp_path, path, arms=ARMS), r"no rows of the control arm 'ctl'")


def test_refuses_small_arm(spark: Any, tmp_path: Path) -> None:
    frame = experiment_frame()
    frame = frame.drop(frame[frame.group == "b"].index[:100])
    path = write_parquet(frame, tmp_path / "e.parquet")
    refused(
        spark,
        config_for(tmp_path, path),
        r"arm 'b' has 20 valid rows, below ingest.min_rows_per_arm=50",
    )


def test_refuses_non_binary_values(spark: Any, tmp_path: Path) -> None:
    frame = experiment_frame()
    frame.loc[10, "buy"] = 2.0
    path = write_parquet(frame, tmp_path / "e.parquet")
    refused(
        spark,
        config_for(tmp_path, path),
        r"column 'buy': binary outcome holds values other than 0 and 1 \(2.0\)",
    )


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5])
def test_refuses_propensity_outside_unit_interval(spark: Any, tmp_path: Path, bad: float) -> None:
    frame = experiment_frame().assign(p=1 / 3)
    frame.loc[11, "p"] = bad
    path = write_parquet(frame, tmp_path / "e.parquet")
    refused(
        spark,
        config_for(tmp_path, path, propensity="p"),
        r"column 'p': propensity must lie strictly",
    )


def test_refuses_empty_table(spark: Any, tmp_path: Path) -> None:
    path = write_parquet(experiment_frame().iloc[:0], tmp_path / "e.parquet")
    refused(spark, config_for(tmp_path, path), r"table 'experiment': the table is empty")


def test_refuses_feature_missing_from_customers(spark: Any, tmp_path: Path) -> None:
    path = write_parquet(experiment_frame(), tmp_path / "e.parquet")
    customers = write_parquet(experiment_frame()[["id", "age"]], tmp_path / "c.parquet")
    cfg = config_for(tmp_path, path, customers={"path": customers, "format": "parquet"})
    refused(
        spark, cfg, r"table 'customers', column 'region': feature\(s\) region of the experiment"
    )


def test_refuses_too_many_quarantined_rows(spark: Any, tmp_path: Path) -> None:
    frame = experiment_frame().astype({"group": object})
    frame.loc[: len(frame) // 4, "group"] = "zzz"
    path = write_parquet(frame, tmp_path / "e.parquet")
    refused(
        spark,
        config_for(tmp_path, path),
        r"above ingest.max_quarantine_share=0.2 \(top reasons: unknown arm 'zzz'.*Fix: the "
        r"treatment column holds labels that are neither data.control nor in data.arms: 'zzz' "
        r"\(\d+ rows\); write data.control and data.arms as the table writes them",
    )


def test_refuses_missing_input_path(spark: Any, tmp_path: Path) -> None:
    refused(spark, config_for(tmp_path, str(tmp_path / "nothing.parquet")), r"no parquet data at")


def test_refuses_non_numeric_numeric_feature(spark: Any, tmp_path: Path) -> None:
    frame = experiment_frame().astype({"age": object})
    frame.loc[3, "age"] = "old"
    path = tmp_path / "e.csv"
    frame.to_csv(path, index=False)
    refused(
        spark, config_for(tmp_path, str(path), fmt="csv"), r"column 'age': feature declared numeric"
    )


def test_missing_value_text_in_a_numeric_feature_is_a_missing_value(
    spark: Any, tmp_path: Path
) -> None:
    """R writes NA, Excel #N/A, a database NULL: pandas reads them as missing, and so does
    ingest (they were refused as non-numeric values); other text is still refused."""
    frame = experiment_frame().astype({"age": object})
    frame.loc[[0, 1, 2, 3], "age"] = ["NA", "#N/A", " NULL ", "n/a"]
    path = tmp_path / "e.csv"
    frame.to_csv(path, index=False)
    result = ingest(config_for(tmp_path, str(path), fmt="csv"), spark)
    ages = spark.read.parquet(result.paths["experiment"]).orderBy("customer_id").toPandas()["age"]
    assert ages.iloc[:4].isna().all() and ages.iloc[4:].notna().all()
    frame.loc[4, "age"] = "unknown"
    frame.to_csv(path, index=False)
    refused(
        spark,
        config_for(tmp_path / "again", str(path), fmt="csv"),
        r"column 'age': feature declared numeric holds non-numeric values \('unknown'\)",
    )


def test_a_semicolon_csv_read_with_commas_says_which_separator_to_set(
    spark: Any, tmp_path: Path
) -> None:
    path = tmp_path / "e.csv"
    experiment_frame().to_csv(path, index=False, sep=";")
    refused(
        spark,
        config_for(tmp_path, str(path), fmt="csv"),
        r"the table has: id;age;region;group;buy;spend\)\. Fix: the file looks ';'-separated: "
        r"set data\.experiment\.options: \{sep: ';'\}",
    )


def test_numbers_written_with_decimal_commas_are_named_as_such(
    spark: Any, tmp_path: Path
) -> None:
    path = tmp_path / "e.csv"
    experiment_frame().to_csv(path, index=False, sep=";", decimal=",")
    cfg = config_for(tmp_path, str(path), fmt="csv")
    cfg.data.experiment.options["sep"] = ";"
    refused(
        spark, cfg, r"column 'age': .* Fix: the numbers are written with commas \(a decimal comma"
    )


@pytest.mark.parametrize(
    ("column", "settings", "message"),
    [
        ("age", {}, r"column 'age': feature declared numeric has type date, not a number"),
        ("spend", {}, r"column 'spend': outcome has type date, not a number"),
        ("p", {"propensity": "p"}, r"column 'p': propensity column has type date, not a number"),
        ("w", {"weight": "w"}, r"column 'w': weight column has type date, not a number"),
    ],
)
def test_refuses_a_date_where_a_number_is_read(
    spark: Any, tmp_path: Path, column: str, settings: dict[str, str], message: str
) -> None:
    frame = experiment_frame().assign(p=0.5, w=1.0)
    frame[column] = [date(2024, 1, 1 + i % 28) for i in range(len(frame))]
    path = write_parquet(frame, tmp_path / "e.parquet")
    refused(spark, config_for(tmp_path, path, **settings), message)


def test_reads_pandas_nanosecond_timestamps_as_numbers(spark: Any, tmp_path: Path) -> None:
    """pandas writes timestamps in nanoseconds, which Spark refuses to read by default: the
    table is read, such a column declared numeric holding nanoseconds since the epoch."""
    frame = experiment_frame()
    frame["signup"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame["id"], unit="D")
    frame["seen"] = pd.Timestamp("2025-06-01 12:00:00.000000001")  # not configured
    path = write_parquet(frame, tmp_path / "e.parquet")
    features = {"age": "numeric", "region": "categorical", "signup": "numeric"}
    result = ingest(config_for(tmp_path, path, features=features), spark)
    signup = spark.read.parquet(result.paths["experiment"]).orderBy("customer_id")
    expected = frame["signup"].astype("int64").astype(float).tolist()
    assert [row.signup for row in signup.select("signup").collect()] == expected


def test_customer_table_duplicates_are_quarantined(spark: Any, tmp_path: Path) -> None:
    path = write_parquet(experiment_frame(), tmp_path / "e.parquet")
    customers = experiment_frame()[["id", "age", "region"]]
    customers = pd.concat([customers, customers.iloc[:2]])
    cpath = write_parquet(customers, tmp_path / "c.parquet")
    cfg = config_for(tmp_path, path, customers={"path": cpath, "format": "parquet"})
    result = ingest(cfg, spark)
    assert result.quarantined["customers"] == {"duplicate customer_id": 4}
    assert spark.read.parquet(result.paths["customers"]).count() == len(customers) - 4


def test_failed_ingest_leaves_previous_outputs(spark: Any, tmp_path: Path) -> None:
    good = config_for(tmp_path, write_parquet(experiment_frame(), tmp_path / "e.parquet"))
    first = ingest(good, spark)
    before = spark.read.parquet(first.paths["experiment"]).count()
    bad = config_for(
        tmp_path, write_parquet(experiment_frame().iloc[:0], tmp_path / "empty.parquet")
    )
    with pytest.raises(DataContractError):
        ingest(bad, spark)
    assert spark.read.parquet(first.paths["experiment"]).count() == before


def test_reads_a_catalog_table_and_refuses_one_that_does_not_exist(
    spark: Any, tmp_path: Path
) -> None:
    frame = experiment_frame()
    spark.createDataFrame(frame).write.mode("overwrite").option(
        "path", str(tmp_path / "warehouse")
    ).saveAsTable("campaign_history")
    try:
        result = ingest(config_for(tmp_path, "campaign_history", fmt="table"), spark)
        assert spark.read.parquet(result.paths["experiment"]).count() == len(frame)
        refused(
            spark,
            config_for(tmp_path / "again", "no_such_table", fmt="table"),
            r"catalog table 'no_such_table' does not exist",
        )
    finally:
        spark.sql("DROP TABLE IF EXISTS campaign_history")


def test_a_treatment_column_of_floats_reads_its_whole_numbers_as_the_configured_labels(
    spark: Any, tmp_path: Path
) -> None:
    """pandas writes an integer column with a missing value as floats (1 as 1.0): the arms
    ``control: 0``, ``arms: [1, 2]`` still match, in a CSV and in Parquet; NaN, infinite and
    fractional codes stay unknown arms (quarantined), a missing one a null arm."""
    frame = experiment_frame()
    frame["group"] = frame["group"].map({"ctl": 0.0, "a": 1.0, "b": 2.0})
    frame.loc[[0, 1], "group"] = [None, 1.5]
    csv = tmp_path / "e.csv"
    frame.to_csv(csv, index=False)  # the missing code is an empty field: a column of doubles
    cfg = config_for(tmp_path, str(csv), fmt="csv", control="0", arms=["1", "2"])
    result = ingest(cfg, spark)
    arms = spark.read.parquet(result.paths["experiment"]).groupBy("treatment").count()
    assert dict(map(tuple, arms.collect())) == {"0": 118, "1": 120, "2": 120}
    assert result.quarantined["experiment"] == {"null arm": 1, "unknown arm '1.5'": 1}
    odd = spark.createDataFrame(frame.fillna({"group": 0.0})).withColumn(
        "group",
        F.when(F.col("id") == 2, F.lit(float("nan")))
        .when(F.col("id") == 3, F.lit(float("inf")))
        .otherwise(F.col("group")),
    )
    odd.write.parquet(str(tmp_path / "odd.parquet"))
    odd_path = str(tmp_path / "odd.parquet")
    again = config_for(tmp_path / "again", odd_path, control="0", arms=["1", "2"])
    assert ingest(again, spark).quarantined["experiment"] == {
        "unknown arm 'NaN'": 1, "unknown arm 'Infinity'": 1, "unknown arm '1.5'": 1
    }


def test_an_ab_test_table_reads_float_arm_codes_and_boolean_outcomes(spark: Any) -> None:
    """`abtest readout` on a pandas-made table: arms 0.0/1.0 read as '0'/'1', a row without an
    arm left out, a boolean outcome as 0/1 (it was 'unexpected error: avg(BOOLEAN)')."""
    frame = pd.DataFrame(
        {
            "arm": [0.0, 0.0, 1.0, 1.0, 1.0, None],
            "bought": [True, False, True, True, False, True],
            "when": [date(2024, 1, d) for d in range(1, 7)],
        }
    )
    table = canonical_test_table(spark.createDataFrame(frame), "arm", ["bought"])
    stats = arm_stats_spark(table, outcomes=["bought"], treatment_col="arm")
    assert stats[["arm", "n", "mean"]].to_dict("list") == {
        "arm": ["0", "1"], "n": [2, 3], "mean": [0.5, 2 / 3]
    }
    with pytest.raises(DataContractError, match=r"column 'when': outcome has type date"):
        canonical_test_table(spark.createDataFrame(frame), "arm", ["when"])
    with pytest.raises(DataContractError, match=r"column 'group': .* Fix: set --arm-column"):
        canonical_test_table(spark.createDataFrame(frame), "group", ["bought"])


def test_refuses_a_format_the_session_cannot_read(spark: Any, tmp_path: Path) -> None:
    path = write_parquet(experiment_frame(), tmp_path / "e.parquet")
    refused(spark, config_for(tmp_path, path, fmt="delta"), r"cannot read format 'delta'")


def test_keep_columns_carries_matching_columns(spark: Any, tmp_path: Path) -> None:
    frame = experiment_frame().assign(true_mu__buy__a=0.3, true_tau__buy__a=0.1, other=1.0)
    path = write_parquet(frame, tmp_path / "e.parquet")
    result = ingest(config_for(tmp_path, path, keep_columns=["true_*"]), spark)
    experiment = spark.read.parquet(result.paths["experiment"])
    assert experiment.columns[-2:] == ["true_mu__buy__a", "true_tau__buy__a"]
    assert "other" not in experiment.columns
    customers = spark.read.parquet(result.paths["customers"])
    assert "true_tau__buy__a" in customers.columns


def test_infinite_outcomes_are_quarantined_and_the_report_is_strict_json(
    spark: Any, tmp_path: Path
) -> None:
    frame = experiment_frame()
    frame.loc[3, "spend"] = np.inf
    frame.loc[4, "spend"] = -np.inf
    csv = tmp_path / "exp.csv"
    frame.to_csv(csv, index=False)  # pandas writes 'inf' and '-inf'
    result = ingest(config_for(tmp_path, str(csv), fmt="csv"), spark)
    quarantine = spark.read.parquet(result.paths["quarantine"]).select("customer_id", "reason")
    assert sorted(map(tuple, quarantine.collect())) == [
        ("3", "outcome 'spend' is infinite"),
        ("4", "outcome 'spend' is infinite"),
    ]
    text = Path(result.paths["report"]).read_text()
    assert "Infinity" not in text and "NaN" not in text
    means = [arm["mean"] for arm in json.loads(text)["arms"]]
    assert all(np.isfinite(means))


def test_infinite_numeric_features_are_quarantined_and_nan_stays_missing(
    spark: Any, tmp_path: Path
) -> None:
    frame = experiment_frame()
    frame.loc[5, "age"] = np.inf
    frame.loc[6, "age"] = np.nan
    customers = frame[["id", "age", "region"]].copy()
    customers.loc[8, "age"] = -np.inf
    path = write_parquet(frame, tmp_path / "e.parquet")
    cpath = write_parquet(customers, tmp_path / "c.parquet")
    cfg = config_for(tmp_path, path, customers={"path": cpath, "format": "parquet"})
    result = ingest(cfg, spark)
    assert result.quarantined == {
        "experiment": {"feature 'age' is infinite": 1},
        "customers": {"feature 'age' is infinite": 2},
    }
    rows = spark.read.parquet(result.paths["quarantine"]).select("table", "customer_id")
    assert sorted(map(tuple, rows.collect())) == [
        ("customers", "5"), ("customers", "8"), ("experiment", "5")
    ]
    clean = spark.read.parquet(result.paths["experiment"]).filter("customer_id = 6").collect()
    assert len(clean) == 1 and clean[0].age is None  # missing, kept


def test_ragged_csv_lines_are_quarantined_not_cut(spark: Any, tmp_path: Path) -> None:
    csv = tmp_path / "exp.csv"
    experiment_frame().to_csv(csv, index=False)
    lines = csv.read_text().splitlines()
    lines[1] += ",extra,fields"  # customer 0: two fields more than the header
    lines[2] = ",".join(lines[2].split(",")[:-1])  # customer 1: one field short
    csv.write_text("\n".join(lines) + "\n")
    result = ingest(config_for(tmp_path, str(csv), fmt="csv"), spark)
    rows = spark.read.parquet(result.paths["quarantine"]).orderBy("customer_id").collect()
    malformed = "CSV line has more or fewer fields than the header"
    assert [(r.customer_id, r.reason) for r in rows] == [
        ("0", malformed),
        ("1", f"{malformed}; outcome 'spend' is null"),
    ]
    assert json.loads(rows[0].row)["csv_line"].endswith(",extra,fields")
    experiment = spark.read.parquet(result.paths["experiment"])
    assert experiment.count() == 3 * N_PER_ARM - 2
    assert not [c for c in experiment.columns if c.startswith("__")]


def test_a_header_with_a_repeated_separator_is_told_to_check_the_separator(
    spark: Any, tmp_path: Path
) -> None:
    """Whitespace-separated text with two spaces between two header names (as the reemployment
    bonus experiment's file is published) read with ``sep: " "``: the header has an empty field
    more than every line, so every line is ragged; the refusal names the separator option."""
    text = experiment_frame().to_csv(sep=" ", index=False)
    header, rest = text.split("\n", 1)
    path = tmp_path / "exp.dat"
    path.write_text(header.replace(" region ", " region  ") + "\n" + rest)
    cfg = config_for(tmp_path, str(path), fmt="csv")
    cfg.data.experiment.options = {"sep": " "}
    refused(
        spark,
        cfg,
        r"360 of 360 rows .*CSV line has more or fewer fields than the header.*"
        r"check the separator \(data\.experiment\.options\.sep\)",
    )


def test_a_backtick_in_a_kept_column_name_is_carried(spark: Any, tmp_path: Path) -> None:
    frame = experiment_frame().assign(**{"true`tau": 0.1})
    path = write_parquet(frame, tmp_path / "e.parquet")
    result = ingest(config_for(tmp_path, path, keep_columns=["true*"]), spark)
    kept = spark.read.parquet(result.paths["experiment"]).select(F.col("`true``tau`"))
    assert kept.distinct().collect()[0][0] == pytest.approx(0.1)


def test_positive_label_maps_to_one_and_labels_are_trimmed(spark: Any, tmp_path: Path) -> None:
    frame = experiment_frame()
    frame["buy"] = np.where(frame["buy"] == 1.0, " Yes", "No")
    frame["group"] = frame["group"] + "  "
    path = write_parquet(frame, tmp_path / "e.parquet")
    outcomes = {"buy": {"kind": "binary", "positive": "Yes"}, "spend": "continuous"}
    cfg = config_for(tmp_path, path, outcomes=outcomes, arms=[" a", "b "])
    result = ingest(cfg, spark)
    rows = spark.read.parquet(result.paths["experiment"]).toPandas().sort_values("customer_id")
    assert rows["buy"].tolist() == (experiment_frame()["buy"]).tolist()
    assert sorted(rows["treatment"].unique()) == ["a", "b", "ctl"]
    frame.loc[3, "buy"] = "NA"  # an unknown purchase, not a 'No': quarantined, not read as 0
    path = write_parquet(frame, tmp_path / "na.parquet")
    again = config_for(tmp_path / "na", path, outcomes=outcomes, arms=[" a", "b "])
    quarantine = spark.read.parquet(ingest(again, spark).paths["quarantine"]).collect()
    assert [(r.customer_id, r.reason) for r in quarantine] == [("3", "outcome 'buy' is null")]


def test_refuses_a_positive_label_no_row_has(spark: Any, tmp_path: Path) -> None:
    frame = experiment_frame()
    frame["buy"] = np.where(frame["buy"] == 1.0, "Yes", "No")
    path = write_parquet(frame, tmp_path / "e.parquet")
    outcomes = {"buy": {"kind": "binary", "positive": "yes"}, "spend": "continuous"}
    refused(
        spark,
        config_for(tmp_path, path, outcomes=outcomes),
        r"column 'buy': no row has the positive label 'yes'.*data\.outcomes\.buy\.positive",
    )


def test_labels_in_a_binary_outcome_without_positive_are_told_to_map_one(
    spark: Any, tmp_path: Path
) -> None:
    """Yes/No in a binary outcome quarantine every row; the refusal says to name the label read
    as 1 (before: 'fix the source table, or raise ingest.max_quarantine_share')."""
    frame = experiment_frame()
    frame["buy"] = np.where(frame["buy"] == 1.0, "Yes", "No")
    path = write_parquet(frame, tmp_path / "e.parquet")
    refused(
        spark,
        config_for(tmp_path, path),
        r"outcome 'buy' is not numeric: 360.*declare data\.outcomes\.buy: \{kind: binary, "
        r"positive: <the label read as 1>\}",
    )


def test_refuses_an_experiment_without_offer_rows(spark: Any, tmp_path: Path) -> None:
    frame = experiment_frame()
    path = write_parquet(frame[frame.group == "ctl"], tmp_path / "e.parquet")
    refused(spark, config_for(tmp_path, path), r"no rows of any offer arm.*set data\.arms")


def test_a_cluster_column_is_carried_as_text_and_a_row_without_one_is_quarantined(
    spark: Any, tmp_path: Path
) -> None:
    frame = experiment_frame().assign(household=lambda f: (f["id"] // 2).astype(float))
    frame.loc[3, "household"] = np.nan
    cfg = config_for(tmp_path, write_parquet(frame, tmp_path / "e.parquet"), cluster="household")
    result = ingest(cfg, spark)
    quarantine = spark.read.parquet(result.paths["quarantine"]).select("customer_id", "reason")
    assert [tuple(row) for row in quarantine.collect()] == [("3", "null cluster")]
    experiment = spark.read.parquet(result.paths["experiment"]).toPandas()
    assert "household" not in experiment.columns
    assert experiment.set_index("customer_id")["cluster_id"].loc[[0, 1, 4]].tolist() == [
        "0.0", "0.0", "2.0",
    ]  # fmt: skip


def test_refuses_a_missing_cluster_column(spark: Any, tmp_path: Path) -> None:
    path = write_parquet(experiment_frame(), tmp_path / "e.parquet")
    refused(
        spark,
        config_for(tmp_path, path, cluster="household"),
        r"table 'experiment', column 'household': configured column is missing.*data\.cluster",
    )


def test_the_effects_of_rows_that_come_in_copies_are_read_by_their_cluster(
    spark: Any, tmp_path: Path
) -> None:
    """Every customer twice (a household of two identical rows): read as independent rows the
    intervals shrink by about 1/sqrt(2); read by household, they are the original rows' width
    (a normal interval with the cluster-robust variances instead of Welch's and Newcombe's)."""
    frame = experiment_frame()
    copies = pd.concat([frame, frame.assign(id=frame["id"] + 10_000)], ignore_index=True)
    copies["household"] = copies["id"] % 10_000
    path = write_parquet(copies, tmp_path / "copies.parquet")
    widths = {}
    for name, data in (
        ("original", {"experiment": write_parquet(frame, tmp_path / "e.parquet")}),
        ("rows", {"experiment": path}),
        ("households", {"experiment": path, "cluster": "household"}),
    ):
        experiment = data.pop("experiment")
        cfg = config_for(tmp_path / name, experiment, **data)
        summary = ingest(cfg, spark).summary.set_index(["arm", "outcome"])
        widths[name] = summary["ci_high"] - summary["ci_low"]
    ratio = widths["rows"] / widths["original"]
    assert ratio.between(0.69, 0.73).all(), ratio
    assert (widths["households"] / widths["original"]).between(0.95, 1.03).all()


def test_the_abtest_readout_reads_a_test_randomized_by_household(
    spark: Any, tmp_path: Path
) -> None:
    """`abtest readout --cluster-column`: the rows of a household read as one unit (a row
    without a household left out, as a row without an arm is), the title says so, and a
    missing column is one line naming the option."""
    from typer.testing import CliRunner

    from causal_targeting.cli import app

    frame = experiment_frame()
    copies = pd.concat([frame, frame.assign(id=frame["id"] + 10_000)], ignore_index=True)
    copies["household"] = (copies["id"] % 10_000).astype(float)
    copies.loc[0, "household"] = np.nan
    path = tmp_path / "test.csv"
    copies.to_csv(path, index=False)
    table = canonical_test_table(
        spark.read.csv(str(path), header=True, inferSchema=True), "group", ["spend"], "household"
    )
    assert table.count() == len(copies) - 1 and "cluster_id" in table.columns
    args = ["abtest", "readout", str(path), "--arm-column", "group", "--control", "ctl",
            "--outcome", "spend", "--kind", "continuous"]  # fmt: skip
    read = CliRunner().invoke(app, [*args, "--cluster-column", "household"])
    assert read.exit_code == 0, read.output
    assert "95% CI, clusters of 'household'" in " ".join(read.output.split())
    missing = CliRunner().invoke(app, [*args, "--cluster-column", "hh"])
    assert missing.exit_code == 2
    assert "column 'hh'" in missing.output and "--cluster-column" in missing.output


def test_the_cluster_variances_on_spark_are_the_pandas_ones(spark: Any) -> None:
    rng = np.random.default_rng(11)
    households = np.repeat(np.arange(400), rng.integers(1, 4, 400))
    frame = pd.DataFrame(
        {
            "arm": np.repeat(rng.choice(["ctl", "a", "b"], 400), np.bincount(households)),
            "cluster_id": households.astype(str),
            "buy": (rng.random(households.size) < 0.3).astype(float),
            "spend": rng.gamma(2.0, 10.0, households.size),
        }
    )
    on_spark = cluster_variances_spark(
        spark.createDataFrame(frame).repartition(3),
        outcomes=["buy", "spend"],
        cluster_col="cluster_id",
        treatment_col="arm",
    ).set_index(["arm", "outcome"])["mean_var"]
    for outcome in ("buy", "spend"):
        moments = cluster_moments(
            frame, arm_col="arm", outcome_col=outcome, cluster_col="cluster_id"
        )
        expected = cluster_mean_variance(moments).set_axis(moments["arm"])
        mine = on_spark.xs(outcome, level="outcome").reindex(expected.index)
        np.testing.assert_allclose(mine.to_numpy(), expected.to_numpy(), rtol=1e-12)


def test_a_feature_recorded_after_the_offer_is_warned_of(spark: Any, tmp_path: Path) -> None:
    """'exposure' is 0 on every control row (as in an experiment whose exposure flag is set by
    the offer): ingest writes its tables, and says which feature differs between the arms, in
    its result and its report; with a propensity column (a design that may give the arms by the
    features) it does not judge."""
    frame = experiment_frame()
    offered = frame["group"] != "ctl"
    frame["exposure"] = np.where(offered, np.arange(len(frame)) % 3 == 0, 0).astype(float)
    path = write_parquet(frame, tmp_path / "e.parquet")
    features = {"age": "numeric", "region": "categorical", "exposure": "numeric"}
    result = ingest(config_for(tmp_path, path, features=features), spark)
    assert len(result.imbalance) == 1
    assert result.imbalance[0].startswith("feature 'exposure' differs between the arms")
    report = json.loads(Path(result.paths["report"]).read_text())
    assert report["balance_checked"] is True
    assert {row["feature"] for row in report["imbalanced_features"]} == {"exposure"}
    with_design = frame.assign(p=1 / 3)
    path = write_parquet(with_design, tmp_path / "p.parquet")
    cfg = config_for(tmp_path / "p", path, features=features, propensity="p")
    checked = ingest(cfg, spark)
    assert checked.imbalance == []
    assert json.loads(Path(checked.paths["report"]).read_text())["balance_checked"] is False
