"""Scenario ``rewards``: event rewards of 5, 10 and 20 vs none; effects not monotone in cost."""

from __future__ import annotations

from collections.abc import Mapping
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
class RewardsResponse:
    """Event rewards of several values; the appeal of a reward peaks at a personal value.

    Reward arm a pays v_a on redemption. With r, f the recency and frequency scores:

    - organic event purchase: η(x) = −1.0 + 0.5·f − 1.4·r + 0.3·1[app]
    - personal reference reward v*(x) = clip(0.15·avg_order_value·(1 + 2·discount_share), 3, 40)
    - appeal A(x) = 0.2 + 1.5·discount_share + 0.3·1[gold]
    - purchase probability p_a(x) = expit(η + A·exp(−ln²(v_a / v*) / (2·0.7²))), p_none = expit(η)
      — a bump in log reward value: for a customer with v* = 5 the 5 reward beats the 20 one,
      so the effect is not monotone in the reward's cost for everyone
    - basket at the event b_a(x) = avg_order_value·(1 + 0.2·f) + v_a (the reward is spent)
    - purchased(a) = 1[U < p_a]; redeemed(a) = purchased(a) for a reward arm, 0 under none;
      spend(a) = purchased(a)·b_a·L, L log-normal of mean 1 (σ = 0.5);
      E[redeemed(a)|x] = p_a (0 under none), E[spend(a)|x] = p_a·b_a.
    """

    control: str
    rewards: Mapping[str, float]
    width: float = 0.7
    spend_sigma: float = 0.5

    def _purchase_probabilities(self, x: pd.DataFrame) -> dict[str, np.ndarray]:
        r, f = recency_score(x), frequency_score(x)
        discount = x["discount_share"].to_numpy()
        base = -1.0 + 0.5 * f - 1.4 * r + 0.3 * indicator(x, "channel", "app")
        reference = np.clip(0.15 * x["avg_order_value"].to_numpy() * (1 + 2 * discount), 3, 40)
        appeal = 0.2 + 1.5 * discount + 0.3 * indicator(x, "loyalty_tier", "gold")
        probabilities = {self.control: expit(base)}
        for arm, value in self.rewards.items():
            bump = np.exp(-(np.log(value / reference) ** 2) / (2 * self.width**2))
            probabilities[arm] = expit(base + appeal * bump)
        return probabilities

    def _baskets(self, x: pd.DataFrame) -> dict[str, np.ndarray]:
        basket = x["avg_order_value"].to_numpy() * (1 + 0.2 * frequency_score(x))
        rewards = {self.control: 0.0, **self.rewards}
        return {arm: basket + value for arm, value in rewards.items()}

    def means(self, x: pd.DataFrame) -> Means:
        purchase = self._purchase_probabilities(x)
        baskets = self._baskets(x)
        redeemed = {arm: p * (arm != self.control) for arm, p in purchase.items()}
        return {
            "redeemed": redeemed,
            "spend": {arm: p * baskets[arm] for arm, p in purchase.items()},
        }

    def realize(self, x: pd.DataFrame, arm: np.ndarray, draws: Draws) -> dict[str, np.ndarray]:
        probability = pick(self._purchase_probabilities(x), arm)
        purchased = (draws.uniform("purchased") < probability).astype(np.float64)
        basket = pick(self._baskets(x), arm) * draws.unit_lognormal("spend", self.spend_sigma)
        return {
            "redeemed": purchased * (arm != self.control),
            "spend": purchased * basket,
        }


REWARD_VALUES = (5.0, 10.0, 20.0)


def build() -> Scenario:
    """The scenario (it has no parameters)."""
    control = "none"
    rewards = {f"reward_{int(v)}": v for v in REWARD_VALUES}
    return Scenario(
        name="rewards",
        description="event rewards of 5, 10 and 20 vs none; effects not monotone in cost",
        control=control,
        arms=tuple(rewards),
        features=FEATURES,
        outcomes=frozen({"redeemed": "binary", "spend": "continuous"}),
        costs=frozen(
            {
                control: ArmCost(),
                **{arm: ArmCost(contact_cost=0.25, reward=v) for arm, v in rewards.items()},
            }
        ),
        assignment_probs=frozen({arm: 0.25 for arm in (control, *rewards)}),
        margin=0.4,
        value_outcome="spend",
        response=RewardsResponse(control=control, rewards=frozen(rewards)),
    )


RECIPE = ScenarioRecipe(build=build)
