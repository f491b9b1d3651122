"""The simulator's numpy core: determinism, truth columns, design, response surfaces, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from causal_targeting.config import load_config
from causal_targeting.data.simulate import (
    SCENARIOS,
    THRESHOLDS,
    check_assignment_probs,
    check_rows,
    check_seed,
    customer_block,
    customer_columns,
    experiment_columns,
    mu_column,
    scenario,
    simulate_block,
    tau_column,
)
from causal_targeting.errors import UserError

NAMES = sorted(SCENARIOS)
LARGE = 200_000


@pytest.fixture(scope="module")
def large() -> dict[str, pd.DataFrame]:
    """200k experiment rows of every scenario (seed 11), generated once for the module."""
    return {name: simulate_block(scenario(name), np.arange(LARGE), 11) for name in NAMES}


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


def test_features_are_realistic_with_nulls_where_documented() -> None:
    x = customer_block(scenario("retention"), np.arange(20_000), 4)
    assert 0.10 < x["email_open_rate"].isna().mean() < 0.14
    assert 0.02 < x["region"].isna().mean() < 0.04
    assert set(x["channel"]) == {"web", "app", "store"}
    assert set(x["loyalty_tier"]) == {"none", "silver", "gold"}
    assert (x["tenure_months"].between(1, 240)).all()
    assert (x["recency_days"].between(1, 730)).all()
    assert np.allclose(x["monetary_12m"], x["frequency_12m"] * x["avg_order_value"], atol=0.01)
    frequent = x["frequency_12m"] >= 6
    assert x.loc[frequent, "recency_days"].median() < x.loc[~frequent, "recency_days"].median()


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
def test_propensity_is_the_design_and_matches_assignment_frequencies(
    name: str, large: dict[str, pd.DataFrame]
) -> None:
    spec, rows = scenario(name), large[name]
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


def _ate_z_scores(spec_name: str, rows: pd.DataFrame) -> list[float]:
    """|difference of arm means − mean true_tau| / its standard error, for every arm and outcome."""
    spec = scenario(spec_name)
    control = rows[rows["treatment"] == spec.control]
    scores = []
    for outcome in spec.outcomes:
        for arm in spec.arms:
            treated = rows[rows["treatment"] == arm]
            difference = treated[outcome].mean() - control[outcome].mean()
            error = np.sqrt(
                treated[outcome].var() / len(treated) + control[outcome].var() / len(control)
            )
            scores.append(abs(difference - rows[tau_column(outcome, arm)].mean()) / error)
    return scores


@pytest.mark.parametrize("name", NAMES)
def test_true_ate_is_inside_the_ci_of_the_difference_of_arm_means(
    name: str, large: dict[str, pd.DataFrame]
) -> None:
    scores = _ate_z_scores(name, large[name])
    # family-wise 99%: Bonferroni over every (arm, outcome) pair of the scenario
    assert max(scores) < norm.ppf(1 - 0.005 / len(scores))


@pytest.mark.parametrize("name", NAMES)
def test_realized_outcomes_average_to_the_true_mean_of_their_arm(
    name: str, large: dict[str, pd.DataFrame]
) -> None:
    spec, rows = scenario(name), large[name]
    scores = []
    for outcome in spec.outcomes:
        for arm, group in rows.groupby("treatment"):
            error = max(group[outcome].std(), 1e-12) / np.sqrt(len(group))
            gap = group[outcome].mean() - group[mu_column(outcome, str(arm))].mean()
            scores.append(abs(gap) / error)
    assert len(scores) == len(spec.outcomes) * len(spec.all_arms)
    assert max(scores) < norm.ppf(1 - 0.005 / len(scores))


def test_the_ate_check_rejects_a_wrong_truth(large: dict[str, pd.DataFrame]) -> None:
    rows = large["retention"].copy()
    column = tau_column("retained", "retention_message")
    rows[column] += 0.02  # two points of retention off
    assert max(_ate_z_scores("retention", rows)) > norm.ppf(1 - 0.005 / 2)


def test_retention_message_helps_on_average_and_harms_a_share(
    large: dict[str, pd.DataFrame],
) -> None:
    tau = large["retention"][tau_column("retained", "retention_message")]
    assert tau.mean() > 0.02
    assert 0.1 < (tau < 0).mean() < 0.4
    assert (tau < -0.02).mean() > 0.05


def test_rewards_effects_are_heterogeneous_and_not_monotone_in_cost(
    large: dict[str, pd.DataFrame],
) -> None:
    rows = large["rewards"]
    tau = np.column_stack(
        [rows[tau_column("spend", a)] for a in ("reward_5", "reward_10", "reward_20")]
    )
    monotone = (np.diff(tau, axis=1) > 0).all(axis=1)
    cheaper_is_better = tau[:, 0] > tau[:, 2]
    assert 0.2 < monotone.mean() < 0.9
    assert cheaper_is_better.mean() > 0.01
    assert len(np.unique(tau.argmax(axis=1))) == 3
    assert (rows[mu_column("redeemed", "none")] == 0).all()


def test_spend_threshold_curves_are_concave_and_heterogeneous(
    large: dict[str, pd.DataFrame],
) -> None:
    spec, rows = scenario("spend_threshold"), large["spend_threshold"]
    spend = rows[[mu_column("spend", a) for a in spec.arms]].to_numpy()
    redeemed = rows[[mu_column("redeemed", a) for a in spec.arms]].to_numpy()
    assert np.allclose(np.diff(THRESHOLDS), 10.0)
    assert (np.diff(spend, n=2, axis=1) <= 1e-9).all()  # equally spaced thresholds: concave
    assert (np.diff(redeemed, axis=1) <= 0).all()  # higher thresholds are reached less often
    best = spend.argmax(axis=1)
    assert len(np.unique(best)) >= 10
    assert ((best > 0) & (best < len(spec.arms) - 1)).mean() > 0.5  # interior peaks


def test_spend_threshold_reward_is_paid_only_when_the_threshold_is_reached(
    large: dict[str, pd.DataFrame],
) -> None:
    spec, rows = scenario("spend_threshold"), large["spend_threshold"]
    threshold = rows["treatment"].map({a: spec.costs[a].threshold for a in spec.arms})
    offered = rows["treatment"] != spec.control
    assert (rows.loc[~offered, "redeemed"] == 0).all()
    reached = rows.loc[offered, "spend"] >= threshold[offered]
    np.testing.assert_array_equal(rows.loc[offered, "redeemed"], reached.astype(float))


def test_costs_cover_every_arm_and_thresholds_match_arm_names() -> None:
    for spec in SCENARIOS.values():
        assert set(spec.costs) == set(spec.all_arms)
        assert spec.costs[spec.control].contact_cost == spec.costs[spec.control].reward == 0
    spec = scenario("spend_threshold")
    assert len(spec.arms) == 20
    for arm in spec.arms:
        cost = spec.costs[arm]
        assert arm == f"spend_{cost.threshold:g}_get_{cost.reward:g}"


@pytest.mark.parametrize("name", NAMES)
def test_scenario_config_files_agree_with_the_specs(name: str, root: Path) -> None:
    spec = scenario(name)
    data = load_config(root / "conf" / "scenarios" / f"{name}.yaml").data
    assert data.control == spec.control
    assert data.arms == list(spec.arms)
    assert data.features == dict(spec.features)
    assert data.outcomes == dict(spec.outcomes)
    assert (data.customer_id, data.treatment, data.propensity) == (
        "customer_id",
        "treatment",
        "propensity",
    )
    assert data.experiment.path == f"work/simulate/{name}/experiment"
    assert data.customers is not None and data.customers.path == f"work/simulate/{name}/customers"


def test_unknown_scenario_is_refused_with_the_valid_names() -> None:
    with pytest.raises(UserError, match="retention, rewards, spend_threshold"):
        scenario("churn")


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
