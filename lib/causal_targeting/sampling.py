"""Seeded samples of Spark tables that depend only on the ids and the seed.

A row's draw is u = xxhash64(id as string, salt, seed) mod 2^53 / 2^53, uniform in [0, 1) over
ids; a sample keeps the rows of smallest draw (or those below a fraction). Neither the
partitioning nor the order in which Spark wrote or reads the rows changes which rows are drawn
or the order they come back in, so the same table and seed give the same sample on every run.
``DataFrame.sample`` does not have this property: it draws by position within each partition.
The salt keeps the draws of different uses (the train stage's per-arm sample, its folds, the
coarsen stage's sample, ...) independent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

HASH_RESOLUTION = 2**53


def hash_uniform(id_column: str, seed: int, salt: str) -> Column:
    """A number in [0, 1) per row from xxhash64(id as string, salt, seed): uniform over ids."""
    from pyspark.sql import functions as F

    hashed = F.xxhash64(F.col(id_column).cast("string"), F.lit(salt), F.lit(seed))
    return F.pmod(hashed, F.lit(HASH_RESOLUTION)).cast("double") / float(HASH_RESOLUTION)


def prefilter_fraction(rows: int, cap: int) -> float:
    """Share of an arm's rows to keep before the exact cut to ``cap``: cap/rows plus a margin of
    6 binomial standard deviations (and 20 rows), so that with overwhelming probability at
    least ``cap`` rows pass; 1 when the arm has no more than ``cap`` rows."""
    if rows <= cap:
        return 1.0
    return min(1.0, (cap + 6.0 * math.sqrt(cap) + 20.0) / rows)


def smallest_draws(
    df: DataFrame,
    columns: Sequence[str],
    size: int,
    rows: int,
    seed: int,
    salt: str,
    id_column: str = "customer_id",
) -> pd.DataFrame:
    """``columns`` of the at most ``size`` rows of ``df`` (``rows`` rows in all) of smallest
    ``hash_uniform(id, seed, salt)``, collected in that order (ties by id): a uniform sample
    without replacement. Only the rows below :func:`prefilter_fraction` leave the executors."""
    from pyspark.sql import functions as F

    draw = "__draw"
    kept = (
        df.select(id_column, *columns)
        .withColumn(draw, hash_uniform(id_column, seed, salt))
        .where(F.col(draw) < prefilter_fraction(rows, size))
        .toPandas()
    )
    first = kept.sort_values([draw, id_column], kind="mergesort").head(size)
    return first[list(columns)].reset_index(drop=True)
