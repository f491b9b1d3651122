"""The score stage: broadcast one model, score every customer in ``mapInPandas``.

The model's bytes (and, for the compiled engine, its boosters compiled once on the driver) are
broadcast once. Each Python worker deserializes the model once, keyed by the SHA-256 of its
bytes, and predicts each Arrow batch with :func:`score_batches`, a plain pandas function, on as
many threads as the task has cores (``spark.task.cpus``). The model is any
:class:`~causal_targeting.learners.artifact.ModelArtifact`: an uplift model
(``mu__{outcome}__{arm}`` for every arm, ``tau__{outcome}__{arm}`` for every non-control
arm) or an intent model (``p__{segment}`` and ``segment``). The output has ``customer_id``,
the model's score columns (typed by its ``score_types()``) and ``model_version``.

A customer table whose features do not match the model is refused by
:func:`check_customer_features` before any Spark job runs. Category levels the model never saw
are scored as LightGBM scores them (they follow the "other" branch of each categorical split)
and counted by :func:`unseen_level_counts` (the score stage observes them while it writes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from causal_targeting.errors import DataContractError
from causal_targeting.learners.artifact import Engine, ModelArtifact
from causal_targeting.learners.compiled import CompiledEngine, make_engine
from causal_targeting.spark import task_slots

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import DataType, StructType

MODEL_VERSION = "model_version"

_MODELS: dict[str, ModelArtifact] = {}
"""Per-process cache of deserialized models, keyed by the SHA-256 of their bytes."""


def _feature_kinds(model: ModelArtifact) -> dict[str, str]:
    """Feature name -> kind, in the model's feature order."""
    return {name: model.spec.kinds[name] for name in model.spec.names}


def _type_problem(kind: str, data_type: DataType) -> str | None:
    from pyspark.sql.types import NumericType, StringType

    if kind == "numeric" and not isinstance(data_type, NumericType):
        return "numeric (int, long, float, double or decimal)"
    if kind == "categorical" and not isinstance(data_type, StringType):
        return "categorical, stored as string"
    return None


def check_customer_features(
    schema: StructType,
    model: ModelArtifact,
    table: str = "customers",
    id_column: str = "customer_id",
) -> None:
    """Refuse a table the model cannot score: raise DataContractError naming column and fix.

    Every model feature must be present; a numeric feature must have a numeric Spark type and a
    categorical feature the string type. Extra columns are ignored.
    """
    types = {field.name: field.dataType for field in schema.fields}
    if id_column not in types:
        raise DataContractError(
            table,
            f"the id column is missing (columns: {', '.join(sorted(types))})",
            f"add '{id_column}' or set data.customer_id to the table's id column",
            column=id_column,
        )
    for name, kind in _feature_kinds(model).items():
        if name not in types:
            raise DataContractError(
                table,
                "the model's feature is missing from the table",
                "score a table with the features the model was trained on, or retrain",
                column=name,
            )
        expected = _type_problem(kind, types[name])
        if expected is not None:
            raise DataContractError(
                table,
                f"type {types[name].simpleString()} is incompatible: the model expects {expected}",
                f"cast '{name}' to {'double' if kind == 'numeric' else 'string'} before scoring",
                column=name,
            )


def score_schema(schema: StructType, model: ModelArtifact, id_column: str) -> StructType:
    """Return the scores table's schema: the id as typed in ``schema``, the score columns as
    typed by ``model.score_types()``, a version."""
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    types = {"double": DoubleType(), "string": StringType()}
    fields = [StructField(id_column, schema[id_column].dataType, schema[id_column].nullable)]
    fields += [
        StructField(column, types[kind], True) for column, kind in model.score_types().items()
    ]
    fields.append(StructField(MODEL_VERSION, StringType(), False))
    return StructType(fields)


def score_batches(
    batches: Iterable[pd.DataFrame],
    model: ModelArtifact,
    version: str,
    engine: Engine,
    id_column: str = "customer_id",
) -> Iterator[pd.DataFrame]:
    """Yield, for each batch of customers, their ids, every score column and the version."""
    for batch in batches:
        scores = model.predict(batch, engine=engine)  # every score column, in order
        scores.insert(0, id_column, batch[id_column].to_numpy())
        scores[MODEL_VERSION] = version
        yield scores


def worker_model(key: str, load: Callable[[], ModelArtifact]) -> ModelArtifact:
    """Return this process's model for ``key``, calling ``load()`` only the first time."""
    model = _MODELS.get(key)
    if model is None:
        model = load()
        _MODELS[key] = model
    return model


def task_threads(threads: int | None) -> int:
    """Return ``threads`` if given, else the current Spark task's cores (1 outside a task)."""
    if threads is not None:
        return threads
    from pyspark import TaskContext

    context = TaskContext.get()
    return int(context.cpus()) if context is not None else 1


