"""Reading tables (CSV, Parquet, Delta, catalog names) and writing them atomically.

An output is written to a temporary sibling location and then moved into place with the Hadoop
FileSystem of the target path, so the same code is atomic on a local disk, HDFS or DBFS: a stage
that dies mid-write leaves the previous output intact and readable.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from causal_targeting.errors import DataContractError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from causal_targeting.config import TableSource


def _hadoop_fs(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """Return the Hadoop FileSystem of ``path`` and the path as a Hadoop Path object."""
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath


def path_exists(spark: SparkSession, path: str) -> bool:
    """Whether ``path`` exists on its file system."""
    fs, hpath = _hadoop_fs(spark, path)
    return bool(fs.exists(hpath))


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
    try:
        return reader.options(**source.options).load(source.path)
    except Exception as exc:  # pyspark raises AnalysisException subclasses that vary by version
        if "DATA_SOURCE_NOT_FOUND" in str(exc) or "Failed to find data source" in str(exc):
            raise DataContractError(
                table,
                f"this Spark session cannot read format '{source.format}'",
                "use a session with the format's package (e.g. delta-spark) or convert to parquet",
            ) from None
        raise


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
    fs, target = _hadoop_fs(spark, path)
    _, source = _hadoop_fs(spark, tmp)
    old = None
    if fs.exists(target):
        _, old = _hadoop_fs(spark, f"{path.rstrip('/')}.__old_{uuid.uuid4().hex}")
        fs.rename(target, old)
    parent = target.getParent()
    if parent is not None and not fs.exists(parent):
        fs.mkdirs(parent)
    if not fs.rename(source, target):
        if old is not None:
            fs.rename(old, target)
        raise OSError(f"could not move {tmp} to {path}")
    if old is not None:
        fs.delete(old, True)


def write_text(text: str, path: str | Path) -> Path:
    """Write ``text`` atomically (temporary file, then os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def write_json(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return write_text(json.dumps(obj, indent=2, sort_keys=True, default=str), path)


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
