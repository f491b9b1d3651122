"""Paired policy differences: a hand computation of the bootstrap and CI coverage by simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal_targeting.evaluation.paired import (
    DIFFERENCE_COLUMNS,
    bootstrap_p_value,
    policy_differences,
)
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
    assert dr["same_decisions"] == pytest.approx(0.4)  # rows 3 and 4 get no offer from both


def test_a_baseline_with_the_same_decisions_differs_by_exactly_zero() -> None:
    frame = _tiny()
    ours = np.array(["a", "a", "ctl", "ctl", "a"], dtype=object)
    table = policy_differences(
        frame, {"ours": ours, "copy": ours.copy(), "all": np.full(5, "a", dtype=object)},
        against="ours", outcome="spend", arms=ARMS, control="ctl", costs={"a": 1.0}, reps=100,
    )
    copy = table[table["baseline"] == "copy"]
    assert (copy["same_decisions"] == 1.0).all()
    assert (copy[["difference", "ci_low", "ci_high"]].to_numpy() == 0.0).all()
    assert (table.loc[table["baseline"] == "all", "same_decisions"] == 0.6).all()


def test_same_decisions_of_a_stochastic_baseline_is_its_expected_agreement() -> None:
    """'a' to each row with probability 0.4 agrees with ours ('a' on rows 0, 1, 4) with
    probability 0.4 there and 0.6 on the other two rows: (3 * 0.4 + 2 * 0.6) / 5 = 0.48."""
    ours = np.array(["a", "a", "ctl", "ctl", "a"], dtype=object)
    table = policy_differences(
        _tiny(), {"ours": ours, "share": pd.DataFrame({"a": [0.4] * 5, "ctl": [0.6] * 5})},
        against="ours", outcome="spend", arms=ARMS, control="ctl", costs={"a": 1.0}, reps=50,
    )
    assert table["same_decisions"].to_numpy() == pytest.approx([0.48] * 3)


def test_two_equal_stochastic_policies_are_the_same_policy() -> None:
    """The safeguard's static policy stopped by a cap and the static_best baseline: 'a' with
    probability 0.4 on every row, both. Independent draws would agree on 0.4^2 + 0.6^2 = 52%
    of the rows, but they are one policy: same_decisions 1, a difference of exactly 0; a
    different share is compared by its expected agreement."""
    share = pd.DataFrame({"a": [0.4] * 5, "ctl": [0.6] * 5})
    rounded = share + np.array([1, -1, 1, -1, 0])[:, None] * np.array([1e-16, -1e-16])
    other = pd.DataFrame({"a": [0.5] * 5, "ctl": [0.5] * 5})
    table = policy_differences(
        _tiny(), {"ours": share, "copy": share.copy(), "rounded": rounded, "other": other},
        against="ours", outcome="spend", arms=ARMS, control="ctl", costs={"a": 1.0}, reps=50,
    )
    copies = table[table["baseline"].isin(["copy", "rounded"])]  # shares computed another way
    assert (copies["same_decisions"] == 1.0).all()
    assert (copies[["difference", "ci_low", "ci_high"]].to_numpy() == 0.0).all()
    expected = 0.4 * 0.5 + 0.6 * 0.5
    assert table.loc[table["baseline"] == "other", "same_decisions"].to_numpy() == pytest.approx(
        [expected] * 3
    )


def test_the_same_policy_differs_by_exactly_zero_in_every_replicate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Our policy as probabilities (the safeguard's static policy) and baselines that send the
    same offer to every row, among others. A bootstrap in chunks of 7 replicates (as at 344,000
    rows) rounded the DR column of the third policy 4e-16 away from ours on an AMD EPYC, and
    the report printed the CI [+0.0000, +4.44e-16]; a different policy is still compared."""
    import causal_targeting.evaluation.policy_value as policy_value

    n, arms = 5_000, ["ctl", "a", "b", "c", "d"]
    monkeypatch.setattr(policy_value, "BOOTSTRAP_CELLS", 7 * n)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"treatment": rng.choice(arms, n), "spend": 10.0 * rng.binomial(1, 0.3, n),
         "propensity": 0.2}
        | {f"mu__spend__{arm}": 5 * rng.random(n) for arm in arms}
    )
    every = np.full(n, "d", dtype=object)
    policies = {
        "ours": pd.DataFrame({arm: float(arm == "d") for arm in arms}, index=range(n)),
        "p1": every.copy(), "p2": every.copy(), "p3": rng.choice(arms, n).astype(object),
        "p4": every.copy(), "p5": np.full(n, "ctl", dtype=object),
    }
    table = policy_differences(
        frame, policies, against="ours", outcome="spend", arms=arms, control="ctl",
        costs={"a": 0.3, "b": 0.3, "c": 0.4, "d": 0.5}, reps=100,
    )
    same = table[table["baseline"].isin(["p1", "p2", "p4"])]
    assert (same[["difference", "ci_low", "ci_high"]].to_numpy() == 0.0).all()
    assert (same["p_value"] == 1.0).all() and (same["same_decisions"] == 1.0).all()
    other = table[table["baseline"] == "p3"]
    assert (other["ci_high"] - other["ci_low"] > 0.01).all()
    assert other["same_decisions"].to_numpy() == pytest.approx([0.2] * 3, abs=0.02)


