"""Every config section but the data mapping, and the whole ``Config``."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from causal_targeting.config.base import (
    Name,
    Section,
)
from causal_targeting.config.data import DataConfig


class SparkConfig(Section):
    master: str = "local[2]"
    app_name: str = "causal-targeting"
    driver_memory: str = "4g"
    shuffle_partitions: int = Field(8, ge=1)
    arrow_batch_rows: int = Field(10_000, ge=1)
    log_level: str = "WARN"
    extra: dict[str, str] = Field(default_factory=dict)


class TrackingConfig(Section):
    """MLflow. ``uri: null`` leaves it to MLflow (the MLFLOW_TRACKING_URI environment variable)."""

    uri: str | None = "sqlite:///work/mlflow.db"
    artifact_location: str | None = "work/mlruns"
    experiment: Name = "causal-targeting"
    model_name: Name = "causal-targeting-uplift"
    segment_model_name: Name = "causal-targeting-segments"




class IngestConfig(Section):
    min_rows_per_arm: int = Field(100, ge=1)
    max_quarantine_share: float = Field(0.05, ge=0.0, le=1.0)
    alpha: float = Field(0.05, gt=0.0, lt=1.0)


class TrainConfig(Section):
    """The uplift learner, its LightGBM base models, sampling and the holdout."""

    learner: Literal["auto", "t", "x", "dr", "ensemble", "risk"] = "auto"
    params: dict[str, Any] = Field(default_factory=dict)
    n_estimators: int = Field(500, ge=1)
    folds: int = Field(5, ge=2)
    tune_rows: int | None = Field(50_000, ge=100)
    holdout_fraction: float = Field(0.0, ge=0.0, lt=1.0)
    cap_per_arm: int = Field(200_000, ge=1)
    propensity_clip: tuple[float, float] = (0.01, 0.99)
    bag: bool = True
    promotion_outcome: str | None = None
    promote: bool = False
    metric_buckets: int = Field(100, ge=2)

    @property
    def evaluated_rows(self) -> str:
        """The rows the model is judged on: ``"holdout"`` (with ``holdout_fraction`` > 0) or
        ``"out-of-fold"`` (cross-fitting, the default)."""
        return "holdout" if self.holdout_fraction > 0 else "out-of-fold"


class ScoreConfig(Section):
    """Scoring: which model (default: the champion of tracking.model_name) and how."""

    model_uri: str | None = None
    engine: Literal["auto", "compiled", "lightgbm"] = "auto"
    threads: int | None = Field(None, ge=1)
    cache_dir: str | None = None


def not_negative(cost: float | dict[str, float], what: str) -> float | dict[str, float]:
    """``cost`` (one number or one per arm) unchanged; a negative one is refused, as it would
    turn a budget into a credit."""
    per_arm = cost if isinstance(cost, dict) else {"": cost}
    for arm, value in per_arm.items():
        if value < 0:
            where = f" for arm '{arm}'" if arm else ""
            raise ValueError(f"{what}{where} is {value:g}; costs are amounts >= 0")
    return cost


class VariableCostConfig(Section):
    """A cost proportional to a score column, e.g. a reward paid on predicted redemption."""

    column: str = Field(description="score column with {arm}, e.g. mu__redeemed__{arm}")
    rate: float | dict[str, float]

    @field_validator("rate")
    @classmethod
    def _rate_is_not_negative(cls, rate: float | dict[str, float]) -> float | dict[str, float]:
        return not_negative(rate, "a rate")


class GuardrailConfig(Section):
    """One named guardrail; exactly one of ``limit`` (amount or count) or ``share``.

    A limit is never negative, except a ``revenue_floor``'s: a negative floor bounds a loss
    (``-1000``: the offers may cost at most 1,000 of revenue against sending none).
    """

    name: Name
    kind: Literal["budget", "revenue_floor", "contacts", "offer_cap", "offer_min", "segment_cap"]
    limit: float | None = None
    share: float | None = Field(None, ge=0.0)
    arm: str | None = None
    outcome: str | None = None
    segment_column: str | None = None
    segment: str | int | None = None

    @model_validator(mode="after")
    def _limit_is_not_negative(self) -> GuardrailConfig:
        if self.limit is not None and self.limit < 0 and self.kind != "revenue_floor":
            raise ValueError(
                f"guardrail '{self.name}' ({self.kind}) has a negative limit {self.limit:g}; "
                "a cap or a minimum is an amount or a count >= 0"
            )
        return self


class DoNoHarmConfig(Section):
    """Offer an arm only where the lower bound of its effect on ``outcome`` (``on: outcome``,
    in the outcome's better direction) or of its net value (``on: value``) is above zero."""

    on: Literal["outcome", "value"] = "outcome"
    outcome: str | None = None
    margin: float = Field(0.0, ge=0.0)
    z: float = Field(0.0, ge=0.0)

    @model_validator(mode="after")
    def _outcome_when_on_outcome(self) -> DoNoHarmConfig:
        if self.on == "outcome" and self.outcome is None:
            raise ValueError("do_no_harm on an outcome needs 'outcome'; name one, or set on: value")
        return self


class AllocationConfig(Section):
    """The value model (weights on effects, costs) and the guardrails of the allocate stage."""

    weights: dict[str, float] = Field(default_factory=dict)
    currency: str = "value units"
    fixed_cost: float | dict[str, float] = 0.0
    variable_costs: list[VariableCostConfig] = Field(default_factory=list)
    guardrails: list[GuardrailConfig] = Field(default_factory=list)
    do_no_harm: DoNoHarmConfig | None = None
    tolerance: float = Field(1e-4, gt=0.0)
    max_passes: int = Field(30, ge=1)
    method: Literal["auto", "bracket", "level"] = "auto"
    frontier_budgets: list[float] = Field(default_factory=list)
    frontier_in_run: bool = True
    exclude_segments: list[str] = Field(default_factory=list)
    safeguard: bool = True
    min_gain_confidence: float = Field(0.9, gt=0.0, lt=1.0)
    static_gain_confidence: float | None = Field(0.5, gt=0.0, lt=1.0)
    partial_shares: list[float] = Field(default_factory=list)

    @field_validator("partial_shares")
    @classmethod
    def _partial_shares_rise_in_the_unit_interval(cls, shares: list[float]) -> list[float]:
        if any(not 0.0 < share < 1.0 for share in shares):
            raise ValueError(
                f"each share must be in (0, 1), got {shares}; e.g. [0.25, 0.5], or [] for the "
                "whole targeted policy alone"
            )
        if any(b <= a for a, b in pairwise(shares)):
            raise ValueError(f"the shares must rise, got {shares}; e.g. [0.25, 0.5]")
        return shares

    @field_validator("fixed_cost")
    @classmethod
    def _fixed_cost_is_not_negative(
        cls, cost: float | dict[str, float]
    ) -> float | dict[str, float]:
        return not_negative(cost, "a cost per contact")


class CoarsenConfig(Section):
    """Coarse personalization: keep the K offers of a fine menu that recover most profit."""

    enabled: bool = False
    k_max: int = Field(8, ge=1)
    target_share: float = Field(0.995, gt=0.0, le=1.0)
    restarts: int = Field(8, ge=1)
    reduction: Literal["sample", "microclusters"] = "microclusters"
    reduction_size: int = Field(20_000, ge=10)
    min_share: float | None = Field(None, ge=0.0, le=1.0)
    max_share: float | None = Field(None, gt=0.0, le=1.0)
    size_margin: float = Field(0.0, ge=0.0)
    allow_no_offer: bool = True
    grid_step: int = Field(4, ge=1)


class SelfPacedConfig(Section):
    """The self-paced schedule (segments/self_paced.py): ``rounds`` warm-started rounds; before
    round t >= 1 examples whose loss is above the per-class quantile q_t (rising from
    ``start_quantile`` toward 1) get weight ``low_weight``."""

    rounds: int = Field(4, ge=2)
    start_quantile: float = Field(0.8, gt=0.0, le=1.0)
    low_weight: float = Field(0.5, ge=0.0, le=1.0)


class SegmentConfig(Section):
    """The two-stage intent model (segments/): campaign-driven, organic, low-engagement."""

    enabled: bool = False
    classifier: Literal["lightgbm", "mlp"] = "lightgbm"
    params: dict[str, Any] = Field(
        default_factory=lambda: {"learning_rate": 0.05, "num_leaves": 7, "min_child_samples": 200}
    )
    n_estimators: int = Field(200, ge=1)
    hidden_layer_sizes: list[int] = Field(default_factory=lambda: [32, 16])
    max_iter: int = Field(200, ge=1)
    schedule: Literal["self_paced", "off"] = "off"
    self_paced: SelfPacedConfig = Field(default_factory=SelfPacedConfig)
    label_correction: bool = True
    thresholds: dict[str, float] = Field(default_factory=dict)
    assign: Literal["lift", "argmax"] = "lift"
    exposed: str | None = None
    converted: str | None = None
    attributed: str | None = None

    def learner_arguments(self, seed: int) -> dict[str, Any]:
        """Keyword arguments of ``segments.model.IntentLearner`` (rounds = 1 when off)."""
        rounds = self.self_paced.rounds if self.schedule == "self_paced" else 1
        return {
            "classifier": self.classifier,
            "params": dict(self.params),
            "n_estimators": self.n_estimators,
            "hidden_layer_sizes": tuple(self.hidden_layer_sizes),
            "max_iter": self.max_iter,
            "rounds": rounds,
            "start_quantile": self.self_paced.start_quantile,
            "low_weight": self.self_paced.low_weight,
            "label_correction": self.label_correction,
            "thresholds": dict(self.thresholds),
            "assign": self.assign,
            "seed": seed,
        }


class EvaluateConfig(Section):
    """Offline policy evaluation on the randomized holdout."""

    bootstrap_reps: int = Field(1000, ge=10)
    alpha: float = Field(0.05, gt=0.0, lt=1.0)
    estimator: Literal["ips", "snips", "dr"] = "dr"
    response_outcome: str | None = None


class SimulateConfig(Section):
    """Where ``causal-targeting simulate`` writes: ``{root}/{scenario}/{experiment,customers}``.

    ``params`` sets the scenario's parameters by name (e.g. ``exposure_share`` of ``intent``);
    the scenario checks each name and range when it is built, before anything is written.
    """

    root: str = "work/simulate"
    params: dict[str, float] = Field(default_factory=dict)


class OutputsConfig(Section):
    """Where each stage writes; relative paths are under the working directory.

    ``allow_mixed``: a stage whose inputs come from different runs (their manifests disagree on
    the model version or on an upstream stage's run) proceeds with a warning instead of refusing.
    """

    root: str = "work"
    allow_mixed: bool = False

    def path(self, *parts: str) -> str:
        return str(Path(self.root, *parts))


class Config(Section):
    name: Name = "causal-targeting"
    seed: int = 42
    spark: SparkConfig = Field(default_factory=SparkConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)
    simulate: SimulateConfig = Field(default_factory=SimulateConfig)
    data: DataConfig
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    score: ScoreConfig = Field(default_factory=ScoreConfig)
    allocation: AllocationConfig = Field(default_factory=AllocationConfig)
    coarsen: CoarsenConfig = Field(default_factory=CoarsenConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    segment: SegmentConfig = Field(default_factory=SegmentConfig)

    @model_validator(mode="after")
    def _promotion_outcome_is_an_outcome(self) -> Config:
        chosen = self.train.promotion_outcome
        if chosen is not None and chosen not in self.data.outcomes:
            raise ValueError(
                f"train.promotion_outcome '{chosen}' is not one of data.outcomes "
                f"({', '.join(self.data.outcomes)})"
            )
        return self

    @model_validator(mode="after")
    def _allocation_names_outcomes(self) -> Config:
        named = set(self.allocation.weights)
        named |= {g.outcome for g in self.allocation.guardrails if g.outcome}
        if self.allocation.do_no_harm is not None and self.allocation.do_no_harm.outcome:
            named.add(self.allocation.do_no_harm.outcome)
        if self.evaluate.response_outcome is not None:
            named.add(self.evaluate.response_outcome)
        unknown = sorted(named - set(self.data.outcomes))
        if unknown:
            raise ValueError(
                f"allocation names outcome(s) {', '.join(unknown)} that are not in data.outcomes "
                f"({', '.join(self.data.outcomes)})"
            )
        return self

    @model_validator(mode="after")
    def _allocation_names_arms(self) -> Config:
        arms = self.data.arms
        per_arm = {"allocation.fixed_cost": self.allocation.fixed_cost} | {
            f"allocation.variable_costs.{i}.rate": cost.rate
            for i, cost in enumerate(self.allocation.variable_costs)
        }
        for key, setting in per_arm.items():
            if not isinstance(setting, dict):
                continue
            unknown = [arm for arm in setting if arm not in arms and arm != self.data.control]
            missing = [arm for arm in arms if arm not in setting]
            if unknown or missing:
                raise ValueError(
                    f"{key} is given per arm but "
                    + (f"names {', '.join(map(repr, unknown))}, not in data.arms" if unknown
                       else f"has no entry for {', '.join(map(repr, missing))}")
                    + f"; give one entry for each of data.arms ({', '.join(map(repr, arms))})"
                )
        for guardrail in self.allocation.guardrails:
            if guardrail.arm is not None and guardrail.arm not in arms:
                raise ValueError(
                    f"guardrail '{guardrail.name}' names arm {guardrail.arm!r}, not in data.arms "
                    f"({', '.join(map(repr, arms))})"
                )
        return self

    def model_uri(self) -> str:
        """The model the score stage uses: score.model_uri, else the registered champion."""
        return self.score.model_uri or f"models:/{self.tracking.model_name}@champion"
