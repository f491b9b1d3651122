"""Typed configuration: YAML files, an ``inherit`` chain, and ``--set a.b=value`` overrides.

A config file may name a parent with ``inherit: other.yaml`` (relative to the file); the child's
keys are merged over the parent's, mapping by mapping. Overrides are parsed as YAML scalars, so
``--set spark.shuffle_partitions=4`` gives an int and ``--set data.propensity=null`` gives None.
Every section forbids unknown keys; a bad key or type raises :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import difflib
import glob
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from causal_targeting.errors import ConfigError

OutcomeKind = Literal["binary", "continuous"]
FeatureKind = Literal["numeric", "categorical"]
TableFormat = Literal["csv", "parquet", "delta", "table"]
NAME_MAX = 100
"""Longest name that becomes an MLflow run, experiment or registered model name."""
TEXT_MAX = 4000
"""Longest string value of any key: below MLflow's 6,000-character limit on a logged param."""
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
Direction = Literal["higher", "lower"]


class Section(BaseModel):
    """A config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, str_max_length=TEXT_MAX)


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


class TableSource(Section):
    """Where a table is read from: a path (CSV, Parquet, Delta) or a catalog table name."""

    path: str
    format: TableFormat = "parquet"
    options: dict[str, str] = Field(default_factory=dict)


class OutcomeSpec(Section):
    """The long form of an outcome: ``{kind: binary, positive: "Yes", direction: lower}``."""

    kind: OutcomeKind
    positive: str | None = None
    direction: Direction = "higher"


class DataConfig(Section):
    """The data contract's column mapping: the table's own names, so any table can be used.

    ``outcomes`` takes ``name: kind`` or the long form ``name: {kind, positive, direction}``;
    the long form is split on loading into ``outcomes`` (kinds), ``positive_labels`` (the
    label read as 1, every other label 0) and ``directions`` (``lower`` where less is better).
    """

    experiment: TableSource
    customers: TableSource | None = None
    customer_id: str | None = "customer_id"
    treatment: str = "treatment"
    control: str
    arms: list[str] = Field(min_length=1)
    features: dict[str, FeatureKind] = Field(min_length=1)
    outcomes: dict[str, OutcomeKind] = Field(min_length=1)
    positive_labels: dict[str, str] = Field(default_factory=dict)
    directions: dict[str, Direction] = Field(default_factory=dict)
    propensity: str | None = None
    weight: str | None = None
    keep_columns: list[str] = Field(default_factory=list)
    design_propensity: float | dict[str, float] | None = None

    @model_validator(mode="after")
    def _names_have_no_backtick(self) -> DataConfig:
        named = {
            "data.customer_id": [self.customer_id], "data.treatment": [self.treatment],
            "data.control": [self.control], "data.arms": self.arms,
            "data.features": list(self.features), "data.outcomes": list(self.outcomes),
            "data.propensity": [self.propensity], "data.weight": [self.weight],
        }
        for key, names in named.items():
            for name in names:
                if name is not None and "`" in name:
                    raise ValueError(
                        f"{key} names '{name}', which holds a backtick (`); the column and score "
                        "names built from it cannot carry one: rename it in the table"
                    )
        return self

    @model_validator(mode="before")
    @classmethod
    def _split_long_outcomes(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or not isinstance(raw.get("outcomes"), dict):
            return raw
        raw = dict(raw)
        kinds, labels = {}, dict(raw.get("positive_labels") or {})
        directions = dict(raw.get("directions") or {})
        for name, spec in raw["outcomes"].items():
            if not isinstance(spec, dict):
                kinds[name] = spec
                continue
            try:
                long = OutcomeSpec.model_validate(spec)
            except ValidationError as exc:
                raise ValueError(f"data.outcomes.{name}: {_describe(exc.errors()[0])}") from None
            kinds[name] = long.kind
            if long.positive is not None:
                labels[name] = long.positive
            if long.direction != "higher":
                directions[name] = long.direction
        return {**raw, "outcomes": kinds, "positive_labels": labels, "directions": directions}

    @model_validator(mode="after")
    def _long_forms_name_outcomes(self) -> DataConfig:
        for key in ("positive_labels", "directions"):
            unknown = sorted(set(getattr(self, key)) - set(self.outcomes))
            if unknown:
                raise ValueError(
                    f"data.{key} names outcome(s) {', '.join(unknown)} that are not in "
                    f"data.outcomes ({', '.join(self.outcomes)}); remove them or add the outcome"
                )
        for name in self.positive_labels:
            if self.outcomes[name] != "binary":
                raise ValueError(
                    f"data.outcomes.{name} has a positive label but kind "
                    f"'{self.outcomes[name]}'; set kind: binary or drop positive"
                )
        return self

    @field_validator("control")
    @classmethod
    def _trim_control(cls, value: str) -> str:
        return value.strip()

    @field_validator("arms")
    @classmethod
    def _trim_arms(cls, value: list[str]) -> list[str]:
        return [arm.strip() for arm in value]

    def sign(self, outcome: str) -> float:
        """+1 where more of ``outcome`` is better, -1 where less is (``direction: lower``)."""
        return -1.0 if self.directions.get(outcome) == "lower" else 1.0

    @model_validator(mode="after")
    def _control_is_not_an_arm(self) -> DataConfig:
        if self.control in self.arms:
            raise ValueError(
                f"control '{self.control}' is also listed in arms; list only treatments"
            )
        return self

    @model_validator(mode="after")
    def _design_propensity_is_a_distribution(self) -> DataConfig:
        from causal_targeting.learners.design import check_design_propensity

        probabilities = self.design_probabilities()
        if probabilities is not None:
            check_design_propensity(probabilities, [self.control, *self.arms])
        return self

    def design_probabilities(self) -> dict[str, float] | None:
        """The known design probability of every arm, control included: the mapping as given,
        or one number p for every non-control arm and 1 − p·(number of arms) for control."""
        p = self.design_propensity
        if p is None or isinstance(p, dict):
            return p
        return {self.control: 1.0 - p * len(self.arms), **{arm: float(p) for arm in self.arms}}


class IngestConfig(Section):
    min_rows_per_arm: int = Field(100, ge=1)
    max_quarantine_share: float = Field(0.05, ge=0.0, le=1.0)
    alpha: float = Field(0.05, gt=0.0, lt=1.0)


class TrainConfig(Section):
    """The uplift learner, its LightGBM base models, sampling and the holdout."""

    learner: Literal["auto", "t", "x", "dr"] = "auto"
    params: dict[str, Any] = Field(default_factory=dict)
    n_estimators: int = Field(500, ge=1)
    folds: int = Field(5, ge=2)
    holdout_fraction: float = Field(0.0, ge=0.0, lt=1.0)
    cap_per_arm: int = Field(200_000, ge=1)
    propensity_clip: tuple[float, float] = (0.01, 0.99)
    promotion_outcome: str | None = None
    promote: bool = False
    metric_buckets: int = Field(100, ge=2)


class ScoreConfig(Section):
    """Scoring: which model (default: the champion of tracking.model_name) and how."""

    model_uri: str | None = None
    engine: Literal["compiled", "lightgbm"] = "compiled"
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

    def model_uri(self) -> str:
        """The model the score stage uses: score.model_uri, else the registered champion."""
        return self.score.model_uri or f"models:/{self.tracking.model_name}@champion"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"config file '{path}' cannot be read ({exc.strerror}); check the path"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file '{path}' is not UTF-8 text (byte {exc.start}); "
            "save it as UTF-8 YAML, or check the path points at the config"
        ) from None
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"config file '{path}' is not valid YAML: {exc}".replace("\n", " ")
        ) from None
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"config file '{path}' must hold a mapping of keys, not {type(loaded).__name__}"
        )
    return loaded


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``over`` merged in: mappings recursively, everything else replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_raw(path: str | Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a config file and the chain of files it inherits from, merged parent first.

    ``chain`` holds the files already read below this one; a file met twice is a cycle.
    """
    path = Path(path)
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise ConfigError(
            f"config file '{path}' inherits itself ({cycle}); remove the 'inherit' that closes it"
        )
    raw = _read_yaml(path)
    parent = raw.pop("inherit", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ConfigError(f"config file '{path}': 'inherit' must be a file name, not {parent!r}")
    return merge(load_raw(path.parent / parent, (*chain, resolved)), raw)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and its YAML-parsed value."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override '{text}' is not of the form key.path=value (e.g. seed=7)")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip().split("."), parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return ``raw`` with each ``key.path=value`` override set."""
    result = dict(raw)
    for text in overrides:
        keys, value = parse_override(text)
        nested: dict[str, Any] = value
        for key in reversed(keys[1:]):
            nested = {key: nested}
        result = merge(result, {keys[0]: nested})
    return result


def field_paths(model: type[BaseModel] | None = None, prefix: str = "") -> list[str]:
    """Every dotted key of the config model (``ingest.alpha``, ``data.experiment.path``, ...);
    the items of a list of sections under the list's key (``allocation.guardrails.name``)."""
    paths = []
    for name, info in (model or Config).model_fields.items():
        path = f"{prefix}{name}"
        paths.append(path)
        for kind in (info.annotation, *get_args(info.annotation)):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                paths += field_paths(kind, f"{path}.")
    return paths


