"""The sections of the evidence report, each built from the outputs of one stage.

Tables are shown with human column names, a fixed column order and one number format per column
(:func:`causal_targeting.evaluation.report.display_table`); amounts carry the value model's
currency in their headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from causal_targeting.evaluation.abtest import sample_size
from causal_targeting.evaluation.figures import (
    curves_figure,
    difference_figure,
    policy_value_figure,
    reliability_figure,
)
from causal_targeting.evaluation.report import Section, display_table
from causal_targeting.evaluation.uplift import NORMALIZED_UNDEFINED
from causal_targeting.formats import amount, number, p_value, quoted, unit_label

NO_OFFER = "no offer"
"""How the allocation's customers without an offer are counted."""
MIN_STANDARDIZED_LIFT = 0.02
"""Lift the A/B test is sized for when the evaluated rows show none: 0.02 standard deviations of the
per-customer value. Per-customer effects of marketing offers are small against the spread of
customer value (Hillstrom's e-mails move spend by about 0.02-0.05 sd), and the test of a smaller
lift would rarely be worth running; stated in the section so that a reader can redo it."""


def whole(value: float) -> str:
    """A count with thousands separators."""
    return f"{int(value):,}"


def interval(low: float, high: float, spec: str = ".4f") -> str:
    """``[low, high]`` with one format."""
    return f"[{number(low, spec)}, {number(high, spec)}]"


def data_section(ingest_report: Mapping[str, Any]) -> Section:
    """Rows read and quarantined per table and reason; each arm's effect against control."""
    quarantined = [
        {"table": table, "reason": reason, "rows": n}
        for table, reasons in ingest_report["quarantined"].items()
        for reason, n in reasons.items()
    ]
    reads = ", ".join(f"{table}: {n:,} rows" for table, n in ingest_report["rows_read"].items())
    effects = pd.DataFrame(ingest_report["effects"])
    effects["ci"] = [interval(lo, hi, "+.4f") for lo, hi in effects[["ci_low", "ci_high"]].values]
    level = round(100 * (1 - ingest_report["alpha"]))
    shown = display_table(
        effects,
        {
            "arm": ("Arm", str),
            "outcome": ("Outcome", str),
            "n": ("Customers in arm", whole),
            "control_mean": ("Control mean", ".4f"),
            "mean": ("Arm mean", ".4f"),
            "effect": ("Effect (arm − control)", "+.4f"),
            "ci": (f"{level}% CI", str),
            "p_value": ("p-value", p_value),
        },
    )
    section = Section(
        "Data and quarantine",
        [f"Read {reads}. {sum(q['rows'] for q in quarantined):,} rows quarantined."],
        tables=[(f"Average effect of each arm against control ({level}% CI)", shown)],
    )
    if quarantined:
        rows = display_table(
            pd.DataFrame(quarantined),
            {"table": ("Table", str), "reason": ("Reason", str), "rows": ("Rows", whole)},
        )
        section.tables.append(("Quarantined rows by reason", rows))
    return section


OUT_OF_FOLD = "out-of-fold"
HOLDOUT = "holdout"
ROWS_MEANING = {
    OUT_OF_FOLD: "Every experiment row is scored by the cross-fitting model of the fold that left "
    "it out, so no row is judged by a model that saw it.",
    HOLDOUT: "The holdout rows were set aside before training and only evaluated.",
}
"""What the evaluated rows are (keys: :attr:`~causal_targeting.config.TrainConfig.
evaluated_rows`): out of fold (cross-fitting, the default) or a held-out share."""


def model_section(
    metrics: pd.DataFrame, curves: pd.DataFrame, model_uri: str, rows: str = OUT_OF_FOLD
) -> Section:
    """Qini/AUUC per arm and outcome on the evaluated ``rows`` (:data:`OUT_OF_FOLD` or
    :data:`HOLDOUT`), with the Qini and uplift curves."""
    normalized = {"spec": ".4f", "missing": NORMALIZED_UNDEFINED}
    shown = display_table(
        metrics,
        {
            "arm": ("Arm", str),
            "outcome": ("Outcome", str),
            "n_t": (f"Treated ({rows})", whole),
            "n_c": (f"Control ({rows})", whole),
            "qini": ("Qini coefficient", lambda v: number(v, **normalized)),
            "auuc": ("AUUC (normalized)", lambda v: number(v, **normalized)),
            "qini_unnormalized": ("Qini area (outcome units)", ".4g"),
            "auuc_unnormalized": ("AUUC area (outcome units)", ".4g"),
        },
    )
    return Section(
        f"Model quality on the {rows} rows",
        [
            f"Model {model_uri}. {ROWS_MEANING[rows]} They are ranked by each arm's predicted "
            "effect; "
            "the curves show the incremental outcome gained by targeting the top share, against "
            "random targeting (dotted). Normalized Qini and AUUC are defined for binary "
            "outcomes with responders among the rows (n/a otherwise); the areas in outcome "
            "units are given for every outcome.",
        ],
        tables=[(f"Uplift metrics on the {rows} rows", shown)],
        figures=[
            ("Qini curves", curves_figure(curves, curve="qini")),
            ("Uplift curves", curves_figure(curves, curve="uplift")),
        ],
    )


