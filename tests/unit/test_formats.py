"""Numbers that read right: no -0, no bare nan, p-values that underflowed, units in views."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from causal_targeting import views
from causal_targeting.allocation.dual import PassLog
from causal_targeting.config import load_config
from causal_targeting.evaluation.safeguard import SafeguardDecision
from causal_targeting.evaluation.uplift import NORMALIZED_UNDEFINED
from causal_targeting.formats import amount, duration, number, p_value, signed


def rendered(renderable: object) -> str:
    console = Console(width=250, record=True)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize(
    ("value", "spec", "text"),
    [(-0.00001, ".4f", "0.0000"), (-0.0, "+.2f", "0.00"), (-1e-9, ".2e", "-1.00e-09"),
     (-0.5, ".2f", "-0.50"), (float("nan"), ".2f", "n/a"), (None, ".2f", "n/a")],
)
def test_number_never_prints_minus_zero_or_nan(value: float, spec: str, text: str) -> None:
    assert number(value, spec) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0523, "+0.0523"), (-0.0712, "-0.0712"), (0.001023, "+0.00102"), (2.134e-05, "+2.13e-05"),
     (-4e-06, "-4e-06"), (0.0, "+0.0000"), (-12.968, "-12.9680"), (None, "n/a")],
)
def test_signed_keeps_the_sign_and_size_of_a_small_difference(value: float, text: str) -> None:
    assert signed(value) == text


def test_the_safeguard_never_keeps_targeting_on_a_bound_that_reads_zero() -> None:
    kept = SafeguardDecision("targeted", "1", 0.00104, 2.1e-05, 0.002, 0.098, 0.9, {}, {})
    line = kept.line("0")
    assert "+0.00104 per customer, 90% lower bound +2.1e-05, one-sided p 0.098" in line
    assert "+0.0000" not in line


def test_p_values_below_the_floor_say_so() -> None:
    assert p_value(0.0) == "<1e-300"
    assert p_value(3.2e-44) == "3.2e-44"


def test_amounts_carry_the_currency() -> None:
    assert amount(-3.5, "$") == "-$3.50"
    assert amount(2240.0, "value units") == "2,240.00 value units"


def test_qini_of_a_continuous_outcome_is_not_nan() -> None:
    metrics = pd.DataFrame({"arm": ["a"], "outcome": ["spend"], "n_t": [10], "n_c": [10],
                            "qini": [np.nan], "auuc": [np.nan], "qini_unnormalized": [-0.0]})
    text = rendered(views.metrics_table(metrics))
    assert NORMALIZED_UNDEFINED in text
    assert "nan" not in text and "-0" not in text


def test_infeasible_frontier_rows_name_the_guardrail(root: Path) -> None:
    frame = pd.DataFrame({
        "budget": [10.0, 20.0], "value": [np.nan, 5.0], "dual_bound": [np.nan, 5.0],
        "gap": [np.nan, 0.0], "offers": [0, 2], "shadow_price": [np.nan, 0.1],
        "feasible": [False, True], "infeasible": ["min_offer", ""],
    })
    result = SimpleNamespace(frame=frame, paths={"frontier": "f.csv", "plot": "f.png"})
    text = rendered(views.frontier_view(result, load_config(root / "conf" / "local.yaml"))[0])
    assert "infeasible (min_offer)" in text
    assert "nan" not in text
    assert "budget ($)" in text


def test_pass_line_says_what_primal_is() -> None:
    log = PassLog(3, np.zeros(1), 1.0, 12.0, 0.0, 10.0, 0.01)
    assert "primal (this pass's repaired allocation) 10.00" in views.pass_line(log)


def test_policy_values_are_per_customer_in_the_currency() -> None:
    values = pd.DataFrame({"policy": ["targeting"], "estimator": ["dr"], "value": [0.5],
                           "ci_low": [-0.0], "ci_high": [1.0], "contacts": [3]})
    text = rendered(views.values_table(values, "dr", "$", "out-of-fold"))
    assert "value per customer ($)" in text
    assert "-0" not in text


def test_signed_amounts_put_the_sign_before_the_currency() -> None:
    assert amount(0.05, "$", "+.4f") == "+$0.0500"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0 s"), (42.4, "42 s"), (59.6, "1 min 00 s"), (266.0, "4 min 26 s"),
     (3720.0, "1 h 02 min")],
)  # fmt: skip
def test_a_stages_wall_time_reads_in_seconds_minutes_or_hours(seconds: float, text: str) -> None:
    assert duration(seconds) == text
