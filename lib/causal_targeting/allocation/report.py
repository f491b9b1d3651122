"""The solve report: values, certified gap, passes, and each guardrail in its own units.

A guardrail row is binding when its slack is at most ``BINDING_SLACK`` of its limit, not when
its shadow price is positive: a price is a rounded solver output (1e-16 on a row with ample
slack), the slack is what the allocation did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from causal_targeting.allocation.problem import Guardrail

BINDING_SLACK = 1e-3
"""A row is binding when its slack is at most this share of its limit (a price is a rounded
solver output and may be 1e-16 on a row with ample slack; the slack is what the allocation did)."""


@dataclass(frozen=True)
class GuardrailReport:
    """One guardrail after the solve, in its own units (floors as positive amounts).

    shadow_price: the change of the optimal value per unit more of the limit (negative for a
    floor or a minimum: raising it costs value; a price whose whole limit is worth less than
    1e-9 of the value is solver round-off, reported as 0); binding: the usage is within
    ``BINDING_SLACK`` of the limit, relative to max(|limit|, 1)."""

    name: str
    kind: str
    limit: float
    usage: float
    shadow_price: float
    binding: bool


@dataclass(frozen=True)
class SolveReport:
    """The solve report: values, certified gap, passes over the data, time, prices."""

    status: str
    method: str
    primal: float
    dual_bound: float
    gap: float
    tolerance: float
    passes: int
    seconds: float
    customers: int
    offers: int
    guardrails: tuple[GuardrailReport, ...] = ()
    prices: tuple[float, ...] = ()
    lam_history: tuple[tuple[float, ...], ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary."""
        return asdict(self)


def solve_status(gap: float, relaxed_gap: float, tolerance: float) -> str:
    """"optimal": certified gap <= tolerance; "integrality": the LP is solved to tolerance and
    what is left is rounding its few fractional customers (small instances); else
    "max_passes"."""
    if gap <= tolerance:
        return "optimal"
    return "integrality" if relaxed_gap <= tolerance else "max_passes"


def binding_rows(usage: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """(J,) boolean: the slack b_j - U_j is at most BINDING_SLACK * max(|b_j|, 1)."""
    return limits - usage <= BINDING_SLACK * np.maximum(np.abs(limits), 1.0)


def guardrail_reports(
    guardrails: Sequence[Guardrail], limits: np.ndarray, usage: np.ndarray, prices: np.ndarray,
    value: float,
) -> tuple[GuardrailReport, ...]:
    """Each row in its guardrail's units (+ 0.0 turns a floor's -0.0 into 0.0); round-off prices
    (price * max(|b_j|, 1) <= 1e-9 * max(|value|, 1)) as 0."""
    binding = binding_rows(usage, limits)
    worth = prices * np.maximum(np.abs(limits), 1.0)
    prices = np.where(worth <= 1e-9 * max(abs(value), 1.0), 0.0, prices)
    return tuple(
        GuardrailReport(
            name=g.name,
            kind=g.kind,
            limit=float(g.sign * limits[j]) + 0.0,
            usage=float(g.sign * usage[j]) + 0.0,
            shadow_price=float(g.sign * prices[j]) + 0.0,
            binding=bool(binding[j]),
        )
        for j, g in enumerate(guardrails)
    )


