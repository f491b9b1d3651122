"""Assignment to K offers with bounded segment sizes, as exact optimal transport (POT).

Given K chosen offers with profits Q[i, k] = P[i, s_k], weights w (total W), and bounds
m = min_share * W, M = max_share * W on the weight each offer receives, solve

    maximize   sum_i sum_k pi[i, k] Q[i, k]
    subject to sum_k pi[i, k] + pi[i, none] = w_i       for every customer i
               m <= sum_i pi[i, k] <= M                 for every chosen offer k
               pi >= 0,   pi[i, none] = 0 unless the "no offer" option is allowed.

Inequality marginals are turned into the balanced problem that :func:`ot.emd` solves (equal
marginals, minimized cost) by splitting each offer k into a *mandatory* sink of mass m that only
customers can fill and an *optional* sink of mass M - m, adding a "no offer" sink of mass W (0
when not allowed) and one phantom source of mass K*M + W_none - W that may fill optional and
"no offer" sinks at zero cost. Costs are -Q for customer->offer sinks, 0 for customer->none,
and a large constant on the forbidden phantom->mandatory arcs (checked to carry no mass).

The sink duals v of the balanced problem give each offer a price,
price_k = v_none - max(v_k,mandatory, v_k,optional): by complementary slackness every customer
with mass on offer k has argmax_k (Q[i, k] - price_k) = k (and a positive score unless it also
has mass on "no offer"), so executors can reproduce the plan with :func:`objective.assign`.
Customers that the plan splits between offers sit on a tie; at most one per binding bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ot

from causal_targeting.errors import InfeasibleError, ModelError


@dataclass(frozen=True)
class TransportAssignment:
    """An optimal capacitated assignment of customers to K offers.

    ``plan`` is (n, K) mass per customer and offer (the rest of w_i is "no offer"); ``prices``
    the dual price of each offer; ``profit`` the objective sum(plan * Q).
    """

    plan: np.ndarray
    prices: np.ndarray
    profit: float


def check_bounds(
    k: int, min_share: float | None, max_share: float | None, *, allow_no_offer: bool
) -> tuple[float, float]:
    """Return (min_share, max_share) with defaults 0 and 1, refusing bounds no plan can meet."""
    lo = 0.0 if min_share is None else float(min_share)
    hi = 1.0 if max_share is None else float(max_share)
    names = ["coarsening.min_share", "coarsening.max_share"]
    if not (0.0 <= lo <= hi <= 1.0):
        raise InfeasibleError(
            names, f"need 0 <= min_share <= max_share <= 1, got min_share={lo}, max_share={hi}"
        )
    if k * lo > 1.0 + 1e-12:
        raise InfeasibleError(
            names[:1],
            f"{k} offers x min_share {lo} = {k * lo:.3f} > 1: not enough customers; "
            f"lower min_share to at most {1.0 / k:.4f} or choose fewer offers",
        )
    if not allow_no_offer and k * hi < 1.0 - 1e-12:
        raise InfeasibleError(
            names[1:],
            f"{k} offers x max_share {hi} = {k * hi:.3f} < 1 and every customer must get an "
            f"offer; raise max_share to at least {1.0 / k:.4f} or allow 'no offer'",
        )
    return lo, hi


def transport_assign(
    offer_profits: np.ndarray,
    weights: np.ndarray,
    min_share: float | None,
    max_share: float | None,
    *,
    allow_no_offer: bool = True,
) -> TransportAssignment:
    """Solve the bounded assignment above for Q = ``offer_profits`` (n, K) with ``ot.emd``."""
    Q = np.asarray(offer_profits, dtype=float)
    n, k = Q.shape
    lo, hi = check_bounds(k, min_share, max_share, allow_no_offer=allow_no_offer)
    total = float(weights.sum())
    w = weights / total  # work in shares: masses of order one
    none_mass = 1.0 if allow_no_offer else 0.0
    phantom = k * hi + none_mass - 1.0
    big = 10.0 * (1.0 + float(np.abs(Q).max())) * (k + 2)
    cost = np.zeros((n + 1, 2 * k + 1))
    cost[:n, :k] = -Q
    cost[:n, k : 2 * k] = -Q
    cost[n, :k] = big  # the phantom source may not fill a mandatory sink
    a = np.append(w, max(phantom, 0.0))
    b = np.concatenate([np.full(k, lo), np.full(k, hi - lo), [none_mass]])
    b *= a.sum() / b.sum()  # remove rounding drift; the masses agree up to 1e-12
    G, log = ot.emd(a, b, cost, numItermax=10_000_000, log=True)
    if log["warning"] is not None or G[n, :k].sum() > 1e-9:
        raise ModelError(f"the bounded assignment did not solve exactly: {log['warning']}")
    plan = (G[:n, :k] + G[:n, k : 2 * k]) * total
    v = np.asarray(log["v"])
    prices = v[2 * k] - np.maximum(v[:k], v[k : 2 * k])
    if not allow_no_offer:
        prices = prices - prices.min()
    return TransportAssignment(plan=plan, prices=prices, profit=float(np.sum(plan * Q)))


def size_violations(
    shares: np.ndarray, min_share: float | None, max_share: float | None
) -> np.ndarray:
    """How far each realized share lies outside [min_share, max_share] (0 when inside)."""
    lo = 0.0 if min_share is None else float(min_share)
    hi = 1.0 if max_share is None else float(max_share)
    shares = np.asarray(shares, dtype=float)
    return np.maximum(np.maximum(lo - shares, shares - hi), 0.0)
