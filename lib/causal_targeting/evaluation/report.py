"""The evidence report: one self-contained HTML file, its plots embedded and also saved as PNG.

A report is a list of :class:`Section` (a title, short paragraphs, tables, figures). Figures are
matplotlib figures; each is written as ``<slug>.png`` next to the HTML and embedded in it as a
base64 ``data:`` URI, so the HTML file alone can be mailed or logged as an MLflow artifact.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from causal_targeting.data.io import write_text
from causal_targeting.formats import number
from causal_targeting.plots import write_png

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STYLE = """
body { font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; margin: 0;
       color: #1f2933; background: #f5f7fa; }
header { background: #102a43; color: #fff; padding: 24px 40px; }
header h1 { margin: 0 0 4px 0; font-size: 26px; }
header p { margin: 0; color: #bcccdc; }
nav { padding: 12px 40px; background: #fff; border-bottom: 1px solid #d9e2ec; }
nav a { margin-right: 18px; color: #243b53; text-decoration: none; font-size: 14px; }
main { padding: 8px 40px 40px 40px; max-width: 1200px; }
section { background: #fff; border-radius: 8px; padding: 18px 24px; margin-top: 20px;
          box-shadow: 0 1px 3px rgba(16, 42, 67, .12); }
section h2 { margin-top: 0; color: #102a43; font-size: 20px; }
p.lead { color: #334e68; }
table.data { border-collapse: collapse; margin: 10px 0 16px 0; font-size: 13px; }
table.data th { background: #f0f4f8; text-align: right; padding: 6px 10px;
                border-bottom: 2px solid #d9e2ec; }
table.data td { padding: 5px 10px; border-bottom: 1px solid #e4e7eb; text-align: right; }
table.data th.text, table.data td.text { text-align: left; }
figure { margin: 10px 0; display: inline-block; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #e4e7eb; border-radius: 4px; }
figcaption { font-size: 12px; color: #627d98; }
"""


@dataclass
class Section:
    """One section of the report: paragraphs, tables (pandas) and matplotlib figures."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, Figure]] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


def png_bytes(figure: Figure) -> bytes:
    """The figure rendered as PNG bytes (100 dpi)."""
    buffer = io.BytesIO()
    write_png(figure, buffer, dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def number_text(value: float) -> str:
    """Whole numbers with thousands separators, others to 4 significant digits (never -0)."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return number(value, ",.2f") if abs(value) >= 1e4 else number(value, ".4g")


Cell = str | Callable[[Any], str]
"""How a column's values print: a format spec for :func:`causal_targeting.formats.number`, or
a function of the value."""


def display_table(frame: pd.DataFrame, columns: Mapping[str, tuple[str, Cell]]) -> pd.DataFrame:
    """The columns of ``frame`` named in ``columns`` (source -> (header, format)), in that order,
    under their headers, each value printed by its column's one format."""
    shown = {}
    for source, (header, cell) in columns.items():
        write = cell if callable(cell) else partial(number, spec=cell)
        shown[header] = [write(value) for value in frame[source]]
    return pd.DataFrame(shown)


NUMBER_CELL = re.compile(r"^(n/a.*|\[.*\]|[-+<]?[$€£]?[\d.,]+([eE][-+]?\d+)?%?( \[.*\])?)?$")
"""A cell that reads as a number, an interval, or is empty or n/a: right-aligned."""


def cell_text(value: object) -> str:
    """A cell's text: floats as :func:`number_text` writes them, anything else as str."""
    return number_text(value) if isinstance(value, float) else str(value)


def table_html(frame: pd.DataFrame) -> str:
    """A pandas frame as an HTML table; a column of numbers is right-aligned, of text left."""
    cells = {column: [cell_text(v) for v in frame[column]] for column in frame.columns}
    align = {
        column: "num" if all(NUMBER_CELL.match(t) for t in texts) else "text"
        for column, texts in cells.items()
    }
    head = "".join(f'<th class="{align[c]}">{html.escape(str(c))}</th>' for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(
            f'<td class="{align[c]}">{html.escape(cells[c][i])}</td>' for c in frame.columns
        ) + "</tr>"
        for i in range(len(frame))
    )
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def section_html(section: Section, out_dir: Path) -> str:
    """Render one section; its figures are also written as PNG files in ``out_dir``."""
    parts = [f'<section id="{section.slug}"><h2>{html.escape(section.title)}</h2>']
    parts += [f'<p class="lead">{html.escape(text)}</p>' for text in section.paragraphs]
    for caption, frame in section.tables:
        parts.append(f"<h3>{html.escape(caption)}</h3>{table_html(frame)}")
    for index, (caption, figure) in enumerate(section.figures):
        data = png_bytes(figure)
        (out_dir / f"{section.slug}-{index + 1}.png").write_bytes(data)
        encoded = base64.b64encode(data).decode("ascii")
        parts.append(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def write_report(path: str | Path, title: str, subtitle: str, sections: list[Section]) -> Path:
    """Write the HTML report to ``path`` (PNG files beside it) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{s.slug}">{html.escape(s.title)}</a>' for s in sections)
    body = "\n".join(section_html(section, path.parent) for section in sections)
    document = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)} · {stamp}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main></body></html>"
    )
    return write_text(document, path)
