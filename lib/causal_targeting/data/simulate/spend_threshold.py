"""Scenario ``spend_threshold``: a fine menu of 20 "spend X, get Y" offers vs none."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr

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
class SpendThresholdResponse:
    """Offers "spend X, get Y": a spend lift concave in X, the reward paid only if reached.

    Offer a has threshold X_a (reward Y_a); the control has X = 0. With r, f the recency and
    frequency scores:

    - purchase in the period: q(x) = expit(−0.3 + 0.6·f − 1.5·r), the same under every arm
    - spend if purchasing, no offer: m(x) = avg_order_value·(1 + 0.3·f)
    - saturation point c(x) = max(30, m·(0.6 + discount_share)); amplitude
      α(x) = 0.1 + 0.5·discount_share + 0.1·1[app]
    - spend multiplier M(X; x) = 1 + α·(1 − exp(−X/c) − λ·X/c), λ = 0.2: concave in X, M(0) = 1,
      rising to its peak at X = c·ln(1/λ) ≈ 1.6c, then falling as the threshold gets out of
      reach (below 1 past X ≈ 5c); c ≥ 30 keeps M ≥ 1 − 0.4·α ≥ 0.72 on the menu (X ≤ 210)
    - spend(a) = 1[U < q]·m·M(X_a)·L, L = exp(σZ − σ²/2) (σ = 0.5);
      redeemed(a) = 1[spend(a) ≥ X_a] (0 under none): the reward is paid only when reached;
      E[spend(a)|x] = q·m·M(X_a), E[redeemed(a)|x] = q·Φ((ln(m·M(X_a)/X_a) − σ²/2)/σ).
    """

    control: str
    thresholds: Mapping[str, float]
    decline: float = 0.2
    spend_sigma: float = 0.5

    def _purchase(self, x: pd.DataFrame) -> np.ndarray:
        return expit(-0.3 + 0.6 * frequency_score(x) - 1.5 * recency_score(x))

    def _spend_if_purchasing(self, x: pd.DataFrame) -> np.ndarray:
        return x["avg_order_value"].to_numpy() * (1 + 0.3 * frequency_score(x))

    def _curve(self, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(c, α): each customer's saturation point and amplitude."""
        discount = x["discount_share"].to_numpy()
        saturation = np.maximum(30.0, self._spend_if_purchasing(x) * (0.6 + discount))
        amplitude = 0.1 + 0.5 * discount + 0.1 * indicator(x, "channel", "app")
        return saturation, amplitude

    def multiplier(
        self, threshold: np.ndarray | float, saturation: np.ndarray, amplitude: np.ndarray
    ) -> np.ndarray:
        """M(X; x) = 1 + α·(1 − exp(−X/c) − λ·X/c), the offer's factor on the customer's spend."""
        ratio = threshold / saturation
        return 1 + amplitude * (1 - np.exp(-ratio) - self.decline * ratio)

    def means(self, x: pd.DataFrame) -> Means:
        purchase = self._purchase(x)
        spend = self._spend_if_purchasing(x)
        saturation, amplitude = self._curve(x)
        sigma = self.spend_sigma
        means: Means = {
            "redeemed": {self.control: np.zeros(len(x))},
            "spend": {self.control: purchase * spend},
        }
        for arm, threshold in self.thresholds.items():
            lifted = spend * self.multiplier(threshold, saturation, amplitude)
            z = (np.log(lifted / threshold) - sigma**2 / 2) / sigma
            means["redeemed"][arm] = purchase * ndtr(z)
            means["spend"][arm] = purchase * lifted
        return means

    def realize(self, x: pd.DataFrame, arm: np.ndarray, draws: Draws) -> dict[str, np.ndarray]:
        threshold = pick({self.control: 0.0, **self.thresholds}, arm)
        purchased = draws.uniform("purchased") < self._purchase(x)
        spend = (
            purchased
            * self._spend_if_purchasing(x)
            * self.multiplier(threshold, *self._curve(x))
            * draws.unit_lognormal("spend", self.spend_sigma)
        )
        redeemed = (threshold > 0) & (spend >= threshold)
        return {"redeemed": redeemed.astype(np.float64), "spend": spend}


THRESHOLDS = tuple(float(x) for x in range(20, 220, 10))
REWARD_SHARE = 0.1


def build() -> Scenario:
    """The scenario (it has no parameters)."""
    control = "none"
    rewards = {x: round(REWARD_SHARE * x, 2) for x in THRESHOLDS}
    offers = {f"spend_{x:g}_get_{y:g}": x for x, y in rewards.items()}
    treated_share = 0.8 / len(offers)
    return Scenario(
        name="spend_threshold",
        description='a fine menu of 20 "spend X, get Y" offers (Y = X/10) vs none',
        control=control,
        arms=tuple(offers),
        features=FEATURES,
        outcomes=frozen({"redeemed": "binary", "spend": "continuous"}),
        costs=frozen(
            {
                control: ArmCost(),
                **{
                    arm: ArmCost(contact_cost=0.1, reward=rewards[x], threshold=x)
                    for arm, x in offers.items()
                },
            }
        ),
        assignment_probs=frozen({control: 0.2, **{arm: treated_share for arm in offers}}),
        margin=0.4,
        value_outcome="spend",
        response=SpendThresholdResponse(control=control, thresholds=frozen(offers)),
    )


RECIPE = ScenarioRecipe(build=build)
