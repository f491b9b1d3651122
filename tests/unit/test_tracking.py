"""MLflow tracking: a SQLite store, aliases that move as specified, models that round-trip."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from causal_targeting import tracking
from causal_targeting.errors import ModelError
from causal_targeting.learners.importance import feature_importance
from causal_targeting.learners.model import UpliftModel
from scoring_support import FEATURES, customer_frame, fit_small_model


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh SQLite tracking store (in a directory that does not exist yet)."""
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    root = tmp_path_factory.mktemp("mlflow")
    database = root / "nested" / "mlflow.db"
    tracking.configure(f"sqlite:///{database}", "tests", artifact_location=str(root / "art"))
    yield database
    mlflow.set_tracking_uri(previous[0])
    mlflow.set_registry_uri(previous[1])


@pytest.fixture(scope="module")
def model() -> UpliftModel:
    return fit_small_model(seed=1)


def _register(model: UpliftModel, name: str, qini: float) -> tuple[str, str]:
    with tracking.start_run(run_name=f"qini {qini}") as run:
        version = tracking.register(model, {"auuc__conversion__email": 0.5}, name, qini)
    return version, run.info.run_id


def _aliases(name: str) -> dict[str, str]:
    aliases = MlflowClient().get_registered_model(name).aliases
    return {alias: str(version) for alias, version in aliases.items()}


def test_configure_creates_the_sqlite_directory_and_experiment(store: Path) -> None:
    assert store.exists()
    assert MlflowClient().get_experiment_by_name("tests") is not None


def test_aliases_move_as_specified(store: Path, model: UpliftModel) -> None:
    first, _ = _register(model, "aliases", 0.10)
    assert _aliases("aliases") == {"challenger": first}
    promotion = tracking.promote("aliases", first)
    assert promotion.promoted and promotion.previous_champion is None
    assert _aliases("aliases") == {"challenger": first, "champion": first}

    second, _ = _register(model, "aliases", 0.10)  # equal Qini: no worse, so promoted
    assert _aliases("aliases")["challenger"] == second
    assert tracking.promote("aliases", second).promoted
    assert _aliases("aliases") == {"challenger": second, "champion": second}

    third, _ = _register(model, "aliases", 0.07)  # worse: champion stays
    promotion = tracking.promote("aliases", third)
    assert not promotion.promoted
    assert (promotion.challenger_score, promotion.champion_score) == (0.07, 0.10)
    assert _aliases("aliases") == {"challenger": third, "champion": second}
    assert tracking.load_model("models:/aliases@champion")[1] == f"aliases/{second}"


def test_a_nan_qini_is_logged_and_never_wins_against_a_number(
    store: Path, model: UpliftModel
) -> None:
    """A holdout whose rare outcome has no positive row gives a NaN Qini: the version is still
    registered with its figure, loses to a numbered champion, and a number beats it."""
    first, run_id = _register(model, "nan_qini", float("nan"))
    assert np.isnan(MlflowClient().get_run(run_id).data.metrics[tracking.HOLDOUT_QINI])
    assert tracking.promote("nan_qini", first).promoted  # no champion yet
    second, _ = _register(model, "nan_qini", 0.02)
    assert tracking.promote("nan_qini", second).promoted  # a number beats a NaN champion
    third, _ = _register(model, "nan_qini", float("nan"))
    promotion = tracking.promote("nan_qini", third)
    assert not promotion.promoted and promotion.champion_score == 0.02
    assert _aliases("nan_qini") == {"challenger": third, "champion": second}


