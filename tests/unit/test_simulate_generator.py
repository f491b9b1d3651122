"""The simulator's shared core: determinism, columns, truth, design, refusals (every scenario)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from causal_targeting.data.simulate import (
    SCENARIOS,
    check_assignment_probs,
    check_rows,
    check_seed,
    customer_block,
    customer_columns,
    experiment_columns,
    mu_column,
    potential_outcome_column,
    scenario,
    simulate_block,
    tau_column,
    true_values,
)
from causal_targeting.errors import UserError
from simulate_support import ate_z_scores, large

NAMES = sorted(SCENARIOS)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_identical_rows(name: str) -> None:
    ids = np.arange(2_000)
    pd.testing.assert_frame_equal(
        simulate_block(scenario(name), ids, 5), simulate_block(scenario(name), ids, 5)
    )


@pytest.mark.parametrize("name", NAMES)
def test_rows_do_not_depend_on_how_ids_are_split_into_blocks(name: str) -> None:
    spec = scenario(name)
    ids = np.arange(3_000, 6_000)
    whole = simulate_block(spec, ids, 5)
    shuffled = np.random.default_rng(0).permutation(ids)
    pieces = pd.concat(
        [simulate_block(spec, part, 5) for part in np.array_split(shuffled, 7)], ignore_index=True
    )
    rejoined = pieces.set_index("customer_id").loc[ids].reset_index()
    pd.testing.assert_frame_equal(rejoined, whole)


@pytest.mark.parametrize("name", NAMES)
def test_different_seeds_give_different_rows(name: str) -> None:
    ids = np.arange(1_000)
    one, two = simulate_block(scenario(name), ids, 1), simulate_block(scenario(name), ids, 2)
    assert (one["tenure_months"] != two["tenure_months"]).mean() > 0.5
    assert (one["treatment"] != two["treatment"]).mean() > 0.3


@pytest.mark.parametrize("name", NAMES)
def test_columns_follow_the_contract(name: str) -> None:
    spec = scenario(name)
    experiment = simulate_block(spec, np.arange(500), 3)
    customers = customer_block(spec, np.arange(500), 3)
    assert list(experiment.columns) == experiment_columns(spec)
    assert list(customers.columns) == customer_columns(spec)
    assert {"treatment", "propensity", *spec.outcomes}.isdisjoint(customers.columns)
    for arm in spec.all_arms:
        assert mu_column(next(iter(spec.outcomes)), arm) in customers.columns
    assert tau_column(next(iter(spec.outcomes)), spec.control) not in customers.columns
    for feature, kind in spec.features.items():
        values = experiment[feature].dropna()
        assert values.map(type).eq(str).all() if kind == "categorical" else values.dtype == float
    for outcome, kind in spec.outcomes.items():
        assert experiment[outcome].dtype == float
        if kind == "binary":
            assert set(experiment[outcome].unique()) <= {0.0, 1.0}


def test_customer_block_matches_the_experiment_rows_of_the_same_ids() -> None:
    spec = scenario("rewards")
    ids = np.arange(800)
    customers = customer_block(spec, ids, 9)
    experiment = simulate_block(spec, ids, 9)
    pd.testing.assert_frame_equal(customers, experiment[customer_columns(spec)])


@pytest.mark.parametrize("name", NAMES)
def test_true_tau_is_true_mu_of_the_arm_minus_control(name: str) -> None:
    spec = scenario(name)
    rows = customer_block(spec, np.arange(1_000), 2)
    for outcome in spec.outcomes:
        for arm in spec.arms:
            np.testing.assert_allclose(
                rows[tau_column(outcome, arm)],
                rows[mu_column(outcome, arm)] - rows[mu_column(outcome, spec.control)],
            )


@pytest.mark.parametrize("name", NAMES)
def test_propensity_is_the_design_and_matches_assignment_frequencies(name: str) -> None:
    spec, rows = scenario(name), large(name)
    probs = pd.Series(dict(spec.assignment_probs))
    np.testing.assert_array_equal(rows["propensity"], probs[rows["treatment"]].to_numpy())
    shares = rows["treatment"].value_counts(normalize=True).reindex(probs.index)
    z = (shares - probs) / np.sqrt(probs * (1 - probs) / len(rows))
    assert z.abs().max() < norm.ppf(1 - 0.005 / len(probs))


def test_unequal_assignment_override_is_used() -> None:
    spec = scenario("retention")
    rows = simulate_block(spec, np.arange(50_000), 8, {"none": 0.9, "retention_message": 0.1})
    assert abs((rows["treatment"] == "none").mean() - 0.9) < 0.01
    assert set(rows.loc[rows["treatment"] == "none", "propensity"]) == {0.9}
    default = simulate_block(spec, np.arange(50_000), 8)
    truth = [c for c in rows.columns if c.startswith("true_")]
    pd.testing.assert_frame_equal(rows[truth], default[truth])


@pytest.mark.parametrize("name", NAMES)
def test_true_ate_is_inside_the_ci_of_the_difference_of_arm_means(name: str) -> None:
    scores = ate_z_scores(name, large(name))
    # family-wise 99%: Bonferroni over every (arm, outcome) pair of the scenario
    assert max(scores) < norm.ppf(1 - 0.005 / len(scores))


@pytest.mark.parametrize("name", NAMES)
def test_realized_outcomes_average_to_the_true_mean_of_their_arm(name: str) -> None:
    spec, rows = scenario(name), large(name)
    scores = []
    for outcome in spec.outcomes:
        for arm, group in rows.groupby("treatment"):
            error = max(group[outcome].std(), 1e-12) / np.sqrt(len(group))
            gap = group[outcome].mean() - group[mu_column(outcome, str(arm))].mean()
            scores.append(abs(gap) / error)
    assert len(scores) == len(spec.outcomes) * len(spec.all_arms)
    assert max(scores) < norm.ppf(1 - 0.005 / len(scores))


@pytest.mark.parametrize("rows", [0, -5, 2.5, True])
def test_bad_row_counts_are_refused(rows: object) -> None:
    with pytest.raises(UserError, match="positive integer"):
        check_rows(rows)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5])
def test_bad_seeds_are_refused(seed: object) -> None:
    with pytest.raises(UserError, match="seed"):
        simulate_block(scenario("retention"), np.arange(10), seed)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        ({"none": 0.5, "retention_message": 0.6}, "sum to 1.1"),
        ({"none": 0.0, "retention_message": 1.0}, "arm.*none.*not > 0"),
        ({"none": -0.2, "retention_message": 1.2}, "arm.*none.*not > 0"),
        ({"none": 0.5, "message": 0.5}, r"unknown \['message'\], missing \['retention_message'\]"),
        ({"retention_message": 1.0}, r"missing \['none'\]"),
    ],
)
def test_bad_assignment_probabilities_are_refused(probs: dict[str, float], message: str) -> None:
    with pytest.raises(UserError, match=message):
        check_assignment_probs(scenario("retention"), probs)
    with pytest.raises(UserError, match=message):
        simulate_block(scenario("retention"), np.arange(10), 1, probs)


def test_check_seed_accepts_numpy_integers() -> None:
    assert check_seed(np.int64(7)) == 7


def test_true_values_are_margin_times_effect_less_reward_and_contact_costs() -> None:
    spec = scenario("rewards")
    rows = customer_block(spec, np.arange(300), 1)
    values = true_values(spec, rows)
    assert list(values.columns) == list(spec.arms)
    expected = (
        0.4 * rows[tau_column("spend", "reward_10")]
        - 10.0 * rows[mu_column("redeemed", "reward_10")]
        - 0.25
    )
    np.testing.assert_allclose(values["reward_10"], expected)


@pytest.mark.parametrize("name", NAMES)
def test_potential_outcome_columns_only_where_the_scenario_records_them(name: str) -> None:
    spec = scenario(name)
    columns = customer_columns(spec)
    recorded = [potential_outcome_column(o, a) for o in spec.outcomes for a in spec.all_arms]
    if spec.potential_outcomes:
        assert set(recorded) <= set(columns)
    else:
        assert set(recorded).isdisjoint(columns)
    assert all(column in columns for column in spec.latent)
    assert set(spec.labels) <= set(experiment_columns(spec)) - set(columns)
