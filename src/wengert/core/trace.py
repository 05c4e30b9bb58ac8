"""Traces: the levels at which values are recorded or perturbed, and the dispatch of a primitive to the
innermost one.

A *box* (a `Tensor` or a `Dual`) pairs a value with the trace that owns it. Its value may itself be a
box of an outer (lower-level) trace, which is how derivatives nest: each transform opens a fresh trace
one level above the innermost open one, a primitive is processed by the highest-level trace among its
arguments, and every box of another trace is a constant to it (so `d/dx [x * d/dy (x + y)]` is 1,
not 2). Traces are compared by identity; levels only order them.
"""

from __future__ import annotations

import threading
from typing import Any


class _ThreadState(threading.local):
    """Per-thread switches: eager recording on/off, open transform traces, anomaly detection."""

    def __init__(self) -> None:
        self.grad_enabled = True
        self.stack: list[Trace] = []
        self.anomaly = False


STATE = _ThreadState()

#: Box classes (Tensor, Dual); registered by the modules that define them.
BOX_TYPES: set[type] = set()

#: Wraps a raw result as a constant box when a primitive met only constant boxes (set by tensor.py).
const_box: Any = None

EAGER_LEVEL = 0  # the PyTorch-style tape of tensors with requires_grad=True
DUAL_LEVEL = 1  # dual numbers made by hand with wengert.Dual
FIRST_TRANSFORM_LEVEL = 2


#: Abstract value classes (shape and dtype, no data), registered by program tracing.
ABSTRACT_TYPES: set[type] = set()


def is_abstract(x) -> bool:
    """True when `x` holds no data: a value being traced to a program (see wengert.program)."""
    return type(raw(x)) in ABSTRACT_TYPES


class Trace:
    """A level of differentiation. Subclasses say how a primitive is processed at this level.

    A trace that `stages` records every primitive, piecewise-constant ones included (a program); the
    derivative traces see those as constants.
    """

    __slots__ = ("__weakref__", "level")
    stages = False
    direct = False  # True: has `record`, the fast path `bind` uses while it is the innermost trace

    def __init__(self, level: int) -> None:
        self.level = level

    def process(self, prim, args: tuple, kwargs: dict):  # pragma: no cover - abstract
        raise NotImplementedError

    def __enter__(self) -> Trace:
        STATE.stack.append(self)
        return self

    def __exit__(self, *exc) -> None:
        STATE.stack.pop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} level={self.level}>"


def next_level() -> int:
    """Level for a new transform: one above the innermost open transform of this thread."""
    stack = STATE.stack
    return stack[-1].level + 1 if stack else FIRST_TRANSFORM_LEVEL


def raw(x):
    """The innermost plain value of `x` (strips every box)."""
    while type(x) in BOX_TYPES:
        x = x._value
    return x


#: The eager tape (an `eager.EagerTrace`), registered by tensor.py: the first stop of `bind`.
eager: Any = None


def bind(prim, args: tuple, kwargs: dict):
    """Apply `prim` to arguments of which at least one is a box: hand it to the innermost live trace.

    Fast path: while recording is on and no transform is open on this thread, the eager tape takes the
    call first; while the innermost open transform records a graph (grad, vjp), that trace does. It
    records the call in one pass when it is the innermost trace among the arguments, and calls
    `dispatch` when it meets a box of any other trace (a Dual, or a box that outlived its transform).
    """
    state = STATE
    stack = state.stack
    if not stack:
        if state.grad_enabled and eager is not None:
            return eager.record(prim, args, kwargs)
    elif stack[-1].direct:  # a grad/vjp trace is the innermost open transform
        return stack[-1].record(prim, args, kwargs)
    return dispatch(prim, args, kwargs)


def dispatch(prim, args: tuple, kwargs: dict):
    """The general dispatch: find the innermost live trace among the arguments (highest level) and
    let it process `prim`; constant boxes and a paused eager tape (no_grad) give a constant."""
    top = None
    level = -1
    for a in args:
        if type(a) in BOX_TYPES:
            t = a._trace
            if t is not None and t.level > level:
                top, level = t, t.level
    if level == EAGER_LEVEL and not STATE.grad_enabled:
        top = None
    if top is None:
        vals = [a._value if type(a) in BOX_TYPES else a for a in args]
        try:
            return const_box(prim.impl(*vals, **kwargs))
        except ValueError as e:
            raise prim.error(vals, e) from None
    return top.process(prim, args, kwargs)


def staged(x):
    """`x` with every box stripped down to the innermost box of a staging trace (or to its value)."""
    while type(x) in BOX_TYPES:
        t = x._trace
        if t is not None and t.stages:
            return x
        x = x._value
    return x


def unwrap_for(trace: Trace, args: tuple):
    """Split `args` for `trace`: values with this trace's boxes opened, and the indices of those boxes.

    Boxes of other live traces stay boxed (they are constants here but outer levels still see them);
    constant boxes are opened to their values.
    """
    vals = list(args)
    idx = []
    for i, a in enumerate(args):
        if type(a) in BOX_TYPES:
            t = a._trace
            if t is trace:
                vals[i] = a._value
                idx.append(i)
            elif t is None or (t.level == EAGER_LEVEL and not STATE.grad_enabled):
                vals[i] = a._value
    return vals, idx
