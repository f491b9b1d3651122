"""The report's sections read right: the decision first, human columns, the A/B test always
sized, infeasible budgets named; and the whole report renders in headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causal_targeting.evaluation import sections, verdict
from causal_targeting.evaluation.report import Section, write_report

POLICIES = ["targeting", "propensity", "static_best", "random", "treat_all", "treat_none"]
VALUE = [0.30, 0.25, 0.20, 0.10, 0.35, 0.0]
SOLVED = {
    "customers": 1000, "offers": ["mail", "sms"], "primal": 300.0, "dual_bound": 300.5,
    "gap": 1e-3, "passes": 4,
    "guardrails": [
        {"name": "budget", "kind": "budget", "usage": 80.0, "limit": 100.0,
         "shadow_price": 0.0, "binding": False},
        {"name": "reach", "kind": "contacts", "usage": 399.9999999, "limit": 400.0,
         "shadow_price": 0.25, "binding": True},
    ],
}
COUNTS = pd.DataFrame({"offer": ["mail", "sms", "no offer"], "customers": [300, 100, 600]})


def values_frame(value: list[float] = VALUE) -> pd.DataFrame:
    rows = [
        {"policy": p, "estimator": e, "value": v, "ci_low": v - 0.1, "ci_high": v + 0.1,
         "contacts": 0 if p == "treat_none" else 400, "cost": 40.0}
        for e in ("ips", "dr") for p, v in zip(POLICIES, value, strict=True)
    ]
    return pd.DataFrame(rows)


def differences(same: float = 0.7) -> pd.DataFrame:
    return pd.DataFrame({"policy": "targeting", "baseline": ["propensity"], "estimator": ["dr"],
                         "difference": [0.05], "ci_low": [0.01], "ci_high": [0.09],
                         "p_value": [2 / 1001], "same_decisions": [same]})


def decision_text(**kwargs: object) -> str:
    section = verdict.decision_section(
        COUNTS, values_frame(), SOLVED, currency="$", estimator="dr", alpha=0.05, **kwargs
    )
    return section.paragraphs[0]


def test_the_guardrail_section_names_the_offers_quoted() -> None:
    """As everywhere in the report: offers named '10% off, new' read as one offer."""
    text = sections.guardrail_section(SOLVED, "$").paragraphs[0]
    assert text.startswith("Allocated 1,000 customers over offers 'mail' and 'sms': total value")


def test_decision_says_who_gets_what_the_value_and_the_binding_guardrails() -> None:
    text = decision_text()
    assert text.startswith("Send 'mail' to 300 customers, 'sms' to 100 customers (400 of 1,000")
    assert "600 get no offer" in text
    assert "('propensity'), targeting is worth +$0.0500 per customer" in text
    assert "not of their difference" in text
    assert "reach (contacts, 400 of 400 used): one more unit is worth $0.25" in text
    assert "budget (budget" not in text


def test_decision_uses_the_paired_difference_when_there_is_one() -> None:
    text = decision_text(differences=differences())
    assert "paired 95% CI [+0.0100, +0.0900] (p = 0.002)" in text


def test_a_paired_bound_just_above_zero_keeps_its_sign_and_size() -> None:
    tiny = differences().assign(ci_low=[2.1e-05])
    text = decision_text(differences=tiny)
    assert "paired 95% CI [+2.1e-05, +0.0900]" in text
    line = verdict.verdict_line(tiny, "dr", 0.05)
    assert "Targeting beats the best baseline ('propensity')" in line
    assert "CI [+2.1e-05, +0.0900]" in line


def test_decision_says_when_the_best_baseline_is_the_same_policy() -> None:
    """A baseline that decides as targeting for every customer is not 'worth +0.0000 [0, 0]'
    against it: the paragraph says it is the same policy."""
    text = decision_text(differences=differences(same=1.0))
    assert "('propensity') makes the same decision as targeting for every evaluated customer" in (
        text
    )
    assert "paired 95% CI" not in text


def test_decision_counts_by_segment() -> None:
    by_segment = pd.DataFrame({"region": ["n", "n", "s"], "offer": ["mail", "no offer", "mail"],
                               "customers": [5, 7, 9]})
    section = verdict.decision_section(
        by_segment, values_frame(), SOLVED, currency="$", estimator="dr", alpha=0.05
    )
    caption, table = section.tables[0]
    assert caption == "Customers by segment and offer"
    assert list(table.columns) == ["region", "mail", "no offer"]
    assert table.to_numpy().tolist() == [["n", "5", "7"], ["s", "9", "0"]]


def test_value_table_has_human_columns_in_a_fixed_order() -> None:
    table = sections.value_table(values_frame(), "$")
    assert list(table.columns) == [
        "Policy", "Contacts", "Offer cost on the evaluated rows ($)",
        "IPS value per customer ($) [CI]", "DR value per customer ($) [CI]",
    ]
    assert table.iloc[5, 4] == "0.0000 [-0.1000, 0.1000]"


def test_no_ab_test_is_sized_against_a_baseline_that_decides_as_targeting() -> None:
    """Targeting and the best baseline send the same offers to every customer (a safeguard's
    no offer, and propensity scoring with no contacts): a test of a policy against itself has
    no lift to size for (before: 39,245 customers a policy)."""
    same = sections.design_section(
        values_frame(), 2.0, 0.05, "dr", "$", 1000, differences(same=1.0)
    )
    assert not same.tables
    assert same.paragraphs[0].startswith("No test is sized: the best baseline")
    assert "('propensity') makes the same decision as targeting" in same.paragraphs[0]
    sized = sections.design_section(
        values_frame(), 2.0, 0.05, "dr", "$", 1000, differences(same=0.7)
    )
    assert sized.tables and sized.paragraphs[0].startswith("To confirm targeting")


@pytest.mark.parametrize("ours", [0.30, 0.20])
def test_ab_test_is_always_sized(ours: float) -> None:
    value = [ours, *VALUE[1:]]
    section = sections.design_section(values_frame(value), 2.0, 0.05, "dr", "$", 1000)
    _, table = section.tables[0]
    lift = table.iloc[0, 0]
    assert lift == ("0.0500" if ours > 0.25 else "0.0400")  # observed, else 0.02 sd
    assert int(table.iloc[0, 3].replace(",", "")) > 0
    assert ("minimum detectable lift" in section.paragraphs[0]) == (ours < 0.25)


def test_infeasible_frontier_rows_say_so() -> None:
    frontier = pd.DataFrame({
        "budget": [10.0, 20.0], "value": [np.nan, 5.0], "dual_bound": [np.nan, 5.0],
        "gap": [np.nan, 0.0], "offers": [0, 2], "shadow_price": [np.nan, 0.1],
        "feasible": [False, True], "infeasible": ["min_mail", np.nan],
    })
    _, table = sections.frontier_section(frontier, "$").tables[0]
    assert table["Status"].tolist() == ["infeasible (min_mail)", "solved"]
    assert "nan" not in table.to_string() and "n/a" not in table.to_string()


def test_a_frontier_beside_a_static_allocation_says_it_is_of_the_targeting() -> None:
    frontier = pd.DataFrame({
        "budget": [10.0], "value": [5.0], "dual_bound": [5.0], "gap": [0.0], "offers": [2],
        "shadow_price": [0.1], "feasible": [True],
    })
    note = sections.static_frontier_note(sections.OUT_OF_FOLD)
    assert note not in sections.frontier_section(frontier, "$").paragraphs
    static = sections.frontier_section(frontier, "$", static=True)
    assert static.paragraphs[-1] == note and "the out-of-fold evidence" in note
    held = sections.frontier_section(frontier, "$", static=True, rows=sections.HOLDOUT)
    assert "the holdout evidence did not show" in held.paragraphs[-1]


def every_section() -> list[Section]:
    rng = np.random.default_rng(0)
    curves = pd.DataFrame({
        "arm": "mail", "outcome": "visit", "n": np.arange(1, 11) * 10,
        "qini": np.cumsum(rng.random(10)), "uplift": np.cumsum(rng.random(10)),
    })
    metrics = pd.DataFrame({"arm": ["mail"], "outcome": ["visit"], "n_t": [50], "n_c": [50],
                            "qini": [0.1], "auuc": [0.05], "qini_unnormalized": [1.0],
                            "auuc_unnormalized": [2.0]})
    ingest = {"alpha": 0.05, "rows_read": {"experiment": 100}, "quarantined": {"experiment": {}},
              "effects": [{"arm": "mail", "outcome": "visit", "n": 50, "control_mean": 0.1,
                           "mean": 0.2, "effect": 0.1, "ci_low": 0.0, "ci_high": 0.2,
                           "p_value": 0.04}]}
    frontier = pd.DataFrame({"budget": [10.0, 20.0], "value": [np.nan, 5.0],
                             "dual_bound": [np.nan, 5.0], "gap": [np.nan, 0.0], "offers": [0, 2],
                             "shadow_price": [np.nan, 0.1], "feasible": [False, True],
                             "infeasible": ["min_mail", ""]})
    values = values_frame()
    return [
        verdict.decision_section(COUNTS, values, SOLVED, currency="$", estimator="dr",
                                  alpha=0.05, differences=differences()),
        sections.data_section(ingest),
        sections.model_section(metrics, curves, "models:/m/1"),
        sections.policy_section(values, 1000, "dr", "$", differences()),
        sections.design_section(values, 2.0, 0.05, "dr", "$", 1000),
        sections.guardrail_section(SOLVED, "$"),
        sections.frontier_section(frontier, "$"),
    ]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is not installed (make test installs it)",
)
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    from PIL import Image

    assert CHROMIUM is not None, "chromium is required on CI"
    parts = every_section()
    page = write_report(tmp_path / "report" / "index.html", "Targeting evidence", "t", parts)
    browser = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [*browser, "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    for section in parts:
        assert f'<section id="{section.slug}">' in dom
    assert dom.index('id="decision"') < dom.index('id="data-and-quarantine"')
    shot = tmp_path / "page.png"
    subprocess.run(
        [*browser, "--window-size=1200,2400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=300, check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2400, 1200)
    assert pixels.std() > 20  # not blank: the dark header, text and plots on a light page
    assert (pixels < 80).mean() > 0.01


def test_decision_says_when_the_safeguard_allocated_the_static_policy() -> None:
    line = "Safeguard: targeting NOT better than the best static policy, using it; ..."
    static = {**SOLVED, "safeguard": {"kind": "static", "static_arm": "mail", "line": line}}
    text = verdict.decision_section(
        COUNTS, values_frame(), static, currency="$", estimator="dr", alpha=0.05
    ).paragraphs[0]
    assert f"This is the best static policy, not the model's targeting: the out-of-fold evidence " \
        f"did not show targeting to be better ({line})." in text
    assert "best static policy" not in decision_text()
    held = verdict.decision_section(
        COUNTS, values_frame(), static, currency="$", estimator="dr", alpha=0.05, rows="holdout"
    ).paragraphs[0]
    assert "the holdout evidence did not show targeting to be better" in held
    assert "out-of-fold" not in held


def test_decision_says_when_the_targeting_is_the_static_policy_itself() -> None:
    line = "Safeguard: the targeted policy is the best static policy (no offer to anyone) ..."
    safeguard = {"kind": "static", "static_arm": "none", "line": line, "same_policy": True}
    text = verdict.decision_section(
        COUNTS, values_frame(), {**SOLVED, "safeguard": safeguard}, currency="$", estimator="dr",
        alpha=0.05,
    ).paragraphs[0]
    assert f"The model's targeting is the best static policy here ({line})." in text
    assert "did not show targeting to be better" not in text


def test_no_offer_to_anyone_names_no_guardrail_of_limit_0_as_binding() -> None:
    """The safeguard allocated no offer to anyone under a budget that is a share of the static
    policy's cost (0): '0 of 0 used' binds nothing it chose and is not named; a static offer's
    binding budget still is."""
    nothing = {
        **SOLVED,
        "guardrails": [{"name": "budget", "kind": "budget", "usage": 0.0, "limit": 0.0,
                        "shadow_price": None, "binding": True}],
    }
    assert verdict.guardrails_text(nothing, "$") == (
        "No guardrail binds: loosening any of them would not add value."
    )
    capped = {
        **SOLVED,
        "guardrails": [{"name": "budget", "kind": "budget", "usage": 150.0, "limit": 150.0,
                        "shadow_price": None, "binding": True}],
    }
    assert verdict.guardrails_text(capped, "$") == "Binding guardrails: budget (150 of 150 used)."
