"""The decision problem a config describes: value model, guardrails, solver options, offers.

Allocate, frontier, coarsen and evaluate all turn the config into the same problem here, and
read the same allocation input (scores plus the customer columns the rules need).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from causal_targeting.data.contract import CUSTOMERS
from causal_targeting.data.io import read_json, read_output
from causal_targeting.errors import ConfigError, DataContractError
from causal_targeting.layout import (
    coarsen_paths,
    ingest_paths,
    score_paths,
    segment_paths,
    train_paths,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from pyspark.sql import Column, DataFrame, SparkSession

    from causal_targeting.allocation.problem import DoNoHarm, Guardrail, OptionBlock
    from causal_targeting.allocation.solver import SolverOptions
    from causal_targeting.config import Config
    from causal_targeting.evaluation.safeguard import SafeguardDecision
    from causal_targeting.value import ValueModel

STATIC_GAIN = "static_gain"
"""The outcome name of the constant gain column of a static policy, ``tau__static_gain__{arm}``."""

STAY = "static_stay"
"""The outcome name of a partial policy's bonus for staying with the static policy's option,
``tau__static_stay__{arm}`` (:func:`stay_bonus`)."""


def allocation_problem(cfg: Config) -> tuple[ValueModel, list[Guardrail], DoNoHarm | None]:
    """The value model, guardrails and do-no-harm rule of the config, as the solver takes them."""
    from causal_targeting.allocation.problem import DoNoHarm, Guardrail
    from causal_targeting.value import ValueModel, VariableCost

    settings = cfg.allocation
    if not settings.weights:
        raise ConfigError(
            "allocation.weights is empty; give the value of one unit of effect on each outcome "
            "that counts, e.g. --set allocation.weights.spend=0.3"
        )
    value_model = ValueModel(
        weights={o: w * cfg.data.sign(o) for o, w in settings.weights.items()},
        fixed_cost=settings.fixed_cost,
        variable_costs=tuple(VariableCost(v.column, v.rate) for v in settings.variable_costs),
    )
    guardrails = [Guardrail(**g.model_dump()) for g in settings.guardrails]
    rule = settings.do_no_harm
    if rule is None:
        return value_model, guardrails, None
    sign = cfg.data.sign(rule.outcome) if rule.outcome else 1.0
    return value_model, guardrails, DoNoHarm(**rule.model_dump(), sign=sign)


def scored_experiment_rows(spark: SparkSession, cfg: Config) -> pd.DataFrame:
    """The train stage's scored experiment rows (out of fold, or the holdout) in ``customer_id``
    order. The safeguard's and the evaluation's bootstraps reweight rows by position, and Spark
    writes rows in the order its tasks hand them over, which can change from run to run: in a
    fixed order the same rows get the same draws, so the same inputs give the same verdict."""
    rows = read_output(spark, train_paths(cfg)["holdout"], "holdout").toPandas()
    return rows.sort_values("customer_id", ignore_index=True, kind="stable")


def solver_options(cfg: Config) -> SolverOptions:
    """The solver's knobs from the allocation config."""
    from causal_targeting.allocation.solver import SolverOptions

    settings = cfg.allocation
    return SolverOptions(
        tolerance=settings.tolerance, max_passes=settings.max_passes, method=settings.method
    )


def scaled_guardrails(guardrails: list[Guardrail], ratio: float) -> list[Guardrail]:
    """The guardrails for a sample that is ``ratio`` of the base: amounts scale, shares stay."""
    return [g if g.limit is None else replace(g, limit=g.limit * ratio) for g in guardrails]


def has_one_budget(cfg: Config) -> bool:
    """Whether the guardrails hold exactly one budget (what the frontier varies)."""
    return sum(g.kind == "budget" for g in cfg.allocation.guardrails) == 1


def chosen_offers(cfg: Config) -> list[str]:
    """The coarsened menu when coarsening is on (the coarsen stage wrote it), else all arms."""
    if not cfg.coarsen.enabled:
        return list(cfg.data.arms)
    menu = coarsen_paths(cfg)["menu"]
    if not Path(menu).exists():
        raise DataContractError(
            "menu",
            f"coarsen.enabled is true but no menu at '{menu}'",
            "run the coarsen stage first",
        )
    return list(read_json(menu)["offers"])


