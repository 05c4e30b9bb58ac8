"""wengert's random generator: `manual_seed` makes every random draw that is not given its own seed
(`randn`, `rand`, weight initialisers, `Dropout`) reproducible, as `torch.manual_seed` does."""

from __future__ import annotations

import numpy as np

_GLOBAL = [np.random.default_rng()]


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed wengert's generator with `seed` (an int) and return it."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    _GLOBAL[0] = np.random.default_rng(int(seed))
    return _GLOBAL[0]


def default_generator() -> np.random.Generator:
    """The generator used where no seed is given."""
    return _GLOBAL[0]


def generator(seed: int | np.random.Generator | None = None) -> np.random.Generator:
    """`seed` itself when it is a Generator, a new generator seeded with it when it is an int, and
    wengert's generator when it is None."""
    if isinstance(seed, np.random.Generator):
        return seed
    return _GLOBAL[0] if seed is None else np.random.default_rng(seed)
