"""The numpy core shared by every scenario: ids and a seed -> rows with their ground truth.

Rows carry, besides the features (and in the experiment the assigned ``treatment``, its design
probability ``propensity`` and the realized outcomes), the truth of every arm a:

- ``true_mu__{outcome}__{a}`` = E[Y(a) | x], a closed-form function of the observed features x
  (and of the latent columns, e.g. ``true_type``, in a scenario that has them);
- ``true_tau__{outcome}__{a}`` = true_mu a − true_mu control, for every non-control arm;
- ``true_y__{outcome}__{a}``, the realized potential outcome, in scenarios that record them.

Realized outcomes use common random numbers across arms: a customer's draws are the same
whichever arm they get, so the potential outcomes of one customer are coupled and changing the
assignment probabilities changes only ``treatment`` (and what is realized), never the features
or the truth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from causal_targeting.data.simulate.draws import Draws
from causal_targeting.data.simulate.spec import Means, Scenario
from causal_targeting.errors import UserError

CUSTOMER_ID_OFFSET = 10**12


def mu_column(outcome: str, arm: str) -> str:
    """The ground-truth mean column of ``outcome`` under ``arm``."""
    return f"true_mu__{outcome}__{arm}"


def tau_column(outcome: str, arm: str) -> str:
    """The ground-truth effect column of ``arm`` against control on ``outcome``."""
    return f"true_tau__{outcome}__{arm}"


def potential_outcome_column(outcome: str, arm: str) -> str:
    """The ground-truth column of the outcome a customer would have had under ``arm``."""
    return f"true_y__{outcome}__{arm}"


def truth_columns(spec: Scenario) -> list[str]:
    """The latent columns, the true_mu columns (every arm), the true_tau columns (every
    non-control arm), then the potential outcomes (every arm) where the scenario records them."""
    mus = [mu_column(o, a) for o in spec.outcomes for a in spec.all_arms]
    taus = [tau_column(o, a) for o in spec.outcomes for a in spec.arms]
    ys = (
        [potential_outcome_column(o, a) for o in spec.outcomes for a in spec.all_arms]
        if spec.potential_outcomes
        else []
    )
    return [*spec.latent, *mus, *taus, *ys]


def customer_columns(spec: Scenario) -> list[str]:
    """Columns of the simulated customer table, in order."""
    return ["customer_id", *spec.features, *truth_columns(spec)]


def experiment_columns(spec: Scenario) -> list[str]:
    """Columns of the simulated experiment table, in order."""
    return [
        "customer_id",
        *spec.features,
        "treatment",
        "propensity",
        *spec.outcomes,
        *spec.labels,
        *truth_columns(spec),
    ]


def check_seed(seed: int) -> int:
    """Refuse a seed that is not an integer in [0, 2⁶⁴)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise UserError(f"simulation seed must be an integer in [0, 2^64), got {seed!r}")
    return int(seed)


def check_rows(rows: int, what: str = "rows") -> int:
    """Refuse a row count that is not a positive integer."""
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows <= 0:
        raise UserError(f"simulation {what} must be a positive integer, got {rows!r}")
    return int(rows)


def check_assignment_probs(
    spec: Scenario, assignment_probs: Mapping[str, float] | None
) -> dict[str, float]:
    """The design probabilities of every arm: the scenario's default, or a checked override.

    An override must name every arm of the scenario (control included) and nothing else, give
    each a probability > 0, and sum to 1 (within 1e-9); otherwise UserError.
    """
    if assignment_probs is None:
        return dict(spec.assignment_probs)
    probs = {str(arm): float(p) for arm, p in assignment_probs.items()}
    expected = set(spec.all_arms)
    if set(probs) != expected:
        unknown = sorted(set(probs) - expected)
        missing = sorted(expected - set(probs))
        raise UserError(
            f"assignment probabilities of scenario '{spec.name}' must name each arm once: "
            f"unknown {unknown}, missing {missing}; the arms are {', '.join(spec.all_arms)}"
        )
    bad = [arm for arm, p in probs.items() if not p > 0]
    if bad:
        raise UserError(
            f"assignment probability of arm(s) {', '.join(bad)} is not > 0; give every arm of "
            f"scenario '{spec.name}' a positive probability (drop an arm by using another design)"
        )
    total = math.fsum(probs.values())
    if abs(total - 1.0) > 1e-9:
        raise UserError(
            f"assignment probabilities of scenario '{spec.name}' sum to {total:.6g}, not 1; "
            "rescale them"
        )
    return {arm: probs[arm] for arm in spec.all_arms}


