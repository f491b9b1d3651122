"""The Spark edge of coarsening: reduce on executors, choose on the driver, assign on executors.

One row of the input DataFrame is one customer; ``profit_columns`` hold its expected
incremental profit under each offer of the fine menu (for example the scores' ``value__{arm}``).
The full table is never collected:

1. :func:`reduce_profit_table` aggregates the exact personalized profit, then either samples
   the customers of smallest seeded hash of their id (the same sample however the table is
   partitioned or ordered) or micro-clusters each partition in ``mapInPandas`` (weighted
   centroids + the partition's loss bound) and merges the centroids on the driver
   (:func:`~causal_targeting.coarsening.reduction.merge_microclusters`).
2. The driver runs the numpy core (:func:`~causal_targeting.coarsening.report.recovery_curve`,
   :func:`~causal_targeting.coarsening.choose.choose_offers`) on the reduced set.
3. :func:`assign_offers` ships the K offers and their prices to the executors, which apply
   :func:`~causal_targeting.coarsening.objective.assign` to every customer; :func:`segment_sizes`
   aggregates the realized sizes and checks them against the bounds.

Bounds chosen on a reduced set hold on all customers only approximately: the prices are exact
for the reduced set, and the realized shares differ by the reduction's error (for a sample of
size m, about sqrt(p(1-p)/m)). :func:`coarsen_offers` therefore solves with bounds tightened by
``size_margin`` and reports each offer's realized violation of the original bounds; it never
hides one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from causal_targeting.coarsening.baselines import default_grid
from causal_targeting.coarsening.choose import choose_offers
from causal_targeting.coarsening.objective import (
    NO_OFFER,
    assign,
    personalized_profit,
    validate_chosen,
)
from causal_targeting.coarsening.reduction import (
    ReductionReport,
    check_reduction,
    cluster_profits,
    loss_bound,
    merge_microclusters,
)
from causal_targeting.coarsening.report import choose_k, recovery_curve
from causal_targeting.coarsening.transport import size_violations
from causal_targeting.errors import ConfigError, DataContractError
from causal_targeting.sampling import smallest_draws

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

TABLE = "scores"
_WEIGHT = "__weight"
_BOUND = "__loss_bound"


def check_profit_columns(df: DataFrame, profit_columns: Sequence[str]) -> list[str]:
    """Return the profit columns as a list after checking they exist and are numeric."""
    from pyspark.sql.types import NumericType

    columns = list(profit_columns)
    if not columns:
        raise ConfigError("coarsening needs at least one profit column (one per offer)")
    fields = {f.name: f.dataType for f in df.schema.fields}
    for column in columns:
        if column not in fields:
            raise DataContractError(
                TABLE, "profit column is missing", "score every offer of the menu", column=column
            )
        if not isinstance(fields[column], NumericType):
            raise DataContractError(
                TABLE, f"profit column has type {fields[column]}", "cast it to double", column
            )
    return columns


def _block_profits(block: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The profit matrix of a pandas block, refusing missing or infinite values."""
    P = block[list(columns)].to_numpy(dtype=float)
    if not np.isfinite(P).all():
        bad = columns[int(np.flatnonzero(~np.isfinite(P).all(axis=0))[0])]
        raise DataContractError(
            TABLE, "missing or infinite profit", "score every customer for every offer", bad
        )
    return P


def profit_totals(
    df: DataFrame, profit_columns: Sequence[str], *, allow_no_offer: bool = True
) -> tuple[int, float]:
    """(customers, fully personalized profit), aggregated on the executors."""
    from pyspark.sql import functions as F

    # greatest() needs two arguments: 0 ("no offer"), or the first column repeated (harmless)
    floor = F.lit(0.0) if allow_no_offer else F.col(profit_columns[0])
    best = F.greatest(*[F.col(c) for c in profit_columns], floor)
    row = df.agg(F.count(F.lit(1)).alias("n"), F.sum(best).alias("best")).first()
    return int(row["n"]), float(row["best"] or 0.0)


def _sampled(
    df: DataFrame, columns: Sequence[str], rows: int, size: int, seed: int, id_column: str
) -> tuple[np.ndarray, np.ndarray]:
    """The ``size`` customers of smallest seeded hash of their id
    (:func:`~causal_targeting.sampling.smallest_draws`), each weighing rows / size."""
    picked = smallest_draws(df, columns, size, rows, seed, "coarsen", id_column)
    P = _block_profits(picked, columns)
    return P, np.full(len(P), rows / max(len(P), 1))


