"""Guardrailed allocation of offers: Lagrangian dual decomposition with a certified gap.

problem (guardrails, option blocks), dual (numpy core and driver methods),
repair (primal recovery), exact (HiGHS reference), solver (the driver of a solve),
distributed (the Spark edge), frontier (value against budget).
"""

from causal_targeting.allocation.problem import (
    DoNoHarm,
    Guardrail,
    OptionBlock,
    option_block,
)
from causal_targeting.allocation.report import SolveReport
from causal_targeting.allocation.solver import allocation_frame, solve_block

__all__ = [
    "DoNoHarm",
    "Guardrail",
    "OptionBlock",
    "SolveReport",
    "allocation_frame",
    "option_block",
    "solve_block",
]
