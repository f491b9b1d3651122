"""The command line as a user runs it: real subprocesses, a fresh Spark JVM each."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from timeouts import scaled

CLI = [sys.executable, "-m", "causal_targeting.cli"]
NOISE = (
    "Using incubator modules",
    "Truncated the string representation of a plan",
    "Creating initial MLflow database tables",
    "CloudPickle",
)
"""What stderr used to carry on a healthy run; it is kept for real warnings."""


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    return subprocess.run(
        [*CLI, *args], cwd=root, env=env, capture_output=True, text=True, timeout=scaled(900)
    )


def test_run_on_hillstrom_prints_the_arm_table(root: Path, tmp_path: Path) -> None:
    out = cli(
        root,
        "run",
        "--conf",
        "conf/local.yaml",
        "--set",
        f"outputs.root={tmp_path}/work",
        "--set",
        f"tracking.uri=sqlite:///{tmp_path}/work/mlflow.db",
        "--set",
        f"tracking.artifact_location={tmp_path}/work/mlruns",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    text = " ".join(out.stdout.split())
    for expected in (
        "64,000 rows read",
        "Womens E-Mail",
        "Mens E-Mail",
        "visit",
        "conversion",
        "spend",
        "Learners compared out of fold",
        "Targeting minus each baseline",
        "ingest: done in",
        "train: done in",
        "evaluate: done in",
    ):
        assert expected in text
    verdict = r"Targeting (beats|does not significantly beat|does not beat) the best baseline"
    assert re.search(verdict, text)
    assert re.search(r"chosen: \w+, (the default: no learner|whose value beats the ensemble)", text)
    fell_back = "Safeguard: targeting NOT better" in text
    assert fell_back == ("This is the best static policy, not the model's targeting" in text)
    # the solver's passes are shown for targeting only: a static policy's value a stand-in
    assert ("pass 1: dual bound" in text) != fell_back
    assert (tmp_path / "work" / "ingest" / "report.json").exists()
    assert "Running HiGHS" not in out.stdout
    for noise in NOISE:
        assert noise not in out.stderr, out.stderr[-3000:]


def test_config_error_is_one_line_exit_2(root: Path) -> None:
    out = cli(root, "ingest", "--conf", "conf/local.yaml", "--set", "spark.shuffle_partitions=many")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "spark.shuffle_partitions" in lines[0]


def test_data_error_is_one_line_exit_2(root: Path, tmp_path: Path) -> None:
    out = cli(
        root,
        "ingest",
        "--conf",
        "conf/local.yaml",
        "--set",
        "data.treatment=arm_column",
        "--set",
        f"outputs.root={tmp_path}/work",
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert "column 'arm_column': configured column is missing" in " ".join(out.stderr.split())
    assert not (tmp_path / "work").exists()


def test_missing_config_file_is_a_clear_error(root: Path) -> None:
    out = cli(root, "ingest", "--conf", "conf/nope.yaml")
    assert out.returncode == 2
    assert "conf/nope.yaml" in out.stderr and "Traceback" not in out.stderr


def test_run_on_a_simulated_scenario_prints_true_values(root: Path, tmp_path: Path) -> None:
    work = f"{tmp_path}/work"
    common = ["--conf", "conf/scenarios/rewards.yaml", "--set", f"simulate.root={work}/simulate"]
    simulated = cli(
        root, "simulate", "--scenario", "rewards", "--rows", "8000", "--seed", "3", *common
    )
    assert simulated.returncode == 0, simulated.stderr[-3000:]
    planted = " ".join(simulated.stdout.split())
    assert "rows per arm and the true average effects" in planted
    assert "true effect on spend" in planted and "8,000" not in planted  # rows split over arms
    out = cli(
        root, "run", *common,
        "--set", f"data.experiment.path={work}/simulate/rewards/experiment",
        "--set", f"data.customers.path={work}/simulate/rewards/customers",
        "--set", f"outputs.root={work}",
        "--set", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        "--set", f"tracking.artifact_location={tmp_path}/mlruns",
        "--set", "train.n_estimators=60", "--set", "evaluate.bootstrap_reps=200",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    text = " ".join(out.stdout.split())
    assert "true value" in text
    # a certified optimum when targeting is used, else the safeguard's static policy (8,000 rows)
    assert ("certified gap" in text) != ("Allocation of the best static policy" in text)
    for guardrail in ("budget", "revenue", "contacts", "big_reward_cap"):
        assert guardrail in text
    assert "Value against budget" in text  # run solves the frontier for the report
    report = (tmp_path / "work" / "evaluate" / "report" / "index.html").read_text()
    assert "Budget frontier" in report


def one_line_error(out: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Assert exit status 2 and a single stderr line, without traceback, holding ``expected``."""
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    for text in expected:
        assert text in lines[0]


