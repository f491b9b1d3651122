"""The driver of a solve: first pass, dual method, primal recovery, certified gap, report.

It only talks to the data through two callables, so it runs the same on a numpy block (tests,
the driver) and on Spark partitions (``distributed.py``):

- ``oracle(lambda) -> DualTerms``, one pass of the dual summed over all customers;
- ``finisher(prices) -> Marginal``, one pass that fixes every customer whose best option is the
  same at all supporting prices and returns the others (the marginal customers) as a block.

The gap is certified: the dual bound is min D over the queried prices (>= the LP optimum >= the
integer optimum) and the primal is the value of an allocation that meets every guardrail.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

import numpy as np
import pandas as pd

from causal_targeting.allocation.dual import (
    Callback,
    Cut,
    DualState,
    DualTerms,
    Oracle,
    PassLog,
    best_options,
    bracket_single,
    chosen_usage,
    chosen_values,
    dual_terms,
    level_bundle,
    query,
    relative_gap,
)
from causal_targeting.allocation.problem import Guardrail, OptionBlock, check_names, row_limits
from causal_targeting.allocation.repair import (
    Recovery,
    complete,
    marginal_customers,
    recover,
    unreachable_rows,
    within,
)
from causal_targeting.allocation.report import (
    SolveReport,
    guardrail_reports,
    solve_status,
)
from causal_targeting.errors import ConfigError, InfeasibleError

Method = Literal["auto", "bracket", "level"]
@dataclass(frozen=True)
class SolverOptions:
    """The knobs of a solve.

    tolerance: certified relative gap (dual bound - primal) / |dual bound| to stop at.
    max_passes: most passes over the data (dual passes and finishing passes).
    method: "auto" (bracket for one guardrail, level for several), "bracket" or "level".
    coarse_tolerance: model gap of the dual method at which the first finishing pass runs.
    level_fraction: level parameter of the bundle method, in (0, 1).
    lp_customers: marginal sets up to this size go to HiGHS; larger ones are first narrowed by
        the same solver run in memory on the driver (no passes over the data).
    inner_passes: most in-memory passes of such a narrowing solve.
    exact_customers: up to this many customers, a recovery that fails on the marginal customers
        is retried with every customer marginal.
    mip_seconds: time limit of the last-resort 0/1 solve of the marginal customers.
    """

    tolerance: float = 1e-4
    max_passes: int = 30
    method: Method = "auto"
    coarse_tolerance: float = 1e-3
    level_fraction: float = 0.3
    lp_customers: int = 20_000
    inner_passes: int = 200
    exact_customers: int = 50_000
    mip_seconds: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.tolerance < 1 or not 0 < self.level_fraction < 1:
            raise ConfigError("allocation tolerance and level_fraction must lie in (0, 1)")
        if self.max_passes < 2:
            raise ConfigError(f"allocation max_passes must be >= 2 (got {self.max_passes})")


@dataclass(frozen=True)
class Marginal:
    """The customers left to decide: their keys (row indices or customer ids), their options,
    and the usage (J,), value and offers of every other customer, fixed at the reference
    (first) supporting price."""

    keys: np.ndarray
    block: OptionBlock
    fixed_usage: np.ndarray
    fixed_value: float
    fixed_offers: int


class Finisher(Protocol):
    """One pass fixing the customers whose best option agrees at every supporting price (all
    customers are returned as marginal when ``everyone``)."""

    def __call__(self, prices: Sequence[np.ndarray], everyone: bool = False) -> Marginal: ...


@dataclass(frozen=True)
class Plan:
    """How to assign: each customer takes its best option at ``prices``, except the marginal
    customers ``keys``, who take ``options`` (index into the arms; K means none)."""

    prices: np.ndarray
    keys: np.ndarray
    options: np.ndarray


def initial_box(limits: np.ndarray, value: float) -> np.ndarray:
    """Starting bounds on lambda: the price at which a row's whole limit costs the unconstrained
    value (lambda_j |b_j| = D(0)); the solver widens the box when the optimum sits on it."""
    return max(abs(value), 1.0) / np.maximum(np.abs(limits), 1.0)


def choose_method(method: Method, rows: int) -> str:
    if method == "auto":
        return "bracket" if rows == 1 else "level"
    if method == "bracket" and rows != 1:
        raise ConfigError(
            f"allocation method 'bracket' solves one guardrail, got {rows}; use 'level' or 'auto'"
        )
    if method not in ("bracket", "level"):
        raise ConfigError(f"allocation method '{method}' is not one of auto, bracket, level")
    return method


def certify_feasible(state: DualState, least_value: float, guardrails: Sequence[Guardrail]) -> None:
    """Raise InfeasibleError when D(lambda) falls below the least value any allocation has.

    Weak duality: a feasible problem has an optimum >= least_value, and D(lambda) >= optimum for
    every lambda >= 0, so D(lambda) < least_value proves that no allocation meets the rows with a
    positive price at lambda together.
    """
    best = state.best
    margin = 1e-9 * max(abs(least_value), 1.0)
    if state.dual_bound >= least_value - margin and np.all(state.box < 1e15):
        return
    names = [g.name for g, price in zip(guardrails, best.lam, strict=True) if price > 0]
    raise InfeasibleError(
        names or [g.name for g in guardrails],
        "no allocation meets these guardrails together: the dual bound "
        f"{state.dual_bound:.6g} is below the least value any allocation has ({least_value:.6g})",
    )


def checked_oracle(
    oracle: Oracle, state: DualState, least_value: float, guardrails: Sequence[Guardrail]
) -> Oracle:
    """The oracle, raising InfeasibleError as soon as a dual value proves infeasibility."""

    def checked(lam: np.ndarray, reach: bool = False) -> DualTerms:
        terms = oracle(lam, reach)
        if terms.dual_value(lam, state.limits) < least_value - 1e-9 * max(abs(least_value), 1.0):
            state.cuts.append(Cut(lam.copy(), terms))
            certify_feasible(state, least_value, guardrails)
        return terms

    return checked


def run_dual(
    method: str,
    oracle: Oracle,
    state: DualState,
    tolerance: float,
    max_passes: int,
    callback: Callback | None,
    least_value: float,
    guardrails: Sequence[Guardrail],
    level_fraction: float,
) -> None:
    """Run the dual method until its model gap <= tolerance, checking feasibility as it goes."""
    checked = checked_oracle(oracle, state, least_value, guardrails)
    if method == "bracket":
        bracket_single(checked, state, tolerance, max_passes, callback)
    else:
        level_bundle(checked, state, tolerance, max_passes, callback, level_fraction)
    certify_feasible(state, least_value, guardrails)


def narrowed(
    block: OptionBlock, limits: np.ndarray, guardrails: Sequence[Guardrail],
    options: SolverOptions, value_gap: float,
) -> Recovery:
    """Recover a large marginal set by the same solver in memory (passes over the driver's
    arrays only): its own, much smaller, marginal set then goes to HiGHS. The inner solve
    never narrows again, so a marginal set that does not shrink (ties) ends in HiGHS too."""
    scale = max(float(np.where(np.isfinite(block.values), np.maximum(block.values, 0), 0).sum()),
                1.0)
    inner = replace(
        options,
        tolerance=min(max(value_gap / scale, 1e-9), options.tolerance),
        max_passes=options.inner_passes,
        coarse_tolerance=min(max(value_gap / scale, 1e-9), options.coarse_tolerance),
        lp_customers=max(options.lp_customers, block.customers),  # no deeper: the exact step
    )
    plan, report = solve_dual(block_oracle(block), block_finisher(block), guardrails, inner,
                              limits=limits)
    return Recovery(assign(block, plan), np.asarray(report.prices), report.primal)


def recover_marginal(
    marginal: Marginal, limits: np.ndarray, guardrails: Sequence[Guardrail],
    options: SolverOptions, value_gap: float,
) -> Recovery:
    """Recover the marginal customers with the residual limits left by the fixed ones."""
    residual = limits - marginal.fixed_usage
    if marginal.block.customers > options.lp_customers:
        return narrowed(marginal.block, residual, guardrails, options, value_gap)
    return recover(marginal.block, residual, guardrails, value_gap=value_gap,
                   time_limit=options.mip_seconds)


def finish(
    finisher: Finisher,
    prices: Sequence[np.ndarray],
    limits: np.ndarray,
    guardrails: Sequence[Guardrail],
    customers: int,
    options: SolverOptions,
    value_gap: float,
) -> tuple[Marginal, Recovery]:
    """The finishing pass and the recovery of the marginal customers; when that recovery fails
    and there are at most ``exact_customers`` customers, once more with every customer marginal
    (an integral allocation may need to move customers the prices had fixed). With at most
    ``exact_customers`` customers, a rounding that lost more than ``value_gap`` against the LP
    is completed over every customer (:func:`completed_over_everyone`)."""
    marginal = finisher(prices)
    try:
        recovery = recover_marginal(marginal, limits, guardrails, options, value_gap)
    except InfeasibleError:
        if customers > options.exact_customers or marginal.block.customers == customers:
            raise
        marginal = finisher(prices, everyone=True)
        return marginal, recover_marginal(marginal, limits, guardrails, options, value_gap)
    lost = recovery.relaxed_value - float(chosen_values(marginal.block, recovery.choice).sum())
    if customers <= options.exact_customers and marginal.block.customers < customers \
            and lost > value_gap:
        return completed_over_everyone(finisher, prices, marginal, recovery, limits)
    return marginal, recovery


def completed_over_everyone(
    finisher: Finisher, prices: Sequence[np.ndarray], marginal: Marginal, recovery: Recovery,
    limits: np.ndarray,
) -> tuple[Marginal, Recovery]:
    """The recovered allocation, completed (:func:`repair.complete`) over every customer: the
    capacity a dropped marginal customer left may be best used by customers the prices had
    fixed at "none". One more pass; every customer comes back as marginal."""
    everyone = finisher(prices, everyone=True)
    choice = best_options(everyone.block, prices[0])
    choice[pd.Index(everyone.keys).get_indexer(marginal.keys)] = recovery.choice
    relaxed = marginal.fixed_value + recovery.relaxed_value
    return everyone, Recovery(complete(everyone.block, choice, limits), recovery.prices, relaxed)


def solve_dual(
    oracle: Oracle,
    finisher: Finisher,
    guardrails: Sequence[Guardrail],
    options: SolverOptions = SolverOptions(),
    callback: Callback | None = None,
    limits: np.ndarray | None = None,
) -> tuple[Plan, SolveReport]:
    """Solve the allocation to a certified relative gap <= ``tolerance`` or ``max_passes``.

    ``limits`` (J,) replaces the guardrails' own limits (used when narrowing marginal sets).

    Pass 1 at lambda = 0 gives the unconstrained policy (which resolves share limits) and the
    least usage of each row (a floor or minimum out of reach raises InfeasibleError naming it).
    The dual method then runs to a model gap of ``coarse_tolerance``; a finishing pass
    re-decides the marginal customers (``repair.recover``) and measures the certified gap. If it
    is above ``tolerance``, one pass at the prices of the marginal customers' LP (close to the
    optimal prices: those customers set them) usually certifies it; otherwise the dual method
    continues with a tighter model gap and finishes again.
    """
    tolerance, max_passes = options.tolerance, options.max_passes
    check_names(guardrails)
    started = time.perf_counter()
    rows = len(guardrails)
    method_name = choose_method(options.method, rows) if rows else "none"
    zero = np.zeros(rows)
    first = oracle(zero, reach=True)
    if limits is None:
        limits = row_limits(guardrails, first.usage, first.population)
    unreachable_rows(first.least_usage, limits, guardrails)
    state = DualState(limits=limits, box=initial_box(limits, first.value))
    state.cuts.append(Cut(zero, first))
    if callback is not None:
        callback(PassLog(1, zero, state.dual_bound, state.dual_bound, -np.inf, first.value,
                         0.0))
    relaxed = first.value
    if within(first.usage, limits).all():
        plan = Plan(zero, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        usage, primal, offers = first.usage, first.value, first.offers
    else:
        dual_tolerance = max(options.coarse_tolerance, tolerance)
        while True:
            run_dual(method_name, oracle, state, dual_tolerance, max_passes - 1,
                     callback, first.least_value, guardrails, options.level_fraction)
            prices = [state.cuts[t].lam for t, _ in state.supports] or [state.best.lam]
            marginal, recovery = finish(finisher, prices, limits, guardrails, first.customers,
                                        options, tolerance / 4 * abs(state.dual_bound))
            choice = recovery.choice
            usage = marginal.fixed_usage + chosen_usage(marginal.block, choice).sum(axis=1)
            primal = marginal.fixed_value + float(chosen_values(marginal.block, choice).sum())
            offers = marginal.fixed_offers + int((choice < marginal.block.values.shape[1]).sum())
            plan = Plan(prices[0], marginal.keys, choice)
            state.other_passes += 1
            if callback is not None:
                callback(PassLog(state.passes, prices[0], state.dual_bound,
                                 state.dual_bound, state.lower_bound, primal, 0.0))
            if relative_gap(state.dual_bound, primal) > tolerance and state.passes < max_passes:
                query(checked_oracle(oracle, state, first.least_value, guardrails), state,
                      recovery.prices, callback)
            relaxed = marginal.fixed_value + recovery.relaxed_value
            if (relative_gap(state.dual_bound, primal) <= tolerance
                    or relative_gap(state.dual_bound, relaxed) <= tolerance
                    or state.passes >= max_passes):
                break
            dual_tolerance = min(dual_tolerance, state.model_gap()) / 4
    passes = state.passes
    dual_bound = state.dual_bound
    gap = relative_gap(dual_bound, primal)
    report = SolveReport(
        status=solve_status(gap, relative_gap(dual_bound, relaxed), tolerance),
        method=method_name,
        primal=float(primal),
        dual_bound=float(dual_bound),
        gap=gap,
        tolerance=tolerance,
        passes=passes,
        seconds=time.perf_counter() - started,
        customers=first.customers,
        offers=int(offers),
        guardrails=guardrail_reports(guardrails, limits, usage, state.best.lam, primal),
        prices=tuple(float(x) for x in state.best.lam),
        lam_history=tuple(tuple(float(x) for x in cut.lam) for cut in state.cuts),
    )
    return plan, report


def block_oracle(block: OptionBlock) -> Oracle:
    """The oracle of one in-memory block."""
    def oracle(lam: np.ndarray, reach: bool = False) -> DualTerms:
        return dual_terms(block, lam, reach)

    return oracle


def block_finisher(block: OptionBlock) -> Finisher:
    """The finisher of one in-memory block (keys are row indices)."""

    def finish(prices: Sequence[np.ndarray], everyone: bool = False) -> Marginal:
        marginal = marginal_customers(block, prices) | everyone
        fixed = block.subset(~marginal)
        choice = best_options(fixed, prices[0])
        return Marginal(
            keys=np.flatnonzero(marginal),
            block=block.subset(marginal),
            fixed_usage=chosen_usage(fixed, choice).sum(axis=1),
            fixed_value=float(chosen_values(fixed, choice).sum()),
            fixed_offers=int((choice < block.values.shape[1]).sum()),
        )

    return finish


def assign(block: OptionBlock, plan: Plan) -> np.ndarray:
    """(n,) option per customer (K = none) under a plan; keys of the plan are row indices."""
    choice = best_options(block, plan.prices)
    choice[plan.keys] = plan.options
    return choice


def solve_block(
    block: OptionBlock,
    guardrails: Sequence[Guardrail],
    options: SolverOptions = SolverOptions(),
    callback: Callback | None = None,
) -> tuple[np.ndarray, SolveReport]:
    """Solve the allocation of one in-memory block: (option per customer, K = none; report)."""
    plan, report = solve_dual(block_oracle(block), block_finisher(block), guardrails, options,
                              callback)
    return assign(block, plan), report


def allocation_frame(
    customer_ids: np.ndarray | pd.Series,
    block: OptionBlock,
    choice: np.ndarray,
    arms: Sequence[str],
    guardrails: Sequence[Guardrail],
    run_id: str,
) -> pd.DataFrame:
    """The allocation table: customer_id, offer (None for none), value, usage__{guardrail} (in
    the guardrail's units: floors as positive amounts), run_id."""
    offer_names = np.array([*arms, None], dtype=object)
    usage = chosen_usage(block, choice)
    frame = pd.DataFrame({
        "customer_id": np.asarray(customer_ids),
        "offer": offer_names[choice],
        "value": chosen_values(block, choice),
    })
    for j, guardrail in enumerate(guardrails):
        frame[f"usage__{guardrail.name}"] = guardrail.sign * usage[j] + 0.0
    frame["run_id"] = run_id
    return frame
