"""The data contract: canonical experiment and customer tables, row quarantine, table refusals.

Canonical experiment table: ``customer_id``, the features (numeric as double, categorical as
string), ``treatment`` (arm name), the outcomes (double; binary ones 0.0/1.0), optional
``propensity``, ``weight`` and ``cluster_id`` (the unit randomized, ``data.cluster``, as text).
Canonical customer table: ``customer_id`` and the same features.

Row-level problems never drop a row silently: the row goes to the quarantine table with every
``reason`` that applies (null or unknown arm; null, NaN, infinite or non-numeric outcome; an
infinite numeric feature (NaN stays allowed: it is a missing value); a CSV line whose field
count differs from the header's; duplicate ``customer_id``, all copies; a null cluster).
Table-level problems raise :class:`DataContractError` before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from causal_targeting.config.data import CLUSTER_COLUMN
from causal_targeting.data.balance import imbalanced_features
from causal_targeting.data.io import MALFORMED_LINE
from causal_targeting.errors import DataContractError

if TYPE_CHECKING:
    from causal_targeting.config import DataConfig, IngestConfig

EXPERIMENT = "experiment"
CUSTOMERS = "customers"
QUARANTINE_COLUMNS = ("table", "customer_id", "reason", "row")
LINE = "__line"


@dataclass(frozen=True)
class ValidatedTables:
    """The result of validation: clean canonical tables, quarantined rows and counts."""

    experiment: DataFrame
    customers: DataFrame
    quarantine: DataFrame
    arm_stats: pd.DataFrame
    rows_read: dict[str, int]
    quarantined: dict[str, dict[str, int]] = field(default_factory=dict)
    cached: tuple[DataFrame, ...] = ()
    imbalanced: pd.DataFrame = field(default_factory=pd.DataFrame)


def _q(name: str) -> str:
    """``name`` quoted as a Spark SQL identifier (a backtick in it doubled)."""
    return "`" + name.replace("`", "``") + "`"


def require_columns(df: DataFrame, table: str, wanted: dict[str, str]) -> None:
    """Refuse a table lacking a configured column; ``wanted`` maps column -> config key."""
    present = set(df.columns)
    shown = [column for column in df.columns if column != MALFORMED_LINE]  # the reader's own
    for column, key in wanted.items():
        if column not in present:
            separator = csv_separator_hint(shown)
            fix = (
                f"the file looks {separator!r}-separated: set data.{table}.options: "
                f"{{sep: {separator!r}}}"
                if separator
                else f"set {key} to one of the table's columns, or add the column to the table"
            )
            raise DataContractError(
                table,
                f"configured column is missing (the table has: {', '.join(shown)})",
                fix,
                column=column,
            )


def csv_separator_hint(columns: list[str]) -> str | None:
    """The separator a table of one column whose name holds ';', a tab or '|' was likely
    written with (a CSV read with the default ','), else None."""
    if len(columns) != 1:
        return None
    return next((sep for sep in (";", "\t", "|") if sep in columns[0]), None)


def require_rows(df: DataFrame, table: str) -> None:
    """Refuse an empty table."""
    if df.limit(1).count() == 0:
        raise DataContractError(
            table, "the table is empty", "point the config at a table with rows"
        )


def refuse_own_id_column(df: DataFrame, table: str) -> None:
    """Refuse numbering the rows as ``customer_id`` (``data.customer_id: null``) when the table
    has a column of that name: the two would clash."""
    if "customer_id" in df.columns:
        raise DataContractError(
            table,
            "data.customer_id is null (rows numbered in file order as customer_id) but the table "
            "has its own column 'customer_id'",
            "set data.customer_id: customer_id to use that column as the id, or rename it",
            column="customer_id",
        )


def with_row_ids(df: DataFrame) -> DataFrame:
    """Number the rows in file order as ``customer_id`` (for tables that have no id column)."""
    schema = T.StructType([*df.schema.fields, T.StructField("customer_id", T.LongType(), False)])
    numbered = df.rdd.zipWithIndex().map(lambda pair: (*pair[0], pair[1]))
    return df.sparkSession.createDataFrame(numbered, schema)


NUMBER_LIKE = (T.NumericType, T.BooleanType, T.StringType)
"""Spark types a column read as a number can have: numbers, booleans and text of numbers (not
dates, timestamps, binary or nested types, which Spark will not cast to double)."""


def refuse_non_number(df: DataFrame, table: str, name: str, role: str, fix: str) -> None:
    """Refuse column ``name``, read as a number in its ``role``, when its type cannot be one."""
    dtype = df.schema[name].dataType
    if not isinstance(dtype, NUMBER_LIKE):
        raise DataContractError(
            table, f"{role} has type {dtype.simpleString()}, not a number", fix, column=name
        )


def _numeric_feature(df: DataFrame, table: str, name: str) -> Column:
    """The feature as double (text such as 'NA' or 'NULL' a missing value, :data:`MISSING_TEXT`);
    a string column with other non-numeric values is refused, and so is a column of a type that
    is not a number (a date, a timestamp)."""
    refuse_non_number(
        df, table, name, "feature declared numeric",
        f"declare data.features.{name}: categorical, or add a number derived from it to the "
        "table (e.g. days since the date) and declare that",
    )
    if isinstance(df.schema[name].dataType, T.StringType):
        number, column = number_from_text(name), F.col(_q(name))
        bad = df.filter(column.isNotNull() & number.isNull() & ~missing_text(column))
        example = bad.select(column).limit(3).collect()
        if example:
            values = [row[0] for row in example]
            fix = (
                "the numbers are written with commas (a decimal comma or a thousands "
                "separator): write them with a decimal point and no separator"
                if all(number_with_commas(value) for value in values)
                else f"declare data.features.{name}: categorical, or clean the column"
            )
            raise DataContractError(
                table,
                f"feature declared numeric holds non-numeric values "
                f"({', '.join(map(repr, values))})",
                fix,
                column=name,
            )
        return number.alias(name)
    return F.col(_q(name)).cast("double").alias(name)


MISSING_TEXT = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)
"""Text read as a missing value in a numeric column: pandas' default ``na_values`` (R writes
``NA``, Excel ``#N/A``, databases ``NULL``)."""


