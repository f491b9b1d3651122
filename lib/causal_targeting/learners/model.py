"""The uplift model artifact: boosters, feature spec, arms and outcomes; scores any table.

:class:`UpliftModel` is the one model artifact (DESIGN "One model artifact"): LightGBM boosters
as model strings, the feature spec, the arms and the outcomes. ``predict(pandas) -> pandas``
gives every score column, ``to_bytes``/``from_bytes`` serialize it (zlib-compressed JSON; no
pickle), and every booster prediction goes through one method, so another engine (compiled
trees, :mod:`causal_targeting.learners.compiled`) plugs in as ``predict(pdf, engine=...)``.
The learners that fit it are in :mod:`causal_targeting.learners.uplift`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

from causal_targeting.errors import ModelError
from causal_targeting.learners.artifact import Engine, dump_document, load_document
from causal_targeting.learners.features import FeatureSpec
from causal_targeting.learners.tasks import (
    dr_key,
    mu_key,
    propensity_key,
    tau0_key,
    tau1_key,
    tau_key,
)

FORMAT = "causal-targeting/uplift-model"
FORMAT_VERSION = 1
LEARNERS = ("t", "x", "dr", "ensemble", "risk")
ENSEMBLE_MEMBERS = ("t", "x", "dr")


@dataclass(frozen=True)
class RelativeEffect:
    """The risk learner's effect of one arm on one outcome relative to the control outcome
    model mu_c: ``"ratio"``, tau(x) = (r − 1)·mu_c(x) (mu_a = r·mu_c, a constant relative
    effect), or ``"shift"``, tau(x) = d (a constant effect)."""

    kind: Literal["ratio", "shift"]
    value: float

    def effect(self, mu_control: np.ndarray) -> np.ndarray:
        """tau(x) of the rows whose control outcome model predicts ``mu_control``."""
        if self.kind == "ratio":
            return (self.value - 1.0) * mu_control
        return np.full(len(mu_control), self.value)


@dataclass
class UpliftModel:
    """Fitted uplift model: score columns for every arm and outcome from LightGBM boosters.

    Attributes
    ----------
    spec: the features (names, kinds, categorical levels).
    control: the control arm; ``arms``: the non-control arms.
    outcomes: outcome name -> "binary" | "continuous".
    learner: "t", "x", "dr", "ensemble" (the three together) or "risk".
    boosters: model strings by key (:mod:`causal_targeting.learners.tasks`): T-learner
        ``mu__{o}__{a}`` for every arm; X-learner ``mu__{o}__{control}``, ``tau1__{o}__{a}``,
        ``tau0__{o}__{a}`` and ``propensity__{a}`` for arms without a constant propensity;
        DR-learner ``mu__{o}__{control}`` and ``dr__{o}__{a}``; the ensemble every one of these;
        the risk learner ``mu__{o}__{control}``.
    propensity_constants: X-learner pair propensities e_a that are constants (from the design).
    relative_effects: the risk learner's effect of each arm on each outcome, by
        ``tau__{o}__{a}``: ``("ratio", r)`` or ``("shift", d)`` (:class:`RelativeEffect`).
    propensity_clip: (eps, 1 − eps), the range fitted propensities are clipped to.
    bag: the models fit outside each cross-fitting fold (empty: none), whose scores are
        averaged with this model's (:meth:`bagged`).
    n_threads: threads of each LightGBM prediction (not serialized).

    Scores (:meth:`predict`), for each outcome o:

    - T-learner: mu__o__a = mu_a(x), the outcome model of arm a; tau__o__a = mu_a(x) − mu_c(x).
    - X-learner: tau__o__a = e_a(x)·tau0_a(x) + (1 − e_a(x))·tau1_a(x) (see :class:`XLearner`),
      mu__o__c = mu_c(x) and mu__o__a = mu_c(x) + tau__o__a, so that tau = mu_a − mu_c holds
      for both learners (for a binary outcome this mu__o__a is not clipped to [0, 1]).
    - DR-learner: tau__o__a = the final regression of the pseudo-outcomes (:class:`DRLearner`),
      mu__o__c = mu_c(x) and mu__o__a = mu_c(x) + tau__o__a, as for the X-learner.
    - Ensemble: tau__o__a = (tau_T + tau_X + tau_DR) / 3, the mean of the three effects above
      (:class:`EnsembleLearner`), mu__o__c = mu_c(x) and mu__o__a = mu_c(x) + tau__o__a.
    - Risk learner: tau__o__a = (r − 1)·mu_c(x) for a ratio r, or d for a shift d
      (:class:`~causal_targeting.learners.uplift.RiskLearner`), mu__o__c = mu_c(x) and
      mu__o__a = mu_c(x) + tau__o__a.

    With a bag of K models fit outside each fold, every score column is the mean of the K + 1
    models' (the model on all rows and the K on (K − 1)/K of them): subagging (Bühlmann and Yu
    2002, "Analyzing bagging"), whose mean has less variance than any one fit. On small
    experiments the variance of the effect models, more than their bias, makes the net-value
    policy act on noise; the cross-fitting has fit the K models already.
    """

    spec: FeatureSpec
    control: str
    arms: tuple[str, ...]
    outcomes: dict[str, str]
    learner: str
    boosters: dict[str, str]
    propensity_constants: dict[str, float] = field(default_factory=dict)
    propensity_clip: tuple[float, float] = (0.01, 0.99)
    relative_effects: dict[str, RelativeEffect] = field(default_factory=dict)
    bag: tuple[UpliftModel, ...] = ()
    n_threads: int = field(default=1, compare=False)
    _parsed: dict[str, lgb.Booster] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.learner not in LEARNERS:
            raise ModelError(f"unknown uplift learner '{self.learner}'; expected one of {LEARNERS}")

    def bagged(self, fold_models: Sequence[UpliftModel]) -> UpliftModel:
        """This model with ``fold_models`` (the same learner's, fit outside each fold) as its bag:
        scores the mean of theirs and its own."""
        for member in fold_models:
            if member.bag or (member.learner, member.spec) != (self.learner, self.spec):
                raise ModelError("a bag holds unbagged models of the same learner and features")
        return replace(self, bag=tuple(fold_models))

    @property
    def members(self) -> tuple[UpliftModel, ...]:
        """The models whose scores are averaged: this one, then its bag."""
        return (self, *self.bag)

    def model_strings(self) -> list[str]:
        """Every distinct booster model string of the members, in order."""
        strings = (s for member in self.members for s in member.boosters.values())
        return list(dict.fromkeys(strings))

    @property
    def all_arms(self) -> tuple[str, ...]:
        """The control first, then the treatment arms."""
        return (self.control, *self.arms)

    def score_columns(self) -> list[str]:
        """The mu__ columns (every outcome, every arm) then the tau__ columns (non-control)."""
        mus = [mu_key(o, a) for o in self.outcomes for a in self.all_arms]
        return mus + [tau_key(o, a) for o in self.outcomes for a in self.arms]

    def score_types(self) -> dict[str, str]:
        """Every score column is a double."""
        return dict.fromkeys(self.score_columns(), "double")

    def predict(self, pdf: pd.DataFrame, engine: Engine | None = None) -> pd.DataFrame:
        """Every score column (float64) for the rows of ``pdf``, with its index.

        ``pdf`` needs the spec's features (extra columns are ignored; unseen categorical levels
        and nulls count as missing). ``engine`` predicts each booster; default LightGBM, each
        booster parsed once per model instance.
        """
        X = self.spec.array(pdf)
        shared: dict[str, np.ndarray] = {}
        scores = [
            member.scores_from(member.booster_predictions(X, engine, by_string=shared), pdf.index)
            for member in self.members
        ]
        return sum(scores[1:], scores[0]) / len(scores)

    def booster_predictions(
        self,
        X: np.ndarray,
        engine: Engine | None = None,
        keys: Sequence[str] | None = None,
        by_string: dict[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """The predictions on the model array ``X`` (:meth:`FeatureSpec.array`) of the boosters
        ``keys`` (default: every booster, all of which the scores read), by key; a model string
        that several keys hold (the X-learner's tau_0 of an outcome 0 on every control row is
        mu_a's booster) is predicted once. ``by_string``: predictions on ``X`` by model string,
        read and filled, so that models sharing boosters (the learners of one fold) predict each
        string once between them."""
        by_string = {} if by_string is None else by_string
        predictions = {}
        for key in keys or self.boosters:
            string = self.boosters[key]
            if string not in by_string:
                by_string[string] = self._predict_booster(key, X, engine)
            predictions[key] = by_string[string]
        return predictions

    def scores_from(self, predictions: Mapping[str, np.ndarray], index: pd.Index) -> pd.DataFrame:
        """Every score column (float64) from the boosters' ``predictions`` on the rows of
        ``index`` (:meth:`booster_predictions`); the formulas are the class docstring's."""
        scores = {
            mu_key(o, self.control): predictions[mu_key(o, self.control)] for o in self.outcomes
        }
        members = ENSEMBLE_MEMBERS if self.learner == "ensemble" else (self.learner,)
        for arm in self.arms:
            e = self.propensity_from(arm, predictions, len(index)) if "x" in members else None
            for outcome in self.outcomes:
                mu_control = scores[mu_key(outcome, self.control)]
                if self.learner == "t":
                    mu = predictions[mu_key(outcome, arm)]
                    tau = mu - mu_control
                else:
                    effects = [
                        self.effect_from(kind, outcome, arm, predictions, e) for kind in members
                    ]
                    tau = np.mean(effects, axis=0)
                    mu = mu_control + tau
                scores[mu_key(outcome, arm)], scores[tau_key(outcome, arm)] = mu, tau
        return pd.DataFrame(scores, index=index, columns=self.score_columns())

    def effect_from(
        self,
        kind: str,
        outcome: str,
        arm: str,
        predictions: Mapping[str, np.ndarray],
        e: np.ndarray | None,
    ) -> np.ndarray:
        """Learner ``kind``'s effect tau of ``arm`` on ``outcome`` from the boosters'
        ``predictions`` (the class docstring's formulas); ``e``: the X-learner's pair
        propensity e_a(x) (:meth:`propensity_from`)."""
        if kind == "t":
            return predictions[mu_key(outcome, arm)] - predictions[mu_key(outcome, self.control)]
        if kind == "x":
            tau0, tau1 = predictions[tau0_key(outcome, arm)], predictions[tau1_key(outcome, arm)]
            return e * tau0 + (1.0 - e) * tau1
        if kind == "risk":
            mu_control = predictions[mu_key(outcome, self.control)]
            return self.relative_effects[tau_key(outcome, arm)].effect(mu_control)
        return predictions[dr_key(outcome, arm)]

    def propensity_from(
        self, arm: str, predictions: Mapping[str, np.ndarray], n_rows: int
    ) -> np.ndarray:
        """e_a(x) of ``n_rows`` rows: the design constant, else the fitted propensity model's
        ``predictions`` clipped to ``propensity_clip``."""
        if arm in self.propensity_constants:
            return np.full(n_rows, self.propensity_constants[arm])
        low, high = self.propensity_clip
        return np.clip(predictions[propensity_key(arm)], low, high)

    def _predict_booster(self, key: str, X: np.ndarray, engine: Engine | None) -> np.ndarray:
        """The predictions of booster ``key`` on the model array ``X`` (:meth:`FeatureSpec.array`).

        The one prediction path: ``engine.predict(model_string, X)``, or LightGBM with the
        booster parsed once per model instance.
        """
        if engine is not None:
            return np.asarray(engine.predict(self.boosters[key], X), dtype=np.float64)
        if key not in self._parsed:
            self._parsed[key] = lgb.Booster(model_str=self.boosters[key])
        return np.asarray(
            self._parsed[key].predict(X, num_threads=self.n_threads), dtype=np.float64
        )

    def fitted_parts(self) -> dict[str, object]:
        """What a member of a bag fits on its own rows: boosters, design propensities and
        relative effects, as JSON values."""
        return {
            "propensity_constants": dict(self.propensity_constants),
            "relative_effects": {
                key: [effect.kind, effect.value] for key, effect in self.relative_effects.items()
            },
            "boosters": dict(self.boosters),
        }

    def to_bytes(self) -> bytes:
        """The model as zlib-compressed JSON (format name and version included)."""
        body = {
            "spec": self.spec.to_dict(),
            "control": self.control,
            "arms": list(self.arms),
            "outcomes": dict(self.outcomes),
            "learner": self.learner,
            "propensity_clip": list(self.propensity_clip),
            **self.fitted_parts(),
            "bag": [member.fitted_parts() for member in self.bag],
        }
        return dump_document(FORMAT, FORMAT_VERSION, body)

    @classmethod
    def from_bytes(cls, data: bytes) -> UpliftModel:
        """The model written by :meth:`to_bytes`; ModelError for anything else."""
        document = load_document(
            data,
            FORMAT,
            FORMAT_VERSION,
            what="causal-targeting uplift model",
            fix="load a model written by UpliftModel.to_bytes (the train stage)",
        )
        model = cls(
            spec=FeatureSpec.from_dict(document["spec"]),
            control=document["control"],
            arms=tuple(document["arms"]),
            outcomes=dict(document["outcomes"]),
            learner=document["learner"],
            propensity_clip=tuple(document["propensity_clip"]),
            **read_fitted_parts(document),
        )
        bag = [replace(model, **read_fitted_parts(part)) for part in document.get("bag", [])]
        return model.bagged(bag)


def read_fitted_parts(part: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :class:`UpliftModel` that :meth:`UpliftModel.fitted_parts`
    wrote (boosters, propensity constants, relative effects)."""
    return {
        "boosters": dict(part["boosters"]),
        "propensity_constants": dict(part["propensity_constants"]),
        "relative_effects": {
            key: RelativeEffect(kind, float(value))
            for key, (kind, value) in part.get("relative_effects", {}).items()
        },
    }
