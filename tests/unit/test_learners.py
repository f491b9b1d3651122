"""Uplift learners without Spark: accuracy on known effects, the artifact, the refusals."""

from __future__ import annotations

import json
import zlib

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from causal_targeting.data import simulate as sim
from causal_targeting.errors import ConfigError, DataContractError, ModelError
from causal_targeting.learners.base import (
    cv_loss,
    fit_base_model,
    lightgbm_names,
    lightgbm_params,
    validation_mask,
)
from causal_targeting.learners.design import (
    Design,
    arm_summary,
    merge_summaries,
    nonnegative_outcomes,
)
from causal_targeting.learners.features import FeatureSpec
from causal_targeting.learners.importance import feature_importance
from causal_targeting.learners.model import UpliftModel
from causal_targeting.learners.uplift import TLearner, XLearner
from causal_targeting.sampling import prefilter_fraction

FEATURES = {"x1": "numeric", "x2": "numeric", "segment": "categorical"}
ARMS = ("email", "sms")
SMALL = {"n_estimators": 20, "early_stopping_rounds": 5}


def synthetic(n: int, seed: int, treated_share: float = 2 / 3) -> pd.DataFrame:
    """Three arms, a continuous outcome y and a binary outcome b with known effects.

    y = 1 + x1 + 0.5·x2 + tau_T(x) + N(0, 0.5²), tau_email = x1 + 0.8·1[segment = a],
    tau_sms = 0.5 − 0.7·x2; b = 1[U < 0.3 + 0.2·1[T = email]·1[x1 > 0]]. 5% of x2 and of segment
    are missing.
    """
    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    segment = rng.choice(["a", "b", "c"], n).astype(object)
    tau = {"email": x1 + 0.8 * (segment == "a"), "sms": 0.5 - 0.7 * x2}
    p = [1 - treated_share, treated_share / 2, treated_share / 2]
    arm = rng.choice(["none", *ARMS], n, p=p)
    effect = np.select([arm == "email", arm == "sms"], [tau["email"], tau["sms"]], 0.0)
    y = 1 + x1 + 0.5 * x2 + effect + rng.normal(0, 0.5, n)
    b = (rng.random(n) < 0.3 + 0.2 * (arm == "email") * (x1 > 0)).astype(float)
    x2[rng.random(n) < 0.05] = np.nan
    segment[rng.random(n) < 0.05] = None
    frame = pd.DataFrame(
        {"customer_id": np.arange(n), "x1": x1, "x2": x2, "segment": segment, "treatment": arm}
    )
    frame["y"], frame["b"] = y, b
    frame["true_tau__y__email"], frame["true_tau__y__sms"] = tau["email"], tau["sms"]
    return frame


def fit(learner: TLearner | XLearner, frame: pd.DataFrame, **design: object) -> UpliftModel:
    """Fit ``learner`` on a synthetic frame (continuous y and binary b unless told otherwise)."""
    args = {
        "features": FEATURES,
        "treatment": "treatment",
        "control": "none",
        "arms": ARMS,
        "outcomes": {"y": "continuous", "b": "binary"},
        **design,
    }
    return learner.fit(frame, **args).model_


def pehe(estimate: pd.Series, truth: pd.Series) -> float:
    """Root mean squared error of the estimated effects (precision in estimating
    heterogeneous effects)."""
    return float(np.sqrt(np.mean((estimate.to_numpy() - truth.to_numpy()) ** 2)))


@pytest.fixture(scope="module")
def small_t() -> UpliftModel:
    return fit(TLearner(**SMALL, seed=3), synthetic(1_200, 3))


@pytest.fixture(scope="module")
def small_x() -> UpliftModel:
    return fit(XLearner(**SMALL, seed=3), synthetic(1_200, 3))