def missing_text(column: Column) -> Column:
    """Whether ``column``'s text (trimmed) is one of :data:`MISSING_TEXT`."""
    return F.trim(column.cast("string")).isin(*MISSING_TEXT)


def number_from_text(name: str) -> Column:
    """Column ``name``'s text as double: null where it is :data:`MISSING_TEXT` or not a number."""
    return F.when(missing_text(F.col(_q(name))), F.lit(None).cast("double")).otherwise(
        F.expr(f"try_cast({_q(name)} AS double)")
    )


def number_with_commas(text: str) -> bool:
    """Whether ``text`` is a number written with commas: a decimal comma ('-0,652') or a
    thousands separator ('1,250.5')."""
    return "," in text and re.fullmatch(r"\s*[-+]?[\d.,]*\d\s*", text) is not None


def feature_columns(df: DataFrame, table: str, features: dict[str, str]) -> list[Column]:
    """Canonical feature columns: numeric as double, categorical as string."""
    return [
        _numeric_feature(df, table, name) if kind == "numeric" else F.col(_q(name)).cast("string")
        for name, kind in features.items()
    ]


def kept_columns(df: DataFrame, data: DataConfig, used: set[str]) -> list[Column]:
    """Columns matching ``data.keep_columns`` (glob patterns, e.g. ``true_*``), as they are."""
    return [
        F.col(_q(name))
        for name in df.columns
        if name not in used and any(fnmatchcase(name, p) for p in data.keep_columns)
    ]


RAGGED_LINE = "CSV line has more or fewer fields than the header"
"""The quarantine reason of a CSV row whose field count differs from the header's."""


def value_reasons(canonical: DataFrame, data: DataConfig) -> list[Column]:
    """Nullable reason columns any table's row can have: a malformed CSV line, an infinite
    numeric feature."""
    infinite = F.lit(float("inf"))
    reasons = [
        F.when(F.abs(F.col(_q(name))) == infinite, F.lit(f"feature '{name}' is infinite"))
        for name, kind in data.features.items()
        if kind == "numeric"
    ]
    if LINE in canonical.columns:
        reasons.insert(0, F.when(F.col(LINE).isNotNull(), F.lit(RAGGED_LINE)))
    return reasons


