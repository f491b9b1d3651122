"""What an uplift learner is asked to fit, and the checks of the experiment table against it.

The checks run on a per-arm summary of the table (:func:`arm_summary`): counts, bad values,
propensity range. Summaries of parts of a table merge into the summary of the whole
(:func:`merge_summaries`), so Spark computes it one partition at a time with the same pandas code
and the driver applies the same :func:`check_arm_summary`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    column names (the design probability of the row's arm, a positive row weight);
    ``design_propensity`` the known design probability of every arm, control included.
    """

    features: Mapping[str, str]
    treatment: str
    control: str
    arms: tuple[str, ...]
    outcomes: Mapping[str, str]
    propensity: str | None = None
    weight: str | None = None
    design_propensity: Mapping[str, float] | None = None

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
        design_propensity: Mapping[str, float] | None = None,
    ) -> Design:
        """The checked design: ConfigError on no arms, repeated arms, control among the arms,
        an unknown outcome kind, no features/outcomes, or design probabilities that do not
        cover every arm, lie outside (0, 1) or do not sum to 1."""
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
        if design_propensity is not None:
            check_design_propensity(design_propensity, (control, *arms))
        return cls(
            dict(features),
            treatment,
            control,
            arms,
            dict(outcomes),
            propensity,
            weight,
            None if design_propensity is None else dict(design_propensity),
        )

    @property
    def all_arms(self) -> tuple[str, ...]:
        """The control first, then the treatment arms."""
        return (self.control, *self.arms)

    def columns(self) -> list[str]:
        """Every column the learner reads."""
        optional = [c for c in (self.propensity, self.weight) if c is not None]
        return [*self.features, self.treatment, *self.outcomes, *optional]


def check_design_propensity(probabilities: Mapping[str, float], arms: Sequence[str]) -> None:
    """Refuse design probabilities that miss an arm (control included), name an unknown one,
    lie outside (0, 1) or do not sum to 1 (within 1e-6)."""
    fix = "give every arm, control included, a probability in (0, 1), summing to 1"
    if set(probabilities) != set(arms):
        raise ConfigError(
            f"data.design_propensity names {sorted(probabilities)} but the arms are "
            f"{sorted(arms)}. Fix: {fix}"
        )
    outside = {a: p for a, p in probabilities.items() if not 0 < p < 1}
    if outside:
        raise ConfigError(f"data.design_propensity {outside} is outside (0, 1). Fix: {fix}")
    total = float(sum(probabilities.values()))
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"data.design_propensity sums to {total:.6g}, not 1. Fix: {fix}")


def kept_shares(rows: Mapping[str, int], cap: int) -> dict[str, float]:
    """Each arm's share of its rows that a per-arm sample of at most ``cap`` rows keeps:
    s_a = min(1, cap / n_a), n_a the arm's rows (``rows``)."""
    return {arm: min(1.0, cap / n) if n > 0 else 1.0 for arm, n in rows.items()}


def sampled_design(
    probabilities: Mapping[str, float], kept: Mapping[str, float]
) -> dict[str, float]:
    """The design probabilities among the rows a per-arm sample keeps.

    A sample that keeps a share s_b of arm b's rows, uniformly within the arm, gives a kept row
    of covariates x the arm a with probability (Bayes' rule, P(kept | arm b) = s_b)

        q_a(x) = p_a(x) s_a / sum_b p_b(x) s_b,

    p the design probabilities (``probabilities``, every arm, control included; ``kept``: s by
    arm). Equal shares leave the design as it was; capping a large arm lowers its probability
    in the sample (85% treated, the treated kept at 39% and the control whole: 69% treated).
    The sum runs over the arms given, so arms the table leaves out do not count.
    """
    total = sum(p * kept[arm] for arm, p in probabilities.items())
    return {arm: p * kept[arm] / total for arm, p in probabilities.items()}


def checked_design(
    columns: Sequence[str],
    summarize: Callable[[Design], pd.DataFrame],
    id_column: str | None,
    design_args: Mapping[str, Any],
) -> tuple[Design, pd.DataFrame]:
    """The design of ``design_args`` (:meth:`Design.of`'s arguments) and the per-arm summary of
    a table with ``columns`` (``summarize(design)``), both checked: the one entry of the
    in-process and the Spark fit."""
    design = Design.of(**design_args)
    check_columns(columns, design, id_column=id_column)
    summary = summarize(design)
    check_arm_summary(summary, design)
    return design, summary


