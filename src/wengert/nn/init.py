"""Weight initialisers: each returns a new float32 numpy array of the requested shape.

Every initialiser takes `seed`: an int, a `numpy.random.Generator` (drawn from, so successive calls
give different values), or None (wengert's generator, see `wengert.manual_seed`). Fan-in and fan-out
follow PyTorch's convention for a weight of shape (out_features, in_features, ...):
fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..seeding import generator

__all__ = [
    "Seed",
    "calculate_gain",
    "fans",
    "kaiming_normal",
    "kaiming_uniform",
    "normal",
    "ones",
    "rng",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

Seed = int | np.random.Generator | None

_GAINS = {
    "linear": 1.0,
    "identity": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "softmax": 1.0,
}


def rng(seed: Seed = None) -> np.random.Generator:
    """A numpy Generator: `seed` itself when it is one, a new one seeded with it when it is an int,
    and wengert's generator (reseeded by `wengert.manual_seed`) when it is None."""
    return generator(seed)


def calculate_gain(nonlinearity: str) -> float:
    """The recommended scale of the weights feeding `nonlinearity` (PyTorch's values)."""
    try:
        return _GAINS[nonlinearity]
    except KeyError:
        raise ValueError(
            f"calculate_gain: unknown nonlinearity {nonlinearity!r}; known: {', '.join(sorted(_GAINS))}"
        ) from None


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of `shape`; a 1-d shape counts as (n, n)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        raise ValueError("fans: a weight needs at least one dimension")
    if len(shape) == 1:
        return shape[0], shape[0]
    field = math.prod(shape[2:])
    return shape[1] * field, shape[0] * field


def _draw(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float32, copy=False)


def zeros(shape: Sequence[int]) -> np.ndarray:
    """All zeros."""
    return np.zeros(tuple(shape), dtype=np.float32)


def ones(shape: Sequence[int]) -> np.ndarray:
    """All ones."""
    return np.ones(tuple(shape), dtype=np.float32)


def uniform(shape: Sequence[int], low: float = 0.0, high: float = 1.0, seed: Seed = None) -> np.ndarray:
    """Samples of U(low, high)."""
    return _draw(rng(seed).uniform(low, high, size=tuple(shape)))


def normal(shape: Sequence[int], mean: float = 0.0, std: float = 1.0, seed: Seed = None) -> np.ndarray:
    """Samples of N(mean, std**2)."""
    return _draw(rng(seed).normal(mean, std, size=tuple(shape)))


def xavier_uniform(shape: Sequence[int], gain: float = 1.0, seed: Seed = None) -> np.ndarray:
    """Glorot & Bengio (2010): U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(shape, -a, a, seed)


def xavier_normal(shape: Sequence[int], gain: float = 1.0, seed: Seed = None) -> np.ndarray:
    """Glorot & Bengio (2010): N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    return normal(shape, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), seed)


def kaiming_normal(shape: Sequence[int], gain: float = math.sqrt(2.0), seed: Seed = None) -> np.ndarray:
    """He et al. (2015): N(0, std**2) with std = gain / sqrt(fan_in) (gain sqrt(2) suits ReLU)."""
    fan_in, _ = fans(shape)
    return normal(shape, 0.0, gain / math.sqrt(fan_in), seed)


def kaiming_uniform(shape: Sequence[int], gain: float = math.sqrt(2.0), seed: Seed = None) -> np.ndarray:
    """He et al. (2015): U(-a, a) with a = gain * sqrt(3 / fan_in) (kaiming_normal's variance)."""
    fan_in, _ = fans(shape)
    a = gain * math.sqrt(3.0 / fan_in)
    return uniform(shape, -a, a, seed)
