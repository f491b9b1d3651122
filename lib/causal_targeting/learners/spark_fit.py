"""The Spark edge of training: per-arm sample, train/holdout split, base models on executors.

Sampling and splitting hash the customer id with the seed (xxhash64), so a row's fate depends
on its id and the seed only, never on partitioning. :func:`fit_on_spark` runs the learner's
stages (:meth:`UpliftLearner.stages`) as ``groupBy(task).applyInPandas``: each group holds one
task's rows, ordered by id, and :func:`~causal_targeting.learners.tasks.fit_task` returns its
model string. The result equals ``learner.fit(pdf, ..., id_column=...)`` on the same rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from causal_targeting.errors import ConfigError, DataContractError
from causal_targeting.learners.design import (
    TABLE,
    Design,
    arm_summary,
    check_arm_summary,
    check_columns,
    merge_summaries,
)
from causal_targeting.learners.features import FeatureSpec
from causal_targeting.learners.tasks import FitTask, booster_predictor, fit_task
from causal_targeting.learners.uplift import UpliftLearner, UpliftModel

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

HASH_RESOLUTION = 2**53
TASK, SLOT = "__task", "__slot"


def hash_uniform(id_column: str, seed: int, salt: str) -> Column:
    """A number in [0, 1) per row from xxhash64(id as string, salt, seed): uniform over ids."""
    from pyspark.sql import functions as F

    hashed = F.xxhash64(F.col(id_column).cast("string"), F.lit(salt), F.lit(seed))
    return F.pmod(hashed, F.lit(HASH_RESOLUTION)).cast("double") / float(HASH_RESOLUTION)


def prefilter_fraction(rows: int, cap: int) -> float:
    """Share of an arm's rows to keep before the exact cut to ``cap``: cap/rows plus a margin of
    6 binomial standard deviations (and 20 rows), so that with overwhelming probability at
    least ``cap`` rows pass; 1 when the arm has no more than ``cap`` rows."""
    if rows <= cap:
        return 1.0
    return min(1.0, (cap + 6.0 * math.sqrt(cap) + 20.0) / rows)


def stratified_sample(
    df: DataFrame,
    treatment: str,
    arms_with_control: Sequence[str],
    cap_per_arm: int,
    seed: int,
    id_column: str = "customer_id",
) -> DataFrame:
    """The rows of the listed arms, at most ``cap_per_arm`` per arm.

    An arm with more rows keeps the ``cap_per_arm`` rows with the smallest
    ``hash_uniform(id, seed)``: a uniform random sample without replacement that depends only on
    the ids and the seed. A cheap filter on the hash (:func:`prefilter_fraction`) comes first, so
    only about ``cap_per_arm`` rows per arm reach the ranking window.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if cap_per_arm < 1:
        raise ConfigError(f"cap_per_arm must be >= 1, got {cap_per_arm}")
    arms = [str(a) for a in arms_with_control]
    counts = {
        row[treatment]: row["count"]
        for row in df.where(F.col(treatment).isin(arms)).groupBy(treatment).count().collect()
    }
    keep = F.lit(False)
    for arm, rows in counts.items():
        fraction = prefilter_fraction(rows, cap_per_arm)
        keep = keep | ((F.col(treatment) == arm) & (F.col("__u") < fraction))
    rank = F.row_number().over(Window.partitionBy(treatment).orderBy("__u", id_column))
    return (
        df.withColumn("__u", hash_uniform(id_column, seed, "stratified_sample"))
        .where(keep)
        .withColumn("__rank", rank)
        .where(F.col("__rank") <= cap_per_arm)
        .drop("__u", "__rank")
    )


def train_holdout_split(
    df: DataFrame, holdout_fraction: float, seed: int, id_column: str = "customer_id"
) -> tuple[DataFrame, DataFrame]:
    """(train, holdout): a row is held out when ``hash_uniform(id, seed) < holdout_fraction``.

    Disjoint, together all rows, and the same for the same ids and seed however the table is
    partitioned.
    """

    if not 0 <= holdout_fraction < 1:
        raise ConfigError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    u = hash_uniform(id_column, seed, "holdout")
    return df.where(u >= holdout_fraction), df.where(u < holdout_fraction)


def fit_on_spark(
    df: DataFrame,
    learner: UpliftLearner,
    *,
    features: Mapping[str, str],
    treatment: str,
    control: str,
    arms: Iterable[str],
    outcomes: Mapping[str, str],
    propensity: str | None = None,
    weight: str | None = None,
    id_column: str = "customer_id",
) -> UpliftModel:
    """Fit ``learner`` (a TLearner or XLearner) on the experiment rows of ``df``.

    The arguments are those of :meth:`UpliftLearner.fit`. The table is checked on a per-arm
    summary computed partition by partition; the categorical levels are collected in one
    aggregation; then each stage's tasks run one per group of ``groupBy(task).applyInPandas``
    (the X-learner's second stage reads the first stage's models from a broadcast). Returns the
    artifact, equal to the in-process fit with ``id_column`` on the same rows and seed.
    """
    design = Design.of(
        features=features,
        treatment=treatment,
        control=control,
        arms=arms,
        outcomes=outcomes,
        propensity=propensity,
        weight=weight,
    )
    check_columns(df.columns, design, id_column=id_column)
    check_numeric_features(df, design)
    rows = df.select(id_column, *design.columns())
    summary = spark_arm_summary(rows, design)
    check_arm_summary(summary, design)
    settings, stages = learner.base_settings(), learner.stages(design, summary)
    spec = spark_feature_spec(rows, design.features)
    boosters: dict[str, str] = {}
    for stage in stages:
        boosters.update(fit_stage(rows, stage, spec, design, settings, boosters, id_column))
    return learner.assemble(spec, design, summary, boosters)


