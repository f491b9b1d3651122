"""The uplift model as an MLflow pyfunc: its bytes as an artifact, a signature from its spec.

The pyfunc's input is the feature columns (numeric as double, categorical as string, nulls
allowed); its output is every score column (``mu__{outcome}__{arm}``, ``tau__{outcome}__{arm}``).
The artifact file is exactly :meth:`UpliftModel.to_bytes`, so the model Spark broadcasts and the
model MLflow serves are the same bytes.
"""

from __future__ import annotations

import importlib.metadata
import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, Schema

from causal_targeting.errors import ModelError
from causal_targeting.learners.uplift import UpliftModel

ARTIFACT_KEY = "uplift_model"
ARTIFACT_FILE = "uplift_model.bin"
MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")
"""The file MLflow runs to build the pyfunc (models from code: no pickled Python object)."""
RUNTIME_PACKAGES = ("lightgbm", "lleaves", "llvmlite", "numpy", "pandas", "pyarrow", "mlflow")


class UpliftPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow ``PythonModel`` that predicts every score column of an :class:`UpliftModel`."""

    model: UpliftModel | None = None

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        """Deserialize the uplift model from its artifact file."""
        self.model = UpliftModel.from_bytes(Path(context.artifacts[ARTIFACT_KEY]).read_bytes())

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Return the score columns for the rows of ``model_input``."""
        if self.model is None:
            self.load_context(context)
        return self.model.predict(model_input)


def model_signature(model: UpliftModel) -> ModelSignature:
    """Return the pyfunc signature: the features in (double/string), the score columns out."""
    kinds = model.spec.kinds
    inputs = Schema(
        [
            ColSpec("string" if kinds[name] == "categorical" else "double", name)
            for name in model.spec.names
        ]
    )
    outputs = Schema([ColSpec("double", column) for column in model.score_columns()])
    return ModelSignature(inputs=inputs, outputs=outputs)


def runtime_requirements() -> list[str]:
    """Return pinned pip requirements of the packages the pyfunc needs at prediction time."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in RUNTIME_PACKAGES]


def log_uplift_model(
    model: UpliftModel, name: str = "model", registered_model_name: str | None = None
) -> ModelInfo:
    """Log ``model`` as a pyfunc in the active MLflow run; register it if a name is given.

    Returns MLflow's ``ModelInfo`` (``model_uri``, and ``registered_model_version`` when
    registered).
    """
    with tempfile.TemporaryDirectory() as scratch:
        artifact = Path(scratch, ARTIFACT_FILE)
        artifact.write_bytes(model.to_bytes())
        with warnings.catch_warnings():  # the signature is explicit; no input example needed
            warnings.filterwarnings("ignore", message=".*input example was not provided")
            return mlflow.pyfunc.log_model(
                name=name,
                python_model=str(MODEL_CODE),
                artifacts={ARTIFACT_KEY: str(artifact)},
                signature=model_signature(model),
                pip_requirements=runtime_requirements(),
                registered_model_name=registered_model_name,
            )


def load_uplift_model(model_uri: str) -> UpliftModel:
    """Download a logged pyfunc's artifact and return the :class:`UpliftModel` in it.

    MLflow errors (unknown run, version, alias) propagate; :func:`causal_targeting.tracking.
    load_model` turns them into a :class:`ModelError` a user can act on.
    """
    with tempfile.TemporaryDirectory() as scratch:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=scratch))
        found = list(local.glob(f"**/{ARTIFACT_FILE}"))
        if not found:
            raise ModelError(
                f"model URI '{model_uri}' holds no {ARTIFACT_FILE}: it is not a causal-targeting "
                "uplift model. Fix: point the score stage at a model logged by the train stage"
            )
        return UpliftModel.from_bytes(found[0].read_bytes())
