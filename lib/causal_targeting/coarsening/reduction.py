"""Reduce millions of customers to a weighted set of profit vectors the driver can hold.

Two reductions of the rows of P (n x T) with weights w:

- ``"sample"``: ``size`` rows drawn uniformly without replacement (seeded), reweighted by
  W / sum(w_sample) so the total weight W is kept. Unbiased for any menu's profit; the loss is
  sampling error, reported as the relative error of the personalized profit estimate.
- ``"microclusters"``: weighted mini-batch k-means (scikit-learn) of the profit vectors into
  ``size`` clusters; each cluster becomes its weighted mean profit vector c with the cluster's
  total weight. Because max is convex, the profit of any menu S on the centroids never exceeds
  its profit on the customers (Jensen), and the shortfall is bounded uniformly over menus:

      0 <= F_full(S) - F_reduced(S) <= L = sum_i w_i max_t (P[i, t] - c_{a(i)}[t])^+

  (with or without the "no offer" option). So a menu optimal on the centroids is within L of
  the best menu on the customers. L composes when clusters are clustered again
  (:func:`merge_microclusters`): L <= L_1 + sum_c w_c max_t (c[t] - c'_{a(c)}[t])^+.

:class:`ReductionReport` states what the reduction loses: the personalized profit on the full
and on the reduced set, and the bound L where it exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import MiniBatchKMeans

from causal_targeting.coarsening.objective import personalized_profit, validate_profits
from causal_targeting.errors import ConfigError

METHODS = ("microclusters", "sample")
_EPOCHS = 5  # passes of mini-batch k-means over the rows: micro-clusters need not converge
_FIT_ROWS_PER_CLUSTER = 50  # centres are fitted on a sample of 50 rows per cluster


@dataclass(frozen=True)
class ReductionReport:
    """What a reduction loses.

    ``personalized_full``/``personalized_reduced``: F(all offers) on the customers and on the
    reduced set; ``loss_share`` = 1 - reduced / full (Jensen gap for micro-clusters, sampling
    error for a sample, can be negative then); ``loss_bound``: the menu-uniform bound L of the
    module docstring (micro-clusters only, else None); ``loss_bound_share`` = L / full.
    """

    method: str
    rows: int
    size: int
    personalized_full: float
    personalized_reduced: float
    loss_bound: float | None

    @property
    def loss_share(self) -> float:
        """1 - personalized_reduced / personalized_full."""
        full = self.personalized_full
        return 1.0 - self.personalized_reduced / full if full > 0 else 0.0

    @property
    def loss_bound_share(self) -> float | None:
        """L / personalized_full, the most any menu can lose to the reduction (micro-clusters)."""
        if self.loss_bound is None or self.personalized_full <= 0:
            return None
        return self.loss_bound / self.personalized_full


def check_reduction(method: str, size: int) -> None:
    """Refuse an unknown reduction method or a size below 1."""
    if method not in METHODS:
        raise ConfigError(f"coarsening.reduction must be one of {METHODS}, got {method!r}")
    if int(size) != size or size < 1:
        raise ConfigError(f"coarsening.reduction_size must be an integer >= 1, got {size!r}")


def cluster_profits(
    profits: np.ndarray, weights: np.ndarray, size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted mini-batch k-means of the rows: (centroids, centroid weights, row labels).

    The centres are fitted on a seeded sample of at most 50 rows per cluster, every row is then
    labelled with its nearest centre. Centroids are the exact weighted means of their rows;
    empty clusters are dropped and the labels renumbered to 0..m-1. With ``size >= n`` every
    row is its own cluster.
    """
    n = profits.shape[0]
    if size >= n:
        return profits.copy(), weights.copy(), np.arange(n)
    model = MiniBatchKMeans(
        n_clusters=size,
        init="random",  # k-means++ seeding of thousands of centres costs more than the fit
        random_state=seed,
        batch_size=max(4096, 4 * size),
        n_init=1,
        max_iter=_EPOCHS,
        compute_labels=False,
    )
    fit_rows = sample_rows_index(n, _FIT_ROWS_PER_CLUSTER * size, seed)
    model.fit(profits[fit_rows], sample_weight=weights[fit_rows])
    labels = model.predict(profits)
    kept, labels = np.unique(labels, return_inverse=True)
    mass = np.bincount(labels, weights=weights, minlength=len(kept))
    sums = np.zeros((len(kept), profits.shape[1]))
    np.add.at(sums, labels, profits * weights[:, None])
    positive = mass > 0
    centroids = np.where(positive[:, None], sums / np.where(positive, mass, 1.0)[:, None], 0.0)
    return centroids, mass, labels


def loss_bound(
    profits: np.ndarray, weights: np.ndarray, centroids: np.ndarray, labels: np.ndarray
) -> float:
    """L = sum_i w_i max_t (P[i, t] - c_{label_i}[t])^+ (see the module docstring)."""
    excess = np.max(profits - centroids[labels], axis=1)
    return float(weights @ np.maximum(excess, 0.0))


def sample_rows_index(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of ``min(size, n)`` rows out of n, uniformly without replacement."""
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def sample_rows(
    profits: np.ndarray, weights: np.ndarray, size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``size`` rows drawn uniformly without replacement, reweighted to keep the total weight."""
    n = profits.shape[0]
    if size >= n:
        return profits.copy(), weights.copy()
    rows = sample_rows_index(n, size, seed)
    picked = weights[rows]
    return profits[rows], picked * (weights.sum() / picked.sum())


def reduce_customers(
    profits: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    method: str = "sample",
    size: int = 20_000,
    seed: int = 0,
    allow_no_offer: bool = True,
) -> tuple[np.ndarray, np.ndarray, ReductionReport]:
    """Reduce (P, w) to at most ``size`` weighted profit vectors; return them and the loss.

    ``method`` is ``"sample"`` (default: fast and unbiased) or ``"microclusters"`` (slower;
    conservative, with the bound L).
    ``allow_no_offer`` selects the objective the loss is measured in.
    """
    P, w = validate_profits(profits, weights)
    check_reduction(method, size)
    if method == "sample":
        P_red, w_red = sample_rows(P, w, size, seed)
        bound = None
    else:
        P_red, w_red, labels = cluster_profits(P, w, size, seed)
        bound = loss_bound(P, w, P_red, labels)
    report = ReductionReport(
        method=method,
        rows=P.shape[0],
        size=P_red.shape[0],
        personalized_full=personalized_profit(P, w, allow_no_offer=allow_no_offer),
        personalized_reduced=personalized_profit(P_red, w_red, allow_no_offer=allow_no_offer),
        loss_bound=bound,
    )
    return P_red, w_red, report


def merge_microclusters(
    centroids: np.ndarray,
    weights: np.ndarray,
    partial_bound: float,
    size: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Cluster first-level centroids again (e.g. one set per Spark partition) to ``size``.

    Returns (centroids, weights, L) with L = partial_bound + the second-level bound, the
    composition in the module docstring.
    """
    merged, mass, labels = cluster_profits(centroids, weights, size, seed)
    return merged, mass, partial_bound + loss_bound(centroids, weights, merged, labels)