# --------------------------------------------------------------------------------------------
# Accuracy
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("learner", [TLearner, XLearner])
def test_effects_track_the_truth_on_synthetic_data(learner: type) -> None:
    """4,000 rows, noise sd 0.5, effect sd 0.4-0.7: both learners recover the effect surface.

    Bounds: correlation with the true effect > 0.8 and PEHE < 0.7·sd(true effect), i.e. more
    than half of the effect's variance explained (1 − 0.7² = 0.51). Measured: T 0.93/0.85
    correlation, PEHE 0.38/0.56 sd (email/sms); X 0.96/0.90, 0.28/0.43 sd.
    """
    model = fit(learner(params={"learning_rate": 0.1}, n_estimators=200), synthetic(4_000, 1))
    test = synthetic(2_000, 2)
    scores = model.predict(test)
    for arm in ARMS:
        estimate, truth = scores[f"tau__y__{arm}"], test[f"true_tau__y__{arm}"]
        assert np.corrcoef(estimate, truth)[0, 1] > 0.8
        assert pehe(estimate, truth) < 0.7 * truth.std()


def retention(treated_share: float, rows: int = 20_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The simulator's retention scenario: an experiment and 5,000 customers with the truth."""
    spec = sim.scenario("retention")
    probs = {spec.control: 1 - treated_share, "retention_message": treated_share}
    experiment = sim.simulate_block(spec, np.arange(rows), seed=7, assignment_probs=probs)
    customers = sim.customer_block(spec, sim.CUSTOMER_ID_OFFSET + np.arange(5_000), seed=7)
    return experiment, customers


def fit_retention(learner: TLearner | XLearner, experiment: pd.DataFrame) -> UpliftModel:
    spec = sim.scenario("retention")
    return learner.fit(
        experiment,
        features=dict(spec.features),
        treatment="treatment",
        control=spec.control,
        arms=spec.arms,
        outcomes={"retained": "binary"},
        propensity="propensity",
    ).model_


RETAINED = "tau__retained__retention_message"
TRUE_RETAINED = "true_tau__retained__retention_message"
LEARNING = {"params": {"learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 50}}


@pytest.mark.parametrize("learner", [TLearner, XLearner])
def test_effects_track_the_truth_on_the_simulator(learner: type) -> None:
    """Retention, 20,000 rows, 70% messaged: the binary outcome's effect (sd 0.09 on a base
    rate near 0.5) is recovered better than by any constant: PEHE < sd(true effect) (a
    constant's PEHE is at least the sd), and correlation > 0.6. Measured: T 0.68 / 0.90 sd,
    X 0.80 / 0.61 sd."""
    experiment, customers = retention(0.7)
    scores = fit_retention(learner(**LEARNING), experiment).predict(customers)
    truth = customers[TRUE_RETAINED]
    assert np.corrcoef(scores[RETAINED], truth)[0, 1] > 0.6
    assert pehe(scores[RETAINED], truth) < truth.std()


def test_x_learner_beats_t_learner_with_unbalanced_arms() -> None:
    """Retention with 10% messaged: the T-learner's effect inherits the error of a model fit on
    2,000 rows; the X-learner weighs toward tau_1, whose imputed effects use the control model
    fit on 18,000 rows. Measured PEHE: X 0.064, T 0.103; asserted: X < 0.8·T."""
    experiment, customers = retention(0.1)
    truth = customers[TRUE_RETAINED]
    t = fit_retention(TLearner(**LEARNING), experiment).predict(customers)[RETAINED]
    x = fit_retention(XLearner(**LEARNING), experiment).predict(customers)[RETAINED]
    assert pehe(x, truth) < 0.8 * pehe(t, truth)


# --------------------------------------------------------------------------------------------
# The artifact
# --------------------------------------------------------------------------------------------


def test_score_columns_are_named_by_outcome_and_arm(small_t: UpliftModel) -> None:
    frame = synthetic(50, 9).set_index(pd.Index(np.arange(50) * 7 + 3))
    scores = small_t.predict(frame)
    expected = [
        "mu__y__none", "mu__y__email", "mu__y__sms", "mu__b__none", "mu__b__email", "mu__b__sms",
        "tau__y__email", "tau__y__sms", "tau__b__email", "tau__b__sms",
    ]  # fmt: skip
    assert small_t.score_columns() == expected
    assert list(scores.columns) == expected
    assert (scores.dtypes == np.float64).all()
    assert scores.index.equals(frame.index)
    np.testing.assert_allclose(
        scores["tau__b__sms"], scores["mu__b__sms"] - scores["mu__b__none"], rtol=0, atol=0
    )
    assert scores["mu__b__email"].between(0, 1).all()


def test_t_learner_keeps_one_outcome_model_per_arm(small_t: UpliftModel) -> None:
    assert sorted(small_t.boosters) == sorted(
        f"mu__{o}__{a}" for o in ("y", "b") for a in ("none", *ARMS)
    )
    assert "objective=binary" in small_t.boosters["mu__b__email"]
    assert "objective=regression" in small_t.boosters["mu__y__email"]


def test_round_trip_through_bytes_predicts_identically(
    small_t: UpliftModel, small_x: UpliftModel
) -> None:
    frame = synthetic(300, 11)
    for model in (small_t, small_x):
        loaded = UpliftModel.from_bytes(model.to_bytes())
        assert loaded == model
        pd.testing.assert_frame_equal(loaded.predict(frame), model.predict(frame))


def test_bytes_of_something_else_are_refused(small_t: UpliftModel) -> None:
    with pytest.raises(ModelError, match="not a causal-targeting uplift model"):
        UpliftModel.from_bytes(b"not a model")
    document = json.loads(zlib.decompress(small_t.to_bytes()))
    document["version"] = 99
    with pytest.raises(ModelError, match="version 99 is not supported"):
        UpliftModel.from_bytes(zlib.compress(json.dumps(document).encode()))


def test_categorical_levels_are_stored_and_unseen_levels_are_missing(
    small_t: UpliftModel,
) -> None:
    assert small_t.spec.categories == {"segment": ("a", "b", "c")}
    assert '"a", "b", "c"' in small_t.boosters["mu__y__none"].split("pandas_categorical:")[1]
    frame = synthetic(200, 12)
    unseen = frame.assign(segment=np.where(np.arange(200) % 2 == 0, "zebra", frame["segment"]))
    as_missing = unseen.assign(segment=unseen["segment"].where(unseen["segment"] != "zebra"))
    assert small_t.spec.unseen_level_counts(unseen) == {"segment": 100}
    pd.testing.assert_frame_equal(small_t.predict(unseen), small_t.predict(as_missing))
    assert np.isfinite(small_t.predict(unseen).to_numpy()).all()


def test_missing_values_are_allowed_in_every_feature(small_x: UpliftModel) -> None:
    frame = synthetic(20, 13).assign(x1=np.nan, x2=None, segment=None)
    assert np.isfinite(small_x.predict(frame).to_numpy()).all()


def test_feature_spec_round_trips_and_builds_the_matrix() -> None:
    frame = pd.DataFrame(
        {"n": pd.array([1, None, 3], dtype="Int64"), "c": [2.0, None, 1], "s": ["x", "y", None]}
    )
    spec = FeatureSpec.from_frame(frame, {"s": "categorical", "n": "numeric", "c": "categorical"})
    assert spec.names == ("s", "n", "c")
    assert spec.categories == {"s": ("x", "y"), "c": ("1.0", "2.0")}
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    matrix = spec.matrix(frame)
    assert list(matrix.columns) == ["s", "n", "c"]
    assert matrix["n"].dtype == np.float64 and np.isnan(matrix["n"][1])
    assert list(matrix["c"].cat.categories) == ["1.0", "2.0"]
    assert list(matrix["c"].cat.codes) == [1, -1, 0]
    expected = np.array([[0, 1, 1], [1, np.nan, np.nan], [np.nan, 3, 0]], dtype=np.float64)
    np.testing.assert_array_equal(spec.array(frame), expected)
    mixed = frame.assign(c=pd.Series([1.0, "2.0", None], dtype=object))  # levels compare as text
    assert list(spec.matrix(mixed)["c"].cat.codes) == [0, 1, -1]


def test_boosters_predict_the_same_on_the_frame_and_the_array(small_t: UpliftModel) -> None:
    frame = synthetic(300, 28).assign(segment=lambda f: f["segment"].replace("b", "zebra"))
    booster = lgb.Booster(model_str=small_t.boosters["mu__b__email"])
    np.testing.assert_array_equal(
        booster.predict(small_t.spec.matrix(frame)), booster.predict(small_t.spec.array(frame))
    )


def test_prediction_goes_through_the_engine_hook(small_x: UpliftModel) -> None:
    class Recording:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def predict(self, model_string: str, features: pd.DataFrame) -> np.ndarray:
            self.seen.append(model_string)
            return lgb.Booster(model_str=model_string).predict(features)

    engine = Recording()
    frame = synthetic(100, 14)
    pd.testing.assert_frame_equal(small_x.predict(frame, engine=engine), small_x.predict(frame))
    assert sorted(engine.seen) == sorted(small_x.boosters.values())  # each booster once


# --------------------------------------------------------------------------------------------
# The X-learner's combination and propensities
# --------------------------------------------------------------------------------------------


def test_x_learner_combines_tau0_and_tau1_by_the_pair_propensity(small_x: UpliftModel) -> None:
    frame = synthetic(100, 15)
    X = small_x.spec.array(frame)
    scores = small_x.predict(frame)
    for arm in ARMS:
        e = np.clip(
            lgb.Booster(model_str=small_x.boosters[f"propensity__{arm}"]).predict(X), 0.01, 0.99
        )
        tau0 = lgb.Booster(model_str=small_x.boosters[f"tau0__y__{arm}"]).predict(X)
        tau1 = lgb.Booster(model_str=small_x.boosters[f"tau1__y__{arm}"]).predict(X)
        np.testing.assert_allclose(scores[f"tau__y__{arm}"], e * tau0 + (1 - e) * tau1)
        np.testing.assert_allclose(
            scores[f"mu__y__{arm}"], scores["mu__y__none"] + scores[f"tau__y__{arm}"]
        )
    assert "mu__y__email" not in small_x.boosters  # stage-1 arm models are not needed to score


def test_x_learner_uses_constant_design_propensities() -> None:
    frame = synthetic(1_200, 16)
    frame["propensity"] = frame["treatment"].map({"none": 0.4, "email": 0.2, "sms": 0.4})
    model = fit(XLearner(**SMALL), frame, propensity="propensity", outcomes={"y": "continuous"})
    assert model.propensity_constants == pytest.approx({"email": 0.2 / 0.6, "sms": 0.5})
    assert not any(key.startswith("propensity__") for key in model.boosters)
    e = model.propensity_from("email", model.booster_predictions(model.spec.array(frame)), 1_200)
    np.testing.assert_array_equal(e, np.full(1_200, 1 / 3))


def test_x_learner_fits_propensities_that_vary_and_clips_them() -> None:
    frame = synthetic(1_200, 17)
    frame["propensity"] = np.where(frame["x1"] > 0, 0.3, 0.2)
    learner = XLearner(**SMALL, propensity_clip=(0.3, 0.7))
    model = fit(learner, frame, propensity="propensity", outcomes={"y": "continuous"})
    assert model.propensity_constants == {}
    e = model.propensity_from("sms", model.booster_predictions(model.spec.array(frame)), 1_200)
    assert e.min() >= 0.3 and e.max() <= 0.7


def test_bad_propensity_clip_is_refused() -> None:
    with pytest.raises(ConfigError, match="propensity_clip"):
        fit(XLearner(**SMALL, propensity_clip=(0.6, 0.4)), synthetic(300, 18))


# --------------------------------------------------------------------------------------------
# Determinism, base models, summaries
# --------------------------------------------------------------------------------------------


def test_fit_with_id_column_does_not_depend_on_row_order() -> None:
    frame = synthetic(800, 19)
    shuffled = frame.sample(frac=1.0, random_state=1)
    learner = XLearner(**SMALL)
    first = fit(learner, frame, id_column="customer_id")
    second = fit(XLearner(**SMALL), shuffled, id_column="customer_id")
    assert first.boosters == second.boosters


def test_base_model_is_deterministic_and_stops_early() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=1_000)})
    noise = rng.normal(size=1_000)  # nothing to learn: early stopping ends boosting soon
    args = {"kind": "continuous", "seed": 4, "n_estimators": 200, "early_stopping_rounds": 5}
    first = fit_base_model(X, noise, **args)
    assert first == fit_base_model(X, noise, **args)
    assert lgb.Booster(model_str=first).num_trees() < 50
    full = fit_base_model(X, noise, **{**args, "early_stopping_rounds": None, "n_estimators": 30})
    assert lgb.Booster(model_str=full).num_trees() == 30
    assert validation_mask(1_000, 0.2, seed=4).sum() == 200
    assert not validation_mask(2, 0.5, seed=4).any()


