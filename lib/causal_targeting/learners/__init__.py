"""Uplift learners.

- :mod:`.uplift`: the model artifact (:class:`~.uplift.UpliftModel`), the T-, X- and
  DR-learners, cross-fitted candidates sharing base models (:func:`~.uplift.fit_candidates`);
- :mod:`.tasks`: the base models a learner fits, as independent tasks (per fold), their booster
  keys, and the one loop that tunes and fits them (:func:`~.tasks.fit_stages`);
- :mod:`.base`: one LightGBM base model, from a matrix and a target to a model string, and its
  tuning by cross-validation;
- :mod:`.features`: the feature spec (names, kinds, categorical levels) and the model matrix;
- :mod:`.design`: the arms, outcomes and columns to fit, the experiment table's checks, folds;
- :mod:`.spark_fit`: per-arm sample, holdout split, folds, the tasks run on Spark executors;
- :mod:`.compiled`: prediction by compiled trees; :mod:`.pyfunc`: the MLflow wrapper.
"""
