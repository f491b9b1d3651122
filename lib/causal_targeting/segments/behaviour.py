"""Stage 1: the multi-class model of observed behaviour, and what it identifies.

Each experiment row has an exposure T (1: the campaign reached the customer, randomized with a
known share e = P(T = 1)) and a conversion Y (0/1). The observed behaviour class is

    B = 0 "engaged_exposed"   (T = 1, Y = 1)
    B = 1 "engaged_unexposed" (T = 0, Y = 1)
    B = 2 "not_engaged"       (Y = 0)

With mu_1(x) = P(Y = 1 | x, T = 1) and mu_0(x) = P(Y = 1 | x, T = 0), randomization gives
P(B = 0 | x) = e·mu_1(x) and P(B = 1 | x) = (1 − e)·mu_0(x), so one K = 3 classifier
p̂(x) = (p̂_0, p̂_1, p̂_2) yields both conversion rates, mu_1 = p̂_0 / e and mu_0 = p̂_1 / (1 − e),
and the experiment's conversion rate q(x) = P(Y = 1 | x) = p̂_0 + p̂_1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from causal_targeting.errors import DataContractError
from causal_targeting.learners.features import FeatureSpec
from causal_targeting.segments.classifiers import ClassifierSettings, fit_classifier

BEHAVIOURS = ("engaged_exposed", "engaged_unexposed", "not_engaged")


def binary_column(pdf: pd.DataFrame, column: str, table: str = "experiment") -> np.ndarray:
    """The 0/1 column as int64; DataContractError if it is missing, null or not 0/1."""
    if column not in pdf.columns:
        raise DataContractError(
            table, "the column is missing", f"add '{column}' or configure its name", column=column
        )
    values = pd.to_numeric(pdf[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = int((np.isnan(values) | ((values != 0) & (values != 1))).sum())
    if bad:
        raise DataContractError(
            table,
            f"the segment model needs a binary 0/1 column; {bad} rows hold another value or null",
            f"recode '{column}' as 0/1 (a conversion: 1 where the customer bought) or drop those "
            "rows",
            column=column,
        )
    return values.astype(np.int64)


def behaviour_classes(exposed: np.ndarray, converted: np.ndarray) -> np.ndarray:
    """B in {0, 1, 2} (see the module docstring) from 0/1 arrays of shape (n,)."""
    return np.where(converted == 1, np.where(exposed == 1, 0, 1), 2).astype(np.int64)


def conversion_rates(
    proba: np.ndarray, exposure_share: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mu_1, mu_0, q) from the (n, 3) behaviour probabilities, each (n,) and clipped to [0, 1]."""
    mu1 = np.clip(proba[:, 0] / exposure_share, 0.0, 1.0)
    mu0 = np.clip(proba[:, 1] / (1.0 - exposure_share), 0.0, 1.0)
    return mu1, mu0, np.clip(proba[:, 0] + proba[:, 1], 0.0, 1.0)


def fit_behaviour(
    settings: ClassifierSettings,
    spec: FeatureSpec,
    X: np.ndarray,
    exposed: np.ndarray,
    converted: np.ndarray,
) -> str:
    """The stage-1 model string: the configured classifier of B on the model array ``X``."""
    classes = behaviour_classes(exposed, converted)
    return fit_classifier(settings, spec, X, classes, n_classes=len(BEHAVIOURS))
