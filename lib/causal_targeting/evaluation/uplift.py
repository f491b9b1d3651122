"""Uplift and Qini curves, AUUC and the Qini coefficient, exact or from score buckets.

Conventions are those of scikit-uplift (``sklift.metrics``). Rows are sorted by score, highest
first; rows with equal scores enter together, so the curve has one point per distinct score (or
per score bucket). At a point with ``N_t``, ``N_c`` treated and control rows above it, whose
outcomes sum to ``Y_t``, ``Y_c``:

    uplift curve  U = (Y_t / N_t - Y_c / N_c) (N_t + N_c)      (a term is 0 when its N is 0)
    Qini curve    Q = Y_t - Y_c N_t / N_c                        (0 when N_c is 0)

Both curves start at (0, 0); with row weights every count is a sum of weights. Areas are
trapezoidal (``sklearn.metrics.auc``). The random line joins (0, 0) to the curve's last point.

    normalized:    (area(curve) - area(random)) / (area(perfect) - area(random))
    unnormalized:  (area(curve) - area(random)) / N^2

The normalized scores equal ``sklift.metrics.uplift_auc_score`` and ``qini_auc_score``
(``negative_effect=True``) and need a binary outcome, because the perfect curve orders rows by
their (outcome, treatment) class. The unnormalized score is the mean, over targeting depths, of
the curve's height above random per customer of the base, in outcome units; it is defined for
continuous outcomes too.

Every computation goes through per-bucket sums (:func:`bucket_stats`): the exact curve uses one
bucket per distinct score, and a Spark job uses score-quantile buckets computed with one
``groupBy`` (see :mod:`causal_targeting.evaluation.distributed`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import auc

from causal_targeting.errors import DataContractError

BUCKET_COLUMNS = ["n_t", "n_c", "sum_y_t", "sum_y_c"]
CURVES = ("uplift", "qini")
HOLDOUT_TABLE = "holdout"
NORMALIZED_UNDEFINED = "n/a"
"""How a table shows a normalized score that is NaN: the outcome is continuous, or the perfect
curve does not rise above random (as on rows where no one responded); the tables' titles and
text say that these scores are for binary outcomes."""


def bucket_stats(
    bucket: np.ndarray,
    y: np.ndarray,
    treated: np.ndarray,
    weight: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-bucket weighted counts and outcome sums, highest bucket first.

    Args:
        bucket: shape (n,), orderable bucket key per row; a higher key means a higher score
            (pass the score itself for the exact curve).
        y: shape (n,), outcome.
        treated: shape (n,), 1/True for the treated arm, 0/False for control.
        weight: shape (n,), positive row weights; ``None`` means 1.

    Returns:
        Frame indexed by bucket (descending) with columns ``n_t``, ``n_c`` (sums of weights of
        treated and control rows) and ``sum_y_t``, ``sum_y_c`` (weighted outcome sums).
    """
    y, t, w = _checked_rows(bucket, y, treated, weight)
    frame = pd.DataFrame(
        {
            "bucket": np.asarray(bucket),
            "n_t": w * t,
            "n_c": w * (1 - t),
            "sum_y_t": w * t * y,
            "sum_y_c": w * (1 - t) * y,
        }
    )
    return frame.groupby("bucket", sort=True).sum().iloc[::-1]


def curves_from_buckets(stats: pd.DataFrame) -> pd.DataFrame:
    """Uplift and Qini curves at the bucket boundaries of ``stats`` (highest bucket first).

    Returns:
        Frame with columns ``n`` (rows targeted, cumulative weight), ``uplift`` and ``qini``;
        the first row is (0, 0, 0), then one row per bucket. Formulas in the module docstring.
    """
    cum = stats[BUCKET_COLUMNS].to_numpy(dtype=float).cumsum(axis=0)
    n_t, n_c, y_t, y_c = (np.r_[0.0, cum[:, j]] for j in range(4))
    mean_t = np.divide(y_t, n_t, out=np.zeros_like(y_t), where=n_t != 0)
    mean_c = np.divide(y_c, n_c, out=np.zeros_like(y_c), where=n_c != 0)
    ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    return pd.DataFrame(
        {"n": n_t + n_c, "uplift": (mean_t - mean_c) * (n_t + n_c), "qini": y_t - y_c * ratio}
    )


def perfect_buckets(totals: pd.Series, curve: str) -> pd.DataFrame:
    """Buckets of the perfect ordering of a binary-outcome sample, as in scikit-uplift.

    ``totals`` holds the sample's ``n_t, n_c, sum_y_t, sum_y_c``; the classes are treated
    responders (TR), treated non-responders (TN), control responders (CR) and control
    non-responders (CN). Qini (``negative_effect=True``): TR, then TN and CN together, then CR.
    Uplift: TR, CN, then CR before TN if there are more control responders than treated
    non-responders, else TN before CR.
    """
    tr, cr = totals["sum_y_t"], totals["sum_y_c"]
    tn, cn = totals["n_t"] - tr, totals["n_c"] - cr
    rows = {"TR": [tr, 0, tr, 0], "TN": [tn, 0, 0, 0], "CR": [0, cr, 0, cr], "CN": [0, cn, 0, 0]}
    if curve == "qini":
        order = [rows["TR"], list(np.add(rows["TN"], rows["CN"])), rows["CR"]]
    else:
        tail = ["CR", "TN"] if cr > tn else ["TN", "CR"]
        order = [rows["TR"], rows["CN"]] + [rows[k] for k in tail]
    return pd.DataFrame(order, columns=BUCKET_COLUMNS, dtype=float)


