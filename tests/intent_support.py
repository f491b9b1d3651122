"""The simulator's `intent` scenario as the segment tests read it (no generator of its own).

Rows of :func:`causal_targeting.data.simulate.simulate_block` with ``scenario("intent")``, plus
the columns the segment learner takes directly: ``exposed`` (1 for the e-mail arm), the
attribution label with its missing values as 0 (the naive reading) and the potential outcomes
as ``y0``, ``y1``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from causal_targeting.data.simulate import scenario, simulate_block

FEATURES = dict(scenario("intent").features)


def intent_frame(n: int, seed: int, **params: float) -> pd.DataFrame:
    """``n`` experiment rows of the intent scenario (``params`` over its defaults)."""
    rows = simulate_block(scenario("intent", params), np.arange(n), seed)
    return rows.assign(
        exposed=(rows["treatment"] == "email").astype(np.int64),
        attributed=rows["attributed"].fillna(0.0),
        y0=rows["true_y__converted__none"],
        y1=rows["true_y__converted__email"],
    )
