"""The CLI's error contract: a user error is one line and status 2; a bug is one line, status 1
and the traceback in a file."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from causal_targeting.cli import DEFAULT_CONF, spark_settings, user_errors
from causal_targeting.config import SparkConfig
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


def test_abtest_readout_runs_outside_the_project_folder_on_the_default_spark_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside the repository conf/local.yaml is absent: the readout, which reads only the table
    it is given, uses the default Spark settings (it stopped with 'config file conf/local.yaml
    cannot be read'); a config named or overridden must still be read."""
    monkeypatch.chdir(tmp_path)
    assert spark_settings(DEFAULT_CONF, None) == SparkConfig()
    with pytest.raises(ConfigError, match="cannot be read"):
        spark_settings(tmp_path / "mine.yaml", None)
    with pytest.raises(ConfigError, match="cannot be read"):
        spark_settings(DEFAULT_CONF, ["spark.master=local[1]"])
    local = Path(__file__).resolve().parents[2] / "conf" / "local.yaml"
    (tmp_path / "mine.yaml").write_text(f"inherit: {local}\nspark: {{master: 'local[1]'}}\n")
    assert spark_settings(tmp_path / "mine.yaml", None).master == "local[1]"
