"""Counter-based random numbers: every draw is a function of (seed, stream name, customer id).

Every random number is ``splitmix64`` of (seed, stream name, customer id), mapped to a uniform in
(0, 1). A row therefore depends on its id and the seed only, never on how ids are split into
blocks or partitions, and a block is generated with vectorized integer arithmetic (no per-row
Python).
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy.special import ndtri

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def _mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, elementwise on uint64 (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * _MIX_1
    x = (x ^ (x >> np.uint64(27))) * _MIX_2
    return x ^ (x >> np.uint64(31))


class Draws:
    """Random numbers keyed by (seed, stream name, id): uniform, normal, log-normal.

    ``uniform(stream)[i] = ((mix(id_i·φ + k) >> 11) + ½) / 2⁵³`` with
    ``k = mix(seed·φ + crc32(stream))``, φ the golden-ratio increment and ``mix`` the finalizer of
    splitmix64 (so each stream is a splitmix64 sequence indexed by id, started at a key of its
    own): each id gets its own number in (0, 1), independent of the other ids in the block.
    """

    def __init__(self, ids: np.ndarray, seed: int) -> None:
        self._ids = np.asarray(ids).astype(np.uint64)
        self._seed = np.uint64(seed)

    def uniform(self, stream: str) -> np.ndarray:
        """Uniform(0, 1) numbers, one per id, for the named stream."""
        with np.errstate(over="ignore"):
            key = _mix64(np.array([self._seed * _GOLDEN + np.uint64(zlib.crc32(stream.encode()))]))
            bits = _mix64(self._ids * _GOLDEN + key)
        return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53

    def normal(self, stream: str) -> np.ndarray:
        """Standard normal numbers, ``Φ⁻¹(uniform)``."""
        return ndtri(self.uniform(stream))

    def unit_lognormal(self, stream: str, sigma: float) -> np.ndarray:
        """Log-normal numbers with mean 1: ``exp(σZ − σ²/2)``."""
        return np.exp(sigma * self.normal(stream) - sigma**2 / 2)
