"""MLflow helpers: the store, runs, the resolved config, model versions and their aliases.

A trained model is registered as a new version of one registered model and gets the alias
``challenger``; :func:`promote` moves ``champion`` to it when its holdout Qini is no worse than
the current champion's. The score stage loads a model by URI (``models:/NAME@champion``,
``models:/NAME/3``, ``runs:/RUN_ID/model``) with :func:`load_model`. Any MLflow tracking URI
works; the default is a SQLite file under ``./work``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from causal_targeting.data.io import finite
from causal_targeting.errors import ModelError
from causal_targeting.learners.model import UpliftModel
from causal_targeting.learners.pyfunc import load_uplift_model, log_uplift_model

CHALLENGER = "challenger"
CHAMPION = "champion"
HOLDOUT_QINI = "holdout_qini"
MODEL_ARTIFACT = "model"
_MAX_PARAMS_PER_CALL = 100
_MAX_PARAM_LENGTH = 6000
HOST_TAG = "causal_targeting.host"
PID_TAG = "causal_targeting.pid"


def sqlite_path(tracking_uri: str) -> Path | None:
    """Return the database file of a ``sqlite:///`` URI (relative or absolute), else None."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///"))


def configure(
    tracking_uri: str | None = "sqlite:///work/mlflow.db",
    experiment: str = "causal-targeting",
    artifact_location: str | None = "work/mlruns",
) -> str:
    """Point MLflow (tracking and registry) at ``tracking_uri`` and select ``experiment``.

    A SQLite file's directory is created. The experiment is created if missing (restored if
    deleted), with its artifacts under ``artifact_location``: a local path is made absolute, a
    URI such as ``s3://...`` is used as given, None lets the server choose (the right choice
    for a remote ``mlflow server``). ``tracking_uri=None`` leaves the URI to MLflow's own
    settings (``MLFLOW_TRACKING_URI`` and, for its credentials, ``MLFLOW_TRACKING_TOKEN`` or
    Databricks' environment). Artifact upload progress bars are turned off (they would interleave
    with the stage's own progress), and so is the INFO line of a new SQLite store's tables.
    Returns the experiment id.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # "Creating tables..."
    if tracking_uri is not None:
        database = sqlite_path(tracking_uri)
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        experiment_id = found.experiment_id
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(experiment_id)
    else:
        experiment_id = client.create_experiment(
            experiment, artifact_location=_artifact_uri(artifact_location)
        )
    mlflow.set_experiment(experiment_id=experiment_id)
    mark_stale_runs_killed(client, experiment_id)
    return experiment_id


def process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_stale_runs_killed(client: MlflowClient, experiment_id: str) -> list[str]:
    """Mark KILLED every RUNNING run of ``experiment_id`` that :func:`start_run` opened on this
    host in a process that no longer exists (a stage killed by SIGKILL or a power cut); runs of
    other hosts and of live processes are left alone. Returns the run ids marked."""
    host = socket.gethostname().replace("'", "")
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
    )
    stale = [
        run.info.run_id
        for run in runs
        if run.data.tags.get(PID_TAG, "").isdigit()
        and not process_alive(int(run.data.tags[PID_TAG]))
    ]
    for run_id in stale:
        client.set_terminated(run_id, status="KILLED")
    return stale


def _artifact_uri(location: str | None) -> str | None:
    if location is None or "://" in location:
        return location
    return Path(location).resolve().as_uri()


class Terminated(SystemExit):
    """SIGTERM, raised as an exception so that the open run ends FAILED."""


@contextmanager
def terminated_as_exception() -> Iterator[None]:
    """Within: SIGTERM raises :class:`Terminated` (exit status 143) instead of ending the
    process at once (SIGINT already raises KeyboardInterrupt). Only the main thread can set a
    signal handler; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def start_run(
    run_name: str | None = None, tags: Mapping[str, str] | None = None
) -> Iterator[mlflow.ActiveRun]:
    """Open an MLflow run in the configured experiment; it ends FAILED on an error, SIGTERM or
    SIGINT. The run is tagged with this host and process, so that a later :func:`configure`
    marks it KILLED if the process dies without ending it."""
    process = {HOST_TAG: socket.gethostname().replace("'", ""), PID_TAG: str(os.getpid())}
    with terminated_as_exception(), mlflow.start_run(
        run_name=run_name, tags={**process, **dict(tags or {})}
    ) as run:
        yield run


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Return nested mappings as ``{"a.b.c": "value"}``; lists and None as JSON text."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, prefix=f"{name}."))
        elif isinstance(value, str):
            flat[name] = value
        else:
            flat[name] = json.dumps(value, default=str)
    return flat


