"""Primal repair, the exact LP's prices, and the frontier (no Spark)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from causal_targeting.allocation.dual import chosen_usage, chosen_values
from causal_targeting.allocation.exact import solve_lp
from causal_targeting.allocation.frontier import budget_grid, frontier, plot_frontier
from causal_targeting.allocation.problem import Guardrail, OptionBlock
from causal_targeting.allocation.repair import (
    marginal_customers,
    recover,
    repair,
    unreachable_rows,
)
from causal_targeting.allocation.solver import solve_block
from causal_targeting.errors import ConfigError, InfeasibleError

BUDGET = Guardrail("budget", "budget", limit=1.0)
FLOOR = Guardrail("revenue", "revenue_floor", limit=1.0, outcome="spend")


def block_of(values: list[list[float]], *rows: list[list[float]]) -> OptionBlock:
    usage = np.array(rows, dtype=float)
    return OptionBlock(np.array(values, dtype=float), usage, np.full(len(rows), len(values)))


def test_repair_drops_the_customers_with_the_least_value_per_unit_of_budget() -> None:
    block = block_of([[10.0], [3.0], [8.0]], [[5.0], [1.0], [2.0]])
    choice = repair(block, np.zeros(3, dtype=np.int64), np.array([4.0]), [BUDGET])
    # value per unit of budget: 2, 3, 4 -> customer 0 (the cheapest per unit) is dropped
    assert choice.tolist() == [1, 0, 0]


def test_repair_meets_a_floor_without_breaking_the_budget() -> None:
    values = [[1.0, 2.0], [1.0, 0.5], [2.0, 1.5]]
    cost = [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
    revenue = [[-1.0, -3.0], [-1.0, -4.0], [-2.0, -2.5]]
    block = block_of(values, cost, revenue)
    limits = np.array([2.0, -6.0])
    choice = repair(block, np.array([0, 0, 2]), limits, [BUDGET, FLOOR])
    usage = chosen_usage(block, choice).sum(axis=1)
    assert usage[0] <= 2.0 and usage[1] <= -6.0


def test_repair_names_the_rows_it_cannot_meet() -> None:
    block = block_of([[1.0], [1.0]], [[-1.0], [-1.0]])
    with pytest.raises(InfeasibleError) as error:
        repair(block, np.zeros(2, dtype=np.int64), np.array([-3.0]), [FLOOR])
    assert error.value.guardrails == ["revenue"]


def test_unreachable_rows_name_each_row_out_of_reach() -> None:
    at_least_10 = "'revenue' needs a revenue effect of at least 10"
    with pytest.raises(InfeasibleError, match=at_least_10) as error:
        unreachable_rows(np.array([0.0, -4.0]), np.array([1.0, -10.0]), [BUDGET, FLOOR])
    assert error.value.guardrails == ["revenue"]
    unreachable_rows(np.array([0.0, -4.0]), np.array([1.0, -4.0]), [BUDGET, FLOOR])


def test_marginal_customers_are_those_whose_best_option_changes() -> None:
    block = block_of([[5.0], [1.0], [3.0]], [[1.0], [1.0], [1.0]])
    marginal = marginal_customers(block, [np.array([0.5]), np.array([2.5])])
    assert marginal.tolist() == [False, True, False]


def test_recover_rounds_the_lp_and_keeps_every_row() -> None:
    rng = np.random.default_rng(0)
    block = block_of(rng.gamma(2.0, 1.0, (200, 3)).tolist(), rng.uniform(0.5, 2.0, (200, 3)))
    limits = np.array([60.0])
    recovery = recover(block, limits, [BUDGET])
    lp = solve_lp(block, limits)
    value = chosen_values(block, recovery.choice).sum()
    assert chosen_usage(block, recovery.choice).sum() <= 60.0 + 1e-9
    assert lp.objective - block.values.max() <= value <= lp.objective + 1e-9
    assert recovery.relaxed_value == pytest.approx(lp.objective)
    assert recovery.prices == pytest.approx(lp.prices)


def test_lp_prices_are_the_value_of_one_more_unit() -> None:
    rng = np.random.default_rng(1)
    block = block_of(rng.gamma(2.0, 1.0, (300, 2)).tolist(), rng.uniform(0.5, 2.0, (300, 2)))
    low, high = solve_lp(block, np.array([50.0])), solve_lp(block, np.array([50.5]))
    assert (high.objective - low.objective) / 0.5 == pytest.approx(low.prices[0], rel=1e-2)
    assert low.prices[0] > 0 and low.x.sum(axis=1).max() <= 1 + 1e-9


def test_frontier_rises_with_the_budget_and_plots(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    block = block_of(rng.gamma(2.0, 1.0, (500, 3)).tolist(), rng.uniform(0.5, 2.0, (500, 3)),
                     np.ones((500, 3)))
    guardrails = [Guardrail("budget", "budget", share=0.5),
                  Guardrail("contacts", "contacts", share=0.8)]
    budgets = budget_grid(400.0, points=5)
    frame = frontier(lambda changed: solve_block(block, changed)[1], guardrails, budgets)
    assert frame["budget"].tolist() == pytest.approx(budgets.tolist())
    assert frame["feasible"].all()
    assert np.all(np.diff(frame["dual_bound"]) >= -1e-9)
    assert np.all(np.diff(frame["shadow_price"]) <= 1e-9)  # diminishing returns
    path = plot_frontier(frame, tmp_path / "frontier.png")
    assert path.stat().st_size > 1000
    with pytest.raises(ConfigError, match="exactly one budget"):
        frontier(lambda changed: solve_block(block, changed)[1], guardrails[1:], budgets)
