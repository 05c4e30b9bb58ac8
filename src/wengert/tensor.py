"""`Tensor`: a numpy array that records the operations applied to it.

A tensor created with `requires_grad=True` belongs to the eager tape (PyTorch's convention): every
operation on it is recorded, and `backward()` accumulates gradients into the `.grad` of such leaves.
Inside the function transforms (`grad`, `jvp`, ...) the same class boxes values of a transform's level,
so user code is written once against one API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import inplace, ops, seeding
from .core import graph, trace, versions
from .core import primitives as P
from .core.eager import EagerTrace
from .core.forward import ForwardTrace
from .core.graph import ReverseTrace, leaf_node
from .core.operators import Arithmetic
from .core.trace import BOX_TYPES, EAGER_LEVEL, STATE, raw

float32 = np.float32
float64 = np.float64
int64 = np.int64
int32 = np.int32
bool_ = np.bool_


class Tensor(Arithmetic):
    """An n-dimensional array with automatic differentiation.

    Create tensors with `wengert.tensor(data, requires_grad=...)`. Arithmetic, `@`, indexing and the
    functions of `wengert` (exp, sum, softmax, ...) accept tensors, numpy arrays and numbers alike.
    """

    __slots__ = ("__weakref__", "_node", "_tangent", "_trace", "_value")
    __array_priority__ = 1000.0

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        src = tensor(data, requires_grad=requires_grad, dtype=dtype)
        self._value, self._trace, self._node, self._tangent = (
            src._value,
            src._trace,
            src._node,
            None,
        )

    # --- properties -----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        v = raw(self)
        try:
            return v.dtype
        except AttributeError:  # a Python number inside a transform
            return np.result_type(v)

    @property
    def ndim(self) -> int:
        return len(self._value.shape)

    @property
    def size(self) -> int:
        """numpy's element count (an int); called, `t.size()` or `t.size(dim)`, PyTorch's shape."""
        return _Size(int(np.prod(self._value.shape)), self._value.shape)

    @property
    def requires_grad(self) -> bool:
        """True for tensors on the eager tape: leaves made with requires_grad and results of them."""
        return self._trace is EAGER

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if flag and self._trace is None:
            _check_float(self._value, "requires_grad")
            self._trace, self._node = EAGER, leaf_node(self.shape, self.dtype)
        elif not flag and self._trace is EAGER:
            if self._node.prim is not None:
                raise RuntimeError(
                    "requires_grad can only be turned off on a leaf tensor; use .detach() to get "
                    "a copy of a computed tensor outside the graph"
                )
            self._trace, self._node = None, None

    def requires_grad_(self, flag: bool = True) -> Tensor:
        self.requires_grad = flag
        return self

    @property
    def is_leaf(self) -> bool:
        return self._trace is not EAGER or self._node.prim is None

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient of a leaf tensor after `backward()` (None before)."""
        node = self._node
        if self._trace is EAGER and node.prim is None and node.grad is not None:
            g = node.grad
            if type(g) in BOX_TYPES:  # backward's `gradient` was a box: a transform records it
                return g
            if node.owned is not g:
                # handed out as an array this leaf alone owns (copied once): backward may give
                # several leaves the same cotangent array (x + y), or a read-only broadcast view,
                # and `w.grad.zero_()` or `w.grad += g` must change w's gradient only
                g = node.grad = node.owned = np.array(g, copy=True)
            t = _new(Tensor)
            t._value, t._trace, t._node, t._tangent = g, None, None, None
            return t
        return None

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is None:
            if self._trace is EAGER and self._node.prim is None:
                self._node.grad = None
            return
        if self._trace is not EAGER or self._node.prim is not None:
            raise RuntimeError("only leaf tensors with requires_grad=True hold a .grad")
        g = np.asarray(raw(value), dtype=self.dtype)
        if g.shape != self.shape:
            raise ValueError(f"grad of shape {g.shape} assigned to a tensor of shape {self.shape}")
        self._node.grad = g

    @property
    def data(self) -> Tensor:
        """The same values outside the graph (shares memory)."""
        return self.detach()

    @data.setter
    def data(self, value: Any) -> None:
        v = np.asarray(raw(value))
        if v.shape != self.shape:
            raise ValueError(f"data of shape {v.shape} assigned to a tensor of shape {self.shape}")
        self._value = v.astype(self.dtype, copy=False)

    # --- conversion -----------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a numpy array (shares memory; no gradient flows through it)."""
        v = self._value
        return v if type(v) is np.ndarray else np.asarray(raw(v))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        a = np.asarray(raw(self))
        if dtype is not None:
            a = a.astype(dtype, copy=False)
        return a.copy() if copy else a

    def _concrete(self, what: str) -> None:
        """Refuse to turn a value traced by a transform into a Python number: the derivative would be
        silently lost. Eager tensors (and constants) convert freely."""
        tr = self._trace
        if tr is not None and tr is not EAGER and not trace.is_abstract(self):
            # (a value traced to a program raises its own ConcretizationError, naming the line)
            raise TypeError(
                f"{what} on a value traced by a function transform (grad, jvp, jacobian, ...) would "
                "drop its derivative. Keep it a wengert value (use wengert.where instead of an "
                "`if` on it), or take x.detach() first if the derivative is meant to be dropped"
            )

    def item(self) -> float | int | bool:
        self._concrete("item()")
        v = np.asarray(raw(self))
        if v.size != 1:
            raise ValueError(f"item() needs a tensor with one element; this one has shape {v.shape}")
        return v.item()

    def tolist(self) -> Any:
        return np.asarray(raw(self)).tolist()

    def __float__(self) -> float:
        self._concrete("float()")
        return float(self.item())

    def __int__(self) -> int:
        self._concrete("int()")
        return int(self.item())

    def __index__(self) -> int:
        return int(np.asarray(raw(self)).__index__())

    def __bool__(self) -> bool:
        self._concrete("bool()")
        return bool(np.asarray(raw(self)))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def detach(self) -> Tensor:
        """The same values as a constant: no trace, no gradient (shares memory)."""
        return constant(raw(self))

    def astype(self, dtype: Any) -> Tensor:
        return P.cast(self, dtype=np.dtype(dtype))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def __repr__(self) -> str:
        if trace.is_abstract(self):  # being traced to a program: it has a shape and dtype, no data
            return f"tensor(traced {raw(self)!r})"
        v = np.asarray(raw(self))
        body = np.array2string(v, separator=", ", prefix="tensor(")
        extras = []
        if v.dtype != np.float32:
            extras.append(f"dtype={v.dtype}")
        if self._trace is EAGER:
            extras.append("requires_grad=True")
        elif self._trace is not None:
            extras.append(f"traced at level {self._trace.level}")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __hash__ = object.__hash__

    # --- backward -------------------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Reverse accumulation from this tensor: add d(self)/d(leaf) to every leaf's `.grad`.

        `gradient` seeds the sweep (the vector of a vector-Jacobian product); it may be omitted for a
        tensor with one element. Gradients accumulate across calls, as in PyTorch: reset them with
        `Module.zero_grad()`/`optimizer.zero_grad()` or `t.grad = None`. The graph's intermediates
        are freed afterwards unless `retain_graph=True`.
        """
        if self._trace is not EAGER:
            if self._trace is None:
                raise RuntimeError(
                    "backward() on a tensor that does not require grad: none of the tensors it was "
                    "computed from had requires_grad=True (or it was computed under no_grad())"
                )
            raise RuntimeError(
                "backward() inside a function transform; return the value and use "
                "wengert.grad/vjp on the function instead"
            )
        value = self._value  # the eager tape records arrays
        if gradient is None:
            if value.size != 1:
                raise RuntimeError(
                    f"backward() on a tensor of shape {value.shape} needs `gradient`: pass an "
                    "array of that shape (e.g. wengert.ones_like(t)), or reduce the tensor to one "
                    "element first (t.sum())"
                )
            seed = np.ones(value.shape, dtype=value.dtype) if value.ndim else np.array(1, value.dtype)
        elif type(gradient) in BOX_TYPES and gradient._trace not in (None, EAGER):
            # A seed traced by a transform (backward inside `grad`, `jvp`...): the rules then run on
            # its boxes and are recorded, so the leaves' gradients can be differentiated again.
            seed = gradient
            if tuple(seed.shape) != value.shape:
                raise ValueError(
                    f"backward(): gradient of shape {tuple(seed.shape)} for a tensor of shape "
                    f"{value.shape}; they must match"
                )
        else:
            seed = np.asarray(raw(gradient), dtype=value.dtype)
            if seed.shape != value.shape:
                raise ValueError(
                    f"backward(): gradient of shape {seed.shape} for a tensor of shape "
                    f"{value.shape}; they must match"
                )
        graph.backward([(self._node, seed)], retain_graph=retain_graph)

    # --- operators ------------------------------------------------------------------------------
    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __lt__(self, other):
        return P.less(self, other)

    def __le__(self, other):
        return P.less_equal(self, other)

    def __gt__(self, other):
        return P.greater(self, other)

    def __ge__(self, other):
        return P.greater_equal(self, other)

    def __eq__(self, other):  # type: ignore[override]
        return P.equal(self, other)

    def __ne__(self, other):  # type: ignore[override]
        return P.not_equal(self, other)

    def __invert__(self):
        return P.logical_not(self)

    def __and__(self, other):
        return P.logical_and(self, other)

    def __or__(self, other):
        return P.logical_or(self, other)

    def __getitem__(self, index):
        if batched_getitem is not None and ops.has_batched(index):
            return batched_getitem(self, index)
        return P.getitem(self, index=ops.index_key(index))

    def __setitem__(self, index, value) -> None:
        if self._trace is not None and not (self._trace is EAGER and not STATE.grad_enabled):
            raise RuntimeError(
                "in-place assignment into a tensor that is being differentiated would change a "
                "value the graph has recorded; build a new tensor instead, e.g. "
                "wengert.where(mask, new_values, t), or wengert.concatenate/stack of pieces"
            )
        inplace.writable_value(self, "__setitem__")[ops.index_key(index)] = raw(value)
        versions.mark_written(self._value, "__setitem__")

    # --- in-place updates (see wengert.inplace for when they are recorded or written) ------------
    def __iadd__(self, other):
        return inplace.update(self, "add_", other, operator=True)

    def __isub__(self, other):
        return inplace.update(self, "sub_", other, operator=True)

    def __imul__(self, other):
        return inplace.update(self, "mul_", other, operator=True)

    def __itruediv__(self, other):
        return inplace.update(self, "div_", other, operator=True)

    def add_(self, other, alpha=1) -> Tensor:
        return inplace.update(self, "add_", other if alpha == 1 else other * alpha)

    def sub_(self, other, alpha=1) -> Tensor:
        return inplace.update(self, "sub_", other if alpha == 1 else other * alpha)

    def mul_(self, other) -> Tensor:
        return inplace.update(self, "mul_", other)

    def div_(self, other) -> Tensor:
        return inplace.update(self, "div_", other)

    def clamp_(self, min=None, max=None) -> Tensor:
        return inplace.update(self, "clamp_", min, max)

    clip_ = clamp_

    def fill_(self, value) -> Tensor:
        return inplace.update(self, "fill_", value)

    def zero_(self) -> Tensor:
        return inplace.update(self, "zero_")

    def copy_(self, src) -> Tensor:
        return inplace.update(self, "copy_", src)

    # --- numpy interoperability: np.exp(t), ndarray * t, np.sum(t) -------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        prim = _UFUNCS.get(ufunc)
        if method == "__call__" and not kwargs and prim is not None:
            return prim(*inputs)
        if any(type(a) in BOX_TYPES and a._trace is not None for a in inputs):
            raise TypeError(
                f"numpy's {ufunc.__name__}{'' if method == '__call__' else '.' + method} is not "
                "differentiable by wengert; use the wengert function of the same name"
            )
        args = [raw(a) for a in inputs]
        out = getattr(ufunc, method)(*args, **kwargs)
        return constant(out) if isinstance(out, np.ndarray) else out

    def __array_function__(self, func, types, args, kwargs):
        fn = ops.NUMPY_FUNCTIONS.get(func)
        if fn is not None:
            return fn(*args, **kwargs)
        if any(type(a) in BOX_TYPES and a._trace is not None for a in _flat(args)):
            raise TypeError(
                f"numpy.{func.__name__} is not differentiable by wengert; use the wengert "
                "function of the same name, or compute it from wengert operations"
            )
        out = func(*_raw_tree(args), **_raw_tree(kwargs))
        return constant(out) if isinstance(out, np.ndarray) else out

    # --- methods ---------------------------------------------------------------------------------
    def clip(self, min=None, max=None):
        return P.clip(self, min, max)

    clamp = clip

    # numpy's axis=/keepdims= and PyTorch's dim=/keepdim= are both accepted (see docs/pytorch.md)
    def sum(self, axis=None, keepdims=False, dtype=None, out=None, *, dim=None, keepdim=None):
        _no_out(out, "sum")
        return ops.sum(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def mean(self, axis=None, keepdims=False, dtype=None, out=None, *, dim=None, keepdim=None):
        _no_out(out, "mean")
        return ops.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def var(self, axis=None, keepdims=False, ddof=None, dtype=None, out=None, **torch_kw):
        _no_out(out, "var")
        return ops.var(self, axis, keepdims, ddof, **torch_kw)

    def std(self, axis=None, keepdims=False, ddof=None, dtype=None, out=None, **torch_kw):
        _no_out(out, "std")
        return ops.std(self, axis, keepdims, ddof, **torch_kw)

    def max(self, axis=None, keepdims=False, out=None, *, dim=None, keepdim=None):
        _no_out(out, "max")
        return ops.max(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def min(self, axis=None, keepdims=False, out=None, *, dim=None, keepdim=None):
        _no_out(out, "min")
        return ops.min(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmax(self, axis=None, out=None, *, dim=None, keepdim=None):
        return ops.argmax(self, axis, dim=dim, keepdim=keepdim)

    def argmin(self, axis=None, out=None, *, dim=None, keepdim=None):
        return ops.argmin(self, axis, dim=dim, keepdim=keepdim)

    def reshape(self, *shape):
        return ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return ops.flatten(self, start_dim, end_dim)

    def clone(self) -> Tensor:
        """A copy with its own memory; gradients flow through it."""
        return P.copy(self)

    def numel(self) -> int:
        return int(np.prod(self._value.shape))

    def dim(self) -> int:
        return self.ndim

    def t(self) -> Tensor:
        """The transpose of a matrix (vectors and 0-d tensors are returned as they are)."""
        if self.ndim > 2:
            raise ValueError(f"t(): expects a tensor with at most 2 dimensions, got shape {self.shape}")
        return P.transpose(self) if self.ndim == 2 else self

    def permute(self, *dims):
        return ops.permute(self, *dims)

    def swapaxes(self, axis1: int, axis2: int):
        return ops.swapaxes(self, axis1, axis2)

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes
        return P.transpose(self, axes=tuple(axes) if axes else None)

    @property
    def T(self) -> Tensor:
        return P.transpose(self)

    def squeeze(self, axis=None, *, dim=None):
        return ops.squeeze(self, axis, dim=dim)

    def expand_dims(self, axis=None, *, dim=None):
        return ops.expand_dims(self, axis, dim=dim)

    unsqueeze = expand_dims

    def matmul(self, other):
        return ops.matmul(self, other)

    dot = matmul

    def softmax(self, axis=-1, *, dim=None):
        return ops.softmax(self, axis, dim=dim)

    def log_softmax(self, axis=-1, *, dim=None):
        return ops.log_softmax(self, axis, dim=dim)

    def logsumexp(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return ops.logsumexp(self, axis, keepdims, dim=dim, keepdim=keepdim)


BOX_TYPES.add(Tensor)
_new = object.__new__


class _Size(int):
    """numpy's `size` (the number of elements) that, called, answers PyTorch's `size()` (the shape)."""

    def __new__(cls, n: int, shape: tuple) -> _Size:
        self = super().__new__(cls, n)
        self._shape = shape
        return self

    def __call__(self, dim: int | None = None):
        return self._shape if dim is None else self._shape[dim]


def reverse_box(value, tr, node) -> Tensor:
    """A tensor of reverse trace `tr` (None: a constant) holding `value`, recorded as graph `node`."""
    t = _new(Tensor)
    t._value = value
    t._trace = tr
    t._node = node
    t._tangent = None
    return t


def forward_box(value, tr, tangent) -> Tensor:
    """A tensor of forward trace `tr` holding `value` with its `tangent`."""
    t = _new(Tensor)
    t._value = value
    t._trace = tr
    t._node = None
    t._tangent = tangent
    return t


def constant(value) -> Tensor:
    """`value` (an array, not copied) as a constant tensor: no trace, no gradient."""
    return reverse_box(value, None, None)


EAGER = EagerTrace(EAGER_LEVEL, reverse_box)
trace.const_box = constant
trace.eager = EAGER


def reverse_trace(level: int) -> ReverseTrace:
    return ReverseTrace(level, reverse_box)


def forward_trace(level: int) -> ForwardTrace:
    return ForwardTrace(level, forward_box)


# --- construction ------------------------------------------------------------------------------


def _check_float(value, what: str) -> None:
    if not np.issubdtype(np.result_type(value), np.floating):
        raise TypeError(
            f"{what}: only floating-point tensors can require gradients, got dtype "
            f"{np.result_type(value)}; create it with float values or dtype=wengert.float32"
        )


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor over `array` itself: they share memory, so a change to one shows in the other."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy array, got {type(array).__name__}")
    if array.dtype == object or array.dtype.kind in "USV":
        raise TypeError(f"from_numpy: the array must be numeric, got dtype {array.dtype}")
    return constant(array)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new tensor holding a copy of `data` (a number, nested sequence, numpy array or Tensor).

    Python floats default to float32 (as in PyTorch); numpy arrays keep their dtype unless `dtype`
    is given. `requires_grad=True` puts the tensor on the eager tape as a leaf.
    """
    if type(data) in BOX_TYPES:
        data = raw(data)
    from_numpy = isinstance(data, (np.ndarray, np.generic))
    try:
        value = np.array(data, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise TypeError(f"tensor(): cannot make an array from {data!r}: {e}") from None
    if value.dtype == object or value.dtype.kind in "USV":
        raise TypeError(f"tensor(): data must be numeric, got {data!r}")
    if dtype is None and not from_numpy and value.dtype == np.float64:
        value = value.astype(np.float32)
    t = constant(value)
    if requires_grad:
        t.requires_grad = True
    return t


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """`data` as a tensor without copying when it already is one (or a numpy array of that dtype)."""
    if type(data) in BOX_TYPES and dtype is None:
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == dtype):
        return constant(data)
    return tensor(data, dtype=dtype)


