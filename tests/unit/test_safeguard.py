"""The safeguard keeps targeting on a strong signal and falls back to static on noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal_targeting.config import validate
from causal_targeting.decision import partial_sample_policy, safeguard_decision
from causal_targeting.errors import ConfigError, DataContractError
from causal_targeting.evaluation.safeguard import (
    decide,
    departure_gains,
    departure_threshold,
    partial_policy,
    static_policies,
)
from causal_targeting.value import ValueModel
from safeguard_support import ONE_ARM_DATA, scored_one_arm_rows, top_slice_rows

MODEL = ValueModel(weights={"y": 1.0}, fixed_cost=0.1)


def _rows(n: int, heterogeneity: float, seed: int, noise_scores: bool) -> pd.DataFrame:
    """Scored rows with effect ``heterogeneity * x`` and scores that know it (or are noise)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    treated = rng.random(n) < 0.5
    y = x + treated * heterogeneity * x + rng.normal(size=n)
    tau = rng.normal(scale=0.3, size=n) if noise_scores else heterogeneity * x
    return scored_one_arm_rows(treated, y, x, tau)


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
    bounds = decision.static_lower_bounds
    assert decision.static_arm == max(bounds, key=bounds.get)
    assert all(bounds[arm] <= decision.static_values[arm] for arm in bounds)
    assert "NOT better" in decision.line("ctl")


def test_a_targeted_policy_equal_to_the_best_static_one_is_said_to_be_it() -> None:
    rows = _rows(2000, 1.0, 3, False)
    nobody = np.full(len(rows), "ctl", dtype=object)
    decision = decide(
        rows, MODEL, ["a"], "ctl", confidence=0.9, seed=1, reps=200, targeted=nobody,
        statics={"ctl": nobody, "a": np.full(len(rows), "a", dtype=object)},
    )
    assert decision.same_policy and decision.static_arm == "ctl"
    assert decision.kind == "static" and decision.difference == 0.0
    assert decision.line("ctl") == (
        "Safeguard: the targeted policy is the best static policy (no offer to anyone) on every "
        "scored row: nothing to compare, using it"
    )
    differs = decide(rows, MODEL, ["a"], "ctl", confidence=0.9, seed=1, reps=200)
    assert not differs.same_policy and "targeting kept" in differs.line("ctl")


def test_a_static_policy_the_guardrails_cap_says_how_many_it_reaches() -> None:
    """'a' lifts y by 1 for everyone (cost 0.1): the best static policy is 'a'; solved under a
    cap that lets 40% of the rows have it, the line says so instead of 'every eligible
    customer', which it says when the static policy reaches every row."""
    rows = _rows(2000, 0.0, 4, True)
    rows["y"] += (rows["treatment"] == "a").to_numpy(dtype=float)
    nobody = np.full(len(rows), "ctl", dtype=object)
    capped = np.where(np.arange(len(rows)) < 800, "a", "ctl").astype(object)
    decision = decide(
        rows, MODEL, ["a"], "ctl", confidence=0.9, seed=1, reps=200,
        statics={"ctl": nobody, "a": capped},
    )
    assert decision.kind == "static" and decision.static_arm == "a"
    assert decision.static_reach == 0.4
    assert "('a' to 40% of the customers, as many as the guardrails allow)" in decision.line("ctl")
    everyone = decide(rows, MODEL, ["a"], "ctl", confidence=0.9, seed=1, reps=200)
    assert everyone.static_arm == "a" and everyone.static_reach is None
    assert "('a' to every eligible customer)" in everyone.line("ctl")
    assert "it minus no offer to anyone" in everyone.line("ctl")  # one offer: no "together"
    assert "together" not in everyone.line("ctl") and everyone.offers_measured == 1


