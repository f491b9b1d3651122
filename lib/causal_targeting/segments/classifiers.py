"""The two classifiers of the intent model, trained in rounds and stored as strings.

Both take the model array of :meth:`~causal_targeting.learners.features.FeatureSpec.array`
(float64; categorical features as codes in the stored levels, NaN where missing or unseen),
labels 0..K−1 and example weights, and continue training each round (the self-paced schedule of
:mod:`~.self_paced`):

- :class:`BoostedClassifier`: LightGBM with the softmax objective over K classes; each round adds
  ``round(n_estimators·share)`` trees to the booster (``init_model``). Stored as its model
  string, so the prediction engines (LightGBM, lleaves) predict it like any uplift booster.
- :class:`NetworkClassifier`: scikit-learn's MLPClassifier (``warm_start``: each round adds
  ``round(max_iter·share)`` epochs). Inputs: numeric features standardized by the training
  mean and standard deviation with NaN set to 0 (the mean) plus a missing indicator each,
  categorical codes one-hot (missing or unseen: all zeros). Stored as JSON (weights and the
  scaling constants), read back into an MLPClassifier by :func:`network_proba`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from causal_targeting.errors import ConfigError
from causal_targeting.learners.base import lightgbm_params
from causal_targeting.learners.features import FeatureSpec
from causal_targeting.segments.self_paced import round_quantiles, train_self_paced

ACTIVATION = "relu"
CLASSIFIERS = ("lightgbm", "mlp")


@dataclass(frozen=True)
class ClassifierSettings:
    """How both stages are trained (the ``segment`` config section).

    classifier: "lightgbm" or "mlp"; params, n_estimators: LightGBM's (trees over all rounds);
    hidden_layer_sizes, max_iter: the MLP's (epochs over all rounds); rounds, start_quantile,
    low_weight: the self-paced schedule (:mod:`~.self_paced`; rounds = 1 is off); seed.
    """

    classifier: str = "lightgbm"
    params: Mapping[str, Any] = field(default_factory=dict)
    n_estimators: int = 200
    hidden_layer_sizes: tuple[int, ...] = (32, 16)
    max_iter: int = 200
    rounds: int = 1
    start_quantile: float = 0.8
    low_weight: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.classifier not in CLASSIFIERS:
            raise ConfigError(
                f"unknown segment.classifier '{self.classifier}'; use one of {CLASSIFIERS}"
            )
        if not 0.0 <= self.low_weight <= 1.0:
            raise ConfigError(
                f"segment.self_paced.low_weight must be in [0, 1], got {self.low_weight}"
            )
        round_quantiles(self.rounds, self.start_quantile)  # refuses a bad schedule


def fit_classifier(
    settings: ClassifierSettings, spec: FeatureSpec, X: np.ndarray, y: np.ndarray, n_classes: int
) -> str:
    """Train the configured classifier of labels ``y`` (0..K−1) on the model array ``X`` with the
    self-paced schedule; return its model string (:func:`class_proba` predicts it)."""
    learner: BoostedClassifier | NetworkClassifier
    if settings.classifier == "lightgbm":
        learner = BoostedClassifier(
            spec, n_classes, settings.params, settings.n_estimators, settings.seed
        )
    else:
        learner = NetworkClassifier(
            spec, n_classes, settings.hidden_layer_sizes, settings.max_iter, settings.seed
        )
    quantiles = round_quantiles(settings.rounds, settings.start_quantile)
    train_self_paced(learner, X, y, quantiles, settings.low_weight)
    return learner.model_string()


class BoostedClassifier:
    """LightGBM multiclass model grown over rounds; ``model_string()`` is the artifact."""

    def __init__(
        self,
        spec: FeatureSpec,
        n_classes: int,
        params: Mapping[str, Any] | None,
        n_estimators: int,
        seed: int,
    ) -> None:
        self.params = {**lightgbm_params("multiclass", params, seed), "num_class": n_classes}
        self.categorical = [j for j, name in enumerate(spec.names) if name in spec.categories]
        self.n_estimators = n_estimators
        self.booster: lgb.Booster | None = None

    def fit_round(self, X: np.ndarray, y: np.ndarray, weight: np.ndarray, share: float) -> None:
        """Add round(n_estimators·share) trees (at least one) fitted with these weights."""
        data = lgb.Dataset(
            X, label=y, weight=weight, categorical_feature=self.categorical, free_raw_data=False
        )
        self.booster = lgb.train(
            self.params,
            data,
            num_boost_round=max(1, round(self.n_estimators * share)),
            init_model=self.booster,
            keep_training_booster=True,
        )

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, K) softmax probabilities of the current booster."""
        assert self.booster is not None, "fit_round first"
        return np.asarray(self.booster.predict(X), dtype=np.float64)

    def model_string(self) -> str:
        """The booster's LightGBM model string."""
        assert self.booster is not None, "fit_round first"
        return self.booster.model_to_string()


