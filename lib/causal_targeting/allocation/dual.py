"""The Lagrangian dual of the allocation LP: one pass over a block, and the driver's solvers.

For prices lambda >= 0 on the guardrail rows "sum a x <= b",

    D(lambda) = sum_j lambda_j b_j + sum_i max(0, max_k (v_ik - sum_j lambda_j a_jik))

is convex, piecewise linear and bounds the LP optimum from above. Writing k*(i) for the best
option of customer i at lambda ("none" when no reduced value is positive), V = sum_i v_ik* and
U = sum_i a_ik*, the dual is D(lambda) = V + lambda . (b - U) and b - U is a subgradient: each
pass gives the cut D(mu) >= V + mu . (b - U), valid for every mu >= 0.

The solvers only see an ``oracle(lambda) -> DualTerms`` (summed over all blocks), so the same
solver runs on a numpy block in tests and over Spark partitions in production. Progress goes to
a callback, never to a logger inside the maths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy.optimize import linprog, minimize

from causal_targeting.allocation.problem import OptionBlock


@dataclass(frozen=True)
class DualTerms:
    """Sums over customers of one dual pass at lambda (add them across blocks with ``+``).

    surplus: sum_i max(0, max_k reduced value); value: V; usage: U (J,); offers: customers
    given an offer; customers: n; population: (J,) customers each row counts;
    least_usage: (J,) sum_i min(0, min over available k of a_jik), the least any policy uses;
    least_value: sum_i min(0, min over available k of v_ik), the least any policy is worth.
    """

    surplus: float
    value: float
    usage: np.ndarray
    offers: int
    customers: int
    population: np.ndarray
    least_usage: np.ndarray
    least_value: float

    def __add__(self, other: DualTerms) -> DualTerms:
        return DualTerms(
            self.surplus + other.surplus,
            self.value + other.value,
            self.usage + other.usage,
            self.offers + other.offers,
            self.customers + other.customers,
            self.population + other.population,
            self.least_usage + other.least_usage,
            self.least_value + other.least_value,
        )

    @classmethod
    def zero(cls, rows: int) -> DualTerms:
        zeros = np.zeros(rows)
        return cls(0.0, 0.0, zeros, 0, 0, zeros, zeros, 0.0)

    def dual_value(self, lam: np.ndarray, limits: np.ndarray) -> float:
        """D(lambda) = lambda . b + surplus."""
        return float(lam @ limits + self.surplus)


def reduced_values(block: OptionBlock, lam: np.ndarray) -> np.ndarray:
    """(n, K) reduced values v_ik - sum_j lambda_j a_jik (-inf where unavailable)."""
    if len(lam) == 0:
        return block.values
    return block.values - np.einsum("j,jnk->nk", lam, block.usage)


def best_options(block: OptionBlock, lam: np.ndarray) -> np.ndarray:
    """(n,) best option per customer at lambda: index k, or K for "none" (ties go to none)."""
    reduced = reduced_values(block, lam)
    k = reduced.shape[1]
    if k == 0 or reduced.shape[0] == 0:
        return np.full(reduced.shape[0], k, dtype=np.int64)
    best = np.argmax(reduced, axis=1)
    top = np.take_along_axis(reduced, best[:, None], axis=1)[:, 0]
    return np.where(top > 0, best, k)


def picked(block: OptionBlock, choice: np.ndarray) -> np.ndarray:
    """(n, K) float one-hot of the chosen options (a row of zeros for none)."""
    return (np.arange(block.values.shape[1]) == choice[:, None]).astype(np.float64)


def chosen_usage(block: OptionBlock, choice: np.ndarray) -> np.ndarray:
    """(J, n) usage of each customer's chosen option (0 for none)."""
    return np.einsum("jnk,nk->jn", block.usage, picked(block, choice))


def chosen_values(block: OptionBlock, choice: np.ndarray) -> np.ndarray:
    """(n,) value of each customer's chosen option (0 for none)."""
    return np.where(picked(block, choice) > 0, block.values, 0.0).sum(axis=1)