def customer_columns_for(cfg: Config, customers: DataFrame, offers: list[str]) -> list[str]:
    """Customer columns the allocation needs beside the scores: eligibility and segments."""
    wanted = {f"eligible__{arm}" for arm in offers}
    wanted |= {g.segment_column for g in cfg.allocation.guardrails if g.segment_column}
    return sorted(c for c in wanted if c in customers.columns)


def excluded_segments(cfg: Config) -> list[str]:
    """``allocation.exclude_segments``, checked: ConfigError naming the key for a segment the
    segment stage does not give."""
    from causal_targeting.segments.combine import SEGMENTS

    for name in cfg.allocation.exclude_segments:
        if name not in SEGMENTS:
            raise ConfigError(
                f"allocation.exclude_segments names unknown segment '{name}'; use any of "
                f"{', '.join(SEGMENTS)}"
            )
    return list(cfg.allocation.exclude_segments)


def uses_segments(cfg: Config) -> bool:
    """Whether the allocation reads the segment stage's ``segment`` column (the stage is on, or
    segments are excluded)."""
    return cfg.segment.enabled or bool(excluded_segments(cfg))


def intent_segments(cfg: Config, spark: SparkSession) -> DataFrame:
    """``customer_id`` and ``segment`` of every customer (the segment stage's output)."""
    from causal_targeting.segments.combine import SEGMENT

    return read_output(spark, segment_paths(cfg)["scores"], "segments").select(
        "customer_id", SEGMENT
    )


def eligible_column(scores: DataFrame, arm: str) -> Column:
    """Whether a customer of ``scores`` may get ``arm``, as a Spark boolean column: its
    ``eligible__{arm}`` flag (a null one: not), or true for everyone when there is no flag, as
    in :func:`causal_targeting.allocation.problem.available_options`."""
    from pyspark.sql import functions as F

    column = f"eligible__{arm}"
    if column not in scores.columns:
        return F.lit(True)
    return F.coalesce(F.col(column).cast("boolean"), F.lit(False))


def without_excluded(scores: DataFrame, offers: list[str], excluded: list[str]) -> DataFrame:
    """``scores`` whose ``eligible__{arm}`` flags also exclude customers of the ``excluded``
    segments (a missing flag counts as eligible, a null one as not, as in
    :func:`causal_targeting.allocation.problem.available_options`, which applies them)."""
    from pyspark.sql import functions as F

    from causal_targeting.segments.combine import SEGMENT

    kept = ~F.coalesce(F.col(SEGMENT).isin(excluded), F.lit(False))
    for arm in offers:
        scores = scores.withColumn(f"eligible__{arm}", eligible_column(scores, arm) & kept)
    return scores


def allocation_input(cfg: Config, spark: SparkSession, offers: list[str]) -> DataFrame:
    """The scores, with the customer table's eligibility and segment columns when there are any.

    When the allocation uses intent segments (:func:`uses_segments`), the segment stage's
    ``segment`` column is joined (it replaces a customer column of that name), so a
    ``segment_cap`` guardrail with ``segment_column: segment`` caps the offers to a predicted
    segment, and ``allocation.exclude_segments`` makes its customers ineligible for every offer.
    """
    excluded = excluded_segments(cfg)
    scores = read_output(spark, score_paths(cfg)["scores"], "scores")
    customers = read_output(spark, ingest_paths(cfg)["customers"], CUSTOMERS)
    extra = customer_columns_for(cfg, customers, offers)
    if uses_segments(cfg):
        extra = [c for c in extra if c != "segment"]
    if extra:
        scores = scores.join(customers.select("customer_id", *extra), on="customer_id", how="left")
    if not uses_segments(cfg):
        return scores
    scores = scores.join(intent_segments(cfg, spark), on="customer_id", how="left")
    return without_excluded(scores, offers, excluded) if excluded else scores


