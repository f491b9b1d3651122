"""benchmarks/_sparklog.py: a stage's Spark work summed from a tiny hand-written event log."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def sparklog() -> ModuleType:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        return importlib.import_module("_sparklog")


def stage(stage_id: int, rdds: list[str], **metrics: float) -> dict:
    names = {
        "run": "internal.metrics.executorRunTime",
        "gc": "internal.metrics.jvmGCTime",
        "read": "internal.metrics.input.recordsRead",
        "shuffled": "internal.metrics.shuffle.write.bytesWritten",
        "written": "internal.metrics.output.recordsWritten",
        "python": "time to execute Python code",
    }
    accumulables = [
        {"ID": i, "Name": names[key], "Value": str(value) if key == "python" else value}
        for i, (key, value) in enumerate(metrics.items())
    ]
    return {
        "Event": "SparkListenerStageCompleted",
        "Stage Info": {
            "Stage ID": stage_id,
            "Stage Name": f"action {stage_id}",
            "RDD Info": [{"Name": name} for name in rdds],
            "Accumulables": accumulables,
        },
    }


EVENTS = [
    {"Event": "SparkListenerLogStart"},
    {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart",
     "description": "save at NativeMethodAccessorImpl.java:0"},
    {"Event": "SparkListenerJobStart", "Job ID": 0, "Stage IDs": [0, 1], "Submission Time": 1000},
    # scan 1000 rows, shuffle 500 bytes; a mapInPandas stage writing 1000 rows
    stage(0, ["FileScanRDD", "MapPartitionsRDD"], run=4000, gc=100, read=1000, shuffled=500),
    stage(1, ["ShuffledRowRDD"], run=6000, python=2500, written=1000),
    {"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": 8500},
    {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart",
     "description": "count at NativeMethodAccessorImpl.java:0"},
    {"Event": "SparkListenerJobStart", "Job ID": 1, "Stage IDs": [2], "Submission Time": 9000},
    stage(2, ["FileScanRDD"], run=1000, read=1000),
    {"Event": "SparkListenerJobStart", "Job ID": 2, "Stage IDs": [3], "Submission Time": 9500},
    # an RDD-API Python pass over cached blocks: all of its task time is Python time
    stage(3, ["PythonRDD", "ParallelCollectionRDD"], run=3000, gc=50),
]


def test_breakdown_sums_jobs_passes_shuffles_writes_and_python_time(sparklog: ModuleType) -> None:
    out = sparklog.stage_breakdown(EVENTS, input_rows=1000)
    assert (out["jobs"], out["queries"], out["stages"]) == (3, 2, 4)
    assert out["actions"] == {"save": 1, "count": 1}
    assert out["passes"] == pytest.approx(2.0)
    assert (out["shuffles"], out["shuffle_bytes"]) == (1, 500)
    assert out["rows_written"] == 1000
    assert out["task_s"] == pytest.approx(14.0)
    assert out["python_s"] == pytest.approx(5.5)
    assert out["jvm_s"] == pytest.approx(8.5)
    assert out["gc_s"] == pytest.approx(0.15)


def test_job_breakdown_gives_each_jobs_wall_time_reads_shuffles_and_python_time(
    sparklog: ModuleType,
) -> None:
    jobs = sparklog.job_breakdown(EVENTS)
    assert [(j["job"], j["name"]) for j in jobs] == [
        (0, "action 1"), (1, "action 2"), (2, "action 3")
    ]
    assert jobs[0]["seconds"] == pytest.approx(7.5)
    assert (jobs[0]["records_read"], jobs[0]["shuffle_bytes"]) == (1000, 500)
    assert (jobs[0]["python_s"], jobs[0]["task_s"]) == pytest.approx((2.5, 10.0))
    assert jobs[1]["seconds"] == 0.0  # not finished in these events
    assert jobs[1]["records_read"] == 1000
    assert (jobs[2]["python_s"], jobs[2]["task_s"]) == pytest.approx((3.0, 3.0))


def test_read_events_returns_only_new_complete_lines(
    sparklog: ModuleType, tmp_path: Path
) -> None:
    folder = tmp_path / "eventlog_v2_local-1"
    folder.mkdir()
    lines = [json.dumps(e) for e in EVENTS]
    (folder / "events_1_local-1").write_text("\n".join(lines[:4]) + "\n")
    (folder / "events_2_local-1").write_text("\n".join(lines[4:9]) + "\n" + lines[9][:10])
    (folder / "appstatus_local-1.inprogress").write_text("")
    first, seen = sparklog.read_events(tmp_path)
    assert [e["Event"] for e in first] == [e["Event"] for e in EVENTS[:9]]
    assert seen == 9
    (folder / "events_2_local-1").write_text("\n".join(lines[4:]) + "\n")
    second, seen = sparklog.read_events(tmp_path, seen)
    assert second == EVENTS[9:]
    assert seen == len(EVENTS)
    assert sparklog.stage_breakdown(first + second, 1000) == sparklog.stage_breakdown(
        EVENTS, 1000
    )
