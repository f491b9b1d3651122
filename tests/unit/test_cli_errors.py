"""The CLI's error contract: a user error is one line and status 2; a bug is one line, status 1
and the traceback in a file."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from causal_targeting.cli import DEFAULT_CONF, spark_settings, user_errors
from causal_targeting.config import SparkConfig, load_config
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


def test_names_with_brackets_print_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """Names may hold brackets: rich markup printed an arm 'Offer [new]' as 'Offer ' (in the
    allocate view's lines and the safeguard's) and 'allocation.exclude_segments=[loyal]' as '='
    in an error."""
    from causal_targeting.allocation.report import SolveReport
    from causal_targeting.cli import console
    from causal_targeting.evaluation.safeguard import SafeguardDecision
    from causal_targeting.stages.allocate import AllocateResult
    from causal_targeting.views import allocate_view

    with pytest.raises(typer.Exit), user_errors():
        raise ConfigError("allocation.exclude_segments=[loyal] names no segment")
    assert capsys.readouterr().err.strip() == (
        "error: allocation.exclude_segments=[loyal] names no segment"
    )
    report = SolveReport(
        status="optimal", method="dual", primal=5.0, dual_bound=5.0, gap=0.0, tolerance=1e-3,
        passes=1, seconds=0.1, customers=10, offers=2, guardrails=(), prices=(),
    )
    values = {"Offer [new]": 0.3, "[bold]b": 0.1}
    static = SafeguardDecision("static", "Offer [new]", -0.01, -0.02, 0.0, 0.8, 0.9, values, values)  # type: ignore[arg-type]
    result = AllocateResult(report, list(values), "r", {"allocation": "work/x"}, static)
    cfg = load_config(Path(__file__).resolve().parents[2] / "conf" / "local.yaml")
    for line in allocate_view(result, cfg):
        console.print(line)
    out = " ".join(capsys.readouterr().out.split())
    assert "allocation of offers 'Offer [new]' and '[bold]b': work/x" in out
    assert "('Offer [new]' to every eligible customer)" in out


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
