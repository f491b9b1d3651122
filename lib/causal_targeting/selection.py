"""Choosing the uplift learner by the decision it leads to, on out-of-fold rows.

Every candidate learner (the T-, X- and DR-learners, their ensemble, :class:`~causal_
targeting.learners.uplift.EnsembleLearner`, and the risk learner, :class:`~causal_targeting.
learners.uplift.RiskLearner`) scores each sampled experiment row with models that
did not see it (cross-fitting). Under the configured value model (:class:`~causal_targeting.
value.ValueModel`) its scores give each row the net value v_k(x) = sum_o w_o tau_o,k(x) − c_k(x)
of every arm k, and the unconstrained net-value policy pi(x) = argmax_k v_k(x), or control when
no v_k(x) > 0. The candidates are compared by the doubly robust estimate of that policy's net
value per customer (:func:`~causal_targeting.evaluation.policy_value.policy_values` on the
realized net value, :func:`~causal_targeting.evaluation.net_value.with_net_value`), with its
bootstrap interval. On most experiments the learners' values differ by less than their noise,
so the largest of five is partly luck, and luck that the safeguard's test on the same rows
then reads as evidence. The choice therefore starts from the ensemble, whose effect (the mean
of the T-, X- and DR-learners') has less variance than its members' and is rarely the worst of
them, and leaves it only for candidates whose value beats the ensemble's with a paired
one-sided lower bound above 0, Bonferroni-corrected over the challengers so that the chance
that any of them passes by luck stays within the configured level (:func:`default_or_better`);
the risk learner, one relative effect an arm on a model of the outcome without an offer, wins
that way where the effect follows the outcome without an offer. Each candidate's value minus
the chosen one's, with its paired bootstrap interval (one bootstrap for all), says how far the
choice is from it. The Qini coefficient and the R-loss (Nie and Wager 2021) are diagnostics.
Without weights (no value model) the mean Qini decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from causal_targeting.evaluation.net_value import VALUE, with_net_value
from causal_targeting.evaluation.policy_value import (
    arm_codes,
    bootstrap_clusters,
    estimates_from_sums,
    estimator_inputs,
    estimator_terms,
    poisson_bootstrap,
)
from causal_targeting.evaluation.uplift import qini_coefficient
from causal_targeting.value import ValueModel, net_value_policy

COMPARISON_COLUMNS = [
    *("learner", "value", "ci_low", "ci_high", "gain", "gain_low", "gain_high"),
    *("qini", "r_loss", "chosen"),
]


def policy_value_terms(
    frame: pd.DataFrame, value_model: ValueModel, arms: Sequence[str], control: str
) -> np.ndarray:
    """Shape (n, 3): the per-row estimator terms (:func:`~causal_targeting.evaluation.
    policy_value.estimator_terms`; the DR term last) of :func:`net_value_policy` on the
    scored experiment rows ``frame`` (treatment, outcomes, mu__/tau__ columns), valued in net
    value (:func:`~causal_targeting.evaluation.net_value.with_net_value`)."""
    every = [control, *arms]
    valued = with_net_value(frame, value_model, arms, control)
    inputs = estimator_inputs(valued, outcome=VALUE, arms=every, costs={})
    policy = arm_codes(net_value_policy(frame, value_model, arms, control), every, "policy")
    return estimator_terms(policy, *inputs)


def policy_value_replicates(
    frames: Mapping[str, pd.DataFrame],
    value_model: ValueModel,
    arms: Sequence[str],
    control: str,
    *,
    reps: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(point, replicates) of shapes (m,) and (reps, m): the DR net value per customer of each
    of the m frames' net-value policies, and its replicates from one Poisson bootstrap shared by
    every frame (the same rows, in the same order, scored by m learners: replicate b reweights
    them once for all, as :func:`~causal_targeting.evaluation.policy_value.paired_estimates`
    does for policies, so differences between frames are paired; by cluster when the rows have
    the cluster column, :func:`~causal_targeting.evaluation.policy_value.bootstrap_clusters`)."""
    terms = np.column_stack(
        [policy_value_terms(frame, value_model, arms, control) for frame in frames.values()]
    )
    n = np.asarray(float(terms.shape[0]))
    point = estimates_from_sums(terms.sum(axis=0), n)[:, 2]
    clusters = bootstrap_clusters(next(iter(frames.values())))
    return point, poisson_bootstrap(terms, reps=reps, seed=seed, clusters=clusters)[:, :, 2]


def percentile_interval(point: np.ndarray, replicates: np.ndarray, alpha: float) -> np.ndarray:
    """Shape (m, 3): (point, low, high), the percentile interval of level 1 − alpha of each
    column of ``replicates``."""
    low, high = np.nanquantile(replicates, [alpha / 2, 1 - alpha / 2], axis=0)
    return np.column_stack([point, low, high])


def mean_qini(
    frame: pd.DataFrame, outcome: str, binary: bool, arms: Sequence[str], control: str
) -> float:
    """The mean over arms of the Qini coefficient of ``tau__{outcome}__{arm}`` on the arm's and
    the control's rows (normalized for a binary outcome)."""
    treatment = frame["treatment"].to_numpy()
    qinis = []
    for arm in arms:
        rows = np.isin(treatment, [arm, control])
        qinis.append(
            qini_coefficient(
                frame.loc[rows, f"tau__{outcome}__{arm}"].to_numpy(dtype=float),
                frame.loc[rows, outcome].to_numpy(dtype=float),
                treatment[rows] == arm,
                normalized=binary,
            )
        )
    return float(np.mean(qinis))


