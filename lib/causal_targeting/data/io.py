"""Reading tables (CSV, Parquet, Delta, catalog names) and writing them atomically.

An output is written to a temporary sibling location and then moved into place with the Hadoop
FileSystem of the target path, so the same code is atomic on a local disk, HDFS or DBFS: a stage
that dies mid-write leaves the previous output intact and readable. The swap is two moves (the
old output to ``{path}.__old``, the new one onto ``path``); a process killed between them leaves
the old copy at ``{path}.__old``, which the next reader or writer of ``path`` moves back.

JSON is written strictly (RFC 8259): a non-finite float (NaN, +-inf) is written as ``null``.
"""

from __future__ import annotations

import json
import math
import tempfile
import uuid
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from causal_targeting.errors import ConfigError, DataContractError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from causal_targeting.config import TableSource


MALFORMED_LINE = "__malformed_line"
"""Column of a CSV table read by :func:`read_table`: the raw line of a malformed row, else null."""


def _hadoop_fs(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """Return the Hadoop FileSystem of ``path`` and the path as a Hadoop Path object."""
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath


def path_exists(spark: SparkSession, path: str) -> bool:
    """Whether ``path`` exists on its file system (after restoring a leftover of a killed swap)."""
    fs, hpath = _hadoop_fs(spark, path)
    restore_leftover(spark, path)
    return bool(fs.exists(hpath))


def old_copy(path: str) -> str:
    """Where a swap keeps the previous output of ``path`` until the new one is in place."""
    return f"{path.rstrip('/')}.__old"


def restore_leftover(spark: SparkSession, path: str) -> None:
    """Finish a swap a killed process left half done: the old copy goes back to ``path`` when
    ``path`` is missing, and is deleted when the new output is already in place."""
    fs, target = _hadoop_fs(spark, path)
    _, old = _hadoop_fs(spark, old_copy(path))
    if not fs.exists(old):
        return
    if fs.exists(target):
        fs.delete(old, True)
    else:
        fs.rename(old, target)


NANOS_AS_LONG = "spark.sql.legacy.parquet.nanosAsLong"
"""Read a Parquet file's nanosecond timestamps (pandas' default, which Spark otherwise refuses
to read, whatever columns are used) as long integers, nanoseconds since the epoch."""


def set_where_allowed(spark: SparkSession, key: str, value: str) -> None:
    """Set the session's ``key`` to ``value`` where the session allows it (a managed session,
    e.g. Databricks serverless, may refuse a legacy setting: its reads are then as they were)."""
    with suppress(Exception):  # the error for a setting a session refuses varies by version
        spark.conf.set(key, value)


CSV_COLUMN_PRUNING = "spark.sql.csv.parser.columnPruning.enabled"
"""With CSV column pruning (Spark's default) a query parses only the columns it needs, and
whether a line of more or fewer fields than the header is seen as malformed depends on which
columns those are (Spark's CSV ``mode`` documentation): a repeated separator in the header can
then shift every value one column over without a line being flagged. Off, every line is
checked against the whole header in every query: on 500,000 rows of 70 columns the ingest stage
took 1.02x its time with pruning when the config names every column, 1.14x when it names 10 of
the 67 features (benchmarks/RESULTS.md, "csv pruning")."""


def read_table(spark: SparkSession, source: TableSource, table: str) -> DataFrame:
    """Read a configured table; a missing path or catalog name raises DataContractError."""
    if source.format == "table":
        if not spark.catalog.tableExists(source.path):
            raise DataContractError(
                table,
                f"catalog table '{source.path}' does not exist",
                "set the table name in config",
            )
        return spark.table(source.path)
    if not path_exists(spark, source.path):
        raise DataContractError(
            table,
            f"no {source.format} data at '{source.path}'",
            f"point data.{table}.path at an existing {source.format} file or folder",
        )
    reader = spark.read.format(source.format)
    if source.format == "csv":
        reader = reader.option("header", "true").option("inferSchema", "true")
        set_where_allowed(spark, CSV_COLUMN_PRUNING, "false")
    if source.format == "parquet":
        set_where_allowed(spark, NANOS_AS_LONG, "true")
    try:
        df = reader.options(**source.options).load(source.path)
        return with_malformed_lines(reader, df, source) if source.format == "csv" else df
    except Exception as exc:  # pyspark raises AnalysisException subclasses that vary by version
        if "DATA_SOURCE_NOT_FOUND" in str(exc) or "Failed to find data source" in str(exc):
            raise DataContractError(
                table,
                f"this Spark session cannot read format '{source.format}'",
                "use a session with the format's package (e.g. delta-spark) or convert to parquet",
            ) from None
        raise


def with_malformed_lines(reader: Any, df: DataFrame, source: TableSource) -> DataFrame:
    """The CSV ``df`` read again with its inferred schema plus :data:`MALFORMED_LINE`: the raw
    line of each row whose field count differs from the header's (Spark pads a short row with
    nulls and drops a long row's extra fields), null for the others."""
    from pyspark.sql import types as T

    schema = T.StructType([*df.schema.fields, T.StructField(MALFORMED_LINE, T.StringType())])
    reread = reader.schema(schema).option("mode", "PERMISSIVE")
    return reread.option("columnNameOfCorruptRecord", MALFORMED_LINE).options(
        **source.options
    ).load(source.path)


def write_table(df: DataFrame, path: str, mode_format: str = "parquet") -> str:
    """Write ``df`` to ``path`` atomically (temporary sibling, then rename) and return ``path``.

    A previous output at ``path`` is kept until the new one is complete, then replaced.
    """
    spark = df.sparkSession
    tmp = f"{path.rstrip('/')}.__tmp_{uuid.uuid4().hex}"
    df.write.format(mode_format).mode("overwrite").save(tmp)
    _replace(spark, tmp, path)
    return path


def _replace(spark: SparkSession, tmp: str, path: str) -> None:
    """Move the finished ``tmp`` onto ``path``; the old output is removed only after the move."""
    restore_leftover(spark, path)
    fs, target = _hadoop_fs(spark, path)
    _, source = _hadoop_fs(spark, tmp)
    old = None
    if fs.exists(target):
        _, old = _hadoop_fs(spark, old_copy(path))
        _move(fs, target, old)
    parent = target.getParent()
    if parent is not None and not fs.exists(parent):
        fs.mkdirs(parent)
    if not _move(fs, source, target):
        if old is not None:
            fs.rename(old, target)
        raise OSError(f"could not move {tmp} to {path}")
    if old is not None:
        fs.delete(old, True)


def _move(fs: Any, source: Any, target: Any) -> bool:
    """Rename ``source`` to ``target`` on the Hadoop FileSystem ``fs``; whether it moved."""
    return bool(fs.rename(source, target))


def require_writable(root: str, key: str) -> None:
    """Raise ConfigError naming ``key`` when the local folder ``root`` cannot be written.

    The nearest existing folder of ``root`` is probed with a temporary file (removed at once),
    so nothing is left behind; a URI with a scheme (``s3://``, ``dbfs:/``) is left to Spark.
    """
    if "://" in root or root.startswith("dbfs:"):
        return
    path = Path(root).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(
            f"config key '{key}': '{root}' cannot be a folder, '{existing}' is a file; "
            "point it at a folder"
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ConfigError(
            f"config key '{key}': '{root}' cannot be written ('{existing}': {exc.strerror}); "
            "point it at a writable folder"
        ) from None


def write_text(text: str, path: str | Path) -> Path:
    """Write ``text`` atomically (temporary file, then os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def finite(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, +-inf) in its mappings and lists made None."""
    if isinstance(obj, dict):
        return {key: finite(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(value) for value in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


def write_json(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` as indented strict JSON, atomically; NaN and +-inf are written as null."""
    text = json.dumps(finite(obj), indent=2, sort_keys=True, default=str, allow_nan=False)
    return write_text(text, path)


def read_json(path: str | Path) -> Any:
    """A JSON file an earlier stage wrote."""
    return json.loads(Path(path).read_text())


def read_output(spark: SparkSession, path: str, table: str) -> DataFrame:
    """Read a Parquet output of an earlier stage; a missing one names the stage to run."""
    if not path_exists(spark, path):
        raise DataContractError(
            table, f"no output of the earlier stage at '{path}'", "run the earlier stage first"
        )
    return spark.read.parquet(path)
