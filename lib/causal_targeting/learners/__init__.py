"""Uplift learners.

- :mod:`.uplift`: the model artifact (:class:`~.uplift.UpliftModel`) and the T- and X-learners;
- :mod:`.tasks`: the base models a learner fits, as independent tasks, and their booster keys;
- :mod:`.base`: one LightGBM base model, from a matrix and a target to a model string;
- :mod:`.features`: the feature spec (names, kinds, categorical levels) and the model matrix;
- :mod:`.design`: the arms, outcomes and columns to fit, and the experiment table's checks;
- :mod:`.spark_fit`: per-arm sample, train/holdout split, the tasks fit on Spark executors;
- :mod:`.compiled`: prediction by compiled trees; :mod:`.pyfunc`: the MLflow wrapper.
"""
