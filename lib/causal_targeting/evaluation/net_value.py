"""Net value in the allocator's units, per holdout row, for off-policy evaluation.

The allocator maximizes sum_i v_i,pi(i) with v_ik = sum_o w_o tau_o,k(x_i) - c_k(x_i). The
policy-value estimators need the same quantity as an outcome level:

    realized  value_i = sum_o w_o Y_o,i - c_{T_i}(realized)
    predicted m_k(x)  = sum_o w_o mu_o,k(x) - c_k(x)            for every arm k, c_control = 0

where c_k = fixed_k + sum_t rate_t,k * s_t,k. A variable cost term whose score column is a
prediction ``mu__{o}__{arm}`` is realized from the row's own outcome Y_o (the reward is paid
when the customer actually redeems); any other term is charged at its predicted value. On
simulator data, ``true_mu__{o}__{arm}`` columns give the true m_k the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from causal_targeting.value import ValueModel

VALUE = "value"
"""The name of the net-value outcome: column ``value``, predictions ``mu__value__{arm}``."""
PREDICTION = re.compile(r"^mu__(?P<outcome>.+)__\{arm\}$")


def cost_of(frame: pd.DataFrame, model: ValueModel, arm: str, prefix: str = "mu") -> np.ndarray:
    """Expected cost c_k of ``arm`` per row, its score terms read with column ``prefix``."""
    cost = np.full(len(frame), model.fixed_cost_for(arm))
    for term in model.variable_costs:
        column = term.column.format(arm=arm)
        if prefix != "mu" and column.startswith("mu__"):
            column = f"{prefix}__{column.removeprefix('mu__')}"
        cost = cost + term.rate_for(arm) * frame[column].to_numpy(dtype=float)
    return cost


def predicted_net_values(
    frame: pd.DataFrame, model: ValueModel, arms: Sequence[str], control: str, prefix: str = "mu"
) -> pd.DataFrame:
    """``{prefix}__value__{arm}`` = sum_o w_o {prefix}__{o}__{arm} - c_arm for every arm."""
    columns = {}
    for arm in [control, *arms]:
        level = sum(
            weight * frame[f"{prefix}__{outcome}__{arm}"].to_numpy(dtype=float)
            for outcome, weight in model.weights.items()
        )
        cost = 0.0 if arm == control else cost_of(frame, model, arm, prefix)
        columns[f"{prefix}__{VALUE}__{arm}"] = level - cost
    return pd.DataFrame(columns, index=frame.index)


def realized_net_value(
    frame: pd.DataFrame, model: ValueModel, arms: Sequence[str], control: str
) -> np.ndarray:
    """``value_i`` = sum_o w_o Y_o,i - c_{T_i}, variable costs realized where they can be."""
    treatment = frame["treatment"].to_numpy()
    value = sum(
        weight * frame[outcome].to_numpy(dtype=float) for outcome, weight in model.weights.items()
    )
    value = np.asarray(value, dtype=float).copy()
    for arm in arms:
        rows = treatment == arm
        cost = np.full(int(rows.sum()), model.fixed_cost_for(arm))
        for term in model.variable_costs:
            realized = PREDICTION.match(term.column)
            column = realized["outcome"] if realized else term.column.format(arm=arm)
            cost = cost + term.rate_for(arm) * frame.loc[rows, column].to_numpy(dtype=float)
        value[rows] -= cost
    return value


def with_net_value(
    frame: pd.DataFrame, model: ValueModel, arms: Sequence[str], control: str
) -> pd.DataFrame:
    """``frame`` with the ``value`` outcome, ``mu__value__{arm}`` and, on simulator data,
    ``true_mu__value__{arm}`` for every arm."""
    parts = [frame, predicted_net_values(frame, model, arms, control)]
    truth = [f"true_mu__{o}__{a}" for o in model.weights for a in [control, *arms]]
    if all(column in frame.columns for column in truth):
        parts.append(predicted_net_values(frame, model, arms, control, prefix="true_mu"))
    combined = pd.concat(parts, axis=1)
    combined[VALUE] = realized_net_value(frame, model, arms, control)
    return combined


def policy_cost(costs: pd.DataFrame, policy: Sequence[str] | np.ndarray | pd.DataFrame) -> float:
    """Total expected offer cost of ``policy`` on the rows: sum_i c_pi(i)(x_i), no offer free
    (sum_i sum_k pi_ik c_k(x_i) for a stochastic policy).

    Args:
        costs: ``cost__{arm}`` per row for the offers (as :func:`causal_targeting.value.
            cost_frame` returns them); an arm without a column (the control) costs 0.
        policy: shape (n,), one arm name per row; or a frame of each row's probability of
            each arm, one column per arm.
    """
    if isinstance(policy, pd.DataFrame):
        shares = policy.reindex(columns=[c.removeprefix("cost__") for c in costs], fill_value=0.0)
        return float((shares.to_numpy(dtype=float) * costs.to_numpy(dtype=float)).sum())
    given = np.asarray(policy, dtype=object)
    picked = [
        costs[f"cost__{arm}"].to_numpy()[given == arm]
        for arm in dict.fromkeys(given)
        if f"cost__{arm}" in costs
    ]
    return float(sum(part.sum() for part in picked))
