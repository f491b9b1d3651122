"""The report's decision counts customers per offer, by segment when there are segment caps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from causal_targeting.config import load_config
from causal_targeting.layout import allocate_paths, ingest_paths
from causal_targeting.stages.evaluate import offer_counts


def test_offer_counts_by_segment(spark: Any, root: Path, tmp_path: Path) -> None:
    cfg = load_config(
        root / "conf" / "local.yaml",
        [
            f"outputs.root={tmp_path}",
            "allocation.guardrails=[{name: north_cap, kind: segment_cap, limit: 2, "
            "segment_column: region, segment: north}]",
        ],
    )
    allocation = pd.DataFrame(
        {"customer_id": [1, 2, 3, 4, 5], "offer": ["mail", None, "mail", "sms", None]}
    )
    customers = pd.DataFrame(
        {"customer_id": [1, 2, 3, 4, 5], "region": ["north", "north", "south", "south", "south"]}
    )
    spark.createDataFrame(allocation).write.parquet(allocate_paths(cfg)["allocation"])
    spark.createDataFrame(customers).write.parquet(ingest_paths(cfg)["customers"])
    counts = offer_counts(cfg, spark)
    assert counts.to_dict("records") == [
        {"region": "north", "offer": "mail", "customers": 1},
        {"region": "north", "offer": "no offer", "customers": 1},
        {"region": "south", "offer": "mail", "customers": 1},
        {"region": "south", "offer": "no offer", "customers": 1},
        {"region": "south", "offer": "sms", "customers": 1},
    ]
