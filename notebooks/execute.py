"""Execute a notebook top to bottom and save it with its outputs: ``make notebook``.

Usage: ``python notebooks/execute.py notebooks/hillstrom_walkthrough.ipynb`` (from the repository
root; the notebook runs there, with its parameters cell as committed). The executed copy is what
readers see online, plots included; ``tests/e2e/test_notebook.py`` still runs it from scratch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CELL_TIMEOUT = 3600
"""Seconds one cell may take (the pipeline cells train and score on the full experiment)."""


def execute(path: Path) -> None:
    """Run every cell of the notebook at ``path`` in the repository root; write it back."""
    notebook = nbformat.read(path, as_version=4)
    root = Path(__file__).resolve().parents[1]
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(root)}},
    )
    client.execute()
    nbformat.write(notebook, path)


if __name__ == "__main__":
    execute(Path(sys.argv[1]))