def sample_problem(
    rows: pd.DataFrame, cfg: Config, offers: list[str], base_rows: int,
    value_model: ValueModel | None = None,
) -> tuple[OptionBlock, list[Guardrail]]:
    """The allocation problem on a sample of scored rows: its option block and the config's
    guardrails with amounts scaled to the sample's share of the ``base_rows``. ``value_model``
    replaces the config's (e.g. :func:`static_value_model`)."""
    from causal_targeting.allocation.problem import option_block

    configured, guardrails, do_no_harm = allocation_problem(cfg)
    scaled = scaled_guardrails(guardrails, len(rows) / base_rows)
    return option_block(rows, value_model or configured, scaled, offers, do_no_harm), scaled


def solved_policy(
    problem: tuple[OptionBlock, list[Guardrail]], cfg: Config, offers: list[str]
) -> np.ndarray:
    """The solution of a :func:`sample_problem` as an arm name per row (the control for none);
    raises :class:`~causal_targeting.errors.InfeasibleError` when no allocation meets it."""
    import numpy as np

    from causal_targeting.allocation.solver import solve_block

    choice, _ = solve_block(*problem, solver_options(cfg))
    return np.array([*offers, cfg.data.control], dtype=object)[choice]


def sample_policy(
    rows: pd.DataFrame, cfg: Config, offers: list[str], base_rows: int,
    value_model: ValueModel | None = None,
) -> np.ndarray:
    """The allocation solved on a sample of scored rows (:func:`sample_problem`), an arm name
    per row (the control for none)."""
    return solved_policy(sample_problem(rows, cfg, offers, base_rows, value_model), cfg, offers)


def static_value_model(value_model: ValueModel) -> ValueModel:
    """The value model of a static policy: one constant gain ``tau__static_gain__{arm}`` for
    every customer, with the same costs. With a gain above every customer's cost
    (:func:`static_gain`), the solver gives the arm to every eligible customer the guardrails
    allow (the cheaper ones first when a budget binds): the static policy under the guardrails.
    Its solution's values are ``gain - cost``, not net values: the allocate stage writes the
    configured value model's values instead (``valued_by`` of
    :func:`~causal_targeting.allocation.distributed.solve`)."""
    return replace(value_model, weights={STATIC_GAIN: 1.0})


def cost_columns(value_model: ValueModel, arm: str) -> list[str]:
    """The score columns the cost of ``arm`` reads."""
    return [term.column.format(arm=arm) for term in value_model.variable_costs]


def static_gain(largest: Mapping[str, float], value_model: ValueModel, arm: str) -> float:
    """A gain above every customer's cost of ``arm``: ``1 + |fixed| + sum_t |rate_t| m_t``,
    ``m_t`` the largest absolute value of term t's score column (``largest``: column -> it)."""
    bound = 1.0 + abs(value_model.fixed_cost_for(arm))
    columns = cost_columns(value_model, arm)
    for term, column in zip(value_model.variable_costs, columns, strict=True):
        bound += abs(term.rate_for(arm)) * float(largest[column])
    return bound


TIE_BREAK = 1e-4
"""Relative spread of the static gain across customers. One constant gain would tie every
customer at the optimal price (all of them marginal, nothing for the prices to decide); a spread
this small, from a hash of ``customer_id``, keeps the cheaper-first order of any two costs that
differ by more than 0.01% of the gain."""


def static_gains(arm: str, offers: list[str], gain: float, spread: Any) -> dict[str, Any]:
    """The static policy's gain columns: ``gain * (1 + TIE_BREAK * spread)`` for ``arm``
    (``spread`` in [0, 1) per customer: an array, or a Spark column), -inf (not an option) for
    every other offer, so guardrails that name the other offers still apply."""
    return {
        f"tau__{STATIC_GAIN}__{a}": gain * (1 + TIE_BREAK * spread) if a == arm else float("-inf")
        for a in offers
    }


def static_problem_gains(
    value_model: ValueModel,
    arm: str,
    control: str,
    offers: list[str],
    largest: Callable[[list[str]], Mapping[str, float]],
    spread: Any,
) -> dict[str, Any]:
    """The gain columns of the static policy "``arm`` to every eligible customer"
    (:func:`static_gains` of :func:`static_gain`; every offer -inf for ``control``: no offer to
    anyone). ``largest(columns)``: the largest absolute value of each cost column, from a
    pandas frame or a Spark table; ``spread``: the per-customer tie-break in [0, 1)."""
    gain = float("-inf")
    if arm != control:
        gain = static_gain(largest(cost_columns(value_model, arm)), value_model, arm)
    return static_gains(arm, offers, gain, spread)