def test_an_inherit_cycle_and_a_binary_config_are_one_line_errors(
    root: Path, tmp_path: Path
) -> None:
    (tmp_path / "a.yaml").write_text("inherit: b.yaml\n")
    (tmp_path / "b.yaml").write_text("inherit: a.yaml\n")
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)))
    one_line_error(cli(root, "ingest", "--conf", str(tmp_path / "a.yaml")), "inherits itself")
    one_line_error(cli(root, "ingest", "--conf", str(tmp_path / "binary.yaml")), "not UTF-8 text")


def test_negative_costs_and_long_names_are_one_line_errors(root: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    common = ["--conf", "conf/local.yaml", "--set", f"outputs.root={work}"]
    one_line_error(
        cli(root, "allocate", *common, "--set", "allocation.fixed_cost=-2"),
        "allocation.fixed_cost",
        "is -2",
    )
    one_line_error(cli(root, "train", *common, "--set", "name=" + "n" * 1000), "'name'", "100")
    assert not work.exists()


def test_an_outputs_root_that_cannot_be_written_is_refused_before_spark(
    root: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    under_a_file = f"{blocker}/work"
    out = cli(root, "ingest", "--conf", "conf/local.yaml", "--set", f"outputs.root={under_a_file}")
    one_line_error(out, "outputs.root", "is a file")
    assert blocker.read_text() == "keep me"
    out = cli(root, "simulate", "--scenario", "retention", "--rows", "10", "--out", under_a_file)
    one_line_error(out, "--out", "is a file")


def test_ingest_quarantines_ragged_lines_and_infinite_outcomes(root: Path, tmp_path: Path) -> None:
    lines = (root / "data" / "hillstrom_email_2008.csv").read_text().splitlines()[:901]
    lines[5] += ",3,extra"
    fields = lines[6].split(",")
    lines[6] = ",".join([*fields[:-1], "inf"])
    csv = tmp_path / "experiment.csv"
    csv.write_text("\n".join(lines) + "\n")
    work = tmp_path / "work"
    out = cli(
        root, "ingest", "--conf", "conf/local.yaml",
        "--set", f"data.experiment.path={csv}",
        "--set", f"outputs.root={work}",
        "--set", "ingest.min_rows_per_arm=50",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    text = " ".join(out.stdout.split())
    assert "900 rows read, 2 quarantined" in text
    assert "1 × CSV line has more or fewer fields than the header" in text
    assert "1 × outcome 'spend' is infinite" in text
    report = (work / "ingest" / "report.json").read_text()
    assert "Infinity" not in report and "NaN" not in report
    assert (work / "ingest" / "manifest.json").exists()


def test_run_on_the_intent_scenario_prints_segment_recovery_and_mix(
    root: Path, tmp_path: Path
) -> None:
    work = f"{tmp_path}/work"
    common = ["--conf", "conf/scenarios/intent.yaml", "--set", f"simulate.root={work}/simulate"]
    simulated = cli(root, "simulate", "--scenario", "intent", "--rows", "6000", "--seed", "3",
                    *common)  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr[-3000:]
    out = cli(
        root, "run", *common,
        "--set", f"data.experiment.path={work}/simulate/intent/experiment",
        "--set", f"data.customers.path={work}/simulate/intent/customers",
        "--set", f"outputs.root={work}",
        "--set", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        "--set", f"tracking.artifact_location={tmp_path}/mlruns",
        "--set", "train.n_estimators=60", "--set", "evaluate.bootstrap_reps=200",
        "--set", "segment.n_estimators=60", "--set", "segment.params.min_child_samples=50",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    text = " ".join(out.stdout.split())
    assert "Recovery of the true types" in text
    for method in ("segment model", "uplift strata", "naive attribution"):
        assert method in text
    assert "Customers per offer and intent segment" in text
    assert "targeting without organic" in text
    report = (tmp_path / "work" / "evaluate" / "report" / "index.html").read_text()
    assert "Intent segments" in report and "Reliability of P(campaign-driven)" in report
    allocation = json.loads((tmp_path / "work" / "allocate" / "report.json").read_text())
    organic = [row for row in allocation["segment_mix"] if row["segment"] == "organic"]
    assert all(row["offer"] == "none" for row in organic)  # exclude_segments: [organic]


def test_an_unknown_excluded_segment_is_one_line_exit_2(root: Path, tmp_path: Path) -> None:
    out = cli(
        root, "allocate", "--conf", "conf/scenarios/intent.yaml",
        "--set", "allocation.exclude_segments=[loyal]", "--set", f"outputs.root={tmp_path}/work",
    )  # fmt: skip
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "allocation.exclude_segments" in lines[0] and "loyal" in lines[0]
    assert not (tmp_path / "work").exists()
