"""The command line: ``causal-targeting run|ingest|simulate|...``.

A user error (bad config, a table that breaks the contract, a model that does not resolve) is
printed on one line and the command exits with status 2, without a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from causal_targeting import pipeline
from causal_targeting.config import Config, load_config
from causal_targeting.errors import UserError
from causal_targeting.progress import spark_progress

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Decide which offer each customer gets, from causal evidence, on Spark.",
)
WIDE = None if sys.stdout.isatty() else 160  # rich would wrap tables at 80 columns in a pipe
console = Console(width=WIDE)
errors = Console(stderr=True, width=WIDE)

ConfOption = Annotated[
    Path, typer.Option("--conf", "-c", help="Config file (YAML); may `inherit` another.")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config key: --set allocation.budget=50000"),
]
DEFAULT_CONF = Path("conf/local.yaml")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a :class:`UserError` into one line on stderr and exit status 2."""
    try:
        yield
    except UserError as exc:
        errors.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


def _config(conf: Path, overrides: list[str] | None) -> Config:
    return load_config(conf, overrides or [])


def effects_table(summary: pd.DataFrame, alpha: float) -> Table:
    """The per-arm effect table: arm, outcome, n, means, effect with its CI, p-value."""
    level = round(100 * (1 - alpha))
    table = Table(title=f"Effect of each arm against control ({level}% CI)")
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
            f"{row.control_mean:.4f}",
            f"{row.mean:.4f}",
            f"{row.effect:+.4f}",
            f"[{row.ci_low:+.4f}, {row.ci_high:+.4f}]",
            f"{row.p_value:.2g}",
        )
    return table


def session(cfg: Config) -> SparkSession:
    """The Spark session of the configured environment."""
    from causal_targeting.spark import get_spark

    with console.status("starting Spark"):
        return get_spark(cfg.spark)


def run_ingest(cfg: Config, spark: SparkSession) -> None:
    """Run the ingest stage with progress and print its summary."""
    with spark_progress(spark, "ingest: validating tables", console):
        result = pipeline.ingest(cfg, spark)
    for table, counts in result.quarantined.items():
        total = sum(counts.values())
        console.print(f"{table}: {result.rows_read[table]:,} rows read, {total:,} quarantined")
        for reason, n in sorted(counts.items(), key=lambda kv: -kv[1]):
            console.print(f"  {n:,} × {reason}")
    console.print(effects_table(result.summary, cfg.ingest.alpha))
    console.print(f"ingest outputs: {Path(result.paths['report']).parent}")


@app.command()
def run(conf: ConfOption = DEFAULT_CONF, set_: SetOption = None) -> None:
    """Run the whole pipeline: ingest, train, score, (coarsen,) allocate, (frontier,) evaluate."""
    with user_errors():
        cfg = _config(conf, set_)
        spark = session(cfg)
        run_ingest(cfg, spark)
        trained = run_train(cfg, spark, promote=None)
        run_score(cfg, spark, trained.model_uri)
        if cfg.coarsen.enabled:
            run_coarsen(cfg, spark)
        run_allocate(cfg, spark)
        if cfg.allocation.frontier_in_run and has_one_budget(cfg):
            run_frontier(cfg, spark)
        run_evaluate(cfg, spark)


@app.command()
def ingest(conf: ConfOption = DEFAULT_CONF, set_: SetOption = None) -> None:
    """Validate the input tables, quarantine bad rows, print the per-arm effects."""
    with user_errors():
        cfg = _config(conf, set_)
        run_ingest(cfg, session(cfg))


