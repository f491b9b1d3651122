"""The coarsen stage: the K offers of a fine menu worth running, for the allocate stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from causal_targeting.data import manifest
from causal_targeting.data.io import read_output, write_json, write_text
from causal_targeting.decision import allocation_problem
from causal_targeting.layout import coarsen_paths, score_paths
from causal_targeting.spark import get_spark

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import DataFrame, SparkSession

    from causal_targeting.config import Config


@dataclass(frozen=True)
class CoarsenResult:
    """The chosen menu and the recovery curve."""

    offers: list[str]
    k: int
    realized_share: float
    curve: pd.DataFrame
    paths: dict[str, str]


def values_table(scores: DataFrame, cfg: Config) -> DataFrame:
    """``customer_id`` and ``value__{arm}`` (the allocator's net value) for every arm."""
    from causal_targeting.value import values_frame

    value_model, _, _ = allocation_problem(cfg)
    arms = list(cfg.data.arms)
    id_type = scores.schema["customer_id"].dataType.simpleString()
    schema = f"customer_id {id_type}, " + ", ".join(f"`value__{arm}` double" for arm in arms)

    def values(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            frame = values_frame(batch, value_model, arms)
            yield pd.concat([batch[["customer_id"]], frame], axis=1)

    return scores.mapInPandas(values, schema)


def coarsen(cfg: Config, spark: SparkSession | None = None) -> CoarsenResult:
    """Choose the K offers of the fine menu worth running; write the menu for the allocate stage.

    Each customer's expected incremental profit under every offer is the allocator's net value
    ``value__{arm}``; customers reduce to a weighted set the driver holds, K offers are chosen
    for K = 1..k_max (ours beside the baselines), K is the smallest reaching
    ``coarsen.target_share``, and every customer is assigned on the executors to check sizes.
    """
    from causal_targeting.coarsening.distributed import coarsen_offers
    from causal_targeting.coarsening.report import plot_recovery

    spark = spark or get_spark(cfg.spark)
    started = manifest.begin(cfg, "coarsen")
    settings = cfg.coarsen
    scores = read_output(spark, score_paths(cfg)["scores"], "scores")
    arms = list(cfg.data.arms)
    menu = coarsen_offers(
        values_table(scores, cfg),
        [f"value__{arm}" for arm in arms],
        offer_names=arms,
        k_max=settings.k_max,
        target_share=settings.target_share,
        restarts=settings.restarts,
        seed=cfg.seed,
        reduction=settings.reduction,
        reduction_size=settings.reduction_size,
        min_share=settings.min_share,
        max_share=settings.max_share,
        size_margin=settings.size_margin,
        allow_no_offer=settings.allow_no_offer,
        grid_step=settings.grid_step,
    )
    paths = coarsen_paths(cfg)
    write_text(menu.curve.to_csv(index=False), paths["recovery"])
    write_text(menu.sizes.to_csv(index=False), paths["sizes"])
    plot_recovery(menu.curve, paths["plot"], target_share=settings.target_share)
    write_json(
        {
            "offers": menu.offers,
            "k": menu.k,
            "realized_share": menu.realized_share,
            "reduction": {
                "method": menu.reduction.method,
                "size": menu.reduction.size,
                "loss_share": menu.reduction.loss_share,
                "loss_bound_share": menu.reduction.loss_bound_share,
            },
            "potentials": None if menu.potentials is None else list(map(float, menu.potentials)),
        },
        paths["menu"],
    )
    manifest.finish(cfg, started)
    return CoarsenResult(menu.offers, menu.k, menu.realized_share, menu.curve, paths)
