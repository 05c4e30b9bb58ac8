"""Batching: `vmap`, an interpreter that runs a function written for one example on a whole batch.

`vmap(f)` opens a `BatchTrace` one level above the innermost open transform (so it nests with grad,
jvp, jacfwd, jacrev, hessian and with itself, in any order). Its boxes, `BatchTensor`s, carry a value
whose batch axis is always the leading one while they present the shape of one example to the user's
code. A primitive reaching the trace is handed to its batching rule, a field of its table entry
(`prim.batch_rule`), set by this module:

    rule(size, vals, batched, **params) -> value with the batch axis leading

`vals` are the arguments with this trace's boxes opened and `batched[i]` says which of them carry the
batch axis. The rules call the primitives themselves, so lower levels (an outer vmap, a derivative
being taken) see ordinary primitive applications. Elementwise primitives share one rule (align the
batch axis, pad batched arguments of lower rank so numpy broadcasts them from the right); structural
ones index their axes from the end, the table's convention for leading batch axes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import ops, tree
from .. import tensor as _tensor
from ..core import primitives as P
from ..core.primitive import Elementwise, NonDiff, Structural, ndim, shape
from ..core.primitives import batched_index, batched_perm, full_perm, negative_axes
from ..core.trace import BOX_TYPES, Trace, next_level, raw, unwrap_for
from ..tensor import Tensor
from ..transforms import _Custom

# --- the trace and its boxes ----------------------------------------------------------------------


class BatchTrace(Trace):
    """A level at which every value of its boxes carries a leading batch axis of `size`."""

    __slots__ = ("size",)
    stages = True  # comparisons and other constant-valued primitives must reach this trace too
    batching = True

    def __init__(self, level: int, size: int) -> None:
        super().__init__(level)
        self.size = size

    def process(self, prim, args, kwargs):
        if isinstance(prim, _Custom):  # checkpoint and user rules: batch the function's body
            return prim.fun(*args)
        vals, idx = unwrap_for(self, args)
        rule = getattr(prim, "batch_rule", None)
        if rule is None:
            raise NotImplementedError(f"vmap: no batching rule for primitive '{prim.name}'")
        batched = [False] * len(vals)
        for i in idx:
            batched[i] = True
        return _box(rule(self.size, vals, batched, **kwargs), self)


class BatchTensor(Tensor):
    """A tensor inside `vmap`: one example to the user's code, a whole batch underneath."""

    __slots__ = ()

    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape[1:]

    @property
    def ndim(self) -> int:
        return len(self._value.shape) - 1

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def _concrete(self, what: str):
        raise TypeError(
            f"{what} of a value batched by vmap: inside the function it stands for a whole batch "
            "of values; compute with wengert operations (e.g. wengert.where instead of `if`, and "
            "index wengert tensors rather than numpy arrays), or return the value from the function"
        )

    def numpy(self) -> np.ndarray:
        self._concrete("numpy()")

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        self._concrete("conversion to a numpy array")

    def item(self):
        self._concrete("item()")

    def tolist(self):
        self._concrete("tolist()")

    def __float__(self) -> float:
        self._concrete("float()")

    def __int__(self) -> int:
        self._concrete("int()")

    def __index__(self) -> int:
        self._concrete("use as an index")

    def __bool__(self) -> bool:
        self._concrete("the truth value")

    def __repr__(self) -> str:
        return (
            f"BatchTensor(shape={self.shape}, dtype={self.dtype}, a batch of "
            f"{self._trace.size} at level {self._trace.level})"
        )


BOX_TYPES.add(BatchTensor)


def _box(value, tr: BatchTrace) -> BatchTensor:
    t = object.__new__(BatchTensor)  # no __init__: the fields are set here
    t._value = value
    t._trace = tr
    t._node = None
    t._tangent = None
    return t


# --- vmap ----------------------------------------------------------------------------------------


