"""Choose K offers out of a fine menu, and an assignment, to maximize total profit.

Objective (see :mod:`causal_targeting.coarsening.objective`): over menus S of K offers,

    maximize F(S) = sum_i w_i max(0, max_{t in S} P[i, t])      ("no offer" allowed, default)
    or       F(S) = sum_i w_i max_{t in S} P[i, t]             (``allow_no_offer=False``)

and, when segment sizes are bounded, the assignment is the transport plan of
:mod:`causal_targeting.coarsening.transport` instead of "best chosen offer".

Method. F is a facility-location objective (choosing K of T columns is NP-hard in general), so
we run a local search from several starts and keep the best:

1. starts: the greedy menu (add the offer with the largest marginal gain, K times), then
   ``restarts - 1`` menus drawn uniformly at random (seeded);
2. Lloyd-style alternation: assign each customer to its best chosen offer (or by optimal
   transport under bounds), then move each offer to the best single offer for its segment,
   argmax_t sum_{i in segment} w_i P[i, t] (offers stay distinct), until the menu repeats;
3. without bounds, a 1-swap pass: replace one chosen offer by one unchosen offer whenever that
   raises F, until no swap does (each sweep costs K x n x T).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causal_targeting.coarsening.objective import (
    NO_OFFER,
    menu_profit,
    personalized_profit,
    validate_profits,
)
from causal_targeting.coarsening.transport import check_bounds, transport_assign
from causal_targeting.errors import ConfigError

_RELATIVE_GAIN = 1e-12  # a move must raise F by more than this share of |F| (no cycling)


@dataclass(frozen=True)
class Coarsening:
    """K chosen offers, the assignment of the customers they were chosen on, and its profit.

    ``chosen``: sorted fine-menu indices (length min(K, T)). ``assignment``: per customer row,
    the fine-menu index it gets, or -1 for no offer (under bounds: the offer holding most of the
    row's mass in the transport plan). ``profit``: F of the menu under that assignment
    (the exact plan value under bounds). ``personalized``: F(all offers). ``potentials``: the
    dual price per chosen offer (aligned with ``chosen``) when bounds apply, else None; pass
    them to :func:`~causal_targeting.coarsening.objective.assign`. ``shares``: weight share of
    each chosen offer. ``k_requested``: the K asked for (may exceed the menu size).
    """

    chosen: np.ndarray
    assignment: np.ndarray
    profit: float
    personalized: float
    potentials: np.ndarray | None
    shares: np.ndarray
    allow_no_offer: bool
    k_requested: int

    @property
    def share_recovered(self) -> float:
        """profit / personalized (1.0 when personalized profit is zero)."""
        return self.profit / self.personalized if self.personalized > 0 else 1.0


def _floor(n: int, allow_no_offer: bool) -> np.ndarray:
    """Per-customer value of the empty menu: 0 with "no offer", -inf without."""
    return np.zeros(n) if allow_no_offer else np.full(n, -np.inf)


def _greedy_menu(P: np.ndarray, w: np.ndarray, k: int, allow_no_offer: bool) -> np.ndarray:
    """Add, K times, the offer that raises sum_i w_i max(current_i, P[i, t]) the most."""
    current = _floor(P.shape[0], allow_no_offer)
    chosen: list[int] = []
    for _ in range(k):
        gains = w @ np.maximum(current[:, None], P)
        gains[chosen] = -np.inf
        best = int(np.argmax(gains))
        chosen.append(best)
        current = np.maximum(current, P[:, best])
    return np.array(chosen)


def _unbounded_segments(P: np.ndarray, menu: np.ndarray, allow_no_offer: bool) -> np.ndarray:
    """(n, K) weights-free membership: 1 where the customer's best chosen offer is that slot."""
    scores = P[:, menu]
    best = np.argmax(scores, axis=1)
    member = np.zeros_like(scores)
    member[np.arange(len(best)), best] = 1.0
    if allow_no_offer:
        member[scores[np.arange(len(best)), best] <= 0] = 0.0
    return member


def _move_offers(
    P: np.ndarray, mass: np.ndarray, menu: np.ndarray, greedy_fill: np.ndarray
) -> np.ndarray:
    """Move each slot to the best distinct offer for its segment (mass: (n, K) plan)."""
    totals = mass.T @ P  # (K, T): segment profit of every offer
    order = np.argsort(-totals.max(axis=1), kind="stable")
    new = np.full(len(menu), -1)
    taken: set[int] = set()
    for slot in order:
        if mass[:, slot].sum() <= 0:
            continue  # empty segment: refilled below
        ranked = np.argsort(-totals[slot], kind="stable")
        new[slot] = next(int(t) for t in ranked if int(t) not in taken)
        taken.add(int(new[slot]))
    for slot in np.flatnonzero(new < 0):
        new[slot] = next(int(t) for t in greedy_fill if int(t) not in taken)
        taken.add(int(new[slot]))
    return new


def _lloyd(
    P: np.ndarray,
    w: np.ndarray,
    menu: np.ndarray,
    bounds,
    allow_no_offer: bool,
    greedy_fill: np.ndarray,
    max_iter: int,
) -> tuple[np.ndarray, float]:
    """Alternate assignment and offer moves from ``menu``; return the best menu seen and F."""
    best_menu, best_value = menu, -np.inf
    seen: set[tuple[int, ...]] = set()
    for _ in range(max_iter):
        key = tuple(sorted(int(t) for t in menu))
        if key in seen:
            break
        seen.add(key)
        if bounds is None:
            mass = _unbounded_segments(P, menu, allow_no_offer) * w[:, None]
            value = float(np.sum(mass * P[:, menu]))
        else:
            solved = transport_assign(P[:, menu], w, *bounds, allow_no_offer=allow_no_offer)
            mass, value = solved.plan, solved.profit
        if value > best_value:
            best_menu, best_value = menu, value
        menu = _move_offers(P, mass, menu, greedy_fill)
    return best_menu, best_value


def _swap(
    P: np.ndarray, w: np.ndarray, menu: np.ndarray, allow_no_offer: bool, max_iter: int
) -> tuple[np.ndarray, float]:
    """1-swap local search on the unbounded F: best improving (slot, offer) swap, repeated."""
    menu = menu.copy()
    n = P.shape[0]
    floor = _floor(n, allow_no_offer)
    value = menu_profit(P, w, menu, allow_no_offer=allow_no_offer)
    for _ in range(max_iter):
        scores = P[:, menu]
        order = np.argsort(-scores, axis=1, kind="stable")
        first = np.maximum(scores[np.arange(n), order[:, 0]], floor)
        second = floor if len(menu) == 1 else np.maximum(scores[np.arange(n), order[:, 1]], floor)
        best_gain, best_move = _RELATIVE_GAIN * max(abs(value), 1.0), None
        for slot in range(len(menu)):
            without = np.where(order[:, 0] == slot, second, first)
            candidates = w @ np.maximum(without[:, None], P) - value
            candidates[menu] = -np.inf
            t = int(np.argmax(candidates))
            if candidates[t] > best_gain:
                best_gain, best_move = candidates[t], (slot, t)
        if best_move is None:
            break
        menu[best_move[0]] = best_move[1]
        value = menu_profit(P, w, menu, allow_no_offer=allow_no_offer)
    return menu, value


def _result(
    P: np.ndarray,
    w: np.ndarray,
    menu: np.ndarray,
    bounds,
    allow_no_offer: bool,
    k_requested: int,
) -> Coarsening:
    """Package the final menu with its assignment, profit, prices and shares."""
    chosen = np.sort(menu)
    total = float(w.sum())
    if bounds is None:
        member = _unbounded_segments(P, chosen, allow_no_offer)
        plan, potentials = member * w[:, None], None
        profit = float(np.sum(plan * P[:, chosen]))
    else:
        solved = transport_assign(P[:, chosen], w, *bounds, allow_no_offer=allow_no_offer)
        plan, potentials, profit = solved.plan, solved.prices, solved.profit
    holds = plan.sum(axis=1) > 0.5 * w if allow_no_offer else np.ones(len(w), dtype=bool)
    assignment = np.where(holds, chosen[np.argmax(plan, axis=1)], NO_OFFER)
    return Coarsening(
        chosen=chosen,
        assignment=assignment,
        profit=profit,
        personalized=personalized_profit(P, w, allow_no_offer=allow_no_offer),
        potentials=potentials,
        shares=plan.sum(axis=0) / total,
        allow_no_offer=allow_no_offer,
        k_requested=k_requested,
    )


def choose_offers(
    profits: np.ndarray,
    weights: np.ndarray | None,
    k: int,
    *,
    restarts: int = 8,
    seed: int = 0,
    min_share: float | None = None,
    max_share: float | None = None,
    allow_no_offer: bool = True,
    max_iter: int = 100,
) -> Coarsening:
    """Choose ``k`` offers of the fine menu (columns of ``profits``) maximizing total profit.

    Parameters
    ----------
    profits : (n, T) expected incremental profit of each customer (row) under each offer.
    weights : (n,) customer weights (counts for micro-clusters), or None for ones.
    k : number of offers, >= 1. A menu with T <= k offers is returned whole (every offer).
    restarts : number of starts (the greedy menu first, then random menus), >= 1.
    seed : seed of the random starts.
    min_share, max_share : bounds on the weight share each chosen offer must receive; when
        either is given the assignment is the transport plan and ``potentials`` are returned.
    allow_no_offer : whether a customer may get no offer (profit 0).
    max_iter : cap on Lloyd iterations and on swap sweeps per start.

    Returns
    -------
    Coarsening : the best menu found over all starts.
    """
    P, w = validate_profits(profits, weights)
    if int(k) != k or k < 1:
        raise ConfigError(f"coarsening.k must be an integer >= 1, got {k!r}")
    if restarts < 1:
        raise ConfigError(f"coarsening.restarts must be >= 1, got {restarts!r}")
    n_offers = P.shape[1]
    k_eff = min(int(k), n_offers)
    bounded = min_share is not None or max_share is not None
    bounds = None
    if bounded:
        bounds = check_bounds(k_eff, min_share, max_share, allow_no_offer=allow_no_offer)
    # the greedy order beyond K refills slots whose segment empties during the alternation
    greedy = _greedy_menu(P, w, min(n_offers, 2 * k_eff), allow_no_offer)
    if k_eff == n_offers:
        return _result(P, w, greedy, bounds, allow_no_offer, int(k))
    rng = np.random.default_rng(seed)
    starts = [greedy[:k_eff]] + [
        rng.choice(n_offers, size=k_eff, replace=False) for _ in range(restarts - 1)
    ]
    if bounds is not None:  # the unbounded optimum is a good start for the bounded search
        unbounded = choose_offers(
            P, w, k_eff, restarts=restarts, seed=seed, allow_no_offer=allow_no_offer
        )
        starts.append(unbounded.chosen)
    found = []
    for start in starts:
        menu, value = _lloyd(P, w, start, bounds, allow_no_offer, greedy, max_iter)
        if bounds is None:
            menu, value = _swap(P, w, menu, allow_no_offer, max_iter)
        found.append((menu, value))
    top = max(value for _, value in found)
    best_menu = next(m for m, v in found if v >= top - _RELATIVE_GAIN * max(abs(top), 1.0))
    return _result(P, w, best_menu, bounds, allow_no_offer, int(k))
