"""The command line: ``causal-targeting run|ingest|simulate|...``.

Each command parses its options, calls the stage (:mod:`causal_targeting.stages`) with a
progress bar, and prints the stage's view (:mod:`causal_targeting.views`). Heavy libraries
(Spark, LightGBM, MLflow) are imported only by the commands that use them, after the config
(and, for the commands that read them, the local input files) has been checked: help and every
config error answer at once.

A user error (bad config, a table that breaks the contract, a model that does not resolve) is
printed on one line and the command exits with status 2, without a traceback. Any other error
prints one line and the file its full traceback was written to, and exits with status 1.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from causal_targeting import views
from causal_targeting.config import Config, SparkConfig, check_local_inputs, load_config
from causal_targeting.data.io import require_writable
from causal_targeting.data.simulate.registry import RECIPES
from causal_targeting.data.simulate.registry import scenario as recipe
from causal_targeting.errors import UserError
from causal_targeting.formats import duration
from causal_targeting.progress import spark_progress

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import SparkSession

    from causal_targeting.allocation.dual import PassLog

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Decide which offer each customer gets, from causal evidence, on Spark.",
)
WIDE = None if sys.stdout.isatty() else 160  # rich would wrap tables at 80 columns in a pipe
# No console markup: what is printed holds the user's names and paths, which may hold brackets
# (an arm 'Offer [new]' would print as 'Offer '); styles are given as Text styles.
console = Console(width=WIDE, markup=False)
errors = Console(stderr=True, width=WIDE, markup=False)
ERROR_STYLE = "bold red"

ConfOption = Annotated[
    Path, typer.Option("--conf", "-c", help="Config file (YAML); may `inherit` another.")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config key: --set ingest.alpha=0.01"),
]
DEFAULT_CONF = Path("conf/local.yaml")
R = TypeVar("R")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a :class:`UserError` into one line on stderr and exit status 2; any other error into
    one line naming the file that holds its traceback (:func:`traceback_log`) and status 1."""
    try:
        yield
    except UserError as exc:
        errors.print(
            Text.assemble(("error:", ERROR_STYLE), f" {exc}"), highlight=False, soft_wrap=True
        )
        raise typer.Exit(exc.exit_code) from None
    except typer.Exit:
        raise
    except Exception as exc:
        log = traceback_log(exc)
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        errors.print(
            Text.assemble(
                ("unexpected error:", ERROR_STYLE),
                f" {type(exc).__name__}: {first} (full traceback in {log}; please report it)",
            ),
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


def traceback_log(exc: BaseException) -> Path:
    """Write ``exc``'s traceback to a new file under the temp folder; return its path."""
    folder = Path(tempfile.gettempdir(), "causal-targeting")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    path.write_text("".join(traceback.format_exception(exc)))
    return path


def _config(conf: Path, overrides: list[str] | None, *, reads_inputs: bool = False) -> Config:
    """The validated config; with ``reads_inputs``, its local input files checked too (before
    Spark starts, so a wrong path is reported at once)."""
    cfg = load_config(conf, overrides or [])
    if reads_inputs:
        check_local_inputs(cfg)
    return cfg


def _stage_config(
    conf: Path, overrides: list[str] | None, *, reads_inputs: bool = False
) -> Config:
    """The config of a stage command, its outputs root checked writable before any Spark work."""
    cfg = _config(conf, overrides, reads_inputs=reads_inputs)
    require_writable(cfg.outputs.root, "outputs.root")
    return cfg


PROGRESS = {
    "ingest": "ingest: validating tables",
    "train": "train: fitting the uplift model",
    "score": "score: scoring every customer",
    "segment": "segment: fitting and scoring the intent segments",
    "coarsen": "coarsen: choosing the offers worth running",
    "frontier": "frontier: one solve per budget",
    "evaluate": "evaluate: policy value and report",
}
VIEWS = {
    "ingest": views.ingest_view,
    "train": views.train_view,
    "score": views.score_view,
    "segment": views.segment_view,
    "coarsen": views.coarsen_view,
    "allocate": views.allocate_view,
    "frontier": views.frontier_view,
    "evaluate": views.evaluate_view,
}


def session(settings: SparkConfig) -> SparkSession:
    """The Spark session of the configured environment."""
    from causal_targeting.spark import get_spark

    with console.status("starting Spark"):
        return get_spark(settings)


def spark_settings(conf: Path, overrides: list[str] | None) -> SparkConfig:
    """The configured Spark settings, or the defaults when ``conf`` is the default file, it is
    absent and nothing is overridden: a command that reads only the table it is given (``abtest
    readout``) then runs outside the project's folder too."""
    if conf == DEFAULT_CONF and not conf.exists() and not overrides:
        return SparkConfig()
    return _config(conf, overrides).spark


def show_pass(log: PassLog) -> None:
    """Print one pass of the allocation's solver."""
    console.print(views.pass_line(log), highlight=False)


def shown(cfg: Config, spark: SparkSession) -> Callable[[str, Callable[[], R]], R]:
    """A ``step`` that runs a stage under its progress display, then prints its view."""

    def step(stage: str, work: Callable[[], R]) -> R:
        started = time.perf_counter()
        if stage in PROGRESS:
            with spark_progress(spark, PROGRESS[stage], console):
                result = work()
        else:
            console.print(f"{stage}: dual decomposition across partitions")
            result = work()
        console.print(f"{stage}: done in {duration(time.perf_counter() - started)}", style="dim")
        for line in VIEWS[stage](result, cfg):  # type: ignore[operator]
            console.print(line)
        return result

    return step


@app.command()
def run(conf: ConfOption = DEFAULT_CONF, set_: SetOption = None) -> None:
    """Run the whole pipeline: ingest, train, score, (segment,) (coarsen,) allocate, (frontier,)
    evaluate."""
    with user_errors():
        cfg = _stage_config(conf, set_, reads_inputs=True)
        from causal_targeting import pipeline
        spark = session(cfg.spark)
        pipeline.run(cfg, spark, step=shown(cfg, spark), on_pass=show_pass)


@app.command()
def ingest(conf: ConfOption = DEFAULT_CONF, set_: SetOption = None) -> None:
    """Validate the input tables, quarantine bad rows, print the per-arm effects."""
    with user_errors():
        cfg = _stage_config(conf, set_, reads_inputs=True)
        from causal_targeting.stages.ingest import ingest as ingest_stage
        spark = session(cfg.spark)
        shown(cfg, spark)("ingest", lambda: ingest_stage(cfg, spark))


@app.command()
def simulate(
    scenario: Annotated[str, typer.Option(help=", ".join(RECIPES))],
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
    with user_errors():
        cfg = _config(conf, set_)
        from causal_targeting.data.simulate import planted_summary, write_simulation

        target = out or f"{cfg.simulate.root.rstrip('/')}/{scenario}"
        require_writable(target, "--out" if out else "simulate.root")
        recipe(scenario, cfg.simulate.params)  # an unknown scenario or parameter, before Spark
        spark = session(cfg.spark)
        with spark_progress(spark, f"simulate: {rows:,} rows of '{scenario}'", console):
            paths = write_simulation(
                spark,
                scenario,
                rows,
                seed,
                target,
                partitions,
                customers,
                params=cfg.simulate.params,
            )
            summary = planted_summary(spark, paths, scenario)
        console.print(views.planted_table(summary, scenario))
        for table, path in paths.items():
            console.print(f"{table}: {path}")


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
        cfg = _stage_config(conf, set_)
        from causal_targeting.stages.train import train as train_stage
        spark = session(cfg.spark)
        wanted = promote or cfg.train.promote
        shown(cfg, spark)("train", lambda: train_stage(cfg, spark, promote=wanted))


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
        cfg = _stage_config(conf, set_)
        from causal_targeting.stages.score import score as score_stage
        spark = session(cfg.spark)
        shown(cfg, spark)("score", lambda: score_stage(cfg, spark, model_uri))


@app.command()
def segment(conf: ConfOption = DEFAULT_CONF, set_: SetOption = None) -> None:
    """Fit the intent segments (campaign-driven, organic, low-engagement), register and score."""
    from causal_targeting.stages.segment import segment as segment_stage

    with user_errors():
        cfg = _stage_config(conf, set_)
        spark = session(cfg.spark)
        shown(cfg, spark)("segment", lambda: segment_stage(cfg, spark))


@app.command()
def coarsen(conf: ConfOption = DEFAULT_CONF, set_: SetOption = None) -> None:
    """Choose the K offers of a fine menu worth running; the allocate stage then uses them."""
    with user_errors():
        cfg = _stage_config(conf, set_)
        from causal_targeting.stages.coarsen import coarsen as coarsen_stage
        spark = session(cfg.spark)
        shown(cfg, spark)("coarsen", lambda: coarsen_stage(cfg, spark))


@app.command()
def allocate(conf: ConfOption = DEFAULT_CONF, set_: SetOption = None) -> None:
    """Choose each customer's offer under the guardrails, with a certified optimality gap."""
    with user_errors():
        cfg = _stage_config(conf, set_)
        from causal_targeting.stages.allocate import allocate as allocate_stage
        spark = session(cfg.spark)
        shown(cfg, spark)("allocate", lambda: allocate_stage(cfg, spark, on_pass=show_pass))


@app.command()
def frontier(conf: ConfOption = DEFAULT_CONF, set_: SetOption = None) -> None:
    """The allocation's value against the budget over a grid, with a plot."""
    with user_errors():
        cfg = _stage_config(conf, set_)
        from causal_targeting.stages.frontier import frontier as frontier_stage
        spark = session(cfg.spark)
        shown(cfg, spark)("frontier", lambda: frontier_stage(cfg, spark))


@app.command()
def evaluate(conf: ConfOption = DEFAULT_CONF, set_: SetOption = None) -> None:
    """Value the policy against baselines on rows no model saw; write the evidence report."""
    with user_errors():
        cfg = _stage_config(conf, set_)
        from causal_targeting.stages.evaluate import evaluate as evaluate_stage
        spark = session(cfg.spark)
        shown(cfg, spark)("evaluate", lambda: evaluate_stage(cfg, spark))


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
    console.print(views.design_table(design))


@abtest_app.command("readout")
def abtest_readout(
    table: Annotated[str, typer.Argument(help="finished test table: CSV or Parquet path")],
    control: Annotated[str, typer.Option(help="the control arm's name")],
    outcome: Annotated[list[str], typer.Option(help="outcome column (repeat for several)")],
    kind: Annotated[list[str], typer.Option(help="binary or continuous, one per --outcome")],
    arm_column: Annotated[str, typer.Option(help="the column of arm names")] = "arm",
    cluster_column: Annotated[
        str | None,
        typer.Option(help="the column of the unit randomized (e.g. household), if not the row"),
    ] = None,
    alpha: Annotated[float, typer.Option(help="1 - confidence level")] = 0.05,
    conf: ConfOption = DEFAULT_CONF,
    set_: SetOption = None,
) -> None:
    """Lift, CI and p-value of each arm against control, computed in Spark."""
    from causal_targeting.config import TableSource
    from causal_targeting.config.data import CLUSTER_COLUMN
    from causal_targeting.errors import ConfigError

    with user_errors():
        if len(kind) != len(outcome):
            raise ConfigError("give one --kind (binary or continuous) for each --outcome")
        settings = spark_settings(conf, set_)
        from causal_targeting.data.contract import canonical_test_table
        from causal_targeting.data.io import read_table
        from causal_targeting.evaluation.abtest import effects_vs_control
        from causal_targeting.evaluation.distributed import (
            arm_stats_spark,
            cluster_variances_spark,
        )

        spark = session(settings)
        source = TableSource(path=table, format="csv" if table.endswith(".csv") else "parquet")
        raw = read_table(spark, source, "abtest")
        df = canonical_test_table(raw, arm_column, outcome, cluster_column)
        stats = arm_stats_spark(df, outcomes=outcome, treatment_col="arm")
        if cluster_column is not None:
            robust = cluster_variances_spark(
                df, outcomes=outcome, cluster_col=CLUSTER_COLUMN, treatment_col="arm"
            )
            stats = stats.merge(robust, on=["arm", "outcome"])
        kinds = dict(zip(outcome, kind, strict=True))
        effects = effects_vs_control(
            stats, control=control.strip(), outcome_kinds=kinds, alpha=alpha
        )
        console.print(views.effects_table(effects, alpha, cluster_column))


def main() -> None:
    """Console-script entry point."""
    app(prog_name="causal-targeting")


if __name__ == "__main__":
    sys.exit(main())