def vmap(f: Callable, in_axes: Any = 0, out_axes: Any = 0) -> Callable:
    """f mapped over an axis of its arguments: `vmap(f)(xs)[i] == f(xs[i])`, computed in one pass.

    `in_axes` says which axis of each argument is mapped: an int for every argument, None for an
    argument shared by all examples, or a tuple with one entry per argument, each an int, None or a
    nested structure matching that argument (tuples, lists, dicts). `out_axes` places the batch axis
    in the outputs the same way (int, or a structure matching the output). Every mapped axis must have
    the same size; keyword arguments are passed to f unchanged (not mapped). Composes with grad,
    jvp, jacfwd, jacrev, hessian and vmap itself, in either order:
    `vmap(grad(loss), in_axes=(None, 0, 0))(params, xs, ys)` gives per-example gradients.
    """
    _check_axis_spec(in_axes, "in_axes")
    _check_axis_spec(out_axes, "out_axes")

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        leaves, treedef, axes = _input_axes(args, in_axes)
        size = _batch_size(leaves, axes, args)
        tr = BatchTrace(next_level(), size)
        boxed = [x if ax is None else _box(_move_to_front(x, ax), tr) for x, ax in zip(leaves, axes)]
        with tr:
            out = f(*tree.unflatten(treedef, boxed), **kwargs)
        out_leaves, out_def = tree.flatten(out)
        out_ax = _prefix_axes(out_axes, out, "out_axes", "the output")
        return tree.unflatten(
            out_def, [_output(o, ax, tr, i) for i, (o, ax) in enumerate(zip(out_leaves, out_ax))]
        )

    return wrapper


def _check_axis_spec(spec, name: str) -> None:
    if spec is None or (isinstance(spec, int) and not isinstance(spec, bool)):
        return
    if isinstance(spec, (tuple, list)):
        for s in spec:
            _check_axis_spec(s, name)
        return
    if isinstance(spec, dict):
        for s in spec.values():
            _check_axis_spec(s, name)
        return
    raise TypeError(
        f"vmap: {name} must be an int, None, or a tuple/list/dict of them; got {spec!r} "
        f"({type(spec).__name__})"
    )


def _prefix_axes(spec, value, name: str, what: str) -> list:
    """One axis (or None) per leaf of `value`, from `spec`: an int/None for a whole subtree, or a
    structure matching `value` down to such entries."""
    if spec is None or isinstance(spec, int):
        return [spec] * len(tree.flatten(value)[0])
    if isinstance(spec, dict):
        if not isinstance(value, dict) or sorted(spec) != sorted(value):
            raise ValueError(
                f"vmap: {name} {spec!r} does not match the structure of {what} ({type(value).__name__})"
            )
        return [a for k in sorted(spec) for a in _prefix_axes(spec[k], value[k], name, f"{what}[{k!r}]")]
    if not isinstance(value, (tuple, list)) or len(value) != len(spec):
        got = f"{len(value)} entries" if isinstance(value, (tuple, list)) else type(value).__name__
        raise ValueError(
            f"vmap: {name} has {len(spec)} entries but {what} has {got}; give one entry per "
            f"element (an int or None), or a single int/None for all of it"
        )
    return [
        a for i, (s, v) in enumerate(zip(spec, value)) for a in _prefix_axes(s, v, name, f"{what}[{i}]")
    ]


def _input_axes(args: tuple, in_axes):
    leaves, treedef = tree.flatten(args)
    if isinstance(in_axes, (tuple, list)) and len(in_axes) != len(args):
        raise ValueError(
            f"vmap: in_axes has {len(in_axes)} entries but the function got {len(args)} arguments; "
            "give one entry per argument (an int, None, or a structure matching it)"
        )
    if isinstance(in_axes, dict):
        raise TypeError("vmap: in_axes must be an int, None or a tuple with one entry per argument")
    axes = _prefix_axes(in_axes, args, "in_axes", "the arguments")
    names = _leaf_names(args)
    out_axes = []
    for x, ax, name in zip(leaves, axes, names):
        if ax is None:
            out_axes.append(None)
            continue
        if type(x) not in BOX_TYPES and not isinstance(x, (np.ndarray, np.generic, int, float, bool)):
            raise TypeError(
                f"vmap: {name} is a {type(x).__name__}, not an array; mapped arguments must be arrays "
                f"or tensors (use in_axes=None for it to be passed unchanged)"
            )
        nd = ndim(x) if type(x) in BOX_TYPES else np.ndim(x)
        if not -nd <= ax < nd:
            raise ValueError(
                f"vmap: in_axes={ax} for {name} of shape {_shape_of(x)} is out of range "
                f"(it has {nd} axes)"
            )
        out_axes.append(ax % nd)
    if all(a is None for a in out_axes):
        raise ValueError("vmap: in_axes maps no argument (every entry is None); map at least one")
    return leaves, treedef, out_axes


