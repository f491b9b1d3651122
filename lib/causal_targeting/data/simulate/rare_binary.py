"""Scenario ``rare_binary``: a purchase rate of about 1%, a small heterogeneous effect of a
promotion (a tenth of the base rate on average) and five pure-noise features."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy.special import expit

from causal_targeting.data.simulate.draws import Draws
from causal_targeting.data.simulate.population import (
    FEATURES,
    FeatureKind,
    categorical,
    customer_features,
    frequency_score,
    indicator,
    recency_score,
)
from causal_targeting.data.simulate.spec import (
    ArmCost,
    BinaryResponse,
    Scenario,
    ScenarioRecipe,
    frozen,
)

NOISE_FEATURES: Mapping[str, FeatureKind] = MappingProxyType(
    {
        "noise_1": "numeric",
        "noise_2": "numeric",
        "noise_3": "numeric",
        "noise_4": "numeric",
        "noise_5": "categorical",
    }
)
NOISE_LEVELS = np.array(["a", "b", "c", "d", "e"], dtype=object)


def population_with_noise(draws: Draws) -> pd.DataFrame:
    """The standard customer features, then features no outcome depends on.

    noise_1 .. noise_4 ~ N(0, 1) and noise_5 uniform on {a, b, c, d, e}, each from its own
    stream, independent of every other feature and of the outcomes.
    """
    features = customer_features(draws)
    for name in list(NOISE_FEATURES)[:4]:
        features[name] = draws.normal(name)
    codes = np.floor(draws.uniform("noise_5") * len(NOISE_LEVELS)).astype(np.int64)
    features["noise_5"] = categorical(codes, NOISE_LEVELS, None)
    return features


@dataclass(frozen=True)
class RareBinaryResponse(BinaryResponse):
    """A rare purchase and a promotion whose small effect varies with three features.

    With r, f the recency and frequency scores, d the discount share and o the e-mail open rate
    (0.15 when null):

    - purchase without the promotion: p₀(x) = expit(η), η = β + 0.6·f − 1.2·r + 0.3·1[gold],
      β = ``intercept`` (−4.7 here: about 1% on average)
    - with it: p₁(x) = expit(η + κ·g), g = 1.5·d + 0.6·1[app] + 0.8·o − 0.3, κ = ``strength``
      (0.15 here): on a rare outcome p₁ − p₀ ≈ p₀·(e^{κg} − 1), about a tenth of p₀ on average
      at κ = 0.15, negative for the few full-price, non-reading web or store customers (g < 0)
    - purchased(a) = 1[U < p_a]; noise_1 .. noise_5 enter nothing.
    """

    outcome: ClassVar[str] = "purchased"
    control: str
    promotion: str
    intercept: float = -4.7
    strength: float = 0.15

    def probabilities(self, x: pd.DataFrame) -> dict[str, np.ndarray]:
        opened = x["email_open_rate"].fillna(0.15).to_numpy()
        base = (
            self.intercept
            + 0.6 * frequency_score(x)
            - 1.2 * recency_score(x)
            + 0.3 * indicator(x, "loyalty_tier", "gold")
        )
        lift = (
            1.5 * x["discount_share"].to_numpy()
            + 0.6 * indicator(x, "channel", "app")
            + 0.8 * opened
            - 0.3
        )
        return {self.control: expit(base), self.promotion: expit(base + self.strength * lift)}


def build() -> Scenario:
    """The scenario (it has no parameters).

    Value model: $30 of margin per purchase, $0.03 per promotion sent: the promotion pays where
    the effect exceeds 0.1 points, about a third of the customers; sending it to everyone
    about breaks even, so the oracle's gain comes from targeting.
    """
    control, promotion = "none", "promotion"
    return Scenario(
        name="rare_binary",
        description="a ~1% purchase, a promotion lifting it by ~10% on average; noise features",
        control=control,
        arms=(promotion,),
        features=frozen({**FEATURES, **NOISE_FEATURES}),
        outcomes=frozen({"purchased": "binary"}),
        costs=frozen({control: ArmCost(), promotion: ArmCost(contact_cost=0.03)}),
        assignment_probs=frozen({control: 0.5, promotion: 0.5}),
        margin=30.0,
        value_outcome="purchased",
        response=RareBinaryResponse(control=control, promotion=promotion),
        population=population_with_noise,
    )


RECIPE = ScenarioRecipe(build=build)