@app.command()
def simulate(
    scenario: Annotated[str, typer.Option(help="retention, rewards or spend_threshold")],
    rows: Annotated[int, typer.Option(help="rows of the simulated experiment")] = 100_000,
    seed: Annotated[int, typer.Option(help="the same seed gives the same rows")] = 42,
    customers: Annotated[
        int | None, typer.Option(help="customer base size (default: rows)")
    ] = None,
    out: Annotated[
        str | None, typer.Option(help="folder (default: simulate.root/NAME)")
    ] = None,
    partitions: Annotated[
        int | None, typer.Option(help="Spark partitions (default: by size)")
    ] = None,
    conf: ConfOption = DEFAULT_CONF,
    set_: SetOption = None,
) -> None:
    """Write a simulated randomized experiment and customer base with known effects."""
    from causal_targeting.data.simulate import write_simulation

    with user_errors():
        cfg = _config(conf, set_)
        target = out or f"{cfg.simulate.root.rstrip('/')}/{scenario}"
        spark = session(cfg)
        with spark_progress(spark, f"simulate: {rows:,} rows of '{scenario}'", console):
            paths = write_simulation(spark, scenario, rows, seed, target, partitions, customers)
        for table, path in paths.items():
            console.print(f"{table}: {path}")


def metrics_table(metrics: pd.DataFrame) -> Table:
    """Holdout uplift metrics per arm and outcome."""
    table = Table(title="Holdout uplift metrics (normalized Qini and AUUC: binary outcomes)")
    for name in ("arm", "outcome", "treated", "control", "Qini", "AUUC", "Qini (unnorm.)"):
        table.add_column(name, justify="left" if name in ("arm", "outcome") else "right")
    for row in metrics.itertuples(index=False):
        table.add_row(
            str(row.arm),
            str(row.outcome),
            f"{int(row.n_t):,}",
            f"{int(row.n_c):,}",
            f"{row.qini:.4f}",
            f"{row.auuc:.4f}",
            f"{row.qini_unnormalized:.4g}",
        )
    return table


def run_train(cfg: Config, spark: SparkSession, promote: bool | None) -> pipeline.TrainResult:
    """Run the train stage with progress; print the holdout metrics and the model's URI."""
    with spark_progress(spark, "train: fitting the uplift model", console):
        result = pipeline.train(cfg, spark, promote=promote)
    console.print(metrics_table(result.metrics))
    console.print(f"model: {result.model_uri} (alias challenger; MLflow run {result.run_id})")
    if result.promotion is not None:
        moved = "moved to it" if result.promotion.promoted else "stays"
        console.print(f"champion {moved}: {result.promotion.reason}")
    return result


def run_score(cfg: Config, spark: SparkSession, model_uri: str | None) -> pipeline.ScoreResult:
    """Run the score stage with progress and print where the scores are."""
    with spark_progress(spark, "score: scoring every customer", console):
        result = pipeline.score(cfg, spark, model_uri)
    console.print(
        f"scored {result.rows:,} customers with {result.version}: {result.paths['scores']}"
    )
    unseen = {name: n for name, n in result.unseen_levels.items() if n}
    if unseen:
        console.print(f"unseen category levels (scored as LightGBM scores them): {unseen}")
    return result


def solve_table(result: pipeline.AllocateResult) -> Table:
    """Each guardrail after the solve: usage against limit, shadow price, binding or not."""
    report = result.report
    title = (
        f"Allocation: value {report.primal:,.2f}, dual bound {report.dual_bound:,.2f}, "
        f"certified gap {report.gap:.2e} after {report.passes} passes ({report.seconds:.1f} s)"
    )
    table = Table(title=title)
    for name in ("guardrail", "kind", "usage", "limit", "shadow price", "binding"):
        table.add_column(name, justify="left" if name in ("guardrail", "kind") else "right")
    for row in report.guardrails:
        table.add_row(
            row.name,
            row.kind,
            f"{row.usage:,.2f}",
            f"{row.limit:,.2f}",
            f"{row.shadow_price:.4g}",
            "yes" if row.binding else "no",
        )
    return table


def run_allocate(cfg: Config, spark: SparkSession) -> pipeline.AllocateResult:
    """Run the allocate stage, one progress line per pass, and print the solve report."""

    def show(log: object) -> None:
        console.print(
            f"  pass {log.index}: dual bound {log.dual_bound:,.2f}, "
            f"primal {log.primal_value:,.2f}, worst violation {log.worst_violation:.3g}",
            highlight=False,
        )

    console.print("allocate: dual decomposition across partitions")
    result = pipeline.allocate(cfg, spark, on_pass=show)
    console.print(solve_table(result))
    console.print(f"allocation of offers {result.offers}: {result.paths['allocation']}")
    return result


