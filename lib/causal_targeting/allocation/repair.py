"""Primal recovery: an integral allocation that never breaks a guardrail.

After the dual solve, the Dantzig-Wolfe weights theta over a few supporting prices lambda_t give
a fractional primal sum_t theta_t x(lambda_t) that meets every row. Customers whose best option
is the same at every supporting price keep it; only the *marginal* customers (best options
differ) are re-decided, by the exact LP restricted to them with the residual limits
b - (usage of the fixed customers). A basic LP solution has at most J fractional customers;
they are rounded greedily, and a floor left short by rounding is repaired by the cheapest moves
(smallest value lost per unit of the short resource) among the marginal customers. Rounding and
repair leave capacity unused (a dropped fractional customer may free a large share of a small
budget); the completion gives it back, greedily, to the moves that add the most value per unit
of the room they take, while every row holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from causal_targeting.allocation.dual import best_options, chosen_usage, chosen_values
from causal_targeting.allocation.exact import solve_lp
from causal_targeting.allocation.problem import Guardrail, OptionBlock
from causal_targeting.errors import InfeasibleError

SLACK = 1e-9


def within(usage: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """Rows that hold, with a relative slack of 1e-9 for rounding."""
    return usage <= limits + SLACK * np.maximum(np.abs(limits), 1.0)


def out_of_reach(guardrail: Guardrail, limit: float, least: float) -> str:
    """Why row ``limit`` (signed, "usage <= limit") is out of reach when the least usage any
    choice of offers reaches is ``least``, in the guardrail's own words and units."""
    name, arm = f"'{guardrail.name}'", f" of '{guardrail.arm}'" if guardrail.arm else ""
    if guardrail.kind == "revenue_floor":
        return (f"{name} needs a revenue effect of at least {-limit:.6g} but the eligible "
                f"customers reach at most {-least:.6g}")
    if guardrail.kind == "offer_min":
        return (f"{name} needs at least {-limit:.6g} offers{arm} but at most {-least:.6g} "
                "eligible customers can take it")
    if guardrail.kind == "budget":
        return (f"{name} allows a cost of at most {limit:.6g} but the least any allocation "
                f"costs is {least:.6g}")
    return (f"{name} allows at most {limit:.6g} offers{arm} but the least any allocation "
            f"sends is {least:.6g}")


def unreachable_rows(
    least_usage: np.ndarray, limits: np.ndarray, guardrails: Sequence[Guardrail]
) -> None:
    """Raise InfeasibleError naming each row whose limit is below the least usage any policy
    reaches (a minimum above what eligible customers can give, a floor above the most revenue
    any choice of offers makes, a cap below what the minimums force), each in its own words."""
    short = np.flatnonzero(~within(least_usage, limits))
    if len(short):
        detail = "; ".join(out_of_reach(guardrails[j], limits[j], least_usage[j]) for j in short)
        raise InfeasibleError([guardrails[j].name for j in short], detail)


def marginal_customers(block: OptionBlock, prices: Sequence[np.ndarray]) -> np.ndarray:
    """(n,) boolean: customers whose best option differs between the supporting prices."""
    choices = [best_options(block, lam) for lam in prices]
    marginal = np.zeros(block.customers, dtype=bool)
    for choice in choices[1:]:
        marginal |= choice != choices[0]
    return marginal


