"""Paired policy differences: a hand computation of the bootstrap and CI coverage by simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal_targeting.evaluation.paired import bootstrap_p_value, policy_differences
from causal_targeting.evaluation.policy_value import poisson_weights

ARMS = ["ctl", "a"]


def _tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "treatment": ["a", "ctl", "a", "ctl", "a"],
            "spend": [10.0, 4.0, 0.0, 2.0, 3.0],
            "propensity": [0.5, 0.5, 0.5, 0.5, 0.5],
            "mu__spend__ctl": [2.0, 3.0, 1.0, 2.0, 1.0],
            "mu__spend__a": [6.0, 5.0, 4.0, 2.0, 2.0],
        }
    )


def test_paired_difference_matches_a_hand_computation() -> None:
    frame = _tiny()
    ours = np.array(["a", "a", "ctl", "ctl", "a"], dtype=object)
    none = np.full(5, "ctl", dtype=object)
    table = policy_differences(
        frame, {"ours": ours, "none": none}, against="ours", outcome="spend", arms=ARMS,
        control="ctl", costs={"a": 1.0}, reps=200, alpha=0.1, seed=3,
    )
    dr = table[table["estimator"] == "dr"].iloc[0]
    y, t = frame["spend"].to_numpy(), frame["treatment"].to_numpy()
    mu = frame[["mu__spend__ctl", "mu__spend__a"]].to_numpy()
    cost = np.array([0.0, 1.0])

    def dr_terms(policy: np.ndarray) -> np.ndarray:
        k = (policy == "a").astype(int)
        received = (t == "a").astype(int)
        w = (k == received) / 0.5
        return mu[np.arange(5), k] - cost[k] + w * (y - mu[np.arange(5), received])

    per_row = dr_terms(ours) - dr_terms(none)
    assert dr["difference"] == pytest.approx(per_row.mean())
    weights = poisson_weights(np.random.default_rng(3), (200, 5))
    with np.errstate(invalid="ignore"):  # a replicate may draw no row at all
        draws = (weights @ per_row) / weights.sum(axis=1)
    assert dr["ci_low"] == pytest.approx(np.nanquantile(draws, 0.05))
    assert dr["ci_high"] == pytest.approx(np.nanquantile(draws, 0.95))
    assert dr["p_value"] == pytest.approx(bootstrap_p_value(draws))


def test_p_value_is_two_sided() -> None:
    assert bootstrap_p_value(np.array([1.0, 2.0, 3.0, -1.0])) == pytest.approx(0.5)
    assert bootstrap_p_value(np.array([1.0, 2.0])) == 0.0


def test_paired_ci_covers_the_true_difference() -> None:
    """90% CIs of the DR difference cover the true difference in most of 40 simulated tests."""
    covered, n = 0, 2000
    for seed in range(40):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=n)
        treated = rng.random(n) < 0.5
        effect = 0.5 * x  # true value of "a where x > 0" over "no one": E[0.5 x; x > 0]
        y = 1.0 + x + treated * effect + rng.normal(size=n)
        frame = pd.DataFrame(
            {
                "treatment": np.where(treated, "a", "ctl"),
                "y": y,
                "propensity": 0.5,
                "mu__y__ctl": 1.0 + x,
                "mu__y__a": 1.0 + x + 0.4 * x,
            }
        )
        ours = np.where(x > 0, "a", "ctl").astype(object)
        table = policy_differences(
            frame, {"ours": ours, "none": np.full(n, "ctl", dtype=object)}, against="ours",
            outcome="y", arms=ARMS, control="ctl", costs={}, reps=300, alpha=0.1, seed=seed,
        )
        dr = table[table["estimator"] == "dr"].iloc[0]
        truth = 0.5 / np.sqrt(2 * np.pi)  # 0.5 E[x 1(x > 0)] for x ~ N(0, 1)
        covered += dr["ci_low"] <= truth <= dr["ci_high"]
    assert covered >= 32


def test_verdict_names_the_closest_comparable_baseline() -> None:
    from causal_targeting.evaluation.verdict import verdict_line

    rows = [
        ("treat_all", -0.5, -0.9, -0.1),  # ignores the guardrails: not comparable
        ("static_best", 0.2, 0.05, 0.35),
        ("random", 0.4, 0.2, 0.6),
        ("treat_none", 0.3, 0.1, 0.5),
    ]
    differences = pd.DataFrame(
        [("targeting", b, "dr", d, lo, hi, 0.01) for b, d, lo, hi in rows],
        columns=["policy", "baseline", "estimator", "difference", "ci_low", "ci_high", "p_value"],
    )
    line = verdict_line(differences, "dr", 0.05)
    assert line.startswith("Targeting beats the best baseline ('static_best'): +0.2000")
    differences.loc[1, "ci_low"] = -0.01
    assert "does not significantly beat" in verdict_line(differences, "dr", 0.05)


def test_difference_section_shows_the_chosen_estimator_under_human_headers() -> None:
    from causal_targeting.evaluation.verdict import difference_section

    differences = pd.DataFrame(
        [
            ("targeting", "random", "dr", 0.25, 0.05, 0.45, 0.01),
            ("targeting", "random", "ips", 0.3, -0.1, 0.7, 0.2),
            ("targeting", "treat_none", "dr", -0.0, -0.2, 0.2, 1e-320),
        ],
        columns=["policy", "baseline", "estimator", "difference", "ci_low", "ci_high", "p_value"],
    )
    section = difference_section(differences, "dr", 0.05, {"line": "Safeguard: kept."})
    (_, table), = section.tables
    assert list(table.columns) == [
        "Baseline", "Targeting minus baseline, per customer", "95% paired CI", "p-value"
    ]
    assert table["Baseline"].tolist() == ["random", "treat_none"]
    assert table["Targeting minus baseline, per customer"].tolist() == ["+0.2500", "0.0000"]
    assert table["p-value"].tolist()[1] == "<1e-300"
    assert "Safeguard: kept." in section.paragraphs
