"""Scenario ``costly_promotion``: a promotion that about doubles a purchase rate of about 1%,
worth less than it costs on average, so that sending it to everyone loses money and the gain is
all in targeting (the shape of a published promotion test: $10 a purchase, $0.15 a promotion)."""

from __future__ import annotations

from causal_targeting.data.simulate.population import FEATURES
from causal_targeting.data.simulate.rare_binary import RareBinaryResponse
from causal_targeting.data.simulate.spec import Scenario, ScenarioRecipe, contact_costs, frozen

MARGIN = 10.0
"""Value of one purchase."""
PROMOTION_COST = 0.15
"""Cost of one promotion sent: it pays where the effect exceeds 1.5 points."""


def build() -> Scenario:
    """The scenario (it has no parameters).

    The response is :class:`~causal_targeting.data.simulate.rare_binary.RareBinaryResponse` with
    β = −4.8 and κ = 1: p₀ about 0.9% on average and p₁ about twice it, an effect near 0 (or
    below) for full-price, non-reading customers and of several points for discount-driven app
    users who read their e-mail. Net value 10·τ − 0.15: about −0.06 a customer when everyone gets
    the promotion, so the best static policy is no offer, and the promotion pays for about one
    customer in six.
    """
    control, promotion = "none", "promotion"
    return Scenario(
        name="costly_promotion",
        description="a ~1% purchase that a promotion doubles; it loses money unless targeted",
        control=control,
        arms=(promotion,),
        features=FEATURES,
        outcomes=frozen({"purchased": "binary"}),
        costs=contact_costs(control, {promotion: PROMOTION_COST}),
        assignment_probs=frozen({control: 0.5, promotion: 0.5}),
        margin=MARGIN,
        value_outcome="purchased",
        response=RareBinaryResponse(
            control=control, promotion=promotion, intercept=-4.8, strength=1.0
        ),
    )


RECIPE = ScenarioRecipe(build=build)
