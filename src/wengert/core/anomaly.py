"""Anomaly detection: find the operation that first produced a nan or an inf.

Inside `detect_anomaly()`, every recorded operation remembers the line of user code that created it,
its result is checked when computed, and every cotangent is checked when backward computes it. The first
non-finite value raises `AnomalyError` naming the primitive and that line. It costs a stack walk per
operation, so it is off by default.
"""

from __future__ import annotations

import linecache
import os
import sys
import warnings

import numpy as np

from .trace import STATE, raw

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class AnomalyError(FloatingPointError):
    """A nan or inf appeared in a forward value or a gradient while `detect_anomaly()` was on."""


class detect_anomaly:
    """Context manager: raise `AnomalyError` at the first nan/inf in a forward value or a gradient,
    naming the primitive and the user's source line that created it. Per thread."""

    def __enter__(self) -> detect_anomaly:
        self._prev = STATE.anomaly
        STATE.anomaly = True
        return self

    def __exit__(self, *exc) -> None:
        STATE.anomaly = self._prev


def user_line() -> str:
    """'file:line in function: code' of the innermost caller outside the wengert package."""
    f = sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PACKAGE):
        f = f.f_back
    if f is None:
        return "<unknown>"
    code = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    return f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}: {code}"


def _user_stacklevel() -> int:
    """The `stacklevel` for warnings.warn, called from this module's caller, that names the innermost
    frame outside the wengert package."""
    f = sys._getframe(2)
    level = 2
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PACKAGE):
        f = f.f_back
        level += 1
    return level


def warn_at_user_line(name: str, fn):
    """`fn` (a numpy function) whose floating-point warnings ("invalid value encountered in log") are
    reported at the user's line rather than inside wengert. Settings other than numpy's default
    'warn' (ignore, raise, ...) made by the user with np.errstate are kept."""

    def handler(err: str, flag: int) -> None:
        warnings.warn(f"{err} encountered in {name}", RuntimeWarning, stacklevel=_user_stacklevel())

    def wrapped(*args, **kwargs):
        state = np.geterr()
        mode = {k: ("call" if v == "warn" else v) for k, v in state.items() if k != "under"}
        with np.errstate(call=handler, **mode):
            return fn(*args, **kwargs)

    wrapped.__name__ = getattr(fn, "__name__", name)
    wrapped.__wrapped__ = fn  # what code generation emits (compiled programs call numpy directly)
    return wrapped


def nonfinite(x) -> str | None:
    """ "nan" or "inf" when the float array `x` holds one (nan first), else None."""
    v = np.asarray(raw(x))
    if v.dtype.kind not in "fc" or np.all(np.isfinite(v)):
        return None
    return "nan" if np.any(np.isnan(v)) else "inf"


def check_forward(prim, ans, node=None) -> None:
    """Raise if `ans` is not finite; remember where `node` was created."""
    where = user_line()
    if node is not None:
        node.origin = where
    bad = nonfinite(ans)
    if bad:
        raise AnomalyError(f"'{prim.name}' produced {bad} in its result, at {where}")


def check_backward(node, i: int, c) -> None:
    """Raise if cotangent `c`, computed by `node`'s rule for argument `i`, is not finite."""
    bad = nonfinite(c)
    if bad:
        raise AnomalyError(
            f"the backward rule of '{node.prim.name}' produced {bad} in the gradient of its argument "
            f"{i}; that operation was created at {node.origin or '<not recorded>'}"
        )
