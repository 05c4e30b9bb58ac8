"""The functional API on tensors, arrays and numbers: the primitives, and functions composed of them.

Every function here accepts wengert Tensors, numpy arrays and Python numbers. Composite functions
(mean, var, stack, ...) are written with primitives, so they need no derivative rules of their own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .core import primitives as P
from .core.trace import BOX_TYPES, raw
from .tensor import _index, _is_batched, _matmul, as_tensor

# Primitives, under their public names.
add, sub, mul, div, neg = P.add, P.sub, P.mul, P.div, P.neg
subtract, multiply, divide, negative = P.sub, P.mul, P.div, P.neg
power = pow = P.power
exp, log, sqrt, sin, cos, tan, tanh = P.exp, P.log, P.sqrt, P.sin, P.cos, P.tan, P.tanh
sinh, cosh, arcsin, arccos, arctan = P.sinh, P.cosh, P.arcsin, P.arccos, P.arctan
log1p, expm1, sigmoid, softplus, relu = P.log1p, P.expm1, P.sigmoid, P.softplus, P.relu
erf = P.erf
abs = P.abs_
maximum, minimum, where = P.maximum, P.minimum, P.where
sign, floor, ceil, round = P.sign, P.floor, P.ceil, P.round_
greater, greater_equal, less, less_equal = P.greater, P.greater_equal, P.less, P.less_equal
equal, not_equal, isfinite, isnan = P.equal, P.not_equal, P.isfinite, P.isnan
logical_not, logical_and, logical_or = P.logical_not, P.logical_and, P.logical_or
stop_gradient = P.stop_gradient
matmul = _matmul
one_hot = P.one_hot


def clip(x, min=None, max=None):
    """x limited to [min, max]; the gradient passes where min <= x <= max."""
    return P.clip(x, min, max)


def sum(x, axis=None, keepdims: bool = False):
    """Sum over `axis` (all axes when None)."""
    return P.sum_(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims: bool = False):
    """Largest element along `axis`; ties share the gradient evenly."""
    return P.max_(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims: bool = False):
    """Smallest element along `axis`; ties share the gradient evenly."""
    return P.min_(x, axis=axis, keepdims=keepdims)


def argmax(x, axis=None):
    return P.argmax(x, axis=axis)


def argmin(x, axis=None):
    return P.argmin(x, axis=axis)


def _count(x, axis) -> int:
    shp = _shape(x)
    if axis is None:
        return math.prod(shp)
    axes = (axis,) if isinstance(axis, int) else axis
    return math.prod(shp[a] for a in axes)


def mean(x, axis=None, keepdims: bool = False):
    """Arithmetic mean over `axis`."""
    return P.sum_(x, axis=axis, keepdims=keepdims) / _count(x, axis)


def var(x, axis=None, keepdims: bool = False, ddof: int = 0):
    """Variance over `axis` (divisor n - ddof, as numpy)."""
    d = x - mean(x, axis=axis, keepdims=True)
    n = _count(x, axis)
    return P.sum_(d * d, axis=axis, keepdims=keepdims) / (n - ddof)


def std(x, axis=None, keepdims: bool = False, ddof: int = 0):
    """Standard deviation over `axis`; its gradient at zero spread is 0."""
    return _sqrt0(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


def _sqrt0(s):
    """sqrt(s) for s >= 0 whose gradient at s == 0 is taken to be 0 (not inf * 0 = nan).

    Only an exact zero is special-cased: a nan (the variance of data holding a nan, or over an empty
    axis) stays nan, so std is always sqrt(var)."""
    zero = s == 0
    return where(zero, 0.0, P.sqrt(where(zero, 1.0, s)))


def reshape(x, shape):
    """The same elements in a new shape (one entry may be -1)."""
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(int(s) for s in shape)
    return P.reshape(x, shape)


def transpose(x, axes=None):
    """Axes permuted (reversed when None)."""
    return P.transpose(x, axes=None if axes is None else tuple(axes))


def broadcast_to(x, shape):
    return P.broadcast_to(x, tuple(shape))


def squeeze(x, axis=None):
    """Remove size-1 axes (all of them, or those in `axis`)."""
    shp = _shape(x)
    if axis is None:
        new = tuple(s for s in shp if s != 1)
    else:
        axes = set()
        for a in (axis,) if isinstance(axis, int) else axis:
            if not -len(shp) <= a < len(shp):
                raise ValueError(f"squeeze: axis {a} is out of range for shape {shp}")
            axes.add(a % len(shp))
        for a in axes:
            if shp[a] != 1:
                raise ValueError(f"squeeze: axis {a} has size {shp[a]}, not 1 (shape {shp})")
        new = tuple(s for i, s in enumerate(shp) if i not in axes)
    return P.reshape(x, new)


def expand_dims(x, axis: int):
    """Insert a size-1 axis at `axis`."""
    shp = list(_shape(x))
    if not -(len(shp) + 1) <= axis <= len(shp):
        raise ValueError(f"expand_dims: axis {axis} is out of range for shape {tuple(shp)}")
    axis = axis % (len(shp) + 1)
    shp.insert(axis, 1)
    return P.reshape(x, tuple(shp))


def flatten(x):
    return P.reshape(x, (-1,))


def concatenate(xs: Sequence, axis: int = 0):
    """Join arrays along an existing axis."""
    xs = list(xs)
    if not xs:
        raise ValueError("concatenate: needs at least one array")
    shapes = [_shape(x) for x in xs]
    nd = len(shapes[0])
    if nd == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    ax = axis % nd
    for s in shapes:
        if len(s) != nd or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != ax):
            raise ValueError(f"concatenate: shapes {shapes} do not match except along axis {axis}")
    return P.concatenate(*xs, axis=axis)


def stack(xs: Sequence, axis: int = 0):
    """Join arrays of one shape along a new axis."""
    xs = list(xs)
    if not xs:
        raise ValueError("stack: needs at least one array")
    shapes = {_shape(x) for x in xs}
    if len(shapes) != 1:
        raise ValueError(f"stack: all arrays need the same shape, got {sorted(shapes)}")
    return P.concatenate(*[expand_dims(x, axis) for x in xs], axis=axis)


def softmax(x, axis: int = -1):
    """exp(x) / sum(exp(x)) along `axis`, computed stably."""
    return P.softmax(x, axis=axis)


def log_softmax(x, axis: int = -1):
    """x - logsumexp(x) along `axis`, computed stably."""
    return P.log_softmax(x, axis=axis)


def logsumexp(x, axis=None, keepdims: bool = False):
    """log(sum(exp(x))) along `axis`, computed stably (also at +-inf)."""
    return P.logsumexp(x, axis=axis, keepdims=keepdims)


def dot(x, y):
    """Matrix product for 1-d and 2-d operands (numpy's dot); use matmul for stacks."""
    return _matmul(x, y)


def outer(x, y):
    return reshape(x, (-1, 1)) * reshape(y, (1, -1))


def inner(x, y):
    return sum(x * y, axis=-1)


def trace(x):
    n = _shape(x)[0]
    return sum(x[np.arange(n), np.arange(n)])


def norm(x, axis=None, keepdims: bool = False):
    """Euclidean (Frobenius) norm; its gradient at 0 is 0."""
    return _sqrt0(sum(x * x, axis=axis, keepdims=keepdims))


def take(x, indices, axis=None):
    if _is_batched(indices):  # indices that vary over a vmap batch: indexing a tensor handles them
        x = as_tensor(x)
        if axis is None:
            return reshape(x, (-1,))[indices]
        return x[(slice(None),) * (axis % len(_shape(x))) + (indices,)]
    if axis is None:
        return reshape(x, (-1,))[_index(np.asarray(raw(indices)))]
    idx = [slice(None)] * len(_shape(x))
    idx[axis] = np.asarray(raw(indices))
    return x[tuple(idx)]


def cross_entropy(logits, labels, reduction: str = "mean"):
    """Softmax cross-entropy of `logits` (n, classes) against integer `labels` (n,), fused and stable."""
    if not (_is_box(labels) and labels._trace is not None):  # batched by vmap: keep the box
        labels = np.asarray(raw(labels))
    lshape = _shape(logits)
    values = np.asarray(raw(labels))
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"cross_entropy: labels must be integers, got dtype {values.dtype}")
    if len(lshape) < 1:
        raise ValueError(
            f"cross_entropy: logits need a class axis (shape (n, classes) or (classes,)), got shape "
            f"{lshape}"
        )
    if _shape(labels) != lshape[:-1]:
        raise ValueError(
            f"cross_entropy: logits of shape {lshape} need labels of shape {lshape[:-1]}, "
            f"got {_shape(labels)}"
        )
    if values.size and (values.min() < 0 or values.max() >= lshape[-1]):
        raise ValueError(
            f"cross_entropy: labels must be in [0, {lshape[-1]}), got values from "
            f"{values.min()} to {values.max()}"
        )
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return P.cross_entropy(logits, labels, reduction=reduction)


