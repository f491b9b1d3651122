"""Seeded samples of Spark tables: the same rows for the same ids and seed, however the table is
partitioned or ordered."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from causal_targeting.stages.segment import TRUE_TYPE, recovery_rows

N = 2000


def test_the_segment_recovery_sample_does_not_depend_on_the_row_order(spark) -> None:
    rng = np.random.default_rng(0)
    ids = np.arange(N, dtype=np.int64)
    scores = spark.createDataFrame(pd.DataFrame({"customer_id": ids, "p": rng.random(N)}))
    customers = spark.createDataFrame(
        pd.DataFrame({"customer_id": ids, TRUE_TYPE: rng.integers(0, 3, N), "x": rng.random(N)})
    ).repartition(4)
    first = recovery_rows(scores, customers, ["x"], N, 500, seed=3)
    reversed_scores = scores.orderBy(F.col("customer_id").desc()).coalesce(1)
    reversed_customers = customers.orderBy(F.col("customer_id").desc()).coalesce(1)
    again = recovery_rows(reversed_scores, reversed_customers, ["x"], N, 500, seed=3)
    pd.testing.assert_frame_equal(first, again)
    assert list(first.columns) == ["customer_id", "p", TRUE_TYPE, "x"]
    assert first["customer_id"].is_monotonic_increasing
    assert 400 <= len(first) <= 600  # about size: 500 of 2,000 expected, sd 19
    other = recovery_rows(scores, customers, ["x"], N, 500, seed=4)
    assert not other["customer_id"].equals(first["customer_id"])
    everyone = recovery_rows(scores, customers, ["x"], N, N, seed=3)
    assert len(everyone) == N
