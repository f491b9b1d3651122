"""Self-paced training: rounds of a warm-started classifier, hard examples down-weighted.

Self-paced learning (Kumar, Packer and Koller, 2010) fits the easy examples first and lets the
hard ones in as training goes on; with noisy behaviour labels (a customer who converts by chance,
another who would have but did not), the hardest examples are the likeliest to be noise.

The schedule, for ``rounds`` = R >= 2 rounds of one warm-started model (LightGBM adds trees,
an MLP adds epochs), start quantile q_0 and low weight w:

- round 0 fits every example with weight 1 (there is no model yet to judge them);
- before round t >= 1, each example's loss under the current model is
  l_i = −log p̂(y_i | x_i), and within each observed class k the threshold is the rising quantile
  lambda_{t,k} = Quantile_{q_t}({l_i : y_i = k}), q_t = q_0 + (1 − q_0)·(t − 1)/(R − 1);
- the weight is v_i = 1 if l_i <= lambda_{t, y_i}, else w (a soft weight, not 0: hard examples
  still count, only less), then rescaled within each class so that sum_{y_i=k} v_i equals the
  class count n_k. Thresholds per class and the rescaling keep the class frequencies, so
  down-weighting the rare class's hard examples does not bias the predicted class shares.

``rounds`` = 1 is training without the schedule (off): one fit, every weight 1, the same number
of trees or epochs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from causal_targeting.errors import ConfigError

LOSS_FLOOR = 1e-12
"""Probabilities are floored here before the log, so a confident mistake has a finite loss."""


class RoundLearner(Protocol):
    """A classifier trained in warm-started rounds (see :mod:`~.classifiers`)."""

    def fit_round(self, X: np.ndarray, y: np.ndarray, weight: np.ndarray, share: float) -> None:
        """Continue training on (X, y) with these example weights for ``share`` of the budget."""
        ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, K) class probabilities of the current model."""
        ...


def round_quantiles(rounds: int, start_quantile: float) -> list[float | None]:
    """q_t for t = 0..R−1: None (every weight 1) for round 0, then q_0 rising toward 1."""
    if rounds < 1:
        raise ConfigError(f"segment.self_paced.rounds must be >= 1, got {rounds}")
    if not 0.0 < start_quantile <= 1.0:
        raise ConfigError(
            f"segment.self_paced.start_quantile must be in (0, 1], got {start_quantile}"
        )
    steps = [start_quantile + (1.0 - start_quantile) * t / (rounds - 1) for t in range(rounds - 1)]
    return [None, *steps]


def example_losses(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """l_i = −log max(p̂(y_i | x_i), LOSS_FLOOR) for (n, K) probabilities and labels in 0..K−1."""
    picked = proba[np.arange(len(y)), y]
    return -np.log(np.maximum(picked, LOSS_FLOOR))


def self_paced_weights(
    losses: np.ndarray, y: np.ndarray, quantile: float, low_weight: float
) -> np.ndarray:
    """v_i (see the module docstring): 1 below the per-class ``quantile`` of the losses, else
    ``low_weight``; rescaled so each class's weights sum to its count. Shape (n,)."""
    weights = np.ones(len(y), dtype=np.float64)
    for k in np.unique(y):
        rows = y == k
        threshold = np.quantile(losses[rows], quantile)
        v = np.where(losses[rows] <= threshold, 1.0, low_weight)
        weights[rows] = v * rows.sum() / v.sum()
    return weights


def train_self_paced(
    learner: RoundLearner,
    X: np.ndarray,
    y: np.ndarray,
    quantiles: Sequence[float | None],
    low_weight: float,
) -> list[np.ndarray]:
    """Train ``learner`` in len(quantiles) rounds (the schedule of :func:`round_quantiles`);
    returns the weights each round used (for reports and tests)."""
    used = []
    for quantile in quantiles:
        if quantile is None:
            weight = np.ones(len(y), dtype=np.float64)
        else:
            losses = example_losses(learner.predict_proba(X), y)
            weight = self_paced_weights(losses, y, quantile, low_weight)
        learner.fit_round(X, y, weight, share=1.0 / len(quantiles))
        used.append(weight)
    return used