def _leaf_names(args: tuple) -> list[str]:
    names = []
    for i, a in enumerate(args):
        n = len(tree.flatten(a)[0])
        names += (
            [f"argument {i}"]
            if n == 1 and not isinstance(a, (tuple, list, dict))
            else [f"argument {i} (leaf {j})" for j in range(n)]
        )
    return names


def _shape_of(x) -> tuple:
    return shape(x) if type(x) in BOX_TYPES else np.shape(x)


def _batch_size(leaves, axes, args) -> int:
    sizes = {}
    for name, x, ax in zip(_leaf_names(args), leaves, axes):
        if ax is not None:
            sizes[name] = _shape_of(x)[ax]
    if len(set(sizes.values())) > 1:
        shown = ", ".join(f"{n}: {s}" for n, s in sizes.items())
        raise ValueError(f"vmap: the mapped axes have different sizes ({shown}); they must be equal")
    return next(iter(sizes.values()))


def _move_to_front(x, ax: int):
    if type(x) in BOX_TYPES:
        if x._trace is None:
            x = x._value
        else:
            return x if ax == 0 else _moveaxis(x, ax, 0)
    return np.moveaxis(np.asarray(x), ax, 0)


def _moveaxis(x, src: int, dst: int):
    nd = len(shape(x))
    perm = [a for a in range(nd) if a != src]
    perm.insert(dst, src)
    return P.transpose(x, axes=tuple(perm))


def _output(o, ax, tr: BatchTrace, i: int):
    batched = type(o) in BOX_TYPES and o._trace is tr
    if batched:
        v = o._value
    else:
        v = o._value if type(o) in BOX_TYPES and o._trace is None else o
        if type(v) not in BOX_TYPES and np.asarray(v).dtype.kind not in "biuf":
            raise TypeError(
                f"vmap: output {i} of the function is a {type(o).__name__}; the function must "
                "return arrays, tensors or numbers (or tuples, lists and dicts of them)"
            )
        if ax is None:
            return v
        v = _broadcast_batch(v if type(v) in BOX_TYPES else np.asarray(v), tr.size)
        if type(v) not in BOX_TYPES:
            v = np.array(v)  # a writable copy, like every other result
    if ax is None:
        raise ValueError(
            f"vmap: out_axes is None for output {i}, but that output varies over the batch; give it "
            "an axis (or return it from the function only if it does not depend on mapped arguments)"
        )
    nd = len(shape(v))
    if not -nd <= ax < nd:
        raise ValueError(f"vmap: out_axes={ax} is out of range for output {i} with {nd - 1} axes")
    ax %= nd
    if ax == 0:
        return v
    return np.moveaxis(v, 0, ax) if type(v) not in BOX_TYPES else _moveaxis(v, 0, ax)


