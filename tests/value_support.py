"""Scores of three customers and a value model, shared by the value and allocation tests."""

from __future__ import annotations

import pandas as pd

from causal_targeting.value import ValueModel, VariableCost

ARMS = ["mail", "sms"]


def scores() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [1, 2, 3],
        "tau__spend__mail": [10.0, 2.0, -1.0],
        "tau__spend__sms": [4.0, 6.0, 3.0],
        "tau__visit__mail": [0.1, 0.0, 0.2],
        "tau__visit__sms": [0.0, 0.5, 0.1],
        "mu__redeem__mail": [0.5, 0.2, 0.1],
        "mu__redeem__sms": [0.3, 0.3, 0.3],
        "segment": ["a", "b", "a"],
    })


MODEL = ValueModel(
    weights={"spend": 1.0, "visit": 10.0},
    fixed_cost={"mail": 1.0, "sms": 0.5},
    variable_costs=(VariableCost("mu__redeem__{arm}", 4.0),),
)