def test_p_value_is_two_sided_and_never_zero() -> None:
    draws = np.r_[np.ones(98), -np.ones(2)]
    assert bootstrap_p_value(draws) == pytest.approx(2 * 3 / 101)
    assert bootstrap_p_value(-draws) == pytest.approx(2 * 3 / 101)
    assert bootstrap_p_value(np.ones(999)) == pytest.approx(0.002)  # none of 999 below 0
    assert bootstrap_p_value(np.zeros(50)) == 1.0  # the same policy: every draw is 0


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
        [("targeting", b, "dr", d, lo, hi, 0.01, 0.5) for b, d, lo, hi in rows],
        columns=DIFFERENCE_COLUMNS,
    )
    line = verdict_line(differences, "dr", 0.05)
    assert line.startswith("Targeting beats the best baseline ('static_best'): +0.2000")
    assert "decides as" not in line
    differences.loc[1, "ci_low"] = -0.01
    assert "does not significantly beat" in verdict_line(differences, "dr", 0.05)


def same_policy_differences(alike: list[str]) -> pd.DataFrame:
    """Targeting against the four comparable baselines; those in ``alike`` decide as it does
    for every customer (a difference of exactly zero), the others lose to it."""
    rows = []
    for baseline, loss in (("propensity", 0.3), ("static_best", 0.1), ("random", 0.4),
                           ("treat_none", 0.6)):
        same = baseline in alike
        d, lo, hi = (0.0, 0.0, 0.0) if same else (loss, loss - 0.2, loss + 0.2)
        rows.append(("targeting", baseline, "dr", d, lo, hi, 1.0 if same else 0.02,
                     1.0 if same else 0.5))
    return pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS)


def test_verdict_says_when_the_best_baseline_is_the_same_policy() -> None:
    """When the safeguard sends one arm to everyone, the same-contacts baselines send it too:
    the verdict says targeting is that policy and compares it with the best of the others,
    instead of 'does not significantly beat ... +0.0000, CI [+0.0000, +0.0000], p = 1.000'."""
    from causal_targeting.evaluation.verdict import verdict_line

    line = verdict_line(same_policy_differences(["propensity", "random"]), "dr", 0.05)
    assert line == (
        "Targeting does not beat the best baseline: it decides as 'propensity' and 'random' for "
        "every evaluated customer (the same policy); against the best of the others "
        "('static_best'): +0.1000 per customer (DR), 95% paired CI [-0.1000, +0.3000], p = 0.020."
    )
    everyone = ["propensity", "static_best", "random", "treat_none"]
    assert verdict_line(same_policy_differences(everyone), "dr", 0.05) == (
        "Targeting does not beat the best baseline: it decides as 'propensity', 'static_best', "
        "'random' and 'treat_none' for every evaluated customer (the same policy)."
    )


def test_verdict_names_alike_baselines_beside_a_better_one() -> None:
    from causal_targeting.evaluation.verdict import verdict_line

    differences = same_policy_differences(["random"])
    differences.loc[differences["baseline"] == "static_best", "difference"] = -0.05
    line = verdict_line(differences, "dr", 0.05)
    assert line.startswith("Targeting does not significantly beat the best baseline "
                           "('static_best'): -0.0500")
    assert line.endswith(" It decides as 'random' for every evaluated customer.")


def test_difference_section_shows_the_chosen_estimator_under_human_headers() -> None:
    from causal_targeting.evaluation.verdict import difference_section

    differences = pd.DataFrame(
        [
            ("targeting", "random", "dr", 0.25, 0.05, 0.45, 0.01, 0.25),
            ("targeting", "random", "ips", 0.3, -0.1, 0.7, 0.2, 0.25),
            ("targeting", "treat_none", "dr", -0.0, -0.2, 0.2, 1e-320, 0.6),
        ],
        columns=DIFFERENCE_COLUMNS,
    )
    section = difference_section(differences, "dr", 0.05, {"line": "Safeguard: kept."})
    (_, table), = section.tables
    assert list(table.columns) == [
        "Baseline", "Targeting minus baseline, per customer", "95% paired CI", "p-value",
        "Customers with the same decision",
    ]
    assert table["Customers with the same decision"].tolist() == ["25.0%", "60.0%"]
    assert table["Baseline"].tolist() == ["random", "treat_none"]
    assert table["Targeting minus baseline, per customer"].tolist() == ["+0.2500", "0.0000"]
    assert table["p-value"].tolist()[1] == "<1e-300"
    assert "Safeguard: kept." in section.paragraphs
