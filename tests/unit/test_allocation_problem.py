"""Guardrail rows and option masks of the allocation problem (no Spark)."""

from __future__ import annotations

import numpy as np
import pytest

from causal_targeting.allocation.problem import (
    DoNoHarm,
    Guardrail,
    available_options,
    check_names,
    option_block,
    row_limits,
)
from causal_targeting.errors import ConfigError, DataContractError
from value_support import ARMS, MODEL, scores


def test_eligibility_columns_mask_options_and_null_means_not_eligible() -> None:
    frame = scores().assign(eligible__mail=[True, None, False])
    mask = available_options(frame, ARMS)
    assert mask.tolist() == [[True, True], [False, True], [False, True]]


def test_do_no_harm_keeps_options_whose_lower_bound_is_above_zero() -> None:
    frame = scores().assign(**{"tau_se__spend__mail": [1.0, 1.0, 1.0],
                               "tau_se__spend__sms": [5.0, 1.0, 0.1]})
    margin_only = available_options(frame, ARMS, DoNoHarm("spend", margin=2.5))
    assert margin_only.tolist() == [[True, True], [False, True], [False, True]]
    with_se = available_options(frame, ARMS, DoNoHarm("spend", z=2.0))
    # lower = tau - 2 se: mail [8, 0, -3], sms [-6, 4, 2.8]
    assert with_se.tolist() == [[True, False], [False, True], [False, True]]
    with pytest.raises(DataContractError, match="tau_se__spend__mail"):
        available_options(scores(), ARMS, DoNoHarm("spend", z=1.0))


def test_do_no_harm_on_value_bounds_the_net_value() -> None:
    # net values (MODEL): mail [8, 0.2, -0.4], sms [2.3, 9.3, 2.3]
    on_value = DoNoHarm(on="value", margin=1.0)
    assert available_options(scores(), ARMS, on_value, MODEL).tolist() == [
        [True, True], [False, True], [False, True]
    ]
    frame = scores().assign(**{
        "tau_se__spend__mail": 1.0, "tau_se__visit__mail": 0.1,
        "tau_se__spend__sms": [5.0, 1.0, 0.1], "tau_se__visit__sms": 0.0,
    })
    # se of the value: mail sqrt(1 + (10 * 0.1)^2) = 1.41, sms [5, 1, 0.1]
    with_se = available_options(frame, ARMS, DoNoHarm(on="value", z=1.0), MODEL)
    assert with_se.tolist() == [[True, False], [False, True], [False, True]]


def test_do_no_harm_where_less_is_better_uses_the_negated_effect() -> None:
    lower_is_better = DoNoHarm("spend", sign=-1.0)
    assert available_options(scores(), ARMS, lower_is_better).tolist() == [
        [False, False], [False, False], [True, False]
    ]


def test_option_block_rows_and_unavailable_values() -> None:
    guardrails = [
        Guardrail("budget", "budget", limit=10.0),
        Guardrail("revenue", "revenue_floor", limit=5.0, outcome="spend"),
        Guardrail("mail_min", "offer_min", limit=1.0, arm="mail"),
        Guardrail("seg_a", "segment_cap", share=0.5, segment_column="segment", segment="a"),
    ]
    frame = scores().assign(eligible__sms=[True, True, False])
    block = option_block(frame, MODEL, guardrails, ARMS)
    assert block.values.shape == (3, 2) and block.usage.shape == (4, 3, 2)
    assert np.isneginf(block.values[2, 1])
    assert block.usage[0, 0].tolist() == pytest.approx([3.0, 1.7])  # cost = fixed + 4 * mu
    assert block.usage[1, :, 0].tolist() == [-10.0, -2.0, 1.0]  # floors are negated rows
    assert block.usage[2].tolist() == [[-1.0, 0.0]] * 3
    assert block.usage[3].tolist() == [[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]
    assert block.population.tolist() == [3.0, 3.0, 3.0, 2.0]


def test_row_limits_resolve_amounts_and_shares() -> None:
    guardrails = [
        Guardrail("budget", "budget", share=0.5),
        Guardrail("revenue", "revenue_floor", share=0.8, outcome="spend"),
        Guardrail("contacts", "contacts", share=0.1),
        Guardrail("mail_min", "offer_min", limit=3.0, arm="mail"),
    ]
    limits = row_limits(guardrails, np.array([200.0, -1000.0, 50.0, -9.0]),
                        np.array([100.0, 100.0, 100.0, 100.0]))
    assert limits.tolist() == pytest.approx([100.0, -800.0, 10.0, -3.0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "budget", "limit": 1.0, "share": 0.5}, "exactly one"),
        ({"kind": "budget"}, "exactly one"),
        ({"kind": "offer_cap", "limit": 1.0}, "needs the arm"),
        ({"kind": "revenue_floor", "limit": 1.0}, "revenue outcome"),
        ({"kind": "segment_cap", "limit": 1.0}, "segment_column"),
        ({"kind": "budget", "share": -0.1}, ">= 0"),
        ({"kind": "bogus", "limit": 1.0}, "not one of"),
    ],
)
def test_bad_guardrails_are_refused_by_name(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=f"guardrail 'g'.*{message}"):
        Guardrail("g", **kwargs)


def test_unknown_arm_and_duplicate_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="'push' is not one of the offers"):
        option_block(scores(), MODEL, [Guardrail("g", "offer_cap", limit=1, arm="push")], ARMS)
    with pytest.raises(ConfigError, match="'g' is used twice"):
        check_names([Guardrail("g", "contacts", limit=1), Guardrail("g", "budget", limit=1)])
