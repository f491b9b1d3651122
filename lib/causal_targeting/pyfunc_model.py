"""The pyfunc as an MLflow "model from code": MLflow runs this file to build the model.

:func:`causal_targeting.learners.pyfunc.log_model_artifact` logs this file's path as the
``python_model``, so a logged model holds code, not a CloudPickle of a Python object. It sits
above ``learners`` and ``segments`` because it names both model types.
"""

import mlflow

from causal_targeting.learners import pyfunc
from causal_targeting.learners.model import UpliftModel
from causal_targeting.segments import pyfunc as segment_pyfunc
from causal_targeting.segments.model import IntentModel

mlflow.models.set_model(
    pyfunc.ArtifactPyfunc(
        {pyfunc.ARTIFACT_FILE: UpliftModel, segment_pyfunc.ARTIFACT_FILE: IntentModel}
    )
)
