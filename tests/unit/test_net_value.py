"""Net value in the allocator's units: hand-computed on a three-row holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal_targeting.evaluation.net_value import policy_cost, with_net_value
from causal_targeting.value import ValueModel, VariableCost

MODEL = ValueModel(
    weights={"spend": 0.5},
    fixed_cost={"r5": 1.0, "r10": 2.0},
    variable_costs=(VariableCost("mu__redeemed__{arm}", {"r5": 5.0, "r10": 10.0}),),
)


def holdout(with_truth: bool) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "treatment": ["none", "r5", "r10"],
            "spend": [10.0, 20.0, 40.0],
            "redeemed": [0.0, 1.0, 0.0],
            "mu__spend__none": [10.0, 12.0, 14.0],
            "mu__spend__r5": [16.0, 18.0, 20.0],
            "mu__spend__r10": [20.0, 30.0, 40.0],
            "mu__redeemed__r5": [0.2, 0.4, 0.6],
            "mu__redeemed__r10": [0.1, 0.3, 0.5],
        }
    )
    if with_truth:
        for column in [c for c in frame.columns if c.startswith("mu__")]:
            frame[f"true_{column}"] = frame[column] + 1.0
    return frame


def test_realized_value_pays_rewards_only_on_redemption() -> None:
    frame = with_net_value(holdout(False), MODEL, ["r5", "r10"], "none")
    # none: 0.5*10; r5: 0.5*20 - 1 - 5*1 (redeemed); r10: 0.5*40 - 2 - 10*0 (not redeemed)
    np.testing.assert_allclose(frame["value"], [5.0, 4.0, 18.0])


def test_predicted_values_subtract_expected_costs() -> None:
    frame = with_net_value(holdout(False), MODEL, ["r5", "r10"], "none")
    np.testing.assert_allclose(frame["mu__value__none"], [5.0, 6.0, 7.0])
    np.testing.assert_allclose(frame["mu__value__r5"], [8 - 1 - 1.0, 9 - 1 - 2.0, 10 - 1 - 3.0])
    np.testing.assert_allclose(frame["mu__value__r10"], [10 - 2 - 1.0, 15 - 2 - 3.0, 20 - 2 - 5.0])
    assert "true_mu__value__r5" not in frame.columns


def test_truth_columns_give_true_values_the_same_way() -> None:
    frame = with_net_value(holdout(True), MODEL, ["r5", "r10"], "none")
    # true spend +1 (0.5 more value), true redemption +1 (one more reward paid)
    expected = frame["mu__value__r5"] + 0.5 - 5.0
    np.testing.assert_allclose(frame["true_mu__value__r5"], expected)
    assert frame["true_mu__value__none"].tolist() == pytest.approx([5.5, 6.5, 7.5])


def test_policy_cost_sums_each_row_cost_of_its_arm() -> None:
    costs = pd.DataFrame({"cost__a": [1.0, 2.0, 3.0], "cost__b": [10.0, 20.0, 30.0]})
    policy = np.array(["a", "none", "b"], dtype=object)
    assert policy_cost(costs, policy) == pytest.approx(1.0 + 30.0)
    # a stochastic policy: each row's costs weighted by its probabilities (no offer is free)
    shares = pd.DataFrame({"none": [0.5, 1.0, 0.0], "a": [0.5, 0.0, 0.25], "b": [0.0, 0.0, 0.75]})
    assert policy_cost(costs, shares) == pytest.approx(0.5 + 0.25 * 3.0 + 0.75 * 30.0)
