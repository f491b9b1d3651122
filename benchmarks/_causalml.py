"""causalml 0.18's X- and T-learners as the benchmarks' outside reference (the ``bench`` extra).

Both meta-learners are fit with one regularized LightGBM regressor (:data:`LGBM`: 200 trees,
15 leaves, at least 100 rows a leaf, seeded; a binary outcome is regressed on 0/1) for every
outcome of the config. For arm a against control c and outcome o they estimate

    T:  tau_a(x) = mu_a(x) − mu_c(x), each mu fit on its arm's rows;
    X:  tau_a(x) = p_a(x) tau_c,a(x) + (1 − p_a(x)) tau_t,a(x), the two imputed-effect models
        of Künzel et al. (2019), with p_a the arm's share among the rows of a and c.

Their scores follow the score contract (``tau__{o}__{a}``, ``mu__{o}__{arm}``), so the project's
value model prices them exactly as it prices ours.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from causal_targeting.config import Config
from causal_targeting.learners.features import FeatureSpec

LGBM = {"n_estimators": 200, "num_leaves": 15, "min_child_samples": 100, "verbose": -1}
LEARNERS = ("causalml X", "causalml T")


def causalml_scores(
    cfg: Config, fit: pd.DataFrame, judged: pd.DataFrame, seed: int
) -> dict[str, pd.DataFrame]:
    """Scores of the ``judged`` rows by causalml's X- and T-learners fit on the ``fit`` rows.

    Returns one frame per name of :data:`LEARNERS`, indexed like ``judged``, with
    ``tau__{o}__{a}`` for every outcome o of ``cfg.data.outcomes`` and arm a of
    ``cfg.data.arms``, and ``mu__{o}__{arm}`` for the arms and the control. The predicted
    outcomes are the T-learner's per-arm models for both learners: the X-learner's first stage
    fits the same learner on the same rows, so its outcome models are the same.
    """
    from causalml.inference.meta import BaseTRegressor, BaseXRegressor
    from lightgbm import LGBMRegressor

    features = FeatureSpec.from_frame(fit, dict(cfg.data.features))
    x_fit, x_judged = features.array(fit), features.array(judged)
    treatment = fit[cfg.data.treatment].astype(str).str.strip().to_numpy()
    control, arms = cfg.data.control, list(cfg.data.arms)
    share = pd.Series(treatment).value_counts(normalize=True)

    def pair(n: int) -> dict[str, np.ndarray]:
        return {a: np.full(n, share[a] / (share[a] + share[control])) for a in arms}

    learner = LGBMRegressor(**LGBM, random_state=seed, n_jobs=1)
    columns: dict[str, dict[str, np.ndarray]] = {name: {} for name in LEARNERS}
    for outcome in cfg.data.outcomes:
        y = fit[outcome].to_numpy(dtype=float)
        t_model = BaseTRegressor(learner, control_name=control)
        t_model.fit(x_fit, treatment=treatment, y=y)
        x_model = BaseXRegressor(learner, control_name=control)
        x_model.fit(x_fit, treatment=treatment, y=y, p=pair(len(y)))
        t_tau, mu_control, mu_arms = t_model.predict(x_judged, return_components=True)
        x_tau = x_model.predict(x_judged, p=pair(len(x_judged)), verbose=False)
        groups = [str(g) for g in t_model.t_groups]
        mu = {control: mu_control[t_model.t_groups[0]]}
        mu |= {str(g): mu_arms[g] for g in t_model.t_groups}
        for name, tau in (("causalml X", x_tau), ("causalml T", t_tau)):
            columns[name] |= {f"tau__{outcome}__{g}": tau[:, j] for j, g in enumerate(groups)}
            columns[name] |= {f"mu__{outcome}__{arm}": mu[arm] for arm in [control, *arms]}
    return {name: pd.DataFrame(cols, index=judged.index) for name, cols in columns.items()}
