"""The CLI's error contract: a user error is one line and status 2; a bug is one line, status 1
and the traceback in a file."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from causal_targeting.cli import user_errors
from causal_targeting.errors import ConfigError


def test_an_unexpected_error_prints_one_line_and_where_its_traceback_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(typer.Exit) as exited, user_errors():
        raise RuntimeError("py4j said no\nat org.apache.spark.Something")
    assert exited.value.exit_code == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "RuntimeError: py4j said no" in lines[0]
    log = Path(lines[0].split("full traceback in ")[1].split(";")[0])
    text = log.read_text()
    assert "Traceback" in text and "org.apache.spark.Something" in text
    log.unlink()


def test_a_user_error_is_one_line_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exited, user_errors():
        raise ConfigError("config key 'seed': not a number")
    assert exited.value.exit_code == 2
    assert capsys.readouterr().err.strip() == "error: config key 'seed': not a number"
