"""PNG output for every stage's figures (matplotlib ``Figure`` objects, no pyplot state)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import matplotlib
from matplotlib.figure import Figure
from matplotlib.text import Text


def write_png(fig: Figure, target: str | Path | IO[bytes], **options: object) -> None:
    """``fig`` as a PNG into ``target`` (a path or a binary file), every text drawn as written.

    Matplotlib reads the text between two ``$`` as mathtext: an arm named '$5 or $10 off', or
    one named '$5 off' in a title beside the currency '$', would print garbled. Figures here
    hold no formulas, so mathtext is off for the texts already made and for those the drawing
    makes (tick labels). ``options`` go to :meth:`Figure.savefig` (dpi, bbox_inches).
    """
    for text in fig.findobj(Text):
        text.set_parse_math(False)
    with matplotlib.rc_context({"text.parse_math": False}):
        fig.savefig(target, format="png", **options)  # type: ignore[arg-type]


def save_png(fig: Figure, path: str | Path, *, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG at ``path`` (via a temporary file and a rename); return ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write_png(fig, tmp, dpi=dpi)
    os.replace(tmp, path)
    return path
