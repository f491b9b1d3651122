"""The allocation problem: guardrails and the option block built from scores.

Customer i, offer k (one of the non-control arms; "no offer" is implicit, with value 0 and
usage 0), net value v_ik and usage a_jik of guardrail j:

    maximize   sum_i sum_k x_ik v_ik
    subject to sum_k x_ik <= 1 for each i;   sum_i sum_k a_jik x_ik <= b_j for each j

Every guardrail becomes one row "sum a_jik x_ik <= b_j": a floor or a minimum ("at least F")
becomes the negated row "sum (-r_ik) x_ik <= -F". Per-customer rules (eligibility columns,
"do no harm") remove options before solving: an unavailable option has value -inf.

The net value v_ik comes from the value model (:mod:`causal_targeting.value`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from causal_targeting.errors import ConfigError
from causal_targeting.value import (
    ValueModel,
    cost_frame,
    numeric_column,
    require_columns,
    values_frame,
)

GuardrailKind = Literal[
    "budget", "revenue_floor", "contacts", "offer_cap", "offer_min", "segment_cap"
]
KINDS: tuple[str, ...] = (
    "budget", "revenue_floor", "contacts", "offer_cap", "offer_min", "segment_cap"
)
FLOOR_KINDS = frozenset({"revenue_floor", "offer_min"})
COUNT_KINDS = frozenset({"contacts", "offer_cap", "offer_min", "segment_cap"})


@dataclass(frozen=True)
class DoNoHarm:
    """Offer k is an option for customer i only if a lower bound of its gain is above zero.

    On an outcome (``on="outcome"``), in the outcome's better direction (``sign`` -1 where
    less is better):   lower_ik = sign * tau__{outcome}__{k} - z * se_ik - margin.
    On the net value (``on="value"``), with the value model's weights w_o and v_ik its value:
                       lower_ik = v_ik - z * sqrt(sum_o (w_o se_o,ik)^2) - margin,
    the standard error of the weighted effects taken as independent across outcomes. se is
    read from ``se_column.format(outcome=..., arm=k)`` when ``z > 0`` (the model's
    uncertainty); the margin is a safety margin in the outcome's (or the value's) units.
    """

    outcome: str | None = None
    margin: float = 0.0
    z: float = 0.0
    se_column: str = "tau_se__{outcome}__{arm}"
    sign: float = 1.0
    on: Literal["outcome", "value"] = "outcome"

    def weights(self, value_model: ValueModel | None) -> dict[str, float]:
        """Outcome -> coefficient of its effect in the bound (the value model's, on value)."""
        if self.on == "value":
            if value_model is None:
                raise ConfigError("do_no_harm on value needs the value model")
            return dict(value_model.weights)
        return {str(self.outcome): self.sign}

    def columns(self, arms: Sequence[str], value_model: ValueModel | None) -> set[str]:
        """The score columns the rule reads."""
        outcomes = self.weights(value_model)
        wanted = {f"tau__{o}__{a}" for o in outcomes for a in arms}
        if self.z > 0:
            wanted |= {self.se_column.format(outcome=o, arm=a) for o in outcomes for a in arms}
        return wanted


@dataclass(frozen=True)
class Guardrail:
    """One named guardrail. Exactly one of ``limit`` (an amount or a count) or ``share``.

    kind           row "sum a x <= b"                         share is a share of
    budget         expected cost <= limit                     the unconstrained policy's cost
    revenue_floor  sum tau__{outcome}__k >= limit             the unconstrained policy's revenue
    contacts       offers sent <= limit                       the customers (the base)
    offer_cap      offers of ``arm`` <= limit                 the customers
    offer_min      offers of ``arm`` >= limit                 the customers
    segment_cap    offers to ``segment_column == segment``    the customers of the segment
                   (of ``arm`` if given) <= limit
    """

    name: str
    kind: GuardrailKind
    limit: float | None = None
    share: float | None = None
    arm: str | None = None
    outcome: str | None = None
    segment_column: str | None = None
    segment: str | int | None = None

    def __post_init__(self) -> None:
        where = f"guardrail '{self.name}'"
        if self.kind not in KINDS:
            raise ConfigError(f"{where}: kind '{self.kind}' is not one of {', '.join(KINDS)}")
        if (self.limit is None) == (self.share is None):
            raise ConfigError(f"{where}: give exactly one of limit (an amount) or share")
        if self.share is not None and self.share < 0:
            raise ConfigError(f"{where}: share must be >= 0 (got {self.share})")
        if self.kind in ("offer_cap", "offer_min") and self.arm is None:
            raise ConfigError(f"{where}: kind {self.kind} needs the arm it limits")
        if self.kind == "revenue_floor" and self.outcome is None:
            raise ConfigError(f"{where}: kind revenue_floor needs the revenue outcome")
        if self.kind == "segment_cap" and (self.segment_column is None or self.segment is None):
            raise ConfigError(f"{where}: kind segment_cap needs segment_column and segment")

    @property
    def sign(self) -> float:
        """+1 for caps ("at most"), -1 for floors and minimums ("at least")."""
        return -1.0 if self.kind in FLOOR_KINDS else 1.0


@dataclass(frozen=True)
class OptionBlock:
    """The options of a block of customers, in arrays (the numpy core's input).

    values: (n, K) net value v_ik; ``-inf`` where option k is not available to customer i.
    usage: (J, n, K) signed usage a_jik of guardrail row j ("sum a x <= b").
    population: (J,) customers each row counts (its segment, else all): the base of a share.
    """

    values: np.ndarray
    usage: np.ndarray
    population: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def customers(self) -> int:
        return int(self.values.shape[0])

    @property
    def available(self) -> np.ndarray:
        """(n, K) boolean: option k is available to customer i."""
        return np.isfinite(self.values)

    def subset(self, rows: np.ndarray) -> OptionBlock:
        """The block restricted to customers ``rows`` (indices or a boolean mask)."""
        values = self.values[rows]
        usage = self.usage[:, rows]
        return OptionBlock(values, usage, np.full(len(self.population), np.nan))


def available_options(
    scores: pd.DataFrame,
    arms: Sequence[str],
    do_no_harm: DoNoHarm | None = None,
    value_model: ValueModel | None = None,
) -> np.ndarray:
    """(n, K) boolean: arm k is eligible (``eligible__{arm}``, null = not) and does no harm.

    A missing ``eligible__{arm}`` column means everyone is eligible for that arm;
    ``value_model`` is needed by a do-no-harm rule on the net value.
    """
    available = np.ones((len(scores), len(arms)), dtype=bool)
    for k, arm in enumerate(arms):
        column = f"eligible__{arm}"
        if column in scores.columns:
            flags = scores[column].astype("boolean").fillna(False)
            available[:, k] = flags.to_numpy(dtype=bool)
    if do_no_harm is None:
        return available
    weights = do_no_harm.weights(value_model)
    tau_columns = [f"tau__{o}__{a}" for o in weights for a in arms]
    require_columns(scores, tau_columns, "score the do-no-harm outcomes for every arm")
    if do_no_harm.on == "value":
        gain = values_frame(scores, value_model, arms).to_numpy(dtype=np.float64)
    else:
        gain = np.column_stack(
            [do_no_harm.sign * numeric_column(scores, f"tau__{do_no_harm.outcome}__{a}")
             for a in arms]
        )
    for k, arm in enumerate(arms):
        lower = gain[:, k] - do_no_harm.margin
        if do_no_harm.z > 0:
            se_columns = [do_no_harm.se_column.format(outcome=o, arm=arm) for o in weights]
            require_columns(
                scores, se_columns, "score the effect's standard error, or set do_no_harm.z=0"
            )
            variance = sum((w * numeric_column(scores, c)) ** 2
                           for w, c in zip(weights.values(), se_columns, strict=True))
            lower = lower - do_no_harm.z * np.sqrt(variance)
        available[:, k] &= lower > 0
    return available


def _segment_members(scores: pd.DataFrame, guardrail: Guardrail) -> np.ndarray:
    column = str(guardrail.segment_column)
    require_columns(scores, [column], f"add the segment column of guardrail '{guardrail.name}'")
    return (scores[column].astype(str) == str(guardrail.segment)).to_numpy()


def guardrail_usage(
    scores: pd.DataFrame, guardrail: Guardrail, arms: Sequence[str], costs: np.ndarray
) -> np.ndarray:
    """(n, K) signed usage a_ik of one guardrail row (``costs`` is the (n, K) expected cost)."""
    n, k = len(scores), len(arms)
    if guardrail.kind == "budget":
        return costs
    if guardrail.kind == "revenue_floor":
        columns = [f"tau__{guardrail.outcome}__{arm}" for arm in arms]
        require_columns(scores, columns, f"score the revenue outcome of '{guardrail.name}'")
        return -np.column_stack([numeric_column(scores, c) for c in columns]).reshape(n, k)
    if guardrail.arm is not None and guardrail.arm not in arms:
        raise ConfigError(
            f"guardrail '{guardrail.name}': arm '{guardrail.arm}' is not one of the offers "
            f"{', '.join(arms)}"
        )
    arm_mask = np.array([guardrail.arm in (None, arm) for arm in arms], dtype=np.float64)
    usage = np.broadcast_to(arm_mask, (n, k)).copy()
    if guardrail.kind == "segment_cap":
        usage *= _segment_members(scores, guardrail)[:, None]
    return guardrail.sign * usage


def row_population(scores: pd.DataFrame, guardrail: Guardrail) -> float:
    """Customers a guardrail row counts: the segment's members, else everyone."""
    if guardrail.kind == "segment_cap":
        return float(_segment_members(scores, guardrail).sum())
    return float(len(scores))


def option_block(
    scores: pd.DataFrame,
    value_model: ValueModel,
    guardrails: Sequence[Guardrail],
    arms: Sequence[str],
    do_no_harm: DoNoHarm | None = None,
) -> OptionBlock:
    """Build the option arrays of a block of customers from their scores.

    Raises DataContractError naming a missing or null score column, ConfigError for a
    guardrail that names an unknown arm.
    """
    values = values_frame(scores, value_model, arms).to_numpy(dtype=np.float64)
    costs = cost_frame(scores, value_model, arms).to_numpy(dtype=np.float64)
    values = np.where(available_options(scores, arms, do_no_harm, value_model), values, -np.inf)
    usage = np.stack([guardrail_usage(scores, g, arms, costs) for g in guardrails]) if guardrails \
        else np.zeros((0, len(scores), len(arms)))
    population = np.array([row_population(scores, g) for g in guardrails], dtype=np.float64)
    return OptionBlock(values.reshape(len(scores), len(arms)), usage, population)


def row_limits(
    guardrails: Sequence[Guardrail], unconstrained_usage: np.ndarray, population: np.ndarray
) -> np.ndarray:
    """Right-hand sides b_j of the rows "sum a x <= b", with shares resolved.

    A share of a budget or revenue floor multiplies the unconstrained policy's (signed) usage
    of the row; a share of a count multiplies the customers the row counts.
    """
    limits = np.empty(len(guardrails))
    for j, guardrail in enumerate(guardrails):
        if guardrail.limit is not None:
            limits[j] = guardrail.sign * guardrail.limit
        elif guardrail.kind in COUNT_KINDS:
            limits[j] = guardrail.sign * float(guardrail.share) * population[j]
        else:
            limits[j] = float(guardrail.share) * unconstrained_usage[j]
    return limits


def check_names(guardrails: Sequence[Guardrail]) -> None:
    """Refuse two guardrails with the same name (the name keys every report and column)."""
    names = [g.name for g in guardrails]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"guardrail name '{name}' is used twice; give each a unique name")