def param_value(value: str, artifact_file: str = "config.yaml") -> str:
    """``value`` as a run param: one longer than MLflow's limit (6,000 characters) is not cut
    but replaced by a note saying so and where the whole value is."""
    if len(value) <= _MAX_PARAM_LENGTH:
        return value
    return f"<{len(value):,} characters, above MLflow's {_MAX_PARAM_LENGTH:,}: see {artifact_file}>"


def log_config(config: Mapping[str, Any], artifact_file: str = "config.yaml") -> None:
    """Log the resolved config as a YAML artifact and as flattened run params under MLflow-safe
    names (a value too long for a param is named as such, see :func:`param_value`)."""
    mlflow.log_dict(dict(config), artifact_file)
    flat = flatten(config)
    params = {mlflow_name(key): param_value(value, artifact_file) for key, value in flat.items()}
    items = sorted(params.items())
    for start in range(0, len(items), _MAX_PARAMS_PER_CALL):
        mlflow.log_params(dict(items[start : start + _MAX_PARAMS_PER_CALL]))


def mlflow_name(text: str) -> str:
    """Return ``text`` with characters MLflow refuses in a metric or param name replaced by
    ``_`` (an arm '10% off' in ``allocation.fixed_cost.10% off``)."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", text)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log finite metrics under MLflow-safe names (``qini__conversion__Mens E-Mail`` is kept)."""
    clean = {
        mlflow_name(key): float(value) for key, value in metrics.items() if math.isfinite(value)
    }
    mlflow.log_metrics(clean, step=step)


def register(
    model: UpliftModel,
    metrics: Mapping[str, float],
    name: str,
    holdout_qini: float,
    metric_key: str = HOLDOUT_QINI,
) -> str:
    """Log ``model`` in the active run, register it as a new version of ``name``, alias it.

    The run gets ``metrics`` and ``metric_key = holdout_qini`` (the figure :func:`promote`
    compares; logged even when NaN, as when no evaluated row of a rare binary outcome is
    positive); the new version gets the alias ``challenger``. Returns the version number.
    """
    log_metrics(metrics)
    mlflow.log_metric(mlflow_name(metric_key), float(holdout_qini))
    info = log_uplift_model(model, name=MODEL_ARTIFACT, registered_model_name=name)
    version = str(info.registered_model_version)
    MlflowClient().set_registered_model_alias(name, CHALLENGER, version)
    return version


@dataclass(frozen=True)
class Promotion:
    """What :func:`promote` did: whether ``champion`` moved, and the figures it compared."""

    promoted: bool
    version: str
    previous_champion: str | None
    challenger_score: float
    champion_score: float | None
    reason: str