def test_feature_names_lightgbm_refuses_are_written_as_it_accepts_them() -> None:
    assert lightgbm_names(["x1", "days since order", "spend:12m", 'seg[1]{"a"}, b']) == [
        "x1", "days_since_order", "spend_12m", "seg_1___a____b",
    ]  # fmt: skip
    assert lightgbm_names(["a:b", "a,b", "c"]) == ["f0_a_b", "f1_a_b", "f2_c"]


def test_a_learner_fits_features_named_with_json_characters_and_spaces() -> None:
    """Columns a user may well have ('days since order', 'spend:12m', 'seg[1]') fit as the
    same models as plain names (LightGBM refused ':' and brackets; it rewrote spaces, and the
    importance of such a feature read 0), and the importance table names them as the table
    does."""
    names = {"x1": "days since order", "x2": "spend:12m", "segment": "seg[1]"}
    frame = synthetic(1_200, 3)
    plain = fit(TLearner(**SMALL, seed=3), frame)
    renamed = fit(
        TLearner(**SMALL, seed=3),
        frame.rename(columns=names),
        features={names[name]: kind for name, kind in FEATURES.items()},
    )
    customers = frame.head(200)
    pd.testing.assert_frame_equal(
        renamed.predict(customers.rename(columns=names)), plain.predict(customers)
    )
    importance = feature_importance(renamed).set_index("feature")["total"]
    expected = feature_importance(plain).set_index("feature")["total"].rename(index=names)
    pd.testing.assert_series_equal(importance, expected)
    assert (importance > 0).all()


