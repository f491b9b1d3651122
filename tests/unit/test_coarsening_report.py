"""Coarsening baselines and the recoup-vs-K report (no Spark)."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from causal_targeting.coarsening import (
    choose_k,
    choose_offers,
    coarse_grid_menu,
    default_grid,
    feature_segments,
    menu_profit,
    plot_recovery,
    preferred_offer_menu,
    recovery_curve,
    segment_offer_profit,
)
from causal_targeting.errors import ConfigError, DataContractError


def customers(n: int, offers: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(features, profits): two features drive where each customer's concave profit peaks."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    peak = 1 / (1 + np.exp(-(X[:, 0] + 0.5 * rng.normal(size=n))))
    scale = np.exp(0.5 * X[:, 1])
    x = np.linspace(0, 1, offers)
    P = scale[:, None] * (1 - 4 * (x[None, :] - peak[:, None]) ** 2) - 0.2
    return X, P


def test_segment_offer_profit_gives_each_segment_its_best_offer() -> None:
    P = np.array([[1.0, 0.0], [2.0, -5.0], [-1.0, 3.0], [-2.0, -1.0]])
    w = np.ones(4)
    profit, offers = segment_offer_profit(P, w, np.array([0, 0, 1, 2]))
    assert offers.tolist() == [0, 1, -1]
    assert profit == pytest.approx(3.0 + 3.0)
    forced, forced_offers = segment_offer_profit(P, w, np.array([0, 0, 1, 2]), allow_no_offer=False)
    assert forced_offers.tolist() == [0, 1, 1]
    assert forced == pytest.approx(3.0 + 3.0 - 1.0)


def test_preferred_offer_menu_keeps_the_most_profitable_preferences() -> None:
    P = np.array([[5.0, 0.0, 0.0], [4.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    assert preferred_offer_menu(P, np.ones(4), 2).tolist() == [0, 2]
    assert preferred_offer_menu(P, np.ones(4), 5).tolist() == [0, 1, 2]


def test_coarse_grid_menu_is_the_best_grid_subset() -> None:
    _, P = customers(300, 13, 1)
    w = np.ones(300)
    grid = default_grid(13)
    assert grid.tolist() == [0, 4, 8, 12]
    best = max(combinations(grid, 2), key=lambda m: menu_profit(P, w, m))
    assert coarse_grid_menu(P, w, 2, grid).tolist() == sorted(best)
    assert coarse_grid_menu(P, w, 6, grid).tolist() == grid.tolist()
    with pytest.raises(ConfigError, match="coarser grid"):
        coarse_grid_menu(np.zeros((2, 200)), np.ones(2), 5, np.arange(200))
    with pytest.raises(ConfigError, match="grid_step"):
        default_grid(10, 0)


def test_feature_segments_are_seeded_and_refuse_bad_features() -> None:
    X, _ = customers(500, 5, 2)
    labels = feature_segments(X, 3, seed=4, fit_rows=200)
    assert set(labels.tolist()) == {0, 1, 2}
    assert np.array_equal(labels, feature_segments(X, 3, seed=4, fit_rows=200))
    with pytest.raises(DataContractError, match="finite 2-D"):
        feature_segments(np.array([[np.nan, 1.0]]), 1)


def test_ours_beats_every_baseline_at_every_k(tmp_path: Path) -> None:
    X, P = customers(1500, 16, 3)
    w = np.ones(1500)
    curve = recovery_curve(P, w, 5, features=X)
    assert set(curve["method"]) == {"ours", "kmeans_features", "preferred_offer", "coarse_grid"}
    assert len(curve) == 5 * 4
    table = curve.pivot(index="k", columns="method", values="share")
    for baseline in ("kmeans_features", "preferred_offer", "coarse_grid"):
        assert (table["ours"] >= table[baseline] - 1e-12).all()
    assert (np.diff(table["ours"].to_numpy()) >= -1e-12).all()
    assert table["ours"].max() <= 1 + 1e-12
    path = plot_recovery(curve, tmp_path / "recovery.png", target_share=0.99)
    assert path.stat().st_size > 1000


def test_curve_on_a_reduced_set_is_scored_on_every_customer() -> None:
    _, P = customers(2000, 10, 5)
    w = np.ones(2000)
    curve = recovery_curve(P, w, 3, reduced=(P[::4], np.full(500, 4.0)))
    ours = curve[curve["method"] == "ours"]
    for _, row in ours.iterrows():
        menu = [int(t) for t in row["offers"].split(",")]
        assert row["profit"] == pytest.approx(menu_profit(P, w, menu))
        assert choose_offers(P[::4], np.full(500, 4.0), int(row["k"])).chosen.tolist() == menu


def test_choose_k_takes_the_smallest_k_reaching_the_target() -> None:
    _, P = customers(800, 12, 6)
    curve = recovery_curve(P, None, 4)
    shares = curve[curve["method"] == "ours"]["share"].to_numpy()
    target = (shares[1] + shares[2]) / 2  # reached first at K = 3
    assert choose_k(curve, target) == 3
    assert choose_k(curve, 1.0) == (4 if shares[-1] < 1.0 else int(np.argmax(shares >= 1) + 1))
    with pytest.raises(ConfigError, match="target_share"):
        choose_k(curve, 1.5)
    with pytest.raises(ConfigError, match="k_max"):
        recovery_curve(P, None, 0)
