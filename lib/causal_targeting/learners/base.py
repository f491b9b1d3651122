"""LightGBM base models: one pure function from a matrix and a target to a model string.

Every model of an uplift learner (an outcome model per arm, an effect model, a propensity model)
is fit by :func:`fit_base_model`, so fitting decomposes into independent tasks that run one after
another on the driver or side by side on Spark executors and give the same model strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from causal_targeting.errors import ConfigError

OBJECTIVES = {
    "binary": "binary",
    "continuous": "regression",
    "nonnegative": "poisson",
    "multiclass": "multiclass",
}
"""LightGBM objective per target kind: log-loss for 0/1 targets, squared error for continuous
ones, the Poisson deviance with a log link for amounts that are never negative
(:func:`amount_weight`), softmax log-loss for class labels 0..K−1 (the caller sets
``num_class``).

The Poisson deviance 2·Σ [y log(y / mu) − (y − mu)] is minimized in expectation by
mu(x) = E[y | x] for any y >= 0, counts or not, and its log link is canonical: at each leaf's
optimum Σ (mu − y) = 0, so the predictions' mean is the amount's mean. For an amount that is
exactly 0 for most rows and heavy-tailed otherwise (spend, revenue), its variance Var ∝ mu
weighs a row of large expected spend less than squared error's constant variance does, and
the predictions cannot go below 0. (Tweedie powers between 1 and 2 fit such amounts too, but
their log link is not canonical: with the grid's L2 penalty their mean fell 3% short of the
amount's on a log-normal spend.)"""

ALIASES: dict[str, frozenset[str]] = {
    "learning_rate": frozenset({"learning_rate", "shrinkage_rate", "eta"}),
    "num_threads": frozenset({"num_threads", "num_thread", "nthread", "nthreads", "n_jobs"}),
    "objective": frozenset({"objective", "objective_type", "app", "application", "loss"}),
    "num_iterations": frozenset(
        {
            "num_iterations",
            "num_iteration",
            "n_iter",
            "num_tree",
            "num_trees",
            "num_round",
            "num_rounds",
            "nrounds",
            "num_boost_round",
            "n_estimators",
            "max_iter",
        }
    ),
    "seed": frozenset({"seed", "random_seed", "random_state"}),
    "early_stopping_round": frozenset(
        {"early_stopping_round", "early_stopping_rounds", "early_stopping", "n_iter_no_change"}
    ),
    "max_cat_to_onehot": frozenset({"max_cat_to_onehot"}),
}
"""LightGBM's names for the parameters handled here (its parameter docs list the aliases)."""

ONE_LEVEL_SPLITS = 1_000_000
"""``max_cat_to_onehot`` above any categorical feature's number of levels: every split of a
categorical feature sends one level one way and all the others the other way.

LightGBM's default above 4 levels sorts a node's levels by their mean gradient (sum g / (sum h +
cat_smooth)) and cuts the sorted order: it chooses among orders made from the targets
themselves, a search whose optimism grows with the levels, where a one-level split is one
fixed question a level, as a numeric threshold is one a value. On a noisy target (an outcome
of 1% events, an imputed effect, a DR pseudo-outcome) the sorted cut finds groups of levels
that differ by chance: in the simulator (retention and rewards, 50,000 rows) one pure-noise
categorical of 300 levels raised the tree learners' regret from 9-14% to 23-37% on retention
and cut their value on rewards by two thirds or more (the DR-learner's to a loss); with
one-level splits their values were those of the data without it. Where the levels carry
the effect (recency in 60 bins under shuffled labels, its only carrier) one-level splits also
did better (X-learner regret 14.4% against 21.1%; benchmarks/RESULTS.md, "simulated
regret")."""

DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_threads": 1,
    "max_cat_to_onehot": ONE_LEVEL_SPLITS,
}
"""LightGBM parameters used unless the learner's ``params`` set them (under any alias)."""

RESERVED_PARAMS = ("objective", "num_iterations", "seed", "early_stopping_round")
"""Parameters the learner sets itself (from the target kind and its own arguments)."""