def dual_terms(block: OptionBlock, lam: np.ndarray, reach: bool = False) -> DualTerms:
    """One pass of the dual over a block at prices ``lam`` (J,).

    ``reach`` also sums the least usage and least value any policy has (needed once, on the
    first pass; otherwise left at zero).
    """
    choice = best_options(block, lam)
    onehot = picked(block, choice)
    value = float(np.where(onehot > 0, block.values, 0.0).sum())
    usage = np.einsum("jnk,nk->j", block.usage, onehot)
    rows = len(block.population)
    least_usage, least_value = np.zeros(rows), 0.0
    if reach:
        available = block.available
        least_usage = np.where(available[None], block.usage, 0.0).min(axis=2, initial=0.0)
        least_usage = least_usage.sum(axis=1)
        least_value = float(np.where(available, block.values, 0.0).min(axis=1, initial=0.0).sum())
    return DualTerms(
        surplus=max(value - float(lam @ usage), 0.0) if rows else max(value, 0.0),
        value=value,
        usage=usage,
        offers=int((choice < block.values.shape[1]).sum()),
        customers=block.customers,
        population=block.population.copy(),
        least_usage=least_usage,
        least_value=least_value,
    )


class Oracle(Protocol):
    """One pass of the dual at ``lam`` over all customers, summed (``reach`` on the first)."""

    def __call__(self, lam: np.ndarray, reach: bool = False) -> DualTerms: ...


@dataclass(frozen=True)
class PassLog:
    """What a callback sees after each pass over the data."""

    index: int
    lam: np.ndarray
    dual_value: float
    dual_bound: float
    lower_bound: float
    primal_value: float
    worst_violation: float


Callback = Callable[[PassLog], None]


@dataclass(frozen=True, eq=False)
class Cut:
    """The cut of one pass: D(mu) >= value + mu . (b - usage)."""

    lam: np.ndarray
    terms: DualTerms

    def at(self, mu: np.ndarray, limits: np.ndarray) -> float:
        return float(self.terms.value + mu @ (limits - self.terms.usage))


@dataclass
class DualState:
    """The cuts collected so far and the certified bounds they give.

    dual_bound: min D over the queried prices (an upper bound on the LP optimum).
    lower_bound: min over the box of the cutting-plane model (a lower bound on min D when the
    optimal prices lie in the box). supports: (cut index, weight) of the model's minimizer, the
    Dantzig-Wolfe weights theta with sum theta_t U_t <= b that recover a fractional primal.
    """

    limits: np.ndarray
    box: np.ndarray
    cuts: list[Cut] = field(default_factory=list)
    lower_bound: float = -np.inf
    supports: list[tuple[int, float]] = field(default_factory=list)
    model_minimizer: np.ndarray | None = None
    other_passes: int = 0
    first_box: np.ndarray | None = None

    @property
    def best(self) -> Cut:
        return min(self.cuts, key=lambda cut: cut.terms.dual_value(cut.lam, self.limits))

    @property
    def dual_bound(self) -> float:
        return self.best.terms.dual_value(self.best.lam, self.limits)

    @property
    def passes(self) -> int:
        """Passes over the data so far: one per cut, plus the finishing passes."""
        return len(self.cuts) + self.other_passes

    def model_gap(self) -> float:
        return relative_gap(self.dual_bound, self.lower_bound)


def relative_gap(upper: float, lower: float) -> float:
    """(upper - lower) / |upper|, 0 when both agree to 1e-9 absolute."""
    if upper - lower <= 1e-9:
        return 0.0
    return float((upper - lower) / max(abs(upper), 1e-9))


def worst_violation(usage: np.ndarray, limits: np.ndarray) -> float:
    """Largest relative excess max_j (U_j - b_j)+ / max(|b_j|, 1)."""
    if len(limits) == 0:
        return 0.0
    return float(np.max(np.maximum(usage - limits, 0.0) / np.maximum(np.abs(limits), 1.0)))


