"""``run``: the chain of stages, and nothing else.

ingest -> train -> score -> (segment) -> (coarsen) -> allocate -> (frontier) -> evaluate. Each
stage reads what the one before it wrote (:mod:`causal_targeting.layout`), so any stage also
runs alone. ``step`` wraps each stage (the CLI shows progress and the stage's view around it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

from causal_targeting.decision import allocation_problem, has_one_budget
from causal_targeting.stages.allocate import allocate
from causal_targeting.stages.coarsen import coarsen
from causal_targeting.stages.evaluate import evaluate
from causal_targeting.stages.frontier import frontier
from causal_targeting.stages.ingest import ingest
from causal_targeting.stages.score import score
from causal_targeting.stages.segment import segment
from causal_targeting.stages.train import train

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import SparkSession

    from causal_targeting.allocation.dual import PassLog
    from causal_targeting.config import Config

R = TypeVar("R")


class Step(Protocol):
    """Runs one stage's ``work`` (named ``stage``) and returns its result."""

    def __call__(self, stage: str, work: Callable[[], R]) -> R: ...


def call(stage: str, work: Callable[[], R]) -> R:
    """Run a stage as it is (the default ``step``)."""
    return work()


def run(
    cfg: Config,
    spark: SparkSession,
    step: Step = call,
    on_pass: Callable[[PassLog], None] | None = None,
) -> None:
    """Run every stage in order: ``step(name, work)`` runs each; ``on_pass`` sees solve passes.
    The allocation's settings are checked first (an empty ``allocation.weights`` is refused
    before any stage runs, not after training)."""
    allocation_problem(cfg)
    step("ingest", lambda: ingest(cfg, spark))
    trained = step("train", lambda: train(cfg, spark))
    step("score", lambda: score(cfg, spark, trained.model_uri))
    if cfg.segment.enabled:
        step("segment", lambda: segment(cfg, spark))
    if cfg.coarsen.enabled:
        step("coarsen", lambda: coarsen(cfg, spark))
    step("allocate", lambda: allocate(cfg, spark, on_pass=on_pass))
    if cfg.allocation.frontier_in_run and has_one_budget(cfg):
        step("frontier", lambda: frontier(cfg, spark))
    step("evaluate", lambda: evaluate(cfg, spark))