SAME_CONTACTS = ("propensity", "static_best", "random")
"""The baselines that contact as many customers, within the same budget, as our policy."""


def value_table(values: pd.DataFrame, currency: str) -> pd.DataFrame:
    """One row per policy: contacts, offer cost, each estimator's value per customer with its CI
    (and the true value, on simulator data)."""
    first = values.drop_duplicates("policy").set_index("policy")
    table = pd.DataFrame(index=first.index)
    unit = unit_label(currency)
    table["Contacts"] = [whole(n) for n in first["contacts"]]
    table[f"Offer cost on the evaluated rows {unit}"] = [number(c, ",.2f") for c in first["cost"]]
    for estimator, rows in values.groupby("estimator", sort=False):
        rows = rows.set_index("policy")
        table[f"{estimator.upper()} value per customer {unit} [CI]"] = [
            f"{number(v, '.4f')} {interval(lo, hi)}"
            for v, lo, hi in rows[["value", "ci_low", "ci_high"]].to_numpy()
        ]
    if "true_value" in values.columns:
        table[f"True value per customer {unit}"] = [number(v, ".4f") for v in first["true_value"]]
    return table.rename_axis("Policy").reset_index()


def lift_over_baselines(values: pd.DataFrame, estimator: str) -> tuple[float, str, float]:
    """(our value, the best same-contacts baseline, its value) for ``estimator``."""
    rows = values[values["estimator"] == estimator].set_index("policy")["value"]
    rivals = rows.reindex(SAME_CONTACTS).dropna()
    return float(rows.iloc[0]), str(rivals.idxmax()), float(rivals.max())


def policy_section(
    values: pd.DataFrame,
    evaluated_rows: int,
    estimator: str,
    currency: str,
    differences: pd.DataFrame | None = None,
    rows: str = OUT_OF_FOLD,
) -> Section:
    """Policy value of our targeting and of the baselines, with bootstrap CIs."""
    ours, rival, best = lift_over_baselines(values, estimator)
    lead = (
        f"Net value per customer on {evaluated_rows:,} randomized {rows} customers, net of offer "
        f"costs, in {currency}. Our targeting: {amount(ours, currency, '.4f')} "
        f"({estimator.upper()}), against {amount(best, currency, '.4f')} for the best baseline "
        f"with the same contacts and budget ('{rival}'). The random baseline gives our own offers "
        "to randomly chosen customers, the best single offer ('static_best') goes to as many "
        "randomly chosen ones as the contacts and budget allow; both are valued by their "
        "expectation over the random choice, not by one draw of customers. Treating everyone or "
        "no one is shown for scale; it does not respect the guardrails."
    )
    return Section(
        "Policy value against baselines",
        [lead],
        tables=[("Estimates with bootstrap confidence intervals", value_table(values, currency))],
        figures=[
            (
                f"Value per customer minus the best baseline's ({estimator.upper()})",
                difference_figure(values, rival, estimator, currency, differences),
            ),
            (
                f"Policy value ({estimator.upper()})",
                policy_value_figure(values, estimator=estimator),
            ),
        ],
    )


def paired_row(
    differences: pd.DataFrame | None, baseline: str, estimator: str
) -> pd.Series | None:
    """The paired difference (ours − ``baseline``) for ``estimator``, if one was computed."""
    if differences is None:
        return None
    found = differences[
        (differences["baseline"] == baseline) & (differences["estimator"] == estimator)
    ]
    return None if found.empty else found.iloc[0]


