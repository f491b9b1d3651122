"""train and score against a real ``mlflow server`` over HTTP.

The server runs on 127.0.0.1 with a SQLite backend and serves its artifacts from a local folder
(``--artifacts-destination``), so the client uploads and downloads the model through the server:
the experiment is created with ``tracking.artifact_location: null`` and the server chooses.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from local_cluster import free_port, stop_process_group
from mlflow import MlflowClient

from timeouts import scaled

CLI = Path(sys.executable).parent / "causal-targeting"
MLFLOW = Path(sys.executable).parent / "mlflow"
MODEL_NAME = "causal-targeting-uplift"
STARTUP_SECONDS = 90


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def mlflow_server(workdir: Path) -> Iterator[str]:
    """Start ``mlflow server`` on a free port of 127.0.0.1; yield its URL; stop it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "mlflow-server.log"
    args = [
        str(MLFLOW), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{workdir / 'server.db'}",
        "--artifacts-destination", str(workdir / "artifacts"),
    ]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        stop_process_group(server)


def cli(root: Path, command: list[str], overrides: list[str]) -> str:
    """Run one CLI stage as a subprocess; return its output; fail the test if it fails."""
    args = [str(CLI), *command, "--conf", "conf/local.yaml"]
    for override in overrides:
        args += ["--set", override]
    done = subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=scaled(300))
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.server
def test_train_and_score_against_an_mlflow_server(root: Path, tmp_path: Path) -> None:
    with mlflow_server(tmp_path) as url:
        overrides = [
            f"tracking.uri={url}",
            "tracking.artifact_location=null",
            f"outputs.root={tmp_path / 'work'}",
            "train.n_estimators=30",
            "train.cap_per_arm=5000",
            "spark.shuffle_partitions=4",
        ]
        cli(root, ["ingest"], overrides)
        cli(root, ["train", "--promote"], overrides)
        cli(root, ["score"], overrides)

        client = MlflowClient(tracking_uri=url, registry_uri=url)
        (version,) = client.search_model_versions(f"name='{MODEL_NAME}'")
        champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
        run = client.get_run(version.run_id)
        artifact_uri = run.info.artifact_uri

    assert champion.version == version.version == "1"
    assert artifact_uri.startswith("mlflow-artifacts:"), artifact_uri
    assert any((tmp_path / "artifacts").rglob("MLmodel"))  # stored by the server, not the client
    scores = pd.read_parquet(tmp_path / "work" / "score" / "scores")
    assert len(scores) == 64_000
    assert set(scores["model_version"]) == {f"{MODEL_NAME}/1"}
    assert not (root / "mlruns").exists() or not any((root / "mlruns").rglob(version.run_id))
