"""benchmarks/_results.py: a benchmark rewrites its own section of RESULTS.md and nothing else."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

CURRENT = """# Benchmark results

## simulated regret

old table

### Poisson outcome models (d467416)

hand-written record

### The other scenarios

another record

## train stage

its table
"""


@pytest.fixture(scope="module")
def results() -> ModuleType:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        return importlib.import_module("_results")


def test_a_rerun_replaces_its_tables_and_keeps_the_hand_written_subsections(
    results: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(CURRENT)
    results.write_section("## simulated regret", "## simulated regret\n\nnew table\n", path)
    assert path.read_text() == CURRENT.replace("old table", "new table")


def test_a_subsection_the_script_writes_itself_is_replaced_not_kept_twice(
    results: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(CURRENT)
    new = "## simulated regret\n\nnew table\n\n### The other scenarios\n\nre-measured\n"
    results.write_section("## simulated regret", new, path)
    text = path.read_text()
    assert text.count("### The other scenarios") == 1
    assert "another record" not in text and "re-measured" in text
    assert text.index("re-measured") < text.index("### Poisson") < text.index("## train stage")
    assert text.endswith("## train stage\n\nits table\n")


def test_a_new_section_is_appended(results: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(CURRENT)
    results.write_section("## learners", "## learners\n\ntable\n", path)
    assert path.read_text() == CURRENT.rstrip("\n") + "\n\n## learners\n\ntable\n"
