"""The functional API on tensors, arrays and numbers: the primitives, and functions composed of them.

Every function here accepts wengert Tensors, numpy arrays and Python numbers. Composite functions
(mean, var, stack, ...) are written with primitives, so they need no derivative rules of their own.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .core import primitives as P
from .core.trace import BOX_TYPES, is_abstract, raw

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
silu = P.silu


def _shape(x) -> tuple:
    """The shape of an array, box or number (inside vmap, the shape of one example); numpy's np.shape
    costs a Python-level dispatch."""
    try:
        return x.shape
    except AttributeError:
        return np.shape(x)


def matmul(x, y):
    """Matrix product with numpy's rules (1-d operands, broadcast batch axes); shapes checked here."""
    xs, ys = _shape(x), _shape(y)
    if len(xs) == 0 or len(ys) == 0:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes {xs} and {ys}")
    k1 = xs[-1]
    k2 = ys[-2] if len(ys) >= 2 else ys[0]
    if k1 != k2:
        raise ValueError(
            f"matmul: shapes {xs} and {ys} do not match: inner dimensions {k1} and {k2} differ"
        )
    return P.matmul(x, y)


def is_batched(x) -> bool:
    """True for a box of a vmap's batching trace, or a box holding one."""
    while type(x) in BOX_TYPES:
        if getattr(x._trace, "batching", False):
            return True
        x = x._value
    return False


def has_batched(index) -> bool:
    """True when an indexing key holds an index that varies over a vmap batch."""
    return any(is_batched(i) for i in (index if type(index) is tuple else (index,)))


def check_not_batched(i) -> None:
    if is_batched(i):
        raise NotImplementedError(
            "this use of an index that varies over a vmap batch is not supported; index a tensor "
            "with one integer array (x[i], x[:, i], x[..., i]), or select with wengert.one_hot or "
            "wengert.where (wengert.cross_entropy for labels)"
        )


def index_key(index) -> tuple:
    """An indexing key as the getitem primitive takes it: a tuple, with tensors and lists as arrays."""
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    for i in index:
        if type(i) in BOX_TYPES:
            check_not_batched(i)
            i = np.asarray(raw(i))
        elif isinstance(i, list):
            i = np.asarray(i)
        out.append(i)
    return tuple(out)


_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _in_range(y: np.ndarray, k: int) -> bool:
    """Whether every integer label is in [0, k): one comparison for one label, else one reduction
    (seen as unsigned, a negative label is larger than any class index)."""
    if y.size == 1:
        return 0 <= y.item() < k
    unsigned = _UNSIGNED.get(y.dtype.itemsize) if y.dtype.kind == "i" else None
    return bool(np.maximum.reduce(y if unsigned is None else y.view(unsigned), axis=None) < k)


def check_labels(labels, num_classes: int, who: str, shape: tuple | None = None, name: str = "logits"):
    """`labels` as an integer array of class indices in [0, num_classes), or a clear error naming `who`.

    With `shape` (the shape of the scores, classes last), the labels must have its leading shape.
    The one check of labels for one_hot, cross_entropy and nll_loss.
    """
    if type(labels) is np.ndarray and labels.dtype.kind in "iu":  # the common case, first
        traced = batched = False
        y = labels
    else:
        traced = is_abstract(labels)  # traced to a program: its values are only known when it runs
        batched = not traced and is_batched(labels)  # batched by vmap: checked on every example
        y = labels if traced else np.asarray(raw(labels))
    if y.dtype.kind not in "iu":
        if y.size:
            raise TypeError(f"{who}: labels must be integers, got dtype {y.dtype}")
        y = y.astype(np.intp)  # [] is float64 to numpy: an empty list of labels is fine
    yshape = tuple(labels.shape) if batched else y.shape  # (inside vmap: one example's)
    if shape is not None and yshape != tuple(shape[:-1]):
        verb = "need" if name.endswith("s") else "needs"
        raise ValueError(
            f"{who}: {name} of shape {tuple(shape)} {verb} labels of shape {tuple(shape[:-1])}, "
            f"got {yshape}"
        )
    if y.size and not traced and not _in_range(y, num_classes):
        lo, hi = np.minimum.reduce(y, axis=None), np.maximum.reduce(y, axis=None)
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"{who}: labels must be in [0, {num_classes}), got values from {lo} to {hi} "
                f"(label {bad} out of range for num_classes={num_classes})"
            )
    return labels if batched else y


