"""The kinds, limits and the ``Section`` base every config section shares."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

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
    """A config section: unknown keys are errors, values are validated on assignment. A number
    where text is expected is read as its text, so arms and labels of a 0/1 column can be
    written unquoted (``control: 0``, ``arms: [1]``, ``positive: 1``, ``fixed_cost: {1: 1500}``),
    as the tables' values are compared as text."""

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        str_max_length=TEXT_MAX,
        coerce_numbers_to_str=True,
    )
