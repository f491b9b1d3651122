"""What Spark did in a block of benchmark code, read from its own event log.

With ``spark.eventLog.enabled=true`` Spark writes one JSON object per line for every listener
event (a rolling log is a folder of ``events_{n}_{app}`` files; a plain one is a single file).
:func:`read_events` returns the complete lines written since the last call and
:func:`stage_breakdown` sums them: the Spark jobs and SQL queries run, the records read from files
(passes over the input), the shuffles, the rows written, and the task time spent in Python
workers against the JVM; :func:`job_breakdown` gives the same evidence job by job.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Event = dict[str, Any]

SQL_START = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart"
PYTHON_CODE = "time to execute Python code"
"""SQL metric (ms, summed over tasks) of the Python operators (mapInPandas, pandas UDFs)."""
PYTHON_RDD = "PythonRDD"
"""RDD of an RDD-API Python function (``rdd.map``, ``treeAggregate``): no SQL metrics, so the
whole task time of its stages counts as Python time."""


def event_files(folder: Path) -> list[Path]:
    """The event log files under ``folder``, in the order Spark wrote them (rolling logs are
    numbered ``events_{n}_...``; a plain log is one file per application)."""

    def order(path: Path) -> tuple[int, str]:
        parts = path.name.split("_")
        rolled = path.name.startswith("events_") and parts[1].isdigit()
        return (int(parts[1]) if rolled else 0, str(path))

    files = [
        p for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".") and not p.name.startswith("appstatus")
    ]
    return sorted(files, key=order)


def read_events(folder: Path, seen: int = 0) -> tuple[list[Event], int]:
    """The events of the log under ``folder`` after the first ``seen`` complete lines, and the
    number of complete lines read so far (pass it back as ``seen`` next time). A last line Spark
    has not finished writing is left for the next call."""
    lines: list[str] = []
    for path in event_files(folder):
        text = path.read_text()
        complete = text[: text.rfind("\n") + 1]
        lines += complete.splitlines()
    return [json.loads(line) for line in lines[seen:] if line.strip()], len(lines)


def _stage_metrics(stage: Event) -> dict[str, float]:
    """A completed stage's accumulables by name, summed (SQL metrics of the same name from two
    operators of the stage are added)."""
    sums: Counter[str] = Counter()
    for accumulable in stage["Stage Info"].get("Accumulables", []):
        try:
            sums[accumulable["Name"]] += float(accumulable["Value"])
        except (TypeError, ValueError):
            continue
    return dict(sums)


def _is_python_rdd(stage: Event) -> bool:
    return any(r.get("Name") == PYTHON_RDD for r in stage["Stage Info"].get("RDD Info", []))


def stage_breakdown(events: Sequence[Event], input_rows: int) -> dict[str, Any]:
    """Sum the Spark work in ``events`` (one block of code's share of the event log).

    Returns ``jobs`` (jobs started), ``queries`` (SQL executions) and ``actions`` (their
    descriptions' first word counted, e.g. ``{"save": 3, "count": 1}``), ``stages``
    (completed), ``passes`` (records read from files / ``input_rows``; reads of cached data are
    not file input and do not count), ``shuffles`` (stages that wrote shuffle output) and
    ``shuffle_bytes``, ``rows_written`` (records written to files), and task seconds:
    ``task_s`` (executor run time), ``python_s`` (the SQL metric "time to execute Python code"
    plus the whole run time of stages of RDD-API Python functions), ``jvm_s`` (task_s -
    python_s) and ``gc_s``.
    """
    stages = [e for e in events if e["Event"] == "SparkListenerStageCompleted"]
    metrics = [_stage_metrics(s) for s in stages]
    queries = [e for e in events if e["Event"] == SQL_START]
    total = Counter[str]()
    for one in metrics:
        total.update(one)
    rdd_python_ms = sum(
        m.get("internal.metrics.executorRunTime", 0.0)
        for s, m in zip(stages, metrics, strict=True)
        if _is_python_rdd(s)
    )
    task_s = total["internal.metrics.executorRunTime"] / 1000
    python_s = (total[PYTHON_CODE] + rdd_python_ms) / 1000
    return {
        "jobs": sum(e["Event"] == "SparkListenerJobStart" for e in events),
        "queries": len(queries),
        "actions": dict(Counter(q.get("description", "").split(" ")[0] for q in queries)),
        "stages": len(stages),
        "passes": total["internal.metrics.input.recordsRead"] / input_rows if input_rows else 0.0,
        "shuffles": sum(m.get("internal.metrics.shuffle.write.bytesWritten", 0) > 0
                        for m in metrics),
        "shuffle_bytes": total["internal.metrics.shuffle.write.bytesWritten"],
        "rows_written": int(total["internal.metrics.output.recordsWritten"]),
        "task_s": task_s,
        "python_s": python_s,
        "jvm_s": task_s - python_s,
        "gc_s": total["internal.metrics.jvmGCTime"] / 1000,
    }


def job_breakdown(events: Sequence[Event]) -> list[dict[str, Any]]:
    """Each Spark job in ``events``, in the order it started: ``job`` (id), ``name`` (its last
    stage's name: the action and its call site, e.g. ``fold at distributed.py:123``),
    ``seconds`` (submission to completion, wall time), ``records_read`` (from files),
    ``shuffle_bytes`` (written), ``python_s`` and ``task_s`` (as in :func:`stage_breakdown`)."""
    stages = [e for e in events if e["Event"] == "SparkListenerStageCompleted"]
    completed = {e["Stage Info"]["Stage ID"]: e for e in stages}
    ends = {
        e["Job ID"]: e["Completion Time"] for e in events if e["Event"] == "SparkListenerJobEnd"
    }
    jobs = []
    for start in (e for e in events if e["Event"] == "SparkListenerJobStart"):
        ran = [completed[i] for i in start["Stage IDs"] if i in completed]
        metrics = [_stage_metrics(s) for s in ran]
        run_ms = [m.get("internal.metrics.executorRunTime", 0.0) for m in metrics]
        python_ms = sum(
            run if _is_python_rdd(s) else m.get(PYTHON_CODE, 0.0)
            for s, m, run in zip(ran, metrics, run_ms, strict=True)
        )
        last = max(ran, key=lambda s: s["Stage Info"]["Stage ID"]) if ran else None
        jobs.append(
            {
                "job": start["Job ID"],
                "name": last["Stage Info"]["Stage Name"] if last else "",
                "seconds": (ends.get(start["Job ID"], start["Submission Time"])
                            - start["Submission Time"]) / 1000,
                "records_read": int(
                    sum(m.get("internal.metrics.input.recordsRead", 0.0) for m in metrics)
                ),
                "shuffle_bytes": sum(
                    m.get("internal.metrics.shuffle.write.bytesWritten", 0.0) for m in metrics
                ),
                "python_s": python_ms / 1000,
                "task_s": sum(run_ms) / 1000,
            }
        )
    return jobs
