"""Scenario ``intent``: campaign-driven, organic, put-off and low-engagement customers, a
randomized e-mail exposure, and attribution labels with missing values.

Each customer has a latent type (``true_type``) drawn with fixed shares; the type shifts the
latent engagement and the responsiveness to campaigns from which the standard features are drawn
(:func:`~causal_targeting.data.simulate.population.customer_features`, plus ``visits_30d``), so
the features are related to the types with overlap. The truth columns condition on the type:
true_mu__converted__a = P(converted | x, type, a), and both potential outcomes are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy.special import expit

from causal_targeting.data.simulate.draws import Draws
from causal_targeting.data.simulate.population import (
    FEATURES,
    categorical,
    customer_features,
    frequency_score,
    recency_score,
)
from causal_targeting.data.simulate.spec import (
    ArmCost,
    BinaryResponse,
    Parameter,
    Scenario,
    ScenarioRecipe,
    frozen,
    pick,
)

TYPES = ("campaign_driven", "organic", "put_off", "low_engagement")
CAMPAIGN_DRIVEN_SHARE = 0.2
ENGAGEMENT = {"campaign_driven": 0.3, "organic": 1.0, "put_off": 0.3, "low_engagement": -0.8}
"""Mean of the latent engagement e of each type (e = mean + N(0, 1))."""
RESPONSIVENESS = {"campaign_driven": 0.8, "organic": 0.0, "put_off": -0.5, "low_engagement": 0.0}
"""Shift of the discount-share and open-rate logits of each type."""

PARAMETERS = MappingProxyType(
    {
        "exposure_share": Parameter(0.8, 0.05, 0.95, "share of customers e-mailed"),
        "organic_share": Parameter(0.25, 0.0, 0.6, "share of organic customers"),
        "put_off_share": Parameter(0.05, 0.0, 0.15, "share the campaign puts off"),
        "unattributed_share": Parameter(
            0.3, 0.0, 0.9, "share of exposed conversions never attributed"
        ),
    }
)


@dataclass(frozen=True)
class IntentPopulation:
    """Types with the given shares, and features drawn from the type's engagement.

    ``shares`` follows :data:`TYPES`. type = the k with U in the k-th interval of the
    cumulative shares; e = ENGAGEMENT[type] + Z; the standard features from e with
    responsiveness RESPONSIVENESS[type]; visits_30d = floor(Exp(1)·exp(0.8 + 0.7·e)).
    """

    shares: tuple[float, ...]

    def __call__(self, draws: Draws) -> pd.DataFrame:
        edges = np.cumsum(self.shares)[:-1]
        code = np.searchsorted(edges, draws.uniform("type"), side="right")
        engagement = np.array([ENGAGEMENT[t] for t in TYPES])[code] + draws.normal("engagement")
        responsiveness = np.array([RESPONSIVENESS[t] for t in TYPES])[code]
        features = customer_features(draws, engagement, responsiveness)
        visits = np.floor(-np.log(draws.uniform("visits")) * np.exp(0.8 + 0.7 * engagement))
        features["visits_30d"] = visits
        features["true_type"] = categorical(code, np.array(TYPES, dtype=object), None)
        return features


@dataclass(frozen=True)
class IntentResponse(BinaryResponse):
    """Conversion by type under exposure or not, and the attribution label.

    With f, r the frequency and recency scores and o the e-mail open rate (0.15 when null):

    ====================  ============================  ============================
    type                  P(converted | no e-mail)      P(converted | e-mail)
    ====================  ============================  ============================
    campaign_driven       0.03                          expit(−1.2 + 1.5·o)
    organic               expit(−0.5 + 0.5·f − r)       the same
    put_off               0.25                          0.08
    low_engagement        0.02                          0.02
    ====================  ============================  ============================

    converted(a) = 1[U < p_a] (common random numbers, so both potential outcomes are coupled);
    attributed = 1 for a conversion after the e-mail, missing (NaN) for such a conversion with
    probability ``unattributed_share`` (attribution lost, not negative), 0 for every other row.
    """

    outcome: ClassVar[str] = "converted"
    control: str
    exposure: str
    unattributed_share: float

    def probabilities(self, x: pd.DataFrame) -> dict[str, np.ndarray]:
        kind = x["true_type"].to_numpy()
        organic = expit(-0.5 + 0.5 * frequency_score(x) - recency_score(x))
        driven = expit(-1.2 + 1.5 * x["email_open_rate"].fillna(0.15).to_numpy())
        without = {"campaign_driven": 0.03, "organic": organic, "put_off": 0.25}
        exposed = {"campaign_driven": driven, "organic": organic, "put_off": 0.08}
        low = {"low_engagement": 0.02}
        return {self.control: pick(without | low, kind), self.exposure: pick(exposed | low, kind)}

    def realize(self, x: pd.DataFrame, arm: np.ndarray, draws: Draws) -> dict[str, np.ndarray]:
        converted = self.occurs(x, arm, draws)
        credited = converted & (arm == self.exposure)
        attributed = credited.astype(np.float64)
        attributed[credited & (draws.uniform("attribution") < self.unattributed_share)] = np.nan
        return {"converted": converted.astype(np.float64), "attributed": attributed}


def build(
    exposure_share: float = 0.8,
    organic_share: float = 0.25,
    put_off_share: float = 0.05,
    unattributed_share: float = 0.3,
) -> Scenario:
    """The scenario with these parameters (ranges in :data:`PARAMETERS`).

    Shares of the types: campaign_driven 0.2, organic ``organic_share``, put_off
    ``put_off_share``, low_engagement the rest (≥ 0.05). Value model: $10 of margin per
    conversion, a $2 discount paid on every conversion after the e-mail and $0.02 per e-mail,
    so the e-mail pays only for the campaign-driven.
    """
    control, exposure = "none", "email"
    low = 1.0 - CAMPAIGN_DRIVEN_SHARE - organic_share - put_off_share
    return Scenario(
        name="intent",
        description="campaign-driven, organic, put-off and low-engagement customers; e-mail",
        control=control,
        arms=(exposure,),
        features=frozen({**FEATURES, "visits_30d": "numeric"}),
        outcomes=frozen({"converted": "binary"}),
        costs=frozen({control: ArmCost(), exposure: ArmCost(contact_cost=0.02, reward=2.0)}),
        assignment_probs=frozen({control: 1.0 - exposure_share, exposure: exposure_share}),
        margin=10.0,
        value_outcome="converted",
        reward_outcome="converted",
        response=IntentResponse(control, exposure, unattributed_share),
        population=IntentPopulation((CAMPAIGN_DRIVEN_SHARE, organic_share, put_off_share, low)),
        latent=frozen({"true_type": "categorical"}),
        labels=("attributed",),
        potential_outcomes=True,
        params=frozen(
            {
                "exposure_share": exposure_share,
                "organic_share": organic_share,
                "put_off_share": put_off_share,
                "unattributed_share": unattributed_share,
            }
        ),
    )


RECIPE = ScenarioRecipe(build=build, parameters=PARAMETERS)
