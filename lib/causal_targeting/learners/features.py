"""The feature spec: which columns a model reads, of which kind, and the levels it learnt.

A model matrix is a pandas frame with the spec's columns in the spec's order: numeric features
as float64 (missing values as NaN), categorical features as ``pd.Categorical`` whose categories
are exactly the levels stored at fit time. LightGBM reads such a frame as categories (codes
``0 .. L−1`` in level order) and stores the levels in its model string; a level never seen at fit
becomes NaN (a missing category), which is how LightGBM itself treats an unseen category.
Models are fit on that frame; predictions use :meth:`FeatureSpec.array`, the same matrix as a
float64 array (category codes), built once per batch for all boosters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causal_targeting.errors import DataContractError

KINDS = ("numeric", "categorical")


def _level_strings(values: Iterable[Any]) -> tuple[str, ...]:
    """The distinct non-null values as sorted strings (the stored order of the levels)."""
    return tuple(sorted({str(v) for v in values if not pd.isna(v)}))


def _as_strings(column: pd.Series) -> pd.Series:
    """The column as strings, nulls kept null (so categories compare as the stored levels)."""
    if pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
        return column
    return column.astype(str).where(column.notna(), None)


@dataclass(frozen=True)
class FeatureSpec:
    """Feature names in model order, their kinds, and the levels of each categorical feature.

    ``kinds[name]`` is ``"numeric"`` or ``"categorical"``; ``categories[name]`` (categorical
    features only) are the sorted string levels seen at fit time.
    """

    names: tuple[str, ...]
    kinds: dict[str, str]
    categories: dict[str, tuple[str, ...]]

    @classmethod
    def from_levels(
        cls, kinds: Mapping[str, str], levels: Mapping[str, Iterable[Any]]
    ) -> FeatureSpec:
        """The spec of ``kinds`` (name -> kind, in model order) with the given categorical levels.

        ``levels[name]`` may hold any values (nulls and duplicates are dropped, the rest are
        compared as strings and sorted).
        """
        for name, kind in kinds.items():
            if kind not in KINDS:
                raise DataContractError(
                    "features",
                    f"unknown feature kind '{kind}'",
                    f"declare '{name}' as one of {', '.join(KINDS)}",
                    column=name,
                )
        categorical = [name for name, kind in kinds.items() if kind == "categorical"]
        return cls(
            names=tuple(kinds),
            kinds=dict(kinds),
            categories={name: _level_strings(levels.get(name, ())) for name in categorical},
        )

    @classmethod
    def from_frame(cls, pdf: pd.DataFrame, kinds: Mapping[str, str]) -> FeatureSpec:
        """The spec of ``kinds`` with the categorical levels found in ``pdf``."""
        check_feature_columns(pdf, kinds, table="experiment")
        levels = {
            name: pdf[name].dropna().unique() for name, kind in kinds.items() if kind != "numeric"
        }
        return cls.from_levels(kinds, levels)

    def matrix(self, pdf: pd.DataFrame, table: str = "customers") -> pd.DataFrame:
        """The model matrix of ``pdf``: float64 numerics, categoricals with the stored levels.

        Columns in spec order, index of ``pdf``; unseen levels and nulls become NaN.
        """
        check_feature_columns(pdf, self.kinds, table=table)
        columns = {}
        for name in self.names:
            if self.kinds[name] == "numeric":
                columns[name] = pdf[name].to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                columns[name] = pd.Categorical(
                    _as_strings(pdf[name]), categories=self.categories[name]
                )
        return pd.DataFrame(columns, index=pdf.index, columns=list(self.names))

    def array(self, pdf: pd.DataFrame, table: str = "customers") -> np.ndarray:
        """The model matrix as a float64 array: categoricals as their codes in the stored levels,
        NaN where missing or unseen. LightGBM turns the categorical frame of :meth:`matrix` into
        exactly this array before predicting, so boosters predict the same on both."""
        matrix = self.matrix(pdf, table=table)
        array = np.empty((len(matrix), len(self.names)), dtype=np.float64)
        for j, name in enumerate(self.names):
            if name in self.categories:
                codes = matrix[name].cat.codes.to_numpy()
                array[:, j] = np.where(codes < 0, np.nan, codes)
            else:
                array[:, j] = matrix[name].to_numpy()
        return array

    def unseen_level_counts(self, pdf: pd.DataFrame) -> dict[str, int]:
        """Per categorical feature, the rows holding a non-null level not stored in the spec."""
        counts = {}
        for name, levels in self.categories.items():
            values = _as_strings(pdf[name])
            counts[name] = int((values.notna() & ~values.isin(levels)).sum())
        return counts

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``from_dict`` inverts it)."""
        return {
            "names": list(self.names),
            "kinds": dict(self.kinds),
            "categories": {name: list(levels) for name, levels in self.categories.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """The spec written by :meth:`to_dict`."""
        return cls(
            names=tuple(data["names"]),
            kinds=dict(data["kinds"]),
            categories={name: tuple(levels) for name, levels in data["categories"].items()},
        )


def check_feature_columns(pdf: pd.DataFrame, kinds: Mapping[str, str], table: str) -> None:
    """Refuse a frame missing a feature, or holding non-numbers in a numeric feature."""
    for name, kind in kinds.items():
        if name not in pdf.columns:
            raise DataContractError(
                table,
                "the feature column is missing",
                f"add '{name}' or remove it from the configured features",
                column=name,
            )
        column = pdf[name]
        numeric = pd.api.types.is_numeric_dtype(column.dtype) or column.isna().all()
        if kind == "numeric" and not numeric:
            raise DataContractError(
                table,
                f"a numeric feature holds values of type {column.dtype}",
                f"cast '{name}' to double, or declare it categorical",
                column=name,
            )
