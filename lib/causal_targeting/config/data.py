"""The data contract's column mapping: tables, arms, features, outcomes and their forms."""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from causal_targeting.config.base import (
    Direction,
    FeatureKind,
    OutcomeKind,
    Section,
    TableFormat,
)


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


PIPELINE_COLUMNS = frozenset(
    {"customer_id", "treatment", "propensity", "weight", "reason", "fold", "exposed", "static_gain"}
)
"""Names of the columns the pipeline adds beside the features and outcomes (the canonical id,
arm, propensity and weight, the quarantine reason, the cross-fitting fold, the segment stage's
exposure, the static policy's gain): no feature or outcome can be called so."""

CLUSTER_COLUMN = "cluster_id"
"""The pipeline's name for the column ``data.cluster`` names (reserved only when it is set)."""


class DataConfig(Section):
    """The data contract's column mapping: the table's own names, so any table can be used.

    ``outcomes`` takes ``name: kind`` or the long form ``name: {kind, positive, direction}``;
    the long form is split on loading into ``outcomes`` (kinds), ``positive_labels`` (the
    label read as 1, every other label 0) and ``directions`` (``lower`` where less is better).
    ``cluster`` names the unit of randomization when whole groups of rows were assigned an arm
    together (a household, a store): the cross-fitting folds and the holdout then keep each
    cluster whole, and every bootstrap interval resamples clusters, not rows.
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
    cluster: str | None = None
    keep_columns: list[str] = Field(default_factory=list)
    design_propensity: float | dict[str, float] | None = None

    def columns_by_key(self) -> dict[str, list[str | None]]:
        """The table columns each ``data`` key names (None where a key is unset)."""
        return {
            "data.customer_id": [self.customer_id], "data.treatment": [self.treatment],
            "data.features": list(self.features), "data.outcomes": list(self.outcomes),
            "data.propensity": [self.propensity], "data.weight": [self.weight],
            "data.cluster": [self.cluster],
        }

    @model_validator(mode="after")
    def _names_have_no_backtick_or_dot(self) -> DataConfig:
        labels = {"data.control": [self.control], "data.arms": list(self.arms)}
        for key, names in {**self.columns_by_key(), **labels}.items():
            for name in names:
                if name is not None and "`" in name:
                    raise ValueError(
                        f"{key} names '{name}', which holds a backtick (`); the column and score "
                        "names built from it cannot carry one: rename it in the table"
                    )
                if name is not None and "." in name:
                    raise ValueError(
                        f"{key} names '{name}', which holds a dot (.); Spark reads a dot in a "
                        "column name as a field of a struct, and the column and score names are "
                        f"built from it: rename it in the table (e.g. "
                        f"'{name.replace('.', '_')}', in a view)"
                    )
        return self

    @model_validator(mode="after")
    def _columns_have_one_role(self) -> DataConfig:
        seen: dict[str, str] = {}
        reserved = PIPELINE_COLUMNS | ({CLUSTER_COLUMN} if self.cluster else set())
        for key, names in self.columns_by_key().items():
            for name in names:
                if name is None:
                    continue
                if name in seen:
                    raise ValueError(
                        f"column '{name}' is named by both {seen[name]} and {key}; a column has "
                        f"one role: remove it from one of them"
                    )
                seen[name] = key
                if key in ("data.features", "data.outcomes") and name in reserved:
                    raise ValueError(
                        f"{key} names '{name}', a name the pipeline gives a column of its own; "
                        f"rename the table's column (e.g. in a view) and {key} with it"
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
                from causal_targeting.config.files import describe  # files imports this module

                raise ValueError(f"data.outcomes.{name}: {describe(exc.errors()[0])}") from None
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

    @field_validator("control", "arms", mode="before")
    @classmethod
    def _whole_numbers_as_integers(cls, value: Any) -> Any:
        """A label written as a whole number with a decimal point (``control: 0.0``) is read as
        the integer's text ('0'), as :func:`~causal_targeting.data.contract.arm_labels` reads a
        fractional treatment column's 0.0 and 1.0."""
        if isinstance(value, list):
            return [cls._whole_numbers_as_integers(label) for label in value]
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return value

    @field_validator("propensity", "weight", "cluster", mode="before")
    @classmethod
    def _a_column_not_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            known = (
                f"; for a known design probability without a column, set "
                f"data.design_propensity: {value} (one number for every offer arm, or "
                "{arm: probability})"
                if info.field_name == "propensity"
                else ""
            )
            raise ValueError(
                f"data.{info.field_name} names a column of the experiment table, not a value "
                f"(got {value}; quote it, '{value}', if a column is so named){known}"
            )
        return value

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
