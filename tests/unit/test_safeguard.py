"""The safeguard keeps targeting on a strong signal and falls back to static on noise."""

from __future__ import annotations

import numpy as np
import pandas as pd

from causal_targeting.evaluation.safeguard import best_static, decide
from causal_targeting.value import ValueModel

MODEL = ValueModel(weights={"y": 1.0}, fixed_cost=0.1)


def _rows(n: int, heterogeneity: float, seed: int, noise_scores: bool) -> pd.DataFrame:
    """Scored rows with effect ``heterogeneity * x`` and scores that know it (or are noise)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    treated = rng.random(n) < 0.5
    y = x + treated * heterogeneity * x + rng.normal(size=n)
    tau = rng.normal(scale=0.3, size=n) if noise_scores else heterogeneity * x
    return pd.DataFrame(
        {
            "treatment": np.where(treated, "a", "ctl"),
            "y": y,
            "propensity": 0.5,
            "mu__y__ctl": x,
            "mu__y__a": x + tau,
            "tau__y__a": tau,
        }
    )


def test_strong_signal_keeps_targeting() -> None:
    decision = decide(
        _rows(4000, 1.0, 0, False), MODEL, ["a"], "ctl", confidence=0.9, seed=1, reps=300
    )
    assert decision.kind == "targeted"
    assert decision.ci_low > 0
    assert decision.static_arm == "ctl"  # the effect averages zero: no one is the best static


def test_pure_noise_falls_back_to_static() -> None:
    decision = decide(
        _rows(300, 0.0, 2, True), MODEL, ["a"], "ctl", confidence=0.9, seed=1, reps=300
    )
    assert decision.kind == "static"
    assert decision.ci_low <= 0
    assert decision.static_arm in decision.static_values
    assert "NOT better" in decision.line("ctl")


def test_a_static_arm_needs_a_proven_gain_over_no_offer() -> None:
    rng = np.random.default_rng(0)
    none = rng.normal(1.0, 0.1, size=500)
    values = {"ctl": 1.0, "lucky": 1.02, "real": 1.01}
    lucky = none + rng.normal(0.02, 0.05, size=500)  # gain 0.02, 90% lower bound < 0
    real = none + rng.normal(0.01, 0.002, size=500)  # gain 0.01, lower bound > 0
    draws = np.column_stack([none, lucky, real])
    assert best_static(values, draws, "ctl", 0.9) == "real"
    assert best_static({"ctl": 1.0, "lucky": 1.02}, draws[:, :2], "ctl", 0.9) == "ctl"
    assert best_static({"lucky": 1.02, "real": 1.01}, draws[:, 1:], "ctl", 0.9) == "lucky"


def test_noise_picks_no_offer_over_a_lucky_arm() -> None:
    free = ValueModel(weights={"y": 1.0}, fixed_cost=0.0)
    rows = _rows(600, 0.0, 3, True).assign(y=np.random.default_rng(103).normal(size=600))
    lucky = {"ctl": np.full(600, "ctl", dtype=object), "a": np.full(600, "a", dtype=object)}
    decision = decide(rows, free, ["a"], "ctl", confidence=0.9, seed=1, reps=300, statics=lucky)
    assert decision.static_values["a"] > decision.static_values["ctl"]  # 'a' is lucky here
    assert decision.static_arm == "ctl"
