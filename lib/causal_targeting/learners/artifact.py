"""What every model artifact shares: the protocol the score stage and MLflow rely on, and the
serialization (zlib-compressed JSON with a format name and version; no pickle)."""

from __future__ import annotations

import json
import zlib
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from causal_targeting.errors import ModelError
from causal_targeting.learners.features import FeatureSpec

Artifact = TypeVar("Artifact", bound="ModelArtifact")


class Engine(Protocol):
    """Predicts a LightGBM booster, given as its model string, on a model array
    (:meth:`FeatureSpec.array`: float64, categorical features as codes, NaN for missing)."""

    def predict(self, model_string: str, features: np.ndarray) -> np.ndarray:
        """The booster's predictions (objective transform applied): shape (n,), or (n, K) for a
        multiclass booster."""
        ...


class ModelArtifact(Protocol):
    """A model the score stage broadcasts and MLflow serves (uplift and intent models alike).

    ``model_strings()``: the distinct LightGBM model strings an engine predicts (compiled once
    on the driver); ``score_types()``: output column -> "double" | "string", in ``predict``'s
    column order.
    """

    spec: FeatureSpec

    def model_strings(self) -> list[str]: ...

    def score_columns(self) -> list[str]: ...

    def score_types(self) -> dict[str, str]: ...

    def predict(self, pdf: pd.DataFrame, engine: Engine | None = None) -> pd.DataFrame: ...

    def to_bytes(self) -> bytes: ...

    @classmethod
    def from_bytes(cls: type[Artifact], data: bytes) -> Artifact: ...


def dump_document(format_name: str, version: int, body: dict[str, Any]) -> bytes:
    """``body`` with its format name and version, as zlib-compressed JSON."""
    document = {"format": format_name, "version": version, **body}
    return zlib.compress(json.dumps(document).encode("utf-8"), level=6)


def load_document(data: bytes, format_name: str, version: int, what: str, fix: str) -> dict:
    """The document :func:`dump_document` wrote; ModelError (naming ``what`` the bytes should be
    and the ``fix``) for other bytes, another format or another version."""
    try:
        document = json.loads(zlib.decompress(data).decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"the bytes are not a {what} ({error}). Fix: {fix}") from error
    if not isinstance(document, dict) or document.get("format") != format_name:
        raise ModelError(f"the bytes are not a {what}. Fix: {fix}")
    if document.get("version") != version:
        raise ModelError(
            f"{what} format version {document.get('version')} is not supported (this code reads "
            f"version {version}). Fix: retrain the model with this version"
        )
    return document
