"""The value model: weighted effects minus fixed and variable costs (no Spark)."""

from __future__ import annotations

import pytest

from causal_targeting.errors import ConfigError, DataContractError
from causal_targeting.value import ValueModel, VariableCost, values_frame
from value_support import ARMS, MODEL, scores


def test_values_are_weighted_effects_minus_fixed_and_variable_cost() -> None:
    values = values_frame(scores(), MODEL, ARMS)
    assert list(values.columns) == ["value__mail", "value__sms"]
    # customer 1, mail: 10 + 10*0.1 - 1 - 4*0.5 = 8
    assert values.loc[0, "value__mail"] == pytest.approx(8.0)
    # customer 2, sms: 6 + 10*0.5 - 0.5 - 4*0.3 = 9.3
    assert values.loc[1, "value__sms"] == pytest.approx(9.3)


def test_per_arm_rates_and_a_missing_arm_is_refused() -> None:
    model = ValueModel({"spend": 1.0}, variable_costs=(
        VariableCost("mu__redeem__{arm}", {"mail": 2.0, "sms": 0.0}),))
    values = values_frame(scores(), model, ARMS)
    assert values["value__mail"].tolist() == pytest.approx([9.0, 1.6, -1.2])
    with pytest.raises(ConfigError, match="sms"):
        values_frame(scores(), ValueModel({"spend": 1.0}, fixed_cost={"mail": 1.0}), ARMS)


def test_missing_or_null_score_column_names_it() -> None:
    with pytest.raises(DataContractError, match="tau__spend__sms"):
        values_frame(scores().drop(columns="tau__spend__sms"), MODEL, ARMS)
    broken = scores()
    broken.loc[1, "mu__redeem__mail"] = None
    with pytest.raises(DataContractError, match=r"mu__redeem__mail.*null"):
        values_frame(broken, MODEL, ARMS)