def _default(dtype):
    return np.float32 if dtype is None else dtype


def zeros(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    return tensor(np.zeros(_shape_arg(shape), _default(dtype)), requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    return tensor(np.ones(_shape_arg(shape), _default(dtype)), requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    return tensor(np.full(shape, fill_value, _default(dtype)), requires_grad=requires_grad)


def zeros_like(x, dtype=None) -> Tensor:
    return tensor(np.zeros_like(np.asarray(raw(x)), dtype=dtype))


def ones_like(x, dtype=None) -> Tensor:
    return tensor(np.ones_like(np.asarray(raw(x)), dtype=dtype))


def randn(*shape, dtype=None, requires_grad: bool = False, seed=None) -> Tensor:
    """Standard normal samples (from wengert's generator, see `manual_seed`, or from `seed`)."""
    rng = seeding.generator(seed)
    return tensor(
        rng.standard_normal(_shape_arg(shape)).astype(_default(dtype)), requires_grad=requires_grad
    )


def rand(*shape, dtype=None, requires_grad: bool = False, seed=None) -> Tensor:
    """Uniform samples in [0, 1) (from wengert's generator, see `manual_seed`, or from `seed`)."""
    rng = seeding.generator(seed)
    return tensor(rng.random(_shape_arg(shape)).astype(_default(dtype)), requires_grad=requires_grad)


def arange(*args, dtype=None) -> Tensor:
    return tensor(np.arange(*args, dtype=dtype))


def eye(n: int, m: int | None = None, dtype=None) -> Tensor:
    return tensor(np.eye(n, m, dtype=_default(dtype)))


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], Sequence):
        return tuple(shape[0])
    return tuple(shape)


# --- gradient mode -------------------------------------------------------------------------------


class no_grad:
    """Context manager and decorator: operations on tensors are not recorded on the eager tape.

    Per thread. Function transforms (grad, jvp, ...) still work inside it.
    """

    _enabled = False

    def __enter__(self) -> None:
        self._prev = STATE.grad_enabled
        STATE.grad_enabled = self._enabled

    def __exit__(self, *exc) -> None:
        STATE.grad_enabled = self._prev

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):
    """Context manager and decorator: record on the eager tape again (inside `no_grad`)."""

    _enabled = True


