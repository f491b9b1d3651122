"""No credential reaches conf/, deploy/, the logged config, the logs or the stage outputs.

Fake credentials are put in the environment (where Databricks and MLflow auth come from); ingest
and train run in-process on a small Hillstrom sample; then every text the run left behind (the
MLflow run's params, tags and artifacts, the files under outputs.root, the captured logs) and the
repository's conf/ and deploy/ are searched for those values and for token-like strings.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from causal_targeting.config import load_config
from causal_targeting.stages.ingest import ingest
from causal_targeting.stages.train import train

FAKE_ENVIRONMENT = {
    "DATABRICKS_HOST": "https://dbc-0000.cloud.databricks.com",
    "DATABRICKS_TOKEN": "dapi0123456789abcdef0123456789abcdef",
    "MLFLOW_TRACKING_TOKEN": "mlflow-token-5f3c9a1e7b2d4c6e8f0a",
    "MLFLOW_TRACKING_PASSWORD": "hunter2-very-secret-pw",
    "AWS_ACCESS_KEY_ID": "AKIAABCDEFGHIJKLMNOP",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}
TOKEN_LIKE = [
    re.compile(r"dapi[0-9a-f]{32}"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"gh[pousr]_[A-Za-z0-9]{36}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?i)\b(token|password|secret|api_key)\b\s*[:=]\s*['\"]?[A-Za-z0-9/+_\-]{8,}"),
]


def leaks(text: str) -> list[str]:
    """The fake credentials and token-like strings found in ``text``."""
    found = [name for name, value in FAKE_ENVIRONMENT.items() if value in text]
    found += [match.group(0) for pattern in TOKEN_LIKE for match in pattern.finditer(text)]
    return found


def texts_under(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` decoded as text (binary files are searched as latin-1)."""
    return {
        str(file): file.read_bytes().decode("latin-1")
        for file in folder.rglob("*")
        if file.is_file()
    }


def test_the_scanner_finds_what_it_looks_for() -> None:
    assert leaks(f"token: {FAKE_ENVIRONMENT['MLFLOW_TRACKING_TOKEN']}")
    assert leaks("host: x\npassword = 'abcdefgh12'")
    assert leaks("key AKIAZZZZZZZZZZZZZZZZ here")
    assert leaks("model_name: causal-targeting-uplift\ntracking_uri: databricks") == []


@pytest.mark.parametrize("folder", ["conf", "deploy"])
def test_the_repository_config_carries_no_credential(root: Path, folder: str) -> None:
    found = {name: leaks(text) for name, text in texts_under(root / folder).items()}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_a_run_logs_and_writes_no_credential(
    spark: object,
    root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name, value in FAKE_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    sample = tmp_path / "hillstrom.csv"
    pd.read_csv(root / "data" / "hillstrom_email_2008.csv", nrows=3000).to_csv(sample, index=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = load_config(
        root / "conf" / "local.yaml",
        [
            f"data.experiment.path={sample}",
            f"outputs.root={tmp_path / 'work'}",
            f"tracking.uri={uri}",
            f"tracking.artifact_location={tmp_path / 'mlruns'}",
            "train.n_estimators=10",
            "train.cap_per_arm=800",
        ],
    )
    ingest(cfg)
    trained = train(cfg)

    run = MlflowClient(tracking_uri=uri).get_run(trained.run_id)
    logged = {"params": repr(run.data.params), "tags": repr(run.data.tags), "logs": caplog.text}
    logged.update(texts_under(tmp_path / "mlruns"))
    logged.update(texts_under(tmp_path / "work"))
    assert len(run.data.params) > 10  # the resolved config was logged, so it was searched
    found = {name: leaks(text) for name, text in logged.items()}
    assert {name: hits for name, hits in found.items() if hits} == {}