def round_fractional(block: OptionBlock, x: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """Integral choice from an LP solution x (n, K): integral customers keep their option;
    each fractional one takes its most-used option that keeps every row within ``limits``,
    else none."""
    n, k = x.shape
    top = np.argmax(x, axis=1) if k else np.zeros(n, dtype=np.int64)
    mass = x.sum(axis=1)
    integral = x.max(axis=1, initial=0.0) >= 1 - 1e-7
    choice = np.where(integral, top, k)
    for i in np.flatnonzero(~integral & (mass > 1e-7)):
        base = chosen_usage(block, choice).sum(axis=1)
        for option in np.argsort(-x[i], kind="stable"):
            if x[i, option] <= 1e-7:
                break
            if within(base + block.usage[:, i, option], limits).all():
                choice[i] = option
                break
    return choice


def cheapest_moves(
    block: OptionBlock, choice: np.ndarray, row: int, room: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each customer, the move that frees row ``row`` at the least value lost per unit
    and uses no more of any other row j than ``room[j]``: (new option, loss per unit; inf if
    there is no such move). Option K is "none"."""
    n = block.customers
    current_usage = chosen_usage(block, choice)
    current_value = chosen_values(block, choice)
    targets = np.concatenate([block.usage, np.zeros((block.usage.shape[0], n, 1))], axis=2)
    values = np.concatenate([block.values, np.zeros((n, 1))], axis=1)
    delta = targets - current_usage[:, :, None]
    freed = -delta[row]
    others = np.delete(delta, row, axis=0) <= np.delete(room, row)[:, None, None]
    allowed = np.isfinite(values) & (freed > 0) & others.all(axis=0)
    loss = np.where(allowed, (current_value[:, None] - values) / np.where(allowed, freed, 1.0),
                    np.inf)
    option = np.argmin(loss, axis=1)
    return option, loss[np.arange(n), option]


def repair(
    block: OptionBlock,
    choice: np.ndarray,
    limits: np.ndarray,
    guardrails: Sequence[Guardrail],
    max_rounds: int = 50,
) -> np.ndarray:
    """Move the cheapest customers until every row holds; never worsens a row that holds.

    Round by round: take the most violated row, give each customer its cheapest move that frees
    that row and fits in the room left on every other row, apply the moves in order of
    loss per unit freed (stopping before any other row would break) until the row holds.
    Raises InfeasibleError naming the rows that no such moves can fix.
    """
    choice = choice.copy()
    scale = np.maximum(np.abs(limits), 1.0)
    for _ in range(max_rounds):
        usage = chosen_usage(block, choice).sum(axis=1)
        if within(usage, limits).all():
            return choice
        row = int(np.argmax((usage - limits) / scale))
        room = np.maximum(limits - usage, 0.0)
        option, loss = cheapest_moves(block, choice, row, room)
        order = np.argsort(loss, kind="stable")
        order = order[np.isfinite(loss[order])]
        if len(order) == 0:
            break
        moved = block.subset(order)
        delta = chosen_usage(moved, option[order]) - chosen_usage(moved, choice[order])
        running = usage[:, None] + np.cumsum(delta, axis=1)
        bound = np.maximum(limits, usage)[:, None] * np.ones((1, len(order)))
        keeps = within(np.delete(running, row, axis=0), np.delete(bound, row, axis=0)).all(axis=0)
        fixed = np.flatnonzero(within(running[row], np.full(len(order), limits[row])))
        broken = np.flatnonzero(~keeps)
        stop = min(fixed[0] + 1 if len(fixed) else len(order),
                   broken[0] if len(broken) else len(order))
        if stop == 0:
            break
        chosen = order[:stop]
        choice[chosen] = option[chosen]
    usage = chosen_usage(block, choice).sum(axis=1)
    failing = np.flatnonzero(~within(usage, limits))
    raise InfeasibleError(
        [guardrails[j].name for j in failing],
        "no allocation found that meets these guardrails together (the remaining customers "
        "cannot be moved without breaking another one); relax one of them",
    )


def extended(block: OptionBlock) -> tuple[np.ndarray, np.ndarray]:
    """The block's values (n, K+1) and usage (J, n, K+1) with "none" (value 0, usage 0) last."""
    n = block.customers
    values = np.concatenate([block.values, np.zeros((n, 1))], axis=1)
    usage = np.concatenate([block.usage, np.zeros((block.usage.shape[0], n, 1))], axis=2)
    return values, usage


def best_additions(
    block: OptionBlock, choice: np.ndarray, room: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each customer, the move to another option that adds value and fits in ``room`` (J,)
    with the most value added per unit of room taken: (new option, ratio; -inf if none).

    The room a move takes is sum_j max(delta_j, 0) / room_j: a share of what is left of each
    row, so the rows with little slack left (the binding ones) weigh most; a move that takes no
    room has ratio +inf. Option K is "none".
    """
    values, usage = extended(block)
    delta = usage - chosen_usage(block, choice)[:, :, None]
    gain = values - chosen_values(block, choice)[:, None]
    fits = (delta <= (room + SLACK * scale)[:, None, None]).all(axis=0)
    improves = np.isfinite(values) & (gain > SLACK * np.maximum(np.abs(values), 1.0)) & fits
    share = np.maximum(room, SLACK * scale)[:, None, None]
    taken = (np.maximum(delta, 0.0) / share).sum(axis=0)
    ratio = np.where(improves, np.divide(gain, taken, out=np.full_like(gain, np.inf),
                                         where=taken > 0), -np.inf)
    option = np.argmax(ratio, axis=1)
    return option, ratio[np.arange(block.customers), option]


def complete(
    block: OptionBlock, choice: np.ndarray, limits: np.ndarray, max_rounds: int = 20
) -> np.ndarray:
    """Give the capacity left by rounding and repair to the best remaining options.

    Round by round: each customer's best improving move that fits in the room left
    (:func:`best_additions`), applied in order of value added per unit of room taken, each one
    only if it still fits after the ones before it; until a round moves no one. Every row holds
    after each move (``choice`` must meet ``limits`` on entry), and the value only grows.
    """
    choice = choice.copy()
    scale = np.maximum(np.abs(limits), 1.0)
    for _ in range(max_rounds):
        current = chosen_usage(block, choice)
        usage = current.sum(axis=1)
        option, ratio = best_additions(block, choice, limits - usage, scale)
        order = np.argsort(-ratio, kind="stable")
        order = order[ratio[order] > -np.inf]
        _, targets = extended(block)
        moved = False
        for i in order:
            new_usage = usage - current[:, i] + targets[:, i, option[i]]
            if within(new_usage, limits).all():
                choice[i], usage, moved = option[i], new_usage, True
        if not moved:
            break
    return choice


@dataclass(frozen=True)
class Recovery:
    """choice: option per marginal customer (K = none); prices: row prices of their LP (close to
    the optimal prices: the marginal customers are the ones that set them); relaxed_value: the
    LP value of the marginal customers (what any rounding is measured against)."""

    choice: np.ndarray
    prices: np.ndarray
    relaxed_value: float


def tightened_rounding(
    block: OptionBlock, limits: np.ndarray, guardrails: Sequence[Guardrail], attempts: int
) -> np.ndarray | None:
    """The LP again with each row tightened by what the roundings overshot (doubling each
    attempt), rounded and repaired, up to ``attempts`` times; None when no attempt fits."""
    tightening = np.zeros(len(limits))
    for attempt in range(attempts):
        solution = solve_lp(block, limits - tightening)
        if not solution.optimal:
            return None
        choice = round_fractional(block, solution.x, limits)
        try:
            return repair(block, choice, limits, guardrails)
        except InfeasibleError:
            overshoot = chosen_usage(block, choice).sum(axis=1) - limits
            tightening = tightening + 2.0**attempt * np.maximum(overshoot, 0.0)
    return None


def recover(
    block: OptionBlock,
    limits: np.ndarray,
    guardrails: Sequence[Guardrail],
    value_gap: float = 1e-6,
    attempts: int = 4,
    time_limit: float = 10.0,
) -> Recovery:
    """Integral choice for the marginal customers (``limits``: the residual limits left by the
    fixed customers).

    1. The exact restricted LP; its (at most J) fractional customers rounded, then repaired.
    2. If the repair cannot close a row (rounding left a floor short while the other rows sit
       at their limits), the LP with the rows tightened by the rounding's overshoot, doubling
       (``attempts`` times); it loses about one customer's worth per row.
    3. If that finds nothing, the restricted 0/1 problem by HiGHS's branch and cut, stopped at
       an absolute gap ``value_gap`` or ``time_limit`` seconds.
    4. The completion (:func:`complete`) gives the capacity left over to the best moves.
    Raises InfeasibleError naming the rows when nothing fits.
    """
    rows = len(limits)
    if block.customers == 0:
        return Recovery(np.zeros(0, dtype=np.int64), np.zeros(rows), 0.0)
    relaxed = solve_lp(block, limits)
    if not relaxed.optimal:
        raise InfeasibleError(
            [g.name for g in guardrails],
            f"the LP over the marginal customers is {relaxed.status.lower()}; relax a guardrail",
        )
    try:
        choice = repair(block, round_fractional(block, relaxed.x, limits), limits, guardrails)
    except InfeasibleError:
        choice = tightened_rounding(block, limits, guardrails, attempts)
    if choice is None:
        exact = solve_lp(block, limits, time_limit=time_limit, integral=True,
                         mip_abs_gap=value_gap)
        if not exact.found:
            raise InfeasibleError(
                [g.name for g in guardrails],
                "no 0/1 allocation of the marginal customers found that meets them; relax one",
            )
        choice = round_fractional(block, exact.x, limits)
    return Recovery(complete(block, choice, limits), relaxed.prices, relaxed.objective)
