"""Outputs are atomic and idempotent, and Spark's task retries leave results unchanged.

(a) a writer killed mid-write leaves the previous output intact; (b) rerunning ingest or scoring
on the same inputs gives identical outputs; (c) a task that fails on its first attempt is retried
(the shared session runs ``local[2,2]``) and the scores equal those of a fault-free run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession

from causal_targeting.config import load_config
from causal_targeting.data import io
from causal_targeting.data.io import read_output, write_table
from causal_targeting.learners.model import UpliftModel
from causal_targeting.scoring import score
from causal_targeting.stages.ingest import ingest
from scoring_support import customer_frame, fit_small_model

SLOW_WRITER = """
import sys, time
from pyspark.sql import SparkSession
from causal_targeting.data import io
from causal_targeting.data.io import read_output, write_table
from causal_targeting.learners.model import UpliftModel

path = sys.argv[1]
spark = (
    SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
)

def slowly(batches):
    for batch in batches:
        time.sleep(600)
        yield batch

df = spark.range(100, numPartitions=2).selectExpr("id", "id * 2 AS twice")
write_table(df.mapInPandas(slowly, df.schema), path)
"""


def sorted_frame(path: str | Path, key: str = "customer_id") -> pd.DataFrame:
    return pd.read_parquet(path).sort_values(key).reset_index(drop=True)


def test_the_shared_session_retries_failed_tasks(spark: SparkSession) -> None:
    assert spark.sparkContext.master == "local[2,2]"


def test_a_writer_killed_mid_write_leaves_the_previous_output_intact(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "table")
    write_table(spark.range(50).selectExpr("id", "id * 3 AS thrice"), path)
    before = sorted_frame(path, "id")
    script = tmp_path / "slow_writer.py"
    script.write_text(SLOW_WRITER)
    writer = subprocess.Popen(
        [sys.executable, str(script), path],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("table.__tmp_*")):
            assert writer.poll() is None, "the writer ended before it started writing"
            assert time.monotonic() < deadline, "the writer never created its temporary folder"
            time.sleep(0.2)
    finally:
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait()
    assert list(tmp_path.glob("table.__tmp_*"))  # killed mid-write: its temporary is left over
    pd.testing.assert_frame_equal(sorted_frame(path, "id"), before)
    assert spark.read.parquet(path).count() == 50


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (no except, no rollback)."""


def killed_between_the_two_moves(
    spark: SparkSession, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Write over ``path``, dying after the old output moved aside and before the new moved in."""
    moves: list[object] = []
    real_move = io._move

    def move(fs: object, source: object, target: object) -> bool:
        moves.append(target)
        if len(moves) == 2:
            raise Killed
        return real_move(fs, source, target)

    monkeypatch.setattr(io, "_move", move)
    with pytest.raises(Killed):
        write_table(spark.range(7).selectExpr("id", "-id AS thrice"), path)
    monkeypatch.setattr(io, "_move", real_move)


@pytest.mark.parametrize("recovered_by", ["reader", "writer"])
def test_a_kill_between_the_swap_moves_loses_nothing(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recovered_by: str
) -> None:
    path = str(tmp_path / "table")
    write_table(spark.range(50).selectExpr("id", "id * 3 AS thrice"), path)
    before = sorted_frame(path, "id")
    killed_between_the_two_moves(spark, path, monkeypatch)
    assert not Path(path).exists() and Path(f"{path}.__old").exists()
    if recovered_by == "reader":
        pd.testing.assert_frame_equal(
            read_output(spark, path, "table").toPandas().sort_values("id").reset_index(drop=True),
            before,
        )
    else:
        write_table(spark.range(5).selectExpr("id", "id * 5 AS thrice"), path)
        assert sorted_frame(path, "id")["thrice"].tolist() == [0, 5, 10, 15, 20]
    assert not Path(f"{path}.__old").exists()


def test_rerunning_ingest_gives_identical_outputs(root: Path, tmp_path: Path) -> None:
    sample = tmp_path / "hillstrom.csv"
    pd.read_csv(root / "data" / "hillstrom_email_2008.csv", nrows=3000).to_csv(sample, index=False)
    cfg = load_config(
        root / "conf" / "local.yaml",
        [f"data.experiment.path={sample}", f"outputs.root={tmp_path / 'work'}"],
    )
    first = ingest(cfg)
    copies = {name: sorted_frame(first.paths[name]) for name in ("experiment", "customers")}
    report = Path(first.paths["report"]).read_text()
    second = ingest(cfg)
    for name, frame in copies.items():
        pd.testing.assert_frame_equal(sorted_frame(second.paths[name]), frame)
    assert Path(second.paths["report"]).read_text() == report
    assert len(copies["experiment"]) == 3000 - sum(first.quarantined["experiment"].values())


def failing_once(df: DataFrame, marker: Path) -> DataFrame:
    """``df`` through a mapInPandas whose first try at partition 0 touches ``marker``, raises."""

    def fail_first_attempt(batches):  # type: ignore[no-untyped-def]
        from pyspark import TaskContext

        context = TaskContext.get()
        if context.partitionId() == 0 and context.attemptNumber() == 0:
            marker.touch()
            raise RuntimeError("injected fault")
        yield from batches

    return df.mapInPandas(fail_first_attempt, df.schema)


@pytest.fixture(scope="module")
def scored_once(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> tuple[DataFrame, UpliftModel, pd.DataFrame, Path]:
    """Customers, the small model, and the scores of a fault-free run."""
    tmp = tmp_path_factory.mktemp("scores")
    customers = spark.createDataFrame(customer_frame(400, seed=3)).repartition(3, "customer_id")
    model = fit_small_model(seed=4)
    path = write_table(score(customers, model, "v1", cache_dir=tmp / "cache"), str(tmp / "a"))
    return customers, model, sorted_frame(path), tmp


def test_rescoring_gives_identical_scores(scored_once) -> None:  # type: ignore[no-untyped-def]
    customers, model, expected, tmp = scored_once
    path = write_table(score(customers, model, "v1", cache_dir=tmp / "cache"), str(tmp / "b"))
    pd.testing.assert_frame_equal(sorted_frame(path), expected)


def test_a_task_failing_once_is_retried_and_scores_are_unchanged(scored_once) -> None:  # type: ignore[no-untyped-def]
    customers, model, expected, tmp = scored_once
    marker = tmp / "fault-injected"
    faulty = score(failing_once(customers, marker), model, "v1", cache_dir=tmp / "cache")
    path = write_table(faulty, str(tmp / "c"))
    assert marker.exists()  # the first attempt did fail
    pd.testing.assert_frame_equal(sorted_frame(path), expected)
