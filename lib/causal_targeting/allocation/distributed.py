"""The Spark edge of the allocation: option blocks cached once, one Spark stage per dual pass.

The scores DataFrame is read once: each Arrow batch of customers becomes one ``OptionBlock``
(numpy arrays, built by ``problem.option_block``), and the RDD of blocks is persisted in at
most twice as many partitions as Spark has task slots (:func:`~causal_targeting.spark.task_slots`).
Every pass of the solver maps the numpy core ``dual_terms`` over the cached blocks and combines
the partial sums on the driver; only the prices go out and J + 6 numbers per partition come
back. A pass costs what moving the cached blocks from the JVM to the Python workers costs (the
numpy core is a tenth of it) plus a fixed cost per task: blocks of one Arrow batch stream to
the workers, and few partitions mean few tasks (benchmarks/RESULTS.md "pipeline": at 10M
customers in ``local[2]``, 4 partitions of batch-sized blocks against 64 partitions of one
concatenated block each). The finishing pass collects the few marginal customers to the driver.
The allocation table is then produced by ``mapInPandas`` over the scores with the final prices,
so it is never collected.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from causal_targeting.allocation.dual import Callback, DualTerms, best_options, dual_terms
from causal_targeting.allocation.problem import (
    DoNoHarm,
    Guardrail,
    OptionBlock,
    option_block,
)
from causal_targeting.allocation.report import SolveReport
from causal_targeting.allocation.solver import (
    Marginal,
    Plan,
    SolverOptions,
    allocation_frame,
    block_finisher,
    solve_dual,
)
from causal_targeting.spark import task_slots
from causal_targeting.value import (
    ValueModel,
    require_columns,
    values_frame,
)

if TYPE_CHECKING:
    from pyspark import RDD
    from pyspark.sql import DataFrame

Keyed = tuple[np.ndarray, OptionBlock]


def score_columns(
    df: DataFrame,
    value_model: ValueModel,
    guardrails: Sequence[Guardrail],
    arms: Sequence[str],
    do_no_harm: DoNoHarm | None,
    id_column: str,
) -> list[str]:
    """The columns of ``df`` the option blocks read (others are never shipped to Python)."""
    wanted = {id_column}
    wanted |= {f"tau__{o}__{a}" for o in value_model.weights for a in arms}
    wanted |= {t.column.format(arm=a) for t in value_model.variable_costs for a in arms}
    wanted |= {f"tau__{g.outcome}__{a}" for g in guardrails if g.outcome for a in arms}
    wanted |= {str(g.segment_column) for g in guardrails if g.segment_column}
    if do_no_harm is not None:
        wanted |= do_no_harm.columns(arms, value_model)
    eligible = {f"eligible__{a}" for a in arms} & set(df.columns)
    require_columns(pd.DataFrame(columns=df.columns), sorted(wanted), "score the customers first")
    return sorted(wanted | eligible)


def concatenate(parts: Sequence[Keyed]) -> Keyed:
    """One keyed block from several (e.g. the marginal customers of every cached block)."""
    ids = np.concatenate([p[0] for p in parts])
    values = np.concatenate([p[1].values for p in parts])
    usage = np.concatenate([p[1].usage for p in parts], axis=1)
    population = np.sum([p[1].population for p in parts], axis=0)
    return ids, OptionBlock(values, usage, population)


def cached_blocks(
    df: DataFrame,
    value_model: ValueModel,
    guardrails: Sequence[Guardrail],
    arms: Sequence[str],
    do_no_harm: DoNoHarm | None = None,
    id_column: str = "customer_id",
) -> RDD[Keyed]:
    """Build every customer's options once: an RDD of (ids, OptionBlock), one per Arrow batch,
    in at most twice as many partitions as Spark runs tasks at once, persisted (the passes read
    this cache, never the scores again). A partition that does not fit in the storage memory is
    kept on local disk, not dropped: a dropped one would be rebuilt from the scores on every pass.
    """
    from pyspark import StorageLevel

    columns = score_columns(df, value_model, guardrails, arms, do_no_harm, id_column)
    partitions = 2 * task_slots(df.sparkSession)

    def build(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in frames:
            block = option_block(frame, value_model, guardrails, arms, do_no_harm)
            payload = pickle.dumps((frame[id_column].to_numpy(), block), protocol=5)
            yield pd.DataFrame({"payload": [payload]})

    payloads = df.select(*columns).coalesce(partitions).mapInPandas(build, "payload binary")
    blocks = payloads.rdd.map(lambda row: pickle.loads(row.payload))
    blocks.persist(StorageLevel.MEMORY_AND_DISK).count()
    return blocks


def spark_oracle(blocks: RDD[Keyed], rows: int):
    """The dual oracle over the cached blocks: numpy per partition, one Spark stage per pass
    (``fold``); the partitions' sums (J + 6 numbers each) are added on the driver in partition
    order. ``rows`` is J, the guardrail rows."""

    def oracle(lam: np.ndarray, reach: bool = False) -> DualTerms:
        prices = np.asarray(lam, dtype=np.float64)
        return blocks.map(lambda keyed: dual_terms(keyed[1], prices, reach)).fold(
            DualTerms.zero(rows), lambda a, b: a + b
        )

    return oracle


def spark_finisher(blocks: RDD[Keyed]):
    """The finishing pass: per partition, fix the customers whose best option agrees at every
    supporting price and send the marginal ones (ids and options) to the driver."""

    def finish(prices: Sequence[np.ndarray], everyone: bool = False) -> Marginal:
        supports = [np.asarray(p, dtype=np.float64) for p in prices]

        def part(keyed: Keyed) -> Marginal:
            ids, block = keyed
            local = block_finisher(block)(supports, everyone)
            return Marginal(ids[local.keys], local.block, local.fixed_usage,
                            local.fixed_value, local.fixed_offers)

        parts = blocks.map(part).collect()
        keys, sub = concatenate([(p.keys, p.block) for p in parts])
        return Marginal(
            keys=keys,
            block=sub,
            fixed_usage=np.sum([p.fixed_usage for p in parts], axis=0),
            fixed_value=float(sum(p.fixed_value for p in parts)),
            fixed_offers=int(sum(p.fixed_offers for p in parts)),
        )

    return finish


def allocation_schema(df: DataFrame, guardrails: Sequence[Guardrail], id_column: str) -> str:
    id_type = df.schema[id_column].dataType.simpleString()
    usage = "".join(f", `usage__{g.name}` double" for g in guardrails)
    return f"customer_id {id_type}, offer string, value double{usage}, run_id string"


def chosen_net_values(
    frame: pd.DataFrame, value_model: ValueModel, arms: Sequence[str], choice: np.ndarray
) -> np.ndarray:
    """``value_model``'s net value of each row's chosen option, shape (n,): ``value__{arm}`` of
    :func:`~causal_targeting.value.values_frame` at ``choice`` (an index into ``arms``), 0 where
    ``choice == len(arms)`` (no offer)."""
    values = values_frame(frame, value_model, arms).to_numpy(dtype=np.float64)
    offered = choice < len(arms)
    picked = values[np.arange(len(frame)), np.where(offered, choice, 0)]
    return np.where(offered, picked, 0.0)


def assign_allocation(
    df: DataFrame,
    plan: Plan,
    value_model: ValueModel,
    guardrails: Sequence[Guardrail],
    arms: Sequence[str],
    do_no_harm: DoNoHarm | None,
    id_column: str,
    run_id: str,
    valued_by: ValueModel | None = None,
) -> DataFrame:
    """The allocation table, computed by ``mapInPandas``: best option at the plan's prices,
    overridden for the marginal customers decided on the driver; ``value`` is ``valued_by``'s
    net value of the option (:func:`chosen_net_values`) when given, else the solved problem's."""
    columns = score_columns(df, value_model, guardrails, arms, do_no_harm, id_column)
    if valued_by is not None:
        columns = sorted({*columns, *score_columns(df, valued_by, [], arms, None, id_column)})
    overrides = pd.Series(plan.options, index=pd.Index(plan.keys))
    prices = plan.prices

    def assign(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in frames:
            block = option_block(frame, value_model, guardrails, arms, do_no_harm)
            choice = best_options(block, prices)
            decided = overrides.reindex(frame[id_column].to_numpy())
            known = decided.notna().to_numpy()
            choice[known] = decided.to_numpy()[known].astype(np.int64)
            out = allocation_frame(frame[id_column], block, choice, arms, guardrails, run_id)
            if valued_by is not None:
                out["value"] = chosen_net_values(frame, valued_by, arms, choice)
            yield out

    return df.select(*columns).mapInPandas(
        assign, allocation_schema(df, guardrails, id_column)
    )


def solve(
    df: DataFrame,
    value_model: ValueModel,
    guardrails: Sequence[Guardrail],
    arms: Sequence[str],
    do_no_harm: DoNoHarm | None = None,
    id_column: str = "customer_id",
    options: SolverOptions | None = None,
    run_id: str = "",
    callback: Callback | None = None,
    valued_by: ValueModel | None = None,
) -> tuple[DataFrame, SolveReport]:
    """Allocate offers to the customers of a scores DataFrame under the guardrails.

    Returns the allocation DataFrame (customer_id, offer or null, value, usage__{guardrail},
    run_id; lazy, computed when written) and the solve report. ``value`` is the solved
    ``value_model``'s net value of each customer's option, or ``valued_by``'s when given (e.g.
    the configured model's when a static policy's constant-gain problem was solved), computed
    in the same pass over ``df`` as the assignment. Raises InfeasibleError naming the
    guardrails no allocation can meet.
    """
    blocks = cached_blocks(df, value_model, guardrails, arms, do_no_harm, id_column)
    try:
        plan, report = solve_dual(
            spark_oracle(blocks, len(guardrails)), spark_finisher(blocks), guardrails,
            options or SolverOptions(), callback,
        )
    finally:
        blocks.unpersist()
    allocation = assign_allocation(
        df, plan, value_model, guardrails, arms, do_no_harm, id_column, run_id, valued_by
    )
    return allocation, report
