"""Evaluation figures: what is drawn, and PNGs written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from causal_targeting.evaluation.figures import curves_figure, policy_value_figure
from causal_targeting.evaluation.uplift import bucket_stats, curves_from_buckets
from causal_targeting.plots import save_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _curves() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for outcome in ("visit", "spend"):
        for arm in ("a", "b"):
            score, t = rng.normal(size=200), rng.random(200) < 0.5
            y = (rng.random(200) < 0.1 + 0.1 * t * (score > 0)).astype(float)
            stats = bucket_stats(np.round(score, 1), y, t)
            parts.append(curves_from_buckets(stats).assign(arm=arm, outcome=outcome))
    return pd.concat(parts, ignore_index=True)


def test_curves_figure_has_a_panel_per_outcome_and_lines_per_arm(tmp_path: Path) -> None:
    fig = curves_figure(_curves(), curve="uplift")
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["uplift curve: visit", "uplift curve: spend"]
    assert all(len(ax.get_lines()) == 2 * 2 + 1 for ax in axes)  # curve + random per arm, zero
    out = save_png(fig, tmp_path / "plots" / "uplift.png")
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert not list(out.parent.glob(".*.tmp"))


def test_policy_value_figure_draws_bars_whiskers_and_truth(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "policy": ["ours", "ours", "random", "random"],
            "estimator": ["dr", "ips", "dr", "ips"],
            "value": [2.0, 2.1, 1.0, 0.9],
            "ci_low": [1.5, 1.4, 0.5, 0.2],
            "ci_high": [2.5, 2.8, 1.5, 1.6],
            "true_value": [2.2, 2.2, 1.1, 1.1],
        }
    )
    ax = policy_value_figure(table, estimator="dr").get_axes()[0]
    assert [p.get_height() for p in ax.patches] == [2.0, 1.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ours", "random"]
    assert len(ax.collections) == 2  # the CI whiskers and the truth markers
    assert save_png(policy_value_figure(table), tmp_path / "v.png").stat().st_size > 1000


def test_names_with_dollar_signs_are_drawn_as_written(tmp_path: Path) -> None:
    """Text between two '$' is mathtext to matplotlib: a policy named '$5 or $10 off' would be
    drawn as italic '5or10 off'. Every text of a written figure, the tick labels the drawing
    made included, is drawn as written, in a file and in the report's PNG bytes."""
    from matplotlib.text import Text

    from causal_targeting.evaluation.report import png_bytes

    table = pd.DataFrame(
        {"policy": ["$5 or $10 off", "none"], "estimator": "dr", "value": [0.2, 0.0],
         "ci_low": [0.1, -0.1], "ci_high": [0.3, 0.1], "contacts": [10, 0]}
    )
    for write in (lambda fig: save_png(fig, tmp_path / "d.png"), png_bytes):
        fig = policy_value_figure(table)
        fig.get_axes()[0].set_title("value ($) of '$5 or $10 off'")
        write(fig)
        texts = [t for t in fig.findobj(Text) if "$" in t.get_text()]
        assert {t.get_text() for t in texts} >= {"$5 or $10 off", "value ($) of '$5 or $10 off'"}
        assert not any(t.get_parse_math() for t in fig.findobj(Text))
