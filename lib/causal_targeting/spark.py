"""The Spark session: the active one (Databricks, spark-submit), else a local one."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    from causal_targeting.config import SparkConfig


LOG4J = Path(__file__).with_name("log4j2.properties")
"""Spark's logging for sessions built here: warnings and errors on stderr."""

JVM_NOTICES = (b"WARNING: Using incubator modules:",)
"""Lines the JVM writes on stderr at start-up that are not warnings about the run: Spark's
launcher always adds the incubating vector module, and the JVM announces it."""


def get_spark(conf: SparkConfig | None = None) -> SparkSession:
    """Return the active SparkSession, or build a local one sized for a laptop.

    On Databricks a session already exists and is returned unchanged. Otherwise a session is
    built from ``conf`` (shuffle partitions, Arrow on, ``extra``); outside spark-submit also the
    master and driver memory, and the Python workers use this interpreter so that executors see
    the same packages as the driver. Under spark-submit the master, driver memory and executors
    are the ones given to spark-submit.
    """
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if conf is None:
        from causal_targeting.config import SparkConfig

        conf = SparkConfig()
    options = {"spark.app.name": conf.app_name}
    if not submitted():
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        if conf.master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        options |= {
            "spark.master": conf.master,
            "spark.driver.memory": conf.driver_memory,
            "spark.ui.enabled": "false",
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG4J}",
        }
    options |= {
        "spark.sql.shuffle.partitions": str(conf.shuffle_partitions),
        "spark.default.parallelism": str(conf.shuffle_partitions),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(conf.arrow_batch_rows),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.debug.maxToStringFields": "1000",  # plans of wide score tables, untruncated
        **conf.extra,
    }
    spark_conf = SparkConf(loadDefaults=False).setAll(list(options.items()))
    if not submitted():
        start_jvm(spark_conf)
    spark = SparkSession.builder.config(conf=spark_conf).getOrCreate()
    spark.sparkContext.setLogLevel(conf.log_level)
    return spark


def forward_stderr(stream: IO[bytes], drop: tuple[bytes, ...] = JVM_NOTICES) -> None:
    """Copy the JVM's stderr to ours line by line, without the lines that start with ``drop``."""
    for line in iter(stream.readline, b""):
        if not line.startswith(drop):
            os.write(2, line)


def start_jvm(conf: SparkConf) -> None:
    """Start Spark's JVM (unless one runs) with its stderr forwarded by :func:`forward_stderr`."""
    from pyspark import SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None:
        return
    gateway = launch_gateway(conf, popen_kwargs={"stderr": subprocess.PIPE})
    threading.Thread(target=forward_stderr, args=(gateway.proc.stderr,), daemon=True).start()
    SparkContext._ensure_initialized(gateway=gateway)


def submitted() -> bool:
    """Whether this driver was started by spark-submit (which passes its JVM gateway's port):
    then the master, driver memory and UI are spark-submit's, not the config's."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def task_slots(spark: SparkSession) -> int:
    """How many tasks Spark runs at once now: the default resource profile's task slots on the
    registered executors (``local[N]``: N), not ``spark.default.parallelism`` (which
    :func:`get_spark` sets to the shuffle partitions). Where the JVM cannot say (no executor
    registered yet, an API that moved), ``spark.default.parallelism``."""
    context = spark.sparkContext
    try:
        jvm = context._jsc.sc()  # type: ignore[union-attr]
        profile = jvm.resourceProfileManager().defaultResourceProfile()
        slots = int(jvm.maxNumConcurrentTasks(profile))
    except Exception:  # a private Scala API reached through py4j: any failure means unknown
        slots = 0
    return slots if slots > 0 else context.defaultParallelism
