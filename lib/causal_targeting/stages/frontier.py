"""The frontier stage: the allocation's value against the budget, one certified solve each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from causal_targeting.data import manifest
from causal_targeting.data.io import write_text
from causal_targeting.decision import (
    allocation_input,
    allocation_problem,
    chosen_offers,
    solver_options,
)
from causal_targeting.layout import frontier_paths
from causal_targeting.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from causal_targeting.allocation.problem import Guardrail
    from causal_targeting.allocation.report import SolveReport
    from causal_targeting.config import Config


@dataclass(frozen=True)
class FrontierResult:
    """The value-budget frontier and where it was written."""

    frame: pd.DataFrame
    paths: dict[str, str]


def frontier(cfg: Config, spark: SparkSession | None = None) -> FrontierResult:
    """The allocation's value against the budget: one certified solve per budget of the grid.

    The customers' options are built and cached on the executors once; each budget is a dual
    solve over that cache with the other guardrails as configured. The grid is
    ``allocation.frontier_budgets``, else ten budgets up to the unconstrained policy's cost.
    """
    from causal_targeting.allocation.distributed import cached_blocks, spark_finisher, spark_oracle
    from causal_targeting.allocation.frontier import budget_grid, budget_guardrail, plot_frontier
    from causal_targeting.allocation.frontier import frontier as frontier_frame
    from causal_targeting.allocation.solver import solve_dual

    spark = spark or get_spark(cfg.spark)
    started = manifest.begin(cfg, "frontier")
    value_model, guardrails, do_no_harm = allocation_problem(cfg)
    offers = chosen_offers(cfg)
    budget = budget_guardrail(guardrails)
    blocks = cached_blocks(
        allocation_input(cfg, spark, offers), value_model, guardrails, offers, do_no_harm
    )
    try:
        oracle, finisher = spark_oracle(blocks, len(guardrails)), spark_finisher(blocks)

        def solve_at(changed: list[Guardrail]) -> SolveReport:
            return solve_dual(oracle, finisher, changed, solver_options(cfg))[1]

        unconstrained = float(oracle(np.zeros(len(guardrails))).usage[budget])
        budgets = cfg.allocation.frontier_budgets or list(budget_grid(unconstrained))
        frame = frontier_frame(solve_at, guardrails, budgets)
    finally:
        blocks.unpersist()
    paths = frontier_paths(cfg)
    write_text(frame.to_csv(index=False), paths["frontier"])
    plot_frontier(frame, paths["plot"])
    manifest.finish(cfg, started)
    return FrontierResult(frame, paths)
