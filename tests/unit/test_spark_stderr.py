"""The JVM's stderr reaches ours without its start-up notice; real warnings pass."""

from __future__ import annotations

import io

import pytest

from causal_targeting.spark import forward_stderr


def test_jvm_notice_is_dropped_and_warnings_pass(capfd: pytest.CaptureFixture[str]) -> None:
    jvm = io.BytesIO(
        b"WARNING: Using incubator modules: jdk.incubator.vector\n"
        b"12:00:00 WARN TaskSetManager: Lost task 0.0\n"
    )
    forward_stderr(jvm)
    err = capfd.readouterr().err
    assert err == "12:00:00 WARN TaskSetManager: Lost task 0.0\n"
