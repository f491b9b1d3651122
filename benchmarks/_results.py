"""benchmarks/RESULTS.md: each benchmark script owns one ``## name`` section of it."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def write_section(section: str, text: str, results: Path = RESULTS) -> None:
    """Replace the section headed ``section`` with ``text`` (or append it); keep the others."""
    current = results.read_text() if results.exists() else "# Benchmark results\n"
    start = current.find(section + "\n")
    if start < 0:
        updated = current.rstrip("\n") + "\n\n" + text
    else:
        end = current.find("\n## ", start + len(section))
        tail = current[end + 1 :] if end >= 0 else ""
        updated = current[:start] + text.rstrip("\n") + "\n" + ("\n" + tail if tail else "")
    results.write_text(updated)


def publish(section: str, text: str, write: bool = True) -> None:
    """Print a benchmark's section and, with ``write``, put it in RESULTS.md."""
    print(text)
    if write:
        write_section(section, text)
