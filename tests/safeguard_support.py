"""The data section of a one-arm experiment ('a' against 'ctl', one continuous outcome y),
shared by the safeguard and allocated-policy tests."""

from __future__ import annotations

ONE_ARM_DATA = {
    "experiment": {"path": "unused"},
    "control": "ctl",
    "arms": ["a"],
    "features": {"f": "numeric"},
    "outcomes": {"y": "continuous"},
}
