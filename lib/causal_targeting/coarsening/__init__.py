"""Coarse personalization: choose K offers out of a fine menu that keep nearly all the profit.

The numpy cores (no Spark): :func:`reduce_customers`, :func:`choose_offers`, :func:`assign`,
:func:`recovery_curve`, :func:`choose_k`, :func:`plot_recovery` and the baselines. The Spark
edge is :mod:`causal_targeting.coarsening.distributed` (imported on demand: it needs pyspark).
"""

from causal_targeting.coarsening.baselines import (
    coarse_grid_menu,
    default_grid,
    feature_segments,
    preferred_offer_menu,
    segment_offer_profit,
)
from causal_targeting.coarsening.choose import Coarsening, choose_offers
from causal_targeting.coarsening.objective import (
    NO_OFFER,
    assign,
    menu_profit,
    personalized_profit,
    segment_shares,
)
from causal_targeting.coarsening.reduction import ReductionReport, reduce_customers
from causal_targeting.coarsening.report import choose_k, plot_recovery, recovery_curve
from causal_targeting.coarsening.transport import TransportAssignment, transport_assign

__all__ = [
    "NO_OFFER",
    "Coarsening",
    "ReductionReport",
    "TransportAssignment",
    "assign",
    "choose_k",
    "choose_offers",
    "coarse_grid_menu",
    "default_grid",
    "feature_segments",
    "menu_profit",
    "personalized_profit",
    "plot_recovery",
    "preferred_offer_menu",
    "recovery_curve",
    "reduce_customers",
    "segment_offer_profit",
    "segment_shares",
    "transport_assign",
]
