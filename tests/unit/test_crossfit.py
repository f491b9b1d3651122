"""Cross-fitting, tuned base models, the DR-learner, design probabilities and the selection."""

from __future__ import annotations

import dataclasses
import json
from functools import partial
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from causal_targeting.config import load_config
from causal_targeting.errors import ConfigError, ModelError
from causal_targeting.evaluation.net_value import VALUE, with_net_value
from causal_targeting.evaluation.policy_value import policy_values
from causal_targeting.learners.base import (
    TUNE_DRAW,
    rounds_to_confirm,
    stop_once_confirmed,
    tune_base_model,
    tuning_draw,
    tuning_rows,
)
from causal_targeting.learners.design import (
    Design,
    kept_shares,
    sampled_design,
    stratified_folds,
)
from causal_targeting.learners.model import UpliftModel
from causal_targeting.learners.spark_fit import blocks, group_fold, task_groups
from causal_targeting.learners.tasks import (
    FULL,
    FitTask,
    booster_predictor,
    dr_pseudo_outcome,
    tune_task,
)
from causal_targeting.learners.uplift import (
    DRLearner,
    EnsembleLearner,
    RiskLearner,
    TLearner,
    XLearner,
    fit_candidates,
    out_of_fold_scores,
)
from causal_targeting.selection import (
    chosen_learner,
    default_or_better,
    learner_comparison,
)
from causal_targeting.stages.train import fit_arguments, promotion_score, sample_summary
from causal_targeting.value import ValueModel, net_value_policy
from causal_targeting.views import choice_line, sample_line

ARMS = ("a", "b")
DESIGN = {
    "features": {"x1": "numeric", "x2": "numeric"},
    "treatment": "treatment",
    "control": "none",
    "arms": ARMS,
    "outcomes": {"y": "continuous"},
}
CROSS = {"n_folds": 3, "n_estimators": 60, "seed": 1}