def nearest_key(key: str) -> str | None:
    """The known config key closest in spelling to ``key`` (difflib), if any is close; list
    indices (``allocation.guardrails.0.nmae``) are left out of the comparison."""
    key = ".".join(part for part in key.split(".") if not part.isdigit())
    close = difflib.get_close_matches(key, field_paths(), n=1, cutoff=0.6)
    return close[0] if close else None


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        nearest = nearest_key(key)
        hint = f"did you mean {nearest}?" if nearest else "remove it or check its spelling"
        return f"config key '{key}' is not a known setting; {hint}"
    if kind == "missing":
        return (
            f"config key '{key}' is required and missing; set it in the config file or with --set"
        )
    if kind == "value_error":
        return f"config key '{key}': {error['msg'].removeprefix('Value error, ')}"
    got = repr(error.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    return f"config key '{key}': {error['msg'][0].lower()}{error['msg'][1:]} (got {got})"


def validate(raw: dict[str, Any]) -> Config:
    """Validate a raw mapping into a :class:`Config`; the first problem raises ConfigError."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0])) from None


LOCAL_FORMATS = ("csv", "parquet")


def is_local_path(path: str) -> bool:
    """Whether ``path`` names the local file system: no URI scheme (``s3a:``, ``dbfs:``, ...),
    or ``file:``."""
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]+):", path)
    return scheme is None or scheme.group(1) == "file"


def check_local_inputs(cfg: Config) -> None:
    """Raise ConfigError if data.experiment or data.customers is a local CSV or Parquet path
    (globs allowed) that matches nothing; remote, Delta and catalog sources are left to Spark."""
    for key in ("experiment", "customers"):
        source: TableSource | None = getattr(cfg.data, key)
        if source is None or source.format not in LOCAL_FORMATS or not is_local_path(source.path):
            continue
        local = re.sub(r"^file:(//)?", "", source.path)
        if not glob.glob(local):
            raise ConfigError(
                f"data.{key}.path '{source.path}' does not exist ({source.format}); fix the path "
                f"in the config or with --set data.{key}.path=..."
            )


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Load a config file (with its ``inherit`` chain) and apply ``--set`` overrides."""
    return validate(apply_overrides(load_raw(path), overrides or []))
