"""The command line answers at once: help, config errors and `abtest design` import no heavy
library, and a missing local input is reported before Spark starts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from causal_targeting.config import load_config

HEAVY = ("pyspark", "lightgbm", "mlflow")
COMMANDS = ("run", "ingest", "simulate", "train", "score", "coarsen", "allocate", "frontier",
            "evaluate")
PROBE = """
import json, sys
from typer.testing import CliRunner
from causal_targeting.cli import app
calls = json.loads(sys.argv[1])
runner = CliRunner()
out = []
for args in calls:
    result = runner.invoke(app, args)
    out.append({"code": result.exit_code, "output": result.output})
heavy = [m for m in json.loads(sys.argv[2]) if m in sys.modules]
print(json.dumps({"results": out, "heavy": heavy}))
"""


def probe(root: Path, calls: list[list[str]]) -> dict:
    """Run the CLI on each argument list in a fresh interpreter; outputs and heavy imports."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(calls), json.dumps(HEAVY)],
        cwd=root, capture_output=True, text=True, check=True, timeout=300,
    )
    return json.loads(done.stdout)


def test_help_errors_and_design_import_no_heavy_library(root: Path, tmp_path: Path) -> None:
    calls = [
        ["--help"],
        *[[command, "--help"] for command in COMMANDS],
        ["abtest", "--help"],
        ["abtest", "design", "--baseline", "0.1", "--lift", "0.01"],
        ["ingest", "--set", "ingest.alpah=0.1"],
        ["run", "--set", f"data.experiment.path={tmp_path}/missing.csv"],
    ]
    found = probe(root, calls)
    assert found["heavy"] == []
    results = found["results"]
    assert all(r["code"] == 0 for r in results[:-2]), results
    assert "treatment rows" in results[-3]["output"]
    typo, missing = results[-2], results[-1]
    assert typo["code"] == 2 and "did you mean ingest.alpha?" in typo["output"]
    assert missing["code"] == 2
    assert "data.experiment.path" in missing["output"] and "does not exist" in missing["output"]
    assert len(missing["output"].strip().splitlines()) == 1


def test_every_set_example_in_help_is_a_real_key(root: Path) -> None:
    calls = [[command, "--help"] for command in COMMANDS]
    examples = {
        example
        for result in probe(root, calls)["results"]
        for example in re.findall(r"--set ([\w.]+=\S+)", result["output"])
    }
    assert examples
    for example in examples:
        load_config(root / "conf" / "local.yaml", [example])
