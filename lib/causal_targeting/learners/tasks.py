"""Fitting tasks: one base model each, defined by its rows (arms, fold) and its target.

A learner's fit is a list of stages; each stage is a list of independent :class:`FitTask`; a
task of a later stage may read the models of earlier stages (the X-learner's imputed effects
read the outcome models). :func:`fit_task` is the one function that fits a task and
:func:`tune_task` the one that tunes it, on the driver (:class:`LocalRunner`) or on an executor
(:func:`causal_targeting.learners.spark_fit.fit_on_spark`); :func:`fit_stages` is the one loop
over stages, folds and tuning that both run.

Cross-fitting: rows carry a fold in 0..K−1. A task of fold ``k`` fits on its arms' rows outside
fold ``k`` (its model is named ``{key}@fold{k}``); a task of fold None on all of them (named
``{key}``).

Booster keys (the keys of :attr:`UpliftModel.boosters`):

- ``mu__{outcome}__{arm}``: outcome model, E[Y | x] fit on the rows of ``arm``;
- ``tau1__{outcome}__{arm}``: X-learner effect model fit on the rows of ``arm`` with target
  D1 = Y − mu_control(x);
- ``tau0__{outcome}__{arm}``: X-learner effect model fit on the control rows with target
  D0 = mu_arm(x) − Y;
- ``dr__{outcome}__{arm}``: DR-learner effect model fit on the rows of ``arm`` and control with
  the doubly robust pseudo-outcome (:func:`dr_pseudo_outcome`), nuisances out of fold;
- ``propensity__{arm}``: classifier of P(T = arm | x, T in {arm, control}) on those rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from itertools import groupby
from typing import Any, Literal, Protocol

import lightgbm as lgb
import numpy as np
import pandas as pd

from causal_targeting.learners.base import (
    GRID_SIZE,
    TUNE_DRAW,
    Tuning,
    best_tuning,
    fit_base_model,
    grid_point_loss,
    tuning_rows,
)
from causal_targeting.learners.design import Design

Target = Literal["outcome", "treated_residual", "control_residual", "is_treated", "dr_pseudo"]
FULL = -1
"""Fold index of the model fit on all rows (in the ``which`` arrays of a :data:`Predictor`)."""
Predictor = Callable[[str, pd.DataFrame, np.ndarray], np.ndarray]
"""``predict(key, X, which)``: row i of ``X`` predicted by the model of key ``key`` and fold
``which[i]`` (:data:`FULL`: the model of all rows). ``X``'s index holds the rows' positions
among the runner's rows (:func:`booster_predictor`)."""


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


def dr_key(outcome: str, arm: str) -> str:
    """Key of the DR-learner effect model of ``arm``."""
    return f"dr__{outcome}__{arm}"


def propensity_key(arm: str) -> str:
    """Key of the propensity model of ``arm`` against control."""
    return f"propensity__{arm}"


def model_name(key: str, fold: int | None) -> str:
    """Name of the model of ``key`` fit outside ``fold`` (None or :data:`FULL`: on all rows)."""
    return key if fold is None or fold == FULL else f"{key}@fold{fold}"


def key_of(name: str) -> str:
    """The task key of a task's name (:attr:`FitTask.name`)."""
    return re.sub(r"@(fold|grid)\d+$", "", name)


