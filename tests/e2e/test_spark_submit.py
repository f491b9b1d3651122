"""The whole pipeline through deploy/spark-submit.sh on a standalone cluster of two workers.

A master and two 1-core workers run on 127.0.0.1 (deploy/local_cluster.py); the script builds the
wheel and submits jobs/run.py with it. The test checks the stage outputs, the registered model, and
that both workers ran executors of the application (their work dirs hold its executor logs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from local_cluster import standalone_cluster, worker_dir
from mlflow import MlflowClient

from timeouts import scaled

HILLSTROM_ROWS = 64_000
WORKERS = 2


def submit(root: Path, master: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """Run ``deploy/spark-submit.sh MASTER run`` with small, test-sized settings."""
    overrides = [
        f"outputs.root={tmp / 'work'}",
        f"tracking.uri=sqlite:///{tmp / 'mlflow.db'}",
        f"tracking.artifact_location={tmp / 'mlruns'}",
        "spark.shuffle_partitions=4",
        "train.n_estimators=50",
        "train.cap_per_arm=10000",
    ]
    args = [str(root / "deploy" / "spark-submit.sh"), master, "run", "--conf", "conf/local.yaml"]
    for override in overrides:
        args += ["--set", override]
    env = {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_SUBMIT_ARGS": (
            "--executor-memory 512m --executor-cores 1 --total-executor-cores 2 "
            "--conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1 "
            "--conf spark.ui.enabled=false"
        ),
    }
    return subprocess.run(
        args, cwd=root, env=env, capture_output=True, text=True, timeout=scaled(420)
    )


def applications(workdir: Path, index: int) -> set[str]:
    """The application ids worker ``index`` ran executors for."""
    folder = worker_dir(workdir, index)
    return {app.name for app in folder.glob("app-*") if any(app.glob("*/stderr"))}


@pytest.mark.cluster
def test_the_pipeline_runs_through_spark_submit_on_two_workers(root: Path, tmp_path: Path) -> None:
    with standalone_cluster(tmp_path, workers=WORKERS, cores=1, memory="1g") as master:
        done = submit(root, master, tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]

    out = tmp_path / "work"
    report = json.loads((out / "ingest" / "report.json").read_text())
    quarantined = sum(report["quarantined"]["experiment"].values())
    experiment = pd.read_parquet(out / "ingest" / "experiment")
    assert report["rows_read"]["experiment"] == HILLSTROM_ROWS
    assert len(experiment) == HILLSTROM_ROWS - quarantined

    scores = pd.read_parquet(out / "score" / "scores")
    assert len(scores) == HILLSTROM_ROWS
    assert scores["customer_id"].is_unique
    arms = ["No E-Mail", "Mens E-Mail", "Womens E-Mail"]
    for outcome in ["visit", "conversion", "spend"]:
        for arm in arms:
            assert scores[f"mu__{outcome}__{arm}"].notna().all()
        for arm in arms[1:]:
            assert scores[f"tau__{outcome}__{arm}"].notna().all()

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    versions = client.search_model_versions("name='causal-targeting-uplift'")
    assert [str(v.version) for v in versions] == ["1"]
    score_report = json.loads((out / "score" / "report.json").read_text())
    assert score_report["rows"] == HILLSTROM_ROWS

    ran = [applications(tmp_path, index) for index in range(WORKERS)]
    assert all(len(apps) == 1 for apps in ran), ran
    assert ran[0] == ran[1]
