"""Intent segments: campaign-driven, organic and low-engagement customers.

:mod:`~.model` holds the artifact (:class:`~.model.IntentModel`) and the two-stage learner
(stage 1 :mod:`~.behaviour`, stage 2 :mod:`~.label_correction`, trained by :mod:`~.classifiers`
with the :mod:`~.self_paced` schedule); :mod:`~.strata` is the model-free view from uplift
scores; :mod:`~.evidence` judges both against a known truth.
"""