def _gather(x, index):
    """x[index] where the index holds one integer array that varies over a vmap batch (along one
    axis, the others taken whole): a product with its one-hot rows, so every level below (a
    derivative being taken, an outer vmap) sees ordinary primitives."""
    index = index if isinstance(index, tuple) else (index,)
    whole = [i is Ellipsis or (isinstance(i, slice) and i == slice(None)) for i in index]
    picks = [k for k, w in enumerate(whole) if not w]
    idx = index[picks[0]] if len(picks) == 1 else None
    dots = [k for k, i in enumerate(index) if i is Ellipsis]  # (`in` would compare boxes with ==)
    r = raw(idx)
    kind = r.dtype.kind if hasattr(r, "dtype") else np.result_type(r).kind
    if idx is None or len(dots) > 1 or kind not in "iu":
        ops.check_not_batched(next(i for i in index if ops.is_batched(i)))  # raises
    k = picks[0]
    xs = tuple(x.shape)
    e = dots[0] if dots else len(index)
    p = k if k < e else len(xs) - (len(index) - k)
    if not 0 <= p < len(xs) or len(index) - len(dots) > len(xs):
        raise IndexError(f"index {index} is out of range for a tensor of shape {xs}")
    n = xs[p]
    v = raw(idx)  # (no values to check when a program is being traced)
    if isinstance(v, (np.ndarray, np.generic)) and v.size and (v.min() < -n or v.max() >= n):
        raise IndexError(
            f"index from {v.min()} to {v.max()} is out of bounds for axis {p} with size {n} "
            f"(tensor of shape {xs})"
        )
    idx = P.where(P.less(idx, 0), idx + n, idx)
    hot = ops.one_hot(idx, n, dtype=x.dtype)  # (*idx.shape, n)
    ks = tuple(idx.shape)
    rest = xs[:p] + xs[p + 1 :]
    xm = P.reshape(_moveaxis(x, p, 0) if p else x, new_shape=(n, math.prod(rest)))
    out = P.reshape(P.matmul(P.reshape(hot, new_shape=(-1, n)), xm), new_shape=ks + rest)
    if p:  # the picked axes go where the indexed axis was
        nk = len(ks)
        perm = tuple(range(nk, nk + p)) + tuple(range(nk)) + tuple(range(nk + p, len(ks + rest)))
        out = P.transpose(out, axes=perm)
    return out


_tensor.batched_getitem = _gather


# --- helpers for the rules ---------------------------------------------------------------------------


def _broadcast_batch(v, size: int):
    """An unbatched value with a leading batch axis added (a broadcast view, no copy)."""
    if v is None:
        return v
    if type(v) not in BOX_TYPES:
        v = np.asarray(v)
    return P.broadcast_to(v, new_shape=(size,) + tuple(shape(v)))


def _all_batched(size, vals, batched):
    return [v if b else _broadcast_batch(v, size) for v, b in zip(vals, batched)]


def _pad_to(v, nd: int):
    """A batched value with size-1 axes inserted after the batch axis, to `nd` example axes."""
    s = shape(v)
    if len(s) - 1 >= nd:
        return v
    return P.reshape(v, new_shape=s[:1] + (1,) * (nd - len(s) + 1) + s[1:])


# --- the rules ---------------------------------------------------------------------------------------


def _elementwise_rule(prim):
    """One rule for every elementwise primitive: numpy broadcasts from the right, so a batched
    argument of lower rank than the example's result gets size-1 axes after its batch axis."""

    def rule(size, vals, batched, **kw):
        nd = max(ndim(v) - b for v, b in zip(vals, batched) if v is not None)
        args = [_pad_to(v, nd) if b else v for v, b in zip(vals, batched)]
        return prim(*args, **kw)

    return rule


def _reduction_rule(prim):
    """sum, max, min, logsumexp: the axes counted from the end skip the batch axis."""

    def rule(size, vals, batched, axis=None, keepdims=False):
        (x,) = vals
        return prim(x, axis=negative_axes(axis, ndim(x) - 1), keepdims=keepdims)

    return rule


def _arg_rule(prim):
    """argmax, argmin: axis=None means the flattened example."""

    def rule(size, vals, batched, axis=None, **kw):
        (x,) = vals
        if axis is None:
            return prim(P.reshape(x, new_shape=(size, -1)), axis=-1, **kw)
        return prim(x, axis=negative_axes(axis, ndim(x) - 1)[0], **kw)

    return rule


def _normalise_rule(prim):
    def rule(size, vals, batched, axis=-1):
        (x,) = vals
        return prim(x, axis=negative_axes(axis, ndim(x) - 1)[0])

    return rule


