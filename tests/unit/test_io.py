"""Outputs on a local disk: strict JSON and atomic text files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from causal_targeting.data.io import NANOS_AS_LONG, read_json, set_where_allowed, write_json


def strict_loads(text: str) -> object:
    def refuse(token: str) -> object:
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_json_is_strict_with_non_finite_floats_as_null(tmp_path: Path) -> None:
    report = {
        "mean": math.inf,
        "arms": [{"n": 3, "mean": -math.inf, "var": math.nan}],
        "figures": (np.float32("nan"), np.float64(2.5), 1),
    }
    path = write_json(report, tmp_path / "report.json")
    text = path.read_text()
    for token in ("Infinity", "NaN"):
        assert token not in text
    assert strict_loads(text) == {
        "mean": None,
        "arms": [{"n": 3, "mean": None, "var": None}],
        "figures": [None, 2.5, 1],
    }
    assert read_json(path)["figures"][1] == 2.5


class RefusingConf:
    """A managed session's conf that refuses a legacy setting (Databricks serverless)."""

    def set(self, key: str, value: str) -> None:
        raise RuntimeError(f"[CONFIG_NOT_AVAILABLE] {key}")


class Session:
    def __init__(self, conf: object) -> None:
        self.conf = conf


class RecordingConf:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def set(self, key: str, value: str) -> None:
        self.values[key] = value


def test_nanosecond_timestamps_are_read_where_the_session_allows_the_setting() -> None:
    recorded = RecordingConf()
    set_where_allowed(Session(recorded), NANOS_AS_LONG, "true")  # type: ignore[arg-type]
    assert recorded.values == {NANOS_AS_LONG: "true"}
    set_where_allowed(Session(RefusingConf()), NANOS_AS_LONG, "true")  # type: ignore[arg-type]
