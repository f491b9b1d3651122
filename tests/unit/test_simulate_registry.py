"""The scenario registry: names, costs, config files in step with the specs, parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from causal_targeting.config import load_config
from causal_targeting.data.simulate import SCENARIOS, scenario
from causal_targeting.errors import UserError

NAMES = sorted(SCENARIOS)


def test_costs_cover_every_arm() -> None:
    for spec in SCENARIOS.values():
        assert set(spec.costs) == set(spec.all_arms)
        assert spec.costs[spec.control].contact_cost == spec.costs[spec.control].reward == 0


@pytest.mark.parametrize("name", NAMES)
def test_scenario_config_files_agree_with_the_specs(name: str, root: Path) -> None:
    spec = scenario(name)
    data = load_config(root / "conf" / "scenarios" / f"{name}.yaml").data
    assert data.control == spec.control
    assert data.arms == list(spec.arms)
    assert data.features == dict(spec.features)
    assert data.outcomes == dict(spec.outcomes)
    assert (data.customer_id, data.treatment, data.propensity) == (
        "customer_id",
        "treatment",
        "propensity",
    )
    assert data.experiment.path == f"work/simulate/{name}/experiment"
    assert data.customers is not None and data.customers.path == f"work/simulate/{name}/customers"


def test_unknown_scenario_is_refused_with_the_valid_names() -> None:
    with pytest.raises(UserError, match="retention, rewards, spend_threshold"):
        scenario("churn")
