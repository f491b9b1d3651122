"""The recoup-vs-K report: share of personalized profit each method recovers, K = 1..K_max.

share(K) = F(menu_K) / F(all offers), both evaluated on the full customer set (P, w) with the
objective of :mod:`causal_targeting.coarsening.objective`. Ours chooses its menu on a reduced
set when one is given (see :mod:`causal_targeting.coarsening.reduction`) and is then scored on
every customer with the executor rule, so the reduction's loss is inside the figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from causal_targeting.coarsening.baselines import (
    coarse_grid_menu,
    default_grid,
    feature_segments,
    preferred_offer_menu,
    segment_offer_profit,
)
from causal_targeting.coarsening.choose import choose_offers
from causal_targeting.coarsening.objective import menu_profit, personalized_profit, validate_profits
from causal_targeting.errors import ConfigError

OURS = "ours"
T = TypeVar("T")
COLUMNS = ["k", "method", "share", "profit", "offers", "seconds"]


def _timed(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float]:
    """(fn(*args, **kwargs), seconds it took)."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _row(
    k: int, method: str, profit: float, full: float, offers: Sequence[int], seconds: float
) -> dict[str, object]:
    """One line of the curve."""
    share = profit / full if full > 0 else 1.0
    menu = ",".join(str(int(t)) for t in offers)
    return {
        "k": k,
        "method": method,
        "share": share,
        "profit": profit,
        "offers": menu,
        "seconds": seconds,
    }


def recovery_curve(
    profits: np.ndarray,
    weights: np.ndarray | None,
    k_max: int,
    *,
    reduced: tuple[np.ndarray, np.ndarray] | None = None,
    features: np.ndarray | None = None,
    grid: Sequence[int] | np.ndarray | None = None,
    restarts: int = 8,
    seed: int = 0,
    min_share: float | None = None,
    max_share: float | None = None,
    allow_no_offer: bool = True,
) -> pd.DataFrame:
    """Share of fully personalized profit recovered for K = 1..k_max, ours beside baselines.

    Returns one row per (k, method) with columns k, method (``ours``, ``kmeans_features`` when
    ``features`` are given, ``preferred_offer``, ``coarse_grid``), share, profit, offers (comma
    separated fine-menu indices; empty for the segmentation baseline) and seconds (the time to
    choose the menu; for ours the driver time on the reduced set). ``reduced`` = (P_red, w_red)
    is where ours chooses (default: the full set); bounds apply to ours only.
    """
    P, w = validate_profits(profits, weights)
    if int(k_max) != k_max or k_max < 1:
        raise ConfigError(f"coarsening.k_max must be an integer >= 1, got {k_max!r}")
    P_choose, w_choose = validate_profits(*reduced) if reduced is not None else (P, w)
    cells = default_grid(P.shape[1]) if grid is None else np.asarray(grid, dtype=int)
    full = personalized_profit(P, w, allow_no_offer=allow_no_offer)
    rows = []
    for k in range(1, int(k_max) + 1):
        ours, seconds = _timed(
            choose_offers,
            P_choose,
            w_choose,
            k,
            restarts=restarts,
            seed=seed,
            min_share=min_share,
            max_share=max_share,
            allow_no_offer=allow_no_offer,
        )
        profit = menu_profit(P, w, ours.chosen, ours.potentials, allow_no_offer=allow_no_offer)
        rows.append(_row(k, OURS, profit, full, ours.chosen, seconds))
        if features is not None:
            labels, seconds = _timed(feature_segments, features, k, seed=seed)
            profit, _ = segment_offer_profit(P, w, labels, allow_no_offer=allow_no_offer)
            rows.append(_row(k, "kmeans_features", profit, full, [], seconds))
        preferred, seconds = _timed(preferred_offer_menu, P, w, k, allow_no_offer=allow_no_offer)
        profit = menu_profit(P, w, preferred, allow_no_offer=allow_no_offer)
        rows.append(_row(k, "preferred_offer", profit, full, preferred, seconds))
        gridded, seconds = _timed(coarse_grid_menu, P, w, k, cells, allow_no_offer=allow_no_offer)
        profit = menu_profit(P, w, gridded, allow_no_offer=allow_no_offer)
        rows.append(_row(k, "coarse_grid", profit, full, gridded, seconds))
    return pd.DataFrame(rows, columns=COLUMNS)


def choose_k(curve: pd.DataFrame, target_share: float, method: str = OURS) -> int:
    """The smallest K whose share reaches ``target_share`` (the largest K when none does)."""
    if not 0.0 < target_share <= 1.0:
        raise ConfigError(f"coarsening.target_share must be in (0, 1], got {target_share!r}")
    ours = curve[curve["method"] == method].sort_values("k")
    if ours.empty:
        raise ConfigError(f"the recovery curve has no rows for method '{method}'")
    reached = ours[ours["share"] >= target_share]
    return int(reached["k"].iloc[0] if not reached.empty else ours["k"].iloc[-1])


def plot_recovery(
    curve: pd.DataFrame, path: str | Path, *, target_share: float | None = None
) -> Path:
    """Save a PNG of share recovered against K, one line per method."""
    from matplotlib.figure import Figure

    from causal_targeting.plots import save_png

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for method, rows in curve.groupby("method", sort=False):
        rows = rows.sort_values("k")
        ax.plot(rows["k"], 100 * rows["share"], marker="o", label=method)
    if target_share is not None:
        ax.axhline(100 * target_share, color="grey", linestyle="--", label="target")
    ax.set_xlabel("K (offers in the menu)")
    ax.set_ylabel("% of fully personalized profit")
    ax.set_title("Profit recovered by a K-offer menu")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_png(fig, path)
