"""The allocate stage's table says what the figures are: a certified optimum when targeting is
used, a static policy's predicted value (and no shadow prices) when the safeguard chose it."""

from __future__ import annotations

from rich.console import Console

from causal_targeting.allocation.report import GuardrailReport, SolveReport
from causal_targeting.evaluation.safeguard import SafeguardDecision
from causal_targeting.stages.allocate import AllocateResult, static_report
from causal_targeting.views import solve_table

REPORT = SolveReport(
    status="optimal", method="dual", primal=500.0, dual_bound=500.2, gap=4e-4, tolerance=1e-3,
    passes=7, seconds=1.5, customers=1000, offers=2,
    guardrails=(GuardrailReport("reach", "contacts", 400.0, 400.0, 1.0, True),), prices=(1.0,),
)


def rendered(result: AllocateResult) -> str:
    console = Console(width=200, record=True)
    console.print(solve_table(result, "$"))
    return console.export_text()


def decision(kind: str) -> SafeguardDecision:
    values = {"mail": 0.3}
    return SafeguardDecision(kind, "mail", -0.01, -0.02, 0.0, 0.8, 0.9, values)  # type: ignore[arg-type]


def test_targeting_shows_the_certified_value_and_prices() -> None:
    text = rendered(AllocateResult(REPORT, ["mail"], "r", {}, decision("targeted")))
    assert "total value $500.00, dual bound $500.20, certified gap 4.00e-04" in text
    assert "n/a" not in text


def test_a_static_policy_shows_its_predicted_value_and_no_prices() -> None:
    report = static_report(REPORT, 321.0)
    text = rendered(AllocateResult(report, ["mail"], "r", {}, decision("static")))
    assert "best static policy: predicted net value $321.00" in text
    assert "certified gap" not in text
    assert "n/a" in text  # the shadow price of the constant-gain problem is not shown
    assert report.guardrails[0].usage == 400.0 and report.guardrails[0].binding