def _reshape_rule(size, vals, batched, new_shape):
    return P.reshape_p(vals[0], new_shape=(size,) + tuple(new_shape))


def _transpose_rule(size, vals, batched, axes=None):
    (x,) = vals
    return P.transpose_p(x, axes=batched_perm(full_perm(axes, ndim(x) - 1), 1))


def _broadcast_to_rule(size, vals, batched, new_shape):
    x = _pad_to(vals[0], len(new_shape))
    return P.broadcast_to_p(x, new_shape=(size,) + tuple(new_shape))


def _advanced_front(index: tuple) -> int | None:
    """Where numpy puts the axes of advanced (array) indices: None when they stay in place; when
    they are separated by a slice, None or Ellipsis numpy moves them to the front, and the number of
    those axes is returned (the batch axis then follows them)."""
    arrays = [i for i in index if isinstance(i, np.ndarray)]
    if not arrays:
        return None
    adv = [k for k, i in enumerate(index) if isinstance(i, (np.ndarray, int, np.integer))]
    if adv[-1] - adv[0] + 1 == len(adv):
        return None
    shapes = [(int(np.count_nonzero(i)),) if i.dtype == bool else i.shape for i in arrays]
    return len(np.broadcast_shapes(*shapes))


def _getitem_rule(size, vals, batched, index):
    out = P.getitem(vals[0], index=batched_index(index, 1))
    front = _advanced_front(index)
    return out if front is None else _moveaxis(out, front, 0)


def _scatter_add_rule(size, vals, batched, index, new_shape):
    g = vals[0]
    front = _advanced_front(index)
    if front is not None:
        g = _moveaxis(g, 0, front)
    return P.scatter_add(g, index=batched_index(index, 1), new_shape=(size,) + tuple(new_shape))


def _concatenate_rule(size, vals, batched, axis=0):
    xs = _all_batched(size, vals, batched)
    return P.concatenate(*xs, axis=negative_axes(axis, ndim(xs[0]) - 1)[0])


