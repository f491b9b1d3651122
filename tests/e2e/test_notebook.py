"""The walkthrough notebook runs top to bottom (small settings injected in its parameters cell)."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from timeouts import scaled


def test_walkthrough_runs_top_to_bottom(root: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(root / "notebooks" / "hillstrom_walkthrough.ipynb", as_version=4)
    parameters = notebook.cells[1]
    assert parameters.source.startswith("# Parameters")
    overrides = [
        f"outputs.root={tmp_path}/work",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        f"tracking.artifact_location={tmp_path}/mlruns",
        "train.n_estimators=40",
        "train.cap_per_arm=8000",
        "evaluate.bootstrap_reps=200",
    ]
    parameters.source = f"OVERRIDES = {overrides!r}"
    client = NotebookClient(
        notebook,
        timeout=int(scaled(900)),
        kernel_name="python3",
        resources={"metadata": {"path": str(root)}},
    )
    client.execute(env={"PYSPARK_PYTHON": sys.executable})
    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, "the Qini curves and the policy value plot are shown"
    assert (tmp_path / "work" / "evaluate" / "report" / "index.html").exists()


def test_committed_copy_shows_its_outputs(root: Path) -> None:
    notebook = nbformat.read(root / "notebooks" / "hillstrom_walkthrough.ipynb", as_version=4)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) >= 2, "run make notebook"
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.get("name") == "stderr" and "Warning" in o.get("text", "")]
