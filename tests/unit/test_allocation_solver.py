"""The allocation solver against the exact HiGHS LP on random instances (no Spark)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causal_targeting.allocation.dual import chosen_usage, chosen_values, dual_terms
from causal_targeting.allocation.exact import solve_lp
from causal_targeting.allocation.problem import Guardrail, OptionBlock, row_limits
from causal_targeting.allocation.repair import within
from causal_targeting.allocation.solver import SolverOptions, allocation_frame, solve_block
from causal_targeting.errors import InfeasibleError

KINDS = ("budget", "revenue_floor", "contacts", "offer_cap")
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def guardrail(kind: str, share: float) -> Guardrail:
    extra = {"outcome": "spend"} if kind == "revenue_floor" else {}
    extra |= {"arm": "a0"} if kind == "offer_cap" else {}
    return Guardrail(kind, kind, share=share, **extra)


def instance(
    seed: int, n: int, k: int, kinds: tuple[str, ...], shares: tuple[float, ...]
) -> tuple[OptionBlock, list[Guardrail]]:
    """Random values, costs and revenues; about 15% of options unavailable."""
    rng = np.random.default_rng(seed)
    revenue = rng.gamma(2.0, 2.0, (n, k))
    cost = rng.uniform(0.1, 3.0, (n, k))
    values = revenue * rng.uniform(0.2, 1.0, (n, k)) - cost + rng.normal(0.5, 1.0, (n, k))
    values[rng.random((n, k)) < 0.15] = -np.inf
    rows = {
        "budget": cost,
        "revenue_floor": -revenue,
        "contacts": np.ones((n, k)),
        "offer_cap": np.broadcast_to(np.arange(k) == 0, (n, k)).astype(float),
    }
    usage = np.stack([rows[kind] for kind in kinds])
    block = OptionBlock(values, usage, np.full(len(kinds), float(n)))
    return block, [guardrail(kind, share) for kind, share in zip(kinds, shares, strict=True)]


def limits_of(block: OptionBlock, guardrails: list[Guardrail]) -> np.ndarray:
    first = dual_terms(block, np.zeros(len(guardrails)), reach=True)
    return row_limits(guardrails, first.usage, first.population)


@st.composite
def instances(draw: st.DrawFn) -> tuple[OptionBlock, list[Guardrail]]:
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=3, unique=True))
    shares = [draw(st.floats(0.05, 1.0)) for _ in kinds]
    seed = draw(st.integers(0, 2**31))
    n = draw(st.integers(1, 300))
    k = draw(st.integers(1, 4))
    return instance(seed, n, k, tuple(kinds), tuple(shares))


@SETTINGS
@given(instances())
def test_objective_within_certified_gap_of_highs_and_no_violation(
    case: tuple[OptionBlock, list[Guardrail]],
) -> None:
    block, guardrails = case
    limits = limits_of(block, guardrails)
    try:
        choice, report = solve_block(block, guardrails)
    except InfeasibleError as error:
        assert set(error.guardrails) <= {g.name for g in guardrails} and error.guardrails
        assert not solve_lp(block, limits, integral=True, time_limit=30).found
        return
    optimum = solve_lp(block, limits)
    assert optimum.optimal
    usage = chosen_usage(block, choice).sum(axis=1)
    assert within(usage, limits).all()
    value = float(chosen_values(block, choice).sum())
    scale = max(abs(optimum.objective), 1.0)
    assert value == pytest.approx(report.primal, abs=1e-7 * scale)
    assert value <= optimum.objective + 1e-7 * scale
    assert report.dual_bound >= optimum.objective - 1e-7 * scale
    assert optimum.objective - value <= report.gap * abs(report.dual_bound) + 1e-7 * scale
    assert np.isfinite(chosen_values(block, choice)).all()


@SETTINGS
@given(st.integers(0, 2**31), st.integers(20, 400), st.integers(1, 5), st.floats(0.05, 0.9))
def test_single_guardrail_equals_lp_optimum_up_to_one_fractional_customer(
    seed: int, n: int, k: int, share: float
) -> None:
    block, guardrails = instance(seed, n, k, ("budget",), (share,))
    choice, report = solve_block(block, guardrails)
    optimum = solve_lp(block, limits_of(block, guardrails))
    one_customer = float(np.nanmax(np.where(np.isfinite(block.values), block.values, np.nan)))
    value = float(chosen_values(block, choice).sum())
    assert report.method == "bracket"
    assert optimum.objective - one_customer - 1e-9 <= value <= optimum.objective + 1e-9
    assert within(chosen_usage(block, choice).sum(axis=1), limits_of(block, guardrails)).all()


def test_large_single_guardrail_reaches_the_lp_and_its_exact_price() -> None:
    block, guardrails = instance(3, 5_000, 4, ("budget",), (0.4,))
    _, report = solve_block(block, guardrails, SolverOptions(tolerance=1e-6))
    optimum = solve_lp(block, limits_of(block, guardrails))
    assert report.status == "integrality" and report.passes <= 12
    assert report.dual_bound == pytest.approx(optimum.objective, rel=1e-9)
    assert optimum.objective - report.primal <= np.max(block.values)
    assert report.guardrails[0].shadow_price == pytest.approx(optimum.prices[0], rel=1e-3)
    assert report.guardrails[0].binding


def test_three_guardrails_on_a_larger_instance_certify_the_gap() -> None:
    block, guardrails = instance(5, 5_000, 4, ("budget", "contacts", "offer_cap"),
                                 (0.5, 0.4, 0.1))
    _, report = solve_block(block, guardrails)
    optimum = solve_lp(block, limits_of(block, guardrails))
    assert report.status == "optimal" and report.gap <= 1e-4
    assert report.primal >= optimum.objective * (1 - 1e-4)
    assert report.passes <= 30


def test_a_minimum_above_the_eligible_customers_is_named() -> None:
    block, _ = instance(1, 50, 2, ("contacts",), (1.0,))
    values = block.values.copy()
    values[:10, 0] = 1.0
    values[10:, 0] = -np.inf  # only 10 customers can get offer a0
    block = OptionBlock(values, -np.broadcast_to(np.arange(2) == 0, (1, 50, 2)).astype(float),
                        np.array([50.0]))
    minimum = Guardrail("a0_minimum", "offer_min", limit=12, arm="a0")
    with pytest.raises(InfeasibleError, match=r"a0_minimum.*at most 10 eligible cust") as error:
        solve_block(block, [minimum])
    assert error.value.guardrails == ["a0_minimum"]


def test_a_revenue_floor_no_policy_meets_is_named() -> None:
    block, guardrails = instance(2, 100, 3, ("budget", "revenue_floor"), (0.5, 1.0))
    floor = Guardrail("revenue_floor", "revenue_floor", limit=1e9, outcome="spend")
    with pytest.raises(InfeasibleError, match="revenue_floor") as error:
        solve_block(block, [guardrails[0], floor])
    assert error.value.guardrails == ["revenue_floor"]


def test_a_floor_the_budget_cannot_pay_for_names_both() -> None:
    block, guardrails = instance(4, 200, 3, ("budget", "revenue_floor"), (0.05, 0.9))
    with pytest.raises(InfeasibleError) as error:
        solve_block(block, guardrails)
    assert set(error.value.guardrails) == {"budget", "revenue_floor"}
    assert not solve_lp(block, limits_of(block, guardrails)).optimal


def test_everyone_ineligible_gives_an_empty_allocation() -> None:
    block, guardrails = instance(6, 30, 3, ("budget", "contacts"), (0.5, 0.5))
    empty = OptionBlock(np.full_like(block.values, -np.inf), block.usage, block.population)
    choice, report = solve_block(empty, guardrails)
    assert (choice == 3).all() and report.primal == 0.0 and report.offers == 0
    frame = allocation_frame(np.arange(30), empty, choice, ["a0", "a1", "a2"], guardrails, "r")
    assert frame["offer"].isna().all() and (frame["value"] == 0).all()


def test_same_instance_gives_the_same_allocation_and_report() -> None:
    block, guardrails = instance(7, 3_000, 4, ("budget", "revenue_floor", "contacts"),
                                 (0.6, 0.7, 0.5))
    first_choice, first = solve_block(block, guardrails)
    second_choice, second = solve_block(block, guardrails)
    assert np.array_equal(first_choice, second_choice)
    assert first.to_dict() | {"seconds": 0} == second.to_dict() | {"seconds": 0}


def test_allocation_frame_columns_and_units() -> None:
    block, guardrails = instance(8, 5, 2, ("budget", "revenue_floor"), (1.0, 0.1))
    choice = np.array([0, 1, 2, 0, 2])
    choice[~np.isfinite(block.values[np.arange(5), np.minimum(choice, 1)])] = 2
    frame = allocation_frame(np.arange(5), block, choice, ["a0", "a1"], guardrails, "run-1")
    assert list(frame.columns) == ["customer_id", "offer", "value", "usage__budget",
                                   "usage__revenue_floor", "run_id"]
    offered = choice < 2
    assert frame["offer"].notna().tolist() == offered.tolist()
    assert (frame.loc[offered, "usage__revenue_floor"] > 0).all()  # floors in positive units
    assert (frame.loc[~offered, ["value", "usage__budget"]] == 0).all().all()
    assert (frame["run_id"] == "run-1").all()


def test_report_is_json_ready_with_prices_per_guardrail() -> None:
    import json

    block, guardrails = instance(9, 2_000, 3, ("budget", "contacts"), (0.3, 0.9))
    _, report = solve_block(block, guardrails)
    data = json.loads(json.dumps(report.to_dict()))
    assert [g["name"] for g in data["guardrails"]] == ["budget", "contacts"]
    assert {"primal", "dual_bound", "gap", "passes", "seconds", "lam_history"} <= set(data)
    budget = data["guardrails"][0]
    assert budget["binding"] and budget["shadow_price"] > 0
    assert budget["usage"] <= budget["limit"] * (1 + 1e-9)


def test_highs_prints_nothing_on_stdout() -> None:
    import subprocess
    import sys

    code = (
        "import highspy\n"
        "from causal_targeting.allocation.exact import quiet_highs\n"
        "highs = quiet_highs()\n"
        "highs.passModel(highspy.HighsLp())\n"
        "highs.run()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == ""


def test_a_large_block_of_tied_customers_is_solved_without_narrowing_forever() -> None:
    # every customer worth the same: at the optimal price all of them are marginal
    n = 400
    block = OptionBlock(np.full((n, 1), 1.0), np.ones((1, n, 1)), np.array([float(n)]))
    cap = [Guardrail("cap", "contacts", limit=150)]
    choice, report = solve_block(block, cap, SolverOptions(lp_customers=50))
    assert int((choice == 0).sum()) == 150
    assert report.primal == pytest.approx(150.0)
