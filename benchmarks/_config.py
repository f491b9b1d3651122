"""The configuration of a benchmark run on a simulated scenario's tables."""

from __future__ import annotations

from pathlib import Path

from causal_targeting.config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]


def simulated_config(
    scenario: str,
    simulated: Path,
    outputs_root: Path | str,
    driver_memory: str,
    shuffle_partitions: int,
    overrides: tuple[str, ...] = (),
) -> Config:
    """``conf/scenarios/{scenario}.yaml`` reading the experiment and customers written under
    ``simulated`` (:func:`~causal_targeting.data.simulate.write_simulation`), writing under
    ``outputs_root``, with the driver's memory and shuffle partitions set, then ``overrides``."""
    return load_config(
        ROOT / "conf" / "scenarios" / f"{scenario}.yaml",
        [
            f"data.experiment.path={simulated}/experiment",
            f"data.customers.path={simulated}/customers",
            f"outputs.root={outputs_root}",
            f"spark.driver_memory={driver_memory}",
            f"spark.shuffle_partitions={shuffle_partitions}",
            *overrides,
        ],
    )
