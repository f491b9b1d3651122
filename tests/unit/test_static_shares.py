"""A guardrail-limited static policy is valued by its expectation over the tie-break's draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal_targeting.config import validate
from causal_targeting.decision import expected_static_policy, static_draw
from causal_targeting.evaluation.safeguard import decide
from causal_targeting.value import ValueModel
from safeguard_support import ONE_ARM_DATA


def config(allocation: dict) -> object:
    return validate(
        {
            "data": ONE_ARM_DATA,
            "allocation": {"weights": {"y": 1.0}, **allocation},
        }
    )


def scored(n: int, seed: int) -> pd.DataFrame:
    """Experiment rows where 'a' adds 1 + 2 x (cost 0.1) to a noisy y, scored by a model that
    knows it; half the rows got 'a'."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    treated = rng.random(n) < 0.5
    tau = 1.0 + 2.0 * x
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "treatment": np.where(treated, "a", "ctl"),
            "y": treated * tau + rng.normal(scale=3.0, size=n),
            "propensity": 0.5,
            "mu__y__ctl": 0.0,
            "mu__y__a": tau,
            "tau__y__a": tau,
            "cost_a": rng.uniform(0.0, 1.0, n),
        }
    )


def test_a_cap_on_contacts_gives_every_row_the_same_share() -> None:
    rows = scored(1000, 0)
    cap = {"name": "c", "kind": "contacts", "share": 0.3}
    cfg = config({"fixed_cost": 0.1, "guardrails": [cap]})
    policy, shares = static_draw(rows, cfg, ["a"], len(rows), "a")
    reach = float(np.mean(policy == "a"))
    assert reach == pytest.approx(0.3, abs=0.002)
    np.testing.assert_allclose(shares, reach)
    expected = expected_static_policy(rows, cfg, ["a"], len(rows), "a")
    np.testing.assert_allclose(expected["a"], reach)
    np.testing.assert_allclose(expected["ctl"], 1 - reach)


def test_costs_that_differ_by_customer_leave_the_drawn_policy() -> None:
    rows = scored(1000, 1)
    cfg = config(
        {
            "variable_costs": [{"column": "cost_{arm}", "rate": 1.0}],
            "guardrails": [{"name": "b", "kind": "budget", "share": 0.3}],
        }
    )
    policy, shares = static_draw(rows, cfg, ["a"], len(rows), "a")
    assert 0 < np.mean(policy == "a") < 1  # the budget binds: the cheaper customers first
    np.testing.assert_array_equal(shares, (policy == "a").astype(float))


def test_the_expectation_is_the_mixture_and_narrows_the_difference() -> None:
    """'a' to a random 30% of the rows, valued by its draw and by its expectation (30% of 'a'
    to everyone, 70% of no offer): the expectation's value is exactly that mixture of the two
    deterministic policies', and the targeted policy's difference from it has a narrower
    bootstrap interval than its difference from the draw."""
    rows = scored(6000, 2)
    model = ValueModel(weights={"y": 1.0}, fixed_cost=0.1)
    n = len(rows)
    drawn = np.where(np.random.default_rng(3).random(n) < 0.3, "a", "ctl").astype(object)
    share = np.full(n, float(np.mean(drawn == "a")))
    targeted = np.where(rows["tau__y__a"].rank(ascending=False) <= 0.3 * n, "a", "ctl")
    common = {"confidence": 0.9, "seed": 1, "reps": 400, "targeted": targeted.astype(object)}
    nobody = np.full(n, "ctl", dtype=object)
    by_draw = decide(rows, model, ["a"], "ctl", statics={"ctl": nobody, "a": drawn}, **common)
    by_share = decide(
        rows, model, ["a"], "ctl", statics={"ctl": nobody, "a": drawn},
        static_shares={"a": share}, **common,
    )  # fmt: skip
    everyone = decide(rows, model, ["a"], "ctl", **common)
    mixture = share[0] * everyone.static_values["a"] + (1 - share[0]) * everyone.static_values[
        "ctl"
    ]
    assert by_share.static_values["a"] == pytest.approx(mixture)
    assert by_share.static_reach == by_draw.static_reach == pytest.approx(share[0])
    width = by_share.ci_high - by_share.ci_low
    assert width < 0.85 * (by_draw.ci_high - by_draw.ci_low)
