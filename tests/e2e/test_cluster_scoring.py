"""Scoring on a real standalone Spark cluster: a master and one worker on 127.0.0.1.

The cluster is started with pyspark's own ``bin/spark-class`` and stopped in a ``finally``. The
scoring runs in a separate Python process whose driver connects to ``spark://127.0.0.1:PORT``
(this test process already holds the shared local session), so the executor has only what the
broadcast carries: nothing depends on state local to a driver.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyspark
import pytest

from scoring_support import customer_frame, fit_small_model

SPARK_HOME = Path(pyspark.__file__).parent
STARTUP_SECONDS = 60

SCORE_ON_CLUSTER = """
import json, sys
from pathlib import Path
from pyspark.sql import SparkSession
from causal_targeting.learners.uplift import UpliftModel
from causal_targeting.scoring import score, unseen_levels_report

master, model_file, customers, output, cache_dir = sys.argv[1:]
spark = (
    SparkSession.builder.master(master)
    .appName("cluster-scoring-test")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.executor.memory", "512m")
    .config("spark.executor.cores", "2")
    .config("spark.task.cpus", "2")
    .config("spark.ui.enabled", "false")
    .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100")
    .getOrCreate()
)
model = UpliftModel.from_bytes(Path(model_file).read_bytes())
df = spark.read.parquet(customers)
score(df, model, "cluster-v1", engine="compiled", cache_dir=cache_dir).write.parquet(output)
executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
print(json.dumps({"unseen": unseen_levels_report(df, model), "executors": executors}))
spark.stop()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.25)
    raise RuntimeError(f"'{text}' not seen in {log}:\n{log.read_text(errors='replace')[-2000:]}")


def _daemon(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(SPARK_HOME / "bin" / "spark-class"), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def standalone_cluster(workdir: Path) -> Iterator[str]:
    """Start a master and one 2-core worker on 127.0.0.1; yield the master URL; stop both."""
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
    }
    port = _free_port()
    processes = []
    try:
        master = _daemon(
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(_free_port()),
            ],
            workdir / "master.log",
            env,
        )
        processes.append(master)
        _wait_for_line(workdir / "master.log", "I have been elected leader", master)
        url = f"spark://127.0.0.1:{port}"
        worker = _daemon(
            [
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                "127.0.0.1",
                "--webui-port",
                str(_free_port()),
                "--cores",
                "2",
                "--memory",
                "1g",
                "--work-dir",
                str(workdir / "worker"),
                url,
            ],
            workdir / "worker.log",
            env,
        )
        processes.append(worker)
        _wait_for_line(workdir / "worker.log", "Successfully registered with master", worker)
        yield url
    finally:
        for process in reversed(processes):
            _stop(process)


@pytest.mark.cluster
def test_scores_on_a_standalone_cluster_equal_in_process_predict(tmp_path: Path) -> None:
    model = fit_small_model(seed=5)
    customers = customer_frame(600, seed=6, unseen_level="Mars")
    model_file = tmp_path / "model.bin"
    model_file.write_bytes(model.to_bytes())
    customers.to_parquet(tmp_path / "customers.parquet", index=False)
    script = tmp_path / "score_on_cluster.py"
    script.write_text(SCORE_ON_CLUSTER)
    output = tmp_path / "scores"

    with standalone_cluster(tmp_path) as master:
        done = subprocess.run(
            [
                sys.executable,
                str(script),
                master,
                str(model_file),
                str(tmp_path / "customers.parquet"),
                str(output),
                str(tmp_path / "compiled"),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"},
        )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["executors"] == 1
    assert report["unseen"]["region"] == int((customers["region"] == "Mars").sum()) > 0

    scores = pd.read_parquet(output).sort_values("customer_id").reset_index(drop=True)
    expected = model.predict(customers.sort_values("customer_id").reset_index(drop=True))
    assert len(scores) == len(customers)
    assert set(scores["model_version"]) == {"cluster-v1"}
    for column in model.score_columns():
        np.testing.assert_allclose(scores[column], expected[column], rtol=0, atol=1e-9)
