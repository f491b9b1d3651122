"""benchmarks/RESULTS.md: each benchmark script owns one ``## name`` section of it."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")

SUBSECTION = re.compile(r"^### .*$", re.MULTILINE)


def subsections(section_text: str) -> dict[str, str]:
    """Heading line -> text (heading included, up to the next ``### `` heading or the end) of
    each ``### `` subsection of a section's text."""
    starts = [match.start() for match in SUBSECTION.finditer(section_text)]
    ends = [*starts[1:], len(section_text)] if starts else []
    bounds = zip(starts, ends, strict=True)
    return {section_text[a:b].split("\n", 1)[0]: section_text[a:b].rstrip("\n") for a, b in bounds}


def with_kept_subsections(old: str, new: str) -> str:
    """``new`` followed by every subsection of ``old`` whose heading ``new`` does not have.

    A script writes its own tables (and may head them ``### ``); the subsections written by
    hand below them (earlier runs at named commits, ablations) are records the script cannot
    make again, so a re-run keeps them, in their order, after its own text.
    """
    written = subsections(new)
    kept = [text for heading, text in subsections(old).items() if heading not in written]
    return "\n\n".join([new.rstrip("\n"), *kept])


def write_section(section: str, text: str, results: Path = RESULTS) -> None:
    """Replace the section headed ``section`` with ``text`` (or append it); keep the others and
    the hand-written subsections of this one (:func:`with_kept_subsections`)."""
    current = results.read_text() if results.exists() else "# Benchmark results\n"
    start = current.find(section + "\n")
    if start < 0:
        updated = current.rstrip("\n") + "\n\n" + text
    else:
        end = current.find("\n## ", start + len(section))
        old = current[start : end if end >= 0 else len(current)]
        tail = current[end + 1 :] if end >= 0 else ""
        text = with_kept_subsections(old, text)
        updated = current[:start] + text.rstrip("\n") + "\n" + ("\n" + tail if tail else "")
    results.write_text(updated)


def publish(section: str, text: str, write: bool = True) -> None:
    """Print a benchmark's section and, with ``write``, put it in RESULTS.md."""
    print(text)
    if write:
        write_section(section, text)
