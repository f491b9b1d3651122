"""Shared by the simulator's tests: large blocks generated once per test run, and the ATE check."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from causal_targeting.data.simulate import scenario, simulate_block, tau_column

LARGE = 200_000


@cache
def large(name: str) -> pd.DataFrame:
    """200k experiment rows of scenario ``name`` (seed 11), generated once per test run.

    Callers must not modify the frame (copy it first).
    """
    return simulate_block(scenario(name), np.arange(LARGE), 11)


def ate_z_scores(spec_name: str, rows: pd.DataFrame) -> list[float]:
    """|difference of arm means − mean true_tau| / its standard error, for every arm and outcome."""
    spec = scenario(spec_name)
    control = rows[rows["treatment"] == spec.control]
    scores = []
    for outcome in spec.outcomes:
        for arm in spec.arms:
            treated = rows[rows["treatment"] == arm]
            difference = treated[outcome].mean() - control[outcome].mean()
            error = np.sqrt(
                treated[outcome].var() / len(treated) + control[outcome].var() / len(control)
            )
            scores.append(abs(difference - rows[tau_column(outcome, arm)].mean()) / error)
    return scores
