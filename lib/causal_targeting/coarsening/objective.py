"""The coarsening objective: what a menu of K offers is worth, and who gets which offer.

Customer i has weight w_i (how many customers it stands for) and expected incremental profit
P[i, t] under offer t of the fine menu (t = 0..T-1). A menu is a set S of offers. With the
"no offer" option (the default), every customer gets the best chosen offer or nothing:

    F(S) = sum_i w_i max(0, max_{t in S} P[i, t])

Without it (``allow_no_offer=False``) every customer gets one of the chosen offers, even at a
loss: F(S) = sum_i w_i max_{t in S} P[i, t]. Fully personalized profit is F(all offers); the
share recovered by S is F(S) / F(all offers).

With segment-size bounds the assignment is not "best chosen offer" but a transport plan
(see :mod:`causal_targeting.coarsening.transport`), whose dual gives a price per chosen offer;
customers then take argmax_t (P[i, t] - price_t) over the chosen offers, or nothing when that is
not positive. :func:`assign` is that rule, for the driver and for executors alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from causal_targeting.errors import ConfigError, DataContractError

NO_OFFER = -1
"""The assignment code of a customer who gets no offer."""

PROFIT_TABLE = "profits"


def validate_profits(
    profits: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return (P, w) as float arrays after checking shapes and values.

    P must be a finite 2-D array (customers x offers) with at least one row and one column;
    w (default: ones) must be finite, non-negative, of length n, with a positive sum.
    """
    P = np.asarray(profits, dtype=float)
    if P.ndim != 2 or P.shape[0] == 0 or P.shape[1] == 0:
        raise DataContractError(
            PROFIT_TABLE,
            f"the profit matrix must be 2-D (customers x offers), non-empty; got {P.shape}",
            "pass one row per customer and one column per offer of the fine menu",
        )
    if not np.isfinite(P).all():
        bad = int(np.flatnonzero(~np.isfinite(P).all(axis=0))[0])
        raise DataContractError(
            PROFIT_TABLE,
            f"non-finite profits (NaN or inf) in offer column {bad}",
            "fill or drop customers whose scores are missing before coarsening",
            column=str(bad),
        )
    w = np.ones(P.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (P.shape[0],):
        raise DataContractError(
            PROFIT_TABLE,
            f"weights have shape {w.shape}, expected ({P.shape[0]},)",
            "pass one weight per customer row",
            column="weight",
        )
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise DataContractError(
            PROFIT_TABLE,
            "weights must be finite, non-negative and not all zero",
            "use customer counts (or 1.0 per customer) as weights",
            column="weight",
        )
    return P, w


def validate_chosen(chosen: Sequence[int] | np.ndarray, n_offers: int) -> np.ndarray:
    """Return the chosen offer indices as a non-empty int array of distinct indices < n_offers."""
    idx = np.asarray(chosen, dtype=int).ravel()
    in_menu = idx.size > 0 and (idx >= 0).all() and (idx < n_offers).all()
    if not in_menu or np.unique(idx).size != idx.size:
        raise ConfigError(
            f"chosen offers {idx.tolist()} must be distinct indices in 0..{n_offers - 1}; "
            "pass the offers of a Coarsening (its .chosen)"
        )
    return idx


def assign(
    profits_block: np.ndarray,
    chosen: Sequence[int] | np.ndarray,
    potentials: Sequence[float] | np.ndarray | None = None,
    *,
    allow_no_offer: bool = True,
) -> np.ndarray:
    """Assign each customer of a block to one chosen offer (or none); the executor-side rule.

    Returns, per row, the fine-menu index of argmax_{t in chosen} (P[i, t] - price_t), with
    price = ``potentials`` (the transport dual prices aligned with ``chosen``; zeros when None).
    Ties go to the first offer in ``chosen`` order. With ``allow_no_offer`` a customer whose best
    score is not positive gets :data:`NO_OFFER` (-1).
    """
    P = np.asarray(profits_block, dtype=float)
    idx = validate_chosen(chosen, P.shape[1])
    scores = P[:, idx]
    if potentials is not None:
        prices = np.asarray(potentials, dtype=float)
        if prices.shape != idx.shape:
            raise ConfigError(
                f"potentials have shape {prices.shape}, expected {idx.shape} (one per chosen offer)"
            )
        scores = scores - prices
    best = np.argmax(scores, axis=1)
    offers = idx[best]
    if allow_no_offer:
        offers = np.where(scores[np.arange(len(best)), best] > 0, offers, NO_OFFER)
    return offers


def realized_profit(profits: np.ndarray, weights: np.ndarray, offers: np.ndarray) -> float:
    """Sum_i w_i P[i, offers_i], counting customers with :data:`NO_OFFER` as zero."""
    got = offers != NO_OFFER
    rows = np.flatnonzero(got)
    return float(weights[rows] @ profits[rows, offers[got]])


def menu_profit(
    profits: np.ndarray,
    weights: np.ndarray,
    chosen: Sequence[int] | np.ndarray,
    potentials: Sequence[float] | np.ndarray | None = None,
    *,
    allow_no_offer: bool = True,
) -> float:
    """Total profit when every customer is assigned by :func:`assign` (F(S) without prices)."""
    offers = assign(profits, chosen, potentials, allow_no_offer=allow_no_offer)
    return realized_profit(np.asarray(profits, dtype=float), np.asarray(weights, float), offers)


def personalized_profit(
    profits: np.ndarray, weights: np.ndarray, *, allow_no_offer: bool = True
) -> float:
    """Fully personalized profit F(all offers): each customer gets its own best offer."""
    best = np.max(profits, axis=1)
    if allow_no_offer:
        best = np.maximum(best, 0.0)
    return float(weights @ best)


def segment_shares(
    offers: np.ndarray, weights: np.ndarray, chosen: Sequence[int] | np.ndarray
) -> np.ndarray:
    """Share of total weight assigned to each chosen offer (aligned with ``chosen``)."""
    idx = np.asarray(chosen, dtype=int)
    total = float(np.sum(weights))
    return np.array([float(weights[offers == t].sum()) / total for t in idx])