def is_grad_enabled() -> bool:
    return STATE.grad_enabled


# --- helpers -------------------------------------------------------------------------------------


#: Indexing with an index that varies over a vmap batch (set by wengert.program.batching).
batched_getitem: Any = None


def _no_out(out, name: str) -> None:
    if out is not None:
        raise TypeError(f"{name}: out= is not supported for tensors")


def _flat(args):
    for a in args:
        if isinstance(a, (list, tuple)):
            yield from _flat(a)
        else:
            yield a


def _raw_tree(x):
    if isinstance(x, dict):
        return {k: _raw_tree(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_raw_tree(v) for v in x)
    return raw(x)


_UFUNCS = {
    np.add: P.add,
    np.subtract: P.sub,
    np.multiply: P.mul,
    np.divide: P.div,
    np.power: P.power,
    np.negative: P.neg,
    np.exp: P.exp,
    np.log: P.log,
    np.sqrt: P.sqrt,
    np.sin: P.sin,
    np.cos: P.cos,
    np.tan: P.tan,
    np.tanh: P.tanh,
    np.sinh: P.sinh,
    np.cosh: P.cosh,
    np.arcsin: P.arcsin,
    np.arccos: P.arccos,
    np.arctan: P.arctan,
    np.log1p: P.log1p,
    np.expm1: P.expm1,
    np.abs: P.abs_,
    np.maximum: P.maximum,
    np.minimum: P.minimum,
    np.matmul: ops.matmul,
    np.sign: P.sign,
    np.floor: P.floor,
    np.ceil: P.ceil,
    np.greater: P.greater,
    np.greater_equal: P.greater_equal,
    np.less: P.less,
    np.less_equal: P.less_equal,
    np.equal: P.equal,
    np.not_equal: P.not_equal,
    np.logical_not: P.logical_not,
    np.isfinite: P.isfinite,
    np.isnan: P.isnan,
}