def malformed_line(raw: DataFrame) -> list[Column]:
    """The raw line of a malformed CSV row, when the table is a CSV (see data/io.py)."""
    return [F.col(MALFORMED_LINE).alias(LINE)] if MALFORMED_LINE in raw.columns else []


UNKNOWN_ARM = "unknown arm '{}'"
"""The quarantine reason of a row whose arm is neither ``data.control`` nor one of ``data.arms``."""

NOT_NUMERIC = "outcome '{}' is not numeric"
"""The quarantine reason of an outcome value that is not a number (the outcome's name in it)."""


def experiment_reason_columns(data: DataConfig) -> list[Column]:
    """One nullable string column per row-level problem of an experiment row."""
    known = [data.control, *data.arms]
    reasons = [
        F.when(F.col("customer_id").isNull(), F.lit("null customer_id")),
        F.when(F.col("treatment").isNull(), F.lit("null arm")),
        F.when(
            F.col("treatment").isNotNull() & ~F.col("treatment").isin(known),
            F.format_string(UNKNOWN_ARM.replace("{}", "%s"), F.col("treatment")),
        ),
        F.when(F.col("__dup") > 1, F.lit("duplicate customer_id")),
    ]
    if data.cluster:
        cluster = F.col(CLUSTER_COLUMN)
        reasons.append(F.when(cluster.isNull() | missing_text(cluster), F.lit("null cluster")))
    for outcome in data.outcomes:
        raw, num = F.col(f"__raw_{outcome}"), F.col(_q(outcome))
        written_missing = num.isNull() & missing_text(raw)
        reasons.append(
            F.when(raw.isNull() | written_missing, F.lit(f"outcome '{outcome}' is null"))
            .when(num.isNull(), F.lit(NOT_NUMERIC.format(outcome)))
            .when(F.isnan(num), F.lit(f"outcome '{outcome}' is NaN"))
            .when(F.abs(num) == F.lit(float("inf")), F.lit(f"outcome '{outcome}' is infinite"))
        )
    return reasons


def arm_labels(df: DataFrame, name: str) -> Column:
    """The treatment column ``name`` as trimmed text; a fractional column's whole numbers without
    their '.0' (pandas writes an integer column with a missing value as floats, 1 as 1.0, and
    the config's arms are ``[1]``)."""
    column = F.col(_q(name))
    if isinstance(df.schema[name].dataType, T.FractionalType):
        whole = (column % 1 == 0) & (F.abs(column) < 1e15)  # NaN % 1 and inf % 1 are NaN
        return F.when(whole, column.cast("long").cast("string")).otherwise(
            F.trim(column.cast("string"))
        )
    return F.trim(column.cast("string"))


def canonical_test_table(
    df: DataFrame, arm_column: str, outcomes: Sequence[str], cluster: str | None = None
) -> DataFrame:
    """A finished A/B test's table for its readout: ``arm`` (:func:`arm_labels`; rows without
    one left out), each outcome as double (a boolean as 0/1) and, with ``cluster`` (the column
    of the unit randomized), the cluster as text in ``cluster_id`` (rows without one left out);
    a missing column or an outcome that is not a number is refused."""
    table = "abtest"
    wanted = {arm_column: "--arm-column", **{name: "--outcome" for name in outcomes}}
    if cluster is not None:
        wanted[cluster] = "--cluster-column"
    require_columns(df, table, wanted)
    for name in outcomes:
        refuse_non_number(
            df, table, name, "outcome", "give --outcome a numeric or boolean column of the table"
        )
    clusters = [] if cluster is None else [F.trim(F.col(_q(cluster)).cast("string"))]
    rows = df.select(
        arm_labels(df, arm_column).alias("arm"),
        *[F.expr(f"try_cast({_q(name)} AS double)").alias(name) for name in outcomes],
        *[column.alias(CLUSTER_COLUMN) for column in clusters],
    ).where(F.col("arm").isNotNull())
    return rows if cluster is None else rows.where(F.col(CLUSTER_COLUMN).isNotNull())


