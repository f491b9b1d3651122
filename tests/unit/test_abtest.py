"""A/B test readout and design against scipy / statsmodels references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    power_proportions_2indep,
    samplesize_proportions_2indep_onetail,
)

from causal_targeting.errors import DataContractError
from causal_targeting.evaluation.abtest import (
    EFFECT_COLUMNS,
    cluster_mean_variance,
    cluster_moments,
    effects_vs_control,
    newcombe_difference,
    pooled_z_p_value,
    power,
    readout,
    sample_size,
)


def _stats_from_samples(samples: dict[tuple[str, str], np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"arm": a, "outcome": o, "n": len(y), "mean": y.mean(), "var": y.var(ddof=1)}
            for (a, o), y in samples.items()
        ]
    )


@pytest.fixture
def samples() -> dict[tuple[str, str], np.ndarray]:
    rng = np.random.default_rng(7)
    sizes = {"control": 400, "A": 300, "B": 250}
    lifts = {"control": 0.0, "A": 0.6, "B": -0.2}
    rates = {"control": 0.10, "A": 0.16, "B": 0.09}
    out = {}
    for arm, n in sizes.items():
        out[(arm, "spend")] = rng.gamma(2.0, 2.0 + lifts[arm], size=n)
        out[(arm, "visit")] = (rng.random(n) < rates[arm]).astype(float)
    return out


def test_continuous_matches_scipy_welch(samples: dict) -> None:
    res = effects_vs_control(
        _stats_from_samples(samples),
        control="control",
        outcome_kinds={"spend": "continuous", "visit": "binary"},
        alpha=0.1,
    )
    assert list(res.columns) == EFFECT_COLUMNS
    assert set(zip(res["arm"], res["outcome"], strict=True)) == {
        ("A", "spend"),
        ("A", "visit"),
        ("B", "spend"),
        ("B", "visit"),
    }
    for arm in ("A", "B"):
        row = res[(res["arm"] == arm) & (res["outcome"] == "spend")].iloc[0]
        y1, y0 = samples[(arm, "spend")], samples[("control", "spend")]
        ref = sps.ttest_ind(y1, y0, equal_var=False)
        ref_stats = sps.ttest_ind_from_stats(
            y1.mean(),
            y1.std(ddof=1),
            len(y1),
            y0.mean(),
            y0.std(ddof=1),
            len(y0),
            equal_var=False,
        )
        ci = ref.confidence_interval(0.9)
        assert row["p_value"] == pytest.approx(ref_stats.pvalue, rel=1e-10)
        assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-10)
        assert row["effect"] == pytest.approx(y1.mean() - y0.mean(), rel=1e-12)
        assert row["rel_lift"] == pytest.approx((y1.mean() - y0.mean()) / y0.mean(), rel=1e-12)
        assert row["control_n"] == len(y0)


def test_binary_p_value_matches_chi_square_and_ci_matches_statsmodels(samples: dict) -> None:
    res = effects_vs_control(
        _stats_from_samples(samples),
        control="control",
        outcome_kinds={"spend": "continuous", "visit": "binary"},
    )
    for arm in ("A", "B"):
        row = res[(res["arm"] == arm) & (res["outcome"] == "visit")].iloc[0]
        y1, y0 = samples[(arm, "visit")], samples[("control", "visit")]
        x1, x0 = int(y1.sum()), int(y0.sum())
        table = [[x1, len(y1) - x1], [x0, len(y0) - x0]]
        chi2_p = sps.chi2_contingency(table, correction=False)[1]
        low, high = confint_proportions_2indep(x1, len(y1), x0, len(y0), method="newcomb")
        assert row["p_value"] == pytest.approx(chi2_p, rel=1e-9)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-9)


def test_newcombe_matches_published_example() -> None:
    # Newcombe (1998), Table II, example (a): 56/70 vs 48/80, method 10 -> (0.0524, 0.3339)
    low, high = newcombe_difference(70, 56 / 70, 80, 48 / 80, 0.05)
    assert (round(float(low), 4), round(float(high), 4)) == (0.0524, 0.3339)


@pytest.mark.parametrize(("x1", "n1", "x0", "n0"), [(9, 10, 3, 10), (0, 10, 0, 20), (5, 5, 0, 7)])
def test_newcombe_matches_statsmodels_at_edges(x1: int, n1: int, x0: int, n0: int) -> None:
    low, high = newcombe_difference(n1, x1 / n1, n0, x0 / n0, 0.05)
    ref = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb")
    assert (float(low), float(high)) == pytest.approx(ref, abs=1e-12)
    assert -1 <= low <= high <= 1


def test_pooled_z_is_one_when_both_arms_are_constant() -> None:
    assert float(pooled_z_p_value(10, 0.0, 20, 0.0)) == 1.0
    assert float(pooled_z_p_value(10, 1.0, 20, 1.0)) == 1.0


def test_zero_control_mean_gives_nan_lift_and_small_arm_gives_nan() -> None:
    stats = pd.DataFrame(
        {
            "arm": ["c", "t", "c", "t"],
            "outcome": ["y", "y", "z", "z"],
            "n": [50, 40, 30, 1],
            "mean": [0.0, 0.1, 2.0, 3.0],
            "var": [0.0, 0.09, 1.0, np.nan],
        }
    )
    res = effects_vs_control(stats, control="c", outcome_kinds={"y": "binary", "z": "continuous"})
    y, z = res.set_index("outcome").loc["y"], res.set_index("outcome").loc["z"]
    assert np.isnan(y["rel_lift"]) and y["effect"] == pytest.approx(0.1)
    assert y["ci_low"] < 0.1 < y["ci_high"]
    assert np.isnan(z["p_value"]) and np.isnan(z["ci_low"]) and z["effect"] == 1.0


def _good_stats() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "arm": ["c", "t"],
            "outcome": ["y", "y"],
            "n": [10, 10],
            "mean": [0.2, 0.3],
            "var": [0.1, 0.1],
        }
    )


@pytest.mark.parametrize(
    ("mutate", "kwargs", "match"),
    [
        (lambda s: s.drop(columns="var"), {}, "missing columns"),
        (lambda s: pd.concat([s, s]), {}, "duplicate"),
        (lambda s: s, {"outcome_kinds": {"other": "binary"}}, "without a kind"),
        (lambda s: s, {"outcome_kinds": {"y": "count"}}, "unknown kind"),
        (lambda s: s, {"control": "none"}, "control arm 'none'"),
        (lambda s: s.assign(n=[0, 10]), {}, "n <= 0"),
        (lambda s: s.assign(mean=[0.2, 1.5]), {}, "outside"),
        (lambda s: s, {"alpha": 1.5}, "alpha"),
    ],
)
def test_refuses_bad_stats(mutate, kwargs: dict, match: str) -> None:
    args = {"control": "c", "outcome_kinds": {"y": "binary"}} | kwargs
    with pytest.raises(DataContractError, match=match):
        effects_vs_control(mutate(_good_stats()), **args)


@pytest.mark.parametrize("ratio", [1.0, 4.0, 0.5])
def test_binary_power_and_sample_size_match_statsmodels(ratio: float) -> None:
    # statsmodels: sample 1 = treatment, nobs2 = ratio_sm * nobs1 is the control
    ref = power_proportions_2indep(0.02, 0.10, 1000 * ratio, ratio=1 / ratio, alpha=0.05)
    assert power(1000, 0.10, 0.02, "binary", ratio=ratio) == pytest.approx(ref.power, rel=1e-12)
    design = sample_size(0.10, 0.02, "binary", power=0.8, ratio=ratio)
    n_t_ref = samplesize_proportions_2indep_onetail(0.02, 0.10, 0.8, ratio=1 / ratio)
    assert design["n_treatment"] == pytest.approx(np.ceil(ratio * design["n_control"]))
    assert abs(design["n_control"] - n_t_ref / ratio) <= 1.0
    assert design["power"] >= 0.8
    assert power(design["n_control"] - 1, 0.10, 0.02, "binary", ratio=ratio) < 0.8


def test_continuous_sample_size_matches_statsmodels_normal_power() -> None:
    design = sample_size(50.0, 2.0, "continuous", sd=20.0, alpha=0.01, power=0.9, ratio=2.0)
    n_t = NormalIndPower().solve_power(effect_size=0.1, alpha=0.01, power=0.9, ratio=0.5)
    assert design["n_control"] == np.ceil(n_t / 2.0 - 1e-9)
    assert design["n_treatment"] == 2 * design["n_control"]
    assert design["treatment_share"] == pytest.approx(2 / 3)
    ref = NormalIndPower().power(effect_size=0.1, nobs1=2 * 1000, alpha=0.01, ratio=0.5)
    assert power(1000, 50.0, 2.0, "continuous", sd=20.0, alpha=0.01, ratio=2.0) == pytest.approx(
        ref, rel=1e-12
    )


def test_huge_lift_needs_the_minimum_two_rows() -> None:
    assert sample_size(0.0, 100.0, "continuous", sd=1.0)["n_control"] == 2


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((0.1, 0.0, "binary"), {}, "lift=0"),
        ((0.1, 0.95, "binary"), {}, "must be in"),
        ((5.0, 1.0, "continuous"), {}, "sd=None"),
        ((0.1, 0.02, "count"), {}, "kind"),
        ((0.1, 0.02, "binary"), {"ratio": 0.0}, "ratio=0"),
        ((0.1, 0.02, "binary"), {"power": 0.01}, "power=0.01"),
    ],
)
def test_design_refuses_bad_inputs(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(DataContractError, match=match):
        sample_size(*args, **kwargs)


def test_readout_of_a_finished_test_table_matches_scipy(samples: dict) -> None:
    table = pd.concat(
        [
            pd.DataFrame({"group": arm, "spend": y})
            for (arm, o), y in samples.items()
            if o == "spend"
        ]
    )
    res = readout(table, arm_col="group", outcome_col="spend", kind="continuous", control="control")
    assert list(res["arm"]) == ["A", "B"]
    for row in res.itertuples():
        ref = sps.ttest_ind(
            samples[(row.arm, "spend")], samples[("control", "spend")], equal_var=False
        )
        assert row.p_value == pytest.approx(ref.pvalue, rel=1e-10)
        assert (row.ci_low, row.ci_high) == pytest.approx(
            tuple(ref.confidence_interval()), rel=1e-10
        )
    with pytest.raises(DataContractError, match="missing column"):
        readout(table, arm_col="arm", outcome_col="spend", kind="continuous", control="control")
    with pytest.raises(DataContractError, match="null outcomes"):
        readout(
            table.assign(spend=np.nan),
            arm_col="group",
            outcome_col="spend",
            kind="continuous",
            control="control",
        )


def _moments(y: np.ndarray, cluster: np.ndarray) -> pd.DataFrame:
    """The cluster moments of one arm's outcome ``y`` (:func:`cluster_moments`)."""
    rows = pd.DataFrame({"arm": "a", "y": y, "c": cluster})
    return cluster_moments(rows, arm_col="arm", outcome_col="y", cluster_col="c")


