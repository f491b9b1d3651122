"""The segment cores on hand-made numbers: schedule, combination, strata, evidence, config."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from causal_targeting import tracking
from causal_targeting.config import SegmentConfig
from causal_targeting.errors import ConfigError, DataContractError
from causal_targeting.segments.behaviour import behaviour_classes, conversion_rates
from causal_targeting.segments.evidence import decisions_at_equal_contacts, reliability
from causal_targeting.segments.label_correction import campaign_driven_share, exposure_share
from causal_targeting.segments.model import IntentLearner, intent_probabilities
from causal_targeting.segments.pyfunc import load_intent_model, log_intent_model
from causal_targeting.segments.self_paced import round_quantiles, self_paced_weights
from causal_targeting.segments.strata import strata_probabilities
from intent_support import FEATURES, intent_frame


def test_schedule_rises_from_the_start_quantile() -> None:
    assert round_quantiles(1, 0.8) == [None]
    assert round_quantiles(4, 0.7) == pytest.approx([None, 0.7, 0.8, 0.9])
    with pytest.raises(ConfigError, match="start_quantile"):
        round_quantiles(3, 0.0)


def test_hard_examples_are_down_weighted_within_their_class() -> None:
    y = np.array([0, 0, 0, 0, 1, 1])
    losses = np.array([0.1, 0.2, 0.3, 5.0, 0.5, 9.0])
    weights = self_paced_weights(losses, y, quantile=0.75, low_weight=0.2)
    assert weights[3] < weights[0] and weights[5] < weights[4]
    assert weights[:4].sum() == pytest.approx(4) and weights[4:].sum() == pytest.approx(2)


def test_identified_rates_and_the_combination_recover_the_strata() -> None:
    e, mu1, mu0 = 0.8, np.array([0.6, 0.9, 0.1]), np.array([0.1, 0.85, 0.05])
    proba = np.column_stack([e * mu1, (1 - e) * mu0, 1 - e * mu1 - (1 - e) * mu0])
    got_mu1, got_mu0, q = conversion_rates(proba, e)
    np.testing.assert_allclose([got_mu1, got_mu0], [mu1, mu0])
    g = (1 - e) * mu0 / q  # P(unexposed | x, converted)
    s = campaign_driven_share(g, e, corrected=True)
    expected = np.column_stack([mu1 - mu0, mu0, 1 - mu1])
    np.testing.assert_allclose(intent_probabilities(q, s, e), expected)
    np.testing.assert_allclose(strata_probabilities(mu0, mu1, mu1 - mu0), expected)
    assert behaviour_classes(np.array([1, 0, 1]), np.array([1, 1, 0])).tolist() == [0, 1, 2]


def test_strata_clip_negative_effects_and_normalize() -> None:
    rows = strata_probabilities(np.array([0.5]), np.array([0.4]), np.array([-0.1]))
    np.testing.assert_allclose(rows, [[0.0, 0.5 / 1.1, 0.6 / 1.1]])


def test_exposure_share_from_the_design_and_varying_shares_refused() -> None:
    exposed = np.array([1, 1, 0, 1])
    assert exposure_share(exposed, np.array([0.8, 0.8, 0.2, 0.8])) == 0.8
    assert exposure_share(exposed) == 0.75
    with pytest.raises(DataContractError, match="one exposure share") as error:
        exposure_share(exposed, np.array([0.8, 0.7, 0.2, 0.8]))
    assert error.value.column == "propensity"


def test_decisions_at_equal_contacts_count_truth() -> None:
    types = np.array(["campaign_driven", "organic", "organic", "low_engagement"])
    y0, y1 = np.array([0, 1, 1, 0]), np.array([1, 1, 1, 0])
    table = decisions_at_equal_contacts(
        types,
        y0,
        y1,
        {"segment_aware": np.array([0.9, 0.1, 0.2, 0.0]), "response": np.array([0.5, 1, 1, 0])},
        contacts=2,
    )
    assert table.loc["segment_aware", "incremental"] == 1.0
    assert table.loc["segment_aware", "organic_contacts"] == 1
    assert table.loc["response", "incremental"] == 0.0
    assert table.loc["response", "organic_contacts"] == 2
    assert table.loc["contact_all", "contacts"] == 4


def test_segment_aware_targeting_spends_less_on_organic_than_response_targeting() -> None:
    train, test = intent_frame(8_000, seed=11), intent_frame(8_000, seed=12)
    model = (
        IntentLearner(**SegmentConfig().learner_arguments(seed=1))
        .fit(train, features=FEATURES, exposed="exposed", converted="converted")
        .model_
    )
    scores = model.predict(test)
    response = scores["p__campaign_driven"] * 0.8 + scores["p__organic"]  # P(converted | x)
    table = decisions_at_equal_contacts(
        test["true_type"].to_numpy(),
        test["y0"].to_numpy(),
        test["y1"].to_numpy(),
        {"segment_aware": scores["p__campaign_driven"].to_numpy(), "response": response},
        contacts=2_000,
    )
    # measured on the intent scenario: organic contacts 757 (segment-aware) vs 952 (response);
    # true incremental conversions 301 vs 263
    aware, naive = table.loc["segment_aware"], table.loc["response"]
    assert aware["organic_contacts"] < 0.85 * naive["organic_contacts"]
    assert aware["incremental"] > naive["incremental"]
    curve = reliability(test["true_type"].to_numpy(), scores, bins=5)
    # higher predicted, more campaign-driven (the lowest two bins, mostly p = 0, measured tied)
    assert curve["observed"].corr(curve["predicted"], method="spearman") > 0.8
    assert curve["observed"].iloc[-1] > 3 * curve["observed"].iloc[0]


def test_config_defaults_map_onto_the_learner() -> None:
    config = SegmentConfig()
    assert config.enabled is False
    arguments = config.learner_arguments(seed=7)
    assert arguments["rounds"] == 1 and arguments["seed"] == 7
    paced = SegmentConfig(schedule="self_paced").learner_arguments(seed=7)
    assert paced["rounds"] == config.self_paced.rounds
    assert IntentLearner(**arguments).get_params()["label_correction"] is True


def test_mlflow_pyfunc_serves_the_intent_model(tmp_path: Path) -> None:
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    tracking.configure(f"sqlite:///{tmp_path}/m.db", "seg", artifact_location=str(tmp_path / "a"))
    try:
        train = intent_frame(2_000, seed=3)
        model = (
            IntentLearner(n_estimators=10)
            .fit(train, features=FEATURES, exposed="exposed", converted="converted")
            .model_
        )
        with mlflow.start_run():
            info = log_intent_model(model)
        served = mlflow.pyfunc.load_model(info.model_uri).predict(train[list(FEATURES)])
        pd.testing.assert_frame_equal(served, model.predict(train[list(FEATURES)]))
        assert load_intent_model(info.model_uri) == model
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