def r_loss(frame: pd.DataFrame, outcome: str, arms: Sequence[str], control: str) -> float:
    """The mean over arms of the R-loss of the effect scores on the arm's and control's rows:
    mean_i (Y_i − m(x_i) − (t_i − e)·tau(x_i))², with t = 1[T = arm], e the arm's share of the
    pair's rows and m(x) = e·mu_arm(x) + (1 − e)·mu_control(x). Smaller is better."""
    treatment = frame["treatment"].to_numpy()
    losses = []
    for arm in arms:
        pair = frame.loc[np.isin(treatment, [arm, control])]
        t = (pair["treatment"] == arm).to_numpy(dtype=float)
        e = t.mean()
        mu_arm, mu_control, tau = (
            pair[f"{prefix}__{outcome}__{a}"].to_numpy(dtype=float)
            for prefix, a in (("mu", arm), ("mu", control), ("tau", arm))
        )
        residual = pair[outcome].to_numpy(dtype=float) - (e * mu_arm + (1 - e) * mu_control)
        losses.append(float(np.mean((residual - (t - e) * tau) ** 2)))
    return float(np.mean(losses))


DEFAULT_LEARNER = "ensemble"
"""The candidate chosen unless another beats it with confidence (:func:`default_or_better`)."""


def each_test_confidence(confidence: float, candidates: int) -> float:
    """The one-sided confidence of each challenger's test against the default among
    ``candidates`` learners: 1 − (1 − ``confidence``)/(m − 1), Bonferroni over the m − 1
    challengers (:func:`default_or_better`)."""
    return 1 - (1 - confidence) / max(candidates - 1, 1)


def default_or_better(
    point: np.ndarray, replicates: np.ndarray, learners: Sequence[str], confidence: float
) -> int:
    """Index of the chosen candidate among ``learners`` (their values ``point``, shape (m,),
    and bootstrap replicates, shape (reps, m), from one bootstrap): :data:`DEFAULT_LEARNER`,
    unless some candidates beat it with confidence, d_k = V_k − V_ensemble having a one-sided
    lower bound above 0 at level 1 − (1 − ``confidence``)/(m − 1) (the (1 − ``confidence``)/
    (m − 1) quantile of the replicates of d_k; Bonferroni over the m − 1 challengers); then
    the one of largest value among those. Without the default among ``learners`` (a forced
    learner), the largest value.

    Choosing the largest of m noisy values is biased towards the luckiest (its expected
    value exceeds the chosen policy's true value); a default that another candidate must
    beat with confidence keeps that bias to the candidates the evidence singles out. With
    the correction, when no challenger is better than the default the chance that one passes
    is at most 1 − ``confidence`` (four tests at 1 − ``confidence`` each would let one pass up to
    four times as often), so the selection's luck reaches the safeguard, which tests the
    chosen policy on the same rows, less often."""
    if DEFAULT_LEARNER not in learners:
        return int(np.nanargmax(point))
    default = list(learners).index(DEFAULT_LEARNER)
    level = 1 - each_test_confidence(confidence, len(learners))
    lower = np.nanquantile(replicates - replicates[:, [default]], level, axis=0)
    better = np.flatnonzero(lower > 0)
    return int(better[np.argmax(point[better])]) if better.size else default


def diagnostic_outcome(weights: Mapping[str, float], outcomes: Mapping[str, str]) -> str:
    """The outcome of the comparison's Qini and R-loss: the first weighted one (the first
    outcome without weights)."""
    return next(iter(weights), next(iter(outcomes)))


def learner_comparison(
    oof: Mapping[str, pd.DataFrame],
    value_model: ValueModel,
    arms: Sequence[str],
    control: str,
    outcomes: Mapping[str, str],
    *,
    reps: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    confidence: float = 0.9,
) -> pd.DataFrame:
    """One row per candidate learner (:data:`COMPARISON_COLUMNS`), the chosen one flagged.

    ``oof``: learner -> the out-of-fold scored experiment rows (``treatment``, the outcomes,
    ``mu__``/``tau__`` columns). ``value``/``ci_low``/``ci_high``: the DR value of its
    net-value policy per customer and its interval (:func:`policy_value_replicates`,
    :func:`percentile_interval`); ``gain``/``gain_low``/``gain_high``: the value minus the
    chosen candidate's, with the paired interval of level 1 − alpha from the same bootstrap
    (NaN without weights); ``qini``/``r_loss``: :func:`mean_qini`/:func:`r_loss` of the first
    weighted outcome (the first outcome without weights). Chosen: :func:`default_or_better` at
    ``confidence``, or the largest Qini without weights; ties go to the first listed.
    """
    outcome = diagnostic_outcome(value_model.weights, outcomes)
    table = pd.DataFrame({"learner": list(oof)}).reindex(columns=COMPARISON_COLUMNS)
    table["qini"] = [
        mean_qini(frame, outcome, outcomes[outcome] == "binary", arms, control)
        for frame in oof.values()
    ]
    table["r_loss"] = [r_loss(frame, outcome, arms, control) for frame in oof.values()]
    if value_model.weights:
        point, replicates = policy_value_replicates(
            oof, value_model, arms, control, reps=reps, seed=seed
        )
        best = default_or_better(point, replicates, list(oof), confidence)
        table[["value", "ci_low", "ci_high"]] = percentile_interval(point, replicates, alpha)
        table[["gain", "gain_low", "gain_high"]] = percentile_interval(
            point - point[best], replicates - replicates[:, [best]], alpha
        )
    else:
        best = int(np.nanargmax(table["qini"].to_numpy()))
    table["chosen"] = np.arange(len(table)) == best
    return table


def chosen_learner(comparison: pd.DataFrame) -> str:
    """The learner flagged chosen in :func:`learner_comparison`'s table."""
    return str(comparison.loc[comparison["chosen"], "learner"].iloc[0])
