"""The segment stage's pure parts and its refusals of bad input, on the `intent` scenario."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from causal_targeting.config import Config, load_config
from causal_targeting.data.simulate import simulate_block
from causal_targeting.data.simulate.registry import scenario
from causal_targeting.decision import excluded_segments
from causal_targeting.errors import ConfigError, DataContractError
from causal_targeting.scoring import check_customer_features
from causal_targeting.segments.combine import SEGMENTS
from causal_targeting.segments.strata import best_arm_strata, uplift_strata
from causal_targeting.stages.segment import (
    conversion_outcome,
    fit_intent_model,
    recovery_frames,
    segment_mix,
    with_exposure,
)

CONF = Path(__file__).resolve().parents[2] / "conf" / "scenarios" / "intent.yaml"


def config(*overrides: str) -> Config:
    return load_config(CONF, ["segment.n_estimators=40", *overrides])


@pytest.fixture(scope="module")
def experiment() -> pd.DataFrame:
    return simulate_block(scenario("intent"), np.arange(4000), seed=5)


def test_exposure_is_any_arm_but_control_and_conversion_the_first_binary_outcome() -> None:
    cfg = config()
    rows, column = with_exposure(pd.DataFrame({"treatment": ["none", "email", "email"]}), cfg)
    assert rows[column].tolist() == [0, 1, 1]
    assert conversion_outcome(cfg) == "converted"
    assert conversion_outcome(config("segment.converted=bought")) == "bought"


def test_the_recovery_table_judges_every_method_against_the_truth(
    experiment: pd.DataFrame,
) -> None:
    cfg = config()
    model = fit_intent_model(experiment.iloc[:3000], cfg)
    held_out = experiment.iloc[3000:].reset_index(drop=True)
    ours = model.predict(held_out)
    truth = pd.concat([held_out, ours, ours.add_prefix("strata__")], axis=1)
    recovery, curves = recovery_frames(truth, experiment.iloc[:3000], cfg)
    table = recovery.set_index("method")
    assert list(table.index) == ["segment model", "uplift strata", "naive attribution"]
    assert np.isnan(table.loc["naive attribution", "macro_f1"])  # a binary score has no segments
    assert table.loc["segment model", "auc"] > 0.6  # who beats whom: benchmarks/segmentation
    assert set(curves["method"]) == set(table.index)


def test_every_row_exposed_is_refused_naming_the_column(experiment: pd.DataFrame) -> None:
    exposed = experiment.assign(treatment="email")
    with pytest.raises(DataContractError, match="not identified") as error:
        fit_intent_model(exposed, config())
    assert "exposed" in str(error.value)


def test_a_non_binary_conversion_outcome_is_refused(experiment: pd.DataFrame) -> None:
    counted = experiment.assign(converted=experiment["converted"] * 2)
    with pytest.raises(DataContractError, match="binary") as error:
        fit_intent_model(counted, config())
    assert "converted" in str(error.value)


def test_a_feature_missing_at_scoring_time_is_refused(experiment: pd.DataFrame) -> None:
    model = fit_intent_model(experiment, config())
    fields = [StructField("customer_id", StringType())]
    fields += [
        StructField(name, StringType() if kind == "categorical" else DoubleType())
        for name, kind in model.spec.kinds.items()
        if name != "visits_30d"
    ]
    with pytest.raises(DataContractError, match="visits_30d"):
        check_customer_features(StructType(fields), model)


def test_an_unknown_excluded_segment_is_a_config_error_naming_the_key() -> None:
    assert excluded_segments(config()) == ["organic"]
    with pytest.raises(ConfigError, match=r"allocation\.exclude_segments") as error:
        excluded_segments(config("allocation.exclude_segments=[loyal]"))
    assert "loyal" in str(error.value) and all(s in str(error.value) for s in SEGMENTS)


def test_the_mix_is_each_methods_share_from_the_joint_counts() -> None:
    counts = pd.DataFrame(
        {
            "segment": ["organic", "organic", "campaign_driven"],
            "strata__segment": ["organic", "low_engagement", "organic"],
            "count": [5, 1, 4],
        }
    )
    mix = segment_mix(counts).set_index("segment")
    assert list(mix.index) == list(SEGMENTS)
    assert mix["model"].to_dict() == {"campaign_driven": 0.4, "organic": 0.6, "low_engagement": 0}
    assert mix["strata"].to_dict() == {"campaign_driven": 0, "organic": 0.9, "low_engagement": 0.1}


def test_best_arm_strata_takes_the_arm_of_largest_effect() -> None:
    scores = pd.DataFrame(
        {
            "mu__y__c": [0.1, 0.3],
            "mu__y__a": [0.5, 0.35],
            "mu__y__b": [0.2, 0.9],
            "tau__y__a": [0.4, 0.05],
            "tau__y__b": [0.1, 0.6],
        }
    )
    both = best_arm_strata(scores, "y", "c", ["a", "b"])
    first = uplift_strata(scores.iloc[[0]], "mu__y__c", "mu__y__a", "tau__y__a")
    second = uplift_strata(scores.iloc[[1]], "mu__y__c", "mu__y__b", "tau__y__b")
    pd.testing.assert_frame_equal(both, pd.concat([first, second]))