def test_user_parameters_win_over_defaults_under_any_alias() -> None:
    params = lightgbm_params("binary", {"eta": 0.2, "n_jobs": 2, "num_leaves": 7}, seed=3)
    assert "learning_rate" not in params and "num_threads" not in params
    assert params["eta"] == 0.2 and params["num_leaves"] == 7 and params["objective"] == "binary"
    assert lightgbm_params("continuous", None, seed=3)["learning_rate"] == 0.05
    with pytest.raises(ConfigError, match="random_state"):
        lightgbm_params("binary", {"random_state": 1}, seed=3)


def categorical_splits(model_string: str) -> list[str]:
    """The thresholds of every categorical split of a booster (levels joined by '||')."""

    def splits(node: dict) -> list[str]:
        if "split_index" not in node:
            return []
        own = [str(node["threshold"])] if node["decision_type"] == "==" else []
        return own + splits(node["left_child"]) + splits(node["right_child"])

    trees = lgb.Booster(model_str=model_string).dump_model()["tree_info"]
    return [t for tree in trees for t in splits(tree["tree_structure"])]


def test_a_categorical_feature_of_many_levels_is_split_one_level_at_a_time() -> None:
    """Every split of a 60-level categorical sends one level one way (LightGBM's own default
    above 4 levels cuts the levels sorted by the targets' gradients); the user may set it."""
    rng = np.random.default_rng(5)
    levels = [f"r{k}" for k in range(60)]
    region = rng.choice(levels, size=6_000)
    X = pd.DataFrame(
        {"region": pd.Categorical(region, categories=levels), "x": rng.normal(size=6_000)}
    )
    y = np.isin(region, levels[:20]) * 1.0 + X["x"] + rng.normal(size=6_000)
    args = {"early_stopping_rounds": None, "n_estimators": 30, "params": {"min_child_samples": 20}}
    ours = categorical_splits(fit_base_model(X, y, "continuous", **args))
    assert ours and all("||" not in threshold for threshold in ours)
    sorted_cuts = {**args, "params": {**args["params"], "max_cat_to_onehot": 4}}
    assert any(
        "||" in t for t in categorical_splits(fit_base_model(X, y, "continuous", **sorted_cuts))
    )


