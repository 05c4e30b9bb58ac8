"""In-place updates of tensors, with PyTorch's semantics.

`t -= x`, `t.add_(x)`, `t.zero_()`, ... keep the identity of `t` (every reference to it sees the new
values). What happens depends on whether the update is recorded on the eager tape:

- not recorded (inside `no_grad()`, or no tensor involved requires grad): the new values are written
  into `t`'s memory. A leaf stays a leaf with `requires_grad=True`: this is how parameters are updated
  (`with no_grad(): w -= lr * w.grad`, and every optimizer). The write is versioned: a graph that saved
  this memory for backward raises a RuntimeError naming its operation when backward reaches it.
- recorded (gradients on, and `t` or an operand requires grad): `t` takes the result and its graph
  node, as if `t = t + x` had been written, so gradients flow through the update. A leaf that requires
  grad is refused, as in PyTorch (its gradient would lose its meaning). Memory that `t` shares with
  other arrays is not written in this case (the graph keeps the values it recorded).

Inside a function transform (`grad`, `jvp`, ...), the operators `+=`, `-=`, `*=`, `/=` rebind the name
(`x = x + y`, the functional meaning); the explicit methods (`add_`, ...) are refused there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .core import primitives as P
from .core.trace import BOX_TYPES, STATE, raw
from .core.versions import mark_written

_UFUNCS = {"add_": np.add, "sub_": np.subtract, "mul_": np.multiply, "div_": np.divide}
_PRIMS = {"add_": P.add, "sub_": P.sub, "mul_": P.mul, "div_": P.div}


_TAPE: list = []  # [the eager tape], filled on first use (tensor.py imports this module)


def _eager():
    if not _TAPE:
        from .tensor import EAGER

        _TAPE.append(EAGER)
    return _TAPE[0]


def recordable(t, operands) -> bool | None:
    """True: record on the eager tape; False: write the memory; None: a transform's value is involved."""
    eager = _TAPE[0] if _TAPE else _eager()
    recording = False
    tr = t._trace
    if tr is not None:
        if tr is not eager:
            return None
        recording = True
    for a in operands:
        if type(a) in BOX_TYPES and a._trace is not None:
            if a._trace is not eager:
                return None
            recording = True
    return recording and STATE.grad_enabled


def update(t, op: str, *operands: Any, operator: bool = False):
    """Apply the in-place operation `op` ("add_", "clamp_", ...) to tensor `t` and return `t`.

    `operator` marks the Python operators (`+=` ...), which return NotImplemented inside a transform so
    that Python rebinds the name instead.
    """
    mode = recordable(t, operands)
    if mode is None:
        if operator:
            return NotImplemented
        raise RuntimeError(
            f"{op}: in-place operations are not supported on values traced by a function transform "
            "(grad, jvp, vjp, ...); write the update out of place, e.g. x = x + y"
        )
    if mode:
        _record(t, op, operands)
    else:
        _write(t, op, operands)
    return t


def _record(t, op: str, operands) -> None:
    eager = _eager()
    if t._trace is eager and t._node.prim is None:
        raise RuntimeError(
            f"{op}: a leaf tensor that requires grad (shape {t.shape}) cannot be modified in place "
            "while gradients are recorded; update parameters inside `with wengert.no_grad():` (as "
            "optimizers do), or use an out-of-place operation (w = w - x) to build a new tensor"
        )
    if op in _PRIMS:
        new = _PRIMS[op](t, operands[0])
    elif op == "clamp_":
        new = P.clip(t, *operands)
    else:  # fill_, zero_, copy_: the new values replace the old ones; the gradient flows to them only
        src = 0.0 if op == "zero_" else operands[0]
        new = P.where(np.ones(t.shape, dtype=bool), src, t)
    if new.shape != t.shape:
        raise ValueError(
            f"{op}: the result has shape {new.shape}; an in-place operation cannot change the shape "
            f"{t.shape} of the tensor it modifies"
        )
    if new.dtype != t.dtype:
        if not np.can_cast(new.dtype, t.dtype, "same_kind"):
            raise TypeError(
                f"{op}: a result of dtype {new.dtype} cannot be stored in a tensor of dtype {t.dtype}"
            )
        new = P.cast(new, dtype=t.dtype)
    t._value, t._trace, t._node = new._value, eager, new._node


def writable_value(t, op: str) -> np.ndarray:
    v = t._value
    if (
        type(v) is not np.ndarray
    ):  # a numpy scalar from a full reduction: immutable, so nothing shares it
        v = t._value = np.array(v)
    if not v.flags.writeable:
        raise RuntimeError(
            f"{op}: the tensor's memory is read-only (a broadcast view or a read-only array); "
            "make a writable copy first with .clone()"
        )
    return v


def _write(t, op: str, operands) -> None:
    v = t._value
    if type(v) is not np.ndarray or not v.flags.writeable:
        v = writable_value(t, op)
    vals = [raw(o) for o in operands]
    try:
        ufunc = _UFUNCS.get(op)
        if ufunc is not None:
            ufunc(v, vals[0], out=v, casting="same_kind")
        elif op == "clamp_":
            np.clip(v, vals[0], vals[1], out=v, casting="same_kind")
        elif op == "zero_":
            v[...] = 0
        elif op == "fill_":
            if np.ndim(vals[0]) != 0:
                raise ValueError(
                    f"fill_: the value must be a number or a 0-d tensor, got shape {np.shape(vals[0])}"
                )
            v[...] = vals[0]
        elif op == "copy_":
            np.copyto(v, vals[0], casting="unsafe")
        else:  # pragma: no cover - every caller passes a known name
            raise ValueError(f"unknown in-place operation {op!r}")
    except TypeError as e:  # numpy's UFuncTypeError: a float result into an integer tensor, say
        raise TypeError(
            f"{op}: cannot write the result into a tensor of dtype {v.dtype} in place ({e})"
        ) from None
    except ValueError as e:
        if str(e).startswith(op):
            raise
        shapes = ", ".join(str(np.shape(a)) for a in vals)
        raise ValueError(
            f"{op}: operands of shapes {shapes} do not broadcast to the shape {v.shape} of the tensor "
            f"modified in place ({e})"
        ) from None
    mark_written(v, op)


def write_update(t, op: str, operand: np.ndarray) -> None:
    """`op` ("sub_", "mul_", ...) of tensor `t` by a plain array or number, written into t's memory
    and versioned: the in-place path without its dispatch, for optimizers (which step under
    `no_grad()` with numpy work arrays, so the outcome of the dispatch is known)."""
    v = t._value
    if type(v) is not np.ndarray or not v.flags.writeable:
        v = writable_value(t, op)
    _UFUNCS[op](v, operand, out=v, casting="same_kind")
    mark_written(v, op)