def _microclustered(
    df: DataFrame, columns: Sequence[str], size: int, seed: int, id_column: str
) -> tuple[np.ndarray, np.ndarray, float]:
    """Micro-cluster each partition (mapInPandas) with its rows in id order (k-means' seeded
    start draws rows by position, and Spark may read a partition's rows in another order on
    another run), merge on the driver; (P, w, bound)."""
    schema = ", ".join(f"`{c}` double" for c in columns) + f", {_WEIGHT} double, {_BOUND} double"

    def per_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        block = pd.concat(list(batches), ignore_index=True)
        if block.empty:
            return
        P = _block_profits(block.sort_values(id_column, kind="mergesort"), columns)
        w = np.ones(len(P))
        centroids, mass, labels = cluster_profits(P, w, size, seed)
        out = pd.DataFrame(centroids, columns=list(columns))
        out[_WEIGHT] = mass
        out[_BOUND] = 0.0
        out.loc[0, _BOUND] = loss_bound(P, w, centroids, labels)
        yield out

    centres = df.select(id_column, *columns).mapInPandas(per_partition, schema).toPandas()
    return merge_microclusters(
        centres[list(columns)].to_numpy(float),
        centres[_WEIGHT].to_numpy(float),
        float(centres[_BOUND].sum()),
        size,
        seed,
    )


def reduce_profit_table(
    df: DataFrame,
    profit_columns: Sequence[str],
    *,
    method: str = "sample",
    size: int = 20_000,
    seed: int = 0,
    allow_no_offer: bool = True,
    id_column: str = "customer_id",
) -> tuple[np.ndarray, np.ndarray, ReductionReport]:
    """The Spark counterpart of :func:`~causal_targeting.coarsening.reduction.reduce_customers`.

    Returns (P_red, w_red, report) with weights summing to the number of customers; the
    report's personalized_full is exact (an aggregation), the rest as in the core.
    """
    columns = check_profit_columns(df, profit_columns)
    check_reduction(method, size)
    rows, full = profit_totals(df, columns, allow_no_offer=allow_no_offer)
    if rows == 0:
        raise DataContractError(TABLE, "no customers to coarsen", "score the customer table")
    bound = None
    if method == "sample":
        P, w = _sampled(df, columns, rows, size, seed, id_column)
    else:
        P, w, bound = _microclustered(df, columns, size, seed, id_column)
    report = ReductionReport(
        method=method,
        rows=rows,
        size=len(P),
        personalized_full=full,
        personalized_reduced=personalized_profit(P, w, allow_no_offer=allow_no_offer),
        loss_bound=bound,
    )
    return P, w, report


