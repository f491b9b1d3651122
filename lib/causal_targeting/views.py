"""What each stage's result looks like on a terminal (and in spark-submit logs): rich tables.

A view turns a stage's result into the lines and tables to print; it computes nothing. The CLI
and the jobs/ entry points print the same views.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from causal_targeting.evaluation.uplift import NORMALIZED_UNDEFINED
from causal_targeting.formats import (
    amount,
    number,
    p_value,
    quoted,
    signed,
    signed_interval,
    unit_label,
)

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import RenderableType

    from causal_targeting.allocation.dual import PassLog
    from causal_targeting.config import Config
    from causal_targeting.stages.allocate import AllocateResult
    from causal_targeting.stages.coarsen import CoarsenResult
    from causal_targeting.stages.evaluate import EvaluateResult
    from causal_targeting.stages.frontier import FrontierResult
    from causal_targeting.stages.ingest import IngestResult
    from causal_targeting.stages.score import ScoreResult
    from causal_targeting.stages.segment import SegmentResult
    from causal_targeting.stages.train import TrainResult


def effects_table(summary: pd.DataFrame, alpha: float, cluster: str | None = None) -> Table:
    """The per-arm effect table: arm, outcome, n, means, effect with its CI, p-value; the title
    names the ``cluster`` column when the intervals are by cluster."""
    level = round(100 * (1 - alpha))
    unit = f", clusters of '{cluster}'" if cluster else ""
    table = Table(title=f"Effect of each arm against control ({level}% CI{unit})")
    for name in (
        "arm",
        "outcome",
        "n",
        "control mean",
        "arm mean",
        "effect",
        f"{level}% CI",
        "p-value",
    ):
        table.add_column(
            name, justify="left" if name in ("arm", "outcome") else "right", no_wrap=True
        )
    for row in summary.itertuples(index=False):
        table.add_row(
            str(row.arm),
            str(row.outcome),
            f"{int(row.n):,}",
            number(row.control_mean, ".4f"),
            number(row.mean, ".4f"),
            number(row.effect, "+.4f"),
            f"[{number(row.ci_low, '+.4f')}, {number(row.ci_high, '+.4f')}]",
            p_value(row.p_value),
        )
    return table


def ingest_view(result: IngestResult, cfg: Config) -> list[RenderableType]:
    """Rows read and quarantined per table (with reasons), then the per-arm effects."""
    lines: list[RenderableType] = []
    for table, counts in result.quarantined.items():
        total = sum(counts.values())
        lines.append(f"{table}: {result.rows_read[table]:,} rows read, {total:,} quarantined")
        for reason, n in sorted(counts.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {n:,} × {reason}")
    lines.append(effects_table(result.summary, cfg.ingest.alpha, cfg.data.cluster))
    lines.extend(f"warning: {line}" for line in result.imbalance)
    lines.append(f"ingest outputs: {Path(result.paths['report']).parent}")
    return lines


def metrics_table(metrics: pd.DataFrame) -> Table:
    """Uplift metrics per arm and outcome on the evaluated rows (out of fold, or the holdout)."""
    table = Table(title="Uplift metrics, out of fold or holdout (normalized: binary outcomes)")
    for name in ("arm", "outcome", "treated", "control", "Qini", "AUUC", "Qini (unnorm.)"):
        table.add_column(name, justify="left" if name in ("arm", "outcome") else "right")
    for row in metrics.itertuples(index=False):
        table.add_row(
            str(row.arm),
            str(row.outcome),
            f"{int(row.n_t):,}",
            f"{int(row.n_c):,}",
            number(row.qini, ".4f", missing=NORMALIZED_UNDEFINED),
            number(row.auuc, ".4f", missing=NORMALIZED_UNDEFINED),
            number(row.qini_unnormalized, ".4g"),
        )
    return table


def gain_text(low: float, high: float) -> str:
    """"[-0.029, +0.004]": a paired interval (2 significant digits) of a learner's value minus
    the chosen one's; "n/a" without one (no value model)."""
    if math.isnan(low):
        return "n/a"
    return f"[{number(low, '+.2g')}, {number(high, '+.2g')}]"


def comparison_table(comparison: pd.DataFrame, outcome: str) -> Table:
    """The candidate learners on the out-of-fold rows: DR value of the net-value policy per
    customer with its interval, the paired interval of its value minus the chosen one's (the
    chosen one marked there), Qini and R-loss of ``outcome`` (the first valued one)."""
    table = Table(title="Learners compared out of fold (value: DR net value per customer)")
    names = ("learner", "value", "CI", "minus chosen\n(paired CI)", f"Qini\n({outcome})")
    for name in (*names, f"R-loss\n({outcome})"):
        table.add_column(name, justify="left" if name == "learner" else "right")
    for row in comparison.itertuples(index=False):
        table.add_row(
            str(row.learner),
            f"{row.value:.4g}",
            f"[{row.ci_low:.4g}, {row.ci_high:.4g}]",
            "chosen" if row.chosen else gain_text(row.gain_low, row.gain_high),
            f"{row.qini:.4f}",
            f"{row.r_loss:.4g}",
        )
    return table


