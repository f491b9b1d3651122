"""Ground-truth simulator: a randomized experiment and a customer base with known effects.

One module per scenario (a scenario is its response model, arms, costs and design), each a
:class:`ScenarioRecipe` in the registry (:data:`RECIPES`; built with default parameters in
:data:`SCENARIOS`). The numpy/pandas core (:func:`simulate_block`, :func:`customer_block`) turns
customer ids and a seed into rows; the Spark edge (:func:`simulate`, :func:`write_simulation`)
only spreads ``spark.range`` ids over partitions and calls the core in ``mapInPandas``.

Modules, from the bottom up: ``draws`` (counter-based random numbers), ``population`` (customer
features), ``spec`` (what a scenario is), one module per scenario, ``registry``, ``generator``
(ids and a seed -> rows with their truth), ``writer`` (Spark).
"""

from causal_targeting.data.simulate.draws import Draws
from causal_targeting.data.simulate.generator import (
    CUSTOMER_ID_OFFSET,
    assign_arms,
    check_assignment_probs,
    check_rows,
    check_seed,
    customer_block,
    customer_columns,
    experiment_columns,
    mu_column,
    potential_outcome_column,
    simulate_block,
    tau_column,
    true_values,
    truth_columns,
)
from causal_targeting.data.simulate.population import FEATURES, customer_features
from causal_targeting.data.simulate.registry import RECIPES, SCENARIOS, scenario
from causal_targeting.data.simulate.retention import RetentionResponse
from causal_targeting.data.simulate.rewards import REWARD_VALUES, RewardsResponse
from causal_targeting.data.simulate.spec import (
    ArmCost,
    Parameter,
    Response,
    Scenario,
    ScenarioRecipe,
    check_params,
)
from causal_targeting.data.simulate.spend_threshold import (
    REWARD_SHARE,
    THRESHOLDS,
    SpendThresholdResponse,
)
from causal_targeting.data.simulate.writer import (
    ROWS_PER_PARTITION,
    default_partitions,
    planted_summary,
    simulate,
    spark_schema,
    write_simulation,
)

__all__ = [
    "CUSTOMER_ID_OFFSET",
    "FEATURES",
    "RECIPES",
    "REWARD_SHARE",
    "REWARD_VALUES",
    "ROWS_PER_PARTITION",
    "SCENARIOS",
    "THRESHOLDS",
    "ArmCost",
    "Draws",
    "Parameter",
    "Response",
    "RetentionResponse",
    "RewardsResponse",
    "Scenario",
    "ScenarioRecipe",
    "SpendThresholdResponse",
    "assign_arms",
    "check_assignment_probs",
    "check_params",
    "check_rows",
    "check_seed",
    "customer_block",
    "customer_columns",
    "customer_features",
    "default_partitions",
    "experiment_columns",
    "mu_column",
    "planted_summary",
    "potential_outcome_column",
    "scenario",
    "simulate",
    "simulate_block",
    "spark_schema",
    "tau_column",
    "true_values",
    "truth_columns",
    "write_simulation",
]