def linear(x, weight, bias=None):
    """x @ weight.T + bias (PyTorch's layout: weight has shape (out_features, in_features))."""
    xs, ws = _shape(x), _shape(weight)
    if len(ws) != 2 or not xs or xs[-1] != ws[1]:
        raise ValueError(f"linear: input of shape {xs} does not fit weight of shape {ws}")
    if bias is not None and _shape(bias) != (ws[0],):
        raise ValueError(f"linear: bias of shape {_shape(bias)}, expected ({ws[0]},)")
    return P.linear(x, weight) if bias is None else P.linear(x, weight, bias)


def astype(x, dtype):
    return P.cast(x, dtype=np.dtype(dtype))


def _is_box(x) -> bool:
    return type(x) in BOX_TYPES


def _shape(x) -> tuple:
    """The shape of an array, number or box (inside vmap, the shape of one example)."""
    return x.shape if type(x) in BOX_TYPES else np.shape(x)


#: numpy functions that dispatch to wengert when called on tensors (np.sum(t), np.mean(t), ...).
NUMPY_FUNCTIONS = {
    np.sum: lambda a, axis=None, dtype=None, out=None, keepdims=False, **kw: sum(a, axis, keepdims),
    np.mean: lambda a, axis=None, dtype=None, out=None, keepdims=False, **kw: mean(a, axis, keepdims),
    np.max: lambda a, axis=None, out=None, keepdims=False, **kw: max(a, axis, keepdims),
    np.amax: lambda a, axis=None, out=None, keepdims=False, **kw: max(a, axis, keepdims),
    np.min: lambda a, axis=None, out=None, keepdims=False, **kw: min(a, axis, keepdims),
    np.amin: lambda a, axis=None, out=None, keepdims=False, **kw: min(a, axis, keepdims),
    np.var: lambda a, axis=None, dtype=None, out=None, ddof=0, keepdims=False: var(
        a, axis, keepdims, ddof
    ),
    np.std: lambda a, axis=None, dtype=None, out=None, ddof=0, keepdims=False: std(
        a, axis, keepdims, ddof
    ),
    np.reshape: lambda a, shape=None, *args, **kw: reshape(
        a, shape if shape is not None else kw["newshape"]
    ),
    np.transpose: lambda a, axes=None: transpose(a, axes),
    np.concatenate: lambda arrays, axis=0, **kw: concatenate(arrays, axis),
    np.stack: lambda arrays, axis=0, **kw: stack(arrays, axis),
    np.where: lambda c, x=None, y=None: where(c, x, y),
    np.dot: lambda a, b, out=None: dot(a, b),
    np.matmul: lambda a, b, **kw: _matmul(a, b),
    np.clip: lambda a, a_min=None, a_max=None, **kw: clip(a, a_min, a_max),
    np.squeeze: lambda a, axis=None: squeeze(a, axis),
    np.expand_dims: lambda a, axis: expand_dims(a, axis),
    np.outer: lambda a, b, out=None: outer(a, b),
    np.inner: lambda a, b: inner(a, b),
    np.trace: lambda a, **kw: trace(a),
    np.broadcast_to: lambda a, shape, **kw: broadcast_to(a, shape),
    np.shape: lambda a: a.shape,
    np.ndim: lambda a: a.ndim,
    np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
    np.linalg.norm: lambda x, ord=None, axis=None, keepdims=False: norm(x, axis, keepdims),
}