def test_model_round_trips_through_mlflow(store: Path, model: UpliftModel) -> None:
    version, run_id = _register(model, "roundtrip", 0.2)
    customers = customer_frame(300, seed=2, unseen_level="Mars")
    expected = model.predict(customers)
    for uri, label in [
        (f"models:/roundtrip/{version}", f"roundtrip/{version}"),
        ("models:/roundtrip@challenger", f"roundtrip/{version}"),
        (f"runs:/{run_id}/model", f"runs:/{run_id}/model"),
    ]:
        loaded, loaded_version = tracking.load_model(uri)
        assert loaded_version == label
        assert loaded.to_bytes() == model.to_bytes()
        pd.testing.assert_frame_equal(loaded.predict(customers), expected)

    served = mlflow.pyfunc.load_model(f"models:/roundtrip/{version}")
    assert served.metadata.get_input_schema().input_names() == list(FEATURES)
    outputs = served.metadata.get_output_schema().input_names()
    assert outputs == list(model.score_columns())
    got = served.predict(customers[list(FEATURES)])
    np.testing.assert_array_equal(got[outputs].to_numpy(), expected[outputs].to_numpy())


@pytest.mark.parametrize(
    ("uri", "hint"),
    [
        ("models:/never-trained@champion", "train a model"),
        ("models:/roundtrip@champion", "--promote sets 'champion'"),
        ("models:/roundtrip/99", "check the model name and version"),
        ("runs:/0123456789abcdef/model", "check the run id"),
    ],
)
def test_unresolvable_uri_is_a_model_error(store: Path, uri: str, hint: str) -> None:
    with pytest.raises(ModelError) as caught:
        tracking.load_model(uri)
    message = str(caught.value)
    assert f"model URI '{uri}' does not resolve" in message and hint in message
    assert "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_config_is_logged_as_artifact_and_flat_params(store: Path) -> None:
    config = {"seed": 7, "learner": {"kind": "t", "lightgbm": {"num_leaves": 15}}, "arms": ["a"]}
    with tracking.start_run() as run:
        tracking.log_config(config)
        tracking.log_metrics({"qini__conversion__Mens E-Mail": 0.25, "auuc:bad": float("nan")})
    data = MlflowClient().get_run(run.info.run_id).data
    assert data.params == {
        "seed": "7",
        "learner.kind": "t",
        "learner.lightgbm.num_leaves": "15",
        "arms": '["a"]',
    }
    assert data.metrics == {"qini__conversion__Mens E-Mail": 0.25}
    logged = yaml.safe_load(mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/config.yaml"))
    assert logged == config


def test_config_keys_holding_arm_labels_are_logged_under_safe_names(store: Path) -> None:
    """An arm '10% off' in a mapping keyed by arm (allocation.fixed_cost) is a param name
    MLflow refuses: it is logged with the refused characters as '_'."""
    config = {"allocation": {"fixed_cost": {"10% off": 0.5, "Free shipping: EU": 0.3}}}
    with tracking.start_run() as run:
        tracking.log_config(config)
    assert MlflowClient().get_run(run.info.run_id).data.params == {
        "allocation.fixed_cost.10_ off": "0.5",
        "allocation.fixed_cost.Free shipping_ EU": "0.3",
    }


def test_frames_dicts_and_directories_are_logged(
    store: Path, model: UpliftModel, tmp_path: Path
) -> None:
    table = feature_importance(model)
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "index.html").write_text("<html></html>")
    with tracking.start_run() as run:
        tracking.log_frame(table, "feature_importance.csv")
        tracking.log_dict({"gap": 0.01}, "solve_report.json")
        tracking.log_artifacts(str(tmp_path / "report"), "report")
    uri = f"runs:/{run.info.run_id}"
    logged = pd.read_csv(io.StringIO(mlflow.artifacts.load_text(f"{uri}/feature_importance.csv")))
    pd.testing.assert_frame_equal(logged, table, check_dtype=False)
    assert mlflow.artifacts.load_dict(f"{uri}/solve_report.json") == {"gap": 0.01}
    assert mlflow.artifacts.load_text(f"{uri}/report/index.html") == "<html></html>"


def test_sqlite_path_of_relative_and_absolute_uris() -> None:
    assert tracking.sqlite_path("sqlite:///work/mlflow.db") == Path("work/mlflow.db")
    assert tracking.sqlite_path("sqlite:////tmp/x/mlflow.db") == Path("/tmp/x/mlflow.db")
    assert tracking.sqlite_path("http://127.0.0.1:5000") is None


