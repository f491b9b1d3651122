"""The allocate stage falls back to the best static policy when targeting shows no gain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from causal_targeting.config import validate
from causal_targeting.layout import allocate_paths, ingest_paths, score_paths, train_paths
from causal_targeting.stages.allocate import allocate


def scored_rows(n: int, seed: int) -> pd.DataFrame:
    """Experiment rows where offer 'a' lifts y by 1 for everyone and the scores are noise."""
    rng = np.random.default_rng(seed)
    treated = rng.random(n) < 0.5
    tau = rng.normal(scale=1.0, size=n)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n, dtype=np.int64),
            "treatment": np.where(treated, "a", "ctl"),
            "y": 1.0 * treated + rng.normal(size=n),
            "propensity": 0.5,
            "mu__y__ctl": 0.0,
            "mu__y__a": tau,
            "tau__y__a": tau,
        }
    )


def test_noise_scores_allocate_the_best_static_offer(spark: Any, tmp_path: Path) -> None:
    cfg = validate(
        {
            "outputs": {"root": str(tmp_path / "work")},
            "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db",
                         "artifact_location": str(tmp_path / "mlruns")},
            "data": {
                "experiment": {"path": "unused"},
                "control": "ctl",
                "arms": ["a"],
                "features": {"f": "numeric"},
                "outcomes": {"y": "continuous"},
            },
            "allocation": {"weights": {"y": 1.0}, "fixed_cost": 0.2},
            "evaluate": {"bootstrap_reps": 200},
        }
    )
    rows = scored_rows(600, 0)
    scores = rows[["customer_id", "mu__y__ctl", "mu__y__a", "tau__y__a"]]
    spark.createDataFrame(rows).write.parquet(train_paths(cfg)["holdout"])
    spark.createDataFrame(scores).write.parquet(score_paths(cfg)["scores"])
    spark.createDataFrame(rows[["customer_id"]]).write.parquet(ingest_paths(cfg)["customers"])

    result = allocate(cfg, spark)

    assert result.safeguard is not None and result.safeguard.kind == "static"
    assert result.safeguard.static_arm == "a"
    offers = spark.read.parquet(allocate_paths(cfg)["allocation"]).toPandas()["offer"]
    assert (offers == "a").all()  # the noise scores would have sent 'a' to only part of them
    report = json.loads(Path(allocate_paths(cfg)["report"]).read_text())
    assert report["safeguard"]["line"].startswith("Safeguard: targeting NOT better")
    allocated = spark.read.parquet(allocate_paths(cfg)["allocation"]).toPandas()
    expected = allocated["customer_id"].map(rows.set_index("customer_id")["tau__y__a"]) - 0.2
    assert np.allclose(allocated["value"], expected)  # the configured net value, not gain - cost
    assert report["primal"] == pytest.approx(expected.sum())
    assert report["dual_bound"] is None and report["gap"] is None
