"""Small synthetic tables and a small fitted uplift model for the scoring and tracking tests.

Importable from every test directory (``tests/`` is on ``sys.path`` through its conftest).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from causal_targeting.learners.model import UpliftModel
from causal_targeting.learners.uplift import TLearner, UpliftLearner

ARMS = ["email", "sms"]
CONTROL = "none"
FEATURES = {"age": "numeric", "spend": "numeric", "region": "categorical"}
OUTCOMES = {"conversion": "binary", "revenue": "continuous"}
REGIONS = ["north", "south", "east", "west"]


def customer_frame(n: int, seed: int, unseen_level: str | None = None) -> pd.DataFrame:
    """Customers with NaNs in every feature; every 50th region is ``unseen_level`` if given."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, size=n).astype(float)
    age[rng.random(n) < 0.05] = np.nan
    spend = rng.gamma(2.0, 40.0, size=n)
    spend[rng.random(n) < 0.05] = np.nan
    region = rng.choice(REGIONS, size=n).astype(object)
    region[rng.random(n) < 0.05] = None
    if unseen_level is not None:
        region[::50] = unseen_level
    return pd.DataFrame(
        {"customer_id": np.arange(n, dtype=np.int64), "age": age, "spend": spend, "region": region}
    )


def experiment_frame(n: int, seed: int) -> pd.DataFrame:
    """A randomized experiment over ``customer_frame`` customers with two outcomes."""
    rng = np.random.default_rng(seed + 1)
    frame = customer_frame(n, seed)
    frame["treatment"] = rng.choice([CONTROL, *ARMS], size=n)
    young = (np.nan_to_num(frame["age"], nan=50.0) < 40).astype(float)
    north = (frame["region"] == "north").astype(float)
    lift = np.where(frame["treatment"] == "email", 0.15 * young, 0.0) + np.where(
        frame["treatment"] == "sms", 0.1 * north, 0.0
    )
    frame["conversion"] = (rng.random(n) < 0.1 + lift).astype(float)
    base = np.nan_to_num(frame["spend"], nan=80.0) / 10
    frame["revenue"] = frame["conversion"] * (base + rng.normal(0.0, 1.0, size=n))
    return frame


def fit_small_model(
    seed: int, n: int = 1_500, n_estimators: int = 20, learner: type[UpliftLearner] = TLearner
) -> UpliftModel:
    """Fit a learner (LightGBM, few trees) on a small experiment and return its artifact."""
    estimator = learner(n_estimators=n_estimators, seed=seed)
    estimator.fit(
        experiment_frame(n, seed),
        features=FEATURES,
        treatment="treatment",
        control=CONTROL,
        arms=ARMS,
        outcomes=OUTCOMES,
    )
    return estimator.model_