def one_hot(labels, num_classes: int, dtype=np.float32) -> np.ndarray:
    """Rows of the identity: one_hot([2, 0], 3) -> [[0, 0, 1], [1, 0, 0]] (shape labels.shape +
    (num_classes,))."""
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, (int, np.integer))
        or num_classes < 1
    ):
        raise ValueError(f"one_hot: num_classes must be a positive integer, got {num_classes!r}")
    y = check_labels(labels, num_classes, "one_hot")
    if is_abstract(y) or is_batched(y):  # traced or batched: compare with the class indices
        hit = P.equal(P.reshape(y, tuple(y.shape) + (1,)), np.arange(num_classes))
        return P.cast(hit, dtype=np.dtype(dtype))
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


def gelu(x, approximate: str = "none"):
    """x Phi(x) with Phi the standard normal CDF (exact, through erf); approximate="tanh" gives
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as PyTorch's option of that name."""
    if approximate == "none":
        return P.gelu(x)
    if approximate != "tanh":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * x * (1.0 + P.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def leaky_relu(x, negative_slope: float = 0.01):
    """x where x > 0, negative_slope * x elsewhere (the slope may be an array: PReLU)."""
    return P.leaky_relu(x, negative_slope)


def clip(x, min=None, max=None):
    """x limited to [min, max]; the gradient passes where min <= x <= max."""
    return P.clip(x, min, max)


def _dim(axis, keepdims, dim, keepdim, name: str):
    """Resolve PyTorch's `dim=`/`keepdim=` and numpy's `axis=`/`keepdims=` (either spelling works)."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{name}: give axis= or dim=, not both")
        axis = tuple(dim) if isinstance(dim, list) else dim
    elif isinstance(axis, list):
        axis = tuple(axis)
    return axis, keepdims if keepdim is None else bool(keepdim)


class MaxMin(NamedTuple):
    """What `max`/`min` return when called with PyTorch's `dim=`: the values and their indices."""

    values: Any
    indices: Any


def sum(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None):
    """Sum over `axis` (all axes when None); `dim`/`keepdim` are accepted as PyTorch spells them."""
    axis, keepdims = _dim(axis, keepdims, dim, keepdim, "sum")
    return P.sum_(x, axis=axis, keepdims=keepdims)


def _extremum(prim, arg, x, axis, keepdims, dim, keepdim, name):
    torch_style = dim is not None
    axis, keepdims = _dim(axis, keepdims, dim, keepdim, name)
    values = prim(x, axis=axis, keepdims=keepdims)
    if not torch_style:
        return values
    indices = arg(x, axis=axis)
    if keepdims:
        indices = P.reshape(indices, np.shape(raw(values)))
    return MaxMin(values, indices)


def max(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None):
    """Largest element along `axis`; ties share the gradient evenly. Called with PyTorch's `dim=`, it
    returns PyTorch's (values, indices) pair instead of the values alone."""
    return _extremum(P.max_, P.argmax, x, axis, keepdims, dim, keepdim, "max")


def min(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None):
    """Smallest element along `axis`; ties share the gradient evenly. Called with PyTorch's `dim=`, it
    returns PyTorch's (values, indices) pair instead of the values alone."""
    return _extremum(P.min_, P.argmin, x, axis, keepdims, dim, keepdim, "min")


def argmax(x, axis=None, *, dim=None, keepdim=None):
    axis, keepdims = _dim(axis, False, dim, keepdim, "argmax")
    out = P.argmax(x, axis=axis)
    return expand_dims(out, axis) if keepdims and axis is not None else out


def argmin(x, axis=None, *, dim=None, keepdim=None):
    axis, keepdims = _dim(axis, False, dim, keepdim, "argmin")
    out = P.argmin(x, axis=axis)
    return expand_dims(out, axis) if keepdims and axis is not None else out


def _count(x, axis) -> int:
    shp = _shape(x)
    if axis is None:
        return math.prod(shp)
    axes = (axis,) if isinstance(axis, int) else axis
    return math.prod(shp[a] for a in axes)


def mean(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None):
    """Arithmetic mean over `axis`."""
    axis, keepdims = _dim(axis, keepdims, dim, keepdim, "mean")
    return P.sum_(x, axis=axis, keepdims=keepdims) / _count(x, axis)


def _ddof(ddof, dim, correction, unbiased) -> int:
    # numpy's default divisor is n (ddof=0); PyTorch's is n - 1. The PyTorch spellings (dim=,
    # correction=, unbiased=) get PyTorch's meaning, numpy's spellings numpy's.
    if correction is not None:
        return int(correction)
    if unbiased is not None:
        return int(bool(unbiased))
    if ddof is None:
        return 1 if dim is not None else 0
    return int(ddof)


def var(
    x,
    axis=None,
    keepdims: bool = False,
    ddof=None,
    *,
    dim=None,
    keepdim=None,
    correction=None,
    unbiased=None,
):
    """Variance over `axis` with divisor n - ddof (numpy: ddof=0 by default). With PyTorch's `dim=`
    (and no ddof) the divisor is n - 1, as in PyTorch; `correction=`/`unbiased=` choose it explicitly."""
    ddof = _ddof(ddof, dim, correction, unbiased)
    axis, keepdims = _dim(axis, keepdims, dim, keepdim, "var")
    d = x - mean(x, axis=axis, keepdims=True)
    n = _count(x, axis)
    return P.sum_(d * d, axis=axis, keepdims=keepdims) / (n - ddof)


def std(
    x,
    axis=None,
    keepdims: bool = False,
    ddof=None,
    *,
    dim=None,
    keepdim=None,
    correction=None,
    unbiased=None,
):
    """Standard deviation over `axis` (divisor as for `var`); its gradient at zero spread is 0."""
    ddof = _ddof(ddof, dim, correction, unbiased)
    axis, keepdims = _dim(axis, keepdims, dim, keepdim, "std")
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


def squeeze(x, axis=None, *, dim=None):
    """Remove size-1 axes (all of them, or those in `axis`/`dim`)."""
    axis, _ = _dim(axis, False, dim, None, "squeeze")
    shp = _shape(x)  # of one example when batched by vmap
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


def expand_dims(x, axis: int | None = None, *, dim: int | None = None):
    """Insert a size-1 axis at `axis` (PyTorch: `unsqueeze(x, dim)`)."""
    axis, _ = _dim(axis, False, dim, None, "expand_dims")
    if axis is None:
        raise TypeError("expand_dims: the axis (dim) where the new axis goes is required")
    shp = list(_shape(x))  # of one example when batched by vmap
    if not -(len(shp) + 1) <= axis <= len(shp):
        raise ValueError(f"expand_dims: axis {axis} is out of range for shape {tuple(shp)}")
    axis = axis % (len(shp) + 1)
    shp.insert(axis, 1)
    return P.reshape(x, tuple(shp))


unsqueeze = expand_dims


def flatten(x, start_dim: int = 0, end_dim: int = -1):
    """Merge the axes start_dim..end_dim (inclusive) into one; all of them by default."""
    shp = np.shape(raw(x))
    nd = builtins.max(len(shp), 1)
    for d in (start_dim, end_dim):
        if not -nd <= d < nd:
            raise ValueError(f"flatten: dim {d} is out of range for shape {shp}")
    if not shp:
        return P.reshape(x, (1,))
    a, b = start_dim % nd, end_dim % nd
    if a > b:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {shp})")
    return P.reshape(x, shp[:a] + (math.prod(shp[a : b + 1]),) + shp[b + 1 :])