def experiment(n: int, seed: int) -> pd.DataFrame:
    """Control and two arms at 1/3 each; y = x2 + tau_T(x) + N(0, 1) with tau_a = 2·1[x1 > 0]
    − 1 (a strong, sign-changing effect) and tau_b = −0.5 (never worth it)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    arm = rng.choice(["none", *ARMS], n)
    tau_a = 2.0 * (x1 > 0) - 1.0
    effect = np.select([arm == "a", arm == "b"], [tau_a, -0.5], 0.0)
    frame = pd.DataFrame({"customer_id": np.arange(n), "x1": x1, "x2": x2, "treatment": arm})
    frame["y"] = x2 + effect + rng.normal(0, 1, n)
    frame["true_tau_a"] = tau_a
    return frame


def test_folds_are_stratified_by_arm_and_fixed_by_the_seed() -> None:
    treatment = np.array(["none"] * 301 + ["a"] * 100 + ["b"] * 49)
    folds = stratified_folds(treatment, 5, seed=3)
    counts = pd.crosstab(treatment, folds)
    assert (counts.max(axis=1) - counts.min(axis=1) <= 1).all()
    assert np.array_equal(folds, stratified_folds(treatment, 5, seed=3))
    assert not np.array_equal(folds, stratified_folds(treatment, 5, seed=4))


def test_folds_of_clusters_keep_each_cluster_whole_and_ignore_the_row_order() -> None:
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 4, 600)
    clusters = np.repeat([f"h{i}" for i in range(600)], sizes)
    arms = np.repeat(rng.choice(["none", *ARMS], 600), sizes)
    folds = stratified_folds(arms, 5, seed=2, clusters=clusters)
    by_cluster = pd.DataFrame({"c": clusters, "t": arms, "fold": folds})
    assert (by_cluster.groupby("c")["fold"].nunique() == 1).all()
    first = by_cluster.drop_duplicates("c")
    per_arm = pd.crosstab(first["t"], first["fold"])
    assert per_arm.shape == (3, 5) and (per_arm.max(axis=1) - per_arm.min(axis=1) <= 1).all()
    order = rng.permutation(len(arms))
    np.testing.assert_array_equal(
        stratified_folds(arms[order], 5, seed=2, clusters=clusters[order]), folds[order]
    )


def test_more_folds_than_clusters_of_an_arm_is_refused() -> None:
    arms = np.array(["none"] * 30 + ["a"] * 30)
    clusters = np.r_[np.arange(30), np.repeat([100, 101], 15)]  # arm a: two households
    with pytest.raises(ConfigError, match=r"train\.folds = 3 is more than the 2 clusters "
                       r"\(data\.cluster\) of arm 'a'.*Fix: set train\.folds to at most 2"):
        stratified_folds(arms, 3, seed=1, clusters=clusters)


def test_an_in_process_fit_of_a_clustered_experiment_scores_no_row_with_its_cluster() -> None:
    frame = experiment(900, seed=4).assign(household=np.arange(900) // 3)
    frame["treatment"] = frame.groupby("household")["treatment"].transform("first")
    learner = TLearner(**CROSS).fit(frame, cluster_column="household", **DESIGN)
    folds = stratified_folds(frame["treatment"], 3, seed=1, clusters=frame["household"])
    assert (pd.Series(folds).groupby(frame["household"]).nunique() == 1).all()
    for fold, model in enumerate(learner.fold_models_):
        rows = frame.loc[folds == fold]
        pd.testing.assert_frame_equal(learner.oof_.loc[rows.index], model.predict(rows), atol=1e-12)


def test_out_of_fold_scores_never_come_from_a_model_that_saw_the_row() -> None:
    """A T-learner that memorizes row ids (the id is a feature, leaves of one row, many trees):
    in sample it reproduces pure-noise outcomes; out of fold it cannot."""
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "row_id": rng.permutation(n).astype(float),
            "treatment": np.tile(["none", "a"], n // 2),
            "y": rng.normal(0, 1, n),
        }
    )
    memorizer = TLearner(
        params={
            "num_leaves": 64,
            "min_child_samples": 1,
            "min_data_in_bin": 1,
            "learning_rate": 0.5,
        },
        n_estimators=200,
        early_stopping_rounds=None,
        n_folds=3,
    )
    design = {**DESIGN, "features": {"row_id": "numeric"}, "arms": ("a",)}
    fitted = memorizer.fit(frame, **design)
    own = np.where(frame["treatment"] == "a", "mu__y__a", "mu__y__none")
    pick = np.arange(n)
    in_sample = fitted.model_.predict(frame).to_numpy()[
        pick, [list(fitted.model_.score_columns()).index(c) for c in own]
    ]
    oof = fitted.oof_.loc[frame.index].to_numpy()[
        pick, [list(fitted.oof_.columns).index(c) for c in own]
    ]
    assert np.corrcoef(in_sample, frame["y"])[0, 1] > 0.9
    assert abs(np.corrcoef(oof, frame["y"])[0, 1]) < 0.2


def test_dr_pseudo_outcome_by_hand() -> None:
    """Y* = mu_a − mu_c + t(Y − mu_a)/e − (1 − t)(Y − mu_c)/(1 − e)."""
    y = np.array([3.0, 1.0])
    treated = np.array([True, False])
    mu_a, mu_c, e = np.array([2.0, 2.0]), np.array([1.5, 0.5]), np.array([0.25, 0.25])
    # treated row: 2 − 1.5 + (3 − 2)/0.25 = 4.5; control row: 2 − 0.5 − (1 − 0.5)/0.75 = 5/6
    expected = np.array([4.5, 1.5 - 0.5 / 0.75])
    np.testing.assert_allclose(dr_pseudo_outcome(y, treated, mu_a, mu_c, e), expected)


def test_tuned_tree_count_is_smaller_on_noise_than_on_signal() -> None:
    rng = np.random.default_rng(2)
    n = 3_000
    X = pd.DataFrame({"x1": rng.uniform(-1, 1, n), "x2": rng.uniform(-1, 1, n)})
    folds = stratified_folds(np.zeros(n), 4, seed=1)
    noise = rng.normal(0, 1, n)
    signal = np.sin(3 * X["x1"].to_numpy()) + X["x2"].to_numpy() ** 2 + 0.3 * noise
    on_noise = tune_base_model(X, noise, "continuous", folds, n_estimators=400)
    on_signal = tune_base_model(X, signal, "continuous", folds, n_estimators=400)
    assert on_noise.n_estimators < on_signal.n_estimators
    assert len(on_signal.grid) == 4
    assert on_signal.loss == min(point["loss"] for point in on_signal.grid)


def test_a_best_round_is_confirmed_after_half_its_rounds_within_the_patience() -> None:
    """The wait after a best of b trees is b/2 within [max(P/2, 20), P] (P: n/500 in [20, 100]);
    on a curve that overfits early, lightgbm.cv stops at that wait, not at the whole patience,
    with the same best round as lightgbm.early_stopping; at the last round it truncates too."""
    assert [rounds_to_confirm(b, 50_000) for b in (10, 140, 300)] == [50, 70, 100]
    assert [rounds_to_confirm(b, 5_000) for b in (4, 60)] == [20, 20]
    assert [rounds_to_confirm(b, 30_000) for b in (4, 50, 200)] == [30, 30, 60]
    rng = np.random.default_rng(5)
    n = 50_000
    X = pd.DataFrame({"x1": rng.uniform(-1, 1, n), "x2": rng.uniform(-1, 1, n)})
    y = 0.2 * X["x1"].to_numpy() + rng.normal(0, 1, n)
    folds = stratified_folds(np.zeros(n), 5, seed=1)
    splits = [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(5)]
    params = {"objective": "regression", "num_leaves": 31, "learning_rate": 0.3, "verbose": -1}

    def run(stop: object, rounds: int = 400) -> tuple[int, int]:
        seen: list[int] = []
        history = lgb.cv(
            params,
            lgb.Dataset(X, label=y),
            num_boost_round=rounds,
            folds=splits,
            callbacks=[lambda env: seen.append(env.iteration), stop],
        )
        return len(history["valid l2-mean"]), len(seen)

    best, ran = run(stop_once_confirmed(n))
    plain_best, plain_ran = run(lgb.early_stopping(100, verbose=False))
    assert best == plain_best < 30
    assert ran == best + 50 and plain_ran == best + 100
    assert run(stop_once_confirmed(n), rounds=best + 10) == (best, best + 10)


def test_tuning_rows_are_all_rows_or_those_of_smallest_draw() -> None:
    draws = tuning_draw(pd.Series(np.arange(1_000) * 7 + 3), seed=1)
    assert np.array_equal(tuning_rows(draws[:50], 50), np.arange(50))
    assert np.array_equal(tuning_rows(draws, None), np.arange(1_000))
    drawn = tuning_rows(draws, 200)
    assert len(np.unique(drawn)) == 200 and np.all(np.diff(drawn) > 0) and drawn[-1] < 1_000
    assert draws[drawn].max() < np.delete(draws, drawn).min()


def test_a_tuning_draw_is_uniform_and_depends_on_the_key_and_seed_only() -> None:
    """The same key gets the same draw in any company and order, another seed another draw;
    string and integer keys alike; the draws of 20,000 keys pass a uniformity test."""
    keys = pd.Series(np.arange(20_000, dtype=np.int64) * 13 + 5)
    draws = tuning_draw(keys, seed=3)
    assert np.all((draws >= 0) & (draws < 1))
    shuffled = np.random.default_rng(0).permutation(20_000)[:500]
    assert np.array_equal(tuning_draw(keys.iloc[shuffled], seed=3), draws[shuffled])
    assert not np.allclose(tuning_draw(keys, seed=4), draws)
    assert stats.kstest(draws, "uniform").pvalue > 1e-3
    names = pd.Series([f"c{i}" for i in range(300)], dtype=object)
    assert np.array_equal(tuning_draw(names[::-1], 3)[::-1], tuning_draw(names, 3))


def test_a_task_is_tuned_on_its_subsample_only() -> None:
    """The grid point's trees and loss with ``max_rows`` are those of the same point tuned on
    the drawn rows alone, and differ from the point tuned on all rows."""
    frame = experiment(1_500, seed=3)
    frame[TUNE_DRAW] = tuning_draw(pd.Series(np.arange(1_500)), seed=1)
    X = frame[["x1", "x2"]]
    folds = stratified_folds(frame["treatment"], 3, seed=1)
    task = FitTask("mu__y__all", ("none", "a", "b"), "outcome", "continuous", "none", "y")
    task = dataclasses.replace(task, grid_point=1)
    settings = {"params": None, "seed": 1, "n_estimators": 60}
    design = Design.of(**DESIGN)
    tune = partial(tune_task, design=design, settings=settings)
    predict = booster_predictor({}, len(frame))
    on_sample = json.loads(tune(task, frame, X, folds, predict, max_rows=400))
    keep = tuning_rows(frame[TUNE_DRAW].to_numpy(), 400)
    alone = frame.iloc[keep].reset_index(drop=True)
    expected = json.loads(tune(task, alone, X.iloc[keep], folds[keep], predict))
    assert on_sample == expected
    assert on_sample["loss"] != json.loads(tune(task, frame, X, folds, predict))["loss"]


def test_the_predictor_predicts_each_row_once_a_model_and_as_lightgbm_does(monkeypatch) -> None:
    """Asked again for rows it has predicted (a DR target in each fold's fit), the predictor
    sends LightGBM only the new rows, and every answer equals the booster's own prediction."""
    import lightgbm as lgb

    from causal_targeting.learners.base import fit_base_model

    frame = experiment(600, seed=5)
    X = frame[["x1", "x2"]]
    folds = stratified_folds(frame["treatment"], 3, seed=2)
    boosters = {
        "mu__y__a": fit_base_model(X, frame["y"].to_numpy(), "continuous", n_estimators=20),
        **{
            f"mu__y__a@fold{k}": fit_base_model(
                X[folds != k], frame["y"].to_numpy()[folds != k], "continuous", n_estimators=20
            )
            for k in range(3)
        },
    }
    asked: list[int] = []
    booster_predict = lgb.Booster.predict

    def counted(self, data, *args, **kwargs):
        asked.append(len(data))
        return booster_predict(self, data, *args, **kwargs)

    monkeypatch.setattr(lgb.Booster, "predict", counted)
    predict = booster_predictor(boosters, len(frame))
    outside = np.flatnonzero(folds != 0)
    first = predict("mu__y__a", X.iloc[outside], folds[outside])  # out of fold, rows outside fold 0
    assert sum(asked) == len(outside)
    every = predict("mu__y__a", X, folds)  # then every row: only fold 0's rows are new
    assert sum(asked) == len(frame)
    again = predict("mu__y__a", X.iloc[outside], np.full(len(outside), FULL))  # the full model
    assert sum(asked) == len(frame) + len(outside)
    expected = np.empty(len(frame))
    for k in range(3):
        fold_model = lgb.Booster(model_str=boosters[f"mu__y__a@fold{k}"])
        expected[folds == k] = booster_predict(fold_model, X[folds == k])
    np.testing.assert_array_equal(every, expected)
    np.testing.assert_array_equal(first, expected[outside])
    full = booster_predict(lgb.Booster(model_str=boosters["mu__y__a"]), X.iloc[outside])
    np.testing.assert_array_equal(again, full)


def test_tune_rows_below_two_rows_a_fold_is_refused() -> None:
    with pytest.raises(ConfigError, match="tune_rows"):
        TLearner(n_folds=5, tune=True, tune_rows=9).fit(experiment(300, seed=1), **DESIGN)


@pytest.fixture(scope="module")
def candidates() -> tuple[pd.DataFrame, dict]:
    frame = experiment(2_400, seed=7)
    classes = (TLearner, XLearner, DRLearner, EnsembleLearner, RiskLearner)
    learners = [cls(**CROSS, tune=True) for cls in classes]
    return frame, fit_candidates(learners, frame, id_column="customer_id", **DESIGN)


def test_refit_models_score_every_row_and_oof_covers_every_row(candidates) -> None:
    frame, fits = candidates
    for fit in fits.values():
        scores = fit.model.predict(frame)
        assert len(scores) == len(frame) and not scores.isna().any().any()
        assert fit.oof.index.equals(frame.index) and not fit.oof.isna().any().any()
        assert len(fit.fold_models) == 3
    assert fits["dr"].model.learner == "dr"
    assert {"dr__y__a", "mu__y__none"} <= set(fits["dr"].model.boosters)
    tuned = fits["t"].tuning["mu__y__a"]
    assert tuned.params in [point["params"] for point in tuned.grid]


def test_learners_share_out_of_fold_predictions_and_score_as_alone(candidates, monkeypatch):
    """Every learner's out-of-fold scores are its fold model's own scores of the fold's rows,
    and a booster the learners share (the control outcome model) is predicted once a fold."""
    frame, fits = candidates
    fold_models = {kind: fit.fold_models for kind, fit in fits.items()}
    folds = np.arange(len(frame)) % 3
    calls = []
    predict = UpliftModel._predict_booster
    monkeypatch.setattr(
        UpliftModel,
        "_predict_booster",
        lambda self, key, X, engine: (
            calls.append(self.boosters[key]) or predict(self, key, X, engine)
        ),
    )
    scores = out_of_fold_scores(fold_models, frame, folds)
    for k in range(3):
        strings = [s for models in fold_models.values() for s in models[k].boosters.values()]
        assert len(set(strings)) < len(strings)  # the learners do share boosters
    distinct = sum(
        len({s for models in fold_models.values() for s in models[k].boosters.values()})
        for k in range(3)
    )
    assert len(calls) == distinct
    monkeypatch.undo()
    for kind, models in fold_models.items():
        alone = pd.concat([models[k].predict(frame[folds == k]) for k in range(3)])
        pd.testing.assert_frame_equal(scores[kind], alone.reindex(frame.index))


def test_blocks_gather_batches_in_order_up_to_a_size() -> None:
    frame = pd.DataFrame({"row": np.arange(13)})
    batches = [frame.iloc[i : i + 3] for i in range(0, 13, 3)]  # 3, 3, 3, 3, 1 rows
    gathered = list(blocks(iter(batches), 5))
    assert [len(block) for block in gathered] == [6, 6, 1]
    assert pd.concat(gathered)["row"].tolist() == list(range(13))
    assert [len(block) for block in blocks(iter(batches), 100)] == [13]


def test_dr_learner_recovers_the_sign_of_the_effect(candidates) -> None:
    frame, fits = candidates
    tau = fits["dr"].oof["tau__y__a"].to_numpy()
    agree = np.mean(np.sign(tau) == np.sign(frame["true_tau_a"].to_numpy()))
    assert agree > 0.8


def test_the_ensemble_scores_the_mean_effect_of_the_three_learners(candidates) -> None:
    """Its model, its fold models and its out-of-fold scores: tau = (tau_T + tau_X + tau_DR)/3
    and mu_a = mu_c + tau; its boosters are the members', fit once (shared strings)."""
    frame, fits = candidates
    members = ("t", "x", "dr")
    ensemble = fits["ensemble"]
    assert set(ensemble.model.boosters) == {
        key for kind in members for key in fits[kind].model.boosters
    }
    for kind in members:
        for key, string in fits[kind].model.boosters.items():
            assert ensemble.model.boosters[key] == string
    scored = {kind: fits[kind].model.predict(frame) for kind in (*members, "ensemble")}
    for scores in (scored, {kind: fit.oof for kind, fit in fits.items()}):
        for arm in ARMS:
            tau = f"tau__y__{arm}"
            mean = np.mean([scores[kind][tau] for kind in members], axis=0)
            np.testing.assert_allclose(scores["ensemble"][tau], mean, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(
                scores["ensemble"][f"mu__y__{arm}"],
                scores["ensemble"]["mu__y__none"] + scores["ensemble"][tau],
            )
        assert not np.allclose(scores["ensemble"]["tau__y__a"], scores["t"]["tau__y__a"])
    restored = UpliftModel.from_bytes(ensemble.model.to_bytes())
    pd.testing.assert_frame_equal(restored.predict(frame), scored["ensemble"])


def test_selection_keeps_the_ensemble_unless_a_learner_beats_it_with_confidence() -> None:
    """Values of five learners (the ensemble fourth) with bootstrap replicates whose pairs
    share a common noise: a value that does not beat the ensemble with confidence leaves the
    ensemble chosen; those that do win, the largest of them; the four challengers' bounds are
    Bonferroni-corrected (at 90%, each at 97.5%), so a lead that one test at 90% would pass
    does not; with one challenger the bound is at 90%; without the ensemble among the
    candidates, the largest value."""
    learners = ["t", "x", "dr", "ensemble", "risk"]
    rng = np.random.default_rng(0)
    common = rng.normal(0, 1.0, (4000, 1))  # the rows every policy shares
    own = rng.normal(0, 0.1, (4000, 5))  # where the policies differ: sd of a difference 0.141
    point = np.array([1.00, 1.05, 0.98, 1.00, 0.90])  # x ahead by a third of that sd
    assert default_or_better(point, point + common + own, learners, 0.9) == 3

    point = np.array([1.00, 1.25, 0.98, 1.00, 0.90])  # x ahead by 1.77 sd
    replicates = point + common + own
    lower = np.quantile(replicates[:, 1] - replicates[:, 3], [0.1, 0.025])
    assert lower[0] > 0 > lower[1]  # above 0 at 90% alone, not at 97.5%
    assert default_or_better(point, replicates, learners, 0.9) == 3
    assert default_or_better(point, replicates, learners, 0.6) == 1  # each at 90%
    pair = [1, 3]
    assert default_or_better(point[pair], replicates[:, pair], ["x", "ensemble"], 0.9) == 0

    point = np.array([1.00, 1.40, 0.98, 1.00, 1.50])  # x and risk beat it; risk the largest
    assert default_or_better(point, point + common + own, learners, 0.9) == 4
    assert default_or_better(point[:3], (point + common + own)[:, :3], learners[:3], 0.9) == 1


def test_the_chosen_learner_and_why_are_shown(candidates) -> None:
    frame, fits = candidates
    oof = {kind: pd.concat([frame, fit.oof], axis=1) for kind, fit in fits.items()}
    value_model = ValueModel(weights={"y": 1.0}, fixed_cost=0.1)
    table = learner_comparison(oof, value_model, ARMS, "none", DESIGN["outcomes"], reps=50)
    chosen = table.loc[table["chosen"]].iloc[0]
    assert (table["ci_low"] <= table["value"]).all() and (table["value"] <= table["ci_high"]).all()
    policy = net_value_policy(oof[chosen_learner(table)], value_model, ARMS, "none")
    oracle = np.where(frame["true_tau_a"] - 0.1 > 0, "a", "none")
    assert np.mean(policy == oracle) > 0.8
    line = choice_line(table, 0.9)
    if chosen["learner"] == "ensemble":
        assert line == (
            "chosen: ensemble, the default: no learner's value beats it with a paired one-sided"
            " lower bound above 0 at 90% over the 4 others together (97.5% each, Bonferroni)"
        )
    else:
        assert line is not None and line.startswith(f"chosen: {chosen['learner']}, whose value")
    flipped = table.assign(chosen=table["learner"] == "x")
    assert choice_line(flipped, 0.8) == (
        "chosen: x, whose value beats the ensemble's with a paired one-sided lower bound above 0"
        " at 80% over the 4 others together (95.0% each, Bonferroni) (the largest value of those"
        " that do)"
    )
    assert choice_line(table.assign(value=np.nan), 0.9) == (
        f"chosen: {chosen['learner']}, the largest mean Qini (no allocation.weights to value a"
        " policy)"
    )
    assert choice_line(table.iloc[[0]].assign(chosen=True), 0.9) is None


def test_each_learner_is_compared_with_the_chosen_one_by_a_paired_interval(candidates) -> None:
    """gain = value − the chosen one's, inside its paired interval (0 for the chosen one); a
    learner whose effect is the truth itself (its policy the oracle's) against learners whose
    effects are the truth plus noise: chosen, and every other's interval below 0."""
    frame, fits = candidates
    oof = {kind: pd.concat([frame, fit.oof], axis=1) for kind, fit in fits.items()}
    value_model = ValueModel(weights={"y": 1.0}, fixed_cost=0.1)
    table = learner_comparison(oof, value_model, ARMS, "none", DESIGN["outcomes"], reps=200)
    chosen = table.loc[table["chosen"]].iloc[0]
    assert chosen["gain"] == chosen["gain_low"] == chosen["gain_high"] == 0.0
    np.testing.assert_allclose(table["gain"], table["value"] - chosen["value"])
    assert (table["gain_low"] <= table["gain"]).all()
    assert (table["gain"] <= table["gain_high"]).all()

    truth = frame["true_tau_a"].to_numpy()
    noise = np.random.default_rng(5).normal(0, 3, len(frame))  # a ranking wrong half the time
    noisy = {k: rows.assign(tau__y__a=truth + noise, tau__y__b=-0.5) for k, rows in oof.items()}
    noisy["x"]["tau__y__a"] = truth
    table = learner_comparison(noisy, value_model, ARMS, "none", DESIGN["outcomes"], reps=200)
    assert chosen_learner(table) == "x"
    assert (table.loc[table["learner"] != "x", "gain_high"] < 0).all()


def test_the_comparison_table_shows_each_learner_against_the_chosen_one(candidates) -> None:
    from rich.console import Console

    from causal_targeting.formats import number
    from causal_targeting.views import comparison_table

    frame, fits = candidates
    oof = {kind: pd.concat([frame, fit.oof], axis=1) for kind, fit in fits.items()}
    value_model = ValueModel(weights={"y": 1.0}, fixed_cost=0.1)
    table = learner_comparison(oof, value_model, ARMS, "none", DESIGN["outcomes"], reps=50)
    console = Console(width=250, record=True)
    console.print(comparison_table(table, "y"))
    text = console.export_text()
    lines = {line.split()[1]: line for line in text.splitlines() if "│" in line}
    other = table.loc[~table["chosen"]].iloc[0]
    shown = f"[{number(other['gain_low'], '+.2g')}, {number(other['gain_high'], '+.2g')}]"
    assert shown in lines[other["learner"]]
    assert lines[chosen_learner(table)].count("[") == 1  # its value's interval only
    assert "chosen" in lines[chosen_learner(table)] and "chosen" not in lines[other["learner"]]
    assert "minus chosen" in text and "(paired CI)" in text
    assert text.count("(y)") == 2  # Qini and R-loss name the outcome they are of


def test_one_shared_bootstrap_gives_each_learner_its_own_policy_value(candidates) -> None:
    """The learners' values and intervals from one bootstrap equal those of each learner's
    policy valued alone (same seed, same rows: the same replicates)."""
    frame, fits = candidates
    oof = {kind: pd.concat([frame, fit.oof], axis=1) for kind, fit in fits.items()}
    value_model = ValueModel(weights={"y": 1.0}, fixed_cost=0.1)
    table = learner_comparison(
        oof, value_model, ARMS, "none", DESIGN["outcomes"], reps=60, alpha=0.1, seed=3
    )
    shared = table[["value", "ci_low", "ci_high"]].to_numpy(float)
    for row, scored in zip(shared, oof.values(), strict=True):
        alone = policy_values(
            with_net_value(scored, value_model, ARMS, "none"),
            {"policy": net_value_policy(scored, value_model, ARMS, "none")},
            outcome=VALUE, arms=["none", *ARMS], control="none", costs={}, reps=60, alpha=0.1,
            seed=3,
        ).set_index("estimator").loc["dr"]
        np.testing.assert_allclose(row, alone[["value", "ci_low", "ci_high"]].to_numpy(float))
    assert len({tuple(row) for row in shared}) == len(oof)  # the learners differ


def test_selection_without_weights_falls_back_to_the_qini(candidates) -> None:
    frame, fits = candidates
    oof = {kind: pd.concat([frame, fit.oof], axis=1) for kind, fit in fits.items()}
    table = learner_comparison(oof, ValueModel(weights={}), ARMS, "none", DESIGN["outcomes"])
    assert table["value"].isna().all()
    assert chosen_learner(table) == table.loc[table["qini"].idxmax(), "learner"]


def test_design_propensity_replaces_the_fitted_propensity() -> None:
    frame = experiment(900, seed=8)
    known = {"none": 0.5, "a": 0.25, "b": 0.25}
    small = {**CROSS, "n_estimators": 10}
    for cls in (XLearner, DRLearner):
        fit = cls(**small).fit(frame, design_propensity=known, **DESIGN)
        assert fit.model_.propensity_constants == {"a": 1 / 3, "b": 1 / 3}
        assert not [key for key in fit.model_.boosters if key.startswith("propensity")]
    fitted = DRLearner(**small).fit(frame, **DESIGN)
    assert fitted.model_.propensity_constants == {}


@pytest.mark.parametrize(
    ("probabilities", "message"),
    [
        ({"none": 0.5, "a": 0.3, "b": 0.3}, "sums to 1.1"),
        ({"none": 1.0, "a": 0.0, "b": 0.0}, "outside"),
        ({"none": 0.5, "a": 0.5}, "names"),
    ],
)
def test_bad_design_propensity_is_refused(probabilities: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"data\.design_propensity.*{message}"):
        Design.of(**DESIGN, design_propensity=probabilities)


def test_design_propensity_in_the_config(root: Path) -> None:
    conf = root / "conf" / "local.yaml"
    cfg = load_config(conf, ["data.design_propensity=0.3333"])
    assert cfg.data.design_probabilities()[cfg.data.control] == pytest.approx(0.3334)
    with pytest.raises(ConfigError, match=r"data\.design_propensity.*outside \(0, 1\)"):
        load_config(conf, ["data.design_propensity=0.6"])


def test_kept_shares_of_a_per_arm_cap() -> None:
    assert kept_shares({"none": 90_000, "t": 510_000}, 200_000) == pytest.approx(
        {"none": 1.0, "t": 200_000 / 510_000}
    )


def test_sampled_design_is_the_arm_share_among_the_kept_rows() -> None:
    """Bayes' rule against a simulated design: 85% treated, then at most 2,000 rows an arm."""
    rng = np.random.default_rng(3)
    treated = rng.random(20_000) < 0.85
    rows = {"t": int(treated.sum()), "none": int((~treated).sum())}
    kept = kept_shares(rows, 2_000)
    in_sample = {"t": 2_000, "none": min(2_000, rows["none"])}
    q = sampled_design({"t": 0.85, "none": 0.15}, kept)
    share = in_sample["t"] / sum(in_sample.values())
    assert q["t"] == pytest.approx(share, abs=0.01)  # the design's, not the sample's own count
    assert q["t"] + q["none"] == pytest.approx(1.0)
    assert q["t"] < 0.6  # the design's 0.85 would overweight every kept control row's effect
    assert sampled_design({"t": 0.85, "none": 0.15}, {"t": 0.4, "none": 0.4}) == pytest.approx(
        {"t": 0.85, "none": 0.15}
    )


def test_fit_arguments_carry_the_sampled_design(root: Path) -> None:
    cfg = load_config(root / "conf" / "local.yaml", ["data.design_propensity=0.3333"])
    control = cfg.data.control
    rows = {arm: (2_000 if arm == control else 1_000) for arm in [control, *cfg.data.arms]}
    sample = sample_summary(rows, 1_000, cfg.data.design_probabilities())
    assert sample.loc[control, "kept"] == 1_000 and (sample["rows"] == list(rows.values())).all()
    design = fit_arguments(cfg, sample)["design_propensity"]
    assert design[control] == pytest.approx(0.1667 / (0.1667 + 0.6666), abs=1e-4)
    assert sum(design.values()) == pytest.approx(1.0)
    assert fit_arguments(cfg)["design_propensity"] == cfg.data.design_probabilities()
    unknown = sample_summary(rows, 1_000, None)
    assert unknown["design"].isna().all()
    assert fit_arguments(load_config(root / "conf" / "local.yaml"), unknown)[
        "design_propensity"
    ] is None


def test_sample_line_says_what_the_cap_left_out() -> None:
    capped = sample_summary({"0": 90_000, "1": 510_000}, 200_000, {"0": 0.15, "1": 0.85})
    line = sample_line(capped, 200_000, propensity_column=False)
    assert "at most 200,000 rows an arm" in line and "'1' 200,000 of 510,000" in line
    assert "'0' 90,000 of 90,000" in line
    assert "the design among the kept rows: '0' 0.310, '1' 0.690" in line
    unknown = sample_summary({"0": 90_000, "1": 510_000}, 200_000, None)
    assert line.startswith(sample_line(unknown, 200_000, propensity_column=False))
    assert "propensity column is converted" in sample_line(unknown, 200_000, True)
    alike = sample_summary({"0": 400_000, "1": 400_000}, 200_000, {"0": 0.5, "1": 0.5})
    assert "design" not in sample_line(alike, 200_000, propensity_column=True)
    assert sample_line(sample_summary({"0": 9, "1": 9}, 200_000, None), 200_000, True) is None


def test_more_folds_than_rows_of_an_arm_is_refused() -> None:
    frame = experiment(300, seed=9)
    few = pd.concat([frame[frame["treatment"] != "b"], frame[frame["treatment"] == "b"].head(3)])
    with pytest.raises(ConfigError, match=r"train\.folds = 5 .* 3 rows of arm 'b'"):
        TLearner(n_folds=5).fit(few, **DESIGN)


def test_dr_learner_needs_folds() -> None:
    with pytest.raises(ConfigError, match="n_folds"):
        DRLearner().fit(experiment(300, seed=9), **DESIGN)


def test_an_outcome_zero_on_control_takes_mu_arm_as_tau0(monkeypatch) -> None:
    """'redeemed' is 0 on every control row: the X-learner fits no control-side effect model
    for it (tau_0 is mu_arm's booster, in the model and in every fold's), but still one for y;
    the ensemble, which holds that booster under both keys, predicts it once."""
    frame = experiment(1_200, seed=5)
    rng = np.random.default_rng(99)  # not the experiment's seed: its draws made x1
    offered = (frame["treatment"] != "none").to_numpy()
    rate = 0.2 + 0.2 * (frame["x1"].to_numpy() > 0)
    frame["redeemed"] = (offered & (rng.random(len(frame)) < rate)).astype(float)
    design = {**DESIGN, "outcomes": {"y": "continuous", "redeemed": "binary"}}
    learners = [cls(**CROSS, tune=True) for cls in (TLearner, XLearner, EnsembleLearner)]
    fits = fit_candidates(learners, frame, id_column="customer_id", **design)
    t, x = fits["t"], fits["x"]
    assert "tau0__redeemed__a" not in x.tuning and "tau0__y__a" in x.tuning
    for t_model, x_model in zip([t.model, *t.fold_models], [x.model, *x.fold_models], strict=True):
        for arm in ARMS:
            mu = t_model.boosters[f"mu__redeemed__{arm}"]
            assert x_model.boosters[f"tau0__redeemed__{arm}"] == mu
        assert x_model.boosters["tau0__y__a"] != t_model.boosters["mu__y__a"]
    tau = x.oof["tau__redeemed__a"].to_numpy()
    high = frame["x1"].to_numpy() > 0
    assert tau[high].mean() > tau[~high].mean() + 0.02  # the planted 0.2 step, shrunk

    model, X = fits["ensemble"].model, fits["ensemble"].model.spec.array(frame)
    members = model.members
    each = [{key: m._predict_booster(key, X, None) for key in m.boosters} for m in members]
    calls: list[str] = []
    predict = UpliftModel._predict_booster
    monkeypatch.setattr(
        UpliftModel,
        "_predict_booster",
        lambda self, key, X, engine: calls.append(key) or predict(self, key, X, engine),
    )
    scores = model.predict(frame)
    assert len(calls) == len(model.model_strings()) < sum(len(m.boosters) for m in members)
    mean = sum(m.scores_from(e, frame.index) for m, e in zip(members, each, strict=True))
    pd.testing.assert_frame_equal(scores, mean / len(members))


def test_a_keys_tasks_share_a_group_when_the_keys_fill_the_slots() -> None:
    """Two keys, each on all rows and outside 2 folds: with 2 slots or fewer, one group a key
    (its tasks in order); with more slots than keys, one group a task."""
    keys = [FitTask(f"mu__y__{arm}", (arm,), "outcome", "binary", arm, "y") for arm in "ab"]
    tasks = [task.on_fold(fold) for task in keys for fold in (None, 0, 1)]
    for slots in (1, 2):
        grouped = task_groups(tasks, slots)
        assert grouped == [tasks[:3], tasks[3:]]
        assert [group_fold(group) for group in grouped] == [-1, -1]
    alone = task_groups(tasks, 3)
    assert alone == [[task] for task in tasks]
    assert [group_fold(group) for group in alone] == [-1, 0, 1, -1, 0, 1]


def test_the_comparison_is_logged_to_mlflow_figure_by_figure(candidates) -> None:
    from causal_targeting.stages.train import comparison_metrics

    frame, fits = candidates
    oof = {kind: pd.concat([frame, fit.oof], axis=1) for kind, fit in fits.items()}
    value_model = ValueModel(weights={"y": 1.0}, fixed_cost=0.1)
    table = learner_comparison(oof, value_model, ARMS, "none", DESIGN["outcomes"], reps=50)
    metrics = comparison_metrics(table)
    assert len(metrics) == 5 * 8 and not any("chosen" in key for key in metrics)
    row = table.set_index("learner").loc["ensemble"]
    assert metrics["oof_gain_low__ensemble"] == row["gain_low"]
    assert metrics["oof_value__ensemble"] == row["value"]


def risk_experiment(n: int, seed: int) -> pd.DataFrame:
    """A purchase p_c(x) = 0.05·exp(1.5·x1) without an offer (1% to 22%), twice as likely with
    'a' (a constant relative effect), and a 'delta' outcome with values below 0."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    arm = rng.choice(["none", *ARMS], n)
    p = 0.05 * np.exp(1.5 * x1) * np.where(arm == "a", 2.0, 1.0)
    frame = pd.DataFrame({"customer_id": np.arange(n), "x1": x1, "x2": x2, "treatment": arm})
    frame["buy"] = (rng.random(n) < p).astype(float)
    frame["delta"] = x2 + (arm == "b") + rng.normal(0, 1, n)
    return frame


RISK_DESIGN = {**DESIGN, "outcomes": {"buy": "binary", "delta": "continuous"}}


def weighted_mean(rows: pd.DataFrame, outcome: str) -> pd.Series:
    """Each arm's mean of ``outcome`` weighted by 1 / propensity (Hajek)."""
    w = 1.0 / rows["propensity"]
    return (w * rows[outcome]).groupby(rows["treatment"]).sum() / w.groupby(rows["treatment"]).sum()


def test_the_risk_learner_scales_the_control_model_by_the_ratio_of_the_arm_means() -> None:
    """tau_a = (m_a / m_c − 1)·mu_c(x) for a binary outcome and m_a − m_c for one with values
    below 0; m the inverse-propensity weighted means of the rows outside the model's fold; the
    out-of-fold scores are the fold models' and the artifact round-trips."""
    frame = risk_experiment(6_000, seed=3)
    frame["propensity"] = np.where(frame["treatment"] == "none", 0.5, 0.25)
    learner = RiskLearner(n_folds=3, n_estimators=40, seed=2, bag=False)
    fit = fit_candidates(
        [learner], frame, id_column="customer_id", propensity="propensity", **RISK_DESIGN
    )["risk"]
    assert set(fit.model.boosters) == {"mu__buy__none", "mu__delta__none"}
    folds = stratified_folds(frame["treatment"], 3, 2)
    for fold, model in [(None, fit.model), *enumerate(fit.fold_models)]:
        rows = frame if fold is None else frame[folds != fold]
        buy, delta = weighted_mean(rows, "buy"), weighted_mean(rows, "delta")
        scores = model.predict(frame)
        for arm in ARMS:
            ratio = buy[arm] / buy["none"]
            np.testing.assert_allclose(
                scores[f"tau__buy__{arm}"], (ratio - 1.0) * scores["mu__buy__none"], rtol=1e-9
            )
            np.testing.assert_allclose(
                scores[f"tau__delta__{arm}"], delta[arm] - delta["none"], rtol=1e-9
            )
    assert 1.6 < fit.model.relative_effects["tau__buy__a"].value < 2.4  # the true ratio is 2
    expected = pd.concat([fit.fold_models[k].predict(frame[folds == k]) for k in range(3)])
    pd.testing.assert_frame_equal(fit.oof, expected.reindex(frame.index))
    restored = UpliftModel.from_bytes(fit.model.to_bytes())
    assert restored == fit.model


def test_the_risk_learner_wins_the_selection_where_the_effect_is_relative() -> None:
    """With a constant relative effect on a rare purchase and few rows, the out-of-fold value
    of the risk learner's policy is the best of the candidates, and its policy is the truth's
    on most rows: 'a' where 20·(p_a − p_c) = 20·p_c exceeds the cost 1, i.e. where x1 > 0."""
    frame = risk_experiment(12_000, seed=5)
    classes = (TLearner, XLearner, DRLearner, EnsembleLearner, RiskLearner)
    learners = [cls(n_folds=3, n_estimators=60, seed=1, tune=True) for cls in classes]
    design = {**DESIGN, "outcomes": {"buy": "binary"}}
    fits = fit_candidates(learners, frame, id_column="customer_id", **design)
    oof = {kind: pd.concat([frame, fit.oof], axis=1) for kind, fit in fits.items()}
    value_model = ValueModel(weights={"buy": 20.0}, fixed_cost=1.0)
    comparison = learner_comparison(
        oof, value_model, ARMS, "none", design["outcomes"], reps=200, alpha=0.1, seed=1
    )
    assert chosen_learner(comparison) == "risk"
    truth = np.where(frame["x1"] > 0, "a", "none")
    policy = net_value_policy(fits["risk"].model.predict(frame), value_model, ARMS, "none")
    assert np.mean(policy == truth) > 0.85


def test_the_model_scores_the_mean_of_the_refit_and_the_fold_models() -> None:
    """With cross-fitting the model's scores are the mean of the model on all rows and the
    models outside each fold (``bag=False``: the model on all rows alone); the artifact keeps
    its bag, and the engine sees every member's boosters once."""
    frame = experiment(1_500, seed=4)
    design = {**DESIGN, "propensity": None}
    bagged = XLearner(**CROSS).fit(frame, id_column="customer_id", **design)
    single = XLearner(**CROSS, bag=False).fit(frame, id_column="customer_id", **design)
    assert len(bagged.model_.bag) == 3 and not single.model_.bag
    assert bagged.model_.bag == tuple(single.fold_models_)
    each = [model.predict(frame) for model in [single.model_, *single.fold_models_]]
    mean = sum(each[1:], each[0]) / 4
    pd.testing.assert_frame_equal(bagged.model_.predict(frame), mean)
    assert not np.allclose(mean["tau__y__a"], each[0]["tau__y__a"])
    loaded = UpliftModel.from_bytes(bagged.model_.to_bytes())
    assert loaded == bagged.model_
    pd.testing.assert_frame_equal(loaded.predict(frame), mean)
    members = [single.model_, *single.fold_models_]
    strings = {s for model in members for s in model.boosters.values()}
    assert set(loaded.model_strings()) == strings and len(loaded.model_strings()) == len(strings)


def test_a_bag_holds_only_unbagged_models_of_the_same_learner() -> None:
    frame = experiment(900, seed=5)
    design = {**DESIGN, "propensity": None}
    t = TLearner(**CROSS).fit(frame, id_column="customer_id", **design)
    x = XLearner(**CROSS).fit(frame, id_column="customer_id", **design)
    with pytest.raises(ModelError, match="same learner"):
        t.fold_models_[0].bagged(x.fold_models_)
    with pytest.raises(ModelError, match="unbagged"):
        t.fold_models_[0].bagged([t.model_])


def test_the_promotion_score_is_the_mean_qini_and_nan_without_a_figure(
    root: Path, recwarn: pytest.WarningsRecorder
) -> None:
    """A holdout where no one responded has NaN Qinis: the score is NaN (never wins, see
    tracking.promote), without a numpy warning on the terminal."""
    cfg = load_config(root / "conf" / "local.yaml")
    metrics = pd.DataFrame({"outcome": ["visit", "visit", "spend"], "qini": [0.1, np.nan, 9.0],
                            "qini_unnormalized": [0.0, 0.0, 9.0]})
    assert promotion_score(metrics, cfg) == pytest.approx(0.1)
    assert np.isnan(promotion_score(metrics.assign(qini=np.nan), cfg))
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