def design_section(
    values: pd.DataFrame,
    value_sd: float,
    alpha: float,
    estimator: str,
    currency: str,
    base_customers: int,
    differences: pd.DataFrame | None = None,
) -> Section:
    """Sample size and duration of the online A/B test that would confirm the decision: at the
    lift the evaluated rows show over the best baseline, or, when it shows none, at a stated minimum
    detectable lift (:data:`MIN_STANDARDIZED_LIFT` standard deviations of per-customer value).
    None is sized when that baseline makes targeting's decision for every evaluated customer
    (``differences``' ``same_decisions``): no test can tell a policy from itself."""
    ours, rival, best = lift_over_baselines(values, estimator)
    paired = paired_row(differences, rival, estimator)
    if paired is not None and paired["same_decisions"] == 1.0:
        return Section(
            "A/B test to validate online",
            [
                f"No test is sized: the best baseline with the same contacts and budget "
                f"('{rival}') makes the same decision as targeting for every evaluated "
                "customer, so no test could tell the two apart."
            ],
        )
    observed = ours - best
    if observed > 0:
        lift = observed
        basis = f"the lift the evaluated rows show, {amount(lift, currency, '+.4f')} per customer"
    else:
        lift = MIN_STANDARDIZED_LIFT * value_sd
        basis = (
            f"a minimum detectable lift of {amount(lift, currency, '.4f')} per customer "
            f"({MIN_STANDARDIZED_LIFT} standard deviations of per-customer value), as the "
            f"evaluated rows show no positive lift ({amount(observed, currency, '+.4f')})"
        )
    design = sample_size(best, lift, "continuous", alpha=alpha, sd=value_sd)
    campaigns = design["n_total"] / base_customers
    text = (
        f"To confirm targeting against '{rival}' with 80% power at alpha {alpha}, sized at "
        f"{basis}: send each policy to {whole(design['n_control'])} customers "
        f"({whole(design['n_total'])} in all; per-customer value standard deviation "
        f"{number(value_sd, '.3f')}). With the {base_customers:,} customers scored, that is "
        f"{number(campaigns, '.2f')} campaigns' worth of customers."
    )
    unit = unit_label(currency)
    shown = display_table(
        pd.DataFrame([{**design, "lift": lift, "campaigns": campaigns}]),
        {
            "lift": (f"Lift sized for, per customer {unit}", ".4f"),
            "n_control": ("Customers on the baseline", whole),
            "n_treatment": ("Customers on targeting", whole),
            "n_total": ("Customers in all", whole),
            "campaigns": ("Campaigns to the scored base", ".2f"),
            "power": ("Power", ".3f"),
        },
    )
    return Section("A/B test to validate online", [text], tables=[("Design", shown)])


def guardrail_section(solve_report: Mapping[str, Any], currency: str) -> Section:
    """Usage against limit and shadow price of each guardrail, and the certified gap."""
    text = (
        f"Allocated {solve_report['customers']:,} customers over offers "
        f"{quoted(solve_report['offers'])}: total value "
        f"{amount(solve_report['primal'], currency)}, dual bound "
        f"{amount(solve_report['dual_bound'], currency)}, certified relative gap "
        f"{number(solve_report['gap'], '.2e')} after {solve_report['passes']} passes. A shadow "
        "price is the value of one more unit of the guardrail's limit."
    )
    frame = pd.DataFrame(solve_report["guardrails"])
    tables = []
    if len(frame):
        frame["binding"] = frame["binding"].map({True: "yes", False: "no"})
        shown = display_table(
            frame,
            {
                "name": ("Guardrail", str),
                "kind": ("Kind", str),
                "usage": ("Usage", ",.2f"),
                "limit": ("Limit", ",.2f"),
                "binding": ("Binding", str),
                "shadow_price": (f"Shadow price {unit_label(currency)} per unit", ",.4g"),
            },
        )
        tables.append(("Guardrail usage and shadow prices", shown))
    return Section("Guardrails", [text], tables=tables)


def static_frontier_note(rows: str) -> str:
    """The frontier section's warning when the allocate stage allocated the static policy, the
    safeguard's evidence named by the evaluated ``rows`` (:data:`OUT_OF_FOLD` or
    :data:`HOLDOUT`)."""
    return (
        f"The allocation is not the model's whole targeting (the safeguard: the {rows} evidence "
        "did not show it to be better than the best static policy; the allocation is that "
        "policy, or the targeting's departures from it of largest predicted gain), but this "
        "frontier is of the model's targeting: its values are what targeting would deliver if "
        "the model were right, not what the allocation does."
    )


