"""The three intent probabilities as score columns, and the segment each customer is given."""

from __future__ import annotations

from collections.abc import Mapping

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


def assign_segments(probabilities: np.ndarray, thresholds: Mapping[str, float]) -> np.ndarray:
    """Each row's segment name: the first segment in ``SEGMENTS`` order whose probability reaches
    its threshold (only segments given a threshold take part), else the argmax. (n, 3) -> (n,)."""
    names = np.asarray(SEGMENTS, dtype=object)
    chosen = names[np.argmax(probabilities, axis=1)]
    for j in reversed(range(len(SEGMENTS))):
        if SEGMENTS[j] in thresholds:
            chosen = np.where(probabilities[:, j] >= thresholds[SEGMENTS[j]], names[j], chosen)
    return chosen


def segment_frame(
    probabilities: np.ndarray, index: pd.Index, thresholds: Mapping[str, float]
) -> pd.DataFrame:
    """``p__campaign_driven``, ``p__organic``, ``p__low_engagement`` (float64, the rows of the
    (n, 3) ``probabilities``) and ``segment``, with ``index``."""
    frame = pd.DataFrame(probabilities, index=index, columns=list(PROBABILITY_COLUMNS))
    frame[SEGMENT] = assign_segments(probabilities, thresholds)
    return frame


def normalized(scores: np.ndarray) -> np.ndarray:
    """Nonnegative (n, 3) scores divided by their row sums (rows summing to 0 become uniform)."""
    scores = np.clip(scores, 0.0, None)
    totals = scores.sum(axis=1, keepdims=True)
    uniform = np.full_like(scores, 1.0 / scores.shape[1])
    return np.divide(scores, totals, out=uniform, where=totals > 0)
