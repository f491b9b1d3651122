"""A/B test readout and design against scipy / statsmodels references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import confint_proportions_2indep

from causal_targeting.errors import DataContractError
from causal_targeting.evaluation.abtest import (
    EFFECT_COLUMNS,
    effects_vs_control,
    newcombe_difference,
    pooled_z_p_value,
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
