"""The HTML report: self-contained (plots embedded), every section present, PNGs beside it."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from causal_targeting.evaluation.report import Section, table_html, write_report


class Collector(HTMLParser):
    """Collects section titles (h2) and image sources."""

    def __init__(self) -> None:
        super().__init__()
        self.h2: list[str] = []
        self.images: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_h2 = tag == "h2"
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.h2.append(data)
            self._in_h2 = False


def test_report_embeds_plots_and_names_sections(tmp_path: Path) -> None:
    figure, ax = plt.subplots()
    ax.plot([0, 1, 2], [0, 1, 4])
    sections = [
        Section(
            "Data & quarantine",
            ["64,000 rows, none quarantined."],
            tables=[("Per arm", pd.DataFrame({"arm": ["a"], "n": [3]}))],
        ),
        Section("Uplift <curves>", figures=[("Qini curve", figure)]),
    ]
    path = write_report(tmp_path / "report" / "index.html", "Evidence", "hillstrom", sections)
    text = path.read_text()
    parsed = Collector()
    parsed.feed(text)
    assert parsed.h2 == ["Data & quarantine", "Uplift <curves>"]
    assert len(parsed.images) == 1
    prefix = "data:image/png;base64,"
    assert parsed.images[0].startswith(prefix)
    png = base64.b64decode(parsed.images[0][len(prefix) :])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "report" / "uplift-curves-1.png").read_bytes() == png
    assert '<td class="text">a</td>' in text and '<td class="num">3</td>' in text
    assert "&lt;curves&gt;" in text
    plt.close(figure)


def test_numbers_align_right_and_text_left() -> None:
    frame = pd.DataFrame({"Arm": ["a", "b"], "Qini": ["0.1", "n/a (binary outcomes only)"],
                          "CI": ["[-0.1, 0.2]", "[0.0, 0.3]"], "Status": ["solved", "infeasible"]})
    html = table_html(frame)
    for column, kind in (("Arm", "text"), ("Qini", "num"), ("CI", "num"), ("Status", "text")):
        assert f'<th class="{kind}">{column}</th>' in html
