"""The TypeScript toolkit's seeded generators, bit for bit: mulberry32 (@sentseg/common seededRandom)
and mixSeed (trainer data/sampler.ts), so the same seed draws the same batches and augmentations."""
from __future__ import annotations

from typing import Callable

import numpy as np

_M32 = 0xFFFFFFFF


def _imul(a: int, b: int) -> int:
    return (a * b) & _M32


def seeded_random(seed: int) -> Callable[[], float]:
    """mulberry32: returns a function giving floats in [0, 1)."""
    state = [seed & _M32]

    def draw() -> float:
        state[0] = (state[0] + 0x6D2B79F5) & _M32
        t = state[0]
        t = _imul(t ^ (t >> 15), t | 1)
        t ^= (t + _imul(t ^ (t >> 7), t | 61)) & _M32
        return ((t ^ (t >> 14)) & _M32) / 4294967296.0

    return draw


def seeded_random_array(seed: int, count: int, skip: int = 0) -> np.ndarray:
    """The draws skip..skip+count-1 of seeded_random(seed) at once (mulberry32's state advances by a constant)."""
    k = np.arange(skip + 1, skip + count + 1, dtype=np.uint64)
    a = ((np.uint64(seed & _M32) + k * np.uint64(0x6D2B79F5)) & np.uint64(_M32))
    m = np.uint64(_M32)
    t = a
    t = ((t ^ (t >> np.uint64(15))) * (t | np.uint64(1))) & m
    t = t ^ ((t + (((t ^ (t >> np.uint64(7))) * (t | np.uint64(61))) & m)) & m)
    return ((t ^ (t >> np.uint64(14))) & m).astype(np.float64) / 4294967296.0


def mix_seed(*parts: int) -> int:
    """Mixes integers into one 32-bit seed, as the sampler's mixSeed."""
    h = 0x811C9DC5
    for p in parts:
        h = _imul(h ^ (p & _M32), 0x01000193)
        h = _imul(h ^ (h >> 15), 0x2C1B3C6D)
        h = (h ^ (h >> 12)) & _M32
    return h