def query(oracle: Oracle, state: DualState, lam: np.ndarray, callback: Callback | None) -> Cut:
    """Evaluate the oracle at ``lam``, store the cut, report the pass."""
    cut = Cut(lam.copy(), oracle(lam))
    state.cuts.append(cut)
    if callback is not None:
        callback(
            PassLog(
                index=state.passes,
                lam=lam.copy(),
                dual_value=cut.terms.dual_value(lam, state.limits),
                dual_bound=state.dual_bound,
                lower_bound=state.lower_bound,
                primal_value=cut.terms.value,
                worst_violation=worst_violation(cut.terms.usage, state.limits),
            )
        )
    return cut


def cutting_plane_model(state: DualState) -> None:
    """Minimize the cutting-plane model over the box (an LP in lambda and z, via HiGHS).

    min z  s.t.  z >= V_t + lambda . (b - U_t) for every cut t,  0 <= lambda <= box.
    Sets the lower bound, the minimizer and the Dantzig-Wolfe weights (the cut rows' duals).
    """
    rows = len(state.limits)
    slopes = np.array([state.limits - cut.terms.usage for cut in state.cuts])
    offsets = np.array([cut.terms.value for cut in state.cuts])
    scale = max(abs(state.dual_bound), 1.0)
    result = linprog(
        c=np.r_[np.zeros(rows), 1.0],
        A_ub=np.c_[slopes, -np.ones(len(offsets))] / scale,
        b_ub=-offsets / scale,
        bounds=[(0.0, hi) for hi in state.box] + [(None, None)],
        method="highs",
    )
    if result.x is None:  # numerical trouble in the tiny master LP: keep the previous model
        state.model_minimizer = state.best.lam.copy()
        return
    state.lower_bound = float(result.x[-1])
    state.model_minimizer = np.asarray(result.x[:rows])
    weights = -np.asarray(result.ineqlin.marginals)
    state.supports = [(t, float(w)) for t, w in enumerate(weights) if w > 1e-9]


def expand_box_if_active(state: DualState, most: float = 1e6) -> bool:
    """Quadruple the box along coordinates where the model's minimizer sits on it, up to
    ``most`` times its first size (beyond, a direction is flat, or infeasibility shows as a dual
    value below the least value any allocation has)."""
    assert state.model_minimizer is not None
    if state.first_box is None:
        state.first_box = state.box.copy()
    active = (state.model_minimizer >= state.box * (1 - 1e-9)) & (
        state.box < most * state.first_box)
    state.box = np.where(active, state.box * 4.0, state.box)
    return bool(active.any())


def level_projection(state: DualState, level: float, center: np.ndarray) -> np.ndarray:
    """argmin ||mu - center||^2 over the box with every cut <= level (a small QP, SLSQP).

    Coordinates are scaled by the box so that rows of different units weigh alike.
    """
    box = state.box
    slopes = np.array([state.limits - cut.terms.usage for cut in state.cuts]) * box
    offsets = np.array([cut.terms.value for cut in state.cuts])
    scale = max(abs(level), 1.0)
    start = state.model_minimizer / box
    result = minimize(
        lambda y: float(np.sum((y - center / box) ** 2)),
        start,
        jac=lambda y: 2.0 * (y - center / box),
        bounds=[(0.0, 1.0)] * len(box),
        constraints=[{
            "type": "ineq",
            "fun": lambda y: (level - offsets - slopes @ y) / scale,
            "jac": lambda y: -slopes / scale,
        }],
        method="SLSQP",
        options={"maxiter": 200, "ftol": 1e-12},
    )
    y = np.clip(result.x, 0.0, 1.0) if result.success else start
    return y * box


