"""Compiled boosters predict what LightGBM predicts, and fall back to it where they cannot."""

from __future__ import annotations

import logging
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from causal_targeting.errors import ConfigError
from causal_targeting.learners import compiled
from causal_targeting.learners.base import fit_base_model
from causal_targeting.learners.compiled import (
    CompiledEngine,
    LightGBMEngine,
    make_engine,
    model_key,
)
from causal_targeting.learners.features import FeatureSpec


def _features(n: int, seed: int) -> np.ndarray:
    """Two numeric columns and one categorical (codes 0..4), each with NaNs."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [rng.normal(size=n), rng.integers(0, 5, size=n).astype(float), rng.normal(size=n)]
    )
    x[rng.random(n) < 0.1, 0] = np.nan
    x[rng.random(n) < 0.1, 1] = np.nan
    return x


def _booster(objective: str, seed: int = 0, **params: object) -> str:
    x = _features(2_000, seed)
    rng = np.random.default_rng(seed + 1)
    signal = (
        np.nan_to_num(x[:, 0]) + (x[:, 1] == 2) - 0.5 * (x[:, 1] == 4) + rng.normal(size=len(x))
    )
    y = {"binary": (signal > 0.3).astype(float), "poisson": np.exp(signal) * (signal > 0)}.get(
        objective, signal
    )
    data = lgb.Dataset(x, y, categorical_feature=[1], params={"verbose": -1})
    booster = lgb.train(
        {"objective": objective, "verbose": -1, "num_leaves": 15, "seed": seed, **params},
        data,
        num_boost_round=30,
    )
    return booster.model_to_string()


@pytest.fixture(autouse=True)
def _fresh_process_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "_COMPILED", {})


@pytest.fixture(scope="module")
def boosters() -> dict[str, str]:
    return {objective: _booster(objective) for objective in ("binary", "regression", "poisson")}


def _scoring_rows() -> np.ndarray:
    """Fresh rows including NaNs, an unseen category (7) and a negative category (-1)."""
    x = _features(500, seed=9)
    x[:5, 1] = 7.0
    x[5:10, 1] = -1.0
    return x


@pytest.mark.parametrize("objective", ["binary", "regression", "poisson"])
def test_compiled_equals_lightgbm(boosters: dict[str, str], objective: str, tmp_path: Path) -> None:
    rows = _scoring_rows()
    expected = lgb.Booster(model_str=boosters[objective]).predict(rows)
    got = CompiledEngine(cache_dir=tmp_path, n_threads=2).predict(boosters[objective], rows)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    if objective == "binary":  # probabilities, not raw scores: the sigmoid is applied
        assert got.min() >= 0.0 and got.max() <= 1.0 and np.ptp(got) > 0.1
    if objective == "poisson":  # means, not log-means: the exponential is applied
        assert got.min() > 0.0 and np.ptp(got) > 0.1


def test_compiled_object_is_cached_on_disk_and_reused(
    boosters: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _scoring_rows()
    first = CompiledEngine(cache_dir=tmp_path).predict(boosters["binary"], rows)
    objects = list(tmp_path.glob(f"{model_key(boosters['binary'])}-*.o"))
    assert len(objects) == 1
    monkeypatch.setattr(compiled, "_COMPILED", {})
    stamp = objects[0].stat().st_mtime_ns
    again = CompiledEngine(cache_dir=tmp_path).predict(boosters["binary"], rows)
    assert objects[0].stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again, first)


def test_shipped_objects_are_installed_and_used(
    boosters: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = CompiledEngine(cache_dir=tmp_path / "driver")
    objects = driver.compiled_objects(boosters.values())
    assert len(objects) == len(boosters)
    elsewhere = CompiledEngine(cache_dir=tmp_path / "elsewhere").compiled_objects(boosters.values())
    assert elsewhere == objects  # another cache dir in the same process gets its own files
    monkeypatch.setattr(compiled, "_COMPILED", {})
    worker = CompiledEngine(cache_dir=tmp_path / "worker")
    worker.install_objects(objects)

    def no_compiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("the worker compiled although the object was shipped")

    monkeypatch.setattr("lleaves.compiler.compile_to_module", no_compiling)
    rows = _scoring_rows()
    got = worker.predict(boosters["regression"], rows)
    expected = lgb.Booster(model_str=boosters["regression"]).predict(rows)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_the_driver_compiles_what_is_missing_in_worker_processes_to_the_same_objects(
    boosters: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = CompiledEngine(cache_dir=tmp_path / "serial", processes=1)
    expected = serial.compiled_objects(boosters.values())
    assert len(expected) == len(boosters) > 2
    monkeypatch.setattr(compiled, "_COMPILED", {})

    def no_compiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("the driver compiled in process")

    monkeypatch.setattr("lleaves.compiler.compile_to_module", no_compiling)
    side_by_side = CompiledEngine(cache_dir=tmp_path / "workers", processes=2)
    assert side_by_side.compiled_objects(boosters.values()) == expected
    rows = _scoring_rows()
    got = side_by_side.predict(boosters["regression"], rows)
    expected_scores = lgb.Booster(model_str=boosters["regression"]).predict(rows)
    np.testing.assert_allclose(got, expected_scores, rtol=0, atol=1e-9)


def test_linear_trees_fall_back_to_lightgbm(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    linear = _booster("regression", linear_tree=True)
    rows = np.nan_to_num(_scoring_rows())
    with caplog.at_level(logging.WARNING, logger=compiled.__name__):
        got = CompiledEngine(cache_dir=tmp_path).predict(linear, rows)
    np.testing.assert_array_equal(got, lgb.Booster(model_str=linear).predict(rows))
    assert "linear trees" in caplog.text
    assert not list(tmp_path.glob("*.o"))


def test_compile_failure_falls_back_to_lightgbm(
    boosters: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("LLVM is not available")

    monkeypatch.setattr("lleaves.Model.compile", broken)
    rows = _scoring_rows()
    with caplog.at_level(logging.WARNING, logger=compiled.__name__):
        got = CompiledEngine(cache_dir=tmp_path).predict(boosters["binary"], rows)
    np.testing.assert_array_equal(got, lgb.Booster(model_str=boosters["binary"]).predict(rows))
    assert "LLVM is not available" in caplog.text


def test_category_codes_match_a_booster_fit_on_a_categorical_frame(tmp_path: Path) -> None:
    """Boosters are fit on pandas categoricals; engines get codes in the stored level order."""
    rng = np.random.default_rng(3)
    levels = ["bronze", "gold", "silver"]
    frame = pd.DataFrame(
        {
            "tier": pd.Categorical(rng.choice(levels, size=1_000), categories=levels),
            "spend": rng.gamma(2.0, 50.0, size=1_000),
        }
    )
    y = (frame["tier"] == "silver") * 2.0 + frame["spend"] / 100 + rng.normal(size=1_000)
    model = lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(frame, y), 20)
    model_string = model.model_to_string()
    scoring = frame.head(50).copy()
    scoring.loc[:4, "tier"] = np.nan  # missing (as an unseen level becomes)
    codes = scoring["tier"].cat.codes.to_numpy().astype(float)
    rows = np.column_stack([np.where(codes < 0, np.nan, codes), scoring["spend"]])
    expected = lgb.Booster(model_str=model_string).predict(scoring)
    got = CompiledEngine(cache_dir=tmp_path).predict(model_string, rows)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_one_level_splits_of_many_levels_compile_to_the_same_predictions(tmp_path: Path) -> None:
    """A base model's splits of a 300-level categorical (one level against the rest) predict
    the same compiled, on the spec's codes, unseen and missing levels included."""
    rng = np.random.default_rng(4)
    levels = [f"r{k:03d}" for k in range(300)]
    frame = pd.DataFrame({"region": rng.choice(levels, size=20_000), "x": rng.normal(size=20_000)})
    spec = FeatureSpec.from_frame(frame, {"region": "categorical", "x": "numeric"})
    effect = np.isin(frame["region"], levels[::7]) * 1.5
    y = effect + frame["x"] + rng.normal(size=len(frame))
    model_string = fit_base_model(
        spec.matrix(frame),
        y,
        "continuous",
        params={"min_child_samples": 20},
        early_stopping_rounds=None,
        n_estimators=40,
    )
    scoring = frame.head(500).copy()
    scoring.loc[:9, "region"] = "unseen"
    scoring.loc[10:19, "region"] = None
    expected = lgb.Booster(model_str=model_string).predict(spec.matrix(scoring))
    got = CompiledEngine(cache_dir=tmp_path).predict(model_string, spec.array(scoring))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert np.ptp(got) > 1.0


def test_lightgbm_engine_and_engine_names(boosters: dict[str, str]) -> None:
    rows = _scoring_rows()
    engine = make_engine("lightgbm", n_threads=2)
    assert isinstance(engine, LightGBMEngine)
    np.testing.assert_array_equal(
        engine.predict(boosters["binary"], rows),
        lgb.Booster(model_str=boosters["binary"]).predict(rows),
    )
    assert isinstance(make_engine("compiled"), CompiledEngine)
    with pytest.raises(ConfigError, match="unknown prediction engine 'onnx'"):
        make_engine("onnx")