def permute(x, *dims):
    """Axes reordered: axis i of the result is axis dims[i] of x (PyTorch's permute)."""
    if len(dims) == 1 and not isinstance(dims[0], (int, np.integer)):
        dims = tuple(dims[0])
    nd = len(np.shape(raw(x)))
    if sorted(int(d) % builtins.max(nd, 1) for d in dims) != list(range(nd)) or len(dims) != nd:
        raise ValueError(
            f"permute: {tuple(dims)} is not a permutation of the {nd} axes of shape {np.shape(raw(x))}"
        )
    return P.transpose(x, axes=tuple(int(d) for d in dims))


def swapaxes(x, axis1: int, axis2: int):
    """x with two axes exchanged (PyTorch's transpose(dim0, dim1))."""
    nd = len(np.shape(raw(x)))
    perm = list(range(nd))
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return P.transpose(x, axes=tuple(perm))


def clone(x):
    """A copy of x with its own memory; gradients flow through it (PyTorch's clone)."""
    return P.copy(x)


def concatenate(xs: Sequence, axis: int = 0, *, dim: int | None = None):
    """Join arrays along an existing axis (`cat` is PyTorch's name)."""
    axis, _ = _dim(None if dim is not None else axis, False, dim, None, "concatenate")
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


def cat(tensors: Sequence, dim: int = 0):
    """PyTorch's name for `concatenate`."""
    return concatenate(tensors, axis=dim)