def choice_line(comparison: pd.DataFrame, confidence: float) -> str | None:
    """Why the learner comparison chose its learner (:func:`~causal_targeting.selection.
    default_or_better`): the default, or a candidate that beats it with ``confidence`` over
    the other candidates together; None for a single candidate (a forced ``train.learner``)."""
    from causal_targeting.selection import DEFAULT_LEARNER, each_test_confidence

    if len(comparison) < 2:
        return None
    chosen = str(comparison.loc[comparison["chosen"], "learner"].iloc[0])
    if comparison["value"].isna().all():
        return f"chosen: {chosen}, the largest mean Qini (no allocation.weights to value a policy)"
    each = each_test_confidence(confidence, len(comparison))
    level = (
        f"a paired one-sided lower bound above 0 at {confidence:.0%} over the "
        f"{len(comparison) - 1} others together ({each:.1%} each, Bonferroni)"
    )
    if chosen == DEFAULT_LEARNER:
        return f"chosen: {chosen}, the default: no learner's value beats it with {level}"
    return (
        f"chosen: {chosen}, whose value beats the {DEFAULT_LEARNER}'s with {level} (the largest "
        "value of those that do)"
    )


def sample_line(sample: pd.DataFrame, cap: int, propensity_column: bool) -> str | None:
    """What the per-arm sample kept (:func:`~causal_targeting.stages.train.sample_summary`),
    when it left rows out: each arm's kept rows of its rows, and the design among the kept rows
    when arms were kept at different rates (known, or the propensity column converted)."""
    if (sample["kept"] == sample["rows"]).all():
        return None
    arms = ", ".join(f"'{row.Index}' {row.kept:,} of {row.rows:,}" for row in sample.itertuples())
    line = f"train sample: at most {cap:,} rows an arm (train.cap_per_arm): {arms}"
    if sample["share"].nunique() == 1:
        return line
    if sample["design"].notna().all():
        design = ", ".join(f"'{arm}' {p:.3f}" for arm, p in sample["design"].items())
        return f"{line}; the design among the kept rows: {design}"
    if propensity_column:
        return f"{line}; the propensity column is converted to the design among the kept rows"
    return line


def train_view(result: TrainResult, cfg: Config) -> list[RenderableType]:
    """The per-arm sample (when it left rows out), the learner comparison, the Qini metrics,
    the registered model's URI and what happened to the champion."""
    from causal_targeting.selection import diagnostic_outcome

    sampled = sample_line(result.sample, cfg.train.cap_per_arm, cfg.data.propensity is not None)
    lines: list[RenderableType] = [
        *([sampled] if sampled else []),
        comparison_table(
            result.comparison, diagnostic_outcome(cfg.allocation.weights, cfg.data.outcomes)
        ),
        *filter(None, [choice_line(result.comparison, cfg.allocation.min_gain_confidence)]),
        metrics_table(result.metrics),
        f"model: {result.model_uri} (alias challenger; MLflow run {result.run_id})",
    ]
    if result.promotion is not None:
        moved = "moved to it" if result.promotion.promoted else "stays"
        lines.append(f"champion {moved}: {result.promotion.reason}")
    return lines


ENGINE_NAMES = {
    "compiled": "trees compiled with lleaves",
    "lightgbm": "LightGBM's predictions",
}
"""How the score line names each prediction engine."""


def score_view(result: ScoreResult, cfg: Config) -> list[RenderableType]:
    """How many customers were scored, by which model, and unseen category levels."""
    lines: list[RenderableType] = [
        f"scored {result.rows:,} customers with {result.version} "
        f"({ENGINE_NAMES[result.engine]}): {result.paths['scores']}"
    ]
    unseen = {name: n for name, n in result.unseen_levels.items() if n}
    if unseen:
        lines.append(f"unseen category levels (scored as LightGBM scores them): {unseen}")
    return lines


def pass_line(log: PassLog) -> str:
    """One solver pass: the dual bound (no allocation can beat it), the value of the allocation
    repaired to meet every guardrail at this pass (it may jump between passes as prices move;
    the best one is kept), the worst guardrail violation of the unrepaired allocation."""
    return (
        f"  pass {log.index}: dual bound {number(log.dual_bound, ',.2f')}, "
        f"primal (this pass's repaired allocation) {number(log.primal_value, ',.2f')}, "
        f"worst violation {number(log.worst_violation, '.3g')}"
    )