def frontier_section(
    frontier: pd.DataFrame, currency: str, static: bool = False, rows: str = OUT_OF_FOLD
) -> Section:
    """Allocation value against budget (of the model's targeting; ``static``: the allocation
    is the best static policy, and the section says the frontier is not of it, by the evidence
    of the evaluated ``rows``)."""
    figure = Figure(figsize=(6, 4), layout="constrained")
    axis = figure.subplots()
    feasible = frontier[frontier["feasible"]]
    axis.plot(feasible["budget"], feasible["value"], marker="o", label="allocation value")
    unit = unit_label(currency)
    axis.set(
        xlabel=f"budget (expected cost) {unit}",
        ylabel=f"total net incremental value {unit}",
        title="Value against budget",
    )
    axis.legend()
    at_fault = frontier.get("infeasible", pd.Series("", index=frontier.index)).fillna("")
    frame = frontier.assign(
        status=[
            "solved" if ok else f"infeasible ({names or 'guardrails'})"
            for ok, names in zip(frontier["feasible"], at_fault, strict=True)
        ]
    )
    shown = display_table(
        frame,
        {
            "budget": (f"Budget {unit}", ",.2f"),
            "status": ("Status", str),
            "value": (f"Total value {unit}", ",.2f"),
            "dual_bound": (f"Dual bound {unit}", ",.2f"),
            "gap": ("Certified gap", ".1e"),
            "shadow_price": (f"Value of one more {currency} of budget", ".4g"),
        },
    ).replace("n/a", "")
    return Section(
        "Budget frontier",
        [
            "Each point is a full solve with the budget at that level and the other guardrails "
            "as configured; a budget at which they cannot all be met is marked infeasible, with "
            "the guardrails at fault.",
            *([static_frontier_note(rows)] if static else []),
        ],
        tables=[("Frontier", shown)],
        figures=[("Value against budget", figure)],
    )


def coarsening_section(curve: pd.DataFrame, menu: Mapping[str, Any]) -> Section:
    """Share of fully personalized profit recovered for each K, ours beside the baselines."""
    shares = curve.pivot_table(index="k", columns="method", values="share", sort=False)
    figure = Figure(figsize=(6, 4), layout="constrained")
    axis = figure.subplots()
    for method in shares.columns:
        axis.plot(shares.index, 100 * shares[method], marker="o", label=method)
    axis.axvline(menu["k"], color="grey", linestyle=":")
    axis.set(xlabel="offers kept (K)", ylabel="% of personalized profit", title="Profit recovered")
    axis.legend()
    reduction = menu["reduction"]
    text = (
        f"K = {menu['k']} offers chosen: {', '.join(menu['offers'])}. On all customers they keep "
        f"{menu['realized_share']:.2%} of the fully personalized profit. The choice was made on "
        f"{reduction['size']:,} {reduction['method']} "
        f"(reduction loss {reduction['loss_share']:.3%})."
    )
    shown = display_table(
        shares.reset_index(),
        {"k": ("Offers kept (K)", whole)}
        | {method: (f"{method} (% recovered)", lambda v: number(100 * v, ".2f"))
           for method in shares.columns},
    )
    return Section(
        "Coarse personalization",
        [text],
        tables=[("Share recovered for each K", shown)],
        figures=[("Profit recovered against K", figure)],
    )


def segment_section(
    segment_report: Mapping[str, Any],
    curves: pd.DataFrame | None,
    allocation_mix: list[Mapping[str, Any]] | None,
) -> Section:
    """The intent segments: their mix (model and uplift strata), who gets which offer by
    segment, and, on simulator data, the recovery of the true types with a reliability plot."""
    text = (
        f"The segment model ({segment_report['model_uri']}) was fitted on "
        f"{segment_report['fit_rows']:,} experiment rows (exposure share "
        f"{segment_report['exposure_share']:.3f}) and scored {segment_report['rows']:,} "
        "customers. Campaign-driven customers convert because of the campaign, organic ones "
        "convert anyway, low-engagement ones rarely convert; the uplift strata are the model-free "
        "view from the uplift scores (organic ~ mu0, campaign-driven ~ tau, low ~ 1 − mu1)."
    )
    tables = [("Share of customers per segment", pd.DataFrame(segment_report["mix"]))]
    if allocation_mix:
        tables.append(("Customers per offer and segment", pd.DataFrame(allocation_mix)))
    figures = []
    if segment_report.get("recovery"):
        tables.append(("Recovery of the true types", pd.DataFrame(segment_report["recovery"])))
    if curves is not None:
        figures.append(("Reliability of P(campaign-driven)", reliability_figure(curves)))
    return Section("Intent segments", [text], tables=tables, figures=figures)
