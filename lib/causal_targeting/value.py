"""The value model: what one customer's offer is worth, net of what it costs.

Per customer i and arm k (score columns follow the contract: ``tau__{outcome}__{arm}`` is the
effect against control, ``mu__{outcome}__{arm}`` the predicted outcome):

    cost_ik  = fixed_cost_k + sum_terms rate_k * score[column.format(arm=k)]
    value_ik = sum_outcomes weight_o * tau__{o}__{k}  -  cost_ik

Allocation, coarsening and evaluation all value offers with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from causal_targeting.errors import ConfigError, DataContractError

SCORES = "scores"


def _per_arm(setting: float | Mapping[str, float], arm: str, what: str) -> float:
    """The value of a scalar-or-per-arm setting for ``arm``."""
    if isinstance(setting, Mapping):
        if arm not in setting:
            raise ConfigError(f"{what} has no entry for arm '{arm}'; give one for every arm")
        return float(setting[arm])
    return float(setting)


@dataclass(frozen=True)
class VariableCost:
    """A cost term proportional to a score: ``rate_k * score[column.format(arm=k)]``.

    For example a reward paid on redemption, ``VariableCost("mu__redemption__{arm}", 5.0)``, or
    a discount share of spend, ``VariableCost("mu__spend__{arm}", {"10% off": 0.10})``.
    """

    column: str
    rate: float | Mapping[str, float]

    def rate_for(self, arm: str) -> float:
        return _per_arm(self.rate, arm, f"variable cost rate of '{self.column}'")


@dataclass(frozen=True)
class ValueModel:
    """Net value of each arm: weighted effects minus the expected cost of the contact.

    weights: outcome -> weight on ``tau__{outcome}__{arm}`` (e.g. {"spend": 1.0}).
    fixed_cost: cost per contact, one number or one per arm.
    variable_costs: cost terms proportional to score columns.
    """

    weights: Mapping[str, float]
    fixed_cost: float | Mapping[str, float] = 0.0
    variable_costs: tuple[VariableCost, ...] = ()

    def fixed_cost_for(self, arm: str) -> float:
        return _per_arm(self.fixed_cost, arm, "fixed_cost")


def require_columns(frame: pd.DataFrame, columns: Sequence[str], fix: str) -> None:
    """Raise DataContractError naming the first column of ``columns`` missing from ``frame``."""
    for column in columns:
        if column not in frame.columns:
            raise DataContractError(SCORES, "the column is missing", fix, column=column)


def numeric_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A score column as float64, refusing nulls."""
    values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(values).any():
        raise DataContractError(
            SCORES, "the column has null values", "score every customer before allocating",
            column=column,
        )
    return values


def cost_frame(scores: pd.DataFrame, value_model: ValueModel, arms: Sequence[str]) -> pd.DataFrame:
    """Expected cost of each arm per customer, columns ``cost__{arm}``."""
    columns = [term.column.format(arm=arm) for term in value_model.variable_costs for arm in arms]
    require_columns(scores, columns, "score the columns the value model's costs name")
    costs = {}
    for arm in arms:
        cost = np.full(len(scores), value_model.fixed_cost_for(arm))
        for term in value_model.variable_costs:
            cost = cost + term.rate_for(arm) * numeric_column(scores, term.column.format(arm=arm))
        costs[f"cost__{arm}"] = cost
    return pd.DataFrame(costs, index=scores.index)


def values_frame(
    scores: pd.DataFrame, value_model: ValueModel, arms: Sequence[str]
) -> pd.DataFrame:
    """Net value of each arm per customer, columns ``value__{arm}`` (before eligibility)."""
    columns = [f"tau__{outcome}__{arm}" for outcome in value_model.weights for arm in arms]
    require_columns(scores, columns, "score every outcome the value model weights")
    costs = cost_frame(scores, value_model, arms)
    values = {}
    for arm in arms:
        gain = np.zeros(len(scores))
        for outcome, weight in value_model.weights.items():
            gain = gain + float(weight) * numeric_column(scores, f"tau__{outcome}__{arm}")
        values[f"value__{arm}"] = gain - costs[f"cost__{arm}"].to_numpy()
    return pd.DataFrame(values, index=scores.index)


def net_value_policy(
    scores: pd.DataFrame, value_model: ValueModel, arms: Sequence[str], control: str
) -> np.ndarray:
    """Each row's arm of largest predicted net value ``value__{arm}``
    (:func:`values_frame`), or ``control`` where no arm's value is > 0."""
    values = values_frame(scores, value_model, arms).to_numpy(dtype=float)
    best = values.argmax(axis=1)
    chosen = np.asarray(arms, dtype=object)[best]
    return np.where(values[np.arange(len(scores)), best] > 0, chosen, control)