def values_table(values: pd.DataFrame, estimator: str) -> Table:
    """Policy value per customer with its CI, ours first, the truth where it is known."""
    truth = "true_value" in values.columns
    table = Table(
        title=f"Policy value per customer on the holdout ({estimator.upper()}, bootstrap CI)"
    )
    columns = ["policy", "value", "CI", "contacts", *(["true value"] if truth else [])]
    for name in columns:
        table.add_column(name, justify="left" if name == "policy" else "right")
    for row in values[values["estimator"] == estimator].itertuples(index=False):
        cells = [str(row.policy), f"{row.value:.4f}", f"[{row.ci_low:.4f}, {row.ci_high:.4f}]"]
        cells.append(f"{int(row.contacts):,}")
        if truth:
            cells.append(f"{row.true_value:.4f}")
        table.add_row(*cells)
    return table


def run_evaluate(cfg: Config, spark: SparkSession) -> pipeline.EvaluateResult:
    """Run the evaluate stage; print the policy values and the report's path."""
    with spark_progress(spark, "evaluate: policy value and report", console):
        result = pipeline.evaluate(cfg, spark)
    console.print(values_table(result.values, cfg.evaluate.estimator))
    console.print(f"report: {result.report}")
    return result


@app.command()
def evaluate(conf: ConfOption = DEFAULT_CONF, set_: SetOption = None) -> None:
    """Value the policy against baselines on the holdout and write the evidence report."""
    with user_errors():
        cfg = _config(conf, set_)
        run_evaluate(cfg, session(cfg))


@app.command()
def allocate(conf: ConfOption = DEFAULT_CONF, set_: SetOption = None) -> None:
    """Choose each customer's offer under the guardrails, with a certified optimality gap."""
    with user_errors():
        cfg = _config(conf, set_)
        run_allocate(cfg, session(cfg))


def run_coarsen(cfg: Config, spark: SparkSession) -> pipeline.CoarsenResult:
    """Run the coarsen stage; print the recovery curve and the chosen menu."""
    with spark_progress(spark, "coarsen: choosing the offers worth running", console):
        result = pipeline.coarsen(cfg, spark)
    shares = result.curve.pivot_table(index="k", columns="method", values="share", sort=False)
    table = Table(title="Share of fully personalized profit recovered with K offers")
    table.add_column("K", justify="right")
    for method in shares.columns:
        table.add_column(str(method), justify="right")
    for k, row in shares.iterrows():
        table.add_row(str(k), *(f"{v:.2%}" for v in row))
    console.print(table)
    console.print(
        f"menu of {result.k}: {', '.join(result.offers)} "
        f"({result.realized_share:.2%} of personalized profit on all customers)"
    )
    return result


@app.command()
def coarsen(conf: ConfOption = DEFAULT_CONF, set_: SetOption = None) -> None:
    """Choose the K offers of a fine menu worth running; the allocate stage then uses them."""
    with user_errors():
        cfg = _config(conf, set_)
        run_coarsen(cfg, session(cfg))


def has_one_budget(cfg: Config) -> bool:
    """Whether the guardrails hold exactly one budget (what the frontier varies)."""
    return sum(g.kind == "budget" for g in cfg.allocation.guardrails) == 1


def run_frontier(cfg: Config, spark: SparkSession) -> pipeline.FrontierResult:
    with spark_progress(spark, "frontier: one solve per budget", console):
        result = pipeline.frontier(cfg, spark)
    table = Table(title="Value against budget (other guardrails as configured)")
    for name in ("budget", "value", "dual bound", "gap", "shadow price of budget"):
        table.add_column(name, justify="right")
    for row in result.frame.itertuples(index=False):
        cells = (row.budget, row.value, row.dual_bound)
        table.add_row(*(f"{v:,.2f}" for v in cells), f"{row.gap:.1e}", f"{row.shadow_price:.4g}")
    console.print(table)
    console.print(f"frontier: {result.paths['frontier']}, plot: {result.paths['plot']}")
    return result


