"""The sections of the evidence report, each built from the outputs of one stage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from causal_targeting.evaluation.abtest import sample_size
from causal_targeting.evaluation.figures import (
    curves_figure,
    policy_value_figure,
    reliability_figure,
)
from causal_targeting.evaluation.report import Section


def data_section(ingest_report: Mapping[str, Any]) -> Section:
    """Rows read and quarantined per table and reason; each arm's effect against control."""
    quarantined = [
        {"table": table, "reason": reason, "rows": n}
        for table, reasons in ingest_report["quarantined"].items()
        for reason, n in reasons.items()
    ]
    reads = ", ".join(f"{table}: {n:,} rows" for table, n in ingest_report["rows_read"].items())
    effects = pd.DataFrame(ingest_report["effects"])[
        ["arm", "outcome", "n", "control_mean", "mean", "effect", "ci_low", "ci_high", "p_value"]
    ]
    level = round(100 * (1 - ingest_report["alpha"]))
    section = Section(
        "Data and quarantine",
        [f"Read {reads}. {sum(q['rows'] for q in quarantined):,} rows quarantined."],
        tables=[(f"Average effect of each arm against control ({level}% CI)", effects)],
    )
    if quarantined:
        section.tables.append(("Quarantined rows by reason", pd.DataFrame(quarantined)))
    return section


def model_section(metrics: pd.DataFrame, curves: pd.DataFrame, model_uri: str) -> Section:
    """Holdout Qini/AUUC per arm and outcome, with the Qini and uplift curves."""
    return Section(
        "Model quality on the holdout",
        [
            f"Model {model_uri}. Holdout customers are ranked by each arm's predicted effect; "
            "the curves show the incremental outcome gained by targeting the top share, against "
            "random targeting (dotted). Normalized Qini and AUUC are defined for binary outcomes.",
        ],
        tables=[("Holdout uplift metrics", metrics)],
        figures=[
            ("Qini curves", curves_figure(curves, curve="qini")),
            ("Uplift curves", curves_figure(curves, curve="uplift")),
        ],
    )


SAME_CONTACTS = ("propensity", "static_best", "random")
"""The baselines that contact as many customers, within the same budget, as our policy."""


def value_table(values: pd.DataFrame) -> pd.DataFrame:
    """One row per policy: contacts, and each estimator's value with its CI (and the truth)."""
    table = values.drop_duplicates("policy").set_index("policy")[["contacts"]]
    for estimator, rows in values.groupby("estimator", sort=False):
        rows = rows.set_index("policy")
        table[estimator.upper()] = [
            f"{v:.4f} [{lo:.4f}, {hi:.4f}]"
            for v, lo, hi in rows[["value", "ci_low", "ci_high"]].to_numpy()
        ]
    if "true_value" in values.columns:
        table["true value"] = values.drop_duplicates("policy").set_index("policy")["true_value"]
    return table.reset_index()


def lift_over_baselines(values: pd.DataFrame, estimator: str) -> tuple[float, str, float]:
    """(our value, the best same-contacts baseline, its value) for ``estimator``."""
    rows = values[values["estimator"] == estimator].set_index("policy")["value"]
    rivals = rows.reindex(SAME_CONTACTS).dropna()
    return float(rows.iloc[0]), str(rivals.idxmax()), float(rivals.max())


def policy_section(values: pd.DataFrame, holdout_rows: int, estimator: str = "dr") -> Section:
    """Policy value of our targeting and of the baselines, with bootstrap CIs."""
    ours, rival, best = lift_over_baselines(values, estimator)
    lead = (
        f"Net value per customer on {holdout_rows:,} randomized holdout customers, net of offer "
        f"costs. Our targeting: {ours:.4f} ({estimator.upper()}), against {best:.4f} for the best "
        f"baseline with the same contacts and budget ('{rival}'). Treating everyone or no one "
        "is shown for scale; it does not respect the guardrails."
    )
    figure = policy_value_figure(values, estimator=estimator)
    return Section(
        "Policy value against baselines",
        [lead],
        tables=[("Estimates with bootstrap confidence intervals", value_table(values))],
        figures=[(f"Policy value ({estimator.upper()})", figure)],
    )


def design_section(
    values: pd.DataFrame, value_sd: float, alpha: float, estimator: str = "dr"
) -> Section:
    """Sample size of the online A/B test that would confirm the lift over the best baseline."""
    ours, rival, best = lift_over_baselines(values, estimator)
    lift = ours - best
    if not lift > 0 or not value_sd > 0:
        text = f"No positive lift over '{rival}' to validate online (estimated {lift:+.4f})."
        return Section("A/B test to validate online", [text])
    design = sample_size(best, lift, "continuous", alpha=alpha, sd=value_sd)
    text = (
        f"To confirm the estimated lift of {lift:+.4f} per customer over '{rival}' with 80% power "
        f"at alpha {alpha}, send each policy to {int(design['n_control']):,} customers "
        f"({int(design['n_total']):,} in all; outcome standard deviation {value_sd:.3f})."
    )
    return Section(
        "A/B test to validate online", [text], tables=[("Design", pd.DataFrame([design]))]
    )


def guardrail_section(solve_report: Mapping[str, Any]) -> Section:
    """Usage against limit and shadow price of each guardrail, and the certified gap."""
    text = (
        f"Allocated {solve_report['customers']:,} customers over offers "
        f"{', '.join(solve_report['offers'])}: value {solve_report['primal']:,.2f}, dual bound "
        f"{solve_report['dual_bound']:,.2f}, certified relative gap {solve_report['gap']:.2e} "
        f"after {solve_report['passes']} passes. A shadow price is the value of one more unit of "
        "the guardrail's limit."
    )
    table = pd.DataFrame(solve_report["guardrails"])
    return Section(
        "Guardrails",
        [text],
        tables=[("Guardrail usage and shadow prices", table)] if len(table) else [],
    )


def frontier_section(frontier: pd.DataFrame) -> Section:
    """Allocation value against budget."""
    figure = Figure(figsize=(6, 4), layout="constrained")
    axis = figure.subplots()
    feasible = frontier[frontier["feasible"]]
    axis.plot(feasible["budget"], feasible["value"], marker="o", label="allocation value")
    axis.set(
        xlabel="budget (expected cost)",
        ylabel="net incremental value",
        title="Value against budget",
    )
    axis.legend()
    return Section(
        "Budget frontier",
        [
            "Each point is a full solve with the budget at that level and the other guardrails "
            "as configured."
        ],
        tables=[("Frontier", frontier)],
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
    return Section(
        "Coarse personalization",
        [text],
        tables=[("Share recovered for each K", shares.reset_index())],
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
