"""Benchmark: the ingest stage on a wide CSV with Spark's CSV column pruning off (ours) and on.

Since 7eb027a ingest reads CSV tables with ``spark.sql.csv.parser.columnPruning.enabled`` off
(``causal_targeting.data.io.CSV_COLUMN_PRUNING``), so that every line is checked against the
whole header whatever columns a query needs. Off, the parser tokenizes and converts every
column of a line, also those the config does not name. This measures what that costs: the
whole ``ingest`` stage (schema inference, the cached parse, the checks, the writes) on a CSV made
of the Information campaign's training rows (data/information: 70 columns, 67 numeric
features) repeated with fresh ids to ``--rows`` rows, once with every feature configured and
once with ``--few`` of them (the other columns then unused), each timed with pruning off and
on in ``--repeats`` interleaved rounds (medians). The stage's outputs are compared between the
two settings (the same rows, quarantine and arm summary).

    .venv/bin/python benchmarks/csv_pruning.py --rows 1000000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from _config import ROOT
from _results import publish
from causal_targeting.config import Config, load_config
from causal_targeting.data import io
from causal_targeting.spark import get_spark
from causal_targeting.stages.ingest import ingest

SECTION = "## csv pruning"
SOURCE = ROOT / "data" / "information" / "information_train.csv"
SETTINGS = {"off (ours)": io.CSV_COLUMN_PRUNING, "on (Spark's default)": None}


def wide_csv(rows: int, path: Path) -> int:
    """Write the Information training rows repeated to ``rows`` rows, ids renumbered; return
    the file's number of columns."""
    source = pd.read_csv(SOURCE)
    repeated = source.iloc[[i % len(source) for i in range(rows)]].reset_index(drop=True)
    repeated["UNIQUE_ID"] = range(1, rows + 1)
    repeated.to_csv(path, index=False)
    return repeated.shape[1]


def config(csv: Path, out: Path, features: list[str]) -> Config:
    """conf/scenarios/information.yaml reading ``csv`` alone (its own customers), ``features``
    configured, outputs under ``out``."""
    return load_config(
        ROOT / "conf" / "scenarios" / "information.yaml",
        [
            f"data.experiment.path={csv}",
            "data.customers=null",
            "data.features={" + ", ".join(f"{name}: numeric" for name in features) + "}",
            f"outputs.root={out}",
            f"tracking.uri=sqlite:///{out / 'mlflow.db'}",
            f"tracking.artifact_location={out / 'mlruns'}",
        ],
    )


def timed_ingest(cfg: Config, spark: object, pruning_key: str | None) -> tuple[float, tuple]:
    """Seconds of one ``ingest`` run, with the stage's pruning setting (``pruning_key``) or
    without it (Spark's default), and what it found (rows read, quarantine, arm summary)."""
    spark.conf.set(io.CSV_COLUMN_PRUNING, "true")  # type: ignore[attr-defined]
    io.CSV_COLUMN_PRUNING = pruning_key or "spark.causal_targeting.benchmark.unused"
    try:
        started = time.perf_counter()
        result = ingest(cfg, spark)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
    finally:
        io.CSV_COLUMN_PRUNING = SETTINGS["off (ours)"]
    found = (result.rows_read, result.quarantined, result.summary.round(10).to_csv())
    return seconds, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--few", type=int, default=10, help="features configured in the narrow case"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only, keep RESULTS.md")
    args = parser.parse_args()
    features = list(load_config(ROOT / "conf" / "scenarios" / "information.yaml").data.features)
    cases = {
        f"all {len(features)} features": features,
        f"{args.few} features": features[: args.few],
    }
    lines = []
    with tempfile.TemporaryDirectory(prefix="csv-pruning-") as tmp:
        folder = Path(tmp)
        csv = folder / "wide.csv"
        columns = wide_csv(args.rows, csv)
        spark = get_spark(config(csv, folder, features).spark)
        timed_ingest(config(csv, folder / "warm-up", features), spark, None)  # JVM, first plans
        for number, (case, configured) in enumerate(cases.items()):
            seconds: dict[str, list[float]] = {name: [] for name in SETTINGS}
            found = {}
            for repeat in range(args.repeats):
                for name, key in SETTINGS.items():
                    out = folder / f"out-{number}-{repeat}-{name[:3]}"
                    took, found[name] = timed_ingest(config(csv, out, configured), spark, key)
                    seconds[name].append(took)
            assert found["off (ours)"] == found["on (Spark's default)"], case
            reference = statistics.median(seconds["on (Spark's default)"])
            for name, runs in seconds.items():
                median = statistics.median(runs)
                rounds = ", ".join(f"{s:.1f}" for s in runs)
                lines.append(
                    f"| {case} | {name} | {median:.1f} | {rounds} | {median / reference:.2f}x |"
                )
    text = "\n".join(
        [
            SECTION,
            "",
            f"Command: `.venv/bin/python benchmarks/csv_pruning.py --rows {args.rows} --few "
            f"{args.few} --repeats {args.repeats}`",
            "",
            f"The ingest stage on one CSV of {args.rows:,} rows and {columns} columns (the "
            "Information training rows repeated, ids renumbered), Spark `local[2]`; median of "
            f"{args.repeats} interleaved rounds after an untimed warm-up run; both settings "
            "found the same rows, quarantine and arm summary.",
            "",
            "| configured | CSV column pruning | median (s) | rounds (s) | against pruning on |",
            "|---|---|---:|---|---:|",
            *lines,
        ]
    )
    publish(SECTION, text, write=not args.no_write)


if __name__ == "__main__":
    main()