def check_folds(summary: pd.DataFrame, design: Design, n_folds: int | None) -> None:
    """Refuse a number of cross-fitting folds larger than the rows of an arm."""
    if n_folds is None:
        return
    if n_folds < 2:
        raise ConfigError(f"train.folds must be >= 2, got {n_folds}. Fix: set train.folds: 5")
    for arm in design.all_arms:
        rows = int(summary.at[arm, "rows"])
        if rows < n_folds:
            raise ConfigError(
                f"train.folds = {n_folds} is larger than the {rows} rows of arm '{arm}'. "
                f"Fix: set train.folds to at most {rows}, or add experiment rows of '{arm}'"
            )


def check_cluster_folds(clusters: Mapping[str, int], n_folds: int) -> None:
    """Refuse cross-fitting folds of whole clusters (``data.cluster``) when an arm has fewer
    clusters than folds (``clusters``: arm -> its clusters): a fold would hold none of its rows
    and a model tuned by the folds would have none to learn from."""
    for arm, count in clusters.items():
        if count < n_folds:
            raise ConfigError(
                f"train.folds = {n_folds} is more than the {count} clusters (data.cluster) of arm "
                f"'{arm}'; the folds take whole clusters. Fix: set train.folds to at most "
                f"{count}, or unset data.cluster if the rows were randomized one by one"
            )


MIN_HOLDOUT_ROWS = 30
"""Fewest holdout rows of each arm (:func:`check_holdout`)."""


def check_holdout(rows: Mapping[str, int], arms: Sequence[str], fraction: float) -> None:
    """Refuse a holdout (``train.holdout_fraction`` = ``fraction`` > 0) with fewer than
    :data:`MIN_HOLDOUT_ROWS` rows of one of ``arms``. The holdout replaces the out-of-fold rows
    as the evidence the model is judged on, the safeguard's included: without an arm no policy
    that gives it can be valued, and on a handful of rows the bootstrap's intervals are those of
    the few rows drawn, not of the experiment (on 3 rows, one of each arm, a 90% lower bound
    above 0 is easy). 30 is the usual size at which a mean's sampling distribution is taken as
    normal. ``rows``: holdout rows by arm (an arm absent from it has none)."""
    held = {arm: int(rows.get(arm, 0)) for arm in arms}
    short = {arm: n for arm, n in held.items() if n < MIN_HOLDOUT_ROWS}
    if fraction > 0 and short:
        counts = ", ".join(f"{n} of '{arm}'" for arm, n in short.items())
        raise ConfigError(
            f"train.holdout_fraction = {fraction:g} holds out {sum(held.values())} rows, {counts}: "
            f"fewer than the {MIN_HOLDOUT_ROWS} rows of every arm the holdout needs to judge the "
            "model. Fix: raise train.holdout_fraction (it holds out about that share of each "
            "arm's rows), or set it to 0 to judge the model on the out-of-fold rows (every row, "
            "each scored by models that did not see it)"
        )


