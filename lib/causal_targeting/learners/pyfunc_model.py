"""The uplift pyfunc as MLflow "model from code": MLflow runs this file to build the model.

:func:`causal_targeting.learners.pyfunc.log_uplift_model` logs this file's path as the
``python_model``, so the logged model holds code, not a CloudPickle of a Python object.
"""

import mlflow

from causal_targeting.learners.pyfunc import UpliftPyfunc

mlflow.models.set_model(UpliftPyfunc())
