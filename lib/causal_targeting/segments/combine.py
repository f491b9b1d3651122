"""The three intent probabilities as score columns, and the segment each customer is given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from causal_targeting.errors import ConfigError

SEGMENTS = ("campaign_driven", "organic", "low_engagement")
SEGMENT = "segment"


def probability_column(segment: str) -> str:
    """``p__{segment}``."""
    return f"p__{segment}"


PROBABILITY_COLUMNS = tuple(probability_column(s) for s in SEGMENTS)


def check_thresholds(thresholds: Mapping[str, float]) -> None:
    """ConfigError for a threshold on an unknown segment or outside (0, 1]."""
    for name, value in thresholds.items():
        if name not in SEGMENTS:
            raise ConfigError(
                f"segment.thresholds names unknown segment '{name}'; use one of {SEGMENTS}"
            )
        if not 0.0 < value <= 1.0:
            raise ConfigError(f"segment.thresholds.{name} must be in (0, 1], got {value}")


def assign_segments(
    probabilities: np.ndarray,
    thresholds: Mapping[str, float],
    base_rates: Sequence[float] | None = None,
) -> np.ndarray:
    """Each row's segment name: the first segment in ``SEGMENTS`` order whose probability reaches
    its threshold (only segments given a threshold take part), else the segment of largest lift
    ``p_k / b_k`` over its base rate ``b_k`` (``base_rates``, the population share of each
    segment), or of largest probability when ``base_rates`` is None. (n, 3) -> (n,).

    With calibrated probabilities, the largest lift is the Bayes rule under equal priors: it
    maximizes the mean recall over the segments, where the largest probability gives every
    customer the commonest segment once one dominates (a 1% conversion rate makes everyone
    low-engagement)."""
    names = np.asarray(SEGMENTS, dtype=object)
    scaled = probabilities
    if base_rates is not None:
        scaled = probabilities / np.maximum(np.asarray(base_rates, dtype=np.float64), 1e-12)
    chosen = names[np.argmax(scaled, axis=1)]
    for j in reversed(range(len(SEGMENTS))):
        if SEGMENTS[j] in thresholds:
            chosen = np.where(probabilities[:, j] >= thresholds[SEGMENTS[j]], names[j], chosen)
    return chosen


def segment_frame(
    probabilities: np.ndarray,
    index: pd.Index,
    thresholds: Mapping[str, float],
    base_rates: Sequence[float] | None = None,
) -> pd.DataFrame:
    """``p__campaign_driven``, ``p__organic``, ``p__low_engagement`` (float64, the rows of the
    (n, 3) ``probabilities``) and ``segment`` (:func:`assign_segments`), with ``index``."""
    frame = pd.DataFrame(probabilities, index=index, columns=list(PROBABILITY_COLUMNS))
    frame[SEGMENT] = assign_segments(probabilities, thresholds, base_rates)
    return frame


def normalized(scores: np.ndarray) -> np.ndarray:
    """Nonnegative (n, 3) scores divided by their row sums (rows summing to 0 become uniform)."""
    scores = np.clip(scores, 0.0, None)
    totals = scores.sum(axis=1, keepdims=True)
    uniform = np.full_like(scores, 1.0 / scores.shape[1])
    return np.divide(scores, totals, out=uniform, where=totals > 0)
