"""Scenario ``costly_retention``: six retention offers against churn (an outcome where less is
better), each costing more than the churn it saves, by the same amount for every customer: no
offer is the best policy, for every customer and on average (the shape of a multi-arm test in
which the models find no reliable heterogeneity and any policy that acts loses)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

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

EFFECTS: Mapping[str, float] = MappingProxyType(
    {
        "call": -0.020,
        "letter": -0.004,
        "discount_10": -0.015,
        "discount_20": -0.030,
        "gift": -0.008,
        "email": 0.0,
    }
)
"""Each offer's effect on the churn probability, the same for every customer."""
CONTACT_COSTS: Mapping[str, float] = MappingProxyType(
    {"call": 1.2, "letter": 0.3, "discount_10": 1.0, "discount_20": 2.0, "gift": 0.5, "email": 0.02}
)
CHURN_COST = 50.0
"""What one churned customer costs: net values −50·τ − cost are −0.20 (call), −0.10 (letter),
−0.25 (discount_10), −0.50 (discount_20), −0.10 (gift) and −0.02 (email)."""


@dataclass(frozen=True)
class ChurnResponse(BinaryResponse):
    """A churn whose level varies with x but whose offers' effects do not.

    - p₀(x) = 0.05 + 0.4·expit(−1 − 0.5·f + 1.2·r), f and r the frequency and recency scores
    - p_a(x) = p₀(x) + τ_a with τ_a ≤ 0 a constant (:data:`EFFECTS`)
    - churned(a) = 1[U < p_a]
    """

    outcome: ClassVar[str] = "churned"
    control: str
    effects: Mapping[str, float]

    def probabilities(self, x: pd.DataFrame) -> dict[str, np.ndarray]:
        base = 0.05 + 0.4 * expit(-1.0 - 0.5 * frequency_score(x) + 1.2 * recency_score(x))
        return {self.control: base, **{arm: base + t for arm, t in self.effects.items()}}


def build() -> Scenario:
    """The scenario (it has no parameters): seven arms of a seventh of the rows each; the value
    model is −$50 a churned customer less the offer's contact cost (``margin`` −50: the value
    outcome is one where less is better), so every offer loses for every customer."""
    control = "none"
    return Scenario(
        name="costly_retention",
        description="six retention offers; each costs more than the churn it saves, for everyone",
        control=control,
        arms=tuple(EFFECTS),
        features=FEATURES,
        outcomes=frozen({"churned": "binary"}),
        costs=contact_costs(control, CONTACT_COSTS),
        assignment_probs=frozen({arm: 1 / 7 for arm in (control, *EFFECTS)}),
        margin=-CHURN_COST,
        value_outcome="churned",
        response=ChurnResponse(control=control, effects=EFFECTS),
    )


RECIPE = ScenarioRecipe(build=build)