def level_bundle(
    oracle: Oracle,
    state: DualState,
    tolerance: float,
    max_passes: int,
    callback: Callback | None = None,
    level_fraction: float = 0.3,
) -> None:
    """Minimize D over lambda >= 0 by the level bundle method (Lemarechal, Nemirovskii, Nesterov).

    Each pass queries the projection of the best point onto the level set
    {model <= low + level_fraction (best - low)} of the cutting-plane model. Kelley's plain
    cutting plane jumps to box vertices and zig-zags as rows are added; the projection keeps the
    iterates near the best point, which on this dual gives a steady few passes per digit, and
    the model's LP still yields the certified lower bound and the Dantzig-Wolfe weights used to
    recover a primal. Stops when the model gap <= ``tolerance`` with the box inactive.
    """
    while state.passes < max_passes:
        cutting_plane_model(state)
        if expand_box_if_active(state):
            cutting_plane_model(state)
        if state.model_gap() <= tolerance:
            if not expand_box_if_active(state):
                return
            continue
        low, best = state.lower_bound, state.dual_bound
        center = state.best.lam
        query(oracle, state, level_projection(state, low + level_fraction * (best - low), center),
              callback)
    cutting_plane_model(state)


def bracket_single(
    oracle: Oracle,
    state: DualState,
    tolerance: float,
    max_passes: int,
    callback: Callback | None = None,
) -> None:
    """Exact minimization of a one-row dual: safeguarded cut intersection on a bracket.

    D is convex piecewise linear in the scalar lambda with subgradient g = b - U(lambda),
    non-decreasing. Keep lo with g <= 0 and hi with g >= 0 (from the cuts so far, else found by
    stepping up, the step quadrupling each time; a second call resumes); the cuts at lo
    and hi meet at lambda_c, whose model value is a certified lower bound on min D. Query
    lambda_c, or the midpoint when the bracket did not halve on the previous step. Stops at a
    relative model gap <= ``tolerance`` or a zero subgradient; the supports are lo and hi with
    theta_lo g_lo + theta_hi g_hi = 0, so the customers whose best option is the same at lo
    and hi are optimal as they are (it is their best option on all of [lo, hi]).
    """
    limits = state.limits

    def slope(cut: Cut) -> float:
        return float(limits[0] - cut.terms.usage[0])

    lo = max((c for c in state.cuts if slope(c) <= 0), key=lambda c: c.lam[0])
    above = [c for c in state.cuts if slope(c) >= 0]
    hi = min(above, key=lambda c: c.lam[0]) if above else lo
    step = state.box.copy()
    while slope(hi) < 0 and state.passes < max_passes:
        hi = query(oracle, state, hi.lam + step, callback)
        step = step * 4.0
    last_width = np.inf
    while slope(hi) >= 0:
        if slope(hi) == 0 or slope(lo) == 0:
            state.lower_bound = state.dual_bound
            state.supports = [(index_of(state, hi if slope(hi) == 0 else lo), 1.0)]
            return
        crossing = float((hi.terms.value - lo.terms.value) / (slope(lo) - slope(hi)))
        crossing = min(max(crossing, lo.lam[0]), hi.lam[0])
        state.lower_bound = lo.at(np.array([crossing]), limits)
        theta_lo = slope(hi) / (slope(hi) - slope(lo))
        state.supports = [(index_of(state, lo), theta_lo), (index_of(state, hi), 1 - theta_lo)]
        width = hi.lam[0] - lo.lam[0]
        if (state.model_gap() <= tolerance or width <= 1e-15 * max(hi.lam[0], 1.0)
                or state.passes >= max_passes):
            return
        midpoint = 0.5 * (lo.lam[0] + hi.lam[0])
        point = midpoint if width > 0.5 * last_width else crossing
        if point in (lo.lam[0], hi.lam[0]):
            point = midpoint
        last_width = width
        cut = query(oracle, state, np.array([point]), callback)
        if slope(cut) <= 0:
            lo = cut
        else:
            hi = cut


def index_of(state: DualState, cut: Cut) -> int:
    """Position of ``cut`` in the state's cuts (by identity)."""
    return next(t for t, other in enumerate(state.cuts) if other is cut)