def test_weights_reach_the_base_models() -> None:
    frame = synthetic(1_000, 20)
    frame["w"] = np.where(frame["x1"] > 0, 5.0, 1.0)
    plain = fit(TLearner(**SMALL), frame, outcomes={"y": "continuous"})
    weighted = fit(TLearner(**SMALL), frame, outcomes={"y": "continuous"}, weight="w")
    assert plain.boosters["mu__y__none"] != weighted.boosters["mu__y__none"]


def spend(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """An amount like spend: 0 unless a purchase (P = expit(x − 2)), then log-normal."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    bought = rng.random(n) < 1 / (1 + np.exp(2 - x))
    return pd.DataFrame({"x": x}), bought * np.exp(3 + 0.3 * x + rng.normal(0, 0.8, n))


def test_an_amount_is_fit_by_the_poisson_objective_as_a_mean_of_any_unit() -> None:
    """A "nonnegative" target is a Poisson model of its mean; the amount in another unit (x100)
    gives the same model up to the unit (every prediction x100: the row weights keep the L2
    penalty's pull the same); a training set that sums to 0 falls back to squared error."""
    X, y = spend(4_000, seed=1)
    args = {"kind": "nonnegative", "seed": 2, "n_estimators": 60, "early_stopping_rounds": None}
    params = {"num_leaves": 7, "min_child_samples": 50, "lambda_l2": 10.0}
    model = lgb.Booster(model_str=fit_base_model(X, y, params=params, **args))
    assert model.params["objective"] == "poisson"
    predicted = model.predict(X)
    assert predicted.min() >= 0 and abs(predicted.mean() / y.mean() - 1) < 0.01
    cents = lgb.Booster(model_str=fit_base_model(X, 100 * y, params=params, **args))
    np.testing.assert_allclose(cents.predict(X), 100 * predicted, rtol=1e-6)
    zeros = lgb.Booster(model_str=fit_base_model(X, np.zeros(len(y)), **args))
    assert zeros.params["objective"] == "regression"
    np.testing.assert_allclose(zeros.predict(X), 0.0)
    folds = np.arange(len(y)) % 3  # the cross-validated tree count does not depend on the unit
    trees = [
        cv_loss(X, c * y, "nonnegative", folds, params, seed=2, weight=None, n_estimators=400)[0]
        for c in (1, 100)
    ]
    assert trees[0] == trees[1] < 400


def test_outcome_models_of_an_amount_never_below_zero_are_poisson_models() -> None:
    """A continuous outcome with no negative value (spend) gets Poisson outcome models; one with
    a negative value (y), squared error; the summary counts the negative values."""
    frame = synthetic(900, 23)
    _, amount = spend(900, seed=3)
    frame["spend"] = amount
    outcomes = {"y": "continuous", "b": "binary", "spend": "continuous"}
    design = Design.of(
        features=FEATURES, treatment="treatment", control="none", arms=ARMS, outcomes=outcomes
    )
    summary = arm_summary(frame, design)
    assert summary["negative__y"].sum() == (frame["y"] < 0).sum() > 0
    assert summary["negative__spend"].sum() == 0 and "negative__b" not in summary
    assert nonnegative_outcomes(summary, design) == ("spend",)
    model = fit(TLearner(**SMALL), frame, outcomes=outcomes)
    for arm in ("none", *ARMS):
        objective = {
            o: lgb.Booster(model_str=model.boosters[f"mu__{o}__{arm}"]).params["objective"]
            for o in outcomes
        }
        assert objective == {"y": "regression", "b": "binary", "spend": "poisson"}


def test_summaries_of_parts_merge_into_the_summary_of_the_whole() -> None:
    frame = synthetic(500, 21)
    frame["propensity"] = np.where(frame["x1"] > 0, 0.3, 0.2)
    design = Design.of(
        features=FEATURES, treatment="treatment", control="none", arms=ARMS,
        outcomes={"y": "continuous", "b": "binary"}, propensity="propensity",
    )  # fmt: skip
    whole = arm_summary(frame, design)
    parts = merge_summaries([arm_summary(frame[:123], design), arm_summary(frame[123:], design)])
    pd.testing.assert_frame_equal(parts, whole)
    assert whole["rows"].sum() == 500
    assert whole.loc["email", "propensity_min"] == 0.2


def test_prefilter_keeps_everything_under_the_cap_and_a_margin_above_it() -> None:
    assert prefilter_fraction(900, 1_000) == 1.0
    assert prefilter_fraction(1_000_000, 1_000) == pytest.approx(
        (1_000 + 6 * 1_000**0.5 + 20) / 1e6
    )


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


def refusal(frame: pd.DataFrame, learner: type = TLearner, **design: object) -> DataContractError:
    with pytest.raises(DataContractError) as caught:
        fit(learner(**SMALL), frame, **design)
    return caught.value


@pytest.mark.parametrize("column", ["x2", "segment", "treatment", "y", "b"])
def test_a_missing_column_is_refused(column: str) -> None:
    error = refusal(synthetic(100, 22).drop(columns=column))
    assert error.column == column and error.table == "experiment"
    assert "missing" in error.problem


def test_a_missing_weight_or_id_column_is_refused() -> None:
    assert refusal(synthetic(100, 22), weight="w").column == "w"
    assert refusal(synthetic(100, 22), id_column="id").column == "id"


def test_an_arm_with_no_rows_is_refused() -> None:
    frame = synthetic(300, 23)
    error = refusal(frame[frame["treatment"] != "sms"], XLearner)
    assert error.column == "treatment" and "arm 'sms' has no rows" in error.problem


def test_non_binary_values_in_a_binary_outcome_are_refused() -> None:
    frame = synthetic(300, 24)
    frame.loc[5, "b"] = 2.0
    error = refusal(frame)
    assert (
        error.column == "b" and "other than 0 and 1" in error.problem and "(1 rows)" in str(error)
    )


@pytest.mark.parametrize(
    ("change", "column", "message"),
    [
        ({"y": np.nan}, "y", "missing outcome"),
        ({"treatment": "letter"}, "treatment", "unknown arm(s) ['letter']"),
        ({"treatment": None}, "treatment", "no arm"),
        ({"x1": "high"}, "x1", "numeric feature"),
    ],
)
def test_bad_values_are_refused(change: dict, column: str, message: str) -> None:
    frame = synthetic(300, 25).astype({"x1": object})
    for name, value in change.items():
        frame.loc[7, name] = value
    if column != "x1":
        frame = frame.astype({"x1": float})
    error = refusal(frame)
    assert error.column == column and message in error.problem


def test_bad_weights_and_propensities_are_refused() -> None:
    frame = synthetic(300, 26).assign(w=1.0, p=0.5)
    frame.loc[3, "w"] = 0.0
    frame.loc[4, "p"] = 1.0
    assert refusal(frame, weight="w").column == "w"
    assert refusal(frame, propensity="p").column == "p"


def test_bad_configuration_is_refused() -> None:
    frame = synthetic(100, 27)
    with pytest.raises(ConfigError, match="control arm 'none' is also listed"):
        fit(TLearner(**SMALL), frame, arms=("none", "email"))
    with pytest.raises(ConfigError, match="unknown outcome kind"):
        fit(TLearner(**SMALL), frame, outcomes={"y": "count"})
    with pytest.raises(ConfigError, match="objective"):
        fit(TLearner(params={"objective": "huber"}), frame)
    with pytest.raises(DataContractError, match="unknown feature kind"):
        fit(TLearner(**SMALL), frame, features={"x1": "ordinal"})