def solve_title(result: AllocateResult, currency: str) -> str:
    """What the allocation is worth: the certified optimum of targeting, or the predicted value
    of the static policy (or the part of the targeting) the safeguard chose."""
    report = result.report
    passes = f"{report.passes} pass{'' if report.passes == 1 else 'es'}"
    kind = result.safeguard.kind if result.safeguard is not None else "targeted"
    if kind != "targeted":
        what, unused = {
            "partial": (
                "the targeting's departures from the best static policy of largest predicted "
                "gain",
                "the whole targeting",
            ),
            "static": ("the best static policy", "targeting"),
        }[kind]
        return (
            f"Allocation of {what}: predicted net value {amount(report.primal, currency)} (the "
            "model's scores, not evidence: the safeguard line below has its out-of-fold value); "
            f"no shadow prices, as {unused} was not used ({passes}, {report.seconds:.1f} s)"
        )
    return (
        f"Allocation: total value {amount(report.primal, currency)}, dual bound "
        f"{amount(report.dual_bound, currency)}, certified gap {number(report.gap, '.2e')} after "
        f"{passes} ({report.seconds:.1f} s)"
    )


def solve_table(result: AllocateResult, currency: str) -> Table | Text:
    """Each guardrail after the solve: usage against limit, shadow price, binding or not; the
    title alone, as a line, when there are no guardrails."""
    report = result.report
    title = solve_title(result, currency)
    if not report.guardrails:
        return Text(f"{title}; no guardrails")
    table = Table(title=title)
    price = f"shadow price {unit_label(currency)} per unit"
    for name in ("guardrail", "kind", "usage", "limit", price, "binding"):
        table.add_column(name, justify="left" if name in ("guardrail", "kind") else "right")
    for row in report.guardrails:
        table.add_row(
            row.name,
            row.kind,
            number(row.usage, ",.2f"),
            number(row.limit, ",.2f"),
            number(row.shadow_price, ".4g"),
            "yes" if row.binding else "no",
        )
    return table


def allocate_view(result: AllocateResult, cfg: Config) -> list[RenderableType]:
    """The solve report's guardrail table, who gets what by intent segment (when the segment
    stage ran), the safeguard's verdict, and where the allocation is."""
    lines: list[RenderableType] = [solve_table(result, cfg.allocation.currency)]
    if result.segment_mix is not None:
        lines.append(frame_table("Customers per offer and intent segment", result.segment_mix))
    lines.append(f"allocation of offers {quoted(result.offers)}: {result.paths['allocation']}")
    if result.safeguard is not None:
        lines.append(result.safeguard.line(cfg.data.control))
    return lines


def frame_table(title: str, frame: pd.DataFrame) -> Table:
    """A small frame as a table: text left, whole numbers with separators, others to 4 digits."""
    table = Table(title=title)
    for name, dtype in frame.dtypes.items():
        table.add_column(str(name), justify="right" if dtype.kind in "biuf" else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(cell_text(value) for value in row))
    return table


def cell_text(value: object) -> str:
    """One cell: text as it is, integers with separators, other numbers to 4 significant
    digits, NaN as a dash."""
    if isinstance(value, str):
        return value
    number = float(value)  # type: ignore[arg-type]
    if number != number:
        return "–"
    return f"{int(number):,}" if float(number).is_integer() else f"{number:.4g}"


def segment_view(result: SegmentResult, cfg: Config) -> list[RenderableType]:
    """The segment mix (model and uplift strata) and, on simulator data, the recovery of the
    true types by each method."""
    lines: list[RenderableType] = [
        f"segment model {result.model_uri}: {result.rows:,} customers scored "
        f"(exposure share e = {result.exposure_share:.3f})",
        frame_table("Share of customers per intent segment", result.mix),
    ]
    if result.recovery is not None:
        title = "Recovery of the true types (AUC, PR-AUC, Brier: P(campaign-driven))"
        lines.append(frame_table(title, result.recovery))
    lines.append(f"segment outputs: {Path(result.paths['report']).parent}")
    return lines


def frontier_view(result: FrontierResult, cfg: Config) -> list[RenderableType]:
    """Value, bound, gap and the budget's shadow price at each budget of the grid."""
    unit = unit_label(cfg.allocation.currency)
    table = Table(title="Value against budget (other guardrails as configured)")
    for name in (f"budget {unit}", f"total value {unit}", f"dual bound {unit}", "gap",
                 "shadow price of budget"):
        table.add_column(name, justify="right")
    for row in result.frame.itertuples(index=False):
        if not row.feasible:
            table.add_row(number(row.budget, ",.2f"), f"infeasible ({row.infeasible})", "", "", "")
            continue
        cells = (row.budget, row.value, row.dual_bound)
        table.add_row(*(number(v, ",.2f") for v in cells), number(row.gap, ".1e"),
                      number(row.shadow_price, ".4g"))
    return [table, f"frontier: {result.paths['frontier']}, plot: {result.paths['plot']}"]


