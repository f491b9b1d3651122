"""The uplift-derived strata: a second, model-free view of the intent segments.

From a T-learner's scores mu_0(x) = P(Y = 1 | x, control), mu_1(x) = P(Y = 1 | x, exposed) and
tau(x) = mu_1(x) − mu_0(x), the principal strata under monotonicity are
P(ORG | x) = mu_0, P(CD | x) = tau, P(LOW | x) = 1 − mu_1. Estimated scores break the identity
(tau < 0, mu outside [0, 1]), so the three scores (mu_0, tau, 1 − mu_1) are clipped at 0 and
divided by their sum: rows of nonnegative probabilities summing to 1, no model fitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from causal_targeting.segments.combine import normalized, segment_frame


def strata_probabilities(mu0: np.ndarray, mu1: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """(n, 3) rows (p_CD, p_ORG, p_LOW) from arrays of shape (n,) (module docstring)."""
    return normalized(np.column_stack([tau, mu0, 1.0 - mu1]))


def uplift_strata(
    scores: pd.DataFrame,
    mu0: str,
    mu1: str,
    tau: str,
    thresholds: Mapping[str, float] | None = None,
    base_rates: Sequence[float] | None = None,
) -> pd.DataFrame:
    """The intent columns (``p__...`` and ``segment``) from the score columns named ``mu0``,
    ``mu1``, ``tau`` of an uplift scores frame (e.g. ``mu__conversion__none``,
    ``mu__conversion__email``, ``tau__conversion__email``), with its index."""
    probabilities = strata_probabilities(
        scores[mu0].to_numpy(dtype=np.float64),
        scores[mu1].to_numpy(dtype=np.float64),
        scores[tau].to_numpy(dtype=np.float64),
    )
    return segment_frame(probabilities, scores.index, dict(thresholds or {}), base_rates)


def best_arm_strata(
    scores: pd.DataFrame,
    outcome: str,
    control: str,
    arms: Sequence[str],
    thresholds: Mapping[str, float] | None = None,
    base_rates: Sequence[float] | None = None,
) -> pd.DataFrame:
    """The intent columns from an uplift scores frame with one or more arms.

    Exposure is the arm of largest ``tau__{outcome}__{arm}`` in each row (with one arm, that
    arm): mu_0 = ``mu__{outcome}__{control}``, mu_1 and tau of that arm, then
    :func:`strata_probabilities`. Returns ``p__...`` and ``segment`` with the index of ``scores``.
    """
    tau = scores[[f"tau__{outcome}__{a}" for a in arms]].to_numpy(dtype=np.float64)
    mu = scores[[f"mu__{outcome}__{a}" for a in arms]].to_numpy(dtype=np.float64)
    rows, best = np.arange(len(scores)), np.argmax(tau, axis=1)
    mu0 = scores[f"mu__{outcome}__{control}"].to_numpy(dtype=np.float64)
    probabilities = strata_probabilities(mu0, mu[rows, best], tau[rows, best])
    return segment_frame(probabilities, scores.index, dict(thresholds or {}), base_rates)
