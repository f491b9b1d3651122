"""The two-stage intent model on the simulator's `intent` scenario (tests/intent_support)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pulearn import ElkanotoPuClassifier
from sklearn.metrics import roc_auc_score

from causal_targeting.config import SegmentConfig
from causal_targeting.errors import ConfigError, DataContractError, ModelError
from causal_targeting.learners.compiled import CompiledEngine
from causal_targeting.learners.uplift import TLearner
from causal_targeting.segments.combine import PROBABILITY_COLUMNS, SEGMENT, assign_segments
from causal_targeting.segments.evidence import naive_attribution_scores, recovery_metrics
from causal_targeting.segments.model import CORRECTION, IntentLearner, IntentModel
from causal_targeting.segments.strata import uplift_strata
from intent_support import FEATURES, intent_frame

COLUMNS = {
    "exposed": "exposed",
    "converted": "converted",
    "attributed": "attributed",
    "propensity": "propensity",
}
DEFAULTS = SegmentConfig().learner_arguments(seed=3)


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return intent_frame(12_000, seed=1)


@pytest.fixture(scope="module")
def test() -> pd.DataFrame:
    return intent_frame(12_000, seed=2)


def fit(train: pd.DataFrame, **changes) -> IntentModel:
    return IntentLearner(**{**DEFAULTS, **changes}).fit(train, features=FEATURES, **COLUMNS).model_


def auc(test: pd.DataFrame, scores: np.ndarray) -> float:
    return roc_auc_score(test["true_type"] == "campaign_driven", scores)


@pytest.fixture(scope="module")
def model(train: pd.DataFrame) -> IntentModel:
    return fit(train)


@pytest.fixture(scope="module")
def scores(model: IntentModel, test: pd.DataFrame) -> pd.DataFrame:
    return model.predict(test)


def test_probabilities_sum_to_one_and_segments_are_named(scores: pd.DataFrame) -> None:
    probabilities = scores[list(PROBABILITY_COLUMNS)].to_numpy()
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)
    assert set(scores[SEGMENT]) == {"campaign_driven", "organic", "low_engagement"}


def test_ranks_campaign_driven_above_the_naive_attribution_classifier(
    train: pd.DataFrame, test: pd.DataFrame, scores: pd.DataFrame
) -> None:
    """Measured at 12k rows: AUC ours 0.734, naive 0.697 (the issue's +0.10 target is judged at
    1M rows in benchmarks/segmentation.py). The argmax segments are mostly low_engagement when
    conversion is rare (macro-F1 0.26): a segment's probability seldom passes the others'."""
    ours = auc(test, scores["p__campaign_driven"])
    naive = auc(test, naive_attribution_scores(train, test, FEATURES, "attributed", seed=3))
    assert ours > naive + 0.02, (ours, naive)
    assert recovery_metrics(test["true_type"], scores)["macro_f1"] > 0.2


def test_label_correction_beats_attribution_at_face_value(
    train: pd.DataFrame, test: pd.DataFrame, scores: pd.DataFrame
) -> None:
    uncorrected = fit(train, label_correction=False).predict(test)
    # measured at 12k rows: corrected 0.734, uncorrected 0.711
    assert auc(test, scores["p__campaign_driven"]) - 0.01 > auc(
        test, uncorrected["p__campaign_driven"]
    )


def test_self_paced_schedule_is_no_better_than_off(
    train: pd.DataFrame, test: pd.DataFrame, scores: pd.DataFrame
) -> None:
    """The ablation that makes ``schedule: off`` the default: the schedule changes the model
    but does not raise the AUC by more than noise (at 1M rows: the "with self-paced" row of
    benchmarks/RESULTS.md)."""
    paced_model = fit(train, rounds=4)
    paced = paced_model.predict(test)
    assert not np.allclose(paced["p__campaign_driven"], scores["p__campaign_driven"])
    gain = auc(test, paced["p__campaign_driven"]) - auc(test, scores["p__campaign_driven"])
    assert gain < 0.02, gain


def test_uplift_strata_recover_the_types(train: pd.DataFrame, test: pd.DataFrame) -> None:
    arms = train.assign(arm=np.where(train["exposed"] == 1, "campaign", "none"))
    uplift = TLearner(seed=3).fit(
        arms,
        features=FEATURES,
        treatment="arm",
        control="none",
        arms=["campaign"],
        outcomes={"converted": "binary"},
    )
    strata = uplift_strata(
        uplift.model_.predict(test),
        "mu__converted__none",
        "mu__converted__campaign",
        "tau__converted__campaign",
    )
    np.testing.assert_allclose(strata[list(PROBABILITY_COLUMNS)].sum(axis=1), 1.0)
    assert auc(test, strata["p__campaign_driven"]) > 0.65


def test_label_correction_ranks_like_elkan_noto(
    model: IntentModel, train: pd.DataFrame, test: pd.DataFrame
) -> None:
    """pulearn's Elkan–Noto classifier on the same PU data (converters; labeled: unexposed)."""
    converters = train[train["converted"] == 1]
    X = model.spec.array(converters)
    elkan = ElkanotoPuClassifier(
        estimator=_lightgbm_classifier(), hold_out_ratio=0.2, random_state=3
    ).fit(np.nan_to_num(X), 1 - converters["exposed"].to_numpy())
    test_converters = test[test["converted"] == 1]
    truth = test_converters["true_type"] == "campaign_driven"
    ours = 1.0 - model.class_proba(CORRECTION, model.spec.array(test_converters))[:, 1]
    theirs = 1.0 - elkan.predict_proba(np.nan_to_num(model.spec.array(test_converters)))[:, 1]
    ours_auc, theirs_auc = roc_auc_score(truth, ours), roc_auc_score(truth, theirs)
    assert abs(ours_auc - theirs_auc) < 0.05, (ours_auc, theirs_auc)
    assert np.corrcoef(ours, theirs)[0, 1] > 0.8
    # the known label frequency c = 1 − e calibrates; Elkan–Noto's estimate (0.14 < 0.2) does
    # not (measured mean P(CD | converted): truth 0.433, ours 0.416, Elkan–Noto 0.271)
    share = truth.mean()
    ours_share = np.clip(1.0 - (1.0 - ours) / (1.0 - model.exposure_share), 0.0, 1.0).mean()
    assert abs(ours_share - share) < 0.05
    assert abs(np.clip(theirs, 0.0, 1.0).mean() - share) > abs(ours_share - share)


