"""Fitting tasks: one base model each, defined by its rows (arms) and its target.

A learner's fit is a list of stages; each stage is a list of independent :class:`FitTask`; a
task of a later stage may read the models of earlier stages (the X-learner's imputed effects
read the outcome models). :func:`fit_task` is the one function that fits a task, on the driver
(:meth:`UpliftLearner.fit`) or on an executor (:func:`causal_targeting.learners.spark_fit.
fit_on_spark`).

Booster keys (the keys of :attr:`UpliftModel.boosters`):

- ``mu__{outcome}__{arm}``: outcome model, E[Y | x] fit on the rows of ``arm``;
- ``tau1__{outcome}__{arm}``: X-learner effect model fit on the rows of ``arm`` with target
  D1 = Y − mu_control(x);
- ``tau0__{outcome}__{arm}``: X-learner effect model fit on the control rows with target
  D0 = mu_arm(x) − Y;
- ``propensity__{arm}``: classifier of P(T = arm | x, T in {arm, control}) on those rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

from causal_targeting.learners.base import fit_base_model
from causal_targeting.learners.design import Design

Target = Literal["outcome", "treated_residual", "control_residual", "is_treated"]
Predictor = Callable[[str, pd.DataFrame], np.ndarray]


def mu_key(outcome: str, arm: str) -> str:
    """Key of the outcome model of ``arm`` (also the name of its score column)."""
    return f"mu__{outcome}__{arm}"


def tau_key(outcome: str, arm: str) -> str:
    """Name of the effect score column of ``arm`` against control."""
    return f"tau__{outcome}__{arm}"


def tau1_key(outcome: str, arm: str) -> str:
    """Key of the X-learner effect model fit on the rows of ``arm``."""
    return f"tau1__{outcome}__{arm}"


def tau0_key(outcome: str, arm: str) -> str:
    """Key of the X-learner effect model of ``arm`` fit on the control rows."""
    return f"tau0__{outcome}__{arm}"


def propensity_key(arm: str) -> str:
    """Key of the propensity model of ``arm`` against control."""
    return f"propensity__{arm}"


@dataclass(frozen=True)
class FitTask:
    """One base model: fit on the rows whose treatment is in ``arms``, on the target.

    ``target``: ``"outcome"`` (Y), ``"treated_residual"`` (Y − mu_control(x)),
    ``"control_residual"`` (mu_arm(x) − Y), ``"is_treated"`` (1[T = arm]). ``kind`` is the
    target's kind ("binary" or "continuous").
    """

    key: str
    arms: tuple[str, ...]
    target: Target
    kind: str
    arm: str
    outcome: str | None = None

    def needs(self, control: str) -> tuple[str, ...]:
        """Keys of the earlier models the target reads."""
        if self.target == "treated_residual":
            return (mu_key(self.outcome, control),)
        if self.target == "control_residual":
            return (mu_key(self.outcome, self.arm),)
        return ()


def outcome_tasks(design: Design) -> list[FitTask]:
    """An outcome model per (outcome, arm), control included."""
    return [
        FitTask(mu_key(o, a), (a,), "outcome", kind, a, o)
        for o, kind in design.outcomes.items()
        for a in design.all_arms
    ]


def effect_tasks(design: Design) -> list[FitTask]:
    """The two X-learner effect models per (outcome, non-control arm)."""
    tasks = []
    for o in design.outcomes:
        for a in design.arms:
            tasks.append(FitTask(tau1_key(o, a), (a,), "treated_residual", "continuous", a, o))
            tasks.append(
                FitTask(tau0_key(o, a), (design.control,), "control_residual", "continuous", a, o)
            )
    return tasks


def propensity_tasks(design: Design, arms: tuple[str, ...]) -> list[FitTask]:
    """A propensity classifier per arm in ``arms``, on that arm's and the control's rows."""
    return [
        FitTask(propensity_key(a), (a, design.control), "is_treated", "binary", a) for a in arms
    ]


def task_mask(task: FitTask, pdf: pd.DataFrame, design: Design) -> np.ndarray:
    """Boolean mask of the rows of ``pdf`` the task fits on."""
    return pdf[design.treatment].isin(task.arms).to_numpy()


def task_target(
    task: FitTask, rows: pd.DataFrame, X: pd.DataFrame, design: Design, predict: Predictor
) -> np.ndarray:
    """The task's target on ``rows`` (``X`` is their model matrix; ``predict(key, X)`` gives an
    earlier model's predictions)."""
    if task.target == "is_treated":
        return (rows[design.treatment] == task.arm).to_numpy(dtype=np.float64)
    y = rows[task.outcome].to_numpy(dtype=np.float64)
    if task.target == "treated_residual":
        return y - predict(mu_key(task.outcome, design.control), X)
    if task.target == "control_residual":
        return predict(mu_key(task.outcome, task.arm), X) - y
    return y


def booster_predictor(boosters: Mapping[str, str]) -> Predictor:
    """``predict(key, X)`` with LightGBM, each booster parsed once on first use."""
    parsed: dict[str, lgb.Booster] = {}

    def predict(key: str, X: pd.DataFrame) -> np.ndarray:
        if key not in parsed:
            parsed[key] = lgb.Booster(model_str=boosters[key])
        return np.asarray(parsed[key].predict(X, num_threads=1), dtype=np.float64)

    return predict


def fit_task(
    task: FitTask,
    rows: pd.DataFrame,
    X: pd.DataFrame,
    design: Design,
    settings: Mapping[str, Any],
    predict: Predictor,
) -> str:
    """Fit the task's base model on its ``rows`` (``X``: their model matrix, from
    :meth:`FeatureSpec.matrix`) and return the model string.

    ``settings`` are :func:`fit_base_model`'s keyword arguments (params, seed, n_estimators,
    valid_fraction, early_stopping_rounds).
    """
    y = task_target(task, rows, X, design, predict)
    weight = None if design.weight is None else rows[design.weight].to_numpy(dtype=np.float64)
    return fit_base_model(X, y, task.kind, weight=weight, **settings)
