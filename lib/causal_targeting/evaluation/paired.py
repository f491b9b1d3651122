"""Paired comparison of two policies valued on the same rows: difference, bootstrap CI, p-value.

For policies A and B valued on the same n rows with the per-row terms of
:mod:`causal_targeting.evaluation.policy_value` (IPS, SNIPS, DR), the estimated difference is
``D = V_hat(A) - V_hat(B)``. Its distribution is approximated by the paired Poisson bootstrap:
replicate ``b`` gives every row one Poisson(1) weight ``W_bi`` used for both policies, so
``D_b = V_hat_b(A) - V_hat_b(B)`` keeps the covariance of the two estimates (they share the
rows, so the difference is far more precise than two independent intervals suggest). Reported:

    CI       percentile interval [q_{alpha/2}(D_b), q_{1-alpha/2}(D_b)]
    p-value  two-sided bootstrap p = min(1, 2 min(1 + #{D_b <= 0}, 1 + #{D_b >= 0}) / (B + 1))

(B replicates; the count of replicates on the far side of 0, plus one, over B + 1: a p-value
estimated from B draws is never 0, and one that none of 1,000 draws contradicts reads about
0.002, not "< 1e-300": Phipson & Smyth, "Permutation p-values should never be zero", 2010),
and beside them the share of rows on which A and B choose the same arm (1: the same policy on
these rows, so D_b = 0 in every replicate and the comparison says nothing about targeting); for
stochastic policies its expectation, ``mean_i sum_k pi^A_ik pi^B_ik``, or 1 when their
probabilities are equal on every row (the same policy, as when the safeguard allocates a static
policy the guardrails stop short and the ``static_best`` baseline is that policy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from causal_targeting.evaluation.policy_value import (
    ESTIMATORS,
    Policy,
    arm_probabilities,
    bootstrap_clusters,
    estimator_inputs,
    paired_estimates,
    policy_array,
)

DIFFERENCE_COLUMNS = [
    "policy", "baseline", "estimator", "difference", "ci_low", "ci_high", "p_value",
    "same_decisions",
]


def tail_share(count: int, draws: int) -> float:
    """The share of ``draws`` replicates at or beyond a value, ``count`` of them: (1 + count) /
    (1 + draws), never 0 (module doc)."""
    return (1 + count) / (1 + draws)


def bootstrap_p_value(draws: np.ndarray) -> float:
    """Two-sided bootstrap p-value of ``difference = 0`` from the draws of the difference
    (module doc; NaN draws dropped)."""
    draws = draws[~np.isnan(draws)]
    below = tail_share(int(np.sum(draws <= 0)), len(draws))
    above = tail_share(int(np.sum(draws >= 0)), len(draws))
    return float(min(1.0, 2 * min(below, above)))


def difference_draws(
    point: np.ndarray, boot: np.ndarray, a: int, b: int
) -> tuple[np.ndarray, np.ndarray]:
    """Point difference (3,) and paired bootstrap draws (reps, 3) of policy ``a`` minus ``b``.

    ``point`` (m, 3) and ``boot`` (reps, m, 3) come from
    :func:`~causal_targeting.evaluation.policy_value.paired_estimates`.
    """
    return point[a] - point[b], boot[:, a, :] - boot[:, b, :]


def same_policy(a: np.ndarray, b: np.ndarray, arms: int) -> bool:
    """Whether policies ``a`` and ``b`` (arm codes or probabilities,
    :func:`~causal_targeting.evaluation.policy_value.policy_array`) give every row the same arm,
    or the same probabilities of each arm (to 1e-12: shares computed two ways)."""
    if a.ndim == 1 and b.ndim == 1:
        return bool(np.array_equal(a, b))
    return np.allclose(arm_probabilities(a, arms), arm_probabilities(b, arms), rtol=0, atol=1e-12)


def agreement(a: np.ndarray, b: np.ndarray, arms: int) -> float:
    """Share of rows on which policies ``a`` and ``b`` (as in :func:`same_policy`) choose the
    same arm, in expectation over independent draws of stochastic ones:
    ``mean_i sum_k a_ik b_ik`` (the same policy counts 1 in :func:`policy_differences`: one draw
    would serve both)."""
    if a.ndim == 1 and b.ndim == 1:
        return float(np.mean(a == b))
    return float((arm_probabilities(a, arms) * arm_probabilities(b, arms)).sum(axis=1).mean())


def policy_differences(
    holdout: pd.DataFrame,
    policies: Mapping[str, Policy],
    *,
    against: str,
    outcome: str,
    arms: Sequence[str],
    control: str,
    costs: Mapping[str, float],
    reps: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """Policy ``against`` minus every other policy, per estimator, with paired bootstrap CIs.

    Args:
        holdout, outcome, arms, control, costs: as in
            :func:`~causal_targeting.evaluation.policy_value.policy_values`.
        policies: policy name -> arm name per holdout row, or a stochastic policy's arm
            probabilities (:data:`~causal_targeting.evaluation.policy_value.Policy`); must
            contain ``against``.
        against: the policy compared with each of the others (e.g. ``"targeting"``).
        reps, alpha, seed: bootstrap replicates, CI level ``1 - alpha``, RNG seed (the draws
            are those of :func:`policy_values` with the same seed, by cluster when ``holdout``
            has the cluster column).

    Returns:
        One row per (baseline, estimator): ``policy`` (= ``against``), ``baseline``,
        ``difference`` = value(against) - value(baseline), ``ci_low``, ``ci_high``, the
        two-sided bootstrap ``p_value`` and ``same_decisions``, the share of rows on which the
        two policies choose the same arm (its expectation for stochastic policies).
    """
    arms = [control, *[a for a in arms if a != control]]
    inputs = estimator_inputs(holdout, outcome=outcome, arms=arms, costs=costs)
    names = list(policies)
    given = {k: policy_array(v, arms, f"policy '{k}'") for k, v in policies.items()}
    alike = {k for k, v in given.items() if same_policy(v, given[against], len(arms))}
    clusters = bootstrap_clusters(holdout)
    point, boot = paired_estimates(given, *inputs, reps=reps, seed=seed, clusters=clusters)
    ours = names.index(against)
    rows = []
    for j, name in enumerate(names):
        if j == ours:
            continue
        diff, draws = difference_draws(point, boot, ours, j)
        if name in alike:
            # the same policy differs by exactly 0 (a bootstrap's matrix product may round two
            # equal columns apart: 4e-16 on an AMD EPYC)
            diff, draws = np.zeros_like(diff), np.zeros_like(draws)
        same = 1.0 if name in alike else agreement(given[against], given[name], len(arms))
        low, high = np.nanquantile(draws, [alpha / 2, 1 - alpha / 2], axis=0)
        for e, estimator in enumerate(ESTIMATORS):
            rows.append(
                {
                    "policy": against,
                    "baseline": name,
                    "estimator": estimator,
                    "difference": float(diff[e]),
                    "ci_low": float(low[e]),
                    "ci_high": float(high[e]),
                    "p_value": bootstrap_p_value(draws[:, e]),
                    "same_decisions": same,
                }
            )
    return pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS)