def area_score(stats: pd.DataFrame, curve: str, *, normalized: bool) -> float:
    """AUUC (``curve="uplift"``) or Qini coefficient (``curve="qini"``) from bucket sums.

    Normalized or unnormalized as in the module docstring; ``normalized=True`` assumes a binary
    outcome. NaN when the perfect curve does not rise above random.
    """
    gain = _gain_over_random(curves_from_buckets(stats), curve)
    if not normalized:
        return gain / float(stats[["n_t", "n_c"]].to_numpy().sum()) ** 2
    best = _gain_over_random(curves_from_buckets(perfect_buckets(stats.sum(), curve)), curve)
    return gain / best if best > 0 else float("nan")


def metrics_from_buckets(stats: pd.DataFrame, *, binary: bool) -> dict[str, float]:
    """``auuc``, ``qini`` (normalized; NaN unless ``binary``) and their unnormalized values."""
    return {
        "auuc": area_score(stats, "uplift", normalized=True) if binary else float("nan"),
        "qini": area_score(stats, "qini", normalized=True) if binary else float("nan"),
        "auuc_unnormalized": area_score(stats, "uplift", normalized=False),
        "qini_unnormalized": area_score(stats, "qini", normalized=False),
    }


def uplift_curve(
    score: np.ndarray, y: np.ndarray, treated: np.ndarray, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact uplift curve ``(n, U)``, one point per distinct score; equals ``sklift``'s."""
    curves = curves_from_buckets(bucket_stats(score, y, treated, weight))
    return curves["n"].to_numpy(), curves["uplift"].to_numpy()


def qini_curve(
    score: np.ndarray, y: np.ndarray, treated: np.ndarray, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact Qini curve ``(n, Q)``, one point per distinct score; equals ``sklift``'s."""
    curves = curves_from_buckets(bucket_stats(score, y, treated, weight))
    return curves["n"].to_numpy(), curves["qini"].to_numpy()


def auuc(
    score: np.ndarray,
    y: np.ndarray,
    treated: np.ndarray,
    weight: np.ndarray | None = None,
    *,
    normalized: bool = True,
) -> float:
    """Area under the uplift curve; normalized it equals ``sklift.metrics.uplift_auc_score``."""
    if normalized:
        _require_binary(y)
    return area_score(bucket_stats(score, y, treated, weight), "uplift", normalized=normalized)


def qini_coefficient(
    score: np.ndarray,
    y: np.ndarray,
    treated: np.ndarray,
    weight: np.ndarray | None = None,
    *,
    normalized: bool = True,
) -> float:
    """Qini coefficient; normalized it equals ``sklift.metrics.qini_auc_score``."""
    if normalized:
        _require_binary(y)
    return area_score(bucket_stats(score, y, treated, weight), "qini", normalized=normalized)


def _gain_over_random(curves: pd.DataFrame, curve: str) -> float:
    """Trapezoidal area between ``curves[curve]`` and the line from (0, 0) to its last point."""
    x, values = curves["n"].to_numpy(), curves[curve].to_numpy()
    return float(auc(x, values) - 0.5 * x[-1] * values[-1])


def _checked_rows(
    bucket: np.ndarray, y: np.ndarray, treated: np.ndarray, weight: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y, treated, weight)`` as float arrays after checking lengths and values."""
    y = np.asarray(y, dtype=float)
    t = np.asarray(treated, dtype=float)
    w = np.ones_like(y) if weight is None else np.asarray(weight, dtype=float)
    if not len(np.asarray(bucket)) == len(y) == len(t) == len(w) > 0:
        raise DataContractError(
            HOLDOUT_TABLE,
            "score, outcome, treatment and weight differ in length or are empty",
            "pass one value per holdout row",
        )
    if not np.isin(t, (0.0, 1.0)).all():
        raise DataContractError(
            HOLDOUT_TABLE,
            "treatment indicator is not 0/1",
            "pass treated == arm as booleans",
            column="treatment",
        )
    if np.isnan(y).any() or pd.isna(np.asarray(bucket)).any():
        raise DataContractError(
            HOLDOUT_TABLE, "missing outcome or score values", "drop or impute rows with nulls"
        )
    if not (w > 0).all():
        raise DataContractError(
            HOLDOUT_TABLE, "weights must be > 0", "drop rows with zero weight", column="weight"
        )
    return y, t, w


def _require_binary(y: np.ndarray) -> None:
    """Refuse a non-binary outcome where the normalized score needs the perfect curve."""
    if not np.isin(np.asarray(y, dtype=float), (0.0, 1.0)).all():
        raise DataContractError(
            HOLDOUT_TABLE,
            "the normalized AUUC/Qini needs a binary (0/1) outcome",
            "pass normalized=False for a continuous outcome",
            column="outcome",
        )
