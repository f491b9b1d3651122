"""The Spark edge of training: per-arm sample, train/holdout split, base models on executors.

Sampling and splitting hash the customer id with the seed (:mod:`causal_targeting.sampling`),
so a row's fate depends on its id and the seed only, never on partitioning. :func:`fit_on_spark`
runs the learner's stages (:meth:`UpliftLearner.stages`) as ``groupBy(task).applyInPandas``:
each group holds one task's rows, ordered by id, and
:func:`~causal_targeting.learners.tasks.fit_task` returns its model string. The result equals
``learner.fit(pdf, ..., id_column=...)`` on the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from causal_targeting.errors import ConfigError, DataContractError
from causal_targeting.learners.base import TUNE_DRAW, tuning_draw
from causal_targeting.learners.design import (
    CONSTANT_TOLERANCE,
    TABLE,
    Design,
    arm_fold_sums,
    arm_summary,
    check_cluster_folds,
    check_folds,
    checked_design,
    merge_summaries,
    sampled_design,
)
from causal_targeting.learners.features import FeatureSpec
from causal_targeting.learners.model import UpliftModel
from causal_targeting.learners.tasks import (
    FULL,
    FitTask,
    Tuning,
    Work,
    booster_predictor,
    fit_stages,
    key_of,
)
from causal_targeting.learners.uplift import (
    UpliftLearner,
    check_candidates,
    learner_column,
    learner_fits,
    learner_view,
    merged_stages,
    out_of_fold_scores,
)
from causal_targeting.sampling import hash_uniform, prefilter_fraction

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SLOT = "__slot"
FOLD = "fold"
"""The cross-fitting fold column (:func:`assign_folds`)."""
OOF_BLOCK_ROWS = 100_000
"""Rows scored at a time by the out-of-fold pass (:func:`out_of_fold_scores_spark`): Arrow
batches (``spark.arrow_batch_rows``, 10,000 by default) gathered into blocks of this size."""


def arm_rows(
    df: DataFrame, treatment: str, arms: Sequence[str], propensity: str | None = None
) -> pd.DataFrame:
    """One row per arm of ``arms`` present in ``df`` (index: the arm): ``rows``, and with
    ``propensity`` that column's ``propensity_min`` and ``propensity_max``; one Spark job."""
    from pyspark.sql import functions as F

    measures = [F.count(F.lit(1)).alias("rows")]
    if propensity is not None:
        measures += [
            F.min(propensity).alias("propensity_min"),
            F.max(propensity).alias("propensity_max"),
        ]
    found = df.where(F.col(treatment).isin(list(arms))).groupBy(treatment).agg(*measures)
    return found.toPandas().set_index(treatment)


