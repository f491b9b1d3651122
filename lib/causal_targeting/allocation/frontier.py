"""The value-budget frontier: the optimal allocation's value as the budget varies.

Each point is one solve with the budget guardrail's limit set to a grid value and every other
guardrail as configured; its shadow price is the slope of the frontier there (the value of one
more unit of budget).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from causal_targeting.allocation.problem import Guardrail
from causal_targeting.allocation.report import SolveReport
from causal_targeting.errors import ConfigError, InfeasibleError

Solve = Callable[[Sequence[Guardrail]], SolveReport]


def budget_guardrail(guardrails: Sequence[Guardrail], name: str | None = None) -> int:
    """Index of the budget guardrail (the one named ``name``, else the only budget)."""
    budgets = [j for j, g in enumerate(guardrails) if g.kind == "budget"
               and (name is None or g.name == name)]
    if len(budgets) != 1:
        raise ConfigError(
            "the frontier needs exactly one budget guardrail"
            + (f" named '{name}'" if name else "") + f", found {len(budgets)}; add or name one"
        )
    return budgets[0]


def frontier(
    solve: Solve,
    guardrails: Sequence[Guardrail],
    budgets: Sequence[float],
    budget_name: str | None = None,
) -> pd.DataFrame:
    """Solve once per budget: columns budget, value, dual_bound, gap, offers, shadow_price,
    feasible (False where the other guardrails cannot be met at that budget) and infeasible (the
    guardrails at fault there, comma-separated; empty where feasible)."""
    index = budget_guardrail(guardrails, budget_name)
    rows = []
    for budget in budgets:
        changed = list(guardrails)
        changed[index] = replace(guardrails[index], limit=float(budget), share=None)
        try:
            report = solve(changed)
        except InfeasibleError as exc:
            rows.append({"budget": float(budget), "value": np.nan, "dual_bound": np.nan,
                         "gap": np.nan, "offers": 0, "shadow_price": np.nan, "feasible": False,
                         "infeasible": ", ".join(exc.guardrails)})
            continue
        rows.append({
            "budget": float(budget),
            "value": report.primal,
            "dual_bound": report.dual_bound,
            "gap": report.gap,
            "offers": report.offers,
            "shadow_price": report.guardrails[index].shadow_price,
            "feasible": True,
            "infeasible": "",
        })
    return pd.DataFrame(rows)


def budget_grid(unconstrained_cost: float, points: int = 10) -> np.ndarray:
    """``points`` budgets from a tenth of the unconstrained policy's cost up to all of it."""
    return np.linspace(0.1, 1.0, points) * unconstrained_cost


def plot_frontier(frame: pd.DataFrame, path: str | Path) -> Path:
    """Plot value (and the dual bound) against budget to a PNG at ``path``."""
    from matplotlib.figure import Figure

    from causal_targeting.plots import save_png

    figure = Figure(figsize=(6, 4), layout="constrained")
    axis = figure.subplots()
    feasible = frame[frame["feasible"]]
    axis.plot(feasible["budget"], feasible["value"], marker="o", label="allocation value")
    axis.plot(feasible["budget"], feasible["dual_bound"], linestyle="--", label="dual bound")
    axis.set_xlabel("budget (expected cost)")
    axis.set_ylabel("expected incremental value")
    axis.set_title("Value against budget")
    axis.legend()
    return save_png(figure, path)
