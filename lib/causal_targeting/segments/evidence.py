"""Evidence of the intent segments against a known truth, and decisions at equal contacts.

Every function takes the true types (strings; ``campaign_driven``, ``organic``,
``low_engagement`` and possibly others such as ``put_off``) and predictions, and returns plain
numbers or frames, so the benchmark and the report print them side by side.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, f1_score, roc_auc_score

from causal_targeting.learners.base import fit_base_model
from causal_targeting.learners.features import FeatureSpec
from causal_targeting.segments.combine import PROBABILITY_COLUMNS, SEGMENT, SEGMENTS

CAMPAIGN_DRIVEN, ORGANIC = SEGMENTS[0], SEGMENTS[1]


def recovery_metrics(true_type: np.ndarray, predictions: pd.DataFrame) -> dict[str, float]:
    """How well the segments recover the truth.

    ``auc``, ``pr_auc``: ROC AUC and average precision of ``p__campaign_driven`` for the class
    campaign-driven vs the rest; ``macro_f1``: macro-F1 of ``segment`` over the three segments
    (true types outside them count as a fourth label nothing predicts; NaN when ``predictions``
    has no ``segment``, as for a binary baseline); ``brier``: the mean squared error of
    ``p__campaign_driven`` against the 0/1 truth.
    """
    truth = np.asarray(true_type) == CAMPAIGN_DRIVEN
    p = predictions[PROBABILITY_COLUMNS[0]].to_numpy(dtype=np.float64)
    labels = list(SEGMENTS)
    macro_f1 = (
        f1_score(np.asarray(true_type), predictions[SEGMENT], labels=labels, average="macro")
        if SEGMENT in predictions.columns
        else np.nan
    )
    return {
        "auc": float(roc_auc_score(truth, p)),
        "pr_auc": float(average_precision_score(truth, p)),
        "macro_f1": float(macro_f1),
        "brier": float(brier_score_loss(truth, np.clip(p, 0.0, 1.0))),
    }


def recovery_table(true_type: np.ndarray, methods: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """:func:`recovery_metrics` of each method (name -> its predictions, rows aligned with
    ``true_type``): one row per method, columns ``method``, ``auc``, ``pr_auc``, ``macro_f1``,
    ``brier``."""
    rows = {name: recovery_metrics(true_type, frame) for name, frame in methods.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("method").reset_index()


def reliability(true_type: np.ndarray, predictions: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Binned reliability of ``p__campaign_driven`` (quantile bins): columns ``predicted`` (mean
    probability of the bin) and ``observed`` (its share of campaign-driven customers)."""
    truth = np.asarray(true_type) == CAMPAIGN_DRIVEN
    p = np.clip(predictions[PROBABILITY_COLUMNS[0]].to_numpy(dtype=np.float64), 0.0, 1.0)
    observed, predicted = calibration_curve(truth, p, n_bins=bins, strategy="quantile")
    return pd.DataFrame({"predicted": predicted, "observed": observed})


def naive_attribution_scores(
    train: pd.DataFrame,
    test: pd.DataFrame,
    features: Mapping[str, str],
    attributed: str,
    seed: int,
    params: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """The baseline: P(A = 1 | x) of a LightGBM classifier of the attribution label on
    ``train`` (every row, unattributed ones as negatives), predicted on ``test``; shape (n,)."""
    spec = FeatureSpec.from_frame(train, features)
    model = fit_base_model(
        spec.matrix(train, table="experiment"),
        train[attributed].to_numpy(dtype=np.float64),
        "binary",
        params=params,
        seed=seed,
    )
    booster = lgb.Booster(model_str=model)
    return np.asarray(booster.predict(spec.array(test)), dtype=np.float64)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` highest ``scores`` (ties broken by position)."""
    chosen = np.zeros(len(scores), dtype=bool)
    chosen[np.argsort(-scores, kind="stable")[:k]] = True
    return chosen


def decisions_at_equal_contacts(
    true_type: np.ndarray,
    y0: np.ndarray,
    y1: np.ndarray,
    rankings: Mapping[str, np.ndarray],
    contacts: int,
) -> pd.DataFrame:
    """Who each targeting rule contacts with a budget of ``contacts`` customers, judged by the
    truth.

    ``rankings``: rule name -> score (n,), higher is contacted first (e.g. ``segment_aware``:
    p__campaign_driven, ``uplift``: tau, ``response``: P(converted)); ``contact_all`` (every
    customer, ignoring the budget) is added. Rows per rule: ``contacts``, ``incremental``
    (sum of the true y1 − y0 over the contacted), ``organic_contacts`` (contacted customers whose
    true type is organic) and ``organic_share``.
    """
    effect = np.asarray(y1, dtype=np.float64) - np.asarray(y0, dtype=np.float64)
    organic = np.asarray(true_type) == ORGANIC
    masks = {name: top_k(np.asarray(s, dtype=np.float64), contacts) for name, s in rankings.items()}
    masks["contact_all"] = np.ones(len(effect), dtype=bool)
    rows = {
        name: {
            "contacts": int(mask.sum()),
            "incremental": float(effect[mask].sum()),
            "organic_contacts": int(organic[mask].sum()),
            "organic_share": float(organic[mask].mean()),
        }
        for name, mask in masks.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")
