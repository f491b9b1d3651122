"""Allocation quality on small random instances, against HiGHS's exact 0/1 optimum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causal_targeting.allocation.dual import chosen_usage, chosen_values
from causal_targeting.allocation.exact import solve_lp
from causal_targeting.allocation.problem import Guardrail, OptionBlock
from causal_targeting.allocation.repair import complete, unreachable_rows, within
from causal_targeting.allocation.report import guardrail_reports
from causal_targeting.allocation.solver import solve_block
from causal_targeting.errors import InfeasibleError


def random_instance(
    seed: int, n: int, k: int, rows: int
) -> tuple[OptionBlock, list[Guardrail], np.ndarray]:
    """n customers, k offers, 1 to 3 rows out of (budget, contacts, cap on offer 0), with limits
    a random share of what the unconstrained policy uses; some options unavailable."""
    rng = np.random.default_rng(seed)
    values = rng.gamma(1.5, 2.0, (n, k)) - rng.uniform(0.0, 1.5, (n, k))
    values[rng.random((n, k)) < 0.1] = -np.inf
    cost = (rng.pareto(1.2, (n, k)) + 0.2) * rng.uniform(0.5, 3.0, k)  # a few very costly
    contact = np.ones((n, k))
    cap = np.zeros((n, k))
    cap[:, 0] = 1.0
    usage = np.stack([cost, contact, cap][:rows])
    unconstrained = np.where(values > 0, 1.0, 0.0)
    share = rng.uniform(0.1, 0.7, rows)
    limits = share * np.maximum(np.einsum("jnk,nk->j", usage, unconstrained), 1.0)
    guardrails = [
        Guardrail("budget", "budget", limit=float(limits[0])),
        Guardrail("contacts", "contacts", limit=float(limits[1]) if rows > 1 else 1.0),
        Guardrail("cap", "offer_cap", limit=float(limits[2]) if rows > 2 else 1.0, arm="a"),
    ][:rows]
    return OptionBlock(values, usage, np.full(rows, float(n))), guardrails, limits


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.sampled_from([60, 150, 500, 900]),
    k=st.integers(2, 4),
    rows=st.integers(1, 3),
)
def test_solve_is_feasible_near_the_0_1_optimum_and_its_gap_is_honest(
    seed: int, n: int, k: int, rows: int
) -> None:
    block, guardrails, limits = random_instance(seed, n, k, rows)
    choice, report = solve_block(block, guardrails)
    usage = chosen_usage(block, choice).sum(axis=1)
    assert within(usage, limits).all()
    value = float(chosen_values(block, choice).sum())
    assert value == pytest.approx(report.primal, rel=1e-12)
    exact = solve_lp(
        block, limits, integral=True, mip_abs_gap=1e-9, mip_rel_gap=0.0, time_limit=60.0
    )
    assert exact.optimal
    optimum = exact.objective
    assert value <= optimum + 1e-6 * max(abs(optimum), 1.0)
    if n >= 500:
        assert value >= 0.99 * optimum
    true_gap = (optimum - value) / max(abs(optimum), 1e-12)
    assert report.gap >= true_gap - 1e-9


def test_completion_gives_the_budget_a_dropped_customer_left_to_the_next_best() -> None:
    # budget 10: customer 0 (value 9, cost 9) was dropped by rounding; 1 and 2 fit, 3 does not
    block = OptionBlock(
        np.array([[9.0], [4.0], [3.0], [5.0]]),
        np.array([[[9.0], [4.0], [5.0], [11.0]]]),
        np.array([4.0]),
    )
    none = np.ones(4, dtype=np.int64)
    choice = complete(block, none, np.array([10.0]))
    # best value per unit of the budget left: customer 0 (1.0/unit, 0.9 of the room) first
    assert choice.tolist() == [0, 1, 1, 1]
    assert chosen_usage(block, choice).sum() <= 10.0


def test_a_dropped_costly_customer_leaves_no_budget_unused() -> None:
    """The LP takes 50 customers at 2 per unit of budget and 0.6 of a costly one at 1 per unit;
    rounding drops the costly one (it does not fit), and the 60 units it held go to the
    customers at 0.8 per unit, whom the prices had fixed at "none"."""
    values = np.r_[100.0, np.full(50, 2.0), np.full(480, 0.8)][:, None]
    costs = np.r_[100.0, np.ones(530)][None, :, None]
    block = OptionBlock(values, costs, np.array([531.0]))
    choice, report = solve_block(block, [Guardrail("budget", "budget", limit=110.0)])
    assert chosen_usage(block, choice).sum() == pytest.approx(110.0)
    assert report.primal == pytest.approx(148.0)  # the 0/1 optimum: 50 * 2 + 60 * 0.8
    assert report.guardrails[0].binding
    assert report.gap >= (160.0 - 148.0) / 160.0 - 1e-9  # the LP bound is 160


def test_binding_is_decided_by_the_slack_and_no_price_prints_minus_zero() -> None:
    budget = Guardrail("budget", "budget", limit=100.0)
    floor = Guardrail("revenue", "revenue_floor", limit=5.0, outcome="spend")
    limits, usage = np.array([100.0, -5.0]), np.array([60.0, -5.0])
    reports = guardrail_reports([budget, floor], limits, usage, np.array([1e-16, 0.0]), 50.0)
    assert [r.binding for r in reports] == [False, True]
    assert [f"{r.shadow_price:.4g}" for r in reports] == ["0", "0"]
    tight = guardrail_reports([budget], np.array([100.0]), np.array([99.95]), np.array([0.3]), 50)
    assert tight[0].binding and tight[0].shadow_price == 0.3


@pytest.mark.parametrize(
    ("guardrail", "limit", "least", "message"),
    [
        (Guardrail("b", "budget", limit=1.0), -1.0, 0.0, "'b' allows a cost of at most -1 but"),
        (Guardrail("c", "contacts", limit=1.0), -3.0, 0.0, "'c' allows at most -3 offers but"),
        (
            Guardrail("cap", "offer_cap", limit=1.0, arm="a"),
            2.0,
            5.0,
            "'cap' allows at most 2 offers of 'a' but the least any allocation sends is 5",
        ),
        (
            Guardrail("min", "offer_min", limit=1.0, arm="a"),
            -9.0,
            -4.0,
            "'min' needs at least 9 offers of 'a' but at most 4 eligible customers can take it",
        ),
        (
            Guardrail("rev", "revenue_floor", limit=1.0, outcome="spend"),
            -10.0,
            -4.0,
            "'rev' needs a revenue effect of at least 10 but the eligible customers reach at "
            "most 4",
        ),
    ],
)
def test_each_guardrail_kind_has_its_own_infeasibility_wording(
    guardrail: Guardrail, limit: float, least: float, message: str
) -> None:
    with pytest.raises(InfeasibleError, match=message):
        unreachable_rows(np.array([least]), np.array([limit]), [guardrail])
