"""A/B test design (sample size, power) and readout (effect of every arm against control).

The readout works on sufficient statistics (one row per arm and outcome: ``n``, ``mean``, ``var``)
so that the caller can compute them in one Spark ``groupBy`` and only a handful of numbers reach
the driver. The design uses the normal approximation of the same tests: Welch's t for a
continuous outcome, the pooled two-proportion z-test for a binary one. When the rows were
randomized in clusters (``data.cluster``), the readout takes each mean's cluster-robust variance
instead (:func:`cluster_mean_variance`, a ``mean_var`` column) and a normal interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

from causal_targeting.errors import DataContractError, refuse_missing_columns

OUTCOME_KINDS = ("binary", "continuous")
STATS_COLUMNS = ("arm", "outcome", "n", "mean", "var")
EFFECT_COLUMNS = [
    "arm",
    "outcome",
    "n",
    "mean",
    "control_n",
    "control_mean",
    "effect",
    "ci_low",
    "ci_high",
    "p_value",
    "rel_lift",
]
STATS_TABLE = "arm statistics"
DESIGN_TABLE = "test design"


def welch_difference(
    n1: np.ndarray,
    mean1: np.ndarray,
    var1: np.ndarray,
    n0: np.ndarray,
    mean0: np.ndarray,
    var0: np.ndarray,
    alpha: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch's confidence interval and two-sided p-value for ``mean1 - mean0``.

    With ``s^2 = var1/n1 + var0/n0`` and the Welch–Satterthwaite degrees of freedom

        df = s^4 / ((var1/n1)^2 / (n1 - 1) + (var0/n0)^2 / (n0 - 1)),

    the interval is ``d ± t_{1-alpha/2, df} s`` and the p-value is ``2 P(T_df > |d| / s)``,
    where ``d = mean1 - mean0``. Arrays broadcast; an arm with fewer than two rows or two arms
    with zero variance give NaN.

    Returns:
        ``(ci_low, ci_high, p_value)``, arrays of the broadcast shape.
    """
    n1, n0 = np.asarray(n1, dtype=float), np.asarray(n0, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        w1 = np.where(n1 >= 2, np.asarray(var1, dtype=float) / n1, np.nan)
        w0 = np.where(n0 >= 2, np.asarray(var0, dtype=float) / n0, np.nan)
        se = np.sqrt(w1 + w0)
        df = (w1 + w0) ** 2 / (w1**2 / (n1 - 1) + w0**2 / (n0 - 1))
        diff = np.asarray(mean1, dtype=float) - np.asarray(mean0, dtype=float)
        half = sps.t.ppf(1 - alpha / 2, df) * se
        p_value = 2 * sps.t.sf(np.abs(diff / se), df)
    return diff - half, diff + half, p_value


def wilson_interval(
    successes: np.ndarray, n: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a proportion ``p = successes / n``.

    With ``z = Phi^{-1}(1 - alpha/2)`` the bounds are the roots in ``P`` of
    ``|p - P| = z sqrt(P (1 - P) / n)``:

        (successes + z^2/2 ± z sqrt(successes (n - successes) / n + z^2/4)) / (n + z^2).

    Returns:
        ``(low, high)``, arrays of the broadcast shape.
    """
    x, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    z = sps.norm.ppf(1 - alpha / 2)
    centre = x + z**2 / 2
    half = z * np.sqrt(np.clip(x * (n - x) / n, 0.0, None) + z**2 / 4)
    return (centre - half) / (n + z**2), (centre + half) / (n + z**2)


def newcombe_difference(
    n1: np.ndarray, p1: np.ndarray, n0: np.ndarray, p0: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for a difference of proportions ``p1 - p0``.

    Method 10 of Newcombe (1998), *Statistics in Medicine* 17:873–890. With ``(l_i, u_i)`` the
    Wilson interval of ``p_i`` (:func:`wilson_interval`) and ``d = p1 - p0``:

        low  = d - sqrt((p1 - l1)^2 + (u0 - p0)^2)
        high = d + sqrt((u1 - p1)^2 + (p0 - l0)^2)

    Unlike the Wald interval it stays inside [-1, 1] and keeps its coverage near 0 and 1.

    Returns:
        ``(ci_low, ci_high)``, arrays of the broadcast shape.
    """
    p1, p0 = np.asarray(p1, dtype=float), np.asarray(p0, dtype=float)
    l1, u1 = wilson_interval(p1 * n1, n1, alpha)
    l0, u0 = wilson_interval(p0 * n0, n0, alpha)
    diff = p1 - p0
    low = diff - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = diff + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return low, high


def pooled_z_p_value(n1: np.ndarray, p1: np.ndarray, n0: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """Two-sided p-value of the pooled two-proportion z-test of ``p1 = p0``.

    With the pooled proportion ``q = (n1 p1 + n0 p0) / (n1 + n0)``,
    ``z = (p1 - p0) / sqrt(q (1 - q) (1/n1 + 1/n0))`` and ``p = 2 (1 - Phi(|z|))``. This equals the
    Pearson chi-square test of the 2x2 table without continuity correction (``z^2 = chi^2``).
    When both arms are all zeros or all ones the proportions are equal and the p-value is 1.
    """
    n1, n0 = np.asarray(n1, dtype=float), np.asarray(n0, dtype=float)
    p1, p0 = np.asarray(p1, dtype=float), np.asarray(p0, dtype=float)
    pooled = (n1 * p1 + n0 * p0) / (n1 + n0)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_value = 2 * sps.norm.sf(np.abs((p1 - p0) / se))
    return np.where(se > 0, p_value, 1.0)


CLUSTER_MOMENTS = ("arm", "outcome", "clusters", "rows", "sum", "sum_sq", "sum_by_rows", "rows_sq")
"""Per (arm, outcome), over the arm's G clusters c of n_c rows and outcome total Y_c: G, N =
sum n_c, sum Y_c, sum Y_c^2, sum Y_c n_c, sum n_c^2 (:func:`cluster_mean_variance`)."""


def cluster_mean_variance(moments: pd.DataFrame) -> pd.Series:
    """The cluster-robust variance of each arm's mean outcome, from :data:`CLUSTER_MOMENTS`.

    The mean is ``m = sum Y_c / N``; its variance, with the clusters independent and the rows of
    a cluster not (Liang & Zeger 1986, with the small-sample factor G/(G - 1)):

        V(m) = G / (G - 1) * sum_c (Y_c - m n_c)^2 / N^2
             = G / (G - 1) * (sum Y_c^2 - 2 m sum Y_c n_c + m^2 sum n_c^2) / N^2.

    One row per cluster gives the sample variance of the rows over N (the row readout's).
    NaN with fewer than two clusters.
    """
    g, n = moments["clusters"].to_numpy(float), moments["rows"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = moments["sum"].to_numpy(float) / n
        spread = (
            moments["sum_sq"].to_numpy(float)
            - 2 * m * moments["sum_by_rows"].to_numpy(float)
            + m**2 * moments["rows_sq"].to_numpy(float)
        )
        variance = np.where(g > 1, g / (g - 1) * np.maximum(spread, 0.0) / n**2, np.nan)
    return pd.Series(variance, index=moments.index, name="mean_var")


def cluster_moments(
    pdf: pd.DataFrame, *, arm_col: str, outcome_col: str, cluster_col: str
) -> pd.DataFrame:
    """:data:`CLUSTER_MOMENTS` of ``outcome_col`` in each arm of the rows ``pdf``, its clusters
    those of ``cluster_col`` (pandas; the Spark edge's twin is :func:`~causal_targeting.
    evaluation.distributed.cluster_variances_spark`)."""
    totals = pdf.groupby([arm_col, cluster_col], sort=True)[outcome_col].agg(["sum", "size"])
    totals = totals.assign(sum_sq=totals["sum"] ** 2, sum_by_rows=totals["sum"] * totals["size"])
    totals = totals.assign(rows_sq=totals["size"] ** 2)
    by_arm = totals.groupby(level=0).agg(
        clusters=("size", "count"),
        rows=("size", "sum"),
        sum=("sum", "sum"),
        sum_sq=("sum_sq", "sum"),
        sum_by_rows=("sum_by_rows", "sum"),
        rows_sq=("rows_sq", "sum"),
    )
    return by_arm.reset_index(names="arm").assign(outcome=outcome_col)[list(CLUSTER_MOMENTS)]


def normal_difference(
    mean1: np.ndarray, var1: np.ndarray, mean0: np.ndarray, var0: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normal interval ``d ± z_{1-alpha/2} s`` and two-sided p-value ``2 P(Z > |d| / s)`` of
    ``d = mean1 - mean0``, with ``s^2 = var1 + var0`` the variances of the two means."""
    d = np.asarray(mean1, dtype=float) - np.asarray(mean0, dtype=float)
    s = np.sqrt(np.asarray(var1, dtype=float) + np.asarray(var0, dtype=float))
    z = sps.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(s > 0, 2 * sps.norm.sf(np.abs(d) / s), np.nan)
    return d - z * s, d + z * s, p


def row_differences(
    rows: pd.DataFrame, base: pd.DataFrame, outcome_kinds: dict[str, str], alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ci_low, ci_high, p_value) of each arm's row in ``rows`` against the control's row of its
    outcome in ``base`` (indexed by outcome), the rows independent: Newcombe's interval and the
    pooled z-test for a binary outcome, Welch's for a continuous one."""
    n1, m1 = rows["n"].to_numpy(dtype=float), rows["mean"].to_numpy(dtype=float)
    n0 = rows["outcome"].map(base["n"]).to_numpy(dtype=float)
    m0 = rows["outcome"].map(base["mean"]).to_numpy(dtype=float)
    control_var = rows["outcome"].map(base["var"]).to_numpy()
    b = rows["outcome"].map(outcome_kinds).eq("binary").to_numpy()
    c = ~b
    ci_low, ci_high, p_value = np.full((3, len(rows)), np.nan)
    ci_low[b], ci_high[b] = newcombe_difference(n1[b], m1[b], n0[b], m0[b], alpha)
    p_value[b] = pooled_z_p_value(n1[b], m1[b], n0[b], m0[b])
    ci_low[c], ci_high[c], p_value[c] = welch_difference(
        n1[c], m1[c], rows["var"].to_numpy()[c], n0[c], m0[c], control_var[c], alpha
    )
    return ci_low, ci_high, p_value


def effects_vs_control(
    stats: pd.DataFrame,
    *,
    control: str,
    outcome_kinds: dict[str, str],
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Effect of every non-control arm against the control arm, per outcome.

    Args:
        stats: one row per (arm, outcome) with columns ``arm``, ``outcome``, ``n`` (rows),
            ``mean`` and ``var`` (sample variance, ddof=1; ignored for binary outcomes), and
            optionally ``mean_var``, the variance of the mean of rows randomized in clusters
            (:func:`cluster_mean_variance`).
        control: name of the control arm; it must have a row for every outcome.
        outcome_kinds: outcome name -> ``"binary"`` (0/1) or ``"continuous"``.
        alpha: the intervals have confidence ``1 - alpha``.

    Returns:
        One row per (non-control arm, outcome) with columns ``arm, outcome, n, mean, control_n,
        control_mean, effect, ci_low, ci_high, p_value, rel_lift``, where ``effect = mean -
        control_mean`` and ``rel_lift = effect / control_mean`` (NaN when ``control_mean == 0``).

        Continuous outcomes: Welch's t interval and p-value (:func:`welch_difference`).
        Binary outcomes: Newcombe's hybrid score interval (:func:`newcombe_difference`) and the
        pooled two-proportion z-test p-value (:func:`pooled_z_p_value`).
        With ``mean_var``, every outcome: the normal interval and p-value with those variances
        (:func:`normal_difference`).
        Quantities that are undefined (an arm with fewer than two rows for a continuous
        outcome, or fewer than two clusters) are NaN.

    Raises:
        DataContractError: missing columns, duplicate (arm, outcome) rows, an outcome without a
            known kind, a missing control row, negative ``n``/``var``, or a binary mean outside
            [0, 1].
    """
    stats = _checked_stats(stats, control=control, outcome_kinds=outcome_kinds, alpha=alpha)
    base = stats[stats["arm"] == control].set_index("outcome")
    rows = stats[stats["arm"] != control].reset_index(drop=True)
    out = rows[["arm", "outcome", "n", "mean"]].copy()
    out["control_n"] = rows["outcome"].map(base["n"]).to_numpy()
    out["control_mean"] = rows["outcome"].map(base["mean"]).to_numpy()
    out["effect"] = out["mean"] - out["control_mean"]
    m1, m0 = out["mean"].to_numpy(dtype=float), out["control_mean"].to_numpy(dtype=float)
    if "mean_var" in stats.columns:
        control_mean_var = rows["outcome"].map(base["mean_var"]).to_numpy()
        ci_low, ci_high, p_value = normal_difference(
            m1, rows["mean_var"].to_numpy(), m0, control_mean_var, alpha
        )
    else:
        ci_low, ci_high, p_value = row_differences(rows, base, outcome_kinds, alpha)
    out["ci_low"], out["ci_high"], out["p_value"] = ci_low, ci_high, p_value
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rel_lift"] = np.where(m0 != 0, (m1 - m0) / m0, np.nan)
    return out[EFFECT_COLUMNS]


def _checked_stats(
    stats: pd.DataFrame, *, control: str, outcome_kinds: dict[str, str], alpha: float
) -> pd.DataFrame:
    """``stats`` with numeric columns as float, after checking it against the readout contract."""
    if not 0 < alpha < 1:
        raise DataContractError(STATS_TABLE, f"alpha={alpha} is not in (0, 1)", "use e.g. 0.05")
    refuse_missing_columns(
        stats.columns, STATS_COLUMNS, STATS_TABLE, f"provide columns {list(STATS_COLUMNS)}"
    )
    robust = ["mean_var"] if "mean_var" in stats.columns else []
    stats = stats[[*STATS_COLUMNS, *robust]].astype(
        {"n": float, "mean": float, "var": float, **{name: float for name in robust}}
    )
    if stats.duplicated(["arm", "outcome"]).any():
        raise DataContractError(
            STATS_TABLE, "duplicate (arm, outcome) rows", "aggregate to one row per arm and outcome"
        )
    bad_kinds = {k: v for k, v in outcome_kinds.items() if v not in OUTCOME_KINDS}
    unknown = sorted(set(stats["outcome"]) - set(outcome_kinds))
    if bad_kinds or unknown:
        raise DataContractError(
            STATS_TABLE,
            f"outcomes without a kind {unknown} or with an unknown kind {bad_kinds}",
            f"give every outcome a kind in {OUTCOME_KINDS}",
            column="outcome",
        )
    present = set(stats.loc[stats["arm"] == control, "outcome"])
    absent = sorted(set(stats["outcome"]) - present)
    if absent:
        raise DataContractError(
            STATS_TABLE,
            f"control arm '{control}' has no row for outcomes {absent}",
            "check the control arm name and that the control group is in the table",
            column="arm",
        )
    if (stats["n"] <= 0).any() or (stats["var"] < 0).any():
        raise DataContractError(
            STATS_TABLE, "n <= 0 or var < 0 in some rows", "pass row counts and sample variances"
        )
    binary = stats["outcome"].map(outcome_kinds).eq("binary")
    if (binary & ~stats["mean"].between(0, 1)).any():
        raise DataContractError(
            STATS_TABLE,
            "a binary outcome has a mean outside [0, 1]",
            "code binary outcomes as 0.0/1.0 or declare the outcome continuous",
            column="mean",
        )
    return stats


def power(
    n_control: float,
    baseline: float,
    lift: float,
    kind: str,
    *,
    alpha: float = 0.05,
    ratio: float = 1.0,
    sd: float | None = None,
) -> float:
    """Power of the two-sided test of ``lift`` with ``n_control`` and ``ratio * n_control`` rows.

    With ``d = lift``, ``n_t = ratio n_c``, ``z = Phi^{-1}(1 - alpha/2)``, standard errors
    ``s0`` under the null and ``s1`` under the alternative,

        power = Phi(-z s0/s1 + d/s1) + Phi(-z s0/s1 - d/s1).

    Continuous: ``s0 = s1 = sd sqrt(1/n_t + 1/n_c)``. Binary, with ``p0 = baseline``,
    ``p1 = p0 + d`` and the pooled ``q = (n_t p1 + n_c p0) / (n_t + n_c)``:
    ``s0 = sqrt(q (1 - q) (1/n_t + 1/n_c))``, ``s1 = sqrt(p1 (1 - p1)/n_t + p0 (1 - p0)/n_c)``.
    This is statsmodels' ``power_proportions_2indep`` / ``NormalIndPower`` (both tails).
    """
    _check_design(baseline, lift, kind, alpha=alpha, ratio=ratio, sd=sd)
    return _design_power(n_control, baseline, lift, kind, alpha=alpha, ratio=ratio, sd=sd)


def sample_size(
    baseline: float,
    lift: float,
    kind: str,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    sd: float | None = None,
) -> dict[str, float | str]:
    """Rows per arm for a two-sided test of ``lift`` (absolute) with the given power.

    Args:
        baseline: control mean (a proportion in (0, 1) for ``kind="binary"``).
        lift: the smallest effect worth detecting, ``treatment mean - control mean``.
        kind: ``"binary"`` or ``"continuous"``.
        alpha: two-sided significance level.
        power: wanted probability of rejecting when the effect is ``lift``.
        ratio: split ratio, treatment rows per control row (e.g. 4 for an 80/20 split).
        sd: outcome standard deviation, required for continuous outcomes.

    Returns:
        ``n_control``, ``n_treatment`` (rounded up), ``n_total``, ``treatment_share`` and the
        ``power`` they achieve, with the inputs. ``n_control`` is the real root of
        :func:`power` = ``power`` (Brent's method; power grows with n), rounded up, and at
        least 2.
    """
    _check_design(baseline, lift, kind, alpha=alpha, ratio=ratio, sd=sd)
    if not 0 < power < 1 or power <= alpha:
        raise DataContractError(DESIGN_TABLE, f"power={power}", "use a power in (alpha, 1)")

    def shortfall(n: float) -> float:
        return _design_power(n, baseline, lift, kind, alpha=alpha, ratio=ratio, sd=sd) - power

    low = high = 2.0  # at least two rows per arm
    while shortfall(high) < 0:
        low, high = high, 2 * high
    root = high if high == low else optimize.brentq(shortfall, low, high, xtol=1e-9)
    n_control = float(np.ceil(root - 1e-9))
    n_treatment = float(np.ceil(ratio * n_control - 1e-9))
    achieved = _design_power(
        n_control, baseline, lift, kind, alpha=alpha, ratio=n_treatment / n_control, sd=sd
    )
    return {
        "kind": kind,
        "baseline": baseline,
        "lift": lift,
        "sd": float("nan") if sd is None else sd,
        "alpha": alpha,
        "ratio": ratio,
        "n_control": n_control,
        "n_treatment": n_treatment,
        "n_total": n_control + n_treatment,
        "treatment_share": n_treatment / (n_control + n_treatment),
        "power": achieved,
    }


def readout(
    pdf: pd.DataFrame,
    *,
    arm_col: str,
    outcome_col: str,
    kind: str,
    control: str,
    alpha: float = 0.05,
    cluster_col: str | None = None,
) -> pd.DataFrame:
    """Readout of a finished test table (one row per unit): :func:`effects_vs_control`.

    Computes ``n``, ``mean`` and ``var`` (ddof=1) of ``outcome_col`` per arm, then the lift, CI
    and p-value of every arm against ``control``; with ``cluster_col`` (the unit randomized,
    e.g. a household), each mean's cluster-robust variance too (:func:`cluster_moments`,
    :func:`cluster_mean_variance`), and the normal intervals it gives.
    """
    columns = [arm_col, outcome_col, *([cluster_col] if cluster_col else [])]
    for col in columns:
        if col not in pdf.columns:
            raise DataContractError("test table", "missing column", f"add '{col}'", column=col)
    nulls = {outcome_col: ("null outcomes", "drop or fill rows without an outcome")}
    if cluster_col is not None:
        nulls[cluster_col] = ("null clusters", "drop rows without a cluster, or give them one")
    for col, (problem, fix) in nulls.items():
        if pdf[col].isna().any():
            raise DataContractError("test table", problem, fix, col)
    grouped = pdf.groupby(arm_col, sort=True)[outcome_col].agg(["count", "mean", "var"])
    stats = grouped.rename(columns={"count": "n"}).reset_index(names="arm")
    stats.insert(1, "outcome", outcome_col)
    if cluster_col is not None:
        moments = cluster_moments(
            pdf, arm_col=arm_col, outcome_col=outcome_col, cluster_col=cluster_col
        )
        stats["mean_var"] = cluster_mean_variance(moments).to_numpy()
    return effects_vs_control(
        stats, control=control, outcome_kinds={outcome_col: kind}, alpha=alpha
    )


def _design_power(
    n_control: float,
    baseline: float,
    lift: float,
    kind: str,
    *,
    alpha: float,
    ratio: float,
    sd: float | None,
) -> float:
    """:func:`power` without input checks."""
    n_c, n_t = n_control, ratio * n_control
    if kind == "binary":
        p0, p1 = baseline, baseline + lift
        pooled = (n_t * p1 + n_c * p0) / (n_t + n_c)
        s0 = np.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
        s1 = np.sqrt(p1 * (1 - p1) / n_t + p0 * (1 - p0) / n_c)
    else:
        s0 = s1 = float(sd) * np.sqrt(1 / n_t + 1 / n_c)
    z = sps.norm.isf(alpha / 2)
    return float(sps.norm.cdf(-z * s0 / s1 + lift / s1) + sps.norm.cdf(-z * s0 / s1 - lift / s1))


def _check_design(
    baseline: float, lift: float, kind: str, *, alpha: float, ratio: float, sd: float | None
) -> None:
    """Refuse design inputs for which the test or its approximation is undefined."""
    if kind not in OUTCOME_KINDS:
        raise DataContractError(DESIGN_TABLE, f"kind '{kind}'", f"use one of {OUTCOME_KINDS}")
    if lift == 0 or not 0 < alpha < 1 or ratio <= 0:
        raise DataContractError(
            DESIGN_TABLE,
            f"lift={lift}, alpha={alpha}, ratio={ratio}",
            "use a non-zero lift, alpha in (0, 1) and a positive split ratio",
        )
    if kind == "binary" and not (0 < baseline < 1 and 0 < baseline + lift < 1):
        raise DataContractError(
            DESIGN_TABLE,
            f"baseline={baseline} and baseline + lift={baseline + lift} must be in (0, 1)",
            "give the control conversion rate and an absolute lift in rate points",
        )
    if kind == "continuous" and (sd is None or not sd > 0):
        raise DataContractError(
            DESIGN_TABLE, f"sd={sd}", "give the outcome's standard deviation (> 0)"
        )
