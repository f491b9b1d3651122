"""The allocate stage falls back to the best static policy when targeting shows no gain, and keeps
the part of targeting the evidence shows better."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from causal_targeting.config import validate
from causal_targeting.evaluation.safeguard import partial_policy
from causal_targeting.layout import (
    allocate_paths,
    coarsen_paths,
    ingest_paths,
    score_paths,
    train_paths,
)
from causal_targeting.stages.allocate import allocate
from causal_targeting.value import ValueModel
from safeguard_support import ONE_ARM_DATA, top_slice_rows


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


def config(tmp_path: Path, guardrails: list[dict[str, Any]], **allocation: Any) -> Any:
    return validate(
        {
            "outputs": {"root": str(tmp_path / "work")},
            "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db",
                         "artifact_location": str(tmp_path / "mlruns")},
            "data": ONE_ARM_DATA,
            "allocation": {
                "weights": {"y": 1.0}, "fixed_cost": 0.2, "guardrails": guardrails, **allocation
            },
            "evaluate": {"bootstrap_reps": 200},
        }
    )


def allocate_on(spark: Any, cfg: Any, rows: pd.DataFrame) -> Any:
    """The allocate stage's result on ``rows`` as the train stage's scored rows, their scores
    (every ``mu__``/``tau__`` column) and the customers."""
    scores = rows[["customer_id", *[c for c in rows if c.startswith(("mu__", "tau__"))]]]
    spark.createDataFrame(rows).write.parquet(train_paths(cfg)["holdout"])
    spark.createDataFrame(scores).write.parquet(score_paths(cfg)["scores"])
    spark.createDataFrame(rows[["customer_id"]]).write.parquet(ingest_paths(cfg)["customers"])
    return allocate(cfg, spark)


def test_noise_scores_allocate_the_best_static_offer(spark: Any, tmp_path: Path) -> None:
    cfg = config(tmp_path, [])
    rows = scored_rows(600, 0)
    result = allocate_on(spark, cfg, rows)

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


def test_the_departures_of_largest_predicted_gain_are_allocated_when_only_they_pay(
    spark: Any, tmp_path: Path
) -> None:
    cfg = config(tmp_path, [], partial_shares=[0.25, 0.5])
    rows = top_slice_rows(4000, 0).assign(customer_id=np.arange(4000, dtype=np.int64))
    result = allocate_on(spark, cfg, rows)

    decision = result.safeguard
    assert decision is not None and decision.kind == "partial" and decision.static_arm == "ctl"
    allocated = spark.read.parquet(allocate_paths(cfg)["allocation"]).toPandas()
    allocated = allocated.sort_values("customer_id", ignore_index=True)
    model = ValueModel(weights={"y": 1.0}, fixed_cost=0.2)
    expected = partial_policy(rows, model, ["a"], "ctl", "ctl", decision.threshold)
    offers = allocated["offer"].fillna("ctl").to_numpy()
    assert (offers == expected).all()
    assert 0 < np.mean(offers == "a") < np.mean(rows["tau__y__a"] > 0.2)  # part of targeting
    sent = allocated["offer"] == "a"
    value = rows["tau__y__a"] - 0.2
    assert np.allclose(allocated.loc[sent, "value"], value[sent])  # the configured net value
    report = json.loads(Path(allocate_paths(cfg)["report"]).read_text())
    assert report["safeguard"]["kind"] == "partial"
    assert report["safeguard"]["line"].startswith("Safeguard: targeting kept for its")


def test_a_static_offer_under_a_contacts_cap_says_whom_it_reaches(
    spark: Any, tmp_path: Path
) -> None:
    """The same noise scores under a cap of 40% of the customers: the best static offer goes
    to as many as the cap allows, and the safeguard's line says so, not 'every eligible
    customer'."""
    cfg = config(tmp_path, [{"name": "reach", "kind": "contacts", "share": 0.4}])
    result = allocate_on(spark, cfg, scored_rows(600, 0))

    assert result.safeguard is not None and result.safeguard.kind == "static"
    offers = spark.read.parquet(allocate_paths(cfg)["allocation"]).toPandas()["offer"]
    reach = float((offers == "a").mean())
    assert 0.3 < reach <= 0.4
    line = json.loads(Path(allocate_paths(cfg)["report"]).read_text())["safeguard"]["line"]
    assert "as many as the guardrails allow" in line and "every eligible" not in line
    assert f"'a' to {result.safeguard.static_reach:.0%} of the customers" in line


def test_the_verdict_does_not_depend_on_the_order_the_scored_rows_were_written(
    spark: Any, tmp_path: Path
) -> None:
    """The train stage writes its scored rows in whatever order Spark's tasks hand them over;
    the safeguard's bootstrap reweights rows by position, so the same rows written in another
    order must give the same verdict, to the digit."""
    rows = scored_rows(600, 1)
    first = allocate_on(spark, config(tmp_path / "first", []), rows).safeguard
    reordered = rows.iloc[::-1].reset_index(drop=True)
    second = allocate_on(spark, config(tmp_path / "second", []), reordered).safeguard

    assert first is not None and second is not None
    assert (second.ci_low, second.ci_high, second.p_value) == (
        first.ci_low, first.ci_high, first.p_value
    )


def test_a_coarsened_menu_allocates_on_rows_of_every_arm(spark: Any, tmp_path: Path) -> None:
    """The coarsen stage kept 'a' of the experiment's offers 'a' and 'b'; the scored rows hold
    both arms. The safeguard judges the menu's policies on all of them (it refused the rows of
    'b' before) and the allocation gives only 'a'."""
    rows = scored_rows(600, 2)
    to_b = np.random.default_rng(3).random(len(rows)) < 0.3
    rows = rows.assign(
        treatment=np.where(to_b, "b", rows["treatment"]), mu__y__b=0.0, tau__y__b=-1.0
    )
    raw = config(tmp_path, []).model_dump(mode="json")
    raw["data"]["arms"] = ["a", "b"]
    raw["coarsen"]["enabled"] = True
    cfg = validate(raw)
    menu = Path(coarsen_paths(cfg)["menu"])
    menu.parent.mkdir(parents=True)
    menu.write_text(json.dumps({"offers": ["a"]}))
    result = allocate_on(spark, cfg, rows)

    assert result.safeguard is not None
    assert set(result.safeguard.static_values) == {"ctl", "a"}
    offers = spark.read.parquet(allocate_paths(cfg)["allocation"]).toPandas()["offer"]
    assert set(offers.dropna()) <= {"a"}