def test_the_cluster_robust_variance_of_a_mean_is_statsmodels_and_the_row_one_for_singletons():
    rng = np.random.default_rng(3)
    cluster = np.repeat(np.arange(300), rng.integers(1, 5, 300))
    y = rng.normal(0, 2, 300)[cluster] + rng.normal(5, 1, cluster.size)
    fit = OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": cluster})
    assert cluster_mean_variance(_moments(y, cluster)).iloc[0] == pytest.approx(fit.bse[0] ** 2)
    singletons = cluster_mean_variance(_moments(y, np.arange(y.size))).iloc[0]
    assert singletons == pytest.approx(y.var(ddof=1) / y.size)


def test_effects_read_with_the_means_cluster_variances_take_a_normal_interval() -> None:
    stats = pd.DataFrame(
        {
            "arm": ["ctl", "a"], "outcome": ["y", "y"], "n": [400.0, 400.0],
            "mean": [1.0, 1.5], "var": [1.0, 1.0], "mean_var": [0.01, 0.0125],
        }
    )  # fmt: skip
    row = effects_vs_control(stats, control="ctl", outcome_kinds={"y": "continuous"}).iloc[0]
    half = sps.norm.ppf(0.975) * np.sqrt(0.0225)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.5 - half, 0.5 + half))
    assert row["p_value"] == pytest.approx(2 * sps.norm.sf(0.5 / np.sqrt(0.0225)))
    rows = effects_vs_control(
        stats.drop(columns="mean_var"), control="ctl", outcome_kinds={"y": "continuous"}
    ).iloc[0]
    assert rows["ci_high"] - rows["ci_low"] < row["ci_high"] - row["ci_low"]


def test_a_readout_by_household_widens_the_interval_of_rows_that_come_in_copies() -> None:
    """Every unit twice, as a household of two identical rows: the readout by household has the
    width of the units' own (a normal interval against Welch's t), by row about 1/sqrt(2) of it."""
    rng = np.random.default_rng(9)
    units = pd.DataFrame(
        {"arm": np.repeat(["control", "A"], 300), "spend": rng.gamma(2.0, 10.0, 600)}
    ).assign(household=np.arange(600))
    copies = pd.concat([units, units], ignore_index=True)
    common = {"arm_col": "arm", "outcome_col": "spend", "kind": "continuous", "control": "control"}
    widths = {
        name: float((table["ci_high"] - table["ci_low"]).iloc[0])
        for name, table in (
            ("units", readout(units, **common)),
            ("rows", readout(copies, **common)),
            ("households", readout(copies, **common, cluster_col="household")),
        )
    }
    assert widths["rows"] / widths["units"] == pytest.approx(2**-0.5, rel=0.01)
    assert widths["households"] / widths["units"] == pytest.approx(1.0, rel=0.01)
    with pytest.raises(DataContractError, match="null clusters"):
        readout(copies.assign(household=np.nan), **common, cluster_col="household")
