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
    run = bench.regret_run("retention", seed=3, train_rows=1500, customer_rows=500)
    values = run.values
    assert run.learner in {"t", "x", "dr"}
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
    assert run.regret == pytest.approx(
        (values["oracle"] - values["ours"]) / values["oracle"]
    )