def outcome_column(outcome: str, positive: str | None) -> Column:
    """The outcome as double: the ``positive`` label (trimmed) as 1.0 and any other label as
    0.0 when a label is configured (null where the label is null or missing text such as 'NA',
    :data:`MISSING_TEXT`: an unknown outcome, not a 0), else the numeric value (null where not
    numeric)."""
    if positive is None:
        return F.expr(f"try_cast({_q(outcome)} AS double)").alias(outcome)
    label = F.trim(F.col(_q(outcome)).cast("string"))
    return (
        F.when(label == positive.strip(), F.lit(1.0))
        .when(label.isNotNull() & ~missing_text(label), F.lit(0.0))
        .alias(outcome)
    )


def label_hits(outcome: str, positive: str) -> Column:
    """Aggregate: how many rows hold the configured ``positive`` label (trimmed) of ``outcome``."""
    raw = F.trim(F.col(_q(f"__raw_{outcome}")))
    return F.sum((raw == positive.strip()).cast("long")).alias(f"hits__{outcome}")


def check_positive_labels(classified: DataFrame, hits: pd.Series, data: DataConfig) -> None:
    """Refuse a configured positive label that no row of the outcome has (``hits``: rows per
    ``hits__{outcome}`` column of :func:`experiment_summary`)."""
    for outcome, positive in data.positive_labels.items():
        raw = F.trim(F.col(_q(f"__raw_{outcome}")))
        if not hits.get(f"hits__{outcome}", 0) > 0:
            seen = classified.select(raw.alias("label")).distinct().limit(5).collect()
            labels = ", ".join(repr(row[0]) for row in seen)
            raise DataContractError(
                EXPERIMENT,
                f"no row has the positive label {positive!r} (labels seen: {labels})",
                f"set data.outcomes.{outcome}.positive to the label that means 1",
                column=outcome,
            )


def canonical_experiment(raw: DataFrame, data: DataConfig) -> DataFrame:
    """Rename and cast the experiment table to the contract, keeping raw outcomes for reasons."""
    table = EXPERIMENT
    wanted = {data.treatment: "data.treatment"}
    if data.customer_id is not None:
        wanted[data.customer_id] = "data.customer_id"
    wanted.update({name: f"data.features.{name}" for name in data.features})
    wanted.update({name: f"data.outcomes.{name}" for name in data.outcomes})
    if data.propensity:
        wanted[data.propensity] = "data.propensity"
    if data.weight:
        wanted[data.weight] = "data.weight"
    if data.cluster:
        wanted[data.cluster] = "data.cluster"
    require_columns(raw, table, wanted)
    require_rows(raw, table)
    if data.customer_id is None:
        refuse_own_id_column(raw, table)
        raw = with_row_ids(raw)
        id_column = "customer_id"
    else:
        id_column = data.customer_id
    columns = [
        F.col(_q(id_column)).alias("customer_id"),
        *feature_columns(raw, table, data.features),
        arm_labels(raw, data.treatment).alias("treatment"),
    ]
    for outcome in data.outcomes:
        if outcome not in data.positive_labels:
            refuse_non_number(
                raw, table, outcome, "outcome",
                f"point data.outcomes.{outcome} at a numeric column, or declare the label that "
                f"means 1: data.outcomes.{outcome}: {{kind: binary, positive: <label>}}",
            )
        columns.append(outcome_column(outcome, data.positive_labels.get(outcome)))
        columns.append(F.col(_q(outcome)).cast("string").alias(f"__raw_{outcome}"))
    if data.propensity:
        refuse_non_number(
            raw, table, data.propensity, "propensity column",
            "point data.propensity at a column of design probabilities, or unset it",
        )
        columns.append(F.expr(f"try_cast({_q(data.propensity)} AS double)").alias("propensity"))
    if data.weight:
        refuse_non_number(
            raw, table, data.weight, "weight column",
            "point data.weight at a column of row weights, or unset it",
        )
        columns.append(F.expr(f"try_cast({_q(data.weight)} AS double)").alias("weight"))
    if data.cluster:
        columns.append(F.trim(F.col(_q(data.cluster)).cast("string")).alias(CLUSTER_COLUMN))
    used = {id_column, MALFORMED_LINE, *wanted}
    return raw.select(*columns, *malformed_line(raw), *kept_columns(raw, data, used))


def has_duplicate_ids(canonical: DataFrame) -> bool:
    """Whether any ``customer_id`` (nulls counted as one id) occurs more than once: a hash
    aggregation of the id column alone, no shuffle or sort of whole rows."""
    repeated = canonical.groupBy("customer_id").count().filter(F.col("count") > 1)
    return repeated.limit(1).count() > 0


