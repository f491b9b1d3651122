"""Balance of the features across arms: a randomized experiment's arms differ by chance only.

A feature recorded after the offer (an exposure flag, a visit count of the campaign's weeks)
differs between the arms because of the offer, and a model given it learns the arm from it: its
"effects" are then the feature's own difference, not the offer's. Randomization makes the arms
alike on every feature measured before it, so a difference far beyond chance marks such a
feature (or a design that assigned the arms by the feature: then its probabilities belong in
``data.propensity``).

For each numeric feature x and offer arm a against control c, on the rows where x is not missing,

    d = (mean_a − mean_c) / sqrt((var_a + var_c) / 2)          (standardized difference)
    z = (mean_a − mean_c) / sqrt(var_a / n_a + var_c / n_c),

and, for its missing values, the difference of the shares missing with its two-proportion z.
A pair is flagged when |z| exceeds the normal quantile of :data:`FAMILY_LEVEL` over all the
pairs tested (Bonferroni: chance flags one pair of a randomized table at most that often) and
the difference is large enough to matter (|d| or the share's difference above
:data:`MIN_DIFFERENCE`), so that a huge experiment's tiny real imbalances pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

FAMILY_LEVEL = 1e-6
"""Chance of flagging any feature of a randomized experiment (Bonferroni over the pairs)."""

MIN_DIFFERENCE = 0.1
"""Smallest standardized difference (or difference of missing shares) flagged: the usual
threshold of imbalance in matched and randomized studies."""


def standardized_differences(
    stats: pd.DataFrame, features: list[str], control: str, arms: list[str]
) -> pd.DataFrame:
    """One row per (feature, arm, what): ``what`` 'mean' (d and z of the means) or 'missing'
    (the shares missing and their z). ``stats`` is indexed by arm with ``n``, and per feature
    ``mean__f``, ``var__f`` and ``count__f`` (the rows where it is not missing)."""
    rows = []
    c = stats.loc[control]
    for arm in arms:
        a = stats.loc[arm]
        for f in features:
            n_a, n_c = float(a[f"count__{f}"]), float(c[f"count__{f}"])
            if n_a > 1 and n_c > 1:
                gap = float(a[f"mean__{f}"]) - float(c[f"mean__{f}"])
                var_a, var_c = float(a[f"var__{f}"]), float(c[f"var__{f}"])
                pooled, se = np.sqrt((var_a + var_c) / 2), np.sqrt(var_a / n_a + var_c / n_c)
                rows.append(
                    {"feature": f, "arm": arm, "what": "mean", "arm_value": a[f"mean__{f}"],
                     "control_value": c[f"mean__{f}"], "difference": _ratio(gap, pooled),
                     "z": _ratio(gap, se)}
                )  # fmt: skip
            rows_a, rows_c = float(a["n"]), float(c["n"])
            share_a, share_c = 1 - n_a / rows_a, 1 - n_c / rows_c
            both = (rows_a - n_a + rows_c - n_c) / (rows_a + rows_c)
            se = np.sqrt(both * (1 - both) * (1 / rows_a + 1 / rows_c))
            rows.append(
                {"feature": f, "arm": arm, "what": "missing", "arm_value": share_a,
                 "control_value": share_c, "difference": share_a - share_c,
                 "z": _ratio(share_a - share_c, se)}
            )  # fmt: skip
    return pd.DataFrame(
        rows, columns=["feature", "arm", "what", "arm_value", "control_value", "difference", "z"]
    )


def _ratio(top: float, bottom: float) -> float:
    """top / bottom; 0 for 0 / 0, ±inf for a difference over no spread."""
    if bottom > 0:
        return top / bottom
    return 0.0 if top == 0 else float(np.sign(top) * np.inf)


def imbalanced_features(
    stats: pd.DataFrame, features: list[str], control: str, arms: list[str]
) -> pd.DataFrame:
    """The rows of :func:`standardized_differences` beyond chance and large enough to matter
    (module docstring), largest |z| first."""
    pairs = standardized_differences(stats, features, control, arms)
    if pairs.empty:
        return pairs
    critical = norm.isf(FAMILY_LEVEL / (2 * len(pairs)))
    flagged = pairs[(pairs["z"].abs() > critical) & (pairs["difference"].abs() > MIN_DIFFERENCE)]
    return flagged.sort_values("z", key=lambda z: -z.abs()).reset_index(drop=True)


SHOWN = 5
"""Flagged features given a line each; the others are counted in one more line."""


def imbalance_lines(flagged: pd.DataFrame) -> list[str]:
    """One warning line per flagged feature (its largest difference, at most :data:`SHOWN`
    features), saying what it may mean and what to do."""
    if flagged.empty:
        return []
    lines = []
    for feature, rows in list(flagged.groupby("feature", sort=False))[:SHOWN]:
        row = rows.iloc[0]
        if row["what"] == "mean":
            seen = (
                f"mean {row['arm_value']:.4g} in arm '{row['arm']}' against "
                f"{row['control_value']:.4g} in control (standardized difference "
                f"{row['difference']:+.2f})"
            )
        else:
            seen = (
                f"missing in {row['arm_value']:.1%} of arm '{row['arm']}' rows against "
                f"{row['control_value']:.1%} of control rows"
            )
        lines.append(
            f"feature '{feature}' differs between the arms far beyond chance: {seen}. Recorded "
            "after the offer, it leaks the arm into the effects: remove it from data.features; "
            "if the design gave the arms by it, give each row's design probability in "
            "data.propensity"
        )
    features = flagged["feature"].nunique()
    if features > SHOWN:
        lines.append(
            f"and {features - SHOWN} more feature(s) alike: ingest/report.json, imbalanced_features"
        )
    return lines
