"""Wall time and peak resident memory of a block of benchmark code."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psutil

T = TypeVar("T")


def process_kind(process: psutil.Process, driver_pid: int) -> str:
    """``"driver"`` (the Python process running the benchmark), ``"jvm"`` (Spark's JVM, a
    ``java`` process) or ``"workers"`` (any other descendant: the Python workers)."""
    if process.pid == driver_pid:
        return "driver"
    return "jvm" if process.name().startswith("java") else "workers"


@contextmanager
def peak_memory(interval: float = 0.2) -> Iterator[dict[str, float]]:
    """Sample resident memory (GB) every ``interval`` s while the block runs.

    Yields the peaks, filled in as the block runs: ``"tree"`` (this process and all its
    children together), and apart ``"driver"`` (this Python process), ``"jvm"`` (Spark's JVM)
    and ``"workers"`` (all Python workers together), each the peak of its own sum.
    """
    peak = {"tree": 0.0, "driver": 0.0, "jvm": 0.0, "workers": 0.0}
    done = threading.Event()
    me = psutil.Process()

    def sample() -> None:
        while not done.is_set():
            sums = {"driver": 0, "jvm": 0, "workers": 0}
            for process in [me, *me.children(recursive=True)]:
                try:
                    sums[process_kind(process, me.pid)] += process.memory_info().rss
                except psutil.Error:
                    continue
            for kind, rss in [*sums.items(), ("tree", sum(sums.values()))]:
                peak[kind] = max(peak[kind], rss / 2**30)
            done.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


def timed(function: Callable[[], T]) -> tuple[T, float]:
    """``function()`` and the wall-clock seconds it took."""
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started