@app.command()
def frontier(conf: ConfOption = DEFAULT_CONF, set_: SetOption = None) -> None:
    """The allocation's value against the budget over a grid, with a plot."""
    with user_errors():
        cfg = _config(conf, set_)
        run_frontier(cfg, session(cfg))


@app.command()
def train(
    conf: ConfOption = DEFAULT_CONF,
    set_: SetOption = None,
    promote: Annotated[
        bool, typer.Option("--promote", help="move 'champion' to the new version if no worse")
    ] = False,
) -> None:
    """Fit the uplift model on the ingested experiment, log and register it in MLflow."""
    with user_errors():
        cfg = _config(conf, set_)
        run_train(cfg, session(cfg), promote=promote or cfg.train.promote)


@app.command()
def score(
    conf: ConfOption = DEFAULT_CONF,
    set_: SetOption = None,
    model_uri: Annotated[
        str | None, typer.Option(help="models:/NAME@ALIAS, models:/NAME/VERSION or runs:/ID/model")
    ] = None,
) -> None:
    """Score every customer with a registered model (default: the champion)."""
    with user_errors():
        cfg = _config(conf, set_)
        run_score(cfg, session(cfg), model_uri)


abtest_app = typer.Typer(
    no_args_is_help=True, help="Design and read out the A/B test that validates a policy online."
)
app.add_typer(abtest_app, name="abtest")
Kind = Annotated[str, typer.Option(help="binary or continuous")]


@abtest_app.command("design")
def abtest_design(
    baseline: Annotated[float, typer.Option(help="control mean (a proportion if binary)")],
    lift: Annotated[float, typer.Option(help="smallest absolute effect worth detecting")],
    kind: Kind = "binary",
    sd: Annotated[
        float | None, typer.Option(help="outcome standard deviation (continuous)")
    ] = None,
    alpha: Annotated[float, typer.Option(help="two-sided significance level")] = 0.05,
    power: Annotated[float, typer.Option(help="wanted power")] = 0.8,
    ratio: Annotated[float, typer.Option(help="treatment rows per control row")] = 1.0,
) -> None:
    """Rows per arm to detect a lift with the wanted power."""
    from causal_targeting.evaluation.abtest import sample_size

    with user_errors():
        design = sample_size(baseline, lift, kind, alpha=alpha, power=power, ratio=ratio, sd=sd)
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
    console.print(table)


@abtest_app.command("readout")
def abtest_readout(
    table: Annotated[str, typer.Argument(help="finished test table: CSV or Parquet path")],
    control: Annotated[str, typer.Option(help="the control arm's name")],
    outcome: Annotated[list[str], typer.Option(help="outcome column (repeat for several)")],
    kind: Annotated[list[str], typer.Option(help="binary or continuous, one per --outcome")],
    arm_column: Annotated[str, typer.Option(help="the column of arm names")] = "arm",
    alpha: Annotated[float, typer.Option(help="1 - confidence level")] = 0.05,
    conf: ConfOption = DEFAULT_CONF,
    set_: SetOption = None,
) -> None:
    """Lift, CI and p-value of each arm against control, computed in Spark."""
    from causal_targeting.config import TableSource
    from causal_targeting.data.io import read_table
    from causal_targeting.errors import ConfigError
    from causal_targeting.evaluation.abtest import effects_vs_control
    from causal_targeting.evaluation.distributed import arm_stats_spark

    with user_errors():
        if len(kind) != len(outcome):
            raise ConfigError("give one --kind (binary or continuous) for each --outcome")
        cfg = _config(conf, set_)
        spark = session(cfg)
        source = TableSource(path=table, format="csv" if table.endswith(".csv") else "parquet")
        df = read_table(spark, source, "abtest")
        stats = arm_stats_spark(df, outcomes=outcome, treatment_col=arm_column)
        effects = effects_vs_control(
            stats, control=control, outcome_kinds=dict(zip(outcome, kind, strict=True)), alpha=alpha
        )
        console.print(effects_table(effects, alpha))


def main() -> None:
    """Console-script entry point."""
    app(prog_name="causal-targeting")


if __name__ == "__main__":
    sys.exit(main())