def test_the_best_static_policy_is_the_one_of_largest_lower_bound() -> None:
    """Offers 'a' and 'b' lift y by 1 and 1.05 on average, 'b' with ten times the noise: its
    point estimate is the larger, its lower bound the smaller, and 'a' is the best static
    policy (the best measured of two nearly equal ones)."""
    rng = np.random.default_rng(7)
    n = 9000
    arm = rng.choice(["ctl", "a", "b"], n)
    noise = rng.normal(size=n) * np.where(arm == "b", 10.0, 1.0)
    y = np.select([arm == "a", arm == "b"], [1.0, 1.05], 0.0) + noise
    zero = np.zeros(n)
    rows = pd.DataFrame(
        {"treatment": arm, "y": y, "propensity": 1 / 3, "mu__y__ctl": zero, "mu__y__a": zero,
         "mu__y__b": zero, "tau__y__a": zero, "tau__y__b": zero}
    )
    decision = decide(rows, MODEL, ["a", "b"], "ctl", confidence=0.9, seed=1, reps=300)
    values, bounds = decision.static_values, decision.static_lower_bounds
    assert values["b"] > values["a"] > 0  # the point estimates would choose 'b'
    assert bounds["a"] > bounds["b"]
    assert decision.static_arm == "a"


def test_a_coarsened_menu_is_judged_on_the_rows_of_every_arm() -> None:
    """The coarsen stage keeps a few of the experiment's offers; the scored rows still hold
    every arm. The safeguard's policies choose from the menu and are valued on all the rows:
    'a' to everyone is worth the same whether 'b' is on the menu or not."""
    rows = _rows(2000, 1.0, 4, False)
    rng = np.random.default_rng(5)
    to_b = rng.random(len(rows)) < 0.3
    rows = rows.assign(
        treatment=np.where(to_b, "b", rows["treatment"]), mu__y__b=rows["mu__y__ctl"], tau__y__b=0.0
    )
    both = decide(rows, MODEL, ["a", "b"], "ctl", confidence=0.9, seed=1, reps=200)
    menu = decide(
        rows, MODEL, ["a"], "ctl", confidence=0.9, seed=1, reps=200, every_offer=["a", "b"]
    )

    assert set(menu.static_values) == {"ctl", "a"}
    assert menu.static_values["a"] == pytest.approx(both.static_values["a"])
    assert menu.static_values["ctl"] == pytest.approx(both.static_values["ctl"])
    with pytest.raises(DataContractError, match="treatment"):
        decide(rows, MODEL, ["a"], "ctl", confidence=0.9, seed=1, reps=200)


def six_even_offers(seed: int) -> tuple[pd.DataFrame, list[str]]:
    """Rows of no offer and six offers whose lift of y pays exactly their cost 0.1, scored by a
    model that knows every effect is 0."""
    rng = np.random.default_rng(seed)
    n = 7000
    offers = [f"o{k}" for k in range(6)]
    arm = rng.choice(["ctl", *offers], n)
    zero = np.zeros(n)
    columns = {f"mu__y__{a}": zero for a in ["ctl", *offers]}
    columns |= {f"tau__y__{a}": zero for a in offers}
    y = rng.normal(size=n) + 0.1 * (arm != "ctl")
    frame = pd.DataFrame({"treatment": arm, "y": y, "propensity": 1 / 7, **columns})
    return frame.assign(customer_id=np.arange(n)), offers


def test_a_static_offer_carries_its_own_evidence_against_no_offer() -> None:
    """Six offers whose lift of y pays exactly their cost: the best static policy is the offer
    that measures best, and its line says it is not shown better than no offer. An offer that
    lifts y by 3 is shown better, and its line says so without the warning."""
    rows, offers = six_even_offers(12)
    even = decide(rows, MODEL, offers, "ctl", confidence=0.9, seed=1, reps=300)
    assert even.kind == "static" and even.static_arm != "ctl"
    values = even.static_values
    assert even.static_gain == pytest.approx(values[even.static_arm] - values["ctl"])
    assert even.static_gain_low is not None and even.static_gain_low <= 0 < even.static_gain
    assert even.line("ctl").endswith("(not shown better than no offer)")
    lifted = rows.assign(y=rows["y"] + 3.0 * (rows["treatment"] == "o2"))
    shown = decide(lifted, MODEL, offers, "ctl", confidence=0.9, seed=1, reps=300)
    assert shown.kind == "static" and shown.static_arm == "o2"
    assert shown.static_gain is not None and 2.7 < shown.static_gain < 3.2
    assert shown.static_gain_low is not None and shown.static_gain_low > 0
    line = shown.line("ctl")
    assert f"it minus no offer to anyone: {shown.static_gain:+.4f} per customer" in line
    assert "not shown better" not in line
    only_none = {"ctl": np.full(len(rows), "ctl", dtype=object)}
    nothing = decide(
        rows, MODEL, offers, "ctl", confidence=0.9, seed=1, reps=300, statics=only_none
    )
    assert nothing.static_arm == "ctl" and nothing.static_gain is None
    assert "minus no offer" not in nothing.line("ctl")


