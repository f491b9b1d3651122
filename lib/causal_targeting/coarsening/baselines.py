"""Three baselines for a K-offer menu, each scored with the same objective as ours.

- :func:`feature_segments`: k-means (scikit-learn) on standardized customer features into K
  segments; each segment gets the single offer best for it in total,
  argmax_t sum_{i in segment} w_i P[i, t] (or no offer, when allowed and that total is not
  positive). The classic "segment, then pick an offer per segment".
- :func:`preferred_offer_menu`: group customers by their preferred offer argmax_t P[i, t];
  keep the K offers whose groups carry the most personalized profit
  sum_{i in group} w_i max(0, P[i, pref_i]); customers of the dropped groups are merged into
  the kept group whose offer is best for them (so every customer gets its best kept offer —
  the generous reading of "merge to K groups").
- :func:`coarse_grid_menu`: the best K-subset of a prespecified coarse grid of offers (default
  every 4th offer of the fine menu), found exhaustively; customers get their best grid offer.

Menu baselines return offer indices, scored with
:func:`~causal_targeting.coarsening.objective.menu_profit`; the segmentation baseline returns
its profit directly (its customers do not choose within the menu).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from math import comb

import numpy as np
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from causal_targeting.coarsening.objective import menu_profit, validate_chosen
from causal_targeting.errors import ConfigError, DataContractError

MAX_GRID_SUBSETS = 100_000


def default_grid(n_offers: int, step: int = 4) -> np.ndarray:
    """Every ``step``-th offer of the fine menu, starting with the first."""
    if step < 1:
        raise ConfigError(f"coarsening.grid_step must be >= 1, got {step}")
    return np.arange(0, n_offers, step)


def segment_offer_profit(
    profits: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    *,
    allow_no_offer: bool = True,
) -> tuple[float, np.ndarray]:
    """(profit, offer per segment) when each segment gets its best single offer.

    Segment g gets argmax_t sum_{i: label_i = g} w_i P[i, t]; with ``allow_no_offer`` a segment
    whose best total is not positive gets no offer (-1) and contributes 0.
    """
    segments = np.unique(labels)
    totals = np.stack([weights[labels == g] @ profits[labels == g] for g in segments])
    offers = np.argmax(totals, axis=1)
    best = totals[np.arange(len(segments)), offers]
    if allow_no_offer:
        offers = np.where(best > 0, offers, -1)
        best = np.maximum(best, 0.0)
    return float(best.sum()), offers


def feature_segments(
    features: np.ndarray, k: int, *, seed: int = 0, fit_rows: int = 100_000
) -> np.ndarray:
    """K-means segment label per customer, from standardized numeric features.

    The scaler and KMeans (n_init=4) are fitted on a seeded sample of at most ``fit_rows``
    customers; every customer is then labelled with its nearest centre.
    """
    X = np.asarray(features, dtype=float)
    if X.ndim != 2 or X.shape[0] == 0 or not np.isfinite(X).all():
        raise DataContractError(
            "features",
            f"k-means needs a finite 2-D numeric feature matrix, got shape {X.shape}",
            "encode categorical features and impute missing values before the baseline",
        )
    rng = np.random.default_rng(seed)
    rows = rng.choice(X.shape[0], size=min(fit_rows, X.shape[0]), replace=False)
    scaler = StandardScaler().fit(X[rows])
    model = KMeans(n_clusters=min(k, len(rows)), n_init=4, random_state=seed)
    model.fit(scaler.transform(X[rows]))
    return model.predict(scaler.transform(X))


def preferred_offer_menu(
    profits: np.ndarray, weights: np.ndarray, k: int, *, allow_no_offer: bool = True
) -> np.ndarray:
    """The K offers most profitable as customers' preferred offer (sorted indices)."""
    preferred = np.argmax(profits, axis=1)
    value = profits[np.arange(len(preferred)), preferred]
    if allow_no_offer:
        value = np.maximum(value, 0.0)
    mass = np.bincount(preferred, weights=weights * value, minlength=profits.shape[1])
    return np.sort(np.argsort(-mass, kind="stable")[: min(k, profits.shape[1])])


def coarse_grid_menu(
    profits: np.ndarray,
    weights: np.ndarray,
    k: int,
    grid: Sequence[int] | np.ndarray,
    *,
    allow_no_offer: bool = True,
) -> np.ndarray:
    """The best K-subset of ``grid`` by exhaustive search (the whole grid when K >= its size)."""
    cells = validate_chosen(grid, profits.shape[1])
    if k >= len(cells):
        return np.sort(cells)
    if comb(len(cells), k) > MAX_GRID_SUBSETS:
        raise ConfigError(
            f"the coarse grid has {comb(len(cells), k)} subsets of {k} offers, more than "
            f"{MAX_GRID_SUBSETS}; use a coarser grid (larger coarsening.grid_step)"
        )
    best = max(
        combinations(cells, k),
        key=lambda menu: menu_profit(profits, weights, menu, allow_no_offer=allow_no_offer),
    )
    return np.sort(np.array(best))