def _mT(a):
    nd = len(shape(a))
    return P.transpose(a, axes=tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _matmul_rule(size, vals, batched, **kw):
    x, y = vals
    bx, by = batched
    xs, ys = shape(x)[bx:], shape(y)[by:]  # shapes of one example
    if bx and not by and len(ys) == 2 and len(xs) <= 2:
        # a batch of vectors or matrices against one matrix: fold the batch into rows
        out = P.matmul(P.reshape(x, new_shape=(-1, xs[-1])), y)
        return P.reshape(out, new_shape=(size,) + xs[:-1] + (ys[-1],))
    if by and not bx and len(xs) == 2 and len(ys) == 1:
        return P.matmul(y, _mT(x))  # (B, k) @ (k, n): one matrix product
    # general case: vectors made matrices, both padded so the batch axis leads every broadcast axis
    xvec, yvec = len(xs) == 1, len(ys) == 1
    if xvec:
        x = P.reshape(x, new_shape=shape(x)[: len(shape(x)) - 1] + (1, xs[0]))
    if yvec:
        y = P.reshape(y, new_shape=shape(y) + (1,))
    xs, ys = shape(x)[bx:], shape(y)[by:]
    nd = max(len(xs), len(ys))
    if bx:
        x = _pad_to(x, nd)
    if by:
        y = _pad_to(y, nd)
    # a contraction of length 1 (per-example outer products, as in the gradient of a weight) is a
    # broadcast product: numpy's stacked matmul loops over tiny matrices
    out = P.mul(x, y) if shape(x)[-1] == 1 else P.matmul(x, y)
    s = shape(out)
    if xvec and yvec:
        return P.reshape(out, new_shape=s[:-2])
    if xvec:
        return P.reshape(out, new_shape=s[:-2] + s[-1:])
    if yvec:
        return P.reshape(out, new_shape=s[:-1])
    return out


def _linear_rule(size, vals, batched, **kw):
    x, w, *rest = vals
    bx, bw, *brest = batched
    if not bw and not any(brest):
        return P.linear(x, w, *rest)  # linear maps any leading axes of x
    if bw:  # a weight per example: a batched matrix product
        y, by = _matmul_rule(size, [x, _mT(w)], [bx, True]), True
    else:
        y, by = P.linear(x, w), bx
    return _elementwise_rule(P.add)(size, [y, rest[0]], [by, brest[0]]) if rest else y


def _cross_entropy_rule(size, vals, batched, reduction="mean"):
    logits, labels = _all_batched(size, vals, batched)
    nll = P.cross_entropy(logits, labels, reduction="none")  # (B, *example batch)
    if reduction == "none":
        return nll
    per = tuple(range(1, len(shape(nll))))
    total = P.sum_(nll, axis=per) if per else nll
    if reduction == "sum":
        return total
    n = math.prod(shape(nll)[1:])
    return total if n == 1 else P.mul(total, np.asarray(1.0 / n, dtype=np.result_type(raw(total))))


def _conv_rule(size, vals, batched, stride, padding, dilation, groups):
    x, w = vals
    bx, bw = batched
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    if not bw:  # the batch joins the images
        xs = shape(x)
        y = P.conv(P.reshape(x, new_shape=(-1,) + xs[2:]), w, groups=groups, **kw)
        return P.reshape(y, new_shape=xs[:2] + shape(y)[1:])
    # a kernel per example: the examples become groups of one convolution (images' channels
    # batch-major, so each group of B * groups reads its example's channels with its kernels)
    ws = shape(w)
    if not bx:
        x = _broadcast_batch(x, size)
    xs = shape(x)  # (B, N, C, *spatial)
    nd = len(xs) - 3
    xg = P.reshape(_moveaxis(x, 0, 1), new_shape=(xs[1], size * xs[2]) + xs[3:])
    y = P.conv(xg, P.reshape(w, new_shape=(size * ws[1],) + ws[2:]), groups=size * groups, **kw)
    ys = shape(y)
    y = P.reshape(y, new_shape=(ys[0], size, ws[1]) + ys[2:])
    return P.transpose(y, axes=(1, 0) + tuple(range(2, 3 + nd)))


def _leading_rule(prim, param: str | None = None):
    """Primitives over trailing axes (max_pool, fold): the batch is one more leading axis."""

    def rule(size, vals, batched, **kw):
        if param is not None:
            kw[param] = (size,) + tuple(kw[param])
        return prim(vals[0], **kw)

    return rule


def _cast_rule(size, vals, batched, dtype):
    return P.cast(vals[0], dtype=dtype)


_STRUCTURAL = {
    "sum": _reduction_rule(P.sum_),
    "max": _reduction_rule(P.max_),
    "min": _reduction_rule(P.min_),
    "logsumexp": _reduction_rule(P.logsumexp),
    "reshape": _reshape_rule,
    "transpose": _transpose_rule,
    "broadcast_to": _broadcast_to_rule,
    "getitem": _getitem_rule,
    "scatter_add": _scatter_add_rule,
    "concatenate": _concatenate_rule,
    "matmul": _matmul_rule,
    "linear": _linear_rule,
    "softmax": _normalise_rule(P.softmax),
    "log_softmax": _normalise_rule(P.log_softmax),
    "cross_entropy": _cross_entropy_rule,
    "cast": _cast_rule,
    "conv": _conv_rule,
    "max_pool": _leading_rule(P.max_pool),
    "fold": _leading_rule(P.fold, "new_shape"),
    "argmax": _arg_rule(P.argmax),
    "argmin": _arg_rule(P.argmin),
}


def _register() -> None:
    """Attach a batching rule to every entry of the table."""
    for prim in vars(P).values():
        if not isinstance(prim, (Elementwise, Structural, NonDiff)):
            continue
        rule = _STRUCTURAL.get(prim.name)
        if rule is None and isinstance(prim, (Elementwise, NonDiff)):
            rule = _elementwise_rule(prim)
        if rule is not None:  # (one without a rule raises at its first use under vmap, naming it)
            prim.batch_rule = rule


_register()

__all__ = ["BatchTensor", "BatchTrace", "vmap"]