def promote(name: str, version: str, metric_key: str = HOLDOUT_QINI) -> Promotion:
    """Move the alias ``champion`` to ``version`` if its ``metric_key`` is no worse.

    The figure is the run metric ``metric_key`` of each version's training run. ``champion``
    moves when there is no champion yet, when it is this version already, or when the
    challenger's figure is >= the champion's, or is a number where the champion's is NaN: a
    NaN figure never wins against a number.
    """
    client = MlflowClient()
    challenger_score = _version_metric(client, name, version, metric_key)
    champion = _alias_version(client, name, CHAMPION)
    if champion is None:
        client.set_registered_model_alias(name, CHAMPION, version)
        return Promotion(True, version, None, challenger_score, None, "no champion yet")
    champion_score = _version_metric(client, name, champion, metric_key)
    beats = challenger_score >= champion_score or (
        math.isnan(champion_score) and not math.isnan(challenger_score)
    )
    if champion == version or beats:
        client.set_registered_model_alias(name, CHAMPION, version)
        reason = f"{metric_key} {challenger_score:.6g} >= champion's {champion_score:.6g}"
        return Promotion(True, version, champion, challenger_score, champion_score, reason)
    reason = f"{metric_key} {challenger_score:.6g} < champion's {champion_score:.6g}"
    return Promotion(False, version, champion, challenger_score, champion_score, reason)


def _version_metric(client: MlflowClient, name: str, version: str, metric_key: str) -> float:
    run_id = client.get_model_version(name, version).run_id
    metrics = client.get_run(run_id).data.metrics
    if metric_key not in metrics:
        raise ModelError(
            f"model '{name}' version {version} (run {run_id}) has no metric '{metric_key}'. "
            "Fix: register models with the train stage, which logs it"
        )
    return float(metrics[metric_key])


def _alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


_REGISTERED = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))/?$")


def load_model(uri: str) -> tuple[UpliftModel, str]:
    """Load an uplift model by MLflow URI; return it with the version string scores carry.

    ``models:/NAME@ALIAS`` and ``models:/NAME/VERSION`` give ``"NAME/VERSION"``; any other
    URI (``runs:/RUN_ID/model``, a path) gives the URI itself. A URI that does not resolve
    raises :class:`ModelError` naming it and what to do, not an MLflow stack trace.
    """
    client = MlflowClient()
    registered = _REGISTERED.match(uri)
    try:
        if registered is None:
            return load_uplift_model(uri), uri
        name = registered["name"]
        if registered["alias"] is not None:
            version = str(client.get_model_version_by_alias(name, registered["alias"]).version)
        else:
            version = str(client.get_model_version(name, registered["version"]).version)
        return load_uplift_model(f"models:/{name}/{version}"), f"{name}/{version}"
    except MlflowException as exc:
        raise ModelError(_unresolved(uri, exc.message)) from None
    except OSError as exc:
        raise ModelError(_unresolved(uri, str(exc))) from None


def _unresolved(uri: str, detail: str) -> str:
    detail = detail.splitlines()[0] if detail else "not found"
    store = mlflow.get_tracking_uri()
    if uri.startswith("models:/") and "@" in uri:
        fix = (
            "train a model (the train stage registers a 'challenger'; --promote sets "
            "'champion'), or name a version as models:/NAME/VERSION"
        )
    elif uri.startswith("models:/"):
        fix = "check the model name and version in the MLflow UI, or train a model first"
    elif uri.startswith("runs:/"):
        fix = "check the run id and artifact path (runs:/RUN_ID/model) in the MLflow UI"
    else:
        fix = "use models:/NAME@champion, models:/NAME/VERSION or runs:/RUN_ID/model"
    return f"model URI '{uri}' does not resolve in tracking store '{store}' ({detail}). Fix: {fix}"


def log_frame(frame: pd.DataFrame, artifact_file: str) -> None:
    """Log a small table as a CSV artifact of the active run."""
    mlflow.log_text(frame.to_csv(index=False), artifact_file)


def log_dict(obj: Mapping[str, Any], artifact_file: str) -> None:
    """Log a JSON-ready mapping as a strict JSON (non-finite floats as null) or YAML artifact."""
    mlflow.log_dict(finite(dict(obj)), artifact_file)


def log_artifacts(local_dir: str, artifact_path: str) -> None:
    """Log every file of a local folder under ``artifact_path`` of the active run."""
    mlflow.log_artifacts(local_dir, artifact_path)