def test_a_null_uri_leaves_the_store_to_mlflow_tracking_uri(tmp_path: Path) -> None:
    """conf/cluster.yaml's ``tracking.uri: null``: the store comes from the environment."""
    database = tmp_path / "from-env.db"
    script = (
        "import mlflow\n"
        "from causal_targeting import tracking\n"
        "tracking.configure(None, 'env-chosen', artifact_location=None)\n"
        "print(mlflow.get_tracking_uri())\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{database}"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == f"sqlite:///{database}"
    found = MlflowClient(tracking_uri=f"sqlite:///{database}").get_experiment_by_name("env-chosen")
    assert found is not None


def test_a_param_too_long_for_mlflow_is_named_not_cut(store: Path) -> None:
    columns = [f"column_{i:05d}" for i in range(800)]
    with tracking.start_run() as run:
        tracking.log_config({"data": {"keep_columns": columns}, "seed": 1})
    params = MlflowClient().get_run(run.info.run_id).data.params
    assert params["seed"] == "1"
    assert len(json.dumps(columns)) == 12_800
    assert params["data.keep_columns"] == (
        "<12,800 characters, above MLflow's 6,000: see config.yaml>"
    )


RUN_UNTIL_SIGNALLED = """
import sys, time
from causal_targeting import tracking
tracking.configure(sys.argv[1], "tests", artifact_location=sys.argv[2])
with tracking.start_run(run_name="a stage", tags={"stage": "allocate"}) as run:
    print(run.info.run_id, flush=True)
    time.sleep(600)
"""


def run_in_child(store: Path, how: signal.Signals) -> tuple[str, int]:
    """Start a run in a child process, send it ``how``; the run id and the exit status."""
    child = subprocess.Popen(
        [sys.executable, "-c", RUN_UNTIL_SIGNALLED, f"sqlite:///{store}", str(store.parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    child.send_signal(how)
    return run_id, child.wait(timeout=120)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_a_stage_killed_by_sigterm_or_sigint_ends_its_run_failed(
    store: Path, how: signal.Signals
) -> None:
    run_id, status = run_in_child(store, how)
    assert status != 0
    assert MlflowClient().get_run(run_id).info.status == "FAILED"


def test_a_run_left_running_by_a_dead_process_is_marked_killed_at_the_next_start(
    store: Path,
) -> None:
    run_id, status = run_in_child(store, signal.SIGKILL)
    assert status == -signal.SIGKILL
    assert MlflowClient().get_run(run_id).info.status == "RUNNING"
    with tracking.start_run() as alive:
        tracking.configure(f"sqlite:///{store}", "tests", artifact_location=str(store.parent))
    assert MlflowClient().get_run(run_id).info.status == "KILLED"
    assert MlflowClient().get_run(alive.info.run_id).info.status == "FINISHED"


def test_model_is_logged_from_code_without_warnings(
    store: Path, model: UpliftModel, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="mlflow"):
        version, _ = _register(model, "from_code", 0.2)
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text
    served = mlflow.pyfunc.load_model(f"models:/from_code/{version}")
    assert served.metadata.flavors["python_function"].get("model_code_path")


def test_registration_prints_no_chatter_but_keeps_other_stderr(
    store: Path, model: UpliftModel, capsys: pytest.CaptureFixture[str]
) -> None:
    from causal_targeting.learners.pyfunc import without_registry_chatter

    _register(model, "quiet", 0.2)  # a new name: MLflow would say "Successfully registered ..."
    _register(model, "quiet", 0.2)  # and then "Registered model 'quiet' already exists ..."
    assert "egistered model" not in capsys.readouterr().err
    with without_registry_chatter():
        print("Created version '3' of model 'x'.", file=sys.stderr)
        print("a real warning", file=sys.stderr)
    assert capsys.readouterr().err == "a real warning\n"
