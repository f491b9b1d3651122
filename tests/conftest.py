"""Shared fixtures: one local Spark session for the whole test run."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local SparkSession shared by every test that asks for it."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from causal_targeting.config import SparkConfig
    from causal_targeting.spark import get_spark

    # local[2,2]: two cores, and a failed task is retried once, as on a cluster
    session = get_spark(SparkConfig(master="local[2,2]", shuffle_partitions=2, driver_memory="2g"))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT
