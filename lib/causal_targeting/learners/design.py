"""What an uplift learner is asked to fit, and the checks of the experiment table against it.

The checks run on a per-arm summary of the table (:func:`arm_summary`): counts, bad values,
propensity range. Summaries of parts of a table merge into the summary of the whole
(:func:`merge_summaries`), so Spark computes it one partition at a time with the same pandas code
and the driver applies the same :func:`check_arm_summary`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from causal_targeting.errors import ConfigError, DataContractError

TABLE = "experiment"
OUTCOME_KINDS = ("binary", "continuous")
CONSTANT_TOLERANCE = 1e-12
"""Design propensities of one arm that differ by less than this count as one constant."""


@dataclass(frozen=True)
class Design:
    """The columns and arms of an experiment table that a learner fits.

    ``arms`` are the non-control arms; ``features`` maps name -> "numeric"|"categorical";
    ``outcomes`` maps name -> "binary"|"continuous"; ``propensity`` and ``weight`` are optional
    column names (the design probability of the row's arm, a positive row weight).
    """

    features: Mapping[str, str]
    treatment: str
    control: str
    arms: tuple[str, ...]
    outcomes: Mapping[str, str]
    propensity: str | None = None
    weight: str | None = None

    @classmethod
    def of(
        cls,
        *,
        features: Mapping[str, str],
        treatment: str,
        control: str,
        arms: Iterable[str],
        outcomes: Mapping[str, str],
        propensity: str | None = None,
        weight: str | None = None,
    ) -> Design:
        """The checked design: ConfigError on no arms, repeated arms, control among the arms,
        an unknown outcome kind, or no features/outcomes."""
        arms = tuple(str(a) for a in arms)
        if not arms:
            raise ConfigError("no treatment arms configured; name at least one non-control arm")
        if control in arms:
            raise ConfigError(f"the control arm '{control}' is also listed among the arms")
        if len(set(arms)) != len(arms):
            raise ConfigError(f"treatment arms are listed more than once: {list(arms)}")
        if not features:
            raise ConfigError("no features configured; name at least one feature column")
        if not outcomes:
            raise ConfigError("no outcomes configured; name at least one outcome column")
        bad = {name: kind for name, kind in outcomes.items() if kind not in OUTCOME_KINDS}
        if bad:
            raise ConfigError(f"unknown outcome kind(s) {bad}; use 'binary' or 'continuous'")
        return cls(dict(features), treatment, control, arms, dict(outcomes), propensity, weight)

    @property
    def all_arms(self) -> tuple[str, ...]:
        """The control first, then the treatment arms."""
        return (self.control, *self.arms)

    def columns(self) -> list[str]:
        """Every column the learner reads."""
        optional = [c for c in (self.propensity, self.weight) if c is not None]
        return [*self.features, self.treatment, *self.outcomes, *optional]


def check_columns(
    columns: Sequence[str], design: Design, id_column: str | None = None, table: str = TABLE
) -> None:
    """Refuse a table that lacks a column the design reads (or the id column, if named)."""
    present = set(columns)
    for column in [*design.columns(), *([id_column] if id_column else [])]:
        if column not in present:
            raise DataContractError(
                table,
                "the column is missing",
                f"add '{column}' to the table or change the configuration that names it",
                column=column,
            )


def arm_summary(pdf: pd.DataFrame, design: Design) -> pd.DataFrame:
    """Per treatment value (nulls included): rows and the counts of bad values, and the range
    of the design propensity.

    Columns: ``rows``; ``null__{outcome}`` (missing outcome) for every outcome;
    ``nonbinary__{outcome}`` (value not 0/1) for binary outcomes; ``bad_weight`` (missing or
    <= 0) with a weight; ``bad_propensity`` (missing or outside (0, 1)), ``propensity_min`` and
    ``propensity_max`` with a propensity.
    """
    parts: dict[str, np.ndarray] = {"rows": np.ones(len(pdf), dtype=np.int64)}
    for outcome, kind in design.outcomes.items():
        values = pd.to_numeric(pdf[outcome], errors="coerce").to_numpy(dtype=np.float64)
        parts[f"null__{outcome}"] = np.isnan(values).astype(np.int64)
        if kind == "binary":
            parts[f"nonbinary__{outcome}"] = (
                ~np.isnan(values) & (values != 0) & (values != 1)
            ).astype(np.int64)
    if design.weight is not None:
        w = pd.to_numeric(pdf[design.weight], errors="coerce").to_numpy(dtype=np.float64)
        parts["bad_weight"] = (~(w > 0)).astype(np.int64)
    if design.propensity is not None:
        p = pd.to_numeric(pdf[design.propensity], errors="coerce").to_numpy(dtype=np.float64)
        parts["bad_propensity"] = (~((p > 0) & (p < 1))).astype(np.int64)
        parts["propensity_min"] = p
        parts["propensity_max"] = p
    frame = pd.DataFrame(parts, index=pdf.index)
    frame["treatment"] = pdf[design.treatment].astype(object).where(pdf[design.treatment].notna())
    return merge_summaries([frame.set_index("treatment")])


def merge_summaries(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The summary of the union of the rows summarized by ``parts`` (min/max of the propensity
    range, sums of everything else), indexed by treatment value."""
    frame = pd.concat(list(parts))
    how = {
        column: (
            "min" if column == "propensity_min" else "max" if column == "propensity_max" else "sum"
        )
        for column in frame.columns
    }
    return frame.groupby(level=0, dropna=False).agg(how)


def check_arm_summary(summary: pd.DataFrame, design: Design, table: str = TABLE) -> None:
    """Refuse the table summarized by ``summary`` if a row has no arm or an unknown arm, an arm
    has no rows, an outcome is missing or (binary) not 0/1, or a weight/propensity is bad."""
    values = list(summary.index)
    if any(pd.isna(v) for v in values):
        raise DataContractError(
            table,
            "some rows have no arm",
            "drop or fill the rows with a null treatment",
            column=design.treatment,
        )
    unknown = sorted(str(v) for v in values if v not in design.all_arms)
    if unknown:
        raise DataContractError(
            table,
            f"unknown arm(s) {unknown} (configured: {list(design.all_arms)})",
            "add them to the configured arms or filter their rows out",
            column=design.treatment,
        )
    for arm in design.all_arms:
        if arm not in summary.index or summary.at[arm, "rows"] == 0:
            raise DataContractError(
                table,
                f"arm '{arm}' has no rows",
                "remove the arm from the configuration or add its experiment rows",
                column=design.treatment,
            )
    _refuse_bad_counts(summary, design, table)


def _bad_value_checks(design: Design) -> list[tuple[str, str | None, str, str]]:
    """(summary column, table column, problem, fix) of every bad-value count."""
    checks: list[tuple[str, str | None, str, str]] = []
    for outcome in design.outcomes:
        checks.append(
            (f"null__{outcome}", outcome, "rows have a missing outcome", "drop or fill them")
        )
        checks.append(
            (
                f"nonbinary__{outcome}",
                outcome,
                "a binary outcome holds values other than 0 and 1",
                "recode it as 0.0/1.0 or declare it continuous",
            )
        )
    checks.append(
        ("bad_weight", design.weight, "weights must be > 0 and not null", "fix the weights")
    )
    checks.append(
        (
            "bad_propensity",
            design.propensity,
            "design propensities must be in (0, 1) and not null",
            "fix the propensities or do not configure the column",
        )
    )
    return checks


def _refuse_bad_counts(summary: pd.DataFrame, design: Design, table: str) -> None:
    for column, table_column, problem, fix in _bad_value_checks(design):
        count = int(summary[column].sum()) if column in summary.columns else 0
        if count > 0:
            raise DataContractError(table, f"{problem} ({count} rows)", fix, column=table_column)


def constant_pair_propensities(summary: pd.DataFrame, design: Design) -> dict[str, float]:
    """For each arm a whose design propensity p_a and the control's p_c are constants (within
    ``CONSTANT_TOLERANCE``), the pair propensity e_a = P(T = a | T in {a, control}) =
    p_a / (p_a + p_c). Empty without a propensity column; arms with varying ones are left out."""
    if design.propensity is None:
        return {}
    low, high = summary["propensity_min"], summary["propensity_max"]
    constant = (high - low) <= CONSTANT_TOLERANCE
    if not constant[design.control]:
        return {}
    p_control = float(low[design.control])
    return {
        arm: float(low[arm]) / (float(low[arm]) + p_control) for arm in design.arms if constant[arm]
    }