def copies(canonical: DataFrame) -> Column:
    """The number of rows sharing each row's ``customer_id`` (nulls together): a window over
    whole rows only when :func:`has_duplicate_ids` finds a repeated id, else 1."""
    if not has_duplicate_ids(canonical):
        return F.lit(1)
    return F.count(F.lit(1)).over(Window.partitionBy("customer_id"))


def classify_rows(canonical: DataFrame, data: DataConfig) -> DataFrame:
    """Add ``reason`` (null for a clean row, else every problem joined by '; ')."""
    with_dup = canonical.withColumn("__dup", copies(canonical))
    reasons = [*value_reasons(canonical, data), *experiment_reason_columns(data)]
    return with_dup.withColumn("reason", F.concat_ws("; ", *reasons)).withColumn(
        "reason", F.when(F.col("reason") == "", None).otherwise(F.col("reason"))
    )


def quarantine_rows(classified: DataFrame, table: str) -> DataFrame:
    """Quarantined rows in the quarantine table's shape: table, customer_id, reason, raw row."""
    columns = classified.columns
    payload = [
        F.col(_q(f"__raw_{c}")).alias(c) if f"__raw_{c}" in columns else F.col(_q(c))
        for c in columns
        if c not in ("reason", "__dup", LINE) and not c.startswith("__raw_")
    ]
    if LINE in columns:
        payload.append(F.col(LINE).alias("csv_line"))
    return classified.filter(F.col("reason").isNotNull()).select(
        F.lit(table).alias("table"),
        F.col("customer_id").cast("string").alias("customer_id"),
        F.col("reason"),
        F.to_json(F.struct(*payload)).alias("row"),
    )


def arm_aggregates(data: DataConfig) -> list[Column]:
    """Per group of rows: n and, per outcome, mean, sample variance, min, max (and, binary, the
    rows other than 0/1); min, max and nulls of the propensity and the weight; per numeric
    feature, the mean, sample variance and count of its values that are not missing (null or
    NaN), for :mod:`~causal_targeting.data.balance`."""
    aggregates = [F.count(F.lit(1)).alias("n")]
    for feature, kind in data.features.items():
        if kind == "numeric":
            value = F.nanvl(F.col(_q(feature)), F.lit(None).cast("double"))
            aggregates += [
                F.mean(value).alias(f"mean__{feature}"),
                F.var_samp(value).alias(f"var__{feature}"),
                F.count(value).alias(f"count__{feature}"),
            ]
    for outcome in data.outcomes:
        col = F.col(_q(outcome))
        aggregates += [
            F.mean(col).alias(f"mean__{outcome}"),
            F.var_samp(col).alias(f"var__{outcome}"),
            F.min(col).alias(f"min__{outcome}"),
            F.max(col).alias(f"max__{outcome}"),
        ]
        if data.outcomes[outcome] == "binary":
            aggregates.append(F.sum((~col.isin(0.0, 1.0)).cast("long")).alias(f"bad__{outcome}"))
    for name in ("propensity", "weight"):
        if getattr(data, name):
            aggregates += [F.min(name).alias(f"min__{name}"), F.max(name).alias(f"max__{name}")]
            aggregates.append(F.sum(F.col(name).isNull().cast("long")).alias(f"null__{name}"))
    return aggregates


def experiment_summary(classified: DataFrame, data: DataConfig) -> pd.DataFrame:
    """One aggregation pass over the classified experiment rows, per (``treatment``,
    ``reason``): :func:`arm_aggregates` and the rows holding each configured positive label
    (``hits__{outcome}``). The rows of reason null are the clean rows, one group per arm."""
    hits = [label_hits(o, positive) for o, positive in data.positive_labels.items()]
    return classified.groupBy("treatment", "reason").agg(*arm_aggregates(data), *hits).toPandas()


def arm_statistics(summary: pd.DataFrame) -> pd.DataFrame:
    """The clean rows' groups of :func:`experiment_summary`, indexed by ``arm``."""
    clean = summary[summary["reason"].isna()].drop(columns="reason")
    clean = clean.drop(columns=[c for c in clean.columns if c.startswith("hits__")])
    return clean.rename(columns={"treatment": "arm"}).set_index("arm")


