"""The simulated customer population: features from a latent engagement, and feature scores."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import expit

from causal_targeting.data.simulate.draws import Draws

FeatureKind = Literal["numeric", "categorical"]

FEATURES: Mapping[str, FeatureKind] = MappingProxyType(
    {
        "tenure_months": "numeric",
        "recency_days": "numeric",
        "frequency_12m": "numeric",
        "avg_order_value": "numeric",
        "monetary_12m": "numeric",
        "discount_share": "numeric",
        "email_open_rate": "numeric",
        "channel": "categorical",
        "region": "categorical",
        "loyalty_tier": "categorical",
    }
)
REGIONS = np.array(["north", "south", "east", "west"], dtype=object)
REGION_PROBS = (0.30, 0.25, 0.25, 0.20)
EMAIL_MISSING_SHARE = 0.12
REGION_MISSING_SHARE = 0.03


def categorical(codes: np.ndarray, labels: np.ndarray, missing: np.ndarray | None) -> np.ndarray:
    """Labels of ``codes`` as an object array, None where ``missing``."""
    values = labels[codes]
    if missing is not None:
        values[missing] = None
    return values


def customer_features(
    draws: Draws,
    engagement: np.ndarray | None = None,
    responsiveness: np.ndarray | float = 0.0,
) -> pd.DataFrame:
    """The features of each customer, from a latent engagement e (not a column).

    e ~ N(0, 1) unless ``engagement`` is given; s = ``responsiveness`` (0 unless given) shifts the
    logits of the discount share and the e-mail open rate (customers who react to campaigns):

    - tenure_months = clip(round(exp(3 + 0.9·Z₁)), 1, 240)
    - frequency_12m = floor(Exp(1) · exp(1.2 + 0.6·e)) orders in the last 12 months
    - recency_days = clip(ceil(Exp(1) · 365 / (frequency + 1)), 1, 730)
    - avg_order_value = round(exp(3.7 + 0.35·Z₂), 2)
    - monetary_12m = frequency · avg_order_value
    - discount_share = expit(−1 + 1.2·Z₃ − 0.3·e + s): share of orders bought on discount
    - email_open_rate = expit(−1 + 0.8·e + 0.7·Z₄ + s), null for the 12% without e-mail consent
    - channel = app if 0.5·e + Z₅ > 0.6, store if < −0.7, else web
    - region ∈ north/south/east/west (0.30/0.25/0.25/0.20), null for 3%
    - loyalty_tier = gold if tenure ≥ 36 and frequency ≥ 6, silver if tenure ≥ 24 or
      frequency ≥ 6, else none
    """
    if engagement is None:
        engagement = draws.normal("engagement")
    tenure = np.clip(np.round(np.exp(3.0 + 0.9 * draws.normal("tenure"))), 1, 240)
    frequency = np.floor(-np.log(draws.uniform("frequency")) * np.exp(1.2 + 0.6 * engagement))
    recency = np.clip(np.ceil(-np.log(draws.uniform("recency")) * 365 / (frequency + 1)), 1, 730)
    order_value = np.round(np.exp(3.7 + 0.35 * draws.normal("order_value")), 2)
    discount = expit(-1.0 + 1.2 * draws.normal("discount") - 0.3 * engagement + responsiveness)
    open_rate = expit(-1.0 + 0.8 * engagement + 0.7 * draws.normal("open_rate") + responsiveness)
    open_rate[draws.uniform("email_consent") < EMAIL_MISSING_SHARE] = np.nan
    channel_score = 0.5 * engagement + draws.normal("channel")
    channel_code = np.where(channel_score > 0.6, 1, np.where(channel_score < -0.7, 2, 0))
    region_code = np.searchsorted(np.cumsum(REGION_PROBS)[:-1], draws.uniform("region"))
    tier_code = np.where(
        (tenure >= 36) & (frequency >= 6), 2, np.where((tenure >= 24) | (frequency >= 6), 1, 0)
    )
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "recency_days": recency,
            "frequency_12m": frequency,
            "avg_order_value": order_value,
            "monetary_12m": np.round(frequency * order_value, 2),
            "discount_share": discount,
            "email_open_rate": open_rate,
            "channel": categorical(channel_code, np.array(["web", "app", "store"], object), None),
            "region": categorical(
                region_code, REGIONS, draws.uniform("region_missing") < REGION_MISSING_SHARE
            ),
            "loyalty_tier": categorical(
                tier_code, np.array(["none", "silver", "gold"], object), None
            ),
        }
    )


def recency_score(x: pd.DataFrame) -> np.ndarray:
    """r = log(1 + recency_days) / log(366): 0 for a purchase yesterday, 1 for a year ago."""
    return np.log1p(x["recency_days"].to_numpy()) / math.log(366.0)


def frequency_score(x: pd.DataFrame) -> np.ndarray:
    """f = log(1 + frequency_12m)."""
    return np.log1p(x["frequency_12m"].to_numpy())


def indicator(x: pd.DataFrame, column: str, value: str) -> np.ndarray:
    """1.0 where the categorical ``column`` equals ``value``, else 0.0 (nulls give 0.0)."""
    return (x[column].to_numpy() == value).astype(np.float64)
