"""The allocate stage's table says what the figures are: a certified optimum when targeting is
used, a static policy's predicted value (and no shadow prices) when the safeguard chose it."""

from __future__ import annotations

from dataclasses import replace

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
    return SafeguardDecision(kind, "mail", -0.01, -0.02, 0.0, 0.8, 0.9, values, values)  # type: ignore[arg-type]


def test_targeting_shows_the_certified_value_and_prices() -> None:
    text = rendered(AllocateResult(REPORT, ["mail"], "r", {}, decision("targeted")))
    assert "total value $500.00, dual bound $500.20, certified gap 4.00e-04" in text
    assert "n/a" not in text


def test_a_static_policy_shows_its_predicted_value_and_no_prices() -> None:
    report = static_report(REPORT, 321.0)
    text = rendered(AllocateResult(report, ["mail"], "r", {}, decision("static")))
    assert "best static policy: predicted net value $321.00" in text
    assert "(the model's scores, not evidence" in " ".join(text.split())  # see the line
    assert "certified gap" not in text
    assert "n/a" in text  # the shadow price of the constant-gain problem is not shown
    assert report.guardrails[0].usage == 400.0 and report.guardrails[0].binding


def test_a_partial_policy_shows_its_predicted_value_and_says_what_part_it_is() -> None:
    report = static_report(REPORT, 410.0)
    result = AllocateResult(report, ["mail"], "r", {}, decision("partial"))
    text = " ".join(rendered(result).split())
    assert "departures from the best static policy of largest predicted gain" in text
    assert "predicted net value $410.00" in text and "certified gap" not in text


def test_the_report_says_when_part_of_the_targeting_was_kept() -> None:
    from causal_targeting.evaluation.verdict import safeguard_text

    kept = {"kind": "partial", "line": "Safeguard: targeting kept for its 50% departures ..."}
    (text,) = safeguard_text(kept)
    assert text.startswith("This is part of the model's targeting") and kept["line"] in text
    assert safeguard_text({"kind": "targeted", "line": "x"}) == []


def test_no_guardrails_print_one_line_not_an_empty_table() -> None:
    report = replace(REPORT, guardrails=(), prices=(), passes=1)
    text = rendered(AllocateResult(report, ["mail"], "r", {}, decision("targeted")))
    assert text.strip() == (
        "Allocation: total value $500.00, dual bound $500.20, certified gap 4.00e-04 after 1 "
        "pass (1.5 s); no guardrails"
    )


def test_evaluate_ends_with_the_decision_and_the_verdict_before_the_report_path() -> None:
    """The terminal shows the report's opening lines after the tables: what was sent (and, when
    the safeguard chose a static policy, that it is not the model's targeting) and whether
    targeting beats the best baseline, with its paired CI."""
    from pathlib import Path

    import pandas as pd

    from causal_targeting.config import load_config
    from causal_targeting.stages.evaluate import EvaluateResult
    from causal_targeting.views import evaluate_view

    cfg = load_config(Path(__file__).resolve().parents[2] / "conf" / "local.yaml")
    values = pd.DataFrame(
        {"policy": ["targeting", "static_best"], "estimator": "dr", "value": [0.26, 0.25],
         "ci_low": [0.21, 0.20], "ci_high": [0.30, 0.29], "contacts": [22_400, 22_400]}
    )
    differences = pd.DataFrame(
        {"baseline": ["static_best"], "estimator": "dr", "difference": [0.0065],
         "ci_low": [-0.0348], "ci_high": [0.0501], "p_value": [0.772], "same_decisions": [0.4]}
    )
    headline = [
        "Send '[mens] E-Mail' to 22,400 customers. This is the best static policy, not the "
        "model's targeting.",
        "Targeting does not significantly beat the best baseline ('static_best'): +0.0065.",
    ]
    shown = evaluate_view(EvaluateResult(values, "r/index.html", {}, differences, headline), cfg)
    console = Console(width=200, record=True)
    for part in shown:
        console.print(part)
    text = console.export_text()
    tables = text.index("Targeting minus each baseline")
    assert "same decision" in text and "40.0%" in text
    sent, verdict = text.index(headline[0]), text.index(headline[1])
    assert tables < sent < verdict < text.index("report: r/index.html")
