"""Linear error propagation: numbers and arrays that carry their uncertainty through any computation.

The article's dual numbers are first-order error propagation. If x = x0 + sum_k a_k e_k, where the
e_k are independent errors of unit standard deviation, then to first order any f(x) = f(x0) +
sum_k (df/dx a_k) e_k: the coefficients are forward-mode tangents, one per error source. Each value
made here is a box of one forward level whose tangent is a dict {source group: array of shape
(k,) + value shape}, pushed through the table's JVP rules with the k sources of a group as a batch axis
(vector mode). Then

    std(f) = sqrt(sum_k c_k^2)      cov(f, g) = sum_k c_k d_k,

so correlations between results, and with the inputs, are kept: x - x is exactly 0 +/- 0.

    x = uncertain(1.0, 0.1)
    y = wengert.sin(2 * x)     # 0.909... +/- 0.0832...
    covariance([x, y])         # 2 x 2 matrix

Inputs with correlated errors come from `correlated(values, cov)`. Every wengert function (and the
numpy ufuncs wengert maps) accepts these values, and `wengert.grad` and the other transforms can be
applied on top. As in the `uncertainties` package, the propagation is linear: it is exact for linear
functions and accurate when the errors are small compared with the scale on which f curves.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import numpy as np

from .core.trace import BOX_TYPES, DUAL_LEVEL, Trace, raw, unwrap_for
from .tensor import Tensor

__all__ = [
    "Uncertain",
    "correlated",
    "correlation",
    "covariance",
    "nominal",
    "std_dev",
    "uncertain",
]

_groups = itertools.count()


class Uncertain(Tensor):
    """A value (a number or an array) with linear uncertainties: `nominal_value`, `std_dev`, and
    through `covariance` its correlations with any other uncertain value."""

    __slots__ = ()

    @property
    def nominal_value(self) -> Any:
        """The value without its error (a float for a number, else an array)."""
        return _plain(self._value)

    @property
    def std_dev(self) -> Any:
        """The standard deviation to first order (a float for a number, else an array)."""
        return _plain(np.sqrt(_variance(self)))

    n = nominal_value
    s = std_dev

    def error_components(self) -> dict[int, np.ndarray]:
        """Contribution of each group of independent error sources, {group id: array (k, *shape)}:
        the change of this value for one standard deviation of each source."""
        return {g: np.asarray(raw(t)) for g, t in self._tangent.items()}

    def __repr__(self) -> str:
        n, s = self.nominal_value, self.std_dev
        if np.ndim(n) == 0:
            return f"{n!r}+/-{s!r}"
        return (
            f"Uncertain(nominal={np.array2string(np.asarray(n))}, std={np.array2string(np.asarray(s))})"
        )

    __str__ = __repr__


BOX_TYPES.add(Uncertain)


def _plain(v):
    v = raw(v)
    return float(v) if np.ndim(v) == 0 else np.asarray(v)


def _box(value, trace, tangent) -> Uncertain:
    u = object.__new__(Uncertain)
    u._value = value
    u._trace = trace
    u._node = None
    u._tangent = tangent
    return u


class UncertainTrace(Trace):
    """The level of uncertain values: a forward level whose tangents are dicts of error-source
    groups, each a batch of tangents."""

    __slots__ = ()

    def process(self, prim, args, kwargs):
        vals, idx = unwrap_for(self, args)
        ans = prim(*vals, **kwargs)
        groups: dict[int, list[int]] = {}
        for i in idx:
            for g in args[i]._tangent:
                groups.setdefault(g, []).append(i)
        tangent = {
            g: prim.jvp(which, [args[i]._tangent[g] for i in which], ans, vals, kwargs)
            for g, which in groups.items()
        }
        return _box(ans, self, tangent)


#: One level for all uncertain values (like hand-made dual numbers: below every transform).
TRACE = UncertainTrace(DUAL_LEVEL)


def _float_array(x: Any, who: str, what: str) -> np.ndarray:
    a = np.asarray(raw(x), dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{who}: {what} must be finite, got {x!r}")
    return a


def uncertain(value: Any, std: Any) -> Uncertain:
    """`value` with independent errors of standard deviation `std` (broadcast to value's shape): each
    element is its own error source, uncorrelated with every other."""
    v = _float_array(value, "uncertain", "the value")
    s = _float_array(std, "uncertain", "std")
    try:
        s = np.broadcast_to(s, v.shape)
    except ValueError:
        raise ValueError(f"uncertain: std of shape {s.shape} for a value of shape {v.shape}") from None
    if np.any(s < 0):
        raise ValueError(f"uncertain: std must be >= 0, got {std!r}")
    k = v.size
    t = (np.eye(k) * s.reshape(-1)).reshape((k,) + v.shape)
    return _box(v[()] if v.ndim == 0 else v, TRACE, {next(_groups): t})


def correlated(values: Any, cov: Any) -> Uncertain:
    """A vector of n values whose errors have the n x n covariance matrix `cov` (symmetric, positive
    semi-definite). The errors are written as cov^(1/2) e over n independent unit sources e."""
    v = _float_array(values, "correlated", "the values")
    c = _float_array(cov, "correlated", "cov")
    if v.ndim != 1 or c.shape != (v.size, v.size):
        raise ValueError(
            f"correlated: values must be a vector (n,) and cov (n, n); got {v.shape} and {c.shape}"
        )
    if not np.allclose(c, c.T, rtol=1e-10, atol=0):
        raise ValueError("correlated: cov must be symmetric")
    w, q = np.linalg.eigh(c)
    if w.size and w[0] < -1e-10 * max(w[-1], 0.0):
        raise ValueError(
            f"correlated: cov must be positive semi-definite; its smallest eigenvalue is {w[0]:.3e}"
        )
    factor = q * np.sqrt(np.clip(w, 0.0, None))  # cov = factor factor^T
    return _box(v, TRACE, {next(_groups): factor.T.copy()})


def _tangents(x) -> dict:
    if type(x) is Uncertain and x._trace is TRACE:
        return x._tangent
    return {}


def _variance(x) -> np.ndarray:
    var = np.zeros(np.shape(raw(x)))
    for t in _tangents(x).values():
        t = np.asarray(raw(t))
        var = var + np.sum(t * t, axis=0)
    return var


def nominal(x: Any) -> Any:
    """The value of x without its uncertainty (x itself for an ordinary number or array)."""
    return x.nominal_value if type(x) is Uncertain else _plain(x)


def std_dev(x: Any) -> Any:
    """The standard deviation of x (0 for an ordinary number or array)."""
    return x.std_dev if type(x) is Uncertain else _plain(np.zeros(np.shape(raw(x))))


def covariance(values: Iterable[Any]) -> np.ndarray:
    """The covariance matrix of all the elements of `values` (uncertain numbers or arrays, taken in
    order and flattened): entry (i, j) = sum over error sources of c_i c_j."""
    values = list(values)
    sizes = [int(np.size(raw(v))) for v in values]
    n = sum(sizes)
    groups: dict[int, list] = {}
    start = 0
    for v, size in zip(values, sizes):
        for g, t in _tangents(v).items():
            t = np.asarray(raw(t))
            groups.setdefault(g, []).append((start, t.reshape(t.shape[0], size)))
        start += size
    cov = np.zeros((n, n))
    for parts in groups.values():
        k = parts[0][1].shape[0]
        full = np.zeros((k, n))
        for at, t in parts:
            full[:, at : at + t.shape[1]] = t
        cov += full.T @ full
    return cov


def correlation(values: Iterable[Any]) -> np.ndarray:
    """The correlation matrix of the elements of `values` (0 where a standard deviation is 0)."""
    cov = covariance(values)
    s = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cov / np.outer(s, s)
    out[~np.isfinite(out)] = 0.0
    np.fill_diagonal(out, np.where(s > 0, 1.0, 0.0))
    return out
