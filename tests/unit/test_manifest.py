"""Manifests beside every stage's outputs: what made them, and refusing inputs of mixed runs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from causal_targeting.config import Config, load_config
from causal_targeting.data import manifest
from causal_targeting.errors import DataContractError


def config(root: Path, tmp_path: Path, *overrides: str) -> Config:
    return load_config(root / "conf" / "local.yaml", [f"outputs.root={tmp_path}", *overrides])


def ran(cfg: Config, stage: str, model_version: str | None = None) -> dict[str, object]:
    """A stage that checks its inputs, writes nothing else, and writes its manifest."""
    started = manifest.begin(cfg, stage)
    manifest.finish(cfg, started, run_id=f"run-{stage}", model_version=model_version)
    return json.loads(manifest.manifest_path(cfg.outputs.root, stage).read_text())


def test_a_manifest_says_which_run_made_the_outputs_and_what_it_read(
    root: Path, tmp_path: Path
) -> None:
    cfg = config(root, tmp_path)
    ingested = ran(cfg, "ingest")
    trained = ran(cfg, "train", "uplift/1")
    scored = ran(cfg, "score", "uplift/1")
    allocated = ran(cfg, "allocate")
    assert trained["run_id"] == "run-train" and trained["model_version"] == "uplift/1"
    assert trained["config_hash"] == manifest.config_hash(cfg) and len(trained["config_hash"]) == 64
    assert trained["started"] <= trained["ended"]
    assert str(trained["code_version"]).startswith("0.")
    assert allocated["model_version"] == "uplift/1"  # inherited from the scores it read
    assert allocated["lineage"] == {"ingest": ingested["token"], "score": scored["token"]}
    assert allocated["inputs"]["score"]["token"] == scored["token"]  # type: ignore[index]
    assert "inputs" not in allocated["inputs"]["score"]  # type: ignore[operator]


def chain_then_retrain(cfg: Config) -> None:
    """A full chain on model 1, then a rerun killed after train registered model 3."""
    ran(cfg, "ingest")
    ran(cfg, "train", "uplift/1")
    ran(cfg, "score", "uplift/1")
    ran(cfg, "allocate")
    ran(cfg, "train", "uplift/3")


def test_inputs_of_two_models_are_refused_naming_both(root: Path, tmp_path: Path) -> None:
    cfg = config(root, tmp_path)
    chain_then_retrain(cfg)
    before = manifest.read_manifest(cfg.outputs.root, "allocate")
    with pytest.raises(DataContractError, match=r"'train' used model uplift/3 but 'score' used "
                       r"model uplift/1.*outputs\.allow_mixed=true"):
        manifest.begin(cfg, "evaluate")
    assert manifest.read_manifest(cfg.outputs.root, "evaluate") is None
    assert manifest.read_manifest(cfg.outputs.root, "allocate") == before


def test_inputs_of_two_ingests_are_refused(root: Path, tmp_path: Path) -> None:
    cfg = config(root, tmp_path)
    ran(cfg, "ingest")
    ran(cfg, "score", "uplift/1")
    ran(cfg, "ingest")  # a new ingest; the allocation input is still the old one's scores
    ran(cfg, "train", "uplift/1")
    with pytest.raises(DataContractError, match=r"different runs of 'ingest'"):
        manifest.begin(cfg, "evaluate")


def test_allow_mixed_proceeds_with_a_warning(
    root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(root, tmp_path, "outputs.allow_mixed=true")
    chain_then_retrain(cfg)
    with caplog.at_level(logging.WARNING, logger=manifest.__name__):
        evaluated = ran(cfg, "evaluate")
    assert "uplift/3" in caplog.text and "uplift/1" in caplog.text
    assert set(evaluated["inputs"]) == {"ingest", "train", "score", "allocate"}  # type: ignore[arg-type]


def test_a_frontier_left_by_another_run_is_ignored_not_refused(
    root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(root, tmp_path)
    ran(cfg, "ingest")
    ran(cfg, "train", "uplift/1")
    ran(cfg, "score", "uplift/1")
    ran(cfg, "frontier")
    assert "frontier" in manifest.begin(cfg, "evaluate").inputs  # same chain: read
    ran(cfg, "ingest")  # a new chain (e.g. the notebook) that runs no frontier
    ran(cfg, "train", "uplift/2")
    ran(cfg, "score", "uplift/2")
    ran(cfg, "allocate")
    with caplog.at_level(logging.WARNING, logger=manifest.__name__):
        started = manifest.begin(cfg, "evaluate")
    assert set(started.inputs) == {"ingest", "train", "score", "allocate"}
    assert "evaluate ignores the frontier outputs" in caplog.text
