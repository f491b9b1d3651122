"""Model artifacts as MLflow pyfuncs: the artifact's bytes as a file, a signature from its spec.

Any :class:`~causal_targeting.learners.artifact.ModelArtifact` (the uplift model here, the intent
model in :mod:`causal_targeting.segments.pyfunc`) is logged the same way. The pyfunc's input is
the feature columns (numeric as double, categorical as string, nulls allowed); its output is the
artifact's score columns, typed by its ``score_types()``. The artifact file is exactly the
model's ``to_bytes()``, so the model Spark broadcasts and the model MLflow serves are the same
bytes.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.resources
import io
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, Schema

from causal_targeting.errors import ModelError
from causal_targeting.learners.artifact import ModelArtifact
from causal_targeting.learners.model import UpliftModel

ARTIFACT_FILE = "uplift_model.bin"
MODEL_CODE = "pyfunc_model.py"
"""The file of the ``causal_targeting`` package MLflow runs to build the pyfunc (models from
code: no pickled Python object). Read as a package resource, so it is found in a wheel that
spark-submit put on the path too."""
RUNTIME_PACKAGES = (
    "lightgbm",
    "lleaves",
    "llvmlite",
    "numpy",
    "pandas",
    "pyarrow",
    "mlflow",
    "scikit-learn",
)
Artifact = TypeVar("Artifact", bound=ModelArtifact)


class ArtifactPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow ``PythonModel`` that predicts the score columns of the model in its one artifact;
    the artifact's key (its file name) names the model type in ``types``."""

    def __init__(self, types: Mapping[str, type[ModelArtifact]]) -> None:
        self.types = dict(types)
        self.model: ModelArtifact | None = None

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        """Deserialize the model from its artifact file."""
        ((key, path),) = context.artifacts.items()
        self.model = self.types[key].from_bytes(Path(path).read_bytes())

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


def model_signature(model: ModelArtifact) -> ModelSignature:
    """Return the pyfunc signature: the features in (double/string), the score columns out."""
    kinds = model.spec.kinds
    inputs = Schema(
        [
            ColSpec("string" if kinds[name] == "categorical" else "double", name)
            for name in model.spec.names
        ]
    )
    outputs = Schema([ColSpec(kind, column) for column, kind in model.score_types().items()])
    return ModelSignature(inputs=inputs, outputs=outputs)


def runtime_requirements() -> list[str]:
    """Return pinned pip requirements of the packages the pyfunc needs at prediction time."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in RUNTIME_PACKAGES]


REGISTRY_CHATTER = ("Successfully registered model ", "Registered model ", "Created version ")
"""The starts of the lines MLflow's registry prints straight to stderr on every registration
(the train and segment stages print the registered version themselves)."""


@contextlib.contextmanager
def without_registry_chatter() -> Iterator[None]:
    """Hold back stderr while MLflow registers a model, then pass on every line but the
    registry's confirmations (:data:`REGISTRY_CHATTER`): real warnings still reach stderr."""
    held = io.StringIO()
    try:
        with contextlib.redirect_stderr(held):
            yield
    finally:
        kept = [
            line
            for line in held.getvalue().splitlines(keepends=True)
            if not line.startswith(REGISTRY_CHATTER)
        ]
        sys.stderr.write("".join(kept))


def log_model_artifact(
    model: ModelArtifact,
    artifact_file: str,
    name: str = "model",
    registered_model_name: str | None = None,
) -> ModelInfo:
    """Log ``model`` as a pyfunc in the active MLflow run (its bytes as ``artifact_file``);
    register it if a name is given. Returns MLflow's ``ModelInfo`` (``model_uri``, and
    ``registered_model_version`` when registered)."""
    code = importlib.resources.files("causal_targeting").joinpath(MODEL_CODE)
    with tempfile.TemporaryDirectory() as scratch, importlib.resources.as_file(code) as code_path:
        artifact = Path(scratch, artifact_file)
        artifact.write_bytes(model.to_bytes())
        with warnings.catch_warnings(), without_registry_chatter():
            # the signature is explicit; no input example needed
            warnings.filterwarnings("ignore", message=".*input example was not provided")
            return mlflow.pyfunc.log_model(
                name=name,
                python_model=str(code_path),
                artifacts={artifact_file: str(artifact)},
                signature=model_signature(model),
                pip_requirements=runtime_requirements(),
                registered_model_name=registered_model_name,
            )


def load_model_artifact(
    model_uri: str, model_type: type[Artifact], artifact_file: str, logged_by: str
) -> Artifact:
    """Download a logged pyfunc's ``artifact_file`` and return the ``model_type`` in it.

    MLflow errors (unknown run, version, alias) propagate; :func:`causal_targeting.tracking.
    load_model` turns them into a :class:`ModelError` a user can act on.
    """
    with tempfile.TemporaryDirectory() as scratch:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=scratch))
        found = list(local.glob(f"**/{artifact_file}"))
        if not found:
            raise ModelError(
                f"model URI '{model_uri}' holds no {artifact_file}: it is not a causal-targeting "
                f"{model_type.__name__}. Fix: point at a model logged by the {logged_by}"
            )
        return model_type.from_bytes(found[0].read_bytes())


def log_uplift_model(
    model: UpliftModel, name: str = "model", registered_model_name: str | None = None
) -> ModelInfo:
    """Log the uplift model as a pyfunc (:func:`log_model_artifact`)."""
    return log_model_artifact(model, ARTIFACT_FILE, name, registered_model_name)


def load_uplift_model(model_uri: str) -> UpliftModel:
    """The :class:`UpliftModel` logged at ``model_uri`` (:func:`load_model_artifact`)."""
    return load_model_artifact(model_uri, UpliftModel, ARTIFACT_FILE, "train stage")
