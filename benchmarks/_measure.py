"""Wall time and peak resident memory of a block of benchmark code."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psutil

T = TypeVar("T")


@contextmanager
def peak_memory(interval: float = 0.2) -> Iterator[dict[str, float]]:
    """Sample resident memory (GB) every ``interval`` s while the block runs.

    Yields ``{"tree": peak of this process and all its children (the JVM, Python workers),
    "driver": peak of this Python process alone}``, filled in as the block runs.
    """
    peak = {"tree": 0.0, "driver": 0.0}
    done = threading.Event()
    me = psutil.Process()

    def sample() -> None:
        while not done.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                if process.pid == me.pid:
                    peak["driver"] = max(peak["driver"], rss / 2**30)
            peak["tree"] = max(peak["tree"], total / 2**30)
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
