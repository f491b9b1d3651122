"""The Spark session: the active one (Databricks, spark-submit), else a local one."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from causal_targeting.config import SparkConfig


LOG4J = Path(__file__).with_name("log4j2.properties")
"""Spark's logging for sessions built here: warnings and errors on stderr."""


def get_spark(conf: SparkConfig | None = None) -> SparkSession:
    """Return the active SparkSession, or build a local one sized for a laptop.

    On Databricks a session already exists and is returned unchanged. Otherwise a session is
    built from ``conf`` (shuffle partitions, Arrow on, ``extra``); outside spark-submit also the
    master and driver memory, and the Python workers use this interpreter so that executors see
    the same packages as the driver. Under spark-submit the master, driver memory and executors
    are the ones given to spark-submit.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if conf is None:
        from causal_targeting.config import SparkConfig

        conf = SparkConfig()
    builder = SparkSession.builder.appName(conf.app_name)
    if not submitted():
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        if conf.master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.master(conf.master)
            .config("spark.driver.memory", conf.driver_memory)
            .config("spark.ui.enabled", "false")
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{LOG4J}")
        )
    builder = (
        builder.config("spark.sql.shuffle.partitions", str(conf.shuffle_partitions))
        .config("spark.default.parallelism", str(conf.shuffle_partitions))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(conf.arrow_batch_rows))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in conf.extra.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(conf.log_level)
    return spark


def submitted() -> bool:
    """Whether this driver was started by spark-submit (which passes its JVM gateway's port):
    then the master, driver memory and UI are spark-submit's, not the config's."""
    return "PYSPARK_GATEWAY_PORT" in os.environ
