"""Scenario intent: type shares, conversion by type, attribution labels, design, parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causal_targeting.config import load_config
from causal_targeting.data.simulate import (
    mu_column,
    potential_outcome_column,
    scenario,
    simulate_block,
    tau_column,
    true_values,
)
from causal_targeting.data.simulate.intent import TYPES
from causal_targeting.errors import ConfigError
from simulate_support import LARGE, large

Y0, Y1 = (
    potential_outcome_column("converted", "none"),
    potential_outcome_column("converted", "email"),
)


def _within(share: float, expected: float, n: int) -> bool:
    """|share − expected| within 4 binomial standard errors."""
    return abs(share - expected) <= 4 * np.sqrt(max(expected * (1 - expected), 1e-12) / n) + 1e-12


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"organic_share": 0.4, "put_off_share": 0.0},
        {"organic_share": 0.1, "put_off_share": 0.15},
    ],
)
def test_type_shares_follow_the_parameters(params: dict[str, float]) -> None:
    spec = scenario("intent", params)
    rows = large("intent") if not params else simulate_block(spec, np.arange(LARGE), 11)
    organic, put_off = spec.params["organic_share"], spec.params["put_off_share"]
    expected = dict(zip(TYPES, (0.2, organic, put_off, 0.8 - organic - put_off), strict=True))
    shares = rows["true_type"].value_counts(normalize=True).reindex(list(TYPES), fill_value=0.0)
    for kind, share in shares.items():
        assert _within(share, expected[kind], LARGE), (kind, share)


def test_conversion_by_type_and_exposure() -> None:
    rows = large("intent")
    by_type = rows.groupby("true_type")
    p0 = by_type[mu_column("converted", "none")].mean()
    p1 = by_type[mu_column("converted", "email")].mean()
    tau = rows[tau_column("converted", "email")]
    assert p0["campaign_driven"] < 0.05 and p1["campaign_driven"] > 0.25
    assert (tau[rows["true_type"].isin(["organic", "low_engagement"])] == 0).all()
    assert p0["organic"] > 0.3 and p1["low_engagement"] < 0.03
    assert (tau[rows["true_type"] == "put_off"] < 0).all()
    assert (tau[rows["true_type"] == "campaign_driven"] > 0.1).all()


def test_organic_buyers_top_a_response_ranking_and_are_more_engaged() -> None:
    rows = large("intent")
    means = rows.groupby("true_type")[["frequency_12m", "visits_30d"]].mean()
    assert (means.loc["organic"] > means.drop(index="organic").max()).all()
    response = rows[mu_column("converted", "email")]
    top = rows.loc[response >= response.quantile(0.9), "true_type"].value_counts(normalize=True)
    assert top["organic"] > 1.5 * top.get("campaign_driven", 0.0)
    value = true_values(scenario("intent"), rows)["email"]
    assert (value > 0).groupby(rows["true_type"]).mean()["campaign_driven"] == 1.0
    assert (value[rows["true_type"] != "campaign_driven"] < 0).all()


def test_potential_outcomes_are_coupled_and_realized_under_the_assigned_arm() -> None:
    rows = large("intent")
    realized = np.where(rows["treatment"] == "email", rows[Y1], rows[Y0])
    np.testing.assert_array_equal(rows["converted"], realized)
    driven, put_off = rows["true_type"] == "campaign_driven", rows["true_type"] == "put_off"
    assert (rows.loc[driven, Y1] >= rows.loc[driven, Y0]).all()
    assert (rows.loc[put_off, Y1] <= rows.loc[put_off, Y0]).all()
    for column, mu in ((Y0, "none"), (Y1, "email")):
        gap = rows[column].mean() - rows[mu_column("converted", mu)].mean()
        assert abs(gap) < 4 * rows[column].std() / np.sqrt(len(rows))


@pytest.mark.parametrize("unattributed", [0.3, 0.0, 0.6])
def test_a_share_of_exposed_conversions_is_missing_never_negative(unattributed: float) -> None:
    spec = scenario("intent", {"unattributed_share": unattributed})
    rows = simulate_block(spec, np.arange(100_000), 4)
    credited = (rows["treatment"] == "email") & (rows["converted"] == 1)
    assert rows.loc[~credited, "attributed"].eq(0.0).all()
    labels = rows.loc[credited, "attributed"]
    assert set(labels.dropna()) == {1.0}
    assert _within(labels.isna().mean(), unattributed, len(labels))


@pytest.mark.parametrize("exposure", [0.8, 0.5, 0.9])
def test_propensity_is_the_exposure_share(exposure: float) -> None:
    rows = simulate_block(scenario("intent", {"exposure_share": exposure}), np.arange(50_000), 2)
    exposed = rows["treatment"] == "email"
    assert (rows.loc[exposed, "propensity"] == exposure).all()
    np.testing.assert_allclose(rows.loc[~exposed, "propensity"], 1 - exposure)
    assert _within(exposed.mean(), exposure, len(rows))


def test_parameters_change_the_design_not_the_features_of_the_same_types() -> None:
    ids = np.arange(5_000)
    default = simulate_block(scenario("intent"), ids, 3)
    other = simulate_block(scenario("intent", {"exposure_share": 0.5}), ids, 3)
    pd.testing.assert_frame_equal(
        default.drop(columns=["treatment", "propensity", "converted", "attributed"]),
        other.drop(columns=["treatment", "propensity", "converted", "attributed"]),
    )
    assert (default["treatment"] != other["treatment"]).any()


def test_config_parameters_reach_the_scenario(root: Path) -> None:
    cfg = load_config(
        root / "conf" / "scenarios" / "intent.yaml", ["simulate.params.exposure_share=0.5"]
    )
    spec = scenario("intent", cfg.simulate.params)
    assert dict(spec.assignment_probs) == {"none": 0.5, "email": 0.5}
    assert spec.params["organic_share"] == 0.25


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        (
            "intent",
            {"exposure_share": 1.0},
            r"simulate\.params\.exposure_share = 1\.0 .*\[0\.05, 0\.95\]",
        ),
        ("intent", {"exposure_share": 0.0}, r"simulate\.params\.exposure_share .*\[0\.05, 0\.95\]"),
        ("intent", {"organic_share": 0.7}, r"simulate\.params\.organic_share .*\[0\.0, 0\.6\]"),
        ("intent", {"put_off_share": -0.1}, r"simulate\.params\.put_off_share .*\[0\.0, 0\.15\]"),
        ("intent", {"unattributed_share": 1.0}, r"unattributed_share .*\[0\.0, 0\.9\]"),
        (
            "intent",
            {"unattributed_share": float("nan")},
            r"unattributed_share = nan .*\[0\.0, 0\.9\]",
        ),
        ("intent", {"exposure_share": "half"}, r"exposure_share must be a number in \[0\.05"),
        (
            "intent",
            {"exposure": 0.5},
            r"simulate\.params\.exposure: .*no parameter 'exposure'.*"
            r"exposure_share, organic_share, put_off_share, unattributed_share",
        ),
        ("retention", {"exposure_share": 0.5}, r"'retention' has no parameter .*parameters: none"),
    ],
)
def test_bad_parameters_are_refused_naming_the_key_and_range(
    name: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        scenario(name, params)  # type: ignore[arg-type]