def stratified_folds(
    treatment: Sequence[Any] | np.ndarray,
    n_folds: int,
    seed: int,
    clusters: Sequence[Any] | np.ndarray | None = None,
) -> np.ndarray:
    """A fold in 0..n_folds−1 per row, stratified by arm: each arm's rows in a random order
    (numpy generator of ``seed``) take folds 0, 1, .., K−1, 0, 1, ... in turn, so every fold
    holds within one row of 1/K of every arm. Depends on the row order; shape (n,), int64.

    With ``clusters`` (each row's randomization cluster) the clusters, in sorted order of their
    labels and each under the first arm (by name) of its rows, take the folds so, and every
    row gets its cluster's fold (the in-process :func:`~causal_targeting.learners.spark_fit.
    assign_folds`); then the folds do not depend on the row order, and an arm with fewer
    clusters than folds is refused (:func:`check_cluster_folds`)."""
    labels = pd.Series(np.asarray(treatment, dtype=object)).astype(str).to_numpy()
    if clusters is not None:
        first = pd.Series(labels).groupby(np.asarray(clusters), sort=True).min()
        check_cluster_folds(first.value_counts().to_dict(), n_folds)
        folds = pd.Series(stratified_folds(first.to_numpy(), n_folds, seed), index=first.index)
        return folds.loc[np.asarray(clusters)].to_numpy()
    u = np.random.default_rng(seed).random(len(labels))
    order = np.lexsort((u, labels))
    position = np.empty(len(labels), dtype=np.int64)
    sorted_labels = labels[order]
    starts = np.r_[0, np.flatnonzero(sorted_labels[1:] != sorted_labels[:-1]) + 1]
    counts = np.diff(np.r_[starts, len(labels)])
    position[order] = np.arange(len(labels)) - np.repeat(starts, counts)
    return position % n_folds


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

    Columns: ``rows``; ``null__{outcome}`` (missing outcome) and ``nonzero__{outcome}``
    (present and not 0) for every outcome;
    ``nonbinary__{outcome}`` (value not 0/1) for binary outcomes, ``negative__{outcome}``
    (value below 0) for continuous ones; ``bad_weight`` (missing or
    <= 0) with a weight; ``bad_propensity`` (missing or outside (0, 1)), ``propensity_min`` and
    ``propensity_max`` with a propensity.
    """
    parts: dict[str, np.ndarray] = {"rows": np.ones(len(pdf), dtype=np.int64)}
    for outcome, kind in design.outcomes.items():
        values = pd.to_numeric(pdf[outcome], errors="coerce").to_numpy(dtype=np.float64)
        parts[f"null__{outcome}"] = np.isnan(values).astype(np.int64)
        parts[f"nonzero__{outcome}"] = (~np.isnan(values) & (values != 0)).astype(np.int64)
        if kind == "binary":
            parts[f"nonbinary__{outcome}"] = (
                ~np.isnan(values) & (values != 0) & (values != 1)
            ).astype(np.int64)
        else:
            parts[f"negative__{outcome}"] = (values < 0).astype(np.int64)
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


def arm_fold_sums(pdf: pd.DataFrame, design: Design, folds: np.ndarray | None) -> pd.DataFrame:
    """Per (treatment, fold) of the rows (fold -1 without ``folds``): ``weight``, the sum of
    w_i / p_i, and ``sum__{outcome}``, the sum of w_i y_i / p_i, with w_i the row weight (1
    without one) and p_i the row's design propensity (1 without the column). Their ratio is
    the arm's Hajek (inverse-propensity weighted) mean outcome. The rows are checked
    (:func:`checked_design`: no missing outcome, weight or propensity)."""
    w = np.ones(len(pdf))
    if design.weight is not None:
        w = pd.to_numeric(pdf[design.weight], errors="coerce").to_numpy(dtype=np.float64)
    if design.propensity is not None:
        w = w / pd.to_numeric(pdf[design.propensity], errors="coerce").to_numpy(dtype=np.float64)
    parts = {"weight": w}
    for outcome in design.outcomes:
        y = pd.to_numeric(pdf[outcome], errors="coerce").to_numpy(dtype=np.float64)
        parts[f"sum__{outcome}"] = w * y
    frame = pd.DataFrame(parts)
    frame["treatment"] = pdf[design.treatment].astype(str).to_numpy()
    frame["fold"] = -1 if folds is None else np.asarray(folds, dtype=np.int64)
    return frame.groupby(["treatment", "fold"]).sum()


def zero_on_control(summary: pd.DataFrame, design: Design) -> tuple[str, ...]:
    """The outcomes that are 0 on every control row of the table ``summary`` describes (a
    structural zero: no one redeems an offer that was not made)."""
    control = summary.loc[design.control]
    return tuple(o for o in design.outcomes if control[f"nonzero__{o}"] == 0)


def nonnegative_outcomes(summary: pd.DataFrame, design: Design) -> tuple[str, ...]:
    """The continuous outcomes with no value below 0 in the table ``summary`` describes
    (amounts such as spend): their outcome models are fit as ``"nonnegative"`` targets (the
    Poisson objective of :mod:`causal_targeting.learners.base`)."""
    return tuple(
        o
        for o, kind in design.outcomes.items()
        if kind == "continuous" and summary[f"negative__{o}"].sum() == 0
    )


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
    p_a / (p_a + p_c): from ``design.design_propensity`` when known, else from the propensity
    column. Empty without either; arms with varying ones are left out."""
    if design.design_propensity is not None:
        p = design.design_propensity
        return {arm: p[arm] / (p[arm] + p[design.control]) for arm in design.arms}
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
