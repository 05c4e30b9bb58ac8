"""Mini-batch iteration over in-memory numpy arrays, with shuffling and sharding."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..ops import one_hot  # the one one_hot, re-exported for data pipelines

__all__ = ["DataLoader", "one_hot"]


def _check_int(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` as int if it is an integer >= ``minimum``, else raise naming it."""
    # bool is an int subclass, but batch_size=True is surely a mistake.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


class DataLoader:
    """Iterate over ``(x_batch, y_batch)`` pairs of numpy arrays.

    Args:
        x, y: arrays (or array-likes) with the same first dimension.
        batch_size: samples per batch (the last batch may be smaller unless ``drop_last``).
        shuffle: visit samples in a new random order every epoch.
        seed: makes the per-epoch orders reproducible; epoch ``e`` always uses the same order
            for the same seed, whatever happened before.
        drop_last: skip the final batch when it has fewer than ``batch_size`` samples.
        shard: ``(rank, size)`` for data-parallel training. Every epoch's order (shuffled
            the same way on every rank, so pass the same ``seed``) is cut to a multiple of
            ``size`` and rank ``rank`` takes every ``size``-th index starting at ``rank``:
            the ranks get disjoint, equal-length parts of that epoch.

    The epoch counter (``self.epoch``) advances when an iteration runs to completion; an
    iteration abandoned midway does not advance it. ``set_epoch`` sets it explicitly.
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int | None = None,
        drop_last: bool = False,
        shard: tuple[int, int] | None = None,
    ) -> None:
        self.x = np.asarray(x)
        self.y = np.asarray(y)
        if self.x.ndim == 0 or self.y.ndim == 0:
            raise ValueError("x and y must be arrays with a leading sample dimension")
        if len(self.x) != len(self.y):
            raise ValueError(f"len(x) = {len(self.x)} but len(y) = {len(self.y)}; they must match")
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        if seed is not None:
            seed = _check_int("seed", seed, 0)
        elif shuffle:
            # Draw one base seed now so epochs differ yet the loader stays self-consistent.
            seed = int(np.random.SeedSequence().entropy % (2**63))
            if shard is not None:
                raise ValueError(
                    "shard with shuffle=True needs an explicit seed, identical on every rank, "
                    "so that all ranks shuffle the same way"
                )
        self.seed = seed
        if shard is not None:
            if not isinstance(shard, tuple | list) or len(shard) != 2:
                raise TypeError(f"shard must be a (rank, size) pair, got {shard!r}")
            rank = _check_int("shard rank", shard[0], 0)
            size = _check_int("shard size", shard[1], 1)
            if rank >= size:
                raise ValueError(f"shard rank {rank} out of range for size {size} (0..{size - 1})")
            if len(self.x) < size:
                raise ValueError(f"{len(self.x)} samples cannot be split over {size} shards")
            shard = (rank, size)
        self.shard = shard
        self.epoch = 0

    @property
    def num_samples(self) -> int:
        """Number of samples this loader (this rank, if sharded) yields per epoch."""
        n = len(self.x)
        if self.shard is not None:
            n //= self.shard[1]
        if self.drop_last:
            n -= n % self.batch_size
        return n

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.x) if self.shard is None else len(self.x) // self.shard[1]
        if self.drop_last:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch whose order the next iteration uses (e.g. when resuming)."""
        self.epoch = _check_int("epoch", epoch, 0)

    def indices(self, epoch: int | None = None) -> np.ndarray:
        """Return the sample indices this loader visits in ``epoch`` (default: the current one)."""
        epoch = self.epoch if epoch is None else _check_int("epoch", epoch, 0)
        n = len(self.x)
        if self.shuffle:
            # Seeding with (seed, epoch) makes each epoch's order independent of the others.
            order = np.random.default_rng([self.seed, epoch]).permutation(n)
        else:
            order = np.arange(n)
        if self.shard is not None:
            rank, size = self.shard
            order = order[rank : (n // size) * size : size]
        return order

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(x_batch, y_batch)`` for the current epoch, then advance the epoch."""
        order = self.indices()
        stop = len(order)
        if self.drop_last:
            stop -= stop % self.batch_size
        for start in range(0, stop, self.batch_size):
            idx = order[start : start + self.batch_size]
            yield self.x[idx], self.y[idx]
        self.epoch += 1

    def __repr__(self) -> str:
        return (
            f"DataLoader(n={len(self.x)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"seed={self.seed}, drop_last={self.drop_last}, shard={self.shard})"
        )
