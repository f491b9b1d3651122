"""Scenario ``no_signal``: three arms whose effects are the same for every customer; one of
them is mildly profitable on average, the others are not."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy.special import expit

from causal_targeting.data.simulate.population import FEATURES, frequency_score, recency_score
from causal_targeting.data.simulate.spec import (
    BinaryResponse,
    Scenario,
    ScenarioRecipe,
    contact_costs,
    frozen,
)

EFFECTS: Mapping[str, float] = MappingProxyType({"email": 0.010, "sms": 0.004, "coupon": 0.020})
"""Each arm's effect on the purchase probability, the same for every customer."""
CONTACT_COSTS: Mapping[str, float] = MappingProxyType({"email": 0.10, "sms": 0.30, "coupon": 0.50})
MARGIN = 20.0
"""Margin per purchase: net values 20·τ − cost are +0.10 (email), −0.22 (sms), −0.10 (coupon)."""


@dataclass(frozen=True)
class ConstantEffectResponse(BinaryResponse):
    """A binary outcome whose level varies with x but whose arms' effects do not.

    - p₀(x) = floor + scale·expit(intercept + frequency·f + recency·r), f and r the frequency
      and recency scores
    - p_a(x) = p₀(x) + τ_a with τ_a a constant (``effects``), so true_tau is τ_a on every row
    - Y(a) = 1[U < p_a], the outcome named ``outcome``

    Here a purchase, p₀ ∈ (0.05, 0.55) (the defaults); costly_retention's churn is another level.
    """

    control: str
    effects: Mapping[str, float]
    outcome: str = "purchased"
    floor: float = 0.05
    scale: float = 0.5
    intercept: float = -1.0
    frequency: float = 0.5
    recency: float = -1.4

    def probabilities(self, x: pd.DataFrame) -> dict[str, np.ndarray]:
        base = self.floor + self.scale * expit(
            self.intercept + self.frequency * frequency_score(x) + self.recency * recency_score(x)
        )
        return {self.control: base, **{arm: base + t for arm, t in self.effects.items()}}


def build() -> Scenario:
    """The scenario (it has no parameters); the value model is $20 a purchase less the arm's
    contact cost, so the best static policy is e-mail to everyone and nothing beats it."""
    control = "none"
    return Scenario(
        name="no_signal",
        description="effects equal for every customer; only e-mail pays, and only on average",
        control=control,
        arms=tuple(EFFECTS),
        features=FEATURES,
        outcomes=frozen({"purchased": "binary"}),
        costs=contact_costs(control, CONTACT_COSTS),
        assignment_probs=frozen({arm: 0.25 for arm in (control, *EFFECTS)}),
        margin=MARGIN,
        value_outcome="purchased",
        response=ConstantEffectResponse(control=control, effects=EFFECTS),
    )


RECIPE = ScenarioRecipe(build=build)
