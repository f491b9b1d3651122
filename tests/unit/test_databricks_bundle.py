"""The Databricks asset bundle (deploy/databricks/) refers only to things that exist.

Every wheel task's entry point is a console script of the package; every parameter list it uses is
a defined variable whose first element is a CLI subcommand; every ``--set`` names a config key (the
config loads with them); the ``--conf`` file exists; wheels come from the folder the build writes;
the training and segment jobs are weekly and score + allocate daily, on both classic clusters and
serverless.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import tomllib
import typer.main
import yaml

from causal_targeting.cli import app
from causal_targeting.config import load_config

VARIABLE = re.compile(r"\$\{var\.([A-Za-z0-9_]+)\}")
WORKSPACE_FILES = "${workspace.file_path}/"


@pytest.fixture(scope="module")
def bundle_dir(root: Path) -> Path:
    return root / "deploy" / "databricks"


@pytest.fixture(scope="module")
def bundle(bundle_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((bundle_dir / "databricks.yml").read_text())


@pytest.fixture(scope="module")
def jobs(bundle: dict[str, Any], bundle_dir: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for pattern in bundle["include"]:
        for file in sorted(bundle_dir.glob(pattern)):
            found.update(yaml.safe_load(file.read_text())["resources"]["jobs"])
    return found


def wheel_tasks(jobs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [task for job in jobs.values() for task in job["tasks"] if "python_wheel_task" in task]


def parameter_list(bundle: dict[str, Any], task: dict[str, Any]) -> list[str]:
    """The task's parameters: a ``${var.X}`` complex variable resolved to its default list."""
    parameters = task["python_wheel_task"]["parameters"]
    if isinstance(parameters, str):
        (name,) = VARIABLE.fullmatch(parameters).groups()  # type: ignore[union-attr]
        parameters = bundle["variables"][name]["default"]
    return [str(item) for item in parameters]


def resolve_variables(text: str, bundle: dict[str, Any]) -> str:
    """Substitute every ``${var.X}`` with the variable's default."""
    return VARIABLE.sub(lambda m: str(bundle["variables"][m.group(1)]["default"]), text)


def option_values(parameters: list[str], option: str) -> list[str]:
    return [parameters[i + 1] for i, item in enumerate(parameters[:-1]) if item == option]


def test_the_bundle_includes_job_files(jobs: dict[str, dict[str, Any]]) -> None:
    assert len(jobs) >= 4
    assert len(wheel_tasks(jobs)) >= 6


def test_wheel_entry_points_are_console_scripts_of_the_package(
    root: Path, jobs: dict[str, dict[str, Any]]
) -> None:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    package = project["name"].replace("-", "_")
    for task in wheel_tasks(jobs):
        wheel = task["python_wheel_task"]
        assert wheel["package_name"] == package
        target = project["scripts"][wheel["entry_point"]]
        module, function = target.split(":")
        assert module.startswith(package + ".")
        assert callable(getattr(__import__(module, fromlist=[function]), function))


def test_every_referenced_variable_is_defined(bundle: dict[str, Any], bundle_dir: Path) -> None:
    texts = [(bundle_dir / "databricks.yml").read_text()]
    texts += [file.read_text() for file in (bundle_dir / "resources").glob("*.job.yml")]
    referenced = {name for text in texts for name in VARIABLE.findall(text)}
    assert referenced, "the bundle uses no variables"
    assert referenced <= set(bundle["variables"]), referenced - set(bundle["variables"])


def test_parameters_start_with_a_cli_subcommand(
    bundle: dict[str, Any], jobs: dict[str, dict[str, Any]]
) -> None:
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    used = {parameter_list(bundle, task)[0] for task in wheel_tasks(jobs)}
    assert used == {"train", "score", "segment", "allocate"}
    assert used <= commands, used - commands


def test_conf_files_exist_and_every_set_is_a_config_key(
    root: Path, bundle: dict[str, Any], jobs: dict[str, dict[str, Any]]
) -> None:
    for task in wheel_tasks(jobs):
        parameters = [resolve_variables(p, bundle) for p in parameter_list(bundle, task)]
        (conf,) = option_values(parameters, "--conf")
        assert conf.startswith(WORKSPACE_FILES), conf
        conf_file = root / conf.removeprefix(WORKSPACE_FILES)
        assert conf_file.is_file(), conf_file
        overrides = option_values(parameters, "--set")
        cfg = load_config(conf_file, overrides)  # an unknown key or bad value raises ConfigError
        for override in overrides:
            key, value = override.split("=", 1)
            node: Any = cfg
            for part in key.split("."):
                node = getattr(node, part)
            assert str(node) == value, override


def test_databricks_conf_uses_the_workspace_mlflow_and_catalog_tables(root: Path) -> None:
    cfg = load_config(root / "conf" / "databricks.yaml")
    assert cfg.tracking.uri == "databricks"
    assert cfg.tracking.artifact_location is None
    assert cfg.data.experiment.format == "table"
    assert cfg.data.customers is not None and cfg.data.customers.format == "table"
    assert cfg.tracking.model_name.count(".") == 2  # catalog.schema.model in Unity Catalog


def test_wheels_come_from_the_folder_the_build_writes(
    bundle: dict[str, Any], bundle_dir: Path, jobs: dict[str, dict[str, Any]]
) -> None:
    (artifact,) = bundle["artifacts"].values()
    out = option_values(artifact["build"].split(), "-w")[0]
    dist = (bundle_dir / artifact["path"] / out).resolve()
    resources = bundle_dir / "resources"
    wheels = [lib["whl"] for task in wheel_tasks(jobs) for lib in task.get("libraries", [])]
    wheels += [
        dep
        for job in jobs.values()
        for env in job.get("environments", [])
        for dep in env["spec"]["dependencies"]
    ]
    assert len(wheels) >= 5
    for wheel in wheels:
        assert (resources / wheel).parent.resolve() == dist, wheel
        assert wheel.endswith(".whl")


def _commands(bundle: dict[str, Any], job: dict[str, Any]) -> set[str]:
    return {parameter_list(bundle, task)[0] for task in job["tasks"]}


def _is_weekly(cron: str) -> bool:
    fields = cron.split()
    return fields[3] == "?" and fields[5] not in {"*", "?"}


def _is_daily(cron: str) -> bool:
    fields = cron.split()
    return fields[3] == "*" and fields[4] == "*" and fields[5] == "?"


@pytest.mark.parametrize("compute", ["cluster", "serverless"])
def test_weekly_train_and_daily_score_allocate_on_both_computes(
    bundle: dict[str, Any], jobs: dict[str, dict[str, Any]], compute: str
) -> None:
    chosen = {
        name: job
        for name, job in jobs.items()
        if ("environments" in job) == (compute == "serverless")
    }
    schedules = {
        frozenset(_commands(bundle, job)): job["schedule"]["quartz_cron_expression"]
        for job in chosen.values()
    }
    assert _is_weekly(schedules[frozenset({"train"})])
    assert _is_weekly(schedules[frozenset({"segment"})])
    assert _is_daily(schedules[frozenset({"score", "allocate"})])
    for job in chosen.values():
        tasks = {task["task_key"]: task for task in job["tasks"]}
        if "allocate" in tasks:
            assert tasks["allocate"]["depends_on"] == [{"task_key": "score"}]
        for task in job["tasks"]:
            if compute == "serverless":
                assert task["environment_key"] in {
                    e["environment_key"] for e in job["environments"]
                }
            else:
                keys = {c["job_cluster_key"] for c in job["job_clusters"]}
                assert task["job_cluster_key"] in keys
