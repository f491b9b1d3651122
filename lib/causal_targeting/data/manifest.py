"""Manifests: a small JSON file beside every stage's outputs saying which run made them.

``{outputs.root}/{stage}/manifest.json`` holds the stage, a token unique to that execution, the
MLflow run id (when the stage has a run), the config hash (sha256 of the resolved config), the
model version used, the code version, start and end times (UTC, ISO 8601), and the manifests of
the inputs it read. Its ``lineage`` maps every upstream stage to the token of the execution that
made the input, so two inputs from different chains (a killed rerun left scores of model v3
beside an allocation of model v1, or a holdout trained on another ingest) disagree on a token
or a model version; :func:`begin` then refuses them with a DataContractError naming both,
unless ``outputs.allow_mixed`` (then it logs a warning). Inputs written before manifests
existed have none and are not checked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from causal_targeting import __version__
from causal_targeting.data.io import write_json
from causal_targeting.errors import DataContractError

if TYPE_CHECKING:
    from causal_targeting.config import Config

FILE = "manifest.json"
INPUTS: dict[str, tuple[str, ...]] = {
    "ingest": (),
    "train": ("ingest",),
    "score": ("ingest",),
    "coarsen": ("score",),
    "allocate": ("score", "coarsen"),
    "frontier": ("score", "coarsen"),
    "evaluate": ("ingest", "train", "score", "coarsen", "allocate", "frontier"),
}
"""The stages whose outputs each stage reads (coarsen only when coarsen.enabled)."""
OPTIONAL = frozenset({"frontier"})
"""Inputs read only when present and from the same chain as the others (the frontier runs only
with one budget guardrail, or alone): a stale one is ignored with a warning, not an error."""
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    """A stage under way: its name, start time, and the manifests of the inputs it read."""

    stage: str
    started: str
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)


def manifest_path(root: str, stage: str) -> Path:
    """Where ``stage`` writes its manifest under the outputs root."""
    return Path(root, stage, FILE)


def read_manifest(root: str, stage: str) -> dict[str, Any] | None:
    """The manifest ``stage`` last wrote under ``root``, None if there is none."""
    path = manifest_path(root, stage)
    return json.loads(path.read_text()) if path.exists() else None


def config_hash(cfg: Config) -> str:
    """sha256 of the resolved config as canonical JSON."""
    text = json.dumps(cfg.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def code_version() -> str:
    """The package version, with the git commit of the source when it is a checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{commit}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """An input's manifest as recorded by the stage reading it: all but its own inputs (its
    lineage keeps the chain)."""
    return {key: value for key, value in manifest.items() if key != "inputs"}


def lineage(inputs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Every upstream stage's token, from the inputs' manifests (conflicts: see :func:`check`)."""
    tokens: dict[str, str] = {}
    for stage, manifest in inputs.items():
        tokens |= manifest.get("lineage", {}) | {stage: manifest["token"]}
    return tokens


def conflicts(inputs: dict[str, dict[str, Any]]) -> list[str]:
    """Each disagreement between the inputs: two model versions, or two executions of one
    upstream stage, each as text naming both inputs."""
    found: list[str] = []
    models = {s: m["model_version"] for s, m in inputs.items() if m.get("model_version")}
    for a, b in zip(list(models), list(models)[1:], strict=False):
        if models[a] != models[b]:
            found.append(f"'{a}' used model {models[a]} but '{b}' used model {models[b]}")
    seen: dict[str, tuple[str, str]] = {}
    for stage, manifest in inputs.items():
        for upstream, token in (manifest.get("lineage", {}) | {stage: manifest["token"]}).items():
            first = seen.setdefault(upstream, (stage, token))
            if first[1] != token:
                found.append(
                    f"'{first[0]}' and '{stage}' come from different runs of '{upstream}' "
                    f"({first[1][:8]} and {token[:8]})"
                )
    return found


def current(inputs: dict[str, dict[str, Any]], stage: str) -> dict[str, dict[str, Any]]:
    """``inputs`` without the :data:`OPTIONAL` ones that disagree with the required ones (left
    by an earlier run: e.g. a frontier from before the model was retrained)."""
    kept = {s: m for s, m in inputs.items() if s not in OPTIONAL}
    for name in sorted(OPTIONAL & inputs.keys()):
        if conflicts({**kept, name: inputs[name]}):
            log.warning("%s ignores the %s outputs: they come from another run", stage, name)
        else:
            kept[name] = inputs[name]
    return kept


def begin(cfg: Config, stage: str) -> Started:
    """Read the manifests of ``stage``'s inputs and check they come from one chain.

    Raises DataContractError naming the inputs that disagree (see :func:`conflicts`), before the
    stage writes anything; with ``outputs.allow_mixed`` it logs a warning instead.
    """
    reads = [s for s in INPUTS[stage] if s != "coarsen" or cfg.coarsen.enabled]
    found = {s: read_manifest(cfg.outputs.root, s) for s in reads}
    inputs = current({s: summary(m) for s, m in found.items() if m is not None}, stage)
    problems = conflicts(inputs)
    if problems and cfg.outputs.allow_mixed:
        log.warning("%s reads mixed inputs (outputs.allow_mixed): %s", stage, "; ".join(problems))
    elif problems:
        raise DataContractError(
            f"{stage} inputs",
            "the inputs come from different runs: " + "; ".join(problems),
            f"rerun the stages before {stage} (or `run`), or set outputs.allow_mixed=true",
        )
    return Started(stage, _now(), inputs)


def finish(
    cfg: Config, started: Started, run_id: str | None = None, model_version: str | None = None
) -> Path:
    """Write ``started.stage``'s manifest beside its outputs; returns its path.

    ``model_version`` defaults to the one the inputs agree on.
    """
    inherited = next((m["model_version"] for m in started.inputs.values()
                      if m.get("model_version")), None)
    manifest = {
        "stage": started.stage,
        "token": uuid.uuid4().hex,
        "run_id": run_id,
        "config_hash": config_hash(cfg),
        "model_version": model_version or inherited,
        "code_version": code_version(),
        "started": started.started,
        "ended": _now(),
        "lineage": lineage(started.inputs),
        "inputs": started.inputs,
    }
    return write_json(manifest, manifest_path(cfg.outputs.root, started.stage))
