"""Scenario ``costly_retention``: six retention offers against churn (an outcome where less is
better), each costing more than the churn it saves, by the same amount for every customer: no
offer is the best policy, for every customer and on average (the shape of a multi-arm test in
which the models find no reliable heterogeneity and any policy that acts loses)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from causal_targeting.data.simulate.no_signal import ConstantEffectResponse
from causal_targeting.data.simulate.population import FEATURES
from causal_targeting.data.simulate.spec import Scenario, ScenarioRecipe, contact_costs, frozen

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


def build() -> Scenario:
    """The scenario (it has no parameters): seven arms of a seventh of the rows each; the value
    model is −$50 a churned customer less the offer's contact cost (``margin`` −50: the value
    outcome is one where less is better), so every offer loses for every customer. The churn is
    :class:`~causal_targeting.data.simulate.no_signal.ConstantEffectResponse` at the level
    p₀(x) = 0.05 + 0.4·expit(−1 − 0.5·f + 1.2·r), each offer's τ_a ≤ 0 (:data:`EFFECTS`)."""
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
        response=ConstantEffectResponse(
            control=control,
            effects=EFFECTS,
            outcome="churned",
            scale=0.4,
            frequency=-0.5,
            recency=1.2,
        ),
    )


RECIPE = ScenarioRecipe(build=build)
