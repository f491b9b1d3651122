"""The dual pass, its cuts and the exact one-row method (no Spark)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causal_targeting.allocation.dual import (
    Cut,
    DualState,
    best_options,
    bracket_single,
    dual_terms,
)
from causal_targeting.allocation.exact import solve_lp
from causal_targeting.allocation.problem import OptionBlock


def random_block(seed: int, n: int, k: int, rows: int) -> OptionBlock:
    rng = np.random.default_rng(seed)
    values = rng.normal(1.0, 2.0, (n, k))
    values[rng.random((n, k)) < 0.2] = -np.inf
    usage = rng.uniform(-1.0, 3.0, (rows, n, k))
    return OptionBlock(values, usage, np.full(rows, float(n)))


def brute_force_dual(block: OptionBlock, lam: np.ndarray, limits: np.ndarray) -> float:
    total = float(lam @ limits)
    for i in range(block.customers):
        best = 0.0
        for k in range(block.values.shape[1]):
            if np.isfinite(block.values[i, k]):
                best = max(best, block.values[i, k] - float(lam @ block.usage[:, i, k]))
        total += best
    return total


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 30), st.integers(1, 4), st.integers(1, 3),
       st.lists(st.floats(0.0, 5.0), min_size=3, max_size=3))
def test_dual_value_matches_its_definition_and_cuts_are_valid(
    seed: int, n: int, k: int, rows: int, prices: list[float]
) -> None:
    block = random_block(seed, n, k, rows)
    limits = np.random.default_rng(seed + 1).uniform(0.0, n, rows)
    lam = np.array(prices[:rows])
    terms = dual_terms(block, lam)
    assert terms.dual_value(lam, limits) == pytest.approx(brute_force_dual(block, lam, limits))
    cut = Cut(lam, terms)
    for other in np.random.default_rng(seed + 2).uniform(0.0, 5.0, (5, rows)):
        assert brute_force_dual(block, other, limits) >= cut.at(other, limits) - 1e-9


def test_terms_of_blocks_add_up_to_the_terms_of_the_whole() -> None:
    block = random_block(1, 40, 3, 2)
    lam = np.array([0.3, 0.7])
    whole = dual_terms(block, lam, reach=True)
    parts = dual_terms(block.subset(np.arange(15)), lam, reach=True) + dual_terms(
        block.subset(np.arange(15, 40)), lam, reach=True)
    assert parts.surplus == pytest.approx(whole.surplus)
    assert parts.value == pytest.approx(whole.value)
    assert np.allclose(parts.usage, whole.usage)
    assert np.allclose(parts.least_usage, whole.least_usage)
    assert parts.offers == whole.offers and parts.customers == 40


def test_least_usage_is_the_least_any_policy_reaches() -> None:
    block = random_block(2, 4, 2, 1)
    terms = dual_terms(block, np.zeros(1), reach=True)
    least = min(
        sum(block.usage[0, i, c] for i, c in enumerate(choice) if c < 2)
        for choice in itertools.product(range(3), repeat=4)
        if all(c == 2 or np.isfinite(block.values[i, c]) for i, c in enumerate(choice))
    )
    assert terms.least_usage[0] == pytest.approx(min(least, 0.0))


def test_best_options_prefer_none_on_ties_and_skip_unavailable() -> None:
    block = OptionBlock(np.array([[0.0, -1.0], [-np.inf, 2.0], [3.0, 3.0]]),
                        np.zeros((0, 3, 2)), np.zeros(0))
    assert best_options(block, np.zeros(0)).tolist() == [2, 1, 0]


def test_bracket_finds_the_lp_price_of_one_row_exactly() -> None:
    rng = np.random.default_rng(4)
    n, k = 3_000, 3
    values = rng.gamma(2.0, 2.0, (n, k))
    costs = rng.uniform(0.5, 3.0, (1, n, k))
    block = OptionBlock(values, costs, np.array([float(n)]))
    limits = np.array([0.3 * costs[0].max(axis=1).sum() / 2])
    first = dual_terms(block, np.zeros(1))
    state = DualState(limits=limits, box=np.array([first.value / limits[0]]))
    state.cuts.append(Cut(np.zeros(1), first))
    bracket_single(lambda lam, reach=False: dual_terms(block, lam, reach), state, 1e-9, 60)
    optimum = solve_lp(block, limits)
    assert state.dual_bound == pytest.approx(optimum.objective, rel=1e-9)
    assert state.lower_bound <= optimum.objective + 1e-6
    assert state.best.lam[0] == pytest.approx(optimum.prices[0], rel=1e-6)
    assert sum(weight for _, weight in state.supports) == pytest.approx(1.0)
    assert state.passes < 40