def check_experiment(
    wide: pd.DataFrame, clean: DataFrame, data: DataConfig, ingest: IngestConfig
) -> None:
    """Table-level refusals on the clean experiment rows (``wide`` from :func:`arm_statistics`)."""
    table = EXPERIMENT
    if not set(data.arms) & set(wide.index):
        raise DataContractError(
            table,
            f"no rows of any offer arm ({', '.join(data.arms)}; arms seen: "
            f"{', '.join(map(str, wide.index))}): there is nothing to compare the control with",
            "set data.arms to the treated arms' labels in the table, or supply treated rows",
            column=data.treatment,
        )
    if data.control not in wide.index:
        raise DataContractError(
            table,
            f"no rows of the control arm '{data.control}' "
            f"(arms seen: {', '.join(map(str, wide.index))})",
            "set data.control to the arm that got no offer, or supply control rows",
            column=data.treatment,
        )
    for arm in [data.control, *data.arms]:
        n = int(wide.loc[arm, "n"]) if arm in wide.index else 0
        if n < ingest.min_rows_per_arm:
            raise DataContractError(
                table,
                f"arm '{arm}' has {n} valid rows, "
                f"below ingest.min_rows_per_arm={ingest.min_rows_per_arm}",
                "supply more rows for the arm, remove it from data.arms, "
                "or lower ingest.min_rows_per_arm",
                column=data.treatment,
            )
    for outcome, kind in data.outcomes.items():
        if kind == "binary" and wide[f"bad__{outcome}"].sum() > 0:
            column = F.col(_q(outcome))
            values = clean.filter(~column.isin(0.0, 1.0)).select(column).distinct()
            shown = ", ".join(str(r[0]) for r in values.limit(3).collect())
            raise DataContractError(
                table,
                f"binary outcome holds values other than 0 and 1 ({shown})",
                f"declare data.outcomes.{outcome}: continuous, or recode it to 0/1",
                column=outcome,
            )
    if data.propensity:
        low, high = wide["min__propensity"].min(), wide["max__propensity"].max()
        if wide["null__propensity"].sum() > 0 or not (low > 0.0 and high < 1.0):
            raise DataContractError(
                table,
                f"propensity must lie strictly between 0 and 1 (seen min {low}, max {high}, "
                f"{int(wide['null__propensity'].sum())} null or non-numeric)",
                "give the design probability of each row's arm, or unset data.propensity",
                column=data.propensity,
            )
    if data.weight:
        low = wide["min__weight"].min()
        if wide["null__weight"].sum() > 0 or not low > 0.0:
            raise DataContractError(
                table,
                f"weights must be positive numbers (seen min {low})",
                "fix the weight column or unset data.weight",
                column=data.weight,
            )


def quarantine_fix(counts: dict[str, int], table: str) -> str:
    """What to do about a table most of whose rows would be quarantined: for an outcome that
    holds labels rather than numbers (the commonest reason), map its label to 1; for lines of
    another field count than the header (a wrong or repeated separator), check the separator;
    for arms the config does not name, write them as the table does; else fix the table or
    allow the share."""
    pattern = re.escape(NOT_NUMERIC).replace(re.escape("{}"), "(.+)")
    commonest = max(counts, key=lambda reason: counts[reason])
    if commonest.startswith(RAGGED_LINE):
        return (
            "most lines do not have the header's number of fields: check the separator "
            f"(data.{table}.options.sep); a separator repeated, such as two spaces between "
            "columns, makes empty fields, so convert whitespace-separated text to CSV first "
            "(e.g. pandas.read_csv(path, sep=r'\\s+').to_csv(new_path, index=False))"
        )
    if unknown_arm_rows({commonest: counts[commonest]}):
        unknown = unknown_arm_rows(counts)
        labels = sorted(unknown, key=lambda label: -unknown[label])
        shown = ", ".join(f"'{label}' ({unknown[label]} rows)" for label in labels[:5])
        return (
            f"the treatment column holds labels that are neither data.control nor in data.arms: "
            f"{shown}{', ...' if len(labels) > 5 else ''}; write data.control and data.arms as "
            "the table writes them (compared as text after trimming, case included), or leave "
            "the other arms' rows out of the table (e.g. in a view)"
        )
    found = re.fullmatch(pattern, commonest)
    if found:
        outcome = found[1]
        return (
            f"if '{outcome}' holds labels (such as Yes/No), declare data.outcomes.{outcome}: "
            "{kind: binary, positive: <the label read as 1>}; else fix the source table"
        )
    return "fix the source table, or raise ingest.max_quarantine_share if these rows are expected"