def check_numeric_features(df: DataFrame, design: Design) -> None:
    """Refuse a numeric feature whose Spark type is not numeric."""
    from pyspark.sql.types import NumericType

    types = {field.name: field.dataType for field in df.schema.fields}
    for name, kind in design.features.items():
        if kind == "numeric" and not isinstance(types[name], NumericType):
            raise DataContractError(
                TABLE,
                f"a numeric feature has type {types[name].simpleString()}",
                f"cast '{name}' to double, or declare it categorical",
                column=name,
            )


def spark_arm_summary(df: DataFrame, design: Design) -> pd.DataFrame:
    """:func:`~causal_targeting.learners.design.arm_summary` of the whole table: one partial
    summary per Arrow batch (mapInPandas), merged on the driver."""
    empty = arm_summary(
        pd.DataFrame({c: pd.Series(dtype=object) for c in design.columns()}), design
    )
    types = {
        column: "double" if column.startswith("propensity_") else "long" for column in empty.columns
    }
    schema = ", ".join([f"`{design.treatment}` string"] + [f"`{c}` {t}" for c, t in types.items()])

    def partial(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield arm_summary(batch, design).rename_axis(design.treatment).reset_index()

    parts = df.select(*design.columns()).mapInPandas(partial, schema).toPandas()
    return merge_summaries([parts.set_index(design.treatment)])


def spark_feature_spec(df: DataFrame, kinds: Mapping[str, str]) -> FeatureSpec:
    """The feature spec with every categorical level of the table (one aggregation)."""
    from pyspark.sql import functions as F

    categorical = [name for name, kind in kinds.items() if kind == "categorical"]
    levels: dict[str, list[Any]] = {}
    if categorical:
        row = df.agg(
            *[F.collect_set(F.col(n).cast("string")).alias(n) for n in categorical]
        ).first()
        levels = {name: row[name] for name in categorical}
    return FeatureSpec.from_levels(kinds, levels)


def partition_slots(spark: SparkSession, n: int) -> list[int]:
    """``n`` integers that ``repartition(n, column)`` sends to ``n`` different partitions.

    Spark places a value in partition pmod(hash(value), n); the smallest integer landing in each
    partition is found among 0 .. 64n − 1 (probability that one is missing: n·(1 − 1/n)^(64n),
    below 1e-25).
    """
    from pyspark.sql import functions as F

    found = (
        spark.range(64 * n)
        .groupBy(F.pmod(F.hash("id"), F.lit(n)).alias("partition"))
        .agg(F.min("id").alias("slot"))
        .collect()
    )
    slots = {row["partition"]: row["slot"] for row in found}
    return [slots[p] for p in range(n)]


def fit_stage(
    rows: DataFrame,
    stage: Sequence[FitTask],
    spec: FeatureSpec,
    design: Design,
    settings: Mapping[str, Any],
    boosters: Mapping[str, str],
    id_column: str,
) -> dict[str, str]:
    """Fit a stage's tasks side by side on the executors; model strings by task key.

    Each row is joined to the tasks that use its arm; the rows of each task go to a partition of
    their own (``repartition`` on slots from :func:`partition_slots`, an explicit partition count
    that adaptive execution does not coalesce), and ``groupBy(slot).applyInPandas`` fits the
    task on its rows sorted by ``id_column``. Earlier models the stage reads are broadcast.
    """
    from pyspark.sql import functions as F

    spark = rows.sparkSession
    slots = partition_slots(spark, len(stage))
    pairs = spark.createDataFrame(
        [
            (arm, task.key, slot)
            for task, slot in zip(stage, slots, strict=True)
            for arm in task.arms
        ],
        f"__arm string, {TASK} string, {SLOT} long",
    )
    by_key = {task.key: task for task in stage}
    needed = {key for task in stage for key in task.needs(design.control)}
    shared = spark.sparkContext.broadcast({key: boosters[key] for key in needed})

    def fit_group(group: pd.DataFrame) -> pd.DataFrame:
        task = by_key[group[TASK].iat[0]]
        ordered = group.sort_values(id_column, kind="stable").reset_index(drop=True)
        X = spec.matrix(ordered, table=TABLE)
        model = fit_task(task, ordered, X, design, settings, booster_predictor(shared.value))
        return pd.DataFrame({"task": [task.key], "model": [model]})

    tagged = rows.join(F.broadcast(pairs), F.col(design.treatment) == F.col("__arm")).drop("__arm")
    fitted = (
        tagged.repartition(len(stage), SLOT)
        .groupBy(SLOT)
        .applyInPandas(fit_group, "task string, model string")
        .collect()
    )
    shared.unpersist()
    return {row["task"]: row["model"] for row in fitted}