@dataclass(frozen=True)
class FitTask:
    """One base model: fit on the rows whose treatment is in ``arms`` (outside ``fold``).

    ``target``: ``"outcome"`` (Y), ``"treated_residual"`` (Y − mu_control(x)),
    ``"control_residual"`` (mu_arm(x) − Y), ``"is_treated"`` (1[T = arm]), ``"dr_pseudo"``
    (:func:`dr_pseudo_outcome`). ``kind`` is the target's kind ("binary", "continuous" or
    "nonnegative").
    ``pair_propensity``: the DR target's known e_a (None: the fitted propensity model, clipped
    to ``clip``). ``grid_point``: set on a tuning task, the grid point it scores.
    """

    key: str
    arms: tuple[str, ...]
    target: Target
    kind: str
    arm: str
    outcome: str | None = None
    fold: int | None = None
    pair_propensity: float | None = None
    clip: tuple[float, float] = (0.01, 0.99)
    grid_point: int | None = None

    @property
    def name(self) -> str:
        """The fitted model's name (:func:`model_name`); a tuning task's ends ``@grid{i}``."""
        name = model_name(self.key, self.fold)
        return name if self.grid_point is None else f"{name}@grid{self.grid_point}"

    def on_fold(self, fold: int | None) -> FitTask:
        """The same task fit outside ``fold``."""
        return replace(self, fold=fold)

    def needs(self, control: str) -> tuple[str, ...]:
        """Keys of the earlier models the target reads."""
        if self.target == "treated_residual":
            return (mu_key(self.outcome, control),)
        if self.target == "control_residual":
            return (mu_key(self.outcome, self.arm),)
        if self.target == "dr_pseudo":
            fitted = () if self.pair_propensity is not None else (propensity_key(self.arm),)
            return (mu_key(self.outcome, self.arm), mu_key(self.outcome, control), *fitted)
        return ()


def outcome_tasks(design: Design, nonnegative: Sequence[str] = ()) -> list[FitTask]:
    """An outcome model per (outcome, arm), control included; an outcome in ``nonnegative``
    (a continuous amount never below 0) is a ``"nonnegative"`` target."""
    return [
        FitTask(mu_key(o, a), (a,), "outcome", "nonnegative" if o in nonnegative else kind, a, o)
        for o, kind in design.outcomes.items()
        for a in design.all_arms
    ]


def effect_tasks(design: Design, zero_on_control: Sequence[str] = ()) -> list[FitTask]:
    """The two X-learner effect models per (outcome, non-control arm); only the one of the arm
    rows for an outcome in ``zero_on_control`` (on the control rows its target mu_arm(x) − 0
    is mu_arm itself: no model to fit)."""
    tasks = []
    for o in design.outcomes:
        for a in design.arms:
            tasks.append(FitTask(tau1_key(o, a), (a,), "treated_residual", "continuous", a, o))
            if o not in zero_on_control:
                tasks.append(
                    FitTask(
                        tau0_key(o, a), (design.control,), "control_residual", "continuous", a, o
                    )
                )
    return tasks


def dr_tasks(
    design: Design, constants: Mapping[str, float], clip: tuple[float, float]
) -> list[FitTask]:
    """The DR-learner effect model per (outcome, non-control arm), on the arm's and the
    control's rows; ``constants``: known pair propensities by arm."""
    return [
        FitTask(
            dr_key(o, a),
            (a, design.control),
            "dr_pseudo",
            "continuous",
            a,
            o,
            pair_propensity=constants.get(a),
            clip=clip,
        )
        for o in design.outcomes
        for a in design.arms
    ]


def propensity_tasks(design: Design, arms: tuple[str, ...]) -> list[FitTask]:
    """A propensity classifier per arm in ``arms``, on that arm's and the control's rows."""
    return [
        FitTask(propensity_key(a), (a, design.control), "is_treated", "binary", a) for a in arms
    ]


def task_mask(
    task: FitTask, pdf: pd.DataFrame, design: Design, folds: np.ndarray | None
) -> np.ndarray:
    """Boolean mask of the rows of ``pdf`` the task fits on (its arms, outside its fold)."""
    mask = pdf[design.treatment].isin(task.arms).to_numpy()
    if task.fold is not None:
        mask &= np.asarray(folds) != task.fold
    return mask


