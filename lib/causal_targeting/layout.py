"""Where every stage writes its outputs, under ``outputs.root``: the one map all stages read.

A stage reads an earlier stage's outputs through these paths, so no stage imports another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from causal_targeting.config import Config


def ingest_paths(cfg: Config) -> dict[str, str]:
    """Where the ingest stage writes each output."""
    out = cfg.outputs.path
    return {
        "experiment": out("ingest", "experiment"),
        "customers": out("ingest", "customers"),
        "quarantine": out("ingest", "quarantine"),
        "report": out("ingest", "report.json"),
        "summary": out("ingest", "arm_summary.csv"),
    }


def train_paths(cfg: Config) -> dict[str, str]:
    """Where the train stage writes each output."""
    out = cfg.outputs.path
    return {
        "holdout": out("train", "holdout_scores"),
        "metrics": out("train", "holdout_metrics.csv"),
        "curves": out("train", "holdout_curves.csv"),
        "report": out("train", "report.json"),
        "comparison": out("train", "learner_comparison.csv"),
    }


def score_paths(cfg: Config) -> dict[str, str]:
    """Where the score stage writes each output."""
    out = cfg.outputs.path
    return {"scores": out("score", "scores"), "report": out("score", "report.json")}


def coarsen_paths(cfg: Config) -> dict[str, str]:
    """Where the coarsen stage writes each output (the allocate stage reads ``menu``)."""
    out = cfg.outputs.path
    return {
        "menu": out("coarsen", "menu.json"),
        "recovery": out("coarsen", "recovery.csv"),
        "sizes": out("coarsen", "segment_sizes.csv"),
        "plot": out("coarsen", "recovery.png"),
    }


def allocate_paths(cfg: Config) -> dict[str, str]:
    """Where the allocate stage writes each output."""
    out = cfg.outputs.path
    return {"allocation": out("allocate", "allocation"), "report": out("allocate", "report.json")}


def frontier_paths(cfg: Config) -> dict[str, str]:
    """Where the frontier stage writes each output (the evaluate stage reads ``frontier``)."""
    out = cfg.outputs.path
    return {"frontier": out("frontier", "frontier.csv"), "plot": out("frontier", "frontier.png")}


def evaluate_paths(cfg: Config) -> dict[str, str]:
    """Where the evaluate stage writes each output."""
    out = cfg.outputs.path
    return {
        "values": out("evaluate", "policy_values.csv"),
        "differences": out("evaluate", "policy_differences.csv"),
        "report": out("evaluate", "report", "index.html"),
    }


def segment_paths(cfg: Config) -> dict[str, str]:
    """Where the segment stage writes each output (allocate and evaluate read ``scores``)."""
    out = cfg.outputs.path
    return {
        "scores": out("segment", "scores"),
        "recovery": out("segment", "recovery.csv"),
        "reliability": out("segment", "reliability.csv"),
        "plot": out("segment", "reliability.png"),
        "report": out("segment", "report.json"),
    }
