"""Baseline policies at our policy's contact count and budget."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal_targeting.errors import DataContractError
from causal_targeting.evaluation.baselines import (
    BASELINES,
    baseline_policies,
    best_average_arm,
    fill_in_order,
)

ARMS = ["none", "email", "sms"]
COSTS = {"email": 1.0, "sms": 2.0}


def _holdout(costs: dict[str, float] = COSTS) -> pd.DataFrame:
    """Predicted net values (the evaluate stage's ``mu__value__{arm}``): an outcome level less
    the arm's cost. Mean gains before cost: email 1.5, sms 2.0; under COSTS email 0.5, sms 0 ->
    email is best."""
    level = {
        "none": [5.0, 1.0, 3.0, 4.0, 2.0, 0.0],
        "email": [6.0, 3.0, 4.0, 6.0, 3.0, 1.0],
        "sms": [7.0, 3.0, 5.0, 6.0, 4.0, 2.0],
    }
    return pd.DataFrame(
        {f"mu__y__{arm}": np.array(v) - costs.get(arm, 0.0) for arm, v in level.items()}
    )


def test_best_average_arm_is_the_highest_mean_gain_of_the_net_values() -> None:
    assert best_average_arm(_holdout().set_axis(ARMS, axis=1), control="none") == "email"
    assert best_average_arm(_holdout({}).set_axis(ARMS, axis=1), control="none") == "sms"


def test_fill_in_order_stops_at_contacts_or_budget() -> None:
    order, offers = np.array([2, 0, 1, 3]), np.array(["sms", "email", "sms", "email"], object)
    limits = {"n_rows": 4, "control": "none", "costs": COSTS}
    by_count = fill_in_order(order, offers, max_contacts=2, budget=100.0, **limits)
    assert list(by_count) == ["email", "none", "sms", "none"]
    by_budget = fill_in_order(order, offers, max_contacts=4, budget=4.9, **limits)
    assert list(by_budget) == ["email", "none", "sms", "none"]
    exact_budget = fill_in_order(order, offers, max_contacts=4, budget=5.0, **limits)
    assert list(exact_budget) == ["email", "sms", "sms", "none"]


def test_baselines_match_contacts_and_budget_of_our_policy() -> None:
    ours = np.array(
        ["sms", "none", "email", "none", "none", "none"], dtype=object
    )  # 2 contacts, 3.0
    out = baseline_policies(
        _holdout(), ours, outcome="y", arms=ARMS, control="none", costs=COSTS, seed=1
    )
    assert tuple(out) == BASELINES
    # propensity: email (best) to the two rows with the highest mu under control (rows 0 and 3)
    assert list(out["propensity"]) == ["email", "none", "none", "email", "none", "none"]
    static = out["static_best"]
    assert (static != "none").sum() == 2 and set(static[static != "none"]) == {"email"}
    rand = out["random"]
    assert sorted(rand) == sorted(ours)  # our offers, shuffled: same contacts, same budget
    assert not np.array_equal(rand, ours)
    assert (out["treat_all"] == "email").all() and (out["treat_none"] == "none").all()
    again = baseline_policies(
        _holdout(), ours, outcome="y", arms=ARMS, control="none", costs=COSTS, seed=1
    )
    assert all(np.array_equal(out[k], again[k]) for k in BASELINES)


def test_budget_binds_before_contacts_for_a_costlier_best_offer() -> None:
    # costs email 0.6, sms 1.0: net mean gains 0.9 and 1.0 -> sms is best (its cost is in the
    # net values once: taken off again, email would win, 0.3 against 0.0); our 3 emails cost
    # 1.8, which pays for one sms
    costs = {"email": 0.6, "sms": 1.0}
    ours = np.array(["email"] * 3 + ["none"] * 3, dtype=object)
    frame = _holdout(costs)
    out = baseline_policies(frame, ours, outcome="y", arms=ARMS, control="none", costs=costs)
    assert (out["treat_all"] == "sms").all()
    assert list(out["propensity"]) == ["sms"] + ["none"] * 5
    assert (out["static_best"] == "sms").sum() == 1


def test_response_column_overrides_ranking() -> None:
    frame = _holdout().assign(p_buy=[0.0, 0.9, 0.1, 0.2, 0.8, 0.3])
    ours = np.array(["email", "email"] + ["none"] * 4, dtype=object)
    out = baseline_policies(
        frame, ours, outcome="y", arms=ARMS, control="none", costs=COSTS, response_col="p_buy"
    )
    assert list(np.flatnonzero(out["propensity"] != "none")) == [1, 4]


@pytest.mark.parametrize(
    ("frame", "policy", "match"),
    [
        (_holdout().drop(columns="mu__y__sms"), ["none"] * 6, "missing columns"),
        (_holdout(), ["none"] * 5, "for 6 rows"),
        (_holdout(), ["none"] * 5 + ["fax"], "not arms"),
    ],
)
def test_refuses_bad_inputs(frame: pd.DataFrame, policy: list[str], match: str) -> None:
    with pytest.raises(DataContractError, match=match):
        baseline_policies(frame, policy, outcome="y", arms=ARMS, control="none", costs=COSTS)
