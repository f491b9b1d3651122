"""Scenario ``every_arm_pays``: four offers, each profitable on average, each the best one for
a different kind of customer (the shape of a multi-arm test where sending the best offer to
everyone is the policy to beat)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy.special import expit

from causal_targeting.data.simulate.population import (
    FEATURES,
    frequency_score,
    indicator,
    recency_score,
)
from causal_targeting.data.simulate.spec import (
    BinaryResponse,
    Scenario,
    ScenarioRecipe,
    contact_costs,
    frozen,
)

CONTACT_COSTS: Mapping[str, float] = MappingProxyType(
    {"email": 0.05, "sms": 0.10, "push": 0.03, "coupon": 0.25}
)
MARGIN = 20.0
"""Value of one purchase."""


@dataclass(frozen=True)
class EveryArmPaysResponse(BinaryResponse):
    """A purchase of about 7% and four offers that each lift its logit, by an amount that grows
    with a different feature.

    With f, r the frequency and recency scores, o the e-mail open rate (0 when null: no consent,
    no e-mail read) and d the discount share:

    - without an offer: p₀(x) = expit(η), η = −2.6 + 0.5·f − 1.0·r
    - with offer a: p_a(x) = expit(η + ℓ_a(x)), where ℓ_email = 0.05 + 0.36·o,
      ℓ_sms = 0.10 + 0.20·1[store], ℓ_push = 0.02 + 0.24·1[app], ℓ_coupon = 0.10 + 0.36·d
    - purchased(a) = 1[U < p_a]
    """

    outcome: ClassVar[str] = "purchased"
    control: str

    def probabilities(self, x: pd.DataFrame) -> dict[str, np.ndarray]:
        opened = x["email_open_rate"].fillna(0.0).to_numpy()
        base = -2.6 + 0.5 * frequency_score(x) - 1.0 * recency_score(x)
        lifts = {
            "email": 0.05 + 0.36 * opened,
            "sms": 0.10 + 0.20 * indicator(x, "channel", "store"),
            "push": 0.02 + 0.24 * indicator(x, "channel", "app"),
            "coupon": 0.10 + 0.36 * x["discount_share"].to_numpy(),
        }
        return {self.control: expit(base), **{a: expit(base + lift) for a, lift in lifts.items()}}


def build() -> Scenario:
    """The scenario (it has no parameters).

    Value model: $20 a purchase less the offer's contact cost (:data:`CONTACT_COSTS`). Every
    offer sent to everyone pays (e-mail about +0.16 a customer, the best; push +0.10, sms +0.09,
    coupon +0.03), and the best offer of each customer is worth about 1.6 times e-mail to
    everyone: e-mail for readers, sms in stores, push on the app, the coupon for discount buyers.
    """
    control = "none"
    return Scenario(
        name="every_arm_pays",
        description="four offers, each profitable on average, each best for other customers",
        control=control,
        arms=tuple(CONTACT_COSTS),
        features=FEATURES,
        outcomes=frozen({"purchased": "binary"}),
        costs=contact_costs(control, CONTACT_COSTS),
        assignment_probs=frozen({arm: 0.2 for arm in (control, *CONTACT_COSTS)}),
        margin=MARGIN,
        value_outcome="purchased",
        response=EveryArmPaysResponse(control=control),
    )


RECIPE = ScenarioRecipe(build=build)
