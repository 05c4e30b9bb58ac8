"""Derivatives of any order by truncated Taylor arithmetic, in one forward sweep.

Every value carries its Taylor coefficients y_0 (the value), y_1, ..., y_K along a curve x + t v. For an
elementwise primitive y = f(x1, x2, ...) the table's partial derivatives q_i = df/dx_i give the
recurrence of y' = sum_i q_i x_i':

    y_k = (1/k) sum_i sum_{j=1..k} j x_{i,j} q_{i,k-j}

The partials are themselves evaluated in Taylor arithmetic, lazily and memoised (a series computes a
coefficient only when asked), so coefficient k needs only coefficients below k and each operation costs
O(K^2) — not the 2^K of nesting K first-order transforms. Linear structural primitives (sum, reshape,
indexing, ...) map each coefficient by their JVP rule; matmul takes a Cauchy product.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .core import primitives as P
from .core.primitive import Elementwise
from .core.trace import BOX_TYPES, Trace, next_level, raw, unwrap_for
from .tensor import _fbox

#: Structural primitives that are linear (or piecewise linear) in their array arguments.
LINEAR = {
    P.sum_, P.reshape_p, P.transpose_p, P.broadcast_to_p, P.getitem, P.scatter_add,
    P.concatenate, P.cast, P.max_, P.min_,
}  # fmt: skip


class Series:
    """Taylor coefficients of one value, computed on demand and cached."""

    __slots__ = ("coefs", "rule")

    def __init__(self, value, rule: Callable[[int], Any] | None) -> None:
        self.coefs = [value]
        self.rule = rule  # k -> coefficient k (k >= 1), may ask for lower coefficients of any series

    def __getitem__(self, k: int):
        coefs = self.coefs
        while len(coefs) <= k:
            coefs.append(self.rule(len(coefs)))
        return coefs[k]


class TaylorTrace(Trace):
    """A level whose values carry truncated Taylor series."""

    __slots__ = ("memo",)

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.memo: dict = {}

    def series(self, x, k: int):
        """Coefficient k of x: its series if x is a box of this trace, else x is a constant."""
        if type(x) in BOX_TYPES:
            if x._trace is self:
                return x._tangent[k]
            if x._trace is None:
                x = x._value
        return x if k == 0 else 0.0

    def process(self, prim, args, kwargs):
        key = None
        if isinstance(prim, Elementwise) and not kwargs:
            key = (prim, tuple(id(a) for a in args))
            hit = self.memo.get(key)
            if hit is not None and all(a is b for a, b in zip(hit[0], args)):
                return hit[1]
        vals, idx = unwrap_for(self, args)
        ans = prim(*vals, **kwargs)
        out = _fbox(ans, self, None)
        if isinstance(prim, Elementwise):
            rule = self._elementwise(prim, args, idx, out)
        elif prim in LINEAR:
            rule = self._linear(prim, args, idx, ans, vals, kwargs)
        elif prim is P.matmul:
            rule = self._matmul(args, ans)
        else:
            raise NotImplementedError(
                f"taylor: primitive '{prim.name}' has no Taylor rule (elementwise, linear structural "
                "primitives and matmul have one); use nested jvp/grad for this function"
            )
        out._tangent = Series(ans, rule)
        if key is not None:
            self.memo[key] = (args, out)
        return out

    def _elementwise(self, prim, args, idx, out):
        partials: dict = {}
        shape = np.shape(raw(out._value))

        def q(i, m):
            if i not in partials:  # evaluated once, lazily, in Taylor arithmetic
                p = prim.partials[i]
                partials[i] = p if isinstance(p, (int, float)) else p(out, *args)
            return self.series(partials[i], m)

        def rule(k):
            total = 0.0
            for i in idx:
                for j in range(1, k + 1):
                    xj = self.series(args[i], j)
                    if not _is_zero(xj):
                        total = total + (j * xj) * q(i, k - j)
            return _broadcast(total / k if not _is_zero(total) else total, shape)

        return rule

    def _linear(self, prim, args, idx, ans, vals, kwargs):
        def rule(k):
            return prim.jvp(idx, [self.series(args[i], k) for i in idx], ans, vals, kwargs)

        return rule

    def _matmul(self, args, ans):
        x, y = args

        def rule(k):
            out = 0.0
            for j in range(k + 1):
                a, b = self.series(x, j), self.series(y, k - j)
                if not (_is_zero(a) or _is_zero(b)):
                    out = out + P.matmul(a, b)
            return _broadcast(out, np.shape(raw(ans)))

        return rule


def _is_zero(x) -> bool:
    return type(x) in (float, int) and x == 0


def _broadcast(x, shape):
    if _is_zero(x):
        return np.zeros(shape)
    if np.shape(raw(x)) != shape:
        return P.broadcast_to(x, shape)
    return x


def taylor(f: Callable, x: Any, order: int, direction: Any = None) -> list:
    """[f(x), f'(x), ..., f^(order)(x)] by truncated Taylor arithmetic in one forward sweep.

    For array x the derivatives are directional: d^k/dt^k f(x + t v) at t = 0, with v = `direction`
    (ones by default, which gives elementwise derivatives of an elementwise f).
    """
    if not isinstance(order, int) or order < 0:
        raise ValueError(f"taylor: order must be a non-negative integer, got {order!r}")
    from .transforms import _prepare

    x = _prepare(x, "taylor", "x")
    v = (
        np.ones_like(raw(x))
        if direction is None
        else np.asarray(raw(direction), dtype=np.result_type(raw(x)))
    )
    if np.shape(v) != np.shape(raw(x)):
        raise ValueError(f"taylor: direction of shape {np.shape(v)} for x of shape {np.shape(raw(x))}")
    tr = TaylorTrace(next_level())
    box = _fbox(x, tr, None)
    box._tangent = Series(x, lambda k: v if k == 1 else 0.0 * v)
    with tr:
        out = f(box)
        if not (type(out) in BOX_TYPES and out._trace is tr):
            value = out._value if type(out) in BOX_TYPES and out._trace is None else out
            return [value] + [np.zeros(np.shape(raw(value)))] * order
        result = []
        for k in range(order + 1):
            c = out._tangent[k]
            result.append(c * math.factorial(k) if k > 1 else c)
    if isinstance(result[0], (np.floating, float)) and np.ndim(raw(result[0])) == 0:
        result = [float(r) if type(r) not in BOX_TYPES else r for r in result]
    return result
