"""Random streams: what a ``seed`` accepts, and one stream per gate (SPEC §6)."""

from __future__ import annotations

import hashlib

import numpy as np

from pytest_prodgate.stats.intervals import _check_int

__all__ = ["SeedLike", "gate_seed"]

#: What a ``seed`` parameter accepts. A :class:`numpy.random.Generator` is used
#: (and advanced) as given.
SeedLike = int | np.random.SeedSequence | np.random.Generator


def _generator(seed: SeedLike) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    s = _check_int(seed, "seed", 0)
    return np.random.default_rng(s)


def gate_seed(seed: int, suite: str, gate: str) -> np.random.SeedSequence:
    """The random stream of one gate: ``SeedSequence([seed, h])``.

    ``h`` is the first 16 bytes (big-endian) of SHA-256 of ``suite + "\\0" +
    gate``, so every gate has its own stream, identical across runs and
    processes, and adding a gate moves no other.
    """
    s = _check_int(seed, "seed", 0)
    digest = hashlib.sha256((suite + "\0" + gate).encode()).digest()
    return np.random.SeedSequence([s, int.from_bytes(digest[:16], "big")])
