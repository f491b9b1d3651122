"""Feature importance of an uplift model: LightGBM total split gain, per base model and overall."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import lightgbm as lgb
import pandas as pd

if TYPE_CHECKING:
    from causal_targeting.learners.model import UpliftModel


def feature_importance(model: UpliftModel) -> pd.DataFrame:
    """One row per feature: total gain in each base model (a column per booster key; of a
    bagged model, the mean over its members), ``total`` over all base models, and ``share`` =
    total / sum of totals; sorted by ``total``, highest first.
    """
    gains = {
        key: pd.concat(
            [split_gain(m.boosters[key], model.spec.names) for m in model.members], axis=1
        ).mean(axis=1)
        for key in sorted(model.boosters)
    }
    frame = pd.DataFrame(gains)
    frame["total"] = frame.sum(axis=1)
    grand_total = frame["total"].sum()
    frame["share"] = frame["total"] / grand_total if grand_total > 0 else 0.0
    return frame.sort_values("total", ascending=False).rename_axis("feature").reset_index()


def split_gain(model_string: str, names: Sequence[str]) -> pd.Series:
    """Total split gain of each feature in one LightGBM model string, indexed by ``names``, the
    features in model order (the string's own names are those LightGBM accepts, which may
    differ: :func:`~causal_targeting.learners.base.lightgbm_names`)."""
    booster = lgb.Booster(model_str=model_string)
    gain = booster.feature_importance(importance_type="gain")
    return pd.Series(gain, index=list(names))
