"""Version counters for in-place updates.

An in-place update (`t -= x` under `no_grad`, `t.add_(x)`, an optimizer step) writes into memory that a
recorded graph may still need: a node saves its inputs (and sometimes its output) for backward. Every
such write ticks a clock and remembers, for the array that owns the memory, when and by which operation
it was last written. Every graph node notes the clock when it is recorded; backward checks a node's
saved arrays only when the clock has moved since (so a training loop that updates parameters after
backward pays nothing), and raises if one of them was written after it was saved.
"""

from __future__ import annotations

import weakref

import numpy as np

from .trace import raw


class _Clock:
    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0


#: Ticks once per in-place write; graph nodes record it when they are made.
CLOCK = _Clock()

# id(owner array) -> (tick of its last in-place write, weak reference to it, the operation's name)
_WRITTEN: dict[int, tuple[int, weakref.ref, str]] = {}


def _owner(a: np.ndarray) -> np.ndarray:
    """The array that owns a's memory (a view's base, followed to the end)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _forget(ref: weakref.ref, key: int) -> None:
    entry = _WRITTEN.get(key)
    if entry is not None and entry[1] is ref:
        del _WRITTEN[key]


def mark_written(a: np.ndarray, op: str) -> None:
    """Record that `op` has just written into the memory of array `a` in place."""
    owner = _owner(a)
    CLOCK.now += 1
    key = id(owner)
    entry = _WRITTEN.get(key)
    ref = (
        entry[1]
        if entry is not None and entry[1]() is owner
        else weakref.ref(owner, lambda r, k=key: _forget(r, k))
    )
    _WRITTEN[key] = (CLOCK.now, ref, op)


def check_saved(node) -> None:
    """Raise if an array `node` saved for backward was written in place after `node` was recorded."""
    prim = node.prim
    saved = []
    if node.args is not None and prim.save_args:
        saved.extend((f"input {i}", a) for i, a in enumerate(node.args))
    if node.ans is not None:
        saved.append(("output", node.ans))
    for what, a in saved:
        a = raw(a)
        if not isinstance(a, np.ndarray):
            continue
        owner = _owner(a)
        entry = _WRITTEN.get(id(owner))
        if entry is not None and entry[0] > node.version and entry[1]() is owner:
            raise RuntimeError(
                f"backward: the {what} of '{prim.name}' (shape {a.shape}), saved for the gradient, was "
                f"modified by an in-place operation ({entry[2]}) after '{prim.name}' was recorded; "
                "compute that update out of place (x = x - y), or run backward() before modifying"
            )