def unknown_arm_rows(counts: dict[str, int]) -> dict[str, int]:
    """Rows quarantined for each unknown arm label, from the counts by reason (a row's reasons
    joined by '; ')."""
    pattern = re.escape(UNKNOWN_ARM).replace(re.escape("{}"), "(.*)")
    rows: dict[str, int] = {}
    for reason, n in counts.items():
        for part in reason.split("; "):
            found = re.fullmatch(pattern, part)
            if found:
                rows[found[1]] = rows.get(found[1], 0) + n
    return rows


def check_quarantine_share(
    counts: dict[str, int], rows: int, table: str, ingest: IngestConfig
) -> None:
    """Refuse a table when more than ``max_quarantine_share`` of its rows are quarantined."""
    quarantined = sum(counts.values())
    share = quarantined / rows if rows else 0.0
    if share > ingest.max_quarantine_share:
        top = "; ".join(
            f"{reason}: {n}" for reason, n in sorted(counts.items(), key=lambda kv: -kv[1])[:3]
        )
        raise DataContractError(
            table,
            f"{quarantined} of {rows} rows ({share:.1%}) would be quarantined, above "
            f"ingest.max_quarantine_share={ingest.max_quarantine_share} (top reasons: {top})",
            quarantine_fix(counts, table),
        )


def reason_counts(counts: pd.DataFrame) -> dict[str, int]:
    """Number of quarantined rows per reason string, from rows counted ``n`` per ``reason``."""
    quarantined = counts[counts["reason"].notna()].groupby("reason")["n"].sum()
    return {str(reason): int(n) for reason, n in quarantined.items()}


def customer_summary(classified: DataFrame) -> pd.DataFrame:
    """One aggregation pass over the classified customer rows: ``n`` per ``reason``."""
    return classified.groupBy("reason").agg(F.count(F.lit(1)).alias("n")).toPandas()


def canonical_customers(raw: DataFrame, data: DataConfig) -> DataFrame:
    """Rename and cast the customer table; refuse it when a feature of the experiment is missing."""
    table = CUSTOMERS
    id_column = data.customer_id or "customer_id"
    require_columns(raw, table, {id_column: "data.customer_id"})
    missing = [name for name in data.features if name not in raw.columns]
    if missing:
        raise DataContractError(
            table,
            f"feature(s) {', '.join(missing)} of the experiment table are missing",
            "add the columns to the customer table, or drop them from data.features",
            column=missing[0],
        )
    require_rows(raw, table)
    used = {id_column, MALFORMED_LINE, *data.features}
    return raw.select(
        F.col(_q(id_column)).alias("customer_id"),
        *feature_columns(raw, table, data.features),
        *malformed_line(raw),
        *kept_columns(raw, data, used),
    )


def classify_customers(canonical: DataFrame, data: DataConfig) -> DataFrame:
    """Add ``reason`` to customer rows: null or duplicate ``customer_id``, an infinite feature,
    a malformed CSV line."""
    reasons = F.concat_ws(
        "; ",
        *value_reasons(canonical, data),
        F.when(F.col("customer_id").isNull(), F.lit("null customer_id")),
        F.when(F.col("__dup") > 1, F.lit("duplicate customer_id")),
    )
    classified = canonical.withColumn("__dup", copies(canonical)).withColumn("reason", reasons)
    return classified.withColumn(
        "reason", F.when(F.col("reason") == "", None).otherwise(F.col("reason"))
    )


def clean_rows(classified: DataFrame) -> DataFrame:
    """The rows without a reason, without the helper columns."""
    helpers = {"reason", "__dup", LINE}
    helpers |= {c for c in classified.columns if c.startswith("__raw_")}
    return classified.filter(F.col("reason").isNull()).select(
        *[F.col(_q(c)) for c in classified.columns if c not in helpers]
    )