def assign_offers(
    df: DataFrame,
    profit_columns: Sequence[str],
    chosen: Sequence[int] | np.ndarray,
    potentials: Sequence[float] | np.ndarray | None = None,
    *,
    offer_names: Sequence[str] | None = None,
    id_column: str = "customer_id",
    allow_no_offer: bool = True,
) -> DataFrame:
    """Assign every customer on the executors: (id_column, offer, profit).

    ``offer`` is the name of the chosen offer (``offer_names[t]``, default the profit column),
    null for no offer; ``profit`` is the customer's profit under it (0 for no offer). The rule
    is :func:`~causal_targeting.coarsening.objective.assign` with ``potentials`` as prices.
    """
    columns = check_profit_columns(df, profit_columns)
    names = list(offer_names) if offer_names is not None else columns
    if len(names) != len(columns):
        raise ConfigError(f"{len(names)} offer names for {len(columns)} profit columns")
    menu = validate_chosen(chosen, len(columns))
    prices = None if potentials is None else np.asarray(potentials, dtype=float)
    id_type = df.schema[id_column].dataType.simpleString()
    schema = f"`{id_column}` {id_type}, offer string, profit double"
    label = np.array([*names, None], dtype=object)  # index -1 (NO_OFFER) -> None

    def per_batch(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for block in batches:
            P = _block_profits(block, columns)
            offers = assign(P, menu, prices, allow_no_offer=allow_no_offer)
            got = offers != NO_OFFER
            profit = np.zeros(len(P))
            profit[got] = P[np.flatnonzero(got), offers[got]]
            yield pd.DataFrame(
                {id_column: block[id_column].to_numpy(), "offer": label[offers], "profit": profit}
            )

    return df.select(id_column, *columns).mapInPandas(per_batch, schema)


def segment_sizes(
    assigned: DataFrame,
    offers: Sequence[str],
    *,
    min_share: float | None = None,
    max_share: float | None = None,
) -> pd.DataFrame:
    """Realized size of each chosen offer, aggregated on the executors, against the bounds.

    One row per offer in ``offers`` (absent offers count 0): offer, customers, share (of all
    customers, "no offer" included), profit, and violation = how far the share lies outside
    [min_share, max_share] (0 when inside).
    """
    from pyspark.sql import functions as F

    counted = assigned.groupBy("offer").agg(
        F.count(F.lit(1)).alias("customers"), F.sum("profit").alias("profit")
    )
    frame = counted.toPandas()
    total = int(frame["customers"].sum())
    sizes = (
        pd.DataFrame({"offer": list(offers)})
        .merge(frame, on="offer", how="left")
        .fillna({"customers": 0, "profit": 0.0})
    )
    sizes["customers"] = sizes["customers"].astype(int)
    sizes["share"] = sizes["customers"] / max(total, 1)
    sizes["violation"] = size_violations(sizes["share"].to_numpy(), min_share, max_share)
    return sizes[["offer", "customers", "share", "profit", "violation"]]


@dataclass(frozen=True)
class CoarsenedMenu:
    """The coarsen stage's output.

    ``offers``: names of the K chosen offers (the allocate stage's offer set); ``chosen`` their
    fine-menu indices; ``potentials`` their prices (bounds only); ``curve`` the recoup-vs-K table
    on the reduced set; ``reduction`` what the reduction lost; ``sizes`` realized segment sizes
    on all customers; ``realized_share`` = profit of the menu on all customers / personalized;
    ``assignments`` the lazy (id, offer, profit) DataFrame.
    """

    offers: list[str]
    chosen: np.ndarray
    potentials: np.ndarray | None
    k: int
    curve: pd.DataFrame
    reduction: ReductionReport
    sizes: pd.DataFrame
    realized_share: float
    assignments: DataFrame


def _tightened(
    min_share: float | None, max_share: float | None, margin: float
) -> tuple[float | None, float | None]:
    """Bounds moved inwards by ``margin`` (None stays None)."""
    lo = None if min_share is None else min_share + margin
    hi = None if max_share is None else max_share - margin
    return lo, hi


def coarsen_offers(
    df: DataFrame,
    profit_columns: Sequence[str],
    *,
    offer_names: Sequence[str] | None = None,
    id_column: str = "customer_id",
    k_max: int = 8,
    target_share: float = 0.995,
    restarts: int = 8,
    seed: int = 0,
    reduction: str = "sample",
    reduction_size: int = 20_000,
    min_share: float | None = None,
    max_share: float | None = None,
    size_margin: float = 0.0,
    allow_no_offer: bool = True,
    grid_step: int = 4,
) -> CoarsenedMenu:
    """The coarsen stage: reduce, curve for K = 1..k_max, pick K by the target, assign, check.

    K is the smallest K whose share (on the reduced set) reaches ``target_share``. Ours is
    solved with bounds tightened by ``size_margin``; ``sizes`` checks the original bounds.
    """
    if size_margin < 0:
        raise ConfigError(f"coarsening.size_margin must be >= 0, got {size_margin}")
    columns = check_profit_columns(df, profit_columns)
    names = list(offer_names) if offer_names is not None else columns
    P, w, report = reduce_profit_table(
        df, columns, method=reduction, size=reduction_size, seed=seed,
        allow_no_offer=allow_no_offer, id_column=id_column,
    )  # fmt: skip
    lo, hi = _tightened(min_share, max_share, size_margin)
    options = {
        "restarts": restarts, "seed": seed, "min_share": lo, "max_share": hi,
        "allow_no_offer": allow_no_offer,
    }  # fmt: skip
    curve = recovery_curve(P, w, k_max, grid=default_grid(len(columns), grid_step), **options)
    k = choose_k(curve, target_share)
    menu = choose_offers(P, w, k, **options)
    assigned = assign_offers(
        df, columns, menu.chosen, menu.potentials, offer_names=names, id_column=id_column,
        allow_no_offer=allow_no_offer,
    )  # fmt: skip
    offers = [names[t] for t in menu.chosen]
    sizes = segment_sizes(assigned, offers, min_share=min_share, max_share=max_share)
    full = report.personalized_full
    realized = float(sizes["profit"].sum()) / full if full > 0 else 1.0
    return CoarsenedMenu(
        offers=offers,
        chosen=menu.chosen,
        potentials=menu.potentials,
        k=k,
        curve=curve,
        reduction=report,
        sizes=sizes,
        realized_share=realized,
        assignments=assigned,
    )