def _lightgbm_classifier():
    from lightgbm import LGBMClassifier

    return LGBMClassifier(
        n_estimators=200, learning_rate=0.05, num_leaves=7, min_child_samples=200, verbose=-1
    )


def test_artifact_round_trip_gives_identical_predictions(
    model: IntentModel, test: pd.DataFrame, scores: pd.DataFrame, tmp_path
) -> None:
    loaded = IntentModel.from_bytes(model.to_bytes())
    assert loaded == model
    pd.testing.assert_frame_equal(loaded.predict(test), scores)
    compiled = model.predict(test, engine=CompiledEngine(cache_dir=tmp_path))
    pd.testing.assert_frame_equal(compiled, scores, check_exact=False, rtol=0, atol=1e-9)
    with pytest.raises(ModelError, match="not a causal-targeting intent model"):
        IntentModel.from_bytes(b"not a model")


def test_mlp_option_round_trips(train: pd.DataFrame, test: pd.DataFrame) -> None:
    network = fit(train.iloc[:4000], classifier="mlp", max_iter=30, rounds=2)
    assert network.boosters == {}
    out = network.predict(test.iloc[:500])
    pd.testing.assert_frame_equal(
        IntentModel.from_bytes(network.to_bytes()).predict(test[:500]), out
    )
    assert auc(test.iloc[:500], out["p__campaign_driven"]) > 0.6


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_every_row_exposed_or_none_is_refused(train: pd.DataFrame, share: float) -> None:
    table = train.assign(exposed=int(share), propensity=1.0 if share else 0.0)
    with pytest.raises(DataContractError, match=r"label frequency .* not identified") as error:
        IntentLearner(**DEFAULTS).fit(table, features=FEATURES, **COLUMNS)
    assert error.value.column == "exposed"
    assert "unexposed holdout" in error.value.fix


def test_non_binary_conversion_is_refused(train: pd.DataFrame) -> None:
    table = train.assign(converted=train["converted"] * 2.5)
    with pytest.raises(DataContractError, match="binary 0/1") as error:
        IntentLearner(**DEFAULTS).fit(table, features=FEATURES, **COLUMNS)
    assert error.value.column == "converted"


def test_missing_feature_at_predict_time_is_refused(model: IntentModel, test: pd.DataFrame):
    with pytest.raises(DataContractError, match="feature column is missing") as error:
        model.predict(test.drop(columns=["recency_days"]))
    assert error.value.column == "recency_days"


def test_bad_settings_are_config_errors(train: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="unknown segment"):
        IntentLearner(**{**DEFAULTS, "thresholds": {"loyal": 0.5}}).fit(
            train, features=FEATURES, **COLUMNS
        )
    with pytest.raises(ConfigError, match="attribution column"):
        IntentLearner(**{**DEFAULTS, "label_correction": False}).fit(
            train, features=FEATURES, exposed="exposed", converted="converted"
        )


def test_thresholds_take_precedence_over_the_argmax() -> None:
    probabilities = np.array([[0.3, 0.5, 0.2], [0.1, 0.2, 0.7], [0.45, 0.1, 0.45]])
    assert list(assign_segments(probabilities, {})) == [
        "organic",
        "low_engagement",
        "campaign_driven",
    ]
    assert list(assign_segments(probabilities, {"campaign_driven": 0.25})) == [
        "campaign_driven",
        "low_engagement",
        "campaign_driven",
    ]


def test_lift_over_base_rates_gives_a_rare_segment_to_those_most_like_it() -> None:
    # a 1% converter rate: every row's largest probability is low engagement
    probabilities = np.array([[0.004, 0.006, 0.99], [0.001, 0.02, 0.979], [0.0, 0.001, 0.999]])
    rates = (0.002, 0.01, 0.988)
    assert set(assign_segments(probabilities, {})) == {"low_engagement"}
    assert list(assign_segments(probabilities, {}, rates)) == [
        "campaign_driven",  # lifts 2.0, 0.6, 1.002
        "organic",  # 0.5, 2.0, 0.991
        "low_engagement",  # 0, 0.1, 1.011
    ]
    thresholds = {"low_engagement": 0.98}
    assert assign_segments(probabilities, thresholds, rates)[0] == "low_engagement"


def test_the_fitted_model_keeps_the_mean_probabilities_as_base_rates(
    model: IntentModel, train: pd.DataFrame
) -> None:
    assert model.base_rates is not None
    means = model.predict(train)[list(PROBABILITY_COLUMNS)].mean().to_numpy()
    assert np.allclose(model.base_rates, means)
    assert IntentModel.from_bytes(model.to_bytes()).base_rates == model.base_rates
    assert fit(train.head(4000), assign="argmax").base_rates is None