def customer_spread(customer_id: pd.Series) -> np.ndarray:
    """A number in [0, 1) per customer from a hash of its id (the static gains' tie-break)."""
    import pandas as pd

    hashed = pd.util.hash_pandas_object(customer_id, index=False).to_numpy()
    return (hashed % 1_000_000) / 1_000_000


def static_problem(
    rows: pd.DataFrame, cfg: Config, offers: list[str], base_rows: int, arm: str
) -> tuple[OptionBlock, list[Guardrail]]:
    """The :func:`sample_problem` of the static policy "``arm`` to every eligible customer the
    guardrails allow" (no offer to anyone for the control arm): every customer's gain the
    constant of :func:`static_problem_gains`, tie-broken by :func:`customer_spread`."""
    value_model, _, _ = allocation_problem(cfg)
    gains = static_problem_gains(
        value_model,
        arm,
        cfg.data.control,
        offers,
        lambda columns: rows[columns].abs().max().to_dict(),
        customer_spread(rows["customer_id"]),
    )
    constant = rows.assign(**gains)
    return sample_problem(constant, cfg, offers, base_rows, static_value_model(value_model))


def static_draw(
    rows: pd.DataFrame, cfg: Config, offers: list[str], base_rows: int, arm: str
) -> tuple[np.ndarray, np.ndarray]:
    """(policy, share): the static policy of :func:`static_problem` solved on a sample of scored
    rows like :func:`sample_policy` (arm names per row: the tie-break's draw of the rows it
    reaches), and each row's probability of ``arm`` over that draw (:func:`tie_shares`; 0 for
    the control arm). Raises :class:`~causal_targeting.errors.InfeasibleError` when it cannot
    meet the guardrails."""
    import numpy as np

    problem = static_problem(rows, cfg, offers, base_rows, arm)
    policy = solved_policy(problem, cfg, offers)
    if arm == cfg.data.control:
        return policy, np.zeros(len(rows))
    return policy, tie_shares(problem[0], offers.index(arm), policy == arm)


def expected_static_policy(
    rows: pd.DataFrame, cfg: Config, offers: list[str], base_rows: int, arm: str
) -> pd.DataFrame:
    """The static policy of :func:`static_draw` as the stochastic policy it is: each row's
    probability of ``arm`` and of no offer over the tie-break's draw (a
    :func:`~causal_targeting.evaluation.policy_value.stochastic_policy`)."""
    from causal_targeting.evaluation.policy_value import stochastic_policy

    _, share = static_draw(rows, cfg, offers, base_rows, arm)
    shares = {cfg.data.control: 1.0 - share}
    if arm != cfg.data.control:
        shares[arm] = share
    return stochastic_policy(shares, len(rows))


def tie_shares(block: OptionBlock, option: int, given: np.ndarray) -> np.ndarray:
    """Each row's probability of getting ``option`` (a column of the static problem's
    ``block``) over the draw of the static policy's tie-break; ``given``: the rows the solved
    policy gives it.

    Two rows tie when the option is available to both and uses the same amount of every
    guardrail: the solver then orders them by the hash of their ids alone (:data:`TIE_BREAK`),
    so which rows of a tie class get the option is a uniform draw of as many as ``given`` has
    there, and each row's probability is that share of its class. With a fixed cost and a cap
    on contacts every eligible row has the reach / eligible share; with costs that differ by
    customer most classes are single rows, of probability 0 or 1.
    """
    import numpy as np

    keys = np.column_stack([block.available[:, option], block.usage[:, :, option].T])
    _, tie_class = np.unique(keys, axis=0, return_inverse=True)
    tie_class = tie_class.reshape(-1)
    counts = np.bincount(tie_class, weights=np.asarray(given, dtype=float))
    return (counts / np.bincount(tie_class))[tie_class]


