"""Timeouts of the long e2e steps, scaled for slow or busy machines.

``CT_TEST_TIMEOUT_SCALE`` (default 1) multiplies each: on a machine shared with other work, set
it to 3 (or more) instead of seeing a healthy run killed half way.
"""

from __future__ import annotations

import os


def scaled(seconds: float) -> float:
    """``seconds`` times ``CT_TEST_TIMEOUT_SCALE``."""
    return seconds * float(os.environ.get("CT_TEST_TIMEOUT_SCALE", "1"))
