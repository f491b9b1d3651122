"""The score stage's per-batch kernel and worker cache, without Spark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causal_targeting import scoring
from causal_targeting.learners.compiled import CompiledEngine, LightGBMEngine
from causal_targeting.learners.model import UpliftModel
from causal_targeting.learners.uplift import XLearner
from scoring_support import customer_frame, fit_small_model


@pytest.fixture(scope="module")
def model() -> UpliftModel:
    return fit_small_model(seed=11)


def test_score_batches_gives_ids_scores_and_version(model: UpliftModel, tmp_path: Path) -> None:
    customers = customer_frame(900, seed=12, unseen_level="Mars")
    batches = [customers.iloc[i : i + 400] for i in range(0, 900, 400)]
    engine = CompiledEngine(cache_dir=tmp_path, n_threads=2)
    out = pd.concat(scoring.score_batches(batches, model, "m/3", engine), ignore_index=True)
    expected = model.predict(customers, engine=LightGBMEngine())
    assert list(out.columns) == ["customer_id", *model.score_columns(), "model_version"]
    np.testing.assert_array_equal(out["customer_id"], customers["customer_id"])
    assert set(out["model_version"]) == {"m/3"}
    for column in model.score_columns():
        np.testing.assert_allclose(out[column], expected[column], rtol=0, atol=1e-9)


def test_worker_model_loads_once_per_key(model: UpliftModel, monkeypatch) -> None:
    monkeypatch.setattr(scoring, "_MODELS", {})
    loads = []

    def load() -> UpliftModel:
        loads.append(1)
        return model

    assert scoring.worker_model("k", load) is model
    assert scoring.worker_model("k", load) is model
    assert len(loads) == 1


def test_task_threads_outside_spark() -> None:
    assert scoring.task_threads(None) == 1
    assert scoring.task_threads(3) == 3


def test_compiled_engine_scores_an_x_learner_like_lightgbm(tmp_path: Path) -> None:
    model = fit_small_model(seed=13, learner=XLearner)
    customers = customer_frame(500, seed=14, unseen_level="Mars")
    compiled = model.predict(customers, engine=CompiledEngine(cache_dir=tmp_path))
    expected = model.predict(customers)
    assert any(key.startswith("propensity__") for key in model.boosters)
    pd.testing.assert_frame_equal(compiled, expected, check_exact=False, rtol=0, atol=1e-9)


def test_auto_compiles_only_for_enough_customers_a_task_slot() -> None:
    per_slot = scoring.COMPILE_ROWS_PER_SLOT
    assert scoring.chosen_engine("auto", 64_000, slots=2) == "lightgbm"
    assert scoring.chosen_engine("auto", 2 * per_slot, slots=2) == "compiled"
    assert scoring.chosen_engine("auto", 2 * per_slot - 1, slots=2) == "lightgbm"
    assert scoring.chosen_engine("auto", 2 * per_slot, slots=64) == "lightgbm"  # a cluster
    assert scoring.chosen_engine("compiled", 10, slots=2) == "compiled"  # a set engine stays
    assert scoring.chosen_engine("lightgbm", 10**9, slots=1) == "lightgbm"
