"""The uplift model artifact and the T- and X-learners that fit it.

:class:`UpliftModel` is the one model artifact (DESIGN "One model artifact"): LightGBM boosters
as model strings, the feature spec, the arms and the outcomes. ``predict(pandas) -> pandas``
gives every score column, ``to_bytes``/``from_bytes`` serialize it (zlib-compressed JSON; no
pickle), and every booster prediction goes through one method, so another engine (compiled
trees, :mod:`causal_targeting.learners.compiled`) plugs in as ``predict(pdf, engine=...)``.

:class:`TLearner` and :class:`XLearner` follow scikit-learn's estimator contract: the
constructor stores its arguments as given, ``fit`` learns, the fitted artifact is ``model_``.
Booster keys are listed in :mod:`causal_targeting.learners.tasks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from causal_targeting.errors import ConfigError, ModelError
from causal_targeting.learners.artifact import Engine, dump_document, load_document
from causal_targeting.learners.base import check_params
from causal_targeting.learners.design import (
    Design,
    arm_summary,
    check_arm_summary,
    check_columns,
    constant_pair_propensities,
)
from causal_targeting.learners.features import FeatureSpec
from causal_targeting.learners.tasks import (
    FitTask,
    booster_predictor,
    effect_tasks,
    fit_task,
    mu_key,
    outcome_tasks,
    propensity_key,
    propensity_tasks,
    task_mask,
    tau0_key,
    tau1_key,
    tau_key,
)

FORMAT = "causal-targeting/uplift-model"
FORMAT_VERSION = 1
LEARNERS = ("t", "x")


@dataclass
class UpliftModel:
    """Fitted uplift model: score columns for every arm and outcome from LightGBM boosters.

    Attributes
    ----------
    spec: the features (names, kinds, categorical levels).
    control: the control arm; ``arms``: the non-control arms.
    outcomes: outcome name -> "binary" | "continuous".
    learner: "t" or "x".
    boosters: model strings by key (:mod:`causal_targeting.learners.tasks`): T-learner
        ``mu__{o}__{a}`` for every arm; X-learner ``mu__{o}__{control}``, ``tau1__{o}__{a}``,
        ``tau0__{o}__{a}`` and ``propensity__{a}`` for arms without a constant propensity.
    propensity_constants: X-learner pair propensities e_a that are constants (from the design).
    propensity_clip: (eps, 1 − eps), the range fitted propensities are clipped to.
    n_threads: threads of each LightGBM prediction (not serialized).

    Scores (:meth:`predict`), for each outcome o:

    - T-learner: mu__o__a = mu_a(x), the outcome model of arm a; tau__o__a = mu_a(x) − mu_c(x).
    - X-learner: tau__o__a = e_a(x)·tau0_a(x) + (1 − e_a(x))·tau1_a(x) (see :class:`XLearner`),
      mu__o__c = mu_c(x) and mu__o__a = mu_c(x) + tau__o__a, so that tau = mu_a − mu_c holds
      for both learners (for a binary outcome this mu__o__a is not clipped to [0, 1]).
    """

    spec: FeatureSpec
    control: str
    arms: tuple[str, ...]
    outcomes: dict[str, str]
    learner: str
    boosters: dict[str, str]
    propensity_constants: dict[str, float] = field(default_factory=dict)
    propensity_clip: tuple[float, float] = (0.01, 0.99)
    n_threads: int = field(default=1, compare=False)
    _parsed: dict[str, lgb.Booster] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.learner not in LEARNERS:
            raise ModelError(f"unknown uplift learner '{self.learner}'; expected one of {LEARNERS}")

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
        scores = {
            mu_key(o, self.control): self._predict_booster(mu_key(o, self.control), X, engine)
            for o in self.outcomes
        }
        for arm in self.arms:
            e = self.pair_propensity(arm, X, engine) if self.learner == "x" else None
            for outcome in self.outcomes:
                mu_control = scores[mu_key(outcome, self.control)]
                if self.learner == "t":
                    mu = self._predict_booster(mu_key(outcome, arm), X, engine)
                    tau = mu - mu_control
                else:
                    tau = self._x_effect(outcome, arm, X, e, engine)
                    mu = mu_control + tau
                scores[mu_key(outcome, arm)], scores[tau_key(outcome, arm)] = mu, tau
        return pd.DataFrame(scores, index=pdf.index, columns=self.score_columns())

    def _x_effect(
        self, outcome: str, arm: str, X: np.ndarray, e: np.ndarray, engine: Engine | None
    ) -> np.ndarray:
        """tau(x) = e(x)·tau0(x) + (1 − e(x))·tau1(x), ``e`` the pair propensity of ``arm``."""
        tau0 = self._predict_booster(tau0_key(outcome, arm), X, engine)
        tau1 = self._predict_booster(tau1_key(outcome, arm), X, engine)
        return e * tau0 + (1.0 - e) * tau1

    def pair_propensity(self, arm: str, X: np.ndarray, engine: Engine | None = None) -> np.ndarray:
        """e_a(x) = P(T = arm | x, T in {arm, control}): the design constant, else the fitted
        propensity model clipped to ``propensity_clip``."""
        if arm in self.propensity_constants:
            return np.full(len(X), self.propensity_constants[arm])
        low, high = self.propensity_clip
        return np.clip(self._predict_booster(propensity_key(arm), X, engine), low, high)

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

    def to_bytes(self) -> bytes:
        """The model as zlib-compressed JSON (format name and version included)."""
        body = {
            "spec": self.spec.to_dict(),
            "control": self.control,
            "arms": list(self.arms),
            "outcomes": dict(self.outcomes),
            "learner": self.learner,
            "propensity_constants": dict(self.propensity_constants),
            "propensity_clip": list(self.propensity_clip),
            "boosters": dict(self.boosters),
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
        return cls(
            spec=FeatureSpec.from_dict(document["spec"]),
            control=document["control"],
            arms=tuple(document["arms"]),
            outcomes=dict(document["outcomes"]),
            learner=document["learner"],
            boosters=dict(document["boosters"]),
            propensity_constants=dict(document["propensity_constants"]),
            propensity_clip=tuple(document["propensity_clip"]),
        )


class UpliftLearner(BaseEstimator):
    """Base of the T- and X-learners: LightGBM settings, the fit loop over task stages.

    Parameters
    ----------
    params: LightGBM parameters over :data:`~causal_targeting.learners.base.DEFAULT_PARAMS`
        (learning rate, leaves, threads, ...); the objective, seed and number of trees are
        set by the learner.
    n_estimators: maximum number of trees of each base model.
    early_stopping_rounds: stop a base model once its validation loss has not improved for
        this many rounds (None: no early stopping, all rows train).
    valid_fraction: share of each base model's rows held out as its validation fold.
    seed: seed of the validation folds and of LightGBM.
    """

    learner: ClassVar[str]

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        n_estimators: int = 300,
        early_stopping_rounds: int | None = 20,
        valid_fraction: float = 0.2,
        seed: int = 0,
    ) -> None:
        self.params = params
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.valid_fraction = valid_fraction
        self.seed = seed

    def fit(
        self,
        pdf: pd.DataFrame,
        *,
        features: Mapping[str, str],
        treatment: str,
        control: str,
        arms: Iterable[str],
        outcomes: Mapping[str, str],
        propensity: str | None = None,
        weight: str | None = None,
        id_column: str | None = None,
    ) -> UpliftLearner:
        """Fit every base model on the experiment rows ``pdf``; the artifact is ``model_``.

        ``features``: name -> "numeric"|"categorical"; ``arms``: the non-control arms;
        ``outcomes``: name -> "binary"|"continuous"; ``propensity``/``weight``: optional
        columns. With ``id_column``, rows are first ordered by it, so the model does not depend
        on the order of the rows (as in :func:`~causal_targeting.learners.spark_fit.
        fit_on_spark`). Bad input raises DataContractError (table, column, fix).
        """
        design = Design.of(
            features=features,
            treatment=treatment,
            control=control,
            arms=arms,
            outcomes=outcomes,
            propensity=propensity,
            weight=weight,
        )
        check_columns(list(pdf.columns), design, id_column=id_column)
        summary = arm_summary(pdf, design)
        check_arm_summary(summary, design)
        settings, stages = self.base_settings(), self.stages(design, summary)
        if id_column is not None:
            pdf = pdf.sort_values(id_column, kind="stable")
        spec = FeatureSpec.from_frame(pdf, design.features)
        matrix = spec.matrix(pdf, table="experiment")
        boosters: dict[str, str] = {}
        for stage in stages:
            predict = booster_predictor(dict(boosters))
            for task in stage:
                rows = task_mask(task, pdf, design)
                boosters[task.key] = fit_task(
                    task, pdf[rows], matrix[rows], design, settings, predict
                )
        self.model_ = self.assemble(spec, design, summary, boosters)
        return self

    def base_settings(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~causal_targeting.learners.base.fit_base_model`."""
        check_params(self.params)
        if not 0 <= self.valid_fraction < 1:
            raise ConfigError(f"valid_fraction must be in [0, 1), got {self.valid_fraction}")
        if self.n_estimators < 1:
            raise ConfigError(f"n_estimators must be >= 1, got {self.n_estimators}")
        return {
            "params": self.params,
            "seed": self.seed,
            "n_estimators": self.n_estimators,
            "valid_fraction": self.valid_fraction,
            "early_stopping_rounds": self.early_stopping_rounds,
        }

    def stages(self, design: Design, summary: pd.DataFrame) -> list[list[FitTask]]:
        """The fitting tasks, in stages; a stage's tasks are independent of each other."""
        raise NotImplementedError

    def assemble(
        self,
        spec: FeatureSpec,
        design: Design,
        summary: pd.DataFrame,
        boosters: Mapping[str, str],
    ) -> UpliftModel:
        """The artifact from the fitted boosters (those prediction needs)."""
        raise NotImplementedError


