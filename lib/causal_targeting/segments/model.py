"""The intent model artifact and the two-stage learner that fits it.

:class:`IntentModel` is one artifact like :class:`~causal_targeting.learners.uplift.UpliftModel`:
its two models as strings (LightGBM model strings, or MLP JSON), the feature spec, the exposure
share and the segment rule. ``predict(pandas) -> pandas`` gives ``p__campaign_driven``,
``p__organic``, ``p__low_engagement`` and ``segment``; ``to_bytes``/``from_bytes`` serialize it,
and it scores through :func:`causal_targeting.scoring.score` like the uplift model.

Combination. Stage 1 (:mod:`~.behaviour`) gives q(x) = P(Y = 1 | x) in the experiment, stage 2
(:mod:`~.label_correction`) s(x) = P(CD | x, Y = 1). A campaign-driven customer converts only
when exposed (share e), an organic one regardless, so

    p_CD(x) = min(1, s(x)·q(x) / e),   p_ORG(x) = min((1 − s(x))·q(x), 1 − p_CD(x)),
    p_LOW(x) = 1 − p_CD(x) − p_ORG(x),

which under monotonicity equals (mu_1 − mu_0, mu_0, 1 − mu_1): the rows are probabilities
summing to 1 by construction. The segment is the one of largest lift p_k(x) / b_k over its base
rate b_k (the mean of p_k over the training rows), or the argmax, or the configured thresholds
(:func:`~.combine.assign_segments`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from causal_targeting.errors import ConfigError, DataContractError
from causal_targeting.learners.artifact import Engine, dump_document, load_document
from causal_targeting.learners.compiled import LightGBMEngine
from causal_targeting.learners.features import FeatureSpec
from causal_targeting.segments.behaviour import binary_column, conversion_rates, fit_behaviour
from causal_targeting.segments.classifiers import ClassifierSettings, network_proba
from causal_targeting.segments.combine import (
    PROBABILITY_COLUMNS,
    SEGMENT,
    check_thresholds,
    segment_frame,
)
from causal_targeting.segments.label_correction import (
    campaign_driven_share,
    correction_target,
    exposure_share,
    fit_label_correction,
)

FORMAT = "causal-targeting/intent-model"
FORMAT_VERSION = 2
BEHAVIOUR, CORRECTION = "behaviour", "label_correction"


def intent_probabilities(q: np.ndarray, s: np.ndarray, exposure_share: float) -> np.ndarray:
    """(n, 3) rows (p_CD, p_ORG, p_LOW) from q, s of shape (n,) (module docstring)."""
    p_cd = np.minimum(1.0, s * q / exposure_share)
    p_org = np.minimum((1.0 - s) * q, 1.0 - p_cd)
    return np.column_stack([p_cd, p_org, 1.0 - p_cd - p_org])


@dataclass
class IntentModel:
    """Fitted two-stage intent model.

    Attributes
    ----------
    spec: the features. exposure_share: e, the design's P(exposed).
    corrected: stage 2 is the label-correction model (False: the attribution-label ablation).
    classifier: "lightgbm" (``models`` are booster strings) or "mlp" (MLP JSON).
    models: the stage-1 (``"behaviour"``) and stage-2 (``"label_correction"``) model strings.
    thresholds: segment -> probability threshold (empty: the lift or argmax rule).
    base_rates: mean (p_CD, p_ORG, p_LOW) over the training rows: the segment is the one of
        largest lift over its base rate; None: the largest probability.
    n_threads: threads of each LightGBM prediction (not serialized).
    """

    spec: FeatureSpec
    exposure_share: float
    corrected: bool
    classifier: str
    models: dict[str, str]
    thresholds: dict[str, float] = field(default_factory=dict)
    base_rates: tuple[float, float, float] | None = None
    n_threads: int = field(default=1, compare=False)

    @property
    def boosters(self) -> dict[str, str]:
        """The LightGBM model strings an engine predicts (none for the MLP)."""
        return dict(self.models) if self.classifier == "lightgbm" else {}

    def model_strings(self) -> list[str]:
        """The distinct model strings of :attr:`boosters`, which the score stage compiles."""
        return list(dict.fromkeys(self.boosters.values()))

    def score_columns(self) -> list[str]:
        """The three probability columns, then ``segment``."""
        return [*PROBABILITY_COLUMNS, SEGMENT]

    def score_types(self) -> dict[str, str]:
        """Probabilities are doubles, the segment a string."""
        return {**dict.fromkeys(PROBABILITY_COLUMNS, "double"), SEGMENT: "string"}

    def predict(self, pdf: pd.DataFrame, engine: Engine | None = None) -> pd.DataFrame:
        """The score columns for the rows of ``pdf`` (index kept). ``pdf`` needs the spec's
        features (DataContractError naming a missing one); ``engine`` predicts the boosters
        (default LightGBM)."""
        probabilities = self.probabilities(self.spec.array(pdf), engine)
        return segment_frame(probabilities, pdf.index, self.thresholds, self.base_rates)

    def probabilities(self, X: np.ndarray, engine: Engine | None = None) -> np.ndarray:
        """(n, 3) rows (p_CD, p_ORG, p_LOW) on the model array ``X`` (module docstring)."""
        behaviour = self.class_proba(BEHAVIOUR, X, engine)
        _, _, q = conversion_rates(behaviour, self.exposure_share)
        g = self.class_proba(CORRECTION, X, engine)[:, 1]
        s = campaign_driven_share(g, self.exposure_share, self.corrected)
        return intent_probabilities(q, s, self.exposure_share)

    def class_proba(self, key: str, X: np.ndarray, engine: Engine | None = None) -> np.ndarray:
        """(n, K) class probabilities of model ``key`` on the model array ``X``."""
        if self.classifier == "mlp":
            return network_proba(self.models[key], X)
        engine = engine if engine is not None else LightGBMEngine(self.n_threads)
        return engine.predict(self.models[key], X)

    def to_bytes(self) -> bytes:
        """The model as zlib-compressed JSON (format name and version included)."""
        body = {
            "spec": self.spec.to_dict(),
            "exposure_share": self.exposure_share,
            "corrected": self.corrected,
            "classifier": self.classifier,
            "models": dict(self.models),
            "thresholds": dict(self.thresholds),
            "base_rates": None if self.base_rates is None else list(self.base_rates),
        }
        return dump_document(FORMAT, FORMAT_VERSION, body)

    @classmethod
    def from_bytes(cls, data: bytes) -> IntentModel:
        """The model written by :meth:`to_bytes`; ModelError for anything else."""
        document = load_document(
            data,
            FORMAT,
            FORMAT_VERSION,
            what="causal-targeting intent model",
            fix="load a model written by IntentModel.to_bytes (the segment stage)",
        )
        rates = document["base_rates"]
        return cls(
            spec=FeatureSpec.from_dict(document["spec"]),
            exposure_share=float(document["exposure_share"]),
            corrected=bool(document["corrected"]),
            classifier=document["classifier"],
            models=dict(document["models"]),
            thresholds=dict(document["thresholds"]),
            base_rates=None if rates is None else (rates[0], rates[1], rates[2]),
        )


class IntentLearner(BaseEstimator):
    """Fits an :class:`IntentModel` on experiment rows (scikit-learn estimator contract).

    Parameters are those of :class:`~.classifiers.ClassifierSettings` (classifier, LightGBM
    params and n_estimators, MLP hidden_layer_sizes and max_iter, the self-paced rounds,
    start_quantile and low_weight, seed), plus ``label_correction`` (False: the ablation that
    takes attribution labels at face value), ``thresholds`` (segment -> threshold) and
    ``assign`` ("lift": the segment of largest lift over its base rate; "argmax").
    """

    def __init__(
        self,
        classifier: str = "lightgbm",
        params: Mapping[str, Any] | None = None,
        n_estimators: int = 200,
        hidden_layer_sizes: Sequence[int] = (32, 16),
        max_iter: int = 200,
        rounds: int = 1,
        start_quantile: float = 0.8,
        low_weight: float = 0.5,
        label_correction: bool = True,
        thresholds: Mapping[str, float] | None = None,
        assign: str = "lift",
        seed: int = 0,
    ) -> None:
        self.classifier = classifier
        self.params = params
        self.n_estimators = n_estimators
        self.hidden_layer_sizes = hidden_layer_sizes
        self.max_iter = max_iter
        self.rounds = rounds
        self.start_quantile = start_quantile
        self.low_weight = low_weight
        self.label_correction = label_correction
        self.thresholds = thresholds
        self.assign = assign
        self.seed = seed

    def settings(self) -> ClassifierSettings:
        """The checked training settings of both stages (ConfigError if one is bad)."""
        return ClassifierSettings(
            classifier=self.classifier,
            params=dict(self.params or {}),
            n_estimators=self.n_estimators,
            hidden_layer_sizes=tuple(self.hidden_layer_sizes),
            max_iter=self.max_iter,
            rounds=self.rounds,
            start_quantile=self.start_quantile,
            low_weight=self.low_weight,
            seed=self.seed,
        )

    def fit(
        self,
        pdf: pd.DataFrame,
        *,
        features: Mapping[str, str],
        exposed: str,
        converted: str,
        attributed: str | None = None,
        propensity: str | None = None,
        id_column: str | None = None,
        table: str = "experiment",
    ) -> IntentLearner:
        """Fit both stages on the rows of ``pdf``; the artifact is ``model_``.

        ``exposed``, ``converted`` (and ``attributed``, needed only without label correction):
        0/1 columns; ``propensity``: the design probability of each row's exposure value. With
        ``id_column`` rows are ordered by it first. DataContractError (table, column, fix) for
        missing or non-binary columns, an unidentified exposure share, or an arm without
        converters.
        """
        settings, thresholds = self.settings(), dict(self.thresholds or {})
        check_thresholds(thresholds)
        if id_column is not None:
            pdf = pdf.sort_values(id_column, kind="stable")
        spec = FeatureSpec.from_frame(pdf, features)
        t = binary_column(pdf, exposed, table)
        y = binary_column(pdf, converted, table)
        design = None if propensity is None else pdf[propensity].to_numpy(dtype=np.float64)
        e = exposure_share(t, design, table=table, column=exposed)
        check_converters(t, y, table, converted)
        a = None if self.label_correction else binary_column(pdf, _needed(attributed), table)
        X = spec.array(pdf, table=table)
        rows = y == 1
        target = correction_target(t[rows], None if a is None else a[rows], self.label_correction)
        models = {
            BEHAVIOUR: fit_behaviour(settings, spec, X, t, y),
            CORRECTION: fit_label_correction(settings, spec, X[rows], target),
        }
        model = IntentModel(spec, e, self.label_correction, self.classifier, models, thresholds)
        if self.assign == "lift":
            rates = model.probabilities(X).mean(axis=0)
            model.base_rates = (float(rates[0]), float(rates[1]), float(rates[2]))
        self.model_ = model
        return self


def check_converters(exposed: np.ndarray, converted: np.ndarray, table: str, column: str) -> None:
    """Refuse a table in which the exposed or the unexposed rows have no converter (or no
    non-converter): the behaviour classes and the organic rate would not be identified."""
    for value, group in ((1, "exposed"), (0, "unexposed")):
        outcomes = converted[exposed == value]
        if outcomes.min() == outcomes.max():
            raise DataContractError(
                table,
                f"every {group} row has {column} = {outcomes[0]}, so the segment model cannot "
                "separate the behaviour classes",
                "fit on more rows, or on an experiment whose exposed and unexposed groups both "
                "have converters and non-converters",
                column=column,
            )


def _needed(attributed: str | None) -> str:
    if attributed is None:
        raise ConfigError(
            "segment.label_correction is off, which takes attribution labels at face value, but "
            "no attribution column is given: pass attributed=<0/1 column> or turn it on"
        )
    return attributed
