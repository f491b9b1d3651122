"""The decision problem a config describes: value model, guardrails, solver options, offers.

Allocate, frontier, coarsen and evaluate all turn the config into the same problem here, and
read the same allocation input (scores plus the customer columns the rules need).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from causal_targeting.data.contract import CUSTOMERS
from causal_targeting.data.io import read_json, read_output
from causal_targeting.errors import ConfigError, DataContractError
from causal_targeting.layout import coarsen_paths, ingest_paths, score_paths

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from causal_targeting.allocation.problem import DoNoHarm, Guardrail
    from causal_targeting.allocation.solver import SolverOptions
    from causal_targeting.config import Config
    from causal_targeting.value import ValueModel


def allocation_problem(cfg: Config) -> tuple[ValueModel, list[Guardrail], DoNoHarm | None]:
    """The value model, guardrails and do-no-harm rule of the config, as the solver takes them."""
    from causal_targeting.allocation.problem import DoNoHarm, Guardrail
    from causal_targeting.value import ValueModel, VariableCost

    settings = cfg.allocation
    if not settings.weights:
        raise ConfigError(
            "allocation.weights is empty; give the value of one unit of effect on each outcome "
            "that counts, e.g. --set allocation.weights.spend=0.3"
        )
    value_model = ValueModel(
        weights=settings.weights,
        fixed_cost=settings.fixed_cost,
        variable_costs=tuple(VariableCost(v.column, v.rate) for v in settings.variable_costs),
    )
    guardrails = [Guardrail(**g.model_dump()) for g in settings.guardrails]
    rule = settings.do_no_harm
    return value_model, guardrails, None if rule is None else DoNoHarm(**rule.model_dump())


def solver_options(cfg: Config) -> SolverOptions:
    """The solver's knobs from the allocation config."""
    from causal_targeting.allocation.solver import SolverOptions

    settings = cfg.allocation
    return SolverOptions(
        tolerance=settings.tolerance, max_passes=settings.max_passes, method=settings.method
    )


def scaled_guardrails(guardrails: list[Guardrail], ratio: float) -> list[Guardrail]:
    """The guardrails for a sample that is ``ratio`` of the base: amounts scale, shares stay."""
    return [g if g.limit is None else replace(g, limit=g.limit * ratio) for g in guardrails]


def has_one_budget(cfg: Config) -> bool:
    """Whether the guardrails hold exactly one budget (what the frontier varies)."""
    return sum(g.kind == "budget" for g in cfg.allocation.guardrails) == 1


def chosen_offers(cfg: Config) -> list[str]:
    """The coarsened menu when coarsening is on (the coarsen stage wrote it), else all arms."""
    if not cfg.coarsen.enabled:
        return list(cfg.data.arms)
    menu = coarsen_paths(cfg)["menu"]
    if not Path(menu).exists():
        raise DataContractError(
            "menu",
            f"coarsen.enabled is true but no menu at '{menu}'",
            "run the coarsen stage first",
        )
    return list(read_json(menu)["offers"])


def customer_columns_for(cfg: Config, customers: DataFrame, offers: list[str]) -> list[str]:
    """Customer columns the allocation needs beside the scores: eligibility and segments."""
    wanted = {f"eligible__{arm}" for arm in offers}
    wanted |= {g.segment_column for g in cfg.allocation.guardrails if g.segment_column}
    return sorted(c for c in wanted if c in customers.columns)


def allocation_input(cfg: Config, spark: SparkSession, offers: list[str]) -> DataFrame:
    """The scores, with the customer table's eligibility and segment columns when there are any."""
    scores = read_output(spark, score_paths(cfg)["scores"], "scores")
    customers = read_output(spark, ingest_paths(cfg)["customers"], CUSTOMERS)
    extra = customer_columns_for(cfg, customers, offers)
    if extra:
        scores = scores.join(customers.select("customer_id", *extra), on="customer_id", how="left")
    return scores
