"""Progress of long steps: a rich bar fed by Spark's status tracker (tasks done / tasks)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def active_task_counts(spark: SparkSession) -> tuple[int, int]:
    """(completed, total) tasks over the stages running now."""
    tracker = spark.sparkContext.statusTracker()
    done = total = 0
    for stage_id in tracker.getActiveStageIds():
        info = tracker.getStageInfo(stage_id)
        if info is not None:
            done += info.numCompletedTasks
            total += info.numTasks
    return done, total


@contextmanager
def spark_progress(
    spark: SparkSession, description: str, console: Console, interval: float = 0.5
) -> Iterator[None]:
    """Show a transient progress bar of the Spark tasks that run inside the block."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=None)
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(interval):
                done, total = active_task_counts(spark)
                progress.update(task, completed=done, total=total or None)

        thread = threading.Thread(target=poll, name="spark-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
