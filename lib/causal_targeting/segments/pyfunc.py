"""The intent model as an MLflow pyfunc (the uplift model's wrapper, another artifact file)."""

from __future__ import annotations

from mlflow.models.model import ModelInfo

from causal_targeting.learners.pyfunc import load_model_artifact, log_model_artifact
from causal_targeting.segments.model import IntentModel

ARTIFACT_FILE = "intent_model.bin"


def log_intent_model(
    model: IntentModel, name: str = "segment_model", registered_model_name: str | None = None
) -> ModelInfo:
    """Log ``model`` as a pyfunc in the active MLflow run; register it if a name is given."""
    return log_model_artifact(model, ARTIFACT_FILE, name, registered_model_name)


def load_intent_model(model_uri: str) -> IntentModel:
    """The :class:`IntentModel` logged at ``model_uri``; ModelError if it holds none."""
    return load_model_artifact(model_uri, IntentModel, ARTIFACT_FILE, "segment stage")
