"""data/balance.py: features that differ between the arms beyond chance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from causal_targeting.data.balance import (
    SHOWN,
    imbalance_lines,
    imbalanced_features,
    standardized_differences,
)


def arm_stats(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """What ingest's aggregation gives per arm: n, and per feature its mean, sample variance and
    count of values that are not missing."""
    rows = {}
    for arm, rows_of_arm in frame.groupby("arm"):
        row = {"n": len(rows_of_arm)}
        for f in features:
            values = rows_of_arm[f].dropna()
            row |= {f"mean__{f}": values.mean(), f"var__{f}": values.var(ddof=1)}
            row[f"count__{f}"] = len(values)
        rows[arm] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def experiment(seed: int, n: int = 20_000) -> pd.DataFrame:
    """Two offers and control at random; 'age' and 'spend' drawn before the offer."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(["none", "email", "sms"], n)
    spend = rng.lognormal(3, 1, n)
    spend[rng.random(n) < 0.3] = np.nan
    return pd.DataFrame({"arm": arm, "age": rng.normal(45, 12, n), "spend": spend})


def test_a_randomized_experiment_has_no_imbalanced_feature() -> None:
    """Twenty randomized tables: no pair is flagged, although |z| reaches 2 to 3 by chance."""
    largest = 0.0
    for seed in range(20):
        stats = arm_stats(experiment(seed), ["age", "spend"])
        pairs = standardized_differences(stats, ["age", "spend"], "none", ["email", "sms"])
        largest = max(largest, float(pairs["z"].abs().max()))
        assert imbalanced_features(stats, ["age", "spend"], "none", ["email", "sms"]).empty
    assert largest > 2.0  # the test sees chance differences, and lets them pass


def test_a_feature_recorded_after_the_offer_is_flagged() -> None:
    """'exposed' is 0 on every control row and 1 on 5% of the offers' rows; 'visits_after' is
    missing for control rows (recorded only where an offer was sent)."""
    frame = experiment(1)
    rng = np.random.default_rng(2)
    offered = frame["arm"] != "none"
    frame["exposed"] = np.where(offered, rng.random(len(frame)) < 0.05, 0).astype(float)
    frame["visits_after"] = np.where(offered, rng.poisson(2, len(frame)), np.nan)
    features = ["age", "spend", "exposed", "visits_after"]
    flagged = imbalanced_features(arm_stats(frame, features), features, "none", ["email", "sms"])
    assert set(flagged["feature"]) == {"exposed", "visits_after"}
    assert set(flagged.loc[flagged["feature"] == "visits_after", "what"]) == {"missing"}
    lines = imbalance_lines(flagged)
    assert len(lines) == 2
    assert any(line.startswith("feature 'exposed' differs between the arms") for line in lines)
    assert any("missing in 0.0% of arm" in line for line in lines)
    assert all("remove it from data.features" in line for line in lines)


def test_a_tiny_real_difference_in_a_huge_experiment_passes() -> None:
    """A difference of 0.05 standard deviations is far beyond chance at 2 million rows an arm
    (z about 70) but too small to matter: not flagged; 0.2 is."""
    stats = pd.DataFrame(
        {"n": [2e6, 2e6], "mean__x": [0.0, 0.05], "var__x": [1.0, 1.0], "count__x": [2e6, 2e6],
         "mean__y": [0.0, 0.2], "var__y": [1.0, 1.0], "count__y": [2e6, 2e6]},
        index=["none", "email"],
    )  # fmt: skip
    flagged = imbalanced_features(stats, ["x", "y"], "none", ["email"])
    assert list(flagged["feature"]) == ["y"]


def test_many_flagged_features_are_counted_beyond_the_first() -> None:
    flagged = pd.DataFrame(
        {"feature": [f"f{i}" for i in range(SHOWN + 3)], "arm": "email", "what": "mean",
         "arm_value": 1.0, "control_value": 0.0, "difference": 1.0, "z": 50.0}
    )  # fmt: skip
    lines = imbalance_lines(flagged)
    assert len(lines) == SHOWN + 1
    assert lines[-1].startswith("and 3 more feature(s) alike")