class NetworkClassifier:
    """scikit-learn MLPClassifier grown over rounds; ``model_string()`` is its JSON."""

    def __init__(
        self,
        spec: FeatureSpec,
        n_classes: int,
        hidden_layer_sizes: Sequence[int],
        max_iter: int,
        seed: int,
    ) -> None:
        self.levels = [len(spec.categories.get(name, ())) for name in spec.names]
        self.n_classes = n_classes
        self.hidden_layer_sizes = tuple(hidden_layer_sizes)
        self.max_iter = max_iter
        self.seed = seed
        self.network: MLPClassifier | None = None
        self.mean = np.zeros(0)
        self.scale = np.ones(0)

    def fit_round(self, X: np.ndarray, y: np.ndarray, weight: np.ndarray, share: float) -> None:
        """Add round(max_iter·share) epochs (at least one) with these weights."""
        if self.network is None:
            self.mean = np.nan_to_num(np.nanmean(X, axis=0))
            self.scale = np.nan_to_num(np.nanstd(X, axis=0), nan=1.0)
            self.scale[self.scale == 0] = 1.0
            self.network = MLPClassifier(
                hidden_layer_sizes=self.hidden_layer_sizes,
                activation=ACTIVATION,
                warm_start=True,
                random_state=self.seed,
            )
        self.network.set_params(max_iter=max(1, round(self.max_iter * share)))
        with warnings.catch_warnings():  # each round stops at its epoch budget by design
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.network.fit(self._inputs(X), y, sample_weight=weight)

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        return network_inputs(X, self.levels, self.mean, self.scale)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, K) probabilities of the current network."""
        assert self.network is not None, "fit_round first"
        return self.network.predict_proba(self._inputs(X))

    def model_string(self) -> str:
        """JSON of the network's weights and the input scaling."""
        assert self.network is not None, "fit_round first"
        return json.dumps(
            {
                "levels": self.levels,
                "mean": self.mean.tolist(),
                "scale": self.scale.tolist(),
                "hidden_layer_sizes": list(self.hidden_layer_sizes),
                "classes": self.network.classes_.tolist(),
                "coefs": [w.tolist() for w in self.network.coefs_],
                "intercepts": [b.tolist() for b in self.network.intercepts_],
            }
        )


def network_inputs(
    X: np.ndarray, levels: Sequence[int], mean: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """The network's inputs (see the module docstring) from a model array ``X`` (n, p)."""
    blocks = []
    for j, n_levels in enumerate(levels):
        column = X[:, j]
        if n_levels:
            codes = np.nan_to_num(column, nan=-1.0).astype(np.int64)
            blocks.append((codes[:, None] == np.arange(n_levels)[None, :]).astype(np.float64))
        else:
            missing = np.isnan(column)
            blocks.append(np.where(missing, 0.0, (column - mean[j]) / scale[j])[:, None])
            blocks.append(missing[:, None].astype(np.float64))
    return np.hstack(blocks)


def network_proba(model_string: str, X: np.ndarray) -> np.ndarray:
    """(n, K) probabilities of the network stored by :meth:`NetworkClassifier.model_string`,
    predicted by an MLPClassifier holding the stored weights."""
    stored = json.loads(model_string)
    network = MLPClassifier(
        hidden_layer_sizes=tuple(stored["hidden_layer_sizes"]), activation=ACTIVATION
    )
    network.coefs_ = [np.asarray(w, dtype=np.float64) for w in stored["coefs"]]
    network.intercepts_ = [np.asarray(b, dtype=np.float64) for b in stored["intercepts"]]
    network.classes_ = np.asarray(stored["classes"])
    network.n_layers_ = len(network.coefs_) + 1
    network.n_outputs_ = network.coefs_[-1].shape[1]
    network.out_activation_ = "logistic" if network.n_outputs_ == 1 else "softmax"
    inputs = network_inputs(
        X, stored["levels"], np.asarray(stored["mean"]), np.asarray(stored["scale"])
    )
    network.n_features_in_ = inputs.shape[1]
    return network.predict_proba(inputs)