def test_a_preference_for_no_offer_declines_an_offer_not_shown_better() -> None:
    """With ``gain_confidence`` the offer measured best is declined for no offer unless its
    gain over no offer is shown at that confidence: the even offers' best is declined, an offer
    that lifts y by 3 is kept; without it the best measured even offer is used."""
    rows, offers = six_even_offers(12)
    as_measured = decide(rows, MODEL, offers, "ctl", confidence=0.9, seed=1, reps=300)
    declined = decide(
        rows, MODEL, offers, "ctl", confidence=0.9, seed=1, reps=300, gain_confidence=0.9
    )
    assert as_measured.static_arm != "ctl" and as_measured.declined is None
    assert declined.static_arm == "ctl" and declined.declined == as_measured.static_arm
    assert declined.static_gain == as_measured.static_gain  # the same offer's evidence
    assert declined.static_gain_low is not None and declined.static_gain_low <= 0
    assert declined.kind == "static" and "so no offer" in declined.line("ctl")
    assert declined.same_policy  # the model (every effect 0) offers nothing: no offer
    assert "over the 6 offers together" in declined.line("ctl")
    lifted = rows.assign(y=rows["y"] + 3.0 * (rows["treatment"] == "o2"))
    kept = decide(
        lifted, MODEL, offers, "ctl", confidence=0.9, seed=1, reps=300, gain_confidence=0.99
    )
    assert kept.static_arm == "o2" and kept.declined is None
    assert "99% lower bound" in kept.line("ctl") and "so no offer" not in kept.line("ctl")


def test_the_allocation_setting_reaches_the_safeguard() -> None:
    """By default (0.5) the best measured of six offers that do not pay is declined for no
    offer here; with the setting null it is used as measured."""
    rows, offers = six_even_offers(12)
    data = {**ONE_ARM_DATA, "arms": offers}
    allocation = {"weights": {"y": 1.0}, "fixed_cost": 0.1}
    settings = {"data": data, "evaluate": {"bootstrap_reps": 300}}
    default = safeguard_decision(
        validate({**settings, "allocation": allocation}), rows, offers, len(rows)
    )
    as_measured = safeguard_decision(
        validate({**settings, "allocation": {**allocation, "static_gain_confidence": None}}),
        rows, offers, len(rows),
    )
    assert as_measured.static_arm != "ctl" and as_measured.gain_confidence is None
    assert default.static_arm == "ctl" and default.declined == as_measured.static_arm
    assert default.gain_confidence == 0.5


def test_the_best_of_offers_that_do_not_pay_is_kept_at_most_about_half_the_time() -> None:
    """Twenty experiments of six offers that do not pay: as measured, the best static policy
    is an offer in nearly all of them (the winner's curse); at the default 0.5 over the offers
    together, in about half, as for one offer, since the best of six is asked for its median
    corrected for being the best of six (module doc)."""
    as_measured = at_default = 0
    for seed in range(20):
        rows, offers = six_even_offers(seed)
        common = {"confidence": 0.9, "seed": 1, "reps": 200}
        as_measured += decide(rows, MODEL, offers, "ctl", **common).static_arm != "ctl"
        at_default += (
            decide(rows, MODEL, offers, "ctl", **common, gain_confidence=0.5).static_arm != "ctl"
        )
    assert as_measured >= 16
    assert at_default <= 12