class TLearner(UpliftLearner):
    """T-learner: one outcome model per arm; the effect is the difference of two of them.

    For each outcome and each arm a (control c included), mu_a(x) = E[Y | x, T = a] is a
    LightGBM model fit on the rows of arm a (a classifier for binary outcomes, a regressor for
    continuous ones), and tau_a(x) = mu_a(x) − mu_c(x).
    """

    learner = "t"

    def stages(self, design: Design, summary: pd.DataFrame) -> list[list[FitTask]]:
        """One stage: the outcome models."""
        return [outcome_tasks(design)]

    def assemble(
        self,
        spec: FeatureSpec,
        design: Design,
        summary: pd.DataFrame,
        boosters: Mapping[str, str],
    ) -> UpliftModel:
        """The artifact with every outcome model."""
        return UpliftModel(
            spec=spec,
            control=design.control,
            arms=design.arms,
            outcomes=dict(design.outcomes),
            learner=self.learner,
            boosters=dict(boosters),
        )


class XLearner(UpliftLearner):
    """X-learner (Künzel, Sekhon, Bickel and Yu, PNAS 2019), each arm a against control c.

    For each outcome and each arm a, with the pair's rows (T in {a, c}):

    1. Outcome models mu_c(x) and mu_a(x), fit on the control and the arm rows (LightGBM
       classifier for binary outcomes, regressor for continuous ones).
    2. Imputed effects D1 = Y − mu_c(x) on the arm rows and D0 = mu_a(x) − Y on the control
       rows; regressors tau_1 (fit on the arm rows to D1) and tau_0 (fit on the control rows to
       D0).
    3. tau_a(x) = e_a(x)·tau_0(x) + (1 − e_a(x))·tau_1(x), with e_a(x) = P(T = a | x, T in
       {a, c}) the pair propensity (Künzel et al.'s choice g = e). tau_0's imputations use
       mu_a, which is fit well when the arm's rows are many, i.e. when e_a is large; with few arm
       rows (e_a small) tau_1, whose imputations use the well-fit mu_c, gets the weight.

    The pair propensity at prediction time (customers to score carry no propensity column):

    - when the table has design propensities and they are constant within the arm and within
      the control (a randomized design with fixed probabilities p_a, p_c), e_a = p_a/(p_a + p_c),
      stored in the model as a constant;
    - otherwise (no propensity column, or design propensities that vary with x), a LightGBM
      classifier of 1[T = a] on the pair's rows, its predictions clipped to ``propensity_clip``.

    Parameters: those of :class:`UpliftLearner`, and ``propensity_clip = (eps, 1 − eps)``.
    """

    learner = "x"

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        n_estimators: int = 300,
        early_stopping_rounds: int | None = 20,
        valid_fraction: float = 0.2,
        seed: int = 0,
        propensity_clip: tuple[float, float] = (0.01, 0.99),
    ) -> None:
        super().__init__(params, n_estimators, early_stopping_rounds, valid_fraction, seed)
        self.propensity_clip = propensity_clip

    def stages(self, design: Design, summary: pd.DataFrame) -> list[list[FitTask]]:
        """Stage 1: outcome models and the propensity models needed; stage 2: effect models."""
        low, high = self.propensity_clip
        if not 0 < low < high < 1:
            raise ConfigError(
                f"propensity_clip must be (eps, 1 - eps) with 0 < eps < 0.5, got "
                f"{self.propensity_clip}"
            )
        constants = constant_pair_propensities(summary, design)
        fitted = tuple(a for a in design.arms if a not in constants)
        return [
            outcome_tasks(design) + propensity_tasks(design, fitted),
            effect_tasks(design),
        ]

    def assemble(
        self,
        spec: FeatureSpec,
        design: Design,
        summary: pd.DataFrame,
        boosters: Mapping[str, str],
    ) -> UpliftModel:
        """The artifact with the control outcome models, effect and propensity models."""
        kept = {
            key: model
            for key, model in boosters.items()
            if not any(key == mu_key(o, a) for o in design.outcomes for a in design.arms)
        }
        return UpliftModel(
            spec=spec,
            control=design.control,
            arms=design.arms,
            outcomes=dict(design.outcomes),
            learner=self.learner,
            boosters=kept,
            propensity_constants=constant_pair_propensities(summary, design),
            propensity_clip=tuple(self.propensity_clip),
        )