def dr_pseudo_outcome(
    y: np.ndarray, treated: np.ndarray, mu_arm: np.ndarray, mu_control: np.ndarray, e: np.ndarray
) -> np.ndarray:
    """AIPW pseudo-outcome of the effect of an arm a against control c, on the pair's rows.

    Y* = mu_a(x) − mu_c(x) + t·(Y − mu_a(x))/e(x) − (1 − t)·(Y − mu_c(x))/(1 − e(x)), with
    t = 1[T = a] and e(x) = P(T = a | x, T in {a, c}) = e_a(x)/(e_a(x) + e_c(x)); on the pair's
    rows this is the formula with the arms' own propensities e_a and e_c, and E[Y* | x] is the
    effect when either the outcome models or the propensity are right. Shapes (n,), returns (n,).
    """
    t = np.asarray(treated, dtype=np.float64)
    return mu_arm - mu_control + t * (y - mu_arm) / e - (1.0 - t) * (y - mu_control) / (1.0 - e)


def source_folds(task: FitTask, folds: np.ndarray | None, n_rows: int) -> np.ndarray:
    """Which fold's earlier models predict each row of the task's target: out of fold (the
    row's own fold) for the DR pseudo-outcome, else the models of the task's own fold."""
    if task.target == "dr_pseudo" and folds is not None:
        return np.asarray(folds, dtype=np.int64)
    return np.full(n_rows, FULL if task.fold is None else task.fold, dtype=np.int64)


def task_target(
    task: FitTask,
    rows: pd.DataFrame,
    X: pd.DataFrame,
    folds: np.ndarray | None,
    design: Design,
    predict: Predictor,
) -> np.ndarray:
    """The task's target on ``rows`` (``X``: their model matrix; ``folds``: their folds;
    ``predict`` gives earlier models' predictions, :data:`Predictor`)."""
    treated = (rows[design.treatment] == task.arm).to_numpy()
    if task.target == "is_treated":
        return treated.astype(np.float64)
    y = rows[task.outcome].to_numpy(dtype=np.float64)
    which = source_folds(task, folds, len(rows))
    if task.target == "outcome":
        return y
    if task.target == "treated_residual":
        return y - predict(mu_key(task.outcome, design.control), X, which)
    mu_arm = predict(mu_key(task.outcome, task.arm), X, which)
    if task.target == "control_residual":
        return mu_arm - y
    if task.pair_propensity is not None:
        e = np.full(len(rows), task.pair_propensity)
    else:
        e = np.clip(predict(propensity_key(task.arm), X, which), *task.clip)
    mu_control = predict(mu_key(task.outcome, design.control), X, which)
    return dr_pseudo_outcome(y, treated, mu_arm, mu_control, e)


