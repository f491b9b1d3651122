"""Baseline policies at our policy's contact count and budget."""

from __future__ import annotations

import itertools

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
from causal_targeting.evaluation.policy_value import policy_values

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
    out = baseline_policies(_holdout(), ours, outcome="y", arms=ARMS, control="none", costs=COSTS)
    assert tuple(out) == BASELINES
    # propensity: email (best) to the two rows with the highest mu under control (rows 0 and 3)
    assert list(out["propensity"]) == ["email", "none", "none", "email", "none", "none"]
    # static_best: email to 2 of the 6 rows at random, i.e. to each row with probability 1/3
    static = out["static_best"]
    assert static.shape == (6, 2) and np.allclose(static["email"], 1 / 3)
    assert np.allclose(static["none"], 2 / 3)
    # random: our offers shuffled, each row gets sms, email or none as often as ours do
    shares = out["random"]
    assert np.allclose(shares[["sms", "email", "none"]], [[1 / 6, 1 / 6, 4 / 6]] * 6)
    assert (out["treat_all"] == "email").all() and (out["treat_none"] == "none").all()


@pytest.mark.parametrize(("rows", "cost"), [(150_000, 0.1), (244_957, 0.02), (1_000_000, 0.05)])
def test_an_offer_to_everyone_gives_its_budgeted_baselines_everyone(rows: int, cost: float) -> None:
    """Our policy sends one offer to every row: the budget is its own spend, summed pairwise,
    and a running sum of the same costs rounds above it (before: 149,999 of 150,000 contacts
    at 0.1, and a 'significant' difference from the same policy one row short)."""
    level = np.zeros(rows)
    holdout = pd.DataFrame({"mu__y__none": level, "mu__y__email": level + 1.0})
    ours = np.full(rows, "email", dtype=object)
    out = baseline_policies(
        holdout, ours, outcome="y", arms=["none", "email"], control="none", costs={"email": cost}
    )
    assert (out["propensity"] == "email").all()
    assert np.allclose(out["static_best"]["email"], 1.0, rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")  # SNIPS of a draw
def test_random_baselines_are_worth_the_mean_of_their_draws() -> None:
    """The stochastic static_best and random are valued at the mean of the policies they draw
    (every estimator but SNIPS is linear in the policy): static_best, 'email' to 2 of 6 rows,
    at the mean of the 15 ways to choose the 2 rows; random at the mean of the 30 distinct
    shuffles of our offers (each as likely as the others)."""
    rng = np.random.default_rng(3)
    frame = _holdout().assign(
        treatment=["none", "email", "sms", "none", "email", "sms"],
        y=rng.normal(3.0, 1.0, 6),
    )
    ours = np.array(["sms", "none", "email", "none", "none", "none"], dtype=object)
    out = baseline_policies(frame, ours, outcome="y", arms=ARMS, control="none", costs=COSTS)
    draws = {
        "static_best": [
            np.where(np.isin(np.arange(6), rows), "email", "none").astype(object)
            for rows in itertools.combinations(range(6), 2)
        ],
        "random": [
            np.array(order, dtype=object) for order in sorted(set(itertools.permutations(ours)))
        ],
    }
    common = {"outcome": "y", "arms": ARMS, "control": "none", "costs": {}, "reps": 20}
    for name, policies in draws.items():
        named = {name: out[name]} | {f"draw {i}": p for i, p in enumerate(policies)}
        values = policy_values(frame, named, **common).set_index(["policy", "estimator"])
        for estimator in ("ips", "dr"):
            expected = np.mean([values.loc[(f"draw {i}", estimator), "value"]
                                for i in range(len(policies))])
            assert values.loc[(name, estimator), "value"] == pytest.approx(expected, abs=1e-12)
        assert values.loc[(name, "dr"), "contacts"] == 2
        assert len(policies) == {"static_best": 15, "random": 30}[name]


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
