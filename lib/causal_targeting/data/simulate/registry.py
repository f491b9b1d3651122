"""Every scenario by name: one line per scenario, its module's recipe."""

from __future__ import annotations

from collections.abc import Mapping

from causal_targeting.data.simulate import (
    costly_promotion,
    costly_retention,
    every_arm_pays,
    intent,
    no_signal,
    rare_binary,
    retention,
    rewards,
    spend_threshold,
)
from causal_targeting.data.simulate.spec import Scenario, ScenarioRecipe, frozen
from causal_targeting.errors import UserError

RECIPES: Mapping[str, ScenarioRecipe] = frozen(
    {
        "retention": retention.RECIPE,
        "rewards": rewards.RECIPE,
        "spend_threshold": spend_threshold.RECIPE,
        "rare_binary": rare_binary.RECIPE,
        "no_signal": no_signal.RECIPE,
        "intent": intent.RECIPE,
        "costly_promotion": costly_promotion.RECIPE,
        "every_arm_pays": every_arm_pays.RECIPE,
        "costly_retention": costly_retention.RECIPE,
    }
)

SCENARIOS: Mapping[str, Scenario] = frozen({name: r.make(name) for name, r in RECIPES.items()})
"""Every scenario built with its default parameters."""


def scenario(name: str, params: Mapping[str, float] | None = None) -> Scenario:
    """The scenario called ``name``, built with ``params`` over its defaults.

    An unknown name raises UserError listing the valid ones; an unknown parameter or a value out
    of its range raises ConfigError naming ``simulate.params.<key>`` and the allowed range.
    """
    if name not in RECIPES:
        raise UserError(
            f"unknown simulation scenario '{name}'; choose one of: {', '.join(RECIPES)}"
        )
    return RECIPES[name].make(name, params) if params else SCENARIOS[name]
