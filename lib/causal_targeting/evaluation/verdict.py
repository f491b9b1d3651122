"""The report's verdict: the decision in one paragraph, and targeting against each baseline.

The paragraph says who gets which offer, the value against the best baseline (a paired
difference with its CI when the paired differences are given), the guardrails that bind and
what one more unit of each is worth; the differences section gives targeting minus every
baseline with paired bootstrap CIs and says whether targeting beats the best one that respects
the guardrails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from causal_targeting.evaluation.report import Section, display_table
from causal_targeting.evaluation.sections import (
    NO_OFFER,
    OUT_OF_FOLD,
    SAME_CONTACTS,
    interval,
    lift_over_baselines,
    paired_row,
    whole,
)
from causal_targeting.formats import (
    amount,
    number,
    p_value,
    quantity,
    quoted,
    signed,
    signed_interval,
    signed_spec,
)


def versus_best_text(
    values: pd.DataFrame,
    differences: pd.DataFrame | None,
    estimator: str,
    currency: str,
    level: int,
) -> str:
    """Our value against the best same-contacts baseline, paired CI when there is one."""
    ours, rival, best = lift_over_baselines(values, estimator)
    rows = values[values["estimator"] == estimator].set_index("policy")
    paired = paired_row(differences, rival, estimator)
    if paired is not None and paired["same_decisions"] == 1.0:
        return (
            f"The best baseline with the same contacts and budget ('{rival}') makes the same "
            "decision as targeting for every evaluated customer: the same policy, worth the same."
        )
    head = (
        f"Against the best baseline with the same contacts and budget ('{rival}'), targeting is "
        f"worth {amount(ours - best, currency, signed_spec(ours - best))} per customer "
        f"({estimator.upper()})"
    )
    if paired is not None:
        return (
            f"{head}, paired {level}% CI {signed_interval(paired['ci_low'], paired['ci_high'])} "
            f"(p = {p_value(paired['p_value'])})."
        )
    return (
        f"{head}: the difference of the two policies' values, {number(ours, '.4f')} "
        f"{interval(rows.loc['targeting', 'ci_low'], rows.loc['targeting', 'ci_high'])} and "
        f"{number(best, '.4f')} {interval(rows.loc[rival, 'ci_low'], rows.loc[rival, 'ci_high'])}"
        f" ({level}% CIs of each policy, not of their difference)."
    )


def counts_text(counts: pd.DataFrame) -> str:
    """"Send 'Mens E-Mail' to 18,616 customers, 'Womens E-Mail' to 3,784 customers (22,400 of
    64,000 customers); 41,600 get no offer." Offers are quoted, as everywhere in the report: an
    arm may be named '2' or 'no'."""
    by_offer = counts.groupby("offer", sort=False)["customers"].sum()
    given = by_offer.drop(NO_OFFER, errors="ignore").sort_values(ascending=False)
    sent = ", ".join(f"'{offer}' to {n:,} customers" for offer, n in given.items())
    total = int(by_offer.sum())
    rest = int(by_offer.get(NO_OFFER, 0))
    return (
        f"Send {sent or 'no offer at all'} ({int(given.sum()):,} of {total:,} customers); "
        f"{rest:,} get no offer."
    )


def guardrails_text(solve_report: Mapping[str, Any], currency: str) -> str:
    """The binding guardrails and the value of one more unit of each. A static policy has no
    prices; a guardrail of limit 0 that it leaves unused (a share of the cost of no offer to
    anyone, which is 0) binds nothing it chose, and is not named."""
    binding = [g for g in solve_report["guardrails"] if g["binding"]]
    static = any(g["shadow_price"] is None for g in binding)
    if static:
        binding = [g for g in binding if not (g["usage"] == 0 and g["limit"] == 0)]
    if not binding:
        return "No guardrail binds: loosening any of them would not add value."
    if static:
        names = ", ".join(f"{g['name']} ({quantity(g['usage'])} of {quantity(g['limit'])} used)"
                          for g in binding)
        return f"Binding guardrails: {names}."
    worth = "; ".join(
        f"{g['name']} ({g['kind']}, {quantity(g['usage'])} of {quantity(g['limit'])} used): one "
        f"more unit is worth {amount(g['shadow_price'], currency, ',.4g')}"
        for g in binding
    )
    return f"Binding guardrails: {worth}."


def safeguard_text(safeguard: Mapping[str, Any] | None, rows: str = OUT_OF_FOLD) -> list[str]:
    """When the safeguard allocated the best static policy (or part of the targeting), the
    sentence that says so, naming its evidence by the evaluated ``rows`` (the policy valued as
    'targeting' is then that policy, not the model's targeting, unless the two are the same
    policy: ``same_policy``)."""
    if not safeguard or safeguard["kind"] == "targeted":
        return []
    if safeguard["kind"] == "partial":
        return [
            f"This is part of the model's targeting: the {rows} evidence did not show the whole "
            "of it to be better than the best static policy, but did show its departures from "
            f"that policy of largest predicted gain ({safeguard['line']}). The figures named "
            "'targeting' value this allocated policy."
        ]
    if safeguard.get("same_policy"):
        return [f"The model's targeting is the best static policy here ({safeguard['line']})."]
    return [
        f"This is the best static policy, not the model's targeting: the {rows} evidence did "
        f"not show targeting to be better ({safeguard['line']}). The figures named 'targeting' "
        "value this allocated policy."
    ]


def decision_section(
    counts: pd.DataFrame,
    values: pd.DataFrame,
    solve_report: Mapping[str, Any],
    *,
    currency: str,
    estimator: str,
    alpha: float,
    differences: pd.DataFrame | None = None,
    rows: str = OUT_OF_FOLD,
) -> Section:
    """The decision in one paragraph: who gets which offer, its value against the best baseline,
    the guardrails that bind and what one more unit of each is worth.

    Args:
        counts: customers per offer (``offer``, ``customers``; customers without an offer under
            :data:`NO_OFFER`), with one more column per segment when there are segments.
        values: :func:`causal_targeting.evaluation.policy_value.policy_values` output.
        solve_report: the allocate stage's report.
        differences: paired differences (``baseline``, ``estimator``, ``ci_low``, ``ci_high``,
            ``p_value``) of our policy against each baseline, when they were computed.
        rows: the evaluated rows (out-of-fold or holdout), the safeguard's evidence.
    """
    level = round(100 * (1 - alpha))
    text = " ".join(
        [
            counts_text(counts),
            *safeguard_text(solve_report.get("safeguard"), rows),
            versus_best_text(values, differences, estimator, currency, level),
            guardrails_text(solve_report, currency),
        ]
    )
    segments = [c for c in counts.columns if c not in ("offer", "customers")]
    if segments:
        wide = counts.pivot_table(
            index=segments, columns="offer", values="customers", aggfunc="sum", fill_value=0
        ).reset_index()
        offers = wide.columns[len(segments) :]
        formats = {c: (str(c), str) for c in segments} | {o: (str(o), whole) for o in offers}
        table = display_table(wide, formats)
        caption = "Customers by segment and offer"
    else:
        totals = counts.groupby("offer", sort=False)["customers"].sum().reset_index()
        table = display_table(totals, {"offer": ("Offer", str), "customers": ("Customers", whole)})
        caption = "Customers by offer"
    return Section("Decision", [text], tables=[(caption, table)])


COMPARABLE = (*SAME_CONTACTS, "treat_none")
"""The baselines that respect the guardrails: the verdict compares targeting with these."""


def difference_text(row: pd.Series, estimator: str, alpha: float) -> str:
    """"+0.0123 per customer (DR), 95% paired CI [+0.0010, +0.0236], p = 0.031"."""
    return (
        f"{signed(row['difference'])} per customer ({estimator.upper()}), {1 - alpha:.0%} paired "
        f"CI {signed_interval(row['ci_low'], row['ci_high'])}, p = {row['p_value']:.3f}"
    )


def verdict_line(differences: pd.DataFrame, estimator: str, alpha: float) -> str:
    """Whether targeting beats the best guardrail-respecting baseline significantly.

    A baseline that chooses the same arm as targeting on every row (``same_decisions`` 1, e.g.
    every same-contacts baseline when the safeguard allocated one arm to everyone) is the same
    policy: when it is the best, the line says so and compares targeting with the best of the
    others instead of reporting a difference of exactly zero.
    """
    rows = differences[
        (differences["estimator"] == estimator) & differences["baseline"].isin(COMPARABLE)
    ]
    alike = rows["same_decisions"] == 1.0
    best = rows.loc[rows["difference"].idxmin()]
    if best["same_decisions"] < 1.0:
        significant = best["ci_low"] > 0
        line = (
            f"Targeting {'beats' if significant else 'does not significantly beat'} the best "
            f"baseline ('{best['baseline']}'): {difference_text(best, estimator, alpha)}."
        )
        if alike.any():
            alike_names = quoted(rows.loc[alike, "baseline"])
            line += f" It decides as {alike_names} for every evaluated customer."
        return line
    line = (
        "Targeting does not beat the best baseline: it decides as "
        f"{quoted(rows.loc[alike, 'baseline'])} for every evaluated customer (the same policy)"
    )
    if alike.all():
        return f"{line}."
    others = rows[~alike]
    second = others.loc[others["difference"].idxmin()]
    return (
        f"{line}; against the best of the others ('{second['baseline']}'): "
        f"{difference_text(second, estimator, alpha)}."
    )


def difference_section(
    differences: pd.DataFrame,
    estimator: str,
    alpha: float,
    safeguard: Mapping[str, Any] | None = None,
) -> Section:
    """Targeting minus each baseline with paired bootstrap CIs, the verdict and the safeguard."""
    lines = [verdict_line(differences, estimator, alpha)]
    if safeguard is not None:
        lines.append(str(safeguard["line"]))
    rows = differences[differences["estimator"] == estimator]
    level = f"{1 - alpha:.0%}"
    shown = display_table(
        rows.assign(ci=[signed_interval(lo, hi) for lo, hi in rows[["ci_low", "ci_high"]].values]),
        {
            "baseline": ("Baseline", str),
            "difference": ("Targeting minus baseline, per customer", signed),
            "ci": (f"{level} paired CI", str),
            "p_value": ("p-value", p_value),
            "same_decisions": ("Customers with the same decision", ".1%"),
        },
    )
    return Section(
        "Targeting against each baseline",
        lines,
        tables=[(f"Paired differences ({estimator.upper()}; every estimator in "
                 "policy_differences.csv)", shown)],
    )


