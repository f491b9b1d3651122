"""The T-, X- and DR-learners, their ensemble and the risk learner, which fit the uplift model
artifact (:class:`~causal_targeting.learners.model.UpliftModel`).

:class:`TLearner`, :class:`XLearner`, :class:`DRLearner`, :class:`EnsembleLearner` and
:class:`RiskLearner` follow
scikit-learn's estimator contract: the constructor stores its arguments as given, ``fit``
learns, the fitted artifact is ``model_``; with ``n_folds`` also the per-fold models
``fold_models_`` and the out-of-fold scores ``oof_``. :func:`fit_candidates` fits several
learners sharing their base models.
Booster keys are listed in :mod:`causal_targeting.learners.tasks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from causal_targeting.errors import ConfigError
from causal_targeting.learners.base import TUNE_DRAW, check_params, tuning_draw
from causal_targeting.learners.design import (
    Design,
    arm_fold_sums,
    arm_summary,
    check_folds,
    checked_design,
    constant_pair_propensities,
    nonnegative_outcomes,
    stratified_folds,
    zero_on_control,
)
from causal_targeting.learners.features import FeatureSpec
from causal_targeting.learners.model import ENSEMBLE_MEMBERS, RelativeEffect, UpliftModel
from causal_targeting.learners.tasks import (
    FitTask,
    Fitted,
    LocalRunner,
    dr_key,
    dr_tasks,
    effect_tasks,
    fit_stages,
    mu_key,
    outcome_tasks,
    propensity_tasks,
    tau0_key,
    tau_key,
)


class UpliftLearner(BaseEstimator):
    """Base of the T-, X- and DR-learners: LightGBM settings, cross-fitting, the fit loop.

    Parameters
    ----------
    params: LightGBM parameters over :data:`~causal_targeting.learners.base.DEFAULT_PARAMS`
        (learning rate, leaves, threads, ...); the objective, seed and number of trees are
        set by the learner. With ``tune`` they override every grid point.
    n_estimators: maximum number of trees of each base model.
    early_stopping_rounds: stop a base model once its validation loss has not improved for
        this many rounds (None: no early stopping, all rows train). Not used with ``tune``.
    valid_fraction: share of each base model's rows held out as its validation fold.
    seed: seed of the folds and of LightGBM.
    n_folds: None, or K >= 2 for cross-fitting: every base model is also fit K times, each time
        outside one fold of rows (folds stratified by arm), and ``oof_`` holds every row's scores
        by the models that did not see it.
    tune: choose each base model's regularization and number of trees by cross-validated loss
        on the same folds (:func:`~causal_targeting.learners.base.tune_base_model`; needs
        ``n_folds``).
    tune_rows: tune each base model on at most this many of its rows, drawn by ``seed``
        (:func:`~causal_targeting.learners.base.tuning_rows`; None: all of them); its fits use
        all rows.
    propensity_clip: (eps, 1 − eps), the range fitted propensities are clipped to (X and DR).
    bag: with ``n_folds``, ``model_`` scores the mean of the model on all rows and the K models
        outside each fold (:meth:`~causal_targeting.learners.model.UpliftModel.bagged`): less
        variance, at K + 1 times the trees to score.
    """

    learner: ClassVar[str]

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        n_estimators: int = 300,
        early_stopping_rounds: int | None = 20,
        valid_fraction: float = 0.2,
        seed: int = 0,
        n_folds: int | None = None,
        tune: bool = False,
        tune_rows: int | None = None,
        propensity_clip: tuple[float, float] = (0.01, 0.99),
        bag: bool = True,
    ) -> None:
        self.params = params
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.valid_fraction = valid_fraction
        self.seed = seed
        self.n_folds = n_folds
        self.tune = tune
        self.tune_rows = tune_rows
        self.propensity_clip = propensity_clip
        self.bag = bag

    def fit(
        self,
        pdf: pd.DataFrame,
        *,
        id_column: str | None = None,
        fold_column: str | None = None,
        cluster_column: str | None = None,
        **design: Any,
    ) -> UpliftLearner:
        """Fit every base model on the experiment rows ``pdf``; the artifact is ``model_``.

        ``design``: :meth:`Design.of`'s arguments (``features``: name ->
        "numeric"|"categorical"; ``treatment``; ``control``; ``arms``: the non-control arms;
        ``outcomes``: name -> "binary"|"continuous"; optional ``propensity``/``weight``
        columns and ``design_propensity``). With ``id_column``, rows are first ordered by it,
        so the model does not depend on the order of the rows (as in :func:`~causal_targeting.
        learners.spark_fit.fit_on_spark`). With ``n_folds``, the folds are ``fold_column``
        (else :func:`stratified_folds` of the ordered rows, of the clusters of
        ``cluster_column`` when the experiment was randomized in clusters), ``fold_models_``
        the models fit outside each fold, ``oof_`` the out-of-fold scores (index of ``pdf``) and
        ``tuning_`` the tunings by booster key. Bad input raises DataContractError (table,
        column, fix) or ConfigError.
        """
        fits = fit_candidates(
            [self],
            pdf,
            id_column=id_column,
            fold_column=fold_column,
            cluster_column=cluster_column,
            **design,
        )
        fit = fits[self.learner]
        self.model_, self.fold_models_, self.tuning_ = fit.model, fit.fold_models, fit.tuning
        self.oof_ = fit.oof
        return self

    def base_settings(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~causal_targeting.learners.base.fit_base_model`."""
        check_params(self.params)
        if not 0 <= self.valid_fraction < 1:
            raise ConfigError(f"valid_fraction must be in [0, 1), got {self.valid_fraction}")
        if self.n_estimators < 1:
            raise ConfigError(f"n_estimators must be >= 1, got {self.n_estimators}")
        if self.tune and self.n_folds is None:
            raise ConfigError("tune chooses the trees by cross-validation: set n_folds >= 2")
        if self.tune_rows is not None and self.tune_rows < 2 * (self.n_folds or 0):
            raise ConfigError(
                f"tune_rows must be at least 2 rows per fold ({2 * (self.n_folds or 0)}), "
                f"got {self.tune_rows}"
            )
        return {
            "params": self.params,
            "seed": self.seed,
            "n_estimators": self.n_estimators,
            "valid_fraction": self.valid_fraction,
            "early_stopping_rounds": self.early_stopping_rounds,
        }

    def checked_clip(self) -> tuple[float, float]:
        """``propensity_clip``; ConfigError unless 0 < eps < 0.5."""
        low, high = self.propensity_clip
        if not 0 < low < high < 1:
            raise ConfigError(
                f"propensity_clip must be (eps, 1 - eps) with 0 < eps < 0.5, got "
                f"{self.propensity_clip}"
            )
        return (low, high)

    def stages(self, design: Design, summary: pd.DataFrame) -> list[list[FitTask]]:
        """The fitting tasks, in stages; a stage's tasks are independent of each other."""
        raise NotImplementedError

    def assemble(
        self,
        spec: FeatureSpec,
        design: Design,
        summary: pd.DataFrame,
        boosters: Mapping[str, str],
        sums: pd.DataFrame,
        fold: int | None,
    ) -> UpliftModel:
        """The artifact of the rows outside ``fold`` (None: all rows) from the fitted boosters
        (those prediction needs; the X-learner's tau_0 of an outcome 0 on every control row is
        mu_a's booster, :func:`structural_zero_aliases`); ``sums``: the rows' weighted sums by
        arm and fold (:func:`~causal_targeting.learners.design.arm_fold_sums`), which
        :meth:`model_effects` reads."""
        available = {**boosters, **structural_zero_aliases(design, summary, boosters)}
        return UpliftModel(
            spec=spec,
            control=design.control,
            arms=design.arms,
            outcomes=dict(design.outcomes),
            learner=self.learner,
            boosters={key: available[key] for key in self.kept_keys(design, summary)},
            propensity_constants=constant_pair_propensities(summary, design),
            propensity_clip=tuple(self.propensity_clip),
            relative_effects=self.model_effects(design, summary, sums, fold),
        )

    def model_effects(
        self, design: Design, summary: pd.DataFrame, sums: pd.DataFrame, fold: int | None
    ) -> dict[str, RelativeEffect]:
        """The artifact's relative effects (:class:`RiskLearner`'s; none for the others)."""
        return {}

    def kept_keys(self, design: Design, summary: pd.DataFrame) -> list[str]:
        """The keys of the boosters prediction needs."""
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
        return [outcome_tasks(design, nonnegative_outcomes(summary, design))]

    def kept_keys(self, design: Design, summary: pd.DataFrame) -> list[str]:
        """Every outcome model."""
        return [task.key for task in outcome_tasks(design)]


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

    - when the design probabilities are known (``design_propensity``), or the table's design
      propensities are constant within the arm and within the control (a randomized design
      with fixed probabilities p_a, p_c), e_a = p_a/(p_a + p_c), stored as a constant;
    - otherwise (no propensity column, or design propensities that vary with x), a LightGBM
      classifier of 1[T = a] on the pair's rows, its predictions clipped to ``propensity_clip``.

    An outcome that is 0 on every control row (a structural zero, such as redeeming a reward
    that was not offered) has D0 = mu_a(x) exactly: tau_0 is then mu_a itself, not a regression
    of mu_a's predictions on x (which would fit that noise-free target with as many trees as
    allowed).

    Parameters: those of :class:`UpliftLearner`.
    """

    learner = "x"

    def stages(self, design: Design, summary: pd.DataFrame) -> list[list[FitTask]]:
        """Stage 1: outcome models and the propensity models needed; stage 2: effect models."""
        return [
            nuisance_tasks(design, summary, self.checked_clip()),
            effect_tasks(design, zero_on_control(summary, design)),
        ]

    def kept_keys(self, design: Design, summary: pd.DataFrame) -> list[str]:
        """The control outcome models, the effect and the fitted propensity models."""
        clip = self.checked_clip()
        nuisances = nuisance_tasks(design, summary, clip)
        return [
            task.key
            for task in [*nuisances, *effect_tasks(design)]
            if task.target != "outcome" or task.arm == design.control
        ]


class DRLearner(UpliftLearner):
    """DR-learner (Kennedy 2023; EconML's ``DRLearner``, causalml's ``BaseDRLearner``), each
    arm a against control c, on the pair's rows (T in {a, c}).

    1. Nuisances, cross-fitted (fit outside each fold, predicted on the fold): outcome models
       mu_a(x), mu_c(x) and the pair propensity e_a(x) (known design probabilities when given,
       as for :class:`XLearner`, else a classifier clipped to ``propensity_clip``).
    2. The AIPW pseudo-outcome Y* (:func:`~causal_targeting.learners.tasks.dr_pseudo_outcome`)
       of every pair row from its out-of-fold nuisances.
    3. tau_a(x): a LightGBM regressor of Y* on the features (squared error), fit on all pair
       rows for the model and outside each fold for the out-of-fold scores.

    Needs ``n_folds`` (the nuisances must not have seen the row whose pseudo-outcome they
    give). Parameters: those of :class:`UpliftLearner`.
    """

    learner = "dr"

    def stages(self, design: Design, summary: pd.DataFrame) -> list[list[FitTask]]:
        """Stage 1: outcome and propensity models; stage 2: the pseudo-outcome regressions."""
        if self.n_folds is None:
            raise ConfigError(
                "the DR-learner cross-fits its nuisance models: set n_folds >= 2 (train.folds)"
            )
        clip = self.checked_clip()
        constants = constant_pair_propensities(summary, design)
        return [nuisance_tasks(design, summary, clip), dr_tasks(design, constants, clip)]

    def kept_keys(self, design: Design, summary: pd.DataFrame) -> list[str]:
        """The control outcome models and the pseudo-outcome regressions."""
        controls = [mu_key(o, design.control) for o in design.outcomes]
        return controls + [dr_key(o, a) for o in design.outcomes for a in design.arms]


class EnsembleLearner(UpliftLearner):
    """The mean of the T-, X- and DR-learners' effects: tau_a(x) = (tau_T + tau_X + tau_DR)/3.

    The three learners are fit as they are alone (their base models shared), and the artifact
    holds every booster each of them needs. Averaging estimators whose errors are not perfectly
    correlated lowers the variance of the effect, which on experiments of a few thousand rows
    an arm is most of its error (the T-learner's difference of two noisy models, the X- and
    DR-learners' noisy imputed effects); the net-value policy ranks customers by the effect,
    so a steadier effect makes fewer wrong offers. No weights are fitted: weights chosen on the
    same rows would bring back the selection's noise. Needs ``n_folds`` (for the DR-learner).
    Parameters: those of :class:`UpliftLearner`.
    """

    learner = "ensemble"

    def members(self) -> list[UpliftLearner]:
        """The T-, X- and DR-learners of the ensemble, with its settings."""
        return [LEARNER_CLASSES[kind](**self.get_params()) for kind in ENSEMBLE_MEMBERS]

    def stages(self, design: Design, summary: pd.DataFrame) -> list[list[FitTask]]:
        """The members' stages merged, each base model once."""
        return merged_stages(self.members(), design, summary)

    def kept_keys(self, design: Design, summary: pd.DataFrame) -> list[str]:
        """Every booster one of the members keeps, each once."""
        keys = (key for member in self.members() for key in member.kept_keys(design, summary))
        return list(dict.fromkeys(keys))


class RiskLearner(UpliftLearner):
    """Risk learner: an effect proportional to the outcome without an offer.

    The risk modelling approach to heterogeneous effects (Kent et al., "The Predictive
    Approaches to Treatment effect Heterogeneity (PATH) Statement", Annals of Internal
    Medicine 2020): a model of the outcome without the offer, mu_c(x) (the T-learner's
    control outcome model, fit on the control rows), and one relative effect of each arm a on
    each outcome, so that the effect varies with x only through mu_c:

        tau_a(x) = (r_a − 1)·mu_c(x),      r_a = m_a / m_c,

    m_a and m_c the arm's and the control's mean outcome (weighted by the row weights and, with
    a design propensity column, by its inverse: :func:`relative_effects`). This is the
    constant relative effect (risk ratio, or ratio of mean amounts) that rare purchases and
    amounts often follow: a customer who would buy twice as often without the offer gains
    twice as much from it. The effect has one parameter per arm and outcome, so its variance
    is that of two means, not of a function of x: where the data cannot estimate how the
    effect varies, it still ranks customers by what they would do anyway. Where the effect
    varies otherwise, the T-, X- and DR-learners fit it and the selection's out-of-fold value
    says which describes the experiment.

    An outcome with values below 0, or 0 on every control row, has no ratio: its effect is
    the constant d_a = m_a − m_c. With ``n_folds``, the model outside fold k uses the means of
    the rows outside fold k. Parameters: those of :class:`UpliftLearner`.
    """

    learner = "risk"

    def stages(self, design: Design, summary: pd.DataFrame) -> list[list[FitTask]]:
        """One stage: the control outcome models."""
        return [control_outcome_tasks(design, summary)]

    def kept_keys(self, design: Design, summary: pd.DataFrame) -> list[str]:
        """The control outcome models."""
        return [task.key for task in control_outcome_tasks(design, summary)]

    def model_effects(
        self, design: Design, summary: pd.DataFrame, sums: pd.DataFrame, fold: int | None
    ) -> dict[str, RelativeEffect]:
        """The relative effects of the rows outside ``fold`` (:func:`relative_effects`)."""
        return relative_effects(sums, design, summary, fold)


LEARNER_CLASSES: dict[str, type[UpliftLearner]] = {
    "t": TLearner,
    "x": XLearner,
    "dr": DRLearner,
    "ensemble": EnsembleLearner,
    "risk": RiskLearner,
}


def control_outcome_tasks(design: Design, summary: pd.DataFrame) -> list[FitTask]:
    """The outcome models of the control arm (the T-learner's, so shared with it)."""
    tasks = outcome_tasks(design, nonnegative_outcomes(summary, design))
    return [task for task in tasks if task.arm == design.control]


def relative_effects(
    sums: pd.DataFrame, design: Design, summary: pd.DataFrame, fold: int | None
) -> dict[str, RelativeEffect]:
    """The risk learner's effects (:class:`RiskLearner`) by ``tau__{o}__{a}``, from the rows
    outside ``fold`` (None: all rows) of the weighted sums ``sums`` (:func:`~causal_targeting.
    learners.design.arm_fold_sums`): the ratio m_a / m_c of the weighted means of a binary
    outcome or of an amount never below 0 whose control mean is > 0, else the shift m_a − m_c."""
    kept = sums if fold is None else sums[sums.index.get_level_values("fold") != fold]
    totals = kept.groupby(level="treatment").sum()
    means = totals.filter(like="sum__").div(totals["weight"], axis=0)
    nonnegative = {*nonnegative_outcomes(summary, design)} | {
        o for o, kind in design.outcomes.items() if kind == "binary"
    }
    effects = {}
    for outcome in design.outcomes:
        control = float(means.loc[design.control, f"sum__{outcome}"])
        for arm in design.arms:
            mean = float(means.loc[arm, f"sum__{outcome}"])
            ratio = outcome in nonnegative and control > 0
            effects[tau_key(outcome, arm)] = (
                RelativeEffect("ratio", mean / control)
                if ratio
                else RelativeEffect("shift", mean - control)
            )
    return effects


def structural_zero_aliases(
    design: Design, summary: pd.DataFrame, boosters: Mapping[str, str]
) -> dict[str, str]:
    """The X-learner's tau_0 of an outcome 0 on every control row: mu_a's booster, by key."""
    return {
        tau0_key(o, a): boosters[mu_key(o, a)]
        for o in zero_on_control(summary, design)
        for a in design.arms
    }


def nuisance_tasks(
    design: Design, summary: pd.DataFrame, clip: tuple[float, float]
) -> list[FitTask]:
    """The outcome models and the propensity models of arms without known probabilities."""
    constants = constant_pair_propensities(summary, design)
    fitted = tuple(a for a in design.arms if a not in constants)
    return outcome_tasks(design, nonnegative_outcomes(summary, design)) + propensity_tasks(
        design, fitted
    )


def merged_stages(
    learners: Sequence[UpliftLearner], design: Design, summary: pd.DataFrame
) -> list[list[FitTask]]:
    """The learners' stages merged stage by stage, each task once (shared base models)."""
    merged: list[list[FitTask]] = []
    seen: set[str] = set()
    for learner in learners:
        for index, stage in enumerate(learner.stages(design, summary)):
            if index == len(merged):
                merged.append([])
            new = [task for task in stage if task.key not in seen]
            merged[index].extend(new)
            seen.update(task.key for task in new)
    return merged


@dataclass(frozen=True)
class LearnerFit:
    """A learner fit: the model on all rows, the models outside each fold (empty without
    folds), the out-of-fold score columns (None without folds) and the tunings by key."""

    model: UpliftModel
    fold_models: list[UpliftModel]
    oof: pd.DataFrame | None
    tuning: dict[str, Any]


def check_candidates(learners: Sequence[UpliftLearner]) -> UpliftLearner:
    """The first learner, after checking that all share one base setup and differ in kind."""
    kinds = [learner.learner for learner in learners]
    if not learners or len(set(kinds)) != len(kinds):
        raise ConfigError(f"fit one learner of each kind at most, got {kinds}")
    first = learners[0]
    for learner in learners[1:]:
        if learner.get_params() != first.get_params():
            raise ConfigError("candidate learners must share their settings (params, folds, seed)")
    return first


def learner_fits(
    learners: Sequence[UpliftLearner],
    fitted: Fitted,
    spec: FeatureSpec,
    design: Design,
    summary: pd.DataFrame,
    sums: pd.DataFrame,
    n_folds: int | None,
) -> dict[str, tuple[UpliftModel, list[UpliftModel]]]:
    """Each learner's model on all rows (bagged with the models outside each fold when the
    learner's ``bag`` is set) and its models outside each fold, from shared boosters and the
    rows' weighted sums by arm and fold (:func:`~causal_targeting.learners.design.
    arm_fold_sums`)."""
    fits = {}
    for learner in learners:
        model = learner.assemble(spec, design, summary, fitted.of_fold(None), sums, None)
        fold_models = [
            learner.assemble(spec, design, summary, fitted.of_fold(k), sums, k)
            for k in range(n_folds or 0)
        ]
        if learner.bag and fold_models:
            model = model.bagged(fold_models)
        fits[learner.learner] = (model, fold_models)
    return fits


def out_of_fold_scores(
    fold_models: Mapping[str, Sequence[UpliftModel]], pdf: pd.DataFrame, folds: np.ndarray
) -> dict[str, pd.DataFrame]:
    """Each learner's score columns of each row by its model fit outside the row's fold (index
    of ``pdf``), by learner kind. ``fold_models``: each learner's models outside each fold,
    sharing one feature spec; a booster several learners share (the same model string, such as
    the control outcome model) is predicted once per fold (``by_string`` of
    :meth:`~UpliftModel.booster_predictions`)."""
    folds = np.asarray(folds)
    parts: dict[str, list[pd.DataFrame]] = {kind: [] for kind in fold_models}
    for k, models in enumerate(zip(*fold_models.values(), strict=True)):
        rows = pdf[folds == k]
        X, by_string = models[0].spec.array(rows), {}
        predictions = [model.booster_predictions(X, by_string=by_string) for model in models]
        for kind, model, predicted in zip(parts, models, predictions, strict=True):
            parts[kind].append(model.scores_from(predicted, rows.index))
    return {kind: pd.concat(scores).reindex(pdf.index) for kind, scores in parts.items()}


def learner_column(kind: str, column: str) -> str:
    """The name of learner ``kind``'s score ``column`` in a table of several learners' scores."""
    return f"{kind}__{column}"


def learner_view(columns: Sequence[str], kind: str, score_columns: Sequence[str]) -> dict[str, str]:
    """The columns of a table of several learners' scores that make ``kind``'s scored rows:
    the rows' own ``columns`` as they are and ``kind``'s score columns (:func:`learner_column`)
    under their own names; by name in the table, to name in the view."""
    return {
        **{column: column for column in columns},
        **{learner_column(kind, column): column for column in score_columns},
    }


def fit_candidates(
    learners: Sequence[UpliftLearner],
    pdf: pd.DataFrame,
    *,
    id_column: str | None = None,
    fold_column: str | None = None,
    cluster_column: str | None = None,
    **design_args: Any,
) -> dict[str, LearnerFit]:
    """Fit the learners (of different kinds, same settings) in process, sharing base models.

    The arguments are those of :meth:`UpliftLearner.fit`. Returns each learner's fit by kind.
    """
    first = check_candidates(learners)
    settings = first.base_settings()
    design, summary = checked_design(
        list(pdf.columns), lambda d: arm_summary(pdf, d), id_column, design_args
    )
    check_folds(summary, design, first.n_folds)
    stages = merged_stages(learners, design, summary)
    if id_column is not None:
        pdf = pdf.sort_values(id_column, kind="stable")
    keys = pdf[id_column] if id_column is not None else pd.Series(np.arange(len(pdf)))
    pdf = pdf.assign(**{TUNE_DRAW: tuning_draw(keys, first.seed)})
    folds = None
    if first.n_folds is not None:
        folds = (
            pdf[fold_column].to_numpy(dtype=np.int64)
            if fold_column is not None
            else stratified_folds(
                pdf[design.treatment],
                first.n_folds,
                first.seed,
                None if cluster_column is None else pdf[cluster_column],
            )
        )
    spec = FeatureSpec.from_frame(pdf, design.features)
    X = spec.matrix(pdf, table="experiment").reset_index(drop=True)
    runner = LocalRunner(pdf, X, folds, design)
    fitted = fit_stages(
        stages, runner, design, settings, first.n_folds, first.tune, first.tune_rows
    )
    sums = arm_fold_sums(pdf, design, folds)
    fits = learner_fits(learners, fitted, spec, design, summary, sums, first.n_folds)
    oof = (
        {}
        if folds is None
        else out_of_fold_scores({kind: models for kind, (_, models) in fits.items()}, pdf, folds)
    )
    return {
        kind: LearnerFit(model, fold_models, oof.get(kind), fitted.tuning)
        for kind, (model, fold_models) in fits.items()
    }