def stack(xs: Sequence, axis: int = 0, *, dim: int | None = None):
    """Join arrays of one shape along a new axis."""
    axis, _ = _dim(None if dim is not None else axis, False, dim, None, "stack")
    xs = list(xs)
    if not xs:
        raise ValueError("stack: needs at least one array")
    shapes = {_shape(x) for x in xs}
    if len(shapes) != 1:
        raise ValueError(f"stack: all arrays need the same shape, got {sorted(shapes)}")
    return P.concatenate(*[expand_dims(x, axis) for x in xs], axis=axis)


def softmax(x, axis: int = -1, *, dim: int | None = None):
    """exp(x) / sum(exp(x)) along `axis`, computed stably."""
    axis, _ = _dim(None if dim is not None else axis, False, dim, None, "softmax")
    return P.softmax(x, axis=axis)


def log_softmax(x, axis: int = -1, *, dim: int | None = None):
    """x - logsumexp(x) along `axis`, computed stably."""
    axis, _ = _dim(None if dim is not None else axis, False, dim, None, "log_softmax")
    return P.log_softmax(x, axis=axis)


def logsumexp(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None):
    """log(sum(exp(x))) along `axis`, computed stably (also at +-inf)."""
    axis, keepdims = _dim(axis, keepdims, dim, keepdim, "logsumexp")
    return P.logsumexp(x, axis=axis, keepdims=keepdims)


def dot(x, y):
    """Matrix product for 1-d and 2-d operands (numpy's dot); use matmul for stacks."""
    return matmul(x, y)


def outer(x, y):
    return reshape(x, (-1, 1)) * reshape(y, (1, -1))


def inner(x, y):
    return sum(x * y, axis=-1)


def trace(x):
    n = _shape(x)[0]
    return sum(x[np.arange(n), np.arange(n)])


def norm(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None):
    """Euclidean (Frobenius) norm; its gradient at 0 is 0."""
    axis, keepdims = _dim(axis, keepdims, dim, keepdim, "norm")
    return _sqrt0(sum(x * x, axis=axis, keepdims=keepdims))


def take(x, indices, axis=None):
    if is_batched(indices):  # indices that vary over a vmap batch: indexing a tensor handles them
        from .tensor import as_tensor

        x = as_tensor(x)
        if axis is None:
            return reshape(x, (-1,))[indices]
        return x[(slice(None),) * (axis % len(_shape(x))) + (indices,)]
    if axis is None:
        return reshape(x, (-1,))[index_key(np.asarray(raw(indices)))]
    idx = [slice(None)] * len(_shape(x))
    idx[axis] = np.asarray(raw(indices))
    return x[tuple(idx)]


def cross_entropy(logits, labels, reduction: str = "mean"):
    """Softmax cross-entropy of `logits` (n, classes) against integer `labels` (n,), fused and stable."""
    lshape = _shape(logits)
    if len(lshape) < 1:
        raise ValueError(
            f"cross_entropy: logits need a class axis (shape (n, classes) or (classes,)), got shape "
            f"{lshape}"
        )
    labels = check_labels(labels, lshape[-1], "cross_entropy", lshape)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return P.cross_entropy(logits, labels, reduction=reduction)


def linear(x, weight, bias=None):
    """x @ weight.T + bias (PyTorch's layout: weight has shape (out_features, in_features))."""
    try:  # (tensors and arrays: their shapes without a helper call each)
        xs, ws = x.shape, weight.shape
    except AttributeError:
        xs, ws = _shape(x), _shape(weight)
    if len(ws) != 2 or not xs or xs[-1] != ws[1]:
        raise ValueError(f"linear: input of shape {xs} does not fit weight of shape {ws}")
    if bias is not None and getattr(bias, "shape", None) != (ws[0],) and _shape(bias) != (ws[0],):
        raise ValueError(f"linear: bias of shape {_shape(bias)}, expected ({ws[0]},)")
    return P.linear(x, weight) if bias is None else P.linear(x, weight, bias)


def astype(x, dtype):
    return P.cast(x, dtype=np.dtype(dtype))


def _is_box(x) -> bool:
    return type(x) in BOX_TYPES


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
    np.matmul: lambda a, b, **kw: matmul(a, b),
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