def coarsen_view(result: CoarsenResult, cfg: Config) -> list[RenderableType]:
    """The share of personalized profit each method keeps with K offers, and the chosen menu."""
    shares = result.curve.pivot_table(index="k", columns="method", values="share", sort=False)
    table = Table(title="Share of fully personalized profit recovered with K offers")
    table.add_column("K", justify="right")
    for method in shares.columns:
        table.add_column(str(method), justify="right")
    for k, row in shares.iterrows():
        table.add_row(str(k), *(f"{v:.2%}" for v in row))
    return [
        table,
        f"menu of {result.k}: {', '.join(result.offers)} "
        f"({result.realized_share:.2%} of personalized profit on all customers)",
    ]


def values_table(values: pd.DataFrame, estimator: str, currency: str, rows: str) -> Table:
    """Policy value per customer with its CI on the evaluated ``rows`` ("out-of-fold" or
    "holdout"), ours first, the truth where it is known."""
    truth = "true_value" in values.columns
    table = Table(
        title=f"Policy value per customer on the {rows} rows ({estimator.upper()}, bootstrap CI)"
    )
    unit = unit_label(currency)
    columns = [
        "policy", f"value per customer {unit}", "CI", "contacts",
        *([f"true value {unit}"] if truth else []),
    ]
    for name in columns:
        table.add_column(name, justify="left" if name == "policy" else "right")
    for row in values[values["estimator"] == estimator].itertuples(index=False):
        cells = [
            str(row.policy),
            number(row.value, ".4f"),
            f"[{number(row.ci_low, '.4f')}, {number(row.ci_high, '.4f')}]",
        ]
        cells.append(f"{int(row.contacts):,}")
        if truth:
            cells.append(number(row.true_value, ".4f"))
        table.add_row(*cells)
    return table


def differences_table(differences: pd.DataFrame, estimator: str, alpha: float) -> Table:
    """Targeting minus each baseline with its paired bootstrap CI and p-value, and the share of
    customers to whom the baseline gives the same decision as targeting."""
    table = Table(
        title=f"Targeting minus each baseline ({estimator.upper()}, paired bootstrap "
        f"{1 - alpha:.0%} CI)"
    )
    for name in ("baseline", "difference", "CI", "p-value", "same decision"):
        table.add_column(name, justify="left" if name == "baseline" else "right")
    for row in differences[differences["estimator"] == estimator].itertuples(index=False):
        table.add_row(
            str(row.baseline),
            signed(row.difference),
            signed_interval(row.ci_low, row.ci_high),
            f"{row.p_value:.3f}",
            f"{row.same_decisions:.1%}",
        )
    return table


def evaluate_view(result: EvaluateResult, cfg: Config) -> list[RenderableType]:
    """The policy values beside the baselines, the paired differences, then the report's
    opening lines (the decision, and whether targeting beats the best baseline) and its path."""
    estimator, currency = cfg.evaluate.estimator, cfg.allocation.currency
    shown: list[RenderableType] = [
        values_table(result.values, estimator, currency, cfg.train.evaluated_rows)
    ]
    if result.differences is not None:
        shown.append(
            differences_table(result.differences, cfg.evaluate.estimator, cfg.evaluate.alpha)
        )
    headline = [Text(line) for line in result.headline]  # plain text: names may hold brackets
    return [*shown, *headline, f"report: {result.report}"]


def planted_table(summary: pd.DataFrame, scenario: str) -> Table:
    """Rows per arm of a simulated experiment and the true average effects planted in it."""
    effects = [c for c in summary.columns if c.startswith("true_ate__")]
    table = Table(title=f"Simulated '{scenario}': rows per arm and the true average effects")
    table.add_column("arm")
    table.add_column("rows", justify="right")
    for column in effects:
        table.add_column(f"true effect on {column.removeprefix('true_ate__')}", justify="right")
    for row in summary.to_dict(orient="records"):
        cells = [f"{row[column]:+.4g}" for column in effects]
        table.add_row(str(row["arm"]), f"{int(row['rows']):,}", *cells)
    return table


def design_table(design: dict[str, float]) -> Table:
    """Rows per arm of an A/B test design."""
    table = Table(title="A/B test design")
    for name in ("control rows", "treatment rows", "total", "treatment share", "power"):
        table.add_column(name, justify="right")
    table.add_row(
        f"{int(design['n_control']):,}",
        f"{int(design['n_treatment']):,}",
        f"{int(design['n_total']):,}",
        f"{design['treatment_share']:.1%}",
        f"{design['power']:.3f}",
    )
    return table
