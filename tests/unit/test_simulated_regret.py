"""benchmarks/simulated_regret.py: the policies judged by the truth, on a tiny simulation."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        return importlib.import_module("simulated_regret")


def test_oracle_best_static_and_true_value_on_known_values(bench: ModuleType) -> None:
    values = pd.DataFrame({"a": [1.0, -2.0, 0.5], "b": [0.5, -1.0, 3.0]})
    oracle = bench.oracle_policy(values, "none")
    assert list(oracle) == ["a", "none", "b"]
    assert bench.policy_true_value(values, oracle, "none") == pytest.approx(4.0 / 3)
    assert bench.best_static_arm(values, "none") == "b"
    assert bench.best_static_arm(-values.abs(), "none") == "none"


def test_regret_run_values_every_policy_by_the_truth(bench: ModuleType) -> None:
    run = bench.regret_run("retention", seed=3, train_rows=1500, customer_rows=500, causalml=False)
    values = run.values
    assert run.learner in {"t", "x", "dr", "ensemble", "risk"}
    assert set(run.learners["learner"]) == {"t", "x", "dr", "ensemble", "risk"}
    assert values["no offer"] == 0.0
    assert all(values["oracle"] >= values[p] - 1e-12 for p in bench.POLICIES)
    if run.safeguard.kind == "targeted":
        assert values["ours"] == values["targeted"]
    else:
        static = np.full(500, run.safeguard.static_arm, dtype=object)
        spec = bench.scenario("retention")
        _, customers = bench.simulated_tables(spec, 10, 500, 3)
        truth = bench.true_values(spec, customers)
        assert values["ours"] == pytest.approx(bench.policy_true_value(truth, static, "none"))
    assert run.regret == pytest.approx((values["oracle"] - values["ours"]) / values["oracle"])


@pytest.fixture(scope="module")
def costly_run(bench: ModuleType) -> object:
    """A tiny run of costly_retention, where no offer is the oracle."""
    return bench.regret_run(
        "costly_retention", seed=3, train_rows=2100, customer_rows=500, causalml=False
    )


def test_where_no_offer_is_the_oracle_the_loss_is_read_instead_of_a_regret(
    bench: ModuleType, costly_run: object
) -> None:
    run = costly_run
    assert run.values["oracle"] == run.values["no offer"] == 0.0
    assert np.isnan(run.regret)
    assert "| n/a |" in bench.runs_table([run]) and "| n/a |" in bench.learners_table([run])
    line = bench.targets([run], [])
    assert "no policy gains over no offer" in line
    assert line.endswith(": met") == (run.values["ours"] >= 0)


def test_a_noise_region_leaves_the_truth_and_has_the_levels_asked(bench: ModuleType) -> None:
    spec = bench.scenario("rewards")
    experiment, customers = bench.simulated_tables(spec, 20_000, 5_000, 2)
    noisy, noisy_customers = bench.with_noise_region(experiment, customers, 300, seed=2)
    pd.testing.assert_frame_equal(
        bench.true_values(spec, noisy_customers), bench.true_values(spec, customers)
    )
    pd.testing.assert_frame_equal(noisy.drop(columns="region"), experiment.drop(columns="region"))
    shares = noisy["region"].value_counts(normalize=True)
    assert 250 < len(shares) <= 300 and shares.index[0] == "r000"
    assert 0.06 < shares.iloc[0] < 0.12  # 1 / sum_k k^-0.8 over 300 levels: about 0.088
    first = noisy["region"].to_numpy()[: len(noisy_customers)]
    assert (first != noisy_customers["region"].to_numpy()).mean() > 0.5  # independent draws


def scores_by_the_truth(cfg, fit: pd.DataFrame, judged: pd.DataFrame, seed: int) -> dict:
    """A stand-in for ``_causalml.causalml_scores`` (causalml is in the ``bench`` extra, not in
    the tests'): both "learners" score the judged rows by their true means and effects."""
    columns = {
        column.removeprefix("true_"): judged[column]
        for column in judged.columns
        if column.startswith(("true_mu__", "true_tau__"))
    }
    frame = pd.DataFrame(columns, index=judged.index)
    return {name: frame for name in ("causalml X", "causalml T")}


def test_outside_learners_are_valued_on_the_same_customers(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside learners that know the truth earn the oracle's value: zero regret, in the table."""
    monkeypatch.setattr(bench, "causalml_scores", scores_by_the_truth)
    run = bench.regret_run("rewards", seed=2, train_rows=2000, customer_rows=400)
    learners = run.learners.set_index("learner")
    outside = learners.loc[["causalml X", "causalml T"]]
    assert outside["value"].isna().all() and not outside["chosen"].any()
    assert outside["true_value"].to_numpy() == pytest.approx([run.values["oracle"]] * 2)
    assert run.regret_of(outside.loc["causalml T", "true_value"]) == pytest.approx(0.0, abs=1e-12)
    assert learners["chosen"].sum() == 1 and learners.loc[run.learner, "chosen"]
    ours = learners.loc[run.learner, "true_value"]
    gain = run.values["oracle"] - run.values["no offer"]
    assert run.regret_of(ours) == pytest.approx((run.values["oracle"] - ours) / gain)
    table = bench.learners_table([run])
    assert "| causalml X |  |" in table and "0.0%" in table


def test_outside_policy_pays_the_reward_on_predicted_redemption(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "causalml_scores", scores_by_the_truth)
    cfg = bench.scenario_config("rewards", 4)
    arms = list(cfg.data.arms)
    experiment, customers = bench.simulated_tables(bench.scenario("rewards"), 1500, 300, 4)
    t = scores_by_the_truth(cfg, experiment, customers, cfg.seed)["causalml T"]
    rates = {"reward_5": 5.0, "reward_10": 10.0, "reward_20": 20.0}
    net = np.column_stack(
        [
            0.4 * t[f"tau__spend__{arm}"] - 0.25 - rates[arm] * t[f"mu__redeemed__{arm}"]
            for arm in arms
        ]
    )
    expected = np.where(net.max(axis=1) > 0, np.asarray(arms, dtype=object)[net.argmax(1)], "none")
    assert len(set(expected)) > 1  # the rows are not all one decision
    assert list(bench.causalml_policies(cfg, experiment, customers)["causalml T"]) == list(expected)


def test_static_choice_ceiling_is_the_efficient_estimators_chance(bench: ModuleType) -> None:
    from scipy import stats

    from causal_targeting.data.simulate import customer_block, scenario

    rows = 200_000
    spec = scenario("no_signal")
    truth = customer_block(spec, np.arange(rows), 0)
    p_none = truth["true_mu__purchased__none"].to_numpy()
    p_email = truth["true_mu__purchased__email"].to_numpy()
    variance = np.mean(p_none * (1 - p_none)) + np.mean(p_email * (1 - p_email))
    se = spec.margin * np.sqrt(variance / (0.25 * rows))  # e-mail against no offer alone
    two_arms = stats.norm.cdf(0.10 / se)
    ceiling = bench.static_choice_ceiling("no_signal", rows)
    assert abs(ceiling - two_arms) < 0.005  # sms and coupon almost never rank first here
    assert bench.static_choice_ceiling("no_signal", 20_000) < 0.8 < ceiling


def test_the_verdict_names_an_offer_the_preference_for_no_offer_declined(
    bench: ModuleType, costly_run: object
) -> None:
    from dataclasses import replace

    run = costly_run
    static = replace(run.safeguard, kind="static", static_arm="none", declined=None)
    assert bench.verdict(replace(run, safeguard=static)).startswith("static 'none' (lower bound")
    assert "declined" not in bench.verdict(replace(run, safeguard=static))
    declined = replace(static, declined="letter")
    assert bench.verdict(replace(run, safeguard=declined)).endswith(", 'letter' declined)")