def validate(
    experiment_raw: DataFrame,
    customers_raw: DataFrame | None,
    data: DataConfig,
    ingest: IngestConfig,
    cache: Collection[str] = (),
) -> ValidatedTables:
    """Apply the contract to both tables; raise on a table-level problem, quarantine bad rows.

    Each table's counts, reasons and per-arm statistics come from one aggregation, after the
    aggregation of its ids that finds repeated ones; its clean rows and its quarantined rows
    are then written from the same classification. The tables named in ``cache`` (sources
    that are costly to read again, such as CSV) are read once into a cache of their canonical
    rows, which the id aggregation fills and every later job reads (``cached``: :func:`release`
    them after writing); the others are read again by each job, which for a columnar source
    measured faster than caching their columns (benchmarks/ingest_checks.py). Without a
    customer table, the customers are the experiment's own (clean) customers.
    """
    cached: list[DataFrame] = []
    canonical = cached_if(
        canonical_experiment(experiment_raw, data), EXPERIMENT in cache, cached
    )
    classified = classify_rows(canonical, data)
    try:
        summary = experiment_summary(classified, data)
        rows_read = {EXPERIMENT: int(summary["n"].sum())}
        check_positive_labels(classified, summary.sum(numeric_only=True), data)
        quarantined = {EXPERIMENT: reason_counts(summary)}
        check_quarantine_share(quarantined[EXPERIMENT], rows_read[EXPERIMENT], EXPERIMENT, ingest)
        experiment = clean_rows(classified)
        wide = arm_statistics(summary)
        check_experiment(wide, experiment, data, ingest)
        quarantine = quarantine_rows(classified, EXPERIMENT)
        if customers_raw is None:
            own = ["customer_id", *data.features]
            kept = kept_columns(experiment, data, set(own))
            customers = experiment.select(*[F.col(_q(n)) for n in own], *kept)
        else:
            canonical = cached_if(
                canonical_customers(customers_raw, data), CUSTOMERS in cache, cached
            )
            classified_customers = classify_customers(canonical, data)
            counts = customer_summary(classified_customers)
            rows_read[CUSTOMERS] = int(counts["n"].sum())
            quarantined[CUSTOMERS] = reason_counts(counts)
            check_quarantine_share(quarantined[CUSTOMERS], rows_read[CUSTOMERS], CUSTOMERS, ingest)
            customers = clean_rows(classified_customers)
            quarantine = quarantine.unionByName(quarantine_rows(classified_customers, CUSTOMERS))
        if not any(quarantined.values()):  # known from the counts: no scan to write no rows
            quarantine = quarantine.sparkSession.createDataFrame([], quarantine.schema)
    except BaseException:
        release(cached)
        raise
    return ValidatedTables(
        experiment,
        customers,
        quarantine,
        long_arm_stats(wide, data),
        rows_read,
        quarantined,
        tuple(cached),
        feature_imbalance(wide, data),
    )


def feature_imbalance(wide: pd.DataFrame, data: DataConfig) -> pd.DataFrame:
    """The numeric features that differ between arms beyond chance
    (:func:`~causal_targeting.data.balance.imbalanced_features`); none is checked with a
    propensity column, whose design may give the arms by the features."""
    numeric = [name for name, kind in data.features.items() if kind == "numeric"]
    checked = [] if data.propensity else numeric
    return imbalanced_features(wide, checked, data.control, list(data.arms))


def cached_if(frame: DataFrame, cache: bool, cached: list[DataFrame]) -> DataFrame:
    """``frame``, cached and appended to ``cached`` when ``cache``."""
    if cache:
        cached.append(frame.cache())
        return cached[-1]
    return frame


def release(cached: Sequence[DataFrame]) -> None:
    """Drop the cached classified tables from memory (after the stage wrote its outputs)."""
    for frame in cached:
        frame.unpersist()


def long_arm_stats(wide: pd.DataFrame, data: DataConfig) -> pd.DataFrame:
    """Reshape per-arm aggregates to one row per (arm, outcome): arm, outcome, n, mean, var."""
    rows = [
        {
            "arm": arm,
            "outcome": outcome,
            "n": int(wide.loc[arm, "n"]),
            "mean": float(wide.loc[arm, f"mean__{outcome}"]),
            "var": float(wide.loc[arm, f"var__{outcome}"]),
        }
        for arm in [data.control, *data.arms]
        for outcome in data.outcomes
    ]
    return pd.DataFrame(rows)
