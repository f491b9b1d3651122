"""Baseline policies to compare our targeting policy against, at its contact count and budget.

A policy is an array with one arm name per holdout row (the control arm = no offer), or, for
a policy that chooses customers at random (the two baselines below; ours when the safeguard
allocated a static policy the guardrails stop short), a frame of each row's probability of each
arm (:data:`~causal_targeting.evaluation.policy_value.Policy`): they are valued by their
expectation over the random choice, which is the same policy's value without the noise of one
draw of rows (the paired intervals against them narrow accordingly). The budgeted baselines
contact customers in a baseline-specific order and stop at the first customer who would exceed
either the contact count or the offer budget of our policy:

- ``propensity``: the best-on-average offer to the customers with the highest predicted outcome
  regardless of treatment (by default ``mu__{outcome}__{control}``), the usual practice;
- ``static_best``: the best-on-average offer to ``m`` randomly chosen customers of ``n``, the
  most the contacts and budget allow: each row gets it with probability ``m / n``;
- ``random``: our policy's own offers, shuffled among the customers (the same offers, hence
  exactly the same contacts and, with per-arm costs, the same budget: what targeting adds over
  chance): each row gets arm ``k`` with probability ``n_k / n``, ``n_k`` our rows given ``k``;
- ``treat_all``: the best-on-average offer to everyone (no contact or budget limit);
- ``treat_none``: nobody is contacted.

The best-on-average offer maximizes ``mean_i(m_k(x_i) - m_control(x_i))`` over the non-control
arms, ``m_k`` the predicted net value of arm ``k`` (``mu__{outcome}__{k}``, its cost already
taken off: :mod:`causal_targeting.evaluation.net_value`), from the model's predictions on the
rows (not from their outcomes). Costs only bound the budgeted baselines' spending.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from causal_targeting.errors import DataContractError, refuse_missing_columns
from causal_targeting.evaluation.policy_value import (
    HOLDOUT_TABLE,
    Policy,
    expected_contacts,
    expected_cost,
    policy_array,
    stochastic_policy,
)

BASELINES = ("propensity", "static_best", "random", "treat_all", "treat_none")


def best_average_arm(net: pd.DataFrame, *, control: str) -> str:
    """Non-control arm (a column of ``net``, predicted net values per row and arm) of highest
    mean gain over ``control``."""
    return str(net.drop(columns=control).sub(net[control], axis=0).mean().idxmax())


def prefix_length(
    offers: np.ndarray, *, max_contacts: int, budget: float, costs: Mapping[str, float]
) -> int:
    """The largest ``m <= max_contacts`` with ``sum_{j < m} c(offers[j]) <= budget``, up to
    the rounding of the sums: a running sum of n costs may be off by about n eps times its
    value (one pass adds one rounding a term), while the budget, summed pairwise from the
    policy's costs, is nearly exact; without that allowance a policy's own spend (150,000
    contacts at 0.1) lets its baselines reach one contact fewer. The allowance stays below
    half the smallest positive cost, so it never buys a contact."""
    each = np.array([float(costs.get(a, 0.0)) for a in offers])
    spend = np.cumsum(each)
    rounding = max(1e-12, len(spend) * np.finfo(float).eps) * abs(budget)
    if (each > 0).any():
        rounding = min(rounding, 0.5 * each[each > 0].min())
    return min(max_contacts, int(np.searchsorted(spend, budget + rounding, side="right")))


def fill_in_order(
    order: np.ndarray,
    offers: np.ndarray,
    *,
    n_rows: int,
    control: str,
    max_contacts: int,
    budget: float,
    costs: Mapping[str, float],
) -> np.ndarray:
    """Policy that gives ``offers[j]`` to row ``order[j]`` for the longest prefix within limits.

    The prefix is :func:`prefix_length`'s; every other row gets ``control``.
    """
    m = prefix_length(offers, max_contacts=max_contacts, budget=budget, costs=costs)
    policy = np.full(n_rows, control, dtype=object)
    policy[order[:m]] = offers[:m]
    return policy


def baseline_policies(
    holdout: pd.DataFrame,
    policy: Policy,
    *,
    outcome: str,
    arms: Sequence[str],
    control: str,
    costs: Mapping[str, float],
    response_col: str | None = None,
) -> dict[str, np.ndarray | pd.DataFrame]:
    """The baselines of the module docstring at ``policy``'s contact count and offer budget.

    Args:
        holdout: holdout rows with ``mu__{outcome}__{arm}``, the predicted net value of each
            arm (cost taken off), for every arm (and ``response_col``).
        policy: our policy, one arm name per row, or each row's arm probabilities (a
            stochastic policy: its contacts, budget and offer shares are expectations).
        outcome: outcome whose predictions rank customers and pick the best offer.
        arms: every arm, including ``control``.
        costs: arm -> cost per customer given the arm (missing arms cost 0): the budget of
            ``policy`` that the budgeted baselines may spend.
        response_col: column ranking customers for ``propensity``; default
            ``mu__{outcome}__{control}``.

    Returns:
        Baseline name -> arm name per row, or for ``static_best`` and ``random`` the frame of
        each row's arm probabilities, for the names in ``BASELINES``.
    """
    mu_cols = {a: f"mu__{outcome}__{a}" for a in arms}
    response_col = response_col or mu_cols[control]
    refuse_missing_columns(
        holdout.columns,
        [*mu_cols.values(), response_col],
        HOLDOUT_TABLE,
        "score the holdout rows with the model",
    )
    ordered = [control, *[a for a in arms if a != control]]
    given = policy_array(policy, ordered, "policy")
    n = len(holdout)
    if len(given) != n:
        raise DataContractError(
            HOLDOUT_TABLE, f"policy has {len(given)} arms for {n} rows", "give one arm per row"
        )
    best = best_average_arm(
        holdout[list(mu_cols.values())].set_axis(list(mu_cols), axis=1), control=control
    )
    limits = {
        "n_rows": n,
        "control": control,
        "max_contacts": expected_contacts(given),
        "budget": expected_cost(given, np.array([float(costs.get(a, 0.0)) for a in ordered])),
        "costs": costs,
    }
    counts = given.sum(axis=0) if given.ndim == 2 else np.bincount(given, minlength=len(ordered))
    shares = counts / n
    ranked = np.argsort(-holdout[response_col].to_numpy(dtype=float), kind="stable")
    everyone = np.full(n, best, dtype=object)
    reached = prefix_length(
        everyone, max_contacts=limits["max_contacts"], budget=limits["budget"], costs=costs
    )
    return {
        "propensity": fill_in_order(ranked, everyone, **limits),
        "static_best": stochastic_policy({best: reached / n, control: 1 - reached / n}, n),
        "random": stochastic_policy(
            {arm: share for arm, share in zip(ordered, shares, strict=True) if share > 0}, n
        ),
        "treat_all": np.full(n, best, dtype=object),
        "treat_none": np.full(n, control, dtype=object),
    }
