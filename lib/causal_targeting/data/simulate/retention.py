"""Scenario ``retention``: one retention message vs none; some customers are harmed by it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from causal_targeting.data.simulate.draws import Draws
from causal_targeting.data.simulate.population import (
    FEATURES,
    frequency_score,
    indicator,
    recency_score,
)
from causal_targeting.data.simulate.spec import (
    ArmCost,
    Means,
    Scenario,
    ScenarioRecipe,
    frozen,
    pick,
)


@dataclass(frozen=True)
class RetentionResponse:
    """One retention message against none; a share of customers is harmed by the message.

    With r the recency score, f the frequency score, o the e-mail open rate (0.15 when null):

    - retention probability: p_a(x) = expit(η(x) + δ(x)·1[a = message]) with
      η = 0.2 + 0.7·f − 2.2·r + 0.25·log(tenure/12) + 0.3·1[gold]
    - effect on the logit: δ(x) = 1.6·(r − 0.40) + 0.8·discount_share − 0.9·(1 − r)·1[store]
      − 0.6·(1 − o); negative for recent, full-price, store or non-reading customers, whom the
      message reminds to leave (the "sleeping dogs", about a quarter of the population)
    - revenue if retained: m(x) = 1.5·avg_order_value·(1 + f), the same under both arms
    - retained(a) = 1[U < p_a], revenue(a) = retained(a)·m(x)·L with L log-normal of mean 1
      (σ = 0.6), so E[retained(a)|x] = p_a and E[revenue(a)|x] = p_a·m.
    """

    control: str
    message: str
    revenue_sigma: float = 0.6

    def _retention_probabilities(self, x: pd.DataFrame) -> dict[str, np.ndarray]:
        r, f = recency_score(x), frequency_score(x)
        opened = x["email_open_rate"].fillna(0.15).to_numpy()
        base = (
            0.2
            + 0.7 * f
            - 2.2 * r
            + 0.25 * np.log(x["tenure_months"].to_numpy() / 12.0)
            + 0.3 * indicator(x, "loyalty_tier", "gold")
        )
        effect = (
            1.6 * (r - 0.40)
            + 0.8 * x["discount_share"].to_numpy()
            - 0.9 * (1 - r) * indicator(x, "channel", "store")
            - 0.6 * (1 - opened)
        )
        return {self.control: expit(base), self.message: expit(base + effect)}

    def _revenue_if_retained(self, x: pd.DataFrame) -> np.ndarray:
        return 1.5 * x["avg_order_value"].to_numpy() * (1 + frequency_score(x))

    def means(self, x: pd.DataFrame) -> Means:
        retained = self._retention_probabilities(x)
        value = self._revenue_if_retained(x)
        return {
            "retained": retained,
            "revenue": {arm: p * value for arm, p in retained.items()},
        }

    def realize(self, x: pd.DataFrame, arm: np.ndarray, draws: Draws) -> dict[str, np.ndarray]:
        probability = pick(self._retention_probabilities(x), arm)
        retained = (draws.uniform("retained") < probability).astype(np.float64)
        amount = self._revenue_if_retained(x) * draws.unit_lognormal("revenue", self.revenue_sigma)
        return {"retained": retained, "revenue": retained * amount}


def build() -> Scenario:
    """The scenario (it has no parameters)."""
    control, message = "none", "retention_message"
    return Scenario(
        name="retention",
        description="one retention message vs none; some customers are harmed by the message",
        control=control,
        arms=(message,),
        features=FEATURES,
        outcomes=frozen({"retained": "binary", "revenue": "continuous"}),
        costs=frozen({control: ArmCost(), message: ArmCost(contact_cost=0.5)}),
        assignment_probs=frozen({control: 0.3, message: 0.7}),
        margin=0.4,
        value_outcome="revenue",
        response=RetentionResponse(control=control, message=message),
    )


RECIPE = ScenarioRecipe(build=build)