def _truth(spec: Scenario, population: pd.DataFrame, draws: Draws) -> dict[str, np.ndarray]:
    """The latent, true_mu, true_tau (and potential outcome) columns of each row."""
    means: Means = spec.response.means(population)
    columns = {name: population[name].to_numpy() for name in spec.latent}
    columns.update(
        {
            mu_column(outcome, arm): means[outcome][arm]
            for outcome in spec.outcomes
            for arm in spec.all_arms
        }
    )
    for outcome in spec.outcomes:
        for arm in spec.arms:
            columns[tau_column(outcome, arm)] = means[outcome][arm] - means[outcome][spec.control]
    if spec.potential_outcomes:
        realized = {
            arm: spec.response.realize(population, np.full(len(population), arm, object), draws)
            for arm in spec.all_arms
        }
        for outcome in spec.outcomes:
            for arm in spec.all_arms:
                columns[potential_outcome_column(outcome, arm)] = realized[arm][outcome]
    return columns


def _population(spec: Scenario, ids: np.ndarray, draws: Draws) -> pd.DataFrame:
    """customer_id, the features and the latent columns of each customer."""
    population = spec.population(draws)
    population.insert(0, "customer_id", np.asarray(ids, dtype=np.int64))
    return population


def _frame(*parts: pd.DataFrame | dict[str, np.ndarray]) -> pd.DataFrame:
    """One DataFrame of the columns of ``parts``, in order (one copy, no block merging)."""
    columns: dict[str, np.ndarray] = {}
    for part in parts:
        columns.update(
            {name: part[name].to_numpy() for name in part.columns}
            if isinstance(part, pd.DataFrame)
            else part
        )
    return pd.DataFrame(columns)


def customer_block(spec: Scenario, ids: np.ndarray, seed: int) -> pd.DataFrame:
    """Rows of the customer table for ``ids``: customer_id, features and the truth columns.

    A row depends only on (id, seed): the same id gives the same features and truth in any block.
    """
    draws = Draws(ids, check_seed(seed))
    population = _population(spec, ids, draws)
    features = population[["customer_id", *spec.features]]
    return _frame(features, _truth(spec, population, draws))


def assign_arms(draws: Draws, probs: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Randomized assignment: arm k with probability probs[k], independently of x.

    Returns the arm names (object array) and each row's design probability (``propensity``).
    """
    arms = np.array(list(probs), dtype=object)
    p = np.array(list(probs.values()))
    edges = np.cumsum(p)[:-1]
    chosen = np.searchsorted(edges, draws.uniform("assignment"), side="right")
    return arms[chosen], p[chosen]


def simulate_block(
    spec: Scenario,
    ids: np.ndarray,
    seed: int,
    assignment_probs: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Rows of the randomized experiment for ``ids`` (columns: :func:`experiment_columns`).

    Each row: the features x (the scenario's ``population``), ``treatment`` drawn with
    ``assignment_probs`` (default: the scenario's design) and its probability as ``propensity``,
    the outcomes and labels realized under that arm (the scenario's ``response``), and the truth
    columns. A row depends only on (id, seed, assignment_probs), not on the block it is in.
    """
    probs = check_assignment_probs(spec, assignment_probs)
    draws = Draws(ids, check_seed(seed))
    population = _population(spec, ids, draws)
    treatment, propensity = assign_arms(draws, probs)
    realized = spec.response.realize(population, treatment, draws)
    design = {"treatment": treatment, "propensity": propensity}
    observed = {name: realized[name] for name in (*spec.outcomes, *spec.labels)}
    features = population[["customer_id", *spec.features]]
    return _frame(features, design, observed, _truth(spec, population, draws))


def true_values(spec: Scenario, rows: pd.DataFrame) -> pd.DataFrame:
    """The true expected net value of each arm against control, one column per arm.

    v_a(x) = margin·true_tau__{value_outcome}__a − reward_a·true_mu__{reward_outcome}__a
    − contact_cost_a (the reward term only where the arm pays one); ``rows`` holds the truth
    columns (a customer or experiment block). The oracle policy gives each row its arm of
    largest v_a if that is > 0, else nothing; its value is Σ max(0, max_a v_a).
    """
    values = {}
    for arm in spec.arms:
        cost = spec.costs[arm]
        value = (
            spec.margin * rows[tau_column(spec.value_outcome, arm)].to_numpy() - cost.contact_cost
        )
        if cost.reward:
            value = value - cost.reward * rows[mu_column(spec.reward_outcome, arm)].to_numpy()
        values[arm] = value
    return pd.DataFrame(values, index=rows.index)
