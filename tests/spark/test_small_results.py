"""No stage collects a customer-size table: ingest, score and the allocation's solve run with
``spark.driver.maxResultSize`` at 1 MB, below the size of each of their tables."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from test_allocation_spark import ARMS as OFFERS
from test_allocation_spark import GUARDRAILS, MODEL
from test_allocation_spark import scores as offer_scores

from causal_targeting import tracking
from causal_targeting.allocation.distributed import solve
from causal_targeting.config import validate
from causal_targeting.data.io import write_table
from causal_targeting.stages.ingest import ingest
from causal_targeting.stages.score import score
from scoring_support import (
    ARMS,
    CONTROL,
    FEATURES,
    OUTCOMES,
    customer_frame,
    experiment_frame,
    fit_small_model,
)

ROWS = 60_000
"""Rows of each table: about 2 MB as Python rows, twice the limit."""


@contextmanager
def max_result_size(spark: Any, size: str) -> Iterator[None]:
    """Run the block with ``spark.driver.maxResultSize`` at ``size`` on the shared session (the
    scheduler reads the live SparkContext's conf for every new task set)."""
    conf = spark.sparkContext._jsc.sc().conf()
    previous = conf.get("spark.driver.maxResultSize", "1g")
    conf.set("spark.driver.maxResultSize", size)
    try:
        yield
    finally:
        conf.set("spark.driver.maxResultSize", previous)


def test_the_limit_refuses_a_collect_of_a_table(spark: Any) -> None:
    table = spark.createDataFrame(customer_frame(ROWS, seed=1)).repartition(2)
    with max_result_size(spark, "1m"), pytest.raises(Exception, match="maxResultSize"):
        table.collect()


def test_ingest_and_score_run_under_the_limit(spark: Any, tmp_path: Path) -> None:
    experiment = tmp_path / "experiment.parquet"
    customers = tmp_path / "customers.parquet"
    experiment_frame(ROWS, seed=2).to_parquet(experiment, index=False)
    frame = customer_frame(ROWS, seed=3, unseen_level="Atlantis")
    frame.to_parquet(customers, index=False)
    cfg = validate(
        {
            "outputs": {"root": str(tmp_path / "work")},
            "score": {"cache_dir": str(tmp_path / "compiled")},  # nothing compiled yet
            "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db",
                         "artifact_location": str(tmp_path / "mlruns")},
            "data": {
                "experiment": {"path": str(experiment)},
                "customers": {"path": str(customers)},
                "customer_id": "customer_id",
                "treatment": "treatment",
                "control": CONTROL,
                "arms": ARMS,
                "features": FEATURES,
                "outcomes": OUTCOMES,
            },
        }
    )
    tracking.configure(cfg.tracking.uri, cfg.tracking.experiment, cfg.tracking.artifact_location)
    with tracking.start_run(run_name="small results"):
        version = tracking.register(fit_small_model(seed=4), {}, "small-results", 0.1)
    with max_result_size(spark, "1m"):
        ingested = ingest(cfg, spark)
        scored = score(cfg, spark, model_uri=f"models:/small-results/{version}")
    assert ingested.rows_read == {"experiment": ROWS, "customers": ROWS}
    assert scored.rows == ROWS == spark.read.parquet(scored.paths["scores"]).count()
    assert scored.unseen_levels == {"region": int((frame["region"] == "Atlantis").sum())}
    # score.engine auto, an empty cache: 60,000 customers are too few to pay for a compile
    assert scored.engine == "lightgbm"
    assert json.loads(Path(scored.paths["report"]).read_text())["engine"] == "lightgbm"


def test_the_allocation_solves_under_the_limit(spark: Any, tmp_path: Path) -> None:
    frame = spark.createDataFrame(offer_scores(ROWS, 5)).repartition(4)
    with max_result_size(spark, "1m"):
        allocation, report = solve(frame, MODEL, GUARDRAILS, OFFERS)
        written = write_table(allocation, str(tmp_path / "allocation"))
    assert spark.read.parquet(written).count() == ROWS
    assert report.gap <= 1e-3