def stay_bonus(
    static_arm: str, control: str, offers: list[str], threshold: float
) -> dict[str, tuple[float, float]]:
    """The partial policy's bonus columns (:mod:`~causal_targeting.evaluation.safeguard`), as
    column -> (its value on a row eligible for ``static_arm``, on a row that is not): staying
    with the static policy's option is worth ``threshold`` more than the value model says
    (+threshold on ``static_arm``; when the static policy gives the row no offer, because it is
    no offer to anyone or the row is not eligible for its arm, -threshold on every offer), so a
    row departs from it only where its best option's value beats the static one's by more than
    ``threshold``."""
    if static_arm == control:
        return {f"tau__{STAY}__{a}": (-threshold, -threshold) for a in offers}
    return {
        f"tau__{STAY}__{a}": (threshold, 0.0) if a == static_arm else (0.0, -threshold)
        for a in offers
    }


def stay_columns(
    rows: pd.DataFrame, static_arm: str, control: str, offers: list[str], threshold: float
) -> dict[str, np.ndarray]:
    """The :func:`stay_bonus` columns of the scored ``rows`` (eligibility from
    ``eligible__{static_arm}`` when present)."""
    import numpy as np

    from causal_targeting.evaluation.safeguard import eligible_rows

    eligible = (
        eligible_rows(rows, static_arm) if static_arm != control else np.ones(len(rows), bool)
    )
    return {
        column: np.where(eligible, on, off)
        for column, (on, off) in stay_bonus(static_arm, control, offers, threshold).items()
    }


def partial_value_model(value_model: ValueModel) -> ValueModel:
    """The value model of a partial policy: the configured one plus the :func:`stay_bonus`
    columns (weight 1), the costs unchanged (budgets count the same costs)."""
    return replace(value_model, weights={**value_model.weights, STAY: 1.0})


def partial_sample_policy(
    rows: pd.DataFrame, cfg: Config, offers: list[str], base_rows: int, static_arm: str,
    threshold: float,
) -> np.ndarray:
    """The partial policy of ``threshold`` against the static policy of ``static_arm``, solved
    on a sample of scored rows under the guardrails like :func:`sample_policy`."""
    value_model, _, _ = allocation_problem(cfg)
    bonus = stay_columns(rows, static_arm, cfg.data.control, offers, threshold)
    return sample_policy(
        rows.assign(**bonus), cfg, offers, base_rows, partial_value_model(value_model)
    )


def safeguard_decision(
    cfg: Config, rows: pd.DataFrame, offers: list[str], base_rows: int
) -> SafeguardDecision:
    """The safeguard on the train stage's scored rows, every policy under the guardrails.

    The targeted policy and each single-arm static policy (:func:`static_value_model`) over
    ``offers`` (the configured arms, or the coarsened menu) are solved on the rows with the
    guardrails scaled to their share of the ``base_rows`` customers; no offer to anyone is the
    other static policy. The rows keep every arm of the experiment, as the evaluate stage judges
    them. See :func:`causal_targeting.evaluation.safeguard.decide`.
    """
    from dataclasses import replace as replaced

    from causal_targeting.errors import InfeasibleError
    from causal_targeting.evaluation.safeguard import decide

    value_model, _, _ = allocation_problem(cfg)
    control = cfg.data.control
    statics, shares = {}, {}
    for arm in [control, *offers]:
        try:
            statics[arm], share = static_draw(rows, cfg, offers, base_rows, arm)
        except InfeasibleError:
            continue  # the static policy cannot meet the guardrails: not a candidate
        if arm != control:
            shares[arm] = share
    decision = decide(
        rows,
        value_model,
        offers,
        control,
        confidence=cfg.allocation.min_gain_confidence,
        seed=cfg.seed,
        reps=cfg.evaluate.bootstrap_reps,
        targeted=sample_policy(rows, cfg, offers, base_rows),
        statics=statics or None,
        static_shares=shares,
        every_offer=list(cfg.data.arms),
        gain_confidence=cfg.allocation.static_gain_confidence,
        partial_shares=cfg.allocation.partial_shares,
        partial=lambda arm, c: partial_sample_policy(rows, cfg, offers, base_rows, arm, c),
    )
    if statics:
        return decision
    return replaced(decision, kind="targeted", static_feasible=False)