def stratified_sample(
    df: DataFrame,
    treatment: str,
    arms_with_control: Sequence[str],
    cap_per_arm: int,
    seed: int,
    id_column: str = "customer_id",
    rows: Mapping[str, int] | None = None,
) -> DataFrame:
    """The rows of the listed arms, at most ``cap_per_arm`` per arm.

    An arm with more rows keeps the ``cap_per_arm`` rows with the smallest
    ``hash_uniform(id, seed)``: a uniform random sample without replacement that depends only on
    the ids and the seed. A cheap filter on the hash (:func:`prefilter_fraction`) comes first, so
    only about ``cap_per_arm`` rows per arm reach the ranking window. ``rows``: each arm's rows
    (:func:`arm_rows`), counted here when not given.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if cap_per_arm < 1:
        raise ConfigError(f"cap_per_arm must be >= 1, got {cap_per_arm}")
    arms = [str(a) for a in arms_with_control]
    counts = dict(arm_rows(df, treatment, arms)["rows"]) if rows is None else rows
    keep = F.lit(False)
    for arm, n in counts.items():
        fraction = prefilter_fraction(n, cap_per_arm)
        keep = keep | ((F.col(treatment) == arm) & (F.col("__u") < fraction))
    rank = F.row_number().over(Window.partitionBy(treatment).orderBy("__u", id_column))
    return (
        df.withColumn("__u", hash_uniform(id_column, seed, "stratified_sample"))
        .where(keep)
        .withColumn("__rank", rank)
        .where(F.col("__rank") <= cap_per_arm)
        .drop("__u", "__rank")
    )


def with_sampled_propensity(
    sample: DataFrame,
    ranges: pd.DataFrame,
    kept: Mapping[str, float],
    treatment: str = "treatment",
    propensity: str = "propensity",
) -> DataFrame:
    """``sample`` with its ``propensity`` column (the design probability of each row's arm)
    replaced by the probability among the sampled rows (:func:`~causal_targeting.learners.
    design.sampled_design`), so the DR targets, the X-learner's weights and the evaluation's
    inverse-probability weights read the design of the rows they are given.

    ``ranges``: :func:`arm_rows` with ``propensity`` of the table sampled; ``kept``: each arm's
    kept share. Unchanged when every arm keeps the same share. A design constant within every
    arm maps each arm to its sampled constant; a two-arm design varying by row uses
    q = p s_own / (p s_own + (1 − p) s_other). Refused (ConfigError) otherwise: with more than
    two arms a row's probabilities of the arms it did not get are unknown.
    """
    from pyspark.sql import functions as F

    if len(set(kept.values())) <= 1:
        return sample
    arm = F.col(treatment)
    p = F.col(propensity)
    constant = (ranges["propensity_max"] - ranges["propensity_min"]) <= CONSTANT_TOLERANCE
    if constant.all():
        q = sampled_design(ranges["propensity_min"].astype(float).to_dict(), kept)
        mapped = [(arm == a, F.lit(value)) for a, value in q.items()]
    elif len(kept) == 2:
        (a, s_a), (b, s_b) = kept.items()
        mapped = [
            (arm == a, p * s_a / (p * s_a + (1 - p) * s_b)),
            (arm == b, p * s_b / (p * s_b + (1 - p) * s_a)),
        ]
    else:
        largest = int(ranges["rows"].max())
        raise ConfigError(
            f"data.propensity varies by row over {len(kept)} arms, and train.cap_per_arm samples "
            "the arms at different rates, so the sampled rows' design probabilities are unknown "
            "(a row's probabilities of the arms it did not get are not in the table). Fix: set "
            f"train.cap_per_arm to at least {largest} (the largest arm's rows), or unset "
            "data.propensity to let the learners fit the propensity on the sample"
        )
    column = F.when(*mapped[0])
    for condition, value in mapped[1:]:
        column = column.when(condition, value)
    return sample.withColumn(propensity, column.otherwise(p))


def train_holdout_split(
    df: DataFrame, holdout_fraction: float, seed: int, id_column: str = "customer_id"
) -> tuple[DataFrame, DataFrame]:
    """(train, holdout): a row is held out when ``hash_uniform(id, seed) < holdout_fraction``.

    Disjoint, together all rows, and the same for the same ids and seed however the table is
    partitioned. With ``id_column`` a cluster column, every row of a cluster goes the same way.
    """

    if not 0 <= holdout_fraction < 1:
        raise ConfigError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    u = hash_uniform(id_column, seed, "holdout")
    return df.where(u >= holdout_fraction), df.where(u < holdout_fraction)


def assign_folds(
    df: DataFrame,
    treatment: str,
    n_folds: int,
    seed: int,
    id_column: str = "customer_id",
    cluster: str | None = None,
) -> DataFrame:
    """``df`` with a column ``fold`` in 0..n_folds−1, stratified by arm: each arm's rows ranked
    by ``hash_uniform(id, seed)`` take folds 0, 1, .., K−1, 0, ... in turn (every fold holds
    within one row of 1/K of every arm; the same for the same ids and seed).

    With ``cluster`` (the column of each row's randomization cluster) the clusters take the
    folds in the same way, each under the first arm (by name) of its rows, and every row gets
    its cluster's fold: no model is fitted on rows of the cluster it scores. An arm with fewer
    clusters than folds is refused (:func:`~causal_targeting.learners.design.
    check_cluster_folds`)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if cluster is not None:
        units = df.groupBy(cluster).agg(F.min(treatment).alias(treatment))
        counts = units.groupBy(treatment).count().collect()
        check_cluster_folds({str(row[0]): int(row[1]) for row in counts}, n_folds)
        folds = assign_folds(units, treatment, n_folds, seed, id_column=cluster)
        return df.join(folds.select(cluster, FOLD), on=cluster)
    order = Window.partitionBy(treatment).orderBy(hash_uniform(id_column, seed, "fold"), id_column)
    return df.withColumn(FOLD, ((F.row_number().over(order) - 1) % n_folds).cast("int"))


def spark_design(
    df: DataFrame, id_column: str, design_args: Mapping[str, Any]
) -> tuple[Design, pd.DataFrame, DataFrame]:
    """The checked design and summary of ``df`` (:func:`~causal_targeting.learners.design.
    checked_design`, numeric features checked too) and the rows with the columns the fit reads."""

    def summarize(design: Design) -> pd.DataFrame:
        check_numeric_features(df, design)
        return spark_arm_summary(df.select(*design.columns()), design)

    design, summary = checked_design(df.columns, summarize, id_column, design_args)
    extra = [FOLD] if FOLD in df.columns else []
    return design, summary, df.select(id_column, *design.columns(), *extra)


def fit_candidates_on_spark(
    df: DataFrame,
    learners: Sequence[UpliftLearner],
    *,
    id_column: str = "customer_id",
    **design_args: Any,
) -> tuple[dict[str, tuple[UpliftModel, list[UpliftModel]]], dict[str, Tuning]]:
    """Fit the learners (different kinds, same settings) on the experiment rows of ``df``,
    sharing their base models; with ``n_folds`` the rows need the ``fold`` column
    (:func:`assign_folds`).

    The arguments are those of :meth:`UpliftLearner.fit`. The table is checked on a per-arm
    summary computed partition by partition; the categorical levels are collected in one
    aggregation; then each stage's tunings, then its fits (tasks × folds) run one per group of
    ``applyInPandas`` (:class:`SparkRunner`). Returns (by kind: the model on all rows and the
    models outside each fold; the tunings by booster key), equal to the in-process fit
    (:func:`~causal_targeting.learners.uplift.fit_candidates`) with ``id_column`` and the same
    folds.
    """
    first = check_candidates(learners)
    settings = first.base_settings()
    design, summary, rows = spark_design(df, id_column, design_args)
    check_folds(summary, design, first.n_folds)
    if first.n_folds is not None and FOLD not in rows.columns:
        raise ConfigError("cross-fitting on Spark needs the fold column: see assign_folds")
    spec = spark_feature_spec(rows, design.features)
    arm_rows = {str(arm): int(n) for arm, n in summary["rows"].items() if arm is not None}
    drawn = with_tuning_draw(rows, id_column, first.seed)
    runner = SparkRunner(drawn, spec, design, id_column, arm_rows)
    fitted = fit_stages(
        merged_stages(learners, design, summary),
        runner,
        design,
        settings,
        first.n_folds,
        first.tune,
        first.tune_rows,
    )
    sums = spark_arm_fold_sums(rows, design, first.n_folds is not None)
    fits = learner_fits(learners, fitted, spec, design, summary, sums, first.n_folds)
    return fits, fitted.tuning


def fit_on_spark(
    df: DataFrame, learner: UpliftLearner, *, id_column: str = "customer_id", **design_args: Any
) -> UpliftModel:
    """Fit ``learner`` on the experiment rows of ``df``; its model on all rows
    (:func:`fit_candidates_on_spark` of one learner)."""
    fits, _ = fit_candidates_on_spark(df, [learner], id_column=id_column, **design_args)
    return fits[learner.learner][0]


def out_of_fold_scores_spark(
    df: DataFrame, fold_models: Mapping[str, Sequence[UpliftModel]]
) -> DataFrame:
    """The rows of ``df`` (with ``fold``) and, for each learner of ``fold_models`` (by kind: its
    models outside each fold), its score columns (named :func:`~causal_targeting.learners.
    uplift.learner_column`), each row scored by the model fit outside its fold
    (:func:`~causal_targeting.learners.uplift.out_of_fold_scores`): one pass over the rows, one
    Arrow batch at a time, the scores beside their rows (no join)."""
    from pyspark.sql.types import DoubleType, StructField, StructType

    names = [
        learner_column(kind, column)
        for kind, models in fold_models.items()
        for column in models[0].score_columns()
    ]
    schema = StructType([*df.schema.fields, *[StructField(c, DoubleType()) for c in names]])
    shared = df.sparkSession.sparkContext.broadcast(
        {kind: [m.to_bytes() for m in models] for kind, models in fold_models.items()}
    )

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        learners = {
            kind: [UpliftModel.from_bytes(b) for b in models]
            for kind, models in shared.value.items()
        }
        for batch in blocks(batches, OOF_BLOCK_ROWS):
            scores = out_of_fold_scores(learners, batch, batch[FOLD].to_numpy())
            prefixed = [part.add_prefix(learner_column(kind, "")) for kind, part in scores.items()]
            yield pd.concat([batch, *prefixed], axis=1)

    return df.mapInPandas(score, schema)


def blocks(batches: Iterable[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """Consecutive ``batches`` concatenated into frames of at least ``rows`` rows (the last of
    any size), in order: a block is split by fold into one prediction per booster and fold, and
    a LightGBM prediction has a cost per call that small pieces pay many times."""
    pending: list[pd.DataFrame] = []
    size = 0
    for batch in batches:
        pending.append(batch)
        size += len(batch)
        if size >= rows:
            yield pd.concat(pending, ignore_index=True)
            pending, size = [], 0
    if pending:
        yield pd.concat(pending, ignore_index=True)


def learner_rows(
    scored: DataFrame, columns: Sequence[str], kind: str, score_columns: Sequence[str]
) -> DataFrame:
    """``kind``'s scored rows of :func:`out_of_fold_scores_spark`'s table: the rows' own
    ``columns`` and its ``score_columns`` under their own names (:func:`~causal_targeting.
    learners.uplift.learner_view`)."""
    from pyspark.sql import functions as F

    view = learner_view(columns, kind, score_columns)
    return scored.select(*[F.col(f"`{name}`").alias(alias) for name, alias in view.items()])


def with_tuning_draw(df: DataFrame, id_column: str, seed: int) -> DataFrame:
    """``df`` with the column :data:`~causal_targeting.learners.base.TUNE_DRAW`: each row's
    :func:`~causal_targeting.learners.base.tuning_draw` of its id, computed by the same pandas
    function as in process (a pandas UDF), so both fits tune on the same rows."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("double")  # type: ignore[call-overload]
    def draw(keys: pd.Series) -> pd.Series:
        return pd.Series(tuning_draw(keys, seed))

    return df.withColumn(TUNE_DRAW, draw(id_column))


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


def spark_arm_fold_sums(df: DataFrame, design: Design, folded: bool) -> pd.DataFrame:
    """:func:`~causal_targeting.learners.design.arm_fold_sums` of the whole table (by the
    ``fold`` column when ``folded``): one partial sum per Arrow batch, added on the driver."""
    optional = [c for c in (design.propensity, design.weight, FOLD if folded else None) if c]
    columns = [design.treatment, *design.outcomes, *optional]
    sums = [f"`sum__{o}` double" for o in design.outcomes]
    schema = ", ".join(["treatment string", "fold long", "weight double", *sums])

    def partial(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            folds = batch[FOLD].to_numpy() if folded else None
            yield arm_fold_sums(batch, design, folds).reset_index()

    parts = df.select(*columns).mapInPandas(partial, schema).toPandas()
    return parts.groupby(["treatment", "fold"]).sum()


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


def task_groups(tasks: Sequence[FitTask], slots: int) -> list[list[FitTask]]:
    """The tasks in the groups :class:`SparkRunner` runs, each group on its rows moved once.

    The tasks of one key (its grid points, or its fits on all rows and outside each fold: the
    same rows, or subsets of them) form a group when there are at least as many keys as task
    ``slots``: every slot still gets a group, and each row moves once per key instead of once
    per task (K + 1 times for a cross-fitted key). With fewer keys than slots each task is a
    group of its own, so that the tasks fill the slots. In order of first appearance.
    """
    by_key: dict[str, list[FitTask]] = {}
    for task in tasks:
        by_key.setdefault(task.key, []).append(task)
    if len(by_key) >= slots:
        return list(by_key.values())
    return [[task] for task in tasks]


def group_fold(group: Sequence[FitTask]) -> int:
    """The fold whose rows a group's rows leave out: its one task's fold, or none
    (:data:`~causal_targeting.learners.tasks.FULL`) for a group of several tasks, whose rows
    then are all its arms' rows."""
    if len(group) == 1 and group[0].fold is not None:
        return group[0].fold
    return FULL


def outside_fold(folds: np.ndarray | None, fold: int | None) -> np.ndarray | None:
    """Mask of the rows outside ``fold`` (None: every row, no mask)."""
    return None if fold is None or folds is None else folds != fold


@dataclass
class SparkRunner:
    """Runs each task on the executors (:class:`~causal_targeting.learners.tasks.Runner`).

    The tasks run in groups (:func:`task_groups` for the cluster's task slots). Each row is
    joined to the groups that use its arm (and, for a group of one task of fold k, lies outside
    fold k); the rows of each group go to a partition of their own (``repartition`` on slots
    from :func:`partition_slots`, an explicit partition count that adaptive execution does not
    coalesce), and ``groupBy(slot).applyInPandas`` sorts them by ``id_column`` and runs the
    work of each task of the group on its rows (outside the task's fold), one task after the
    other. Earlier models the tasks read are broadcast. With a ``row_limit``, a task on all
    folds gets only the rows whose draw (``rows``' :data:`~causal_targeting.learners.base.
    TUNE_DRAW`) is below :func:`prefilter_fraction` of its arms' rows (``arm_rows``): with
    overwhelming probability a superset of the ``row_limit`` rows of smallest draw that its work
    reads, and a fraction of the rows to move. ``slots``: the task slots to fill (None: the
    session's, :func:`~causal_targeting.spark.task_slots`).
    """

    rows: DataFrame
    spec: FeatureSpec
    design: Design
    id_column: str
    arm_rows: Mapping[str, int]
    slots: int | None = None

    def draw_bound(self, task: FitTask, row_limit: int | None) -> float:
        """The draw below which the task's rows are sent: 1 (all) unless ``row_limit`` applies
        (a task on all folds)."""
        if row_limit is None or task.fold is not None:
            return 1.0
        return prefilter_fraction(sum(self.arm_rows.get(arm, 0) for arm in task.arms), row_limit)

    def run(
        self,
        tasks: Sequence[FitTask],
        work: Work,
        boosters: Mapping[str, str],
        row_limit: int | None = None,
    ) -> dict[str, str]:
        """``work`` on each task's rows (with ``row_limit``, those of small draw), side by side;
        results by task name."""
        from pyspark.sql import functions as F

        from causal_targeting.spark import task_slots

        spark, design, spec, id_column = (
            self.rows.sparkSession,
            self.design,
            self.spec,
            self.id_column,
        )
        groups = task_groups(tasks, self.slots or task_slots(spark))
        slots = partition_slots(spark, len(groups))
        pairs = spark.createDataFrame(
            [
                (
                    arm,
                    group_fold(group),
                    slot,
                    max(self.draw_bound(task, row_limit) for task in group),
                )
                for group, slot in zip(groups, slots, strict=True)
                for arm in group[0].arms
            ],
            f"__arm string, __task_fold int, {SLOT} long, __draw_bound double",
        )
        by_slot = dict(zip(slots, groups, strict=True))
        needed = {key for task in tasks for key in task.needs(design.control)}
        shared = spark.sparkContext.broadcast(
            {name: model for name, model in boosters.items() if key_of(name) in needed}
        )
        has_folds = FOLD in self.rows.columns

        def run_group(group: pd.DataFrame) -> pd.DataFrame:
            ordered = group.sort_values(id_column, kind="stable").reset_index(drop=True)
            X = spec.matrix(ordered, table=TABLE)
            folds = ordered[FOLD].to_numpy(dtype=np.int64) if has_folds else None
            predict = booster_predictor(shared.value, len(ordered))
            members = by_slot[int(group[SLOT].iat[0])]
            results = []
            for task in members:
                keep = outside_fold(folds, task.fold)
                if keep is None:
                    results.append(work(task, ordered, X, folds, predict))
                    continue
                results.append(work(task, ordered[keep], X[keep], folds[keep], predict))
            return pd.DataFrame({"task": [task.name for task in members], "result": results})

        rows, joined = self.rows.drop(TUNE_DRAW), F.col(design.treatment) == F.col("__arm")
        if row_limit is not None:  # the draw (a pandas UDF) is computed only when it is read
            rows, joined = self.rows, joined & (F.col(TUNE_DRAW) < F.col("__draw_bound"))
        if has_folds:
            joined = joined & (
                (F.col("__task_fold") == FULL) | (F.col(FOLD) != F.col("__task_fold"))
            )
        tagged = rows.join(F.broadcast(pairs), joined).drop("__arm", "__task_fold", "__draw_bound")
        fitted = (
            tagged.repartition(len(groups), SLOT)
            .groupBy(SLOT)
            .applyInPandas(run_group, "task string, result string")
            .collect()
        )
        shared.unpersist()
        return {row["task"]: row["result"] for row in fitted}