COMPILE_ROWS_PER_SLOT = 250_000
"""Customers per task slot from which ``engine="auto"`` compiles the boosters (lleaves).

Compiling is paid once, on the driver; its saving is paid back per customer, on every task
slot, so the customers at which it pays grow with the slots. From an empty compiled cache on the
2-core machine (benchmarks/RESULTS.md, "score engine"): the bagged T-learner of
``benchmarks/scoring.py`` (36 boosters) broke even at about 640,000 customers, 320,000 a slot
(64,000: 64.5 s compiled against 9.9 s; 2,000,000: 107.5 s against 139.5 s); the Hillstrom
demo's bagged ensemble (174 boosters) at about 450,000, 225,000 a slot (64,000: 48.3 s against
26.5 s; 640,000: 45.8 s against 57.3 s)."""


def chosen_engine(engine: str, rows: int, slots: int) -> str:
    """The prediction engine to score ``rows`` customers on ``slots`` task slots: ``engine``
    itself, or for ``"auto"``, ``"compiled"`` from :data:`COMPILE_ROWS_PER_SLOT` customers a
    slot on and ``"lightgbm"`` below (the same predictions to rounding, either way)."""
    if engine != "auto":
        return engine
    return "compiled" if rows >= COMPILE_ROWS_PER_SLOT * max(slots, 1) else "lightgbm"


def table_engine(
    engine: str, df: DataFrame, model: ModelArtifact, cache_dir: str | Path | None = None
) -> str:
    """The engine to score ``df`` with ``model``: for ``"auto"``, ``"compiled"`` when every
    booster is compiled in this machine's cache already (nothing left to pay for: the same
    model scored again), else :func:`chosen_engine` on the session's task slots
    (:func:`~causal_targeting.spark.task_slots`); the rows are counted only then."""
    if engine != "auto":
        return engine
    if not CompiledEngine(cache_dir=cache_dir).uncompiled(model.model_strings()):
        return "compiled"
    return chosen_engine(engine, df.count(), task_slots(df.sparkSession))


def score(
    df: DataFrame,
    model: ModelArtifact,
    version: str,
    engine: str = "compiled",
    threads: int | None = None,
    cache_dir: str | Path | None = None,
    id_column: str = "customer_id",
    table: str = "customers",
) -> DataFrame:
    """Return the scores of every row of ``df`` (lazily; nothing runs until it is written).

    Parameters
    ----------
    df: customer table with ``id_column`` and the model's features.
    model: the uplift or intent model; ``version`` is written in every row's ``model_version``.
    engine: ``"compiled"`` (lleaves, compiled once here and shipped) or ``"lightgbm"``.
    threads: prediction threads per task; default ``spark.task.cpus`` of the running task.
    cache_dir: per-machine cache of compiled boosters (default: see ``learners.compiled``).
    """
    check_customer_features(df.schema, model, table=table, id_column=id_column)
    make_engine(engine)  # an unknown engine name fails here, on the driver
    payload = model.to_bytes()
    key = hashlib.sha256(payload).hexdigest()
    shipped = {}
    if engine == "compiled":
        boosters = model.model_strings()
        shipped = CompiledEngine(cache_dir=cache_dir).compiled_objects(boosters)
    broadcast = df.sparkSession.sparkContext.broadcast({"model": payload, "objects": shipped})
    model_type = type(model)

    def load() -> ModelArtifact:
        value = broadcast.value
        if value["objects"]:
            CompiledEngine(cache_dir=cache_dir).install_objects(value["objects"])
        return model_type.from_bytes(value["model"])

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        worker = worker_model(key, load)
        kernel = make_engine(engine, n_threads=task_threads(threads), cache_dir=cache_dir)
        yield from score_batches(batches, worker, version, kernel, id_column)

    features = _input_columns(df, model, id_column)
    return features.mapInPandas(score_partition, score_schema(df.schema, model, id_column))


def _input_columns(df: DataFrame, model: ModelArtifact, id_column: str) -> DataFrame:
    """Select the id and the features, numeric ones cast to double (decimals included)."""
    from pyspark.sql import functions as F

    kinds = _feature_kinds(model)
    columns = [F.col(id_column)] + [
        F.col(name).cast("double").alias(name) if kind == "numeric" else F.col(name)
        for name, kind in kinds.items()
    ]
    return df.select(*columns)


def unseen_level_counts(model: ModelArtifact) -> list[Column]:
    """Aggregates, one per categorical feature of ``model`` (named after it): how many rows hold
    a level the model never saw. Nulls are missing values, not unseen levels."""
    from pyspark.sql import functions as F

    return [
        F.sum(
            F.when(F.col(name).isNotNull() & ~F.col(name).isin(list(levels)), 1).otherwise(0)
        ).alias(name)
        for name, levels in model.spec.categories.items()
    ]


def unseen_levels_report(df: DataFrame, model: ModelArtifact) -> dict[str, int]:
    """Return, per categorical feature, how many rows hold a level the model never saw.

    Counted by one Spark aggregation (:func:`unseen_level_counts`).
    """
    counts = unseen_level_counts(model)
    if not counts:
        return {}
    return unseen_levels(df.agg(*counts).first().asDict(), model)


def unseen_levels(counted: dict[str, int | None], model: ModelArtifact) -> dict[str, int]:
    """Per categorical feature, the count of :func:`unseen_level_counts` in ``counted``."""
    return {name: int(counted.get(name) or 0) for name in model.spec.categories}