def check_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The user's LightGBM parameters; ConfigError if one is set by the learner itself."""
    params = dict(params or {})
    reserved = sorted(name for key in RESERVED_PARAMS for name in ALIASES[key] & set(params))
    if reserved:
        raise ConfigError(
            f"LightGBM parameter(s) {', '.join(reserved)} are set by the uplift learner: use its "
            "n_estimators, early_stopping_rounds and seed arguments (the objective follows the "
            "outcome kind)"
        )
    return params


def lightgbm_params(kind: str, params: Mapping[str, Any] | None, seed: int) -> dict[str, Any]:
    """The full LightGBM parameters of a base model: defaults, the user's, then fixed ones.

    A default is dropped when the user sets that parameter under any of its aliases (LightGBM
    would otherwise keep the main name's value and ignore the alias). Fixed: the objective of
    ``kind`` (``"binary"`` or ``"continuous"``), the seed, and ``deterministic=True`` with
    ``force_row_wise=True`` so the same rows give the same trees.
    """
    if kind not in OBJECTIVES:
        raise ConfigError(f"unknown target kind '{kind}'; use one of {', '.join(OBJECTIVES)}")
    user = check_params(params)
    defaults = {k: v for k, v in DEFAULT_PARAMS.items() if not ALIASES[k] & set(user)}
    return {
        **defaults,
        **user,
        "objective": OBJECTIVES[kind],
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


NAME_REFUSED = re.compile(r'[\s",:\[\]{}]')
"""What LightGBM will not keep in a feature name: the JSON delimiters it refuses (a fit stops
with "Do not support special JSON characters in feature name") and whitespace (it writes '_'
for it itself, with a warning)."""


def lightgbm_names(names: Sequence[str]) -> list[str]:
    """Feature names LightGBM accepts for the columns ``names``: each refused character
    (:data:`NAME_REFUSED`) written '_', and, where that makes two names equal ('a:b' and 'a,b'),
    every name prefixed ``f{position}_``. A name LightGBM accepts is kept as it is.

    Only the model string carries these names: a model matrix is read by column position
    (:meth:`FeatureSpec.array`), and the feature spec keeps the table's own names.
    """
    written = [NAME_REFUSED.sub("_", str(name)) for name in names]
    if len(set(written)) < len(written):
        return [f"f{position}_{name}" for position, name in enumerate(written)]
    return written


def lightgbm_frame(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` with its columns named as LightGBM accepts them (:func:`lightgbm_names`)."""
    return X.set_axis(lightgbm_names(list(X.columns)), axis=1)


def fitted_target(
    kind: str, y: np.ndarray, weight: np.ndarray | None, training: list[np.ndarray]
) -> tuple[str, np.ndarray | None]:
    """The kind a target is fit as and its row weights: ``kind`` and ``weight``, except for a
    ``"nonnegative"`` target, whose weights are :func:`amount_weight`'s, or which is fit as
    ``"continuous"`` (squared error) when a training set (``training``: row positions) sums to
    0, where the Poisson deviance has no minimum (log mu = −inf)."""
    if kind != "nonnegative":
        return kind, weight
    if any(not y[rows].sum() > 0 for rows in training):
        return "continuous", weight
    return kind, amount_weight(y, weight)


def amount_weight(y: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    """Row weights that make the Poisson objective's regularization independent of the
    amount's unit: ``weight / m``, m the (weighted) mean of ``y``.

    With the log link f, a row's gradient is e^f − y and its hessian e^f, m at f = log m.
    Leaf values are −Σ g / (Σ h + λ) and a leaf needs ``min_child_samples`` rows and a
    hessian sum of ``min_sum_hessian_in_leaf``, so without the factor the grid's L2 penalty
    would shrink an amount in dollars and the same amount in cents by different degrees; with
    it a row's hessian is 1 at the mean, as under squared error, and the amount times c gives
    the same trees with every prediction times c. A constant factor on every weight leaves the
    fitted mean where it was.
    """
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=np.float64)
    return w / float(np.average(y, weights=w))


def validation_mask(n_rows: int, valid_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the validation fold: ``round(valid_fraction·n)`` rows drawn by ``seed``.

    Empty when ``valid_fraction`` is 0 or the fold would leave fewer than 2 training rows.
    """
    n_valid = round(valid_fraction * n_rows)
    mask = np.zeros(n_rows, dtype=bool)
    if n_valid >= 1 and n_rows - n_valid >= 2:
        mask[np.random.default_rng(seed).permutation(n_rows)[:n_valid]] = True
    return mask


def fit_base_model(
    X: pd.DataFrame,
    y: np.ndarray,
    kind: str,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    weight: np.ndarray | None = None,
    valid_fraction: float = 0.2,
    early_stopping_rounds: int | None = 20,
    n_estimators: int = 300,
) -> str:
    """Fit one LightGBM model of ``y`` on ``X`` and return its model string.

    ``kind="binary"`` fits a classifier (binary log-loss; predictions are P(y = 1 | x)),
    ``kind="continuous"`` a regressor (squared error; predictions are E[y | x]),
    ``kind="nonnegative"`` a Poisson regressor of an amount ``y >= 0`` (predictions are
    E[y | x] = exp f(x); :func:`fitted_target`). With
    ``early_stopping_rounds`` and ``valid_fraction > 0``, a validation fold of
    ``round(valid_fraction·n)`` rows drawn by ``seed`` is held out and boosting stops once its loss
    has not improved for ``early_stopping_rounds`` rounds (at most ``n_estimators`` trees); the
    string keeps the best iteration. Otherwise all rows are used for ``n_estimators`` trees.
    Categorical columns of ``X`` (``pd.Categorical``) are categorical features; NaN is missing.
    """
    y = np.asarray(y, dtype=np.float64)
    mask = (
        validation_mask(len(y), valid_fraction, seed)
        if early_stopping_rounds
        else np.zeros(len(y), dtype=bool)
    )
    kind, weight = fitted_target(kind, y, weight, [np.flatnonzero(~mask)])
    full_params = lightgbm_params(kind, params, seed)
    X = lightgbm_frame(X)
    train = lgb.Dataset(X[~mask], label=y[~mask], weight=None if weight is None else weight[~mask])
    valid_sets, callbacks = [], []
    if mask.any():
        valid = train.create_valid(
            X[mask], label=y[mask], weight=None if weight is None else weight[mask]
        )
        valid_sets = [valid]
        callbacks = [lgb.early_stopping(early_stopping_rounds, verbose=False)]
    booster = lgb.train(
        full_params,
        train,
        num_boost_round=n_estimators,
        valid_sets=valid_sets,
        callbacks=callbacks,
        keep_training_booster=True,  # the string is written once, below, not round-tripped
    )
    best = booster.best_iteration if mask.any() and booster.best_iteration > 0 else None
    return booster.model_to_string(num_iteration=best)


@dataclass(frozen=True)
class Tuning:
    """The regularization and the number of trees of one base model, chosen by cross-validation.

    ``params``: the chosen grid point; ``n_estimators``: its number of trees; ``loss``: its mean
    out-of-fold loss (log-loss for binary targets, squared error otherwise); ``grid``: every grid
    point with its trees and loss, in the order tried.
    """

    params: dict[str, Any]
    n_estimators: int
    loss: float
    grid: list[dict[str, Any]]


MIN_PATIENCE = 20
"""Fewest rounds without improvement that end a cross-validated tree count (:func:`patience`)."""


def patience(n_rows: int) -> int:
    """Most rounds without improvement of the cross-validated tree count: n/500 rounds, within
    [:data:`MIN_PATIENCE`, 100]. With small learning rates and strong L2 (:func:`default_grid`)
    one tree moves the loss by little and a fold's loss curve is noisy, so a short patience
    stops at a handful of trees (the failure of a 20-round patience on a 1% outcome: 4 trees);
    large samples, whose loss keeps falling slowly, wait longer."""
    return int(np.clip(n_rows // 500, MIN_PATIENCE, 100))


def rounds_to_confirm(best_trees: int, n_rows: int) -> int:
    """Rounds without improvement that confirm a best of ``best_trees`` trees: half of them,
    within [max(P/2, :data:`MIN_PATIENCE`), P], P = :func:`patience` of ``n_rows``.

    At a fixed learning rate a loss curve's length scale is the rounds it took to reach its
    minimum: one that bottomed out after b trees and has not improved in b/2 more has turned
    (a 31-leaf point that overfits after 10 trees stops 50 rounds later instead of 100), while
    a slow curve (learning rate 0.05, strong L2, its best after hundreds of trees) keeps the
    whole patience. The floor keeps an early, noisy minimum of a rare outcome from ending the
    search (20 rounds below 20,000 rows, where P <= 40). On the tunings of the rewards (200,000
    rows), retention (50,000) and rare_binary (200,000) simulations, seed 1 (38 base models, 152
    grid points, every loss curve run to 500 trees), it chose the same grid point and tree count
    as the plain patience P for every model, in 25% fewer rounds.
    """
    limit = patience(n_rows)
    return int(np.clip(best_trees // 2, max(limit // 2, MIN_PATIENCE), limit))


def stop_once_confirmed(n_rows: int) -> Callable[[lgb.callback.CallbackEnv], None]:
    """A ``lightgbm.cv`` callback: early stopping on the first metric's mean validation loss
    (its negative when higher is better) once its best has held for :func:`rounds_to_confirm`
    rounds, and at the last round; LightGBM then truncates the history to the best round, as
    with ``lightgbm.early_stopping``."""
    best: dict[str, Any] = {"loss": np.inf, "round": 0, "result": None}

    def callback(env: lgb.callback.CallbackEnv) -> None:
        result = env.evaluation_result_list[0]
        loss = -result[2] if result[3] else result[2]
        if loss < best["loss"]:
            best.update(loss=loss, round=env.iteration, result=[result])
        waited = env.iteration - best["round"]
        if (
            waited >= rounds_to_confirm(best["round"] + 1, n_rows)
            or env.iteration == env.end_iteration - 1
        ):
            raise lgb.callback.EarlyStopException(best["round"], best["result"])

    callback.order = 30  # type: ignore[attr-defined]  # where lightgbm.early_stopping runs
    return callback


def min_trees(n_rows: int) -> int:
    """The fewest trees a tuned model keeps: n/1000, within [20, 100]. At a learning rate of
    0.05 to 0.1, fewer trees would shrink every prediction towards the mean by most of its
    signal; the strong L2 of the grid keeps these trees from fitting noise."""
    return int(np.clip(n_rows // 1000, 20, 100))


GRID_SIZE = 4
"""Points of :func:`default_grid`."""


def default_grid(n_rows: int) -> list[dict[str, Any]]:
    """The regularization grid searched for a base model of ``n_rows`` rows: four points.

    Chosen for small, noisy, rare-outcome experiments rather than for any one data set: shallow
    trees (7 or 15 leaves), leaves of at least max(50, n/500) rows (with a 1% base rate a leaf
    then holds a few events at least), strong L2 on leaf values (10 or 30; leaf values are sums
    of gradients over hessians, and a rare outcome's hessians are tiny, so weak L2 lets a leaf
    of a few events jump), learning rate 0.05 or 0.1 (the tree count is tuned either way). One
    looser point (31 leaves, L2 1) lets a large, clean experiment use more structure.
    """
    leaf = max(50, n_rows // 500)
    return [
        {"num_leaves": 7, "min_child_samples": leaf, "learning_rate": 0.05, "lambda_l2": 10.0},
        {"num_leaves": 15, "min_child_samples": leaf, "learning_rate": 0.05, "lambda_l2": 10.0},
        {"num_leaves": 7, "min_child_samples": 4 * leaf, "learning_rate": 0.1, "lambda_l2": 30.0},
        {"num_leaves": 31, "min_child_samples": leaf, "learning_rate": 0.1, "lambda_l2": 1.0},
    ]


def cv_loss(
    X: pd.DataFrame,
    y: np.ndarray,
    kind: str,
    folds: np.ndarray,
    params: Mapping[str, Any],
    *,
    seed: int,
    weight: np.ndarray | None,
    n_estimators: int,
) -> tuple[int, float]:
    """(trees, loss): ``lightgbm.cv`` on the given folds (fold ``k``: the rows with
    ``folds == k`` validate, the others train), stopped once the mean validation loss has not
    improved for :func:`rounds_to_confirm` rounds; at least :func:`min_trees` trees. The loss is
    the objective's (:data:`OBJECTIVES`, :func:`fitted_target` of the folds' training rows)."""
    splits = [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in np.unique(folds)]
    kind, weight = fitted_target(kind, y, weight, [train for train, _ in splits])
    full = {**lightgbm_params(kind, {}, seed), **params}
    history = lgb.cv(
        full,
        lgb.Dataset(lightgbm_frame(X), label=y, weight=weight),
        num_boost_round=n_estimators,
        folds=splits,
        callbacks=[stop_once_confirmed(len(y))],
    )
    losses = next(values for name, values in history.items() if name.endswith("-mean"))
    trees = max(len(losses), min(min_trees(len(y)), n_estimators))
    return trees, float(losses[-1])


def grid_point_loss(
    X: pd.DataFrame,
    y: np.ndarray,
    kind: str,
    folds: np.ndarray,
    point: int,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    weight: np.ndarray | None = None,
    n_estimators: int = 500,
) -> dict[str, Any]:
    """Grid point number ``point`` of :func:`default_grid` (the user's ``params``, checked by
    :func:`check_params`, over it) with its trees and loss (:func:`cv_loss` on ``folds``, an
    integer fold per row): a dict of ``params``, ``n_estimators``, ``loss``."""
    y = np.asarray(y, dtype=np.float64)
    merged = {**default_grid(len(y))[point], **check_params(params)}
    trees, loss = cv_loss(
        X, y, kind, folds, merged, seed=seed, weight=weight, n_estimators=n_estimators
    )
    return {"params": merged, "n_estimators": trees, "loss": loss}


TUNE_DRAW = "__tune_draw"
"""The column of each experiment row's tuning draw (:func:`tuning_draw`), added by the fits."""


def tuning_draw(keys: pd.Series, seed: int) -> np.ndarray:
    """A number in [0, 1) per row, a hash of its key (the customer id) and ``seed``: uniform over
    keys, and the same for the same key and seed whatever rows or order it comes with.

    The hash is pandas' (:func:`pandas.util.hash_pandas_object` of the key beside the seed);
    its top 53 bits are the draw.
    """
    pair = pd.DataFrame({"key": keys.to_numpy(), "seed": np.full(len(keys), seed, np.int64)})
    hashed = pd.util.hash_pandas_object(pair, index=False).to_numpy(dtype=np.uint64)
    return (hashed >> np.uint64(11)).astype(np.float64) / float(2**53)


def tuning_rows(draws: np.ndarray, max_rows: int | None) -> np.ndarray:
    """Positions (ascending) of the rows a base model is tuned on: all of them, or the
    ``max_rows`` of smallest draw (:func:`tuning_draw`; ties by position), a uniform sample
    without replacement that a Spark filter on the draw can cut down to before the rows move.

    Tuning scores every grid point by K-fold cross-validation, about 4K fits of the task, so
    on large tasks it costs several times the cross-fitting it serves; the regularization
    and tree count of the best point are chosen on the subsample and kept for the fits on all
    rows. On the subsample the tree count is at most what the whole rows would support (a
    loss curve on fewer rows turns up sooner), so the fits on all rows are, if anything, more
    regularized than tuned on all of them.
    """
    draws = np.asarray(draws)
    if max_rows is None or len(draws) <= max_rows:
        return np.arange(len(draws))
    return np.sort(np.argsort(draws, kind="stable")[:max_rows])


def best_tuning(points: list[dict[str, Any]]) -> Tuning:
    """The :class:`Tuning` of least loss among ``points`` (:func:`grid_point_loss`'s dicts, in
    grid order; ties go to the first)."""
    best = min(points, key=lambda point: point["loss"])
    return Tuning(best["params"], best["n_estimators"], best["loss"], list(points))


def tune_base_model(
    X: pd.DataFrame,
    y: np.ndarray,
    kind: str,
    folds: np.ndarray,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    weight: np.ndarray | None = None,
    n_estimators: int = 500,
) -> Tuning:
    """The grid point of :func:`default_grid` and the tree count of least cross-validated loss
    on ``folds`` (:func:`best_tuning` of every :func:`grid_point_loss`)."""
    return best_tuning(
        [
            grid_point_loss(X, y, kind, folds, point, params, seed, weight, n_estimators)
            for point in range(GRID_SIZE)
        ]
    )