def booster_predictor(boosters: Mapping[str, str], n_rows: int) -> Predictor:
    """``predict(key, X, which)`` with LightGBM on the rows of a runner (``n_rows`` of them;
    ``X``'s index: each row's position among them), each booster parsed once on first use and
    each row predicted once by each model.

    The tasks of one key ask for the same predictions again: a DR pseudo-outcome reads every
    row's out-of-fold nuisances in the fit on all rows and again in each fit outside a fold, the
    grid points of a tuning read the same targets. Each model's predictions are kept by
    position (``n_rows`` floats a model) and only the rows not yet predicted go to LightGBM, whose
    prediction of a row does not depend on the other rows: the same values as predicting anew.
    """
    parsed: dict[str, lgb.Booster] = {}
    memo: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def predicted(name: str, X: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
        """Model ``name``'s predictions of the rows of ``X`` at ``rows`` (positions in X)."""
        values, known = memo.setdefault(
            name, (np.empty(n_rows, dtype=np.float64), np.zeros(n_rows, dtype=bool))
        )
        positions = X.index.to_numpy()[rows]
        new = ~known[positions]
        if new.any():
            if name not in parsed:
                parsed[name] = lgb.Booster(model_str=boosters[name])
            values[positions[new]] = parsed[name].predict(X.iloc[rows[new]], num_threads=1)
            known[positions[new]] = True
        return values[positions]

    def predict(key: str, X: pd.DataFrame, which: np.ndarray) -> np.ndarray:
        out = np.empty(len(X), dtype=np.float64)
        for fold in np.unique(which):
            rows = np.flatnonzero(which == fold)
            out[rows] = predicted(model_name(key, int(fold)), X, rows)
        return out

    return predict


def row_weight(rows: pd.DataFrame, design: Design) -> np.ndarray | None:
    """The rows' weights, or None without a weight column."""
    return None if design.weight is None else rows[design.weight].to_numpy(dtype=np.float64)


def fit_task(
    task: FitTask,
    rows: pd.DataFrame,
    X: pd.DataFrame,
    folds: np.ndarray | None,
    design: Design,
    settings: Mapping[str, Any],
    predict: Predictor,
) -> str:
    """Fit the task's base model on its ``rows`` (``X``: their model matrix, from
    :meth:`FeatureSpec.matrix`; ``folds``: their folds) and return the model string.

    ``settings`` are :func:`fit_base_model`'s keyword arguments (params, seed, n_estimators,
    valid_fraction, early_stopping_rounds), tuned ones included (:func:`tuned_settings`).
    """
    y = task_target(task, rows, X, folds, design, predict)
    return fit_base_model(X, y, task.kind, weight=row_weight(rows, design), **settings)


def tune_task(
    task: FitTask,
    rows: pd.DataFrame,
    X: pd.DataFrame,
    folds: np.ndarray,
    predict: Predictor,
    *,
    design: Design,
    settings: Mapping[str, Any],
    max_rows: int | None = None,
) -> str:
    """The cross-validated trees and loss of the task's grid point on its rows and ``folds``
    (:func:`~causal_targeting.learners.base.grid_point_loss`), as JSON; with ``max_rows``, on
    the ``max_rows`` rows of smallest draw (:func:`~causal_targeting.learners.base.tuning_rows`
    of the rows' :data:`~causal_targeting.learners.base.TUNE_DRAW` column)."""
    if max_rows is not None:
        keep = tuning_rows(rows[TUNE_DRAW].to_numpy(), max_rows)
        rows, X, folds = rows.iloc[keep], X.iloc[keep], np.asarray(folds)[keep]
    y = task_target(task, rows, X, folds, design, predict)
    return json.dumps(
        grid_point_loss(
            X,
            y,
            task.kind,
            folds,
            task.grid_point,
            params=settings["params"],
            seed=settings["seed"],
            weight=row_weight(rows, design),
            n_estimators=settings["n_estimators"],
        )
    )


def tunings(
    stage: Sequence[FitTask],
    runner: Runner,
    boosters: Mapping[str, str],
    work: Work,
    row_limit: int | None = None,
) -> dict[str, Tuning]:
    """Each task's :class:`Tuning`: its grid points scored side by side (tasks × points, by
    ``work``: :func:`tune_task`, which reads at most ``row_limit`` rows), the best kept
    (:func:`best_tuning`)."""
    jobs = [replace(task, grid_point=point) for task in stage for point in range(GRID_SIZE)]
    scored = runner.run(jobs, work, boosters, row_limit)
    return {
        task.key: best_tuning([json.loads(scored[job.name]) for job in jobs if job.key == task.key])
        for task in stage
    }


def tuned_settings(settings: Mapping[str, Any], tuning: Tuning | None) -> dict[str, Any]:
    """:func:`fit_base_model` arguments: ``settings``, or the tuned params and tree count
    (no early stopping: the count was chosen by cross-validation)."""
    if tuning is None:
        return dict(settings)
    return {
        **settings,
        "params": tuning.params,
        "n_estimators": tuning.n_estimators,
        "early_stopping_rounds": None,
    }


def fit_tuned_task(
    task: FitTask,
    rows: pd.DataFrame,
    X: pd.DataFrame,
    folds: np.ndarray | None,
    predict: Predictor,
    *,
    design: Design,
    settings: Mapping[str, Any],
    tuning: Mapping[str, Tuning],
) -> str:
    """:func:`fit_task` with the task's tuned settings, if it was tuned (:func:`tuned_settings`)."""
    chosen = tuned_settings(settings, tuning.get(task.key))
    return fit_task(task, rows, X, folds, design, chosen, predict)


Work = Callable[[FitTask, pd.DataFrame, pd.DataFrame, np.ndarray | None, Predictor], str]
"""A unit of work on a task's rows: (task, rows, X, folds, predict) -> a string."""


class Runner(Protocol):
    """Runs a unit of work for each task, each on its own rows, in process or on Spark."""

    def run(
        self,
        tasks: Sequence[FitTask],
        work: Work,
        boosters: Mapping[str, str],
        row_limit: int | None = None,
    ) -> dict[str, str]:
        """``work`` on each task's rows (:func:`task_mask`) with a predictor of ``boosters``;
        results by task name. With ``row_limit``, ``work`` reads only the ``row_limit`` rows of
        smallest draw (:func:`~causal_targeting.learners.base.tuning_rows`): a runner may hand
        it fewer of the others."""
        ...


@dataclass(frozen=True)
class Fitted:
    """Model strings by model name (:func:`model_name`) and tunings by task key."""

    boosters: dict[str, str]
    tuning: dict[str, Tuning]

    def of_fold(self, fold: int | None) -> dict[str, str]:
        """The boosters of one fold (None: fit on all rows), by task key."""
        keys = {key_of(name) for name in self.boosters}
        return {
            key: self.boosters[model_name(key, fold)]
            for key in keys
            if model_name(key, fold) in self.boosters
        }


def fit_stages(
    stages: Sequence[Sequence[FitTask]],
    runner: Runner,
    design: Design,
    settings: Mapping[str, Any],
    n_folds: int | None,
    tune: bool,
    tune_rows: int | None = None,
) -> Fitted:
    """Every task of every stage fit on all rows and, with ``n_folds``, outside each fold.

    With ``tune``, each stage's tasks are first tuned (:func:`tunings`, on all their rows, or
    ``tune_rows`` of them, by the same folds, targets from the earlier models fit on all rows)
    and every fit of the task uses the tuned settings. Tasks run side by side: a stage's grid
    points (tasks × points), then its fits (tasks × folds).
    """
    boosters: dict[str, str] = {}
    tuning: dict[str, Tuning] = {}
    folds = [None, *range(n_folds or 0)]
    for stage in stages:
        if tune:
            work = partial(tune_task, design=design, settings=settings, max_rows=tune_rows)
            tuning.update(tunings(stage, runner, boosters, work, tune_rows))
        fit_work = partial(fit_tuned_task, design=design, settings=settings, tuning=dict(tuning))
        jobs = [task.on_fold(fold) for task in stage for fold in folds]
        boosters.update(runner.run(jobs, fit_work, boosters))
    return Fitted(boosters, tuning)


@dataclass
class LocalRunner:
    """Runs each task in process, on the rows of ``pdf`` (ordered), matrix ``X`` (index: the
    rows' positions, 0..n−1), folds."""

    pdf: pd.DataFrame
    X: pd.DataFrame
    folds: np.ndarray | None
    design: Design

    def run(
        self,
        tasks: Sequence[FitTask],
        work: Work,
        boosters: Mapping[str, str],
        row_limit: int | None = None,
    ) -> dict[str, str]:
        """``work`` on each task's rows, one after the other (all of them, whatever
        ``row_limit``); the tasks of one key share a predictor, as in a Spark group."""
        results = {}
        for _, same_key in groupby(tasks, key=lambda task: task.key):
            predict = booster_predictor(boosters, len(self.pdf))
            for task in same_key:
                rows = task_mask(task, self.pdf, self.design, self.folds)
                folds = None if self.folds is None else np.asarray(self.folds)[rows]
                results[task.name] = work(task, self.pdf[rows], self.X[rows], folds, predict)
        return results
