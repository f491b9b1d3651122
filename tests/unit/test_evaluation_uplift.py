"""Uplift/Qini curves and scores against scikit-uplift on shared inputs.

Tolerance: exact curves and scores agree with sklift to 1e-9 (relative; the two differ only in
floating-point summation order). With 100 score-quantile buckets the normalized AUUC and Qini
agree with the exact ones to 1e-3 absolute on 20,000 rows (observed: 1e-4 to 2e-4 on scores
around 0.02), and the bucket curve equals the exact curve at every bucket boundary (1e-9).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklift import metrics as sk

from causal_targeting.errors import DataContractError
from causal_targeting.evaluation.uplift import (
    auuc,
    bucket_stats,
    curves_from_buckets,
    metrics_from_buckets,
    qini_coefficient,
    qini_curve,
    uplift_curve,
)

EXACT = 1e-9


def _sample(n: int, seed: int, ties: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    treated = rng.random(n) < 0.4
    y = (rng.random(n) < 0.1 + 0.05 * treated * (x > 0) - 0.03 * treated * (x < -1)).astype(float)
    score = np.round(x + rng.normal(scale=1.0, size=n), 1 if ties else 12)
    return score, y, treated.astype(int)


@pytest.mark.parametrize(("n", "seed", "ties"), [(500, 1, False), (3000, 2, True), (40, 3, True)])
def test_curves_and_scores_equal_sklift(n: int, seed: int, ties: bool) -> None:
    score, y, t = _sample(n, seed, ties)
    for ours, theirs in ((uplift_curve, sk.uplift_curve), (qini_curve, sk.qini_curve)):
        x, v = ours(score, y, t)
        x_ref, v_ref = theirs(y, score, t)
        np.testing.assert_array_equal(x, x_ref)
        np.testing.assert_allclose(v, v_ref, rtol=EXACT, atol=EXACT)
    assert auuc(score, y, t) == pytest.approx(sk.uplift_auc_score(y, score, t), rel=EXACT)
    assert qini_coefficient(score, y, t) == pytest.approx(sk.qini_auc_score(y, score, t), rel=EXACT)


def test_perfect_uplift_branch_with_many_control_responders() -> None:
    # more control responders than treated non-responders: sklift orders CR before TN
    score, y, t = _sample(300, 4, ties=False)
    y = np.where(t == 0, 1.0, y)
    assert auuc(score, y, t) == pytest.approx(sk.uplift_auc_score(y, score, t), rel=EXACT)
    assert qini_coefficient(score, y, t) == pytest.approx(sk.qini_auc_score(y, score, t), rel=EXACT)


def test_integer_weights_equal_repeated_rows() -> None:
    score, y, t = _sample(200, 5, ties=True)
    w = np.random.default_rng(0).integers(1, 4, size=200)
    rep = np.repeat(np.arange(200), w)
    assert auuc(score, y, t, w) == pytest.approx(auuc(score[rep], y[rep], t[rep]), rel=EXACT)
    assert qini_coefficient(score, y, t, w, normalized=False) == pytest.approx(
        qini_coefficient(score[rep], y[rep], t[rep], normalized=False), rel=EXACT
    )


def test_unnormalized_score_on_hand_example() -> None:
    # scores 3,2,1,0; treatment 1,0,1,0; y 1,0,0,1 -> Qini points (0,0) (1,1) (2,1) (3,1) (4,0)
    # area = 0.5 + 1 + 1 + 0.5 = 3, random area = 0, N^2 = 16
    score, y, t = np.array([3, 2, 1, 0]), np.array([1.0, 0, 0, 1]), np.array([1, 0, 1, 0])
    _, q = qini_curve(score, y, t)
    np.testing.assert_allclose(q, [0, 1, 1, 1, 0])
    assert qini_coefficient(score, y, t, normalized=False) == pytest.approx(3 / 16)


def test_buckets_approximate_exact_scores() -> None:
    score, y, t = _sample(20_000, 6, ties=False)
    edges = np.quantile(score, np.linspace(0, 1, 101)[1:-1])
    buckets = bucket_stats(np.searchsorted(edges, score, side="right"), y, t)
    approx = metrics_from_buckets(buckets, binary=True)
    assert len(buckets) == 100
    assert abs(approx["auuc"] - auuc(score, y, t)) < 1e-3
    assert abs(approx["qini"] - qini_coefficient(score, y, t)) < 1e-3
    # the bucket curve passes through the exact curve at every bucket boundary
    x, q = qini_curve(score, y, t)
    coarse = curves_from_buckets(buckets)
    exact_at = pd.Series(q, index=x).reindex(coarse["n"])
    np.testing.assert_allclose(coarse["qini"], exact_at.to_numpy(), rtol=EXACT, atol=EXACT)


def test_continuous_outcome_has_unnormalized_scores_only() -> None:
    score, y, t = _sample(300, 7, ties=False)
    spend = y * 40.0 + np.random.default_rng(1).gamma(1.0, 2.0, size=300)
    stats = bucket_stats(score, spend, t)
    out = metrics_from_buckets(stats, binary=False)
    assert np.isnan(out["auuc"]) and np.isnan(out["qini"])
    assert out["qini_unnormalized"] == pytest.approx(
        qini_coefficient(score, spend, t, normalized=False)
    )
    with pytest.raises(DataContractError, match="binary"):
        auuc(score, spend, t)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([1, 2], [0, 1], [0, 1, 1]), "length"),
        (([1, 2], [0, 1], [0, 2]), "0/1"),
        (([1, 2], [0, np.nan], [0, 1]), "missing"),
        (([1, 2], [0, 1], [0, 1], [1, 0]), "weights"),
    ],
)
def test_refuses_bad_rows(args: tuple, match: str) -> None:
    with pytest.raises(DataContractError, match=match):
        bucket_stats(*args)
