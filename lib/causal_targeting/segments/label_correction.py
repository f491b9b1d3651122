"""Stage 2: the label-correction model among converters, as positive-unlabeled learning.

Types, as principal strata of the potential outcomes (Y_0, Y_1) under monotonicity (the campaign
puts no one off: Y_1 >= Y_0): campaign-driven CD = {Y_1 = 1, Y_0 = 0}, organic ORG = {Y_0 = 1},
low-engagement LOW = {Y_1 = 0}. Exposure T is randomized with a known share e.

Attribution labels are observed only on exposed converters, and they mix CD with exposed ORG
customers. But a converter who was *not* exposed is organic for certain: among converters the
unexposed are labeled examples of the class ORG, and since ORG customers convert whether exposed
or not, their exposure is independent of x and type, so the labeled set is a completely random
sample of the organic converters with label frequency c = P(T = 0 | ORG converter) = 1 − e,
known from the design rather than estimated. This is Elkan and Noto's (2008) setting
(labels selected completely at random, P(s = 1 | x) = c·P(ORG | x)) with c identified by
randomization. With g(x) = P(T = 0 | x, Y = 1), fitted on converters:

    P(ORG | x, Y = 1) = g(x) / (1 − e),      s(x) = P(CD | x, Y = 1) = 1 − g(x) / (1 − e).

(Check: g = (1 − e)·mu_0 / q, q = e·mu_1 + (1 − e)·mu_0, so s = e·(mu_1 − mu_0) / q, the
campaign-driven mass among converters; among exposed converters it is (mu_1 − mu_0) / mu_1.)
Elkan–Noto instead estimates c as the mean of g over held-out labeled examples, which is biased
low when the classes overlap; here c is exact.

Without correction (the ablation), the attribution label is taken at face value: g(x) = P(A = 1
| x, Y = 1) and s(x) = g(x), i.e. every attributed converter counts as campaign-driven.

Identification needs 0 < e < 1: with every row exposed (or none) no converter reveals the
organic rate and :func:`exposure_share` refuses the table.
"""

from __future__ import annotations

import numpy as np

from causal_targeting.errors import DataContractError
from causal_targeting.learners.features import FeatureSpec
from causal_targeting.segments.classifiers import ClassifierSettings, fit_classifier

CONSTANT_TOLERANCE = 1e-9
"""Exposed rows' design propensities that differ by less than this count as one share."""


def exposure_share(
    exposed: np.ndarray,
    propensity: np.ndarray | None = None,
    table: str = "experiment",
    column: str = "exposed",
) -> float:
    """e = P(T = 1): the design propensity of the exposed rows (one constant), else the share of
    exposed rows. DataContractError if every row is exposed or none (e is not identified), or
    if the exposed rows' propensities vary."""
    n_exposed = int(exposed.sum())
    if n_exposed in (0, len(exposed)):
        which = "every row is exposed" if n_exposed else "no row is exposed"
        raise DataContractError(
            table,
            f"{which}, so the label frequency of the segment model is not identified (no "
            "unexposed converter shows the organic rate)",
            "fit the segment model on a randomized experiment with an unexposed holdout group "
            "(for example 20% of customers not contacted)",
            column=column,
        )
    if propensity is None:
        return n_exposed / len(exposed)
    shares = propensity[exposed == 1]
    if np.ptp(shares) > CONSTANT_TOLERANCE or not 0.0 < shares[0] < 1.0:
        raise DataContractError(
            table,
            f"the exposed rows' design propensities range over [{shares.min()}, {shares.max()}]; "
            "the label correction needs one exposure share in (0, 1)",
            "fit the segment model on rows randomized with one exposure share, or do not "
            "configure the propensity column (the observed share is used)",
            column="propensity",
        )
    return float(shares[0])


def correction_target(
    exposed: np.ndarray, attributed: np.ndarray | None, corrected: bool
) -> np.ndarray:
    """The stage-2 label of each converter: 1 − T (unexposed, so organic) when ``corrected``,
    else the attribution label A."""
    if corrected:
        return (1 - exposed).astype(np.int64)
    assert attributed is not None, "the uncorrected ablation needs attribution labels"
    return attributed.astype(np.int64)


def fit_label_correction(
    settings: ClassifierSettings, spec: FeatureSpec, X: np.ndarray, target: np.ndarray
) -> str:
    """The stage-2 model string: the configured classifier of g(x) on converters' rows."""
    return fit_classifier(settings, spec, X, target, n_classes=2)


def campaign_driven_share(g: np.ndarray, exposure_share: float, corrected: bool) -> np.ndarray:
    """s(x) = P(CD | x, Y = 1), shape (n,): 1 − g/(1 − e) clipped to [0, 1] when ``corrected``,
    else g."""
    if not corrected:
        return g
    return np.clip(1.0 - g / (1.0 - exposure_share), 0.0, 1.0)
