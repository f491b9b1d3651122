"""What a scenario is: arms, features, outcomes, costs, design, response model and parameters."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar, Literal, Protocol, TypeVar

import numpy as np
import pandas as pd

from causal_targeting.data.simulate.draws import Draws
from causal_targeting.data.simulate.population import FeatureKind, customer_features
from causal_targeting.errors import ConfigError

OutcomeKind = Literal["binary", "continuous"]
Means = dict[str, dict[str, np.ndarray]]
_V = TypeVar("_V")


def frozen(mapping: dict[str, _V]) -> Mapping[str, _V]:
    """A read-only view of ``mapping`` (the scenario specs are constants)."""
    return MappingProxyType(mapping)


class Response(Protocol):
    """A scenario's outcome model: true conditional means and realized outcomes."""

    def means(self, x: pd.DataFrame) -> Means:
        """E[Y(a) | x] as ``{outcome: {arm: array}}`` for every arm, control included."""
        ...

    def realize(self, x: pd.DataFrame, arm: np.ndarray, draws: Draws) -> dict[str, np.ndarray]:
        """The outcomes (and labels) of each row under its arm (``arm`` holds arm names)."""
        ...


def pick(per_arm: Mapping[str, np.ndarray | float], arm: np.ndarray) -> np.ndarray:
    """Row i's value of ``per_arm[arm[i]]`` (values are arrays over rows, or scalars)."""
    codes, names = pd.factorize(arm)
    picked = np.empty(len(arm), dtype=np.float64)
    for code, name in enumerate(names):
        rows = codes == code
        values = per_arm[name]
        picked[rows] = values[rows] if isinstance(values, np.ndarray) else values
    return picked


class BinaryResponse(ABC):
    """A response with one binary outcome: Y(a) = 1[U < p_a(x)], U uniform from the stream
    named after the outcome and common to every arm (so the potential outcomes are coupled)."""

    outcome: ClassVar[str]

    @abstractmethod
    def probabilities(self, x: pd.DataFrame) -> dict[str, np.ndarray]:
        """p_a(x) = P(Y(a) = 1 | x) for every arm a, control included."""

    def means(self, x: pd.DataFrame) -> Means:
        """E[Y(a) | x] = p_a(x)."""
        return {self.outcome: self.probabilities(x)}

    def occurs(self, x: pd.DataFrame, arm: np.ndarray, draws: Draws) -> np.ndarray:
        """Whether the outcome occurs for each row under its arm (booleans)."""
        return draws.uniform(self.outcome) < pick(self.probabilities(x), arm)

    def realize(self, x: pd.DataFrame, arm: np.ndarray, draws: Draws) -> dict[str, np.ndarray]:
        """The outcome of each row under its arm, as 0.0 / 1.0."""
        return {self.outcome: self.occurs(x, arm, draws).astype(np.float64)}


@dataclass(frozen=True)
class ArmCost:
    """What an arm costs: a fixed cost per contact, and a reward paid when it is redeemed.

    ``threshold`` is the spend a customer must reach to earn the reward (spend_threshold only).
    The control arm costs nothing.
    """

    contact_cost: float = 0.0
    reward: float = 0.0
    threshold: float | None = None


def contact_costs(control: str, costs: Mapping[str, float]) -> Mapping[str, ArmCost]:
    """Every arm's cost: ``costs[a]`` per contact for each offer ``a``, nothing for ``control``."""
    return frozen({control: ArmCost(), **{a: ArmCost(contact_cost=c) for a, c in costs.items()}})


@dataclass(frozen=True)
class Scenario:
    """A simulated decision: arms, features, outcomes, costs, design and response model.

    ``assignment_probs`` is the default design (every arm, control included; unequal allowed).
    ``costs`` has every arm. ``margin`` is the value of one unit of ``value_outcome`` (the gross
    margin on revenue or spend, the value of a purchase, or minus the cost of a churn where less
    of the outcome is better), so the expected incremental profit
    of arm a is margin·true_tau__{value_outcome}__a − reward_a·true_mu__{reward_outcome}__a
    − contact_cost_a (:func:`~causal_targeting.data.simulate.generator.true_values`).
    ``response`` gives the true means and the realized outcomes.

    ``population(draws)`` draws the features and, for a scenario with a latent truth, the
    ``latent`` columns (e.g. ``true_type``) the response reads; ``labels`` are observed columns
    realized with the outcomes that are not outcomes (e.g. an attribution label);
    ``potential_outcomes`` adds every arm's realized outcome as ``true_y__{outcome}__{arm}``.
    ``params`` are the values of the scenario's parameters it was built with.
    """

    name: str
    description: str
    control: str
    arms: tuple[str, ...]
    features: Mapping[str, FeatureKind]
    outcomes: Mapping[str, OutcomeKind]
    costs: Mapping[str, ArmCost]
    assignment_probs: Mapping[str, float]
    margin: float
    value_outcome: str
    response: Response
    reward_outcome: str = "redeemed"
    population: Callable[[Draws], pd.DataFrame] = customer_features
    latent: Mapping[str, FeatureKind] = field(default_factory=lambda: frozen({}))
    labels: tuple[str, ...] = ()
    potential_outcomes: bool = False
    params: Mapping[str, float] = field(default_factory=lambda: frozen({}))

    @property
    def all_arms(self) -> tuple[str, ...]:
        """The control first, then the treatment arms."""
        return (self.control, *self.arms)


@dataclass(frozen=True)
class Parameter:
    """A scenario parameter: its default and the closed range [low, high] it may take."""

    default: float
    low: float
    high: float
    meaning: str


@dataclass(frozen=True)
class ScenarioRecipe:
    """How a scenario is built: ``build(**params)``, and the parameters it accepts."""

    build: Callable[..., Scenario]
    parameters: Mapping[str, Parameter] = field(default_factory=lambda: frozen({}))

    def make(self, name: str, params: Mapping[str, float] | None = None) -> Scenario:
        """The scenario built with ``params`` over the defaults (:func:`check_params`)."""
        return self.build(**check_params(name, self.parameters, params or {}))


def check_params(
    name: str, parameters: Mapping[str, Parameter], given: Mapping[str, float]
) -> dict[str, float]:
    """Every parameter's value: ``given`` where set, else its default.

    A parameter the scenario does not have, a value that is not a number, or a value outside
    the parameter's [low, high] raises ConfigError naming ``simulate.params.<key>``.
    """
    values = {key: p.default for key, p in parameters.items()}
    for key, value in given.items():
        where = f"simulate.params.{key}"
        if key not in parameters:
            known = ", ".join(parameters) or "none"
            raise ConfigError(
                f"{where}: scenario '{name}' has no parameter '{key}'; its parameters: {known}"
            )
        bounds = parameters[key]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ConfigError(f"{where} must be a number in [{bounds.low}, {bounds.high}]")
        if not (math.isfinite(value) and bounds.low <= value <= bounds.high):
            raise ConfigError(
                f"{where} = {value} is outside the allowed range [{bounds.low}, {bounds.high}] "
                f"of scenario '{name}' ({bounds.meaning})"
            )
        values[key] = float(value)
    return values