@pytest.mark.parametrize("value", [0, 1, 1.5, -0.1])
def test_a_static_gain_confidence_outside_0_1_is_refused(value: float) -> None:
    with pytest.raises(ConfigError, match="static_gain_confidence"):
        validate({"data": ONE_ARM_DATA, "allocation": {"static_gain_confidence": value}})


def test_the_departures_of_largest_predicted_gain_are_kept_when_the_whole_policy_is_not() -> None:
    rows = top_slice_rows(4000, 0)
    whole = decide(rows, MODEL, ["a"], "ctl", confidence=0.9, seed=1, reps=300)
    decision = decide(
        rows, MODEL, ["a"], "ctl", confidence=0.9, seed=1, reps=300, partial_shares=[0.25, 0.5]
    )
    assert whole.kind == "static" and whole.steps == () and whole.partial_confidence is None
    assert decision.ci_low == whole.ci_low  # the whole policy is judged as without them
    assert decision.static_arm == "ctl" and decision.kind == "partial" and decision.share == 0.5
    assert decision.partial_confidence == pytest.approx(0.95)
    assert [step.share for step in decision.steps] == [0.25, 0.5]
    assert all(step.ci_low > 0 for step in decision.steps)
    gains = departure_gains(rows, MODEL, ["a"], "ctl", "ctl")
    assert decision.threshold == pytest.approx(np.quantile(gains[gains > 0], 0.5))
    kept = partial_policy(rows, MODEL, ["a"], "ctl", "ctl", decision.threshold)
    assert np.mean(kept == "a") == pytest.approx(decision.steps[1].departing)
    assert (rows["tau__y__a"][kept == "a"] - 0.1 > decision.threshold).all()
    assert "targeting kept for its 50% departures" in decision.line("ctl")
    assert "95% lower bound" in decision.line("ctl")


def test_a_whole_policy_shown_better_is_kept_without_a_second_chance() -> None:
    rows = _rows(4000, 1.0, 0, False)
    decision = decide(
        rows, MODEL, ["a"], "ctl", confidence=0.9, seed=1, reps=300, partial_shares=[0.25, 0.5]
    )
    assert decision.kind == "targeted" and decision.share == 1.0 and decision.steps == ()


def test_the_sequence_stops_at_the_first_partial_policy_not_shown_better() -> None:
    rows = top_slice_rows(4000, 0)
    timid = decide(
        rows, MODEL, ["a"], "ctl", confidence=0.9, seed=1, reps=300, partial_shares=[0.25, 0.5],
        partial=lambda arm, threshold: np.full(len(rows), arm, dtype=object),
    )  # fmt: skip
    assert timid.kind == "static" and len(timid.steps) == 1  # 0.5 never tested
    assert timid.steps[0].difference == 0.0 and timid.steps[0].departing == 0.0
    assert "alone, 95% lower bounds: 25% " in timid.line("ctl")


def test_the_partial_policy_solved_by_the_allocator_is_the_numpy_one() -> None:
    rows = top_slice_rows(3000, 4).assign(customer_id=np.arange(3000))
    cfg = validate(
        {"data": ONE_ARM_DATA, "allocation": {"weights": {"y": 1.0}, "fixed_cost": 0.1}}
    )
    for static in ("ctl", "a"):
        gains = departure_gains(rows, MODEL, ["a"], "ctl", static)
        threshold = departure_threshold(gains, 0.5)
        solved = partial_sample_policy(rows, cfg, ["a"], len(rows), static, threshold)
        expected = partial_policy(rows, MODEL, ["a"], "ctl", static, threshold)
        assert (solved == expected).all()
        assert 0 < np.mean(solved != static_policies(rows, ["a"], "ctl")[static]) < 0.5


@pytest.mark.parametrize("shares", [[0.5, 0.25], [0.0, 0.5], [0.5, 1.0], [0.3, 0.3]])
def test_partial_shares_outside_0_1_or_not_rising_are_refused(shares: list[float]) -> None:
    with pytest.raises(ConfigError, match="partial_shares"):
        validate({"data": ONE_ARM_DATA, "allocation": {"partial_shares": shares}})
