"""Evaluation figures: uplift/Qini curves per arm and outcome, policy values with CI whiskers.

Figures are built with ``matplotlib.figure.Figure`` (Agg canvas, no pyplot state), so they are
safe in jobs and threads; :func:`causal_targeting.plots.save_png` writes one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

CURVE_LABELS = {"uplift": "uplift curve", "qini": "Qini curve"}
ESTIMATOR_NAMES = {
    "ips": "IPS (inverse propensity weighting)",
    "snips": "SNIPS (self-normalized IPS)",
    "dr": "DR (doubly robust)",
}


def curves_figure(curves: pd.DataFrame, *, curve: str = "qini") -> Figure:
    """One panel per outcome, one line per arm, and the random line of each arm.

    Args:
        curves: long frame with ``arm``, ``outcome``, ``n`` and the ``curve`` column, as
            :func:`causal_targeting.evaluation.distributed.uplift_table_spark` returns it.
        curve: ``"uplift"`` or ``"qini"``.
    """
    outcomes = list(dict.fromkeys(curves["outcome"]))
    fig = Figure(figsize=(5 * len(outcomes), 4), layout="constrained")
    axes = fig.subplots(1, len(outcomes), squeeze=False)[0]
    for ax, outcome in zip(axes, outcomes, strict=True):
        for arm, part in curves[curves["outcome"] == outcome].groupby("arm", sort=False):
            x, y = part["n"].to_numpy(), part[curve].to_numpy()
            (line,) = ax.plot(x / x[-1], y, label=str(arm))
            ax.plot([0, 1], [0, y[-1]], linestyle=":", color=line.get_color())
        ax.set(
            title=f"{CURVE_LABELS[curve]}: {outcome}",
            xlabel="share targeted (by score)",
            ylabel="incremental outcome",
        )
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.legend(title="arm (dotted: random)")
    return fig


def policy_value_figure(table: pd.DataFrame, *, estimator: str = "dr") -> Figure:
    """Bars of each policy's value with CI whiskers (and the truth as a marker, if known).

    Args:
        table: :func:`causal_targeting.evaluation.policy_value.policy_values` output.
        estimator: ``"ips"``, ``"snips"`` or ``"dr"``.
    """
    rows = table[table["estimator"] == estimator].reset_index(drop=True)
    pos = np.arange(len(rows))
    value = rows["value"].to_numpy()
    whiskers = np.vstack([value - rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy() - value])
    fig = Figure(figsize=(max(4.0, 1.2 * len(rows)), 4), layout="constrained")
    ax = fig.subplots()
    label = f"{ESTIMATOR_NAMES[estimator]} estimate, bootstrap CI"
    ax.bar(pos, value, yerr=whiskers, capsize=4, color="tab:blue", alpha=0.8, label=label)
    if "true_value" in rows.columns:
        ax.scatter(pos, rows["true_value"], marker="D", color="black", zorder=3, label="truth")
    ax.set_xticks(pos, rows["policy"], rotation=30, ha="right")
    ax.set(ylabel="net value per customer", title=f"policy value ({estimator.upper()}, CI)")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.legend()
    return fig


def difference_figure(
    table: pd.DataFrame,
    best: str,
    estimator: str,
    currency: str,
    differences: pd.DataFrame | None = None,
) -> Figure:
    """Each policy's value per customer minus the best baseline's, with intervals.

    The point is ``value_p - value_best`` for ``estimator``; its whiskers are policy p's own
    bootstrap CI shifted by ``value_best`` (the uncertainty of p alone, not of the difference).
    When ``differences`` (paired bootstrap differences of our policy, ``policy``, against each
    ``baseline``) holds the row for ``best``, our policy's paired CI is drawn over it.

    Args:
        table: :func:`causal_targeting.evaluation.policy_value.policy_values` output.
        best: the policy subtracted.
        estimator: ``"ips"``, ``"snips"`` or ``"dr"``.
        currency: the value model's unit, for the axis.
        differences: optional paired differences (``policy``, ``baseline``, ``estimator``,
            ``difference``, ``ci_low``, ``ci_high``).
    """
    rows = table[table["estimator"] == estimator].reset_index(drop=True)
    reference = float(rows.loc[rows["policy"] == best, "value"].iloc[0])
    value = rows["value"].to_numpy() - reference
    low = rows["ci_low"].to_numpy() - reference
    high = rows["ci_high"].to_numpy() - reference
    pos = np.arange(len(rows))
    fig = Figure(figsize=(max(5.0, 1.2 * len(rows)), 4), layout="constrained")
    ax = fig.subplots()
    ax.errorbar(
        pos, value, yerr=np.vstack([value - low, high - value]), fmt="o", capsize=4,
        color="tab:blue",
        label=f"{ESTIMATOR_NAMES[estimator]} estimate, with the policy's own bootstrap CI",
    )
    if differences is not None:
        paired = differences[
            (differences["baseline"] == best) & (differences["estimator"] == estimator)
        ]
        for row in paired.itertuples(index=False):
            at = int(np.flatnonzero(rows["policy"].to_numpy() == row.policy)[0]) + 0.15
            ax.errorbar(
                [at], [row.difference],
                yerr=[[row.difference - row.ci_low], [row.ci_high - row.difference]],
                fmt="s", capsize=4, color="tab:red", label="paired bootstrap CI of the difference",
            )
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(pos, rows["policy"], rotation=30, ha="right")
    ax.set(
        ylabel=f"value per customer minus '{best}' ({currency})",
        title=f"Policy value minus the best baseline ('{best}')",
    )
    ax.legend(fontsize=8)
    return fig


def reliability_figure(curves: pd.DataFrame) -> Figure:
    """Reliability of P(campaign-driven): observed share against mean predicted probability per
    bin, one line per ``method`` (columns ``method``, ``predicted``, ``observed``), with the
    diagonal of perfect calibration."""
    figure = Figure(figsize=(5, 5), layout="constrained")
    axis = figure.subplots()
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for method, rows in curves.groupby("method", sort=False):
        axis.plot(rows["predicted"], rows["observed"], marker="o", label=str(method))
    axis.set(
        xlabel="mean predicted P(campaign-driven)",
        ylabel="true share campaign-driven",
        title="Reliability of P(campaign-driven)",
    )
    axis.legend()
    return figure
