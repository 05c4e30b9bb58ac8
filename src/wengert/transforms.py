"""Function transforms: grad, value_and_grad, vjp, jvp, jacfwd, jacrev, jacobian, hessian, hvp,
checkpoint, and user-defined rules (custom_vjp, custom_jvp).

Each call opens a fresh trace one level above the innermost open one, so transforms nest to any order
and in any mix without confusing their perturbations. Jacobians push a whole basis of tangents (or
cotangents) through one sweep as a leading batch axis.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import tree
from .core import graph
from .core import primitives as P
from .core.forward import ForwardTrace
from .core.graph import GraphNode, ReverseTrace, leaf_node
from .core.primitive import Primitive
from .core.trace import BOX_TYPES, STATE, next_level, raw, unwrap_for
from .tensor import EAGER, constant, forward_box, forward_trace, reverse_box, reverse_trace

# --- inputs and outputs ------------------------------------------------------------------------------


def prepare_input(x: Any, who: str, pos: str):
    """A differentiable input as a value a trace can box: float arrays and scalars; tensors opened."""
    if type(x) is np.ndarray and x.dtype.kind == "f":  # the common case, first
        return x
    if type(x) in BOX_TYPES:
        if x._trace is None or (x._trace is EAGER and not STATE.grad_enabled):
            x = raw(x)
        else:
            _require_float(np.result_type(raw(x)), who, pos, x)
            return x
    if isinstance(x, bool) or (isinstance(x, (int, np.integer)) and not isinstance(x, float)):
        raise TypeError(
            f"{who}: {pos} is the integer {x!r}; differentiation needs real (floating-point) "
            f"inputs: pass {float(x)!r}"
        )
    if isinstance(x, float):
        return np.float64(x)
    a = x if isinstance(x, (np.ndarray, np.generic)) else np.asarray(x)
    if a.dtype == object:
        raise TypeError(f"{who}: {pos} is not an array or number: {x!r}")
    _require_float(a.dtype, who, pos, x)
    return a


def _require_float(dtype, who, pos, x) -> None:
    if np.dtype(dtype).kind != "f":
        raise TypeError(
            f"{who}: {pos} has dtype {dtype}; differentiation needs real (floating-point) inputs: "
            "convert it with .astype(float) (or use vjp/jvp with float arrays)"
        )


def _shape(x) -> tuple:
    return getattr(x, "shape", ())


def _dtype(x):
    dt = getattr(x, "dtype", None)  # arrays and tensors; np.result_type for Python numbers
    return dt if isinstance(dt, np.dtype) else np.result_type(raw(x))


def _opened(x, tr):
    """The value of a box of `tr`; other values unchanged; constant tensors as plain arrays."""
    if type(x) in BOX_TYPES and (x._trace is tr or x._trace is None):
        return x._value
    return x


def _as_returned(value, out):
    """The value of f's output as f returned it: a Python number stays one, an array or numpy scalar
    keeps its dtype (a 0-d array becomes the numpy scalar of that dtype)."""
    if isinstance(out, (float, int)) and not isinstance(out, bool):
        return out
    if isinstance(value, np.ndarray) and value.shape == ():
        return value[()]
    return value


def _argnums(argnums, nargs: int, who: str) -> tuple[int, ...]:
    if type(argnums) is int and 0 <= argnums < nargs:  # the common case, first
        return (argnums,)
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not isinstance(i, int) or not -nargs <= i < nargs:
            raise ValueError(f"{who}: argnums={argnums!r} is out of range for {nargs} arguments")
    return tuple(i % nargs for i in nums)


# --- the two sweeps ------------------------------------------------------------------------------


def _linearize_rev(f: Callable, primals: tuple, who: str):
    """Run f on boxes of a new reverse trace. Returns (trace, input boxes, treedef, output)."""
    orig, treedef = tree.flatten(primals)
    tr = reverse_trace(next_level())
    boxes = []
    for i, x in enumerate(orig):
        if type(x) is np.ndarray and x.dtype.kind == "f":  # the common case, first
            b = reverse_box(x, tr, leaf_node(x.shape, x.dtype))
        else:
            v = prepare_input(x, who, f"input {i}")
            b = reverse_box(v, tr, leaf_node(_shape(v), _dtype(v)))
        b._tangent = type(x) is float  # remember Python floats: their gradients come back as floats
        boxes.append(b)
    with tr:
        out = f(*tree.unflatten(treedef, boxes))
    return tr, boxes, treedef, out


def _pullback(tr, boxes, treedef, out_leaves, cts, retain: bool):
    seeds = []
    batch = ()
    for o, c in zip(out_leaves, cts):
        if type(o) in BOX_TYPES and o._trace is tr:
            c = _cotangent(c, o)
            batch = _shape(c)[: len(_shape(c)) - len(o.shape)]
            seeds.append((o._node, c))
    if seeds:
        graph.backward(seeds, retain_graph=retain)
    grads = []
    for b in boxes:
        g = b._node.grad
        b._node.grad = None
        if g is None:
            g = np.zeros(batch + _shape(b._value), dtype=_dtype(b._value))
        grads.append(float(g) if b._tangent is True and type(g) is np.float64 else g)
    return tree.unflatten(treedef, grads)


def _cotangent(c, o):
    if type(c) in BOX_TYPES and c._trace is None:
        c = c._value
    if type(c) not in BOX_TYPES:
        c = np.asarray(c, dtype=_dtype(o))
    cs, os_ = _shape(c), o.shape
    if cs[len(cs) - len(os_) :] != os_:
        raise ValueError(f"vjp: cotangent of shape {cs} for an output of shape {os_}")
    return c


def vjp(f: Callable, *primals: Any, has_aux: bool = False):
    """Evaluate f(*primals) and return (out, vjp_fn): vjp_fn(ct) = ct^T J, one cotangent per primal.

    `vjp_fn` may be called many times (each is one reverse sweep); with has_aux, f returns
    (out, aux) and the result is (out, vjp_fn, aux).
    """
    tr, boxes, treedef, out = _linearize_rev(f, primals, "vjp")
    out, aux = _split_aux(out, has_aux, "vjp")
    out_leaves, out_def = tree.flatten(out)

    def vjp_fn(ct):
        ct_leaves, _ct_def = tree.flatten(ct)
        if len(ct_leaves) != len(out_leaves):
            raise ValueError(
                f"vjp_fn: the cotangent has {len(ct_leaves)} leaves, the output {len(out_leaves)}"
            )
        grads = _pullback(tr, boxes, treedef, out_leaves, ct_leaves, retain=True)
        return tuple(grads)

    value = tree.unflatten(out_def, [_opened(o, tr) for o in out_leaves])
    return (value, vjp_fn, _strip(aux, tr)) if has_aux else (value, vjp_fn)


def _split_aux(out, has_aux: bool, who: str):
    if not has_aux:
        return out, None
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"{who}: with has_aux=True the function must return a pair (output, aux)")
    return out[0], out[1]


def _strip(aux, tr):
    return tree.tree_map(lambda x: _opened(x, tr), aux)


def jvp(f: Callable, primals: Sequence, tangents: Sequence, has_aux: bool = False):
    """Evaluate f(*primals) and its directional derivative J @ tangents in one forward sweep.

    Returns (out, tangent_out). Nothing is recorded: tangents travel with the values.
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples (one entry per argument of f)")
    leaves, treedef = tree.flatten(tuple(primals))
    tleaves, _tdef = tree.flatten(tuple(tangents))
    if len(leaves) != len(tleaves):
        raise ValueError(f"jvp: {len(leaves)} primal leaves but {len(tleaves)} tangent leaves")
    leaves = [prepare_input(x, "jvp", f"primal {i}") for i, x in enumerate(leaves)]
    tr = forward_trace(next_level())
    boxes = []
    for v, t in zip(leaves, tleaves):
        t = raw(t) if type(t) in BOX_TYPES and t._trace is None else t
        if type(t) not in BOX_TYPES:
            t = np.asarray(t, dtype=_dtype(v))
        ts, vs = _shape(t), _shape(v)
        if ts[len(ts) - len(vs) :] != vs or len(ts) < len(vs):
            raise ValueError(f"jvp: tangent of shape {ts} for a primal of shape {vs}")
        boxes.append(forward_box(v, tr, t))
    batch = (
        _shape(boxes[0]._tangent)[: len(_shape(boxes[0]._tangent)) - len(_shape(leaves[0]))]
        if boxes
        else ()
    )
    with tr:
        out = f(*tree.unflatten(treedef, boxes))
    out, aux = _split_aux(out, has_aux, "jvp")
    out_leaves, out_def = tree.flatten(out)
    vals, touts = [], []
    for o in out_leaves:
        if type(o) in BOX_TYPES and o._trace is tr:
            vals.append(o._value)
            touts.append(o._tangent)
        else:
            v = _opened(o, tr)
            vals.append(v)
            touts.append(np.zeros(batch + _shape(v), dtype=_dtype(v)))
    res = (tree.unflatten(out_def, vals), tree.unflatten(out_def, touts))
    return res + (_strip(aux, tr),) if has_aux else res


# --- gradients -----------------------------------------------------------------------------------


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False):
    """A function returning (f(*args), gradient of f with respect to args[argnums]).

    f must return a scalar. With has_aux, f returns (scalar, aux) and the result is
    ((value, aux), gradient). The gradient has the structure of the differentiated argument(s).
    """

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        nums = _argnums(argnums, len(args), "grad")
        diff = tuple(args[i] for i in nums)

        def fn(*dargs):
            full = list(args)
            for i, a in zip(nums, dargs):
                full[i] = a
            return f(*full, **kwargs)

        tr, boxes, treedef, out = _linearize_rev(fn, diff, "grad")
        out, aux = _split_aux(out, has_aux, "grad")
        value = _opened(out, tr)
        if isinstance(value, (float, int)) and not isinstance(value, bool):
            value = np.asarray(float(value))  # a constant function: its gradient is zero
        if not hasattr(value, "shape"):
            raise TypeError(f"grad: f must return a scalar; it returned {type(out).__name__}")
        shp = value.shape
        if math.prod(shp) != 1:
            raise TypeError(
                f"grad: f must return a scalar (one number); it returned shape {shp}. For a vector "
                "output use jacrev/jacobian (the whole Jacobian) or vjp (a vector-Jacobian product)"
            )
        dtype = _dtype(value)
        if dtype.kind != "f":
            raise TypeError(f"grad: f returned dtype {dtype}; it must return a float")
        seed = np.array(1, dtype) if shp == () else np.ones(shp, dtype)
        grads = _pullback(tr, boxes, treedef, [out], [seed], retain=False)
        g = grads[0] if isinstance(argnums, int) else tuple(grads)
        value = _as_returned(value, out)
        if type(value) is np.float64 and all(b._tangent is True for b in boxes):
            value = float(value)  # f of Python floats returns a Python float
        return ((value, _strip(aux, tr)), g) if has_aux else (value, g)

    return wrapper


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False):
    """The gradient of scalar-valued f with respect to args[argnums], as a function.

    `grad(grad(f))`, `grad` of a closure over an outer differentiated variable and any other nesting
    are exact. With has_aux, returns (gradient, aux).
    """
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


# --- Jacobians and Hessians --------------------------------------------------------------------


def _reshape(x, shape):
    return P.reshape(x, tuple(shape))


def _moveaxis0_to_end(x):
    """(k, *out) -> (*out, k) for a possibly boxed array x."""
    nd = len(_shape(x))
    perm = tuple(range(1, nd)) + (0,)
    return P.transpose(x, axes=perm) if nd > 1 else x


def jacrev(f: Callable, argnums: int | Sequence[int] = 0):
    """The Jacobian of f by reverse mode: one sweep with all m output cotangents as a batch.

    Shape: out.shape + in.shape (a tuple over argnums when argnums is a tuple). Best when the output
    is smaller than the input.
    """

    @functools.wraps(f)
    def wrapper(*args):
        nums = _argnums(argnums, len(args), "jacrev")
        fn, diff = _select(f, args, nums)
        tr, boxes, treedef, out = _linearize_rev(fn, diff, "jacrev")
        return _jac_from_reverse(tr, boxes, treedef, out, argnums, diff)

    return wrapper


def _jac_from_reverse(tr, boxes, treedef, out, argnums, diff):
    value = _opened(out, tr)
    oshape = _shape(value)
    m = math.prod(oshape)
    basis = np.eye(m, dtype=_dtype(value)).reshape((m,) + oshape)
    grads = _pullback(tr, boxes, treedef, [out], [basis], retain=False)
    jac = [tree.tree_map(lambda g: _reshape(g, oshape + _shape(g)[1:]), g) for g in grads]
    return jac[0] if isinstance(argnums, int) else tuple(jac)


def _select(f, args, nums):
    diff = tuple(args[i] for i in nums)

    def fn(*dargs):
        full = list(args)
        for i, a in zip(nums, dargs):
            full[i] = a
        return f(*full)

    return fn, diff


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0):
    """The Jacobian of f by forward mode: one sweep with all n input tangents as a batch.

    Shape: out.shape + in.shape. Best when the input is smaller than the output.
    """

    @functools.wraps(f)
    def wrapper(*args):
        nums = _argnums(argnums, len(args), "jacfwd")
        fn, diff = _select(f, args, nums)
        return _jacfwd(fn, diff, argnums)

    return wrapper


def _jacfwd(fn, diff, argnums):
    leaves, treedef = tree.flatten(diff)
    leaves = [prepare_input(x, "jacfwd", f"input {i}") for i, x in enumerate(leaves)]
    sizes = [math.prod(_shape(v)) for v in leaves]
    n = sum(sizes)
    tangents, start = [], 0
    for v, size in zip(leaves, sizes):
        t = np.zeros((n, size), dtype=_dtype(v))
        t[start : start + size] = np.eye(size, dtype=_dtype(v))
        tangents.append(t.reshape((n,) + _shape(v)))
        start += size
    out, tout = jvp(lambda *a: fn(*tree.unflatten(treedef, a)), tuple(leaves), tuple(tangents))
    oshape = _shape(out)
    tout = _moveaxis0_to_end(tout)  # (*out, n)
    pieces, start = [], 0
    for v, size in zip(leaves, sizes):
        piece = (
            tout if len(leaves) == 1 else P.getitem(tout, index=(Ellipsis, slice(start, start + size)))
        )
        pieces.append(_reshape(piece, oshape + _shape(v)))
        start += size
    jac = tree.unflatten(treedef, pieces)
    return jac[0] if isinstance(argnums, int) else tuple(jac)


def jacobian(f: Callable, argnums: int | Sequence[int] = 0):
    """The Jacobian of f, by reverse mode when the output is smaller than the input (m < n), else
    by forward mode: each mode costs one sweep per basis vector it pushes, here as one batch."""

    @functools.wraps(f)
    def wrapper(*args):
        nums = _argnums(argnums, len(args), "jacobian")
        fn, diff = _select(f, args, nums)
        tr, boxes, treedef, out = _linearize_rev(fn, diff, "jacobian")
        m = math.prod(_shape(_opened(out, tr)))
        n = sum(math.prod(_shape(b._value)) for b in boxes)
        if m < n:
            return _jac_from_reverse(tr, boxes, treedef, out, argnums, diff)
        return _jacfwd(fn, diff, argnums)

    return wrapper


def hessian(f: Callable, argnums: int | Sequence[int] = 0):
    """The Hessian of scalar f: forward mode over reverse mode (jacfwd of jacrev)."""
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f: Callable, x: Any, v: Any):
    """The Hessian-vector product H(x) @ v of scalar f, forward over reverse, without forming H."""
    return jvp(grad(f), (x,), (v,))[1]


# --- checkpointing and user-defined rules --------------------------------------------------------


class _Custom(Primitive):
    """A primitive around a user function, with its derivative rules given as functions."""

    def __init__(self, name, fun, vjp_all=None, jvp_all=None):
        super().__init__(name, lambda *a: raw(fun(*[constant(x) for x in a])))
        self.fun = fun
        self.vjp_all = vjp_all  # (args, ans, g) -> cotangents
        self.jvp_all = jvp_all  # (args, tangents) -> tangent_out

    def vjp(self, node, g):
        cts = self.vjp_all(node.args, node.ans, g)
        return [cts[i] for i in node.argnums]

    def jvp(self, idx, tangents, ans, vals, kwargs):
        ts = [None] * len(vals)
        for i, t in zip(idx, tangents):
            ts[i] = t
        full = [
            t if t is not None else _zeros_like_batched(v, tangents[0], vals[idx[0]])
            for t, v in zip(ts, vals)
        ]
        return self.jvp_all(vals, full)


def checkpoint(f: Callable) -> Callable:
    """f with the same values and derivatives, whose intermediates are not kept for backward: only
    its inputs are saved, and f is run again during the reverse sweep (memory for time).

    f takes arrays and returns one array.
    """

    def vjp_all(args, ans, g):
        _, pull = vjp(f, *args)
        return pull(g)

    def jvp_all(args, ts):
        return jvp(f, tuple(args), tuple(ts))[1]

    prim = _Custom(f"checkpoint({getattr(f, '__name__', 'f')})", f, vjp_all, jvp_all)

    @functools.wraps(f)
    def wrapper(*args):
        return prim(*args)

    return wrapper


class custom_vjp:
    """A function with a user-given reverse-mode rule (JAX's convention).

    ::

        @custom_vjp
        def f(x): ...
        def f_fwd(x): return f(x), residuals
        def f_bwd(residuals, g): return (cotangent_for_x,)
        f.defvjp(f_fwd, f_bwd)

    Under reverse mode the rule replaces differentiating f; `bwd` written with wengert functions is
    itself differentiable. Under forward mode f itself is differentiated.
    """

    def __init__(self, fun: Callable) -> None:
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.fwd = self.bwd = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> custom_vjp:
        self.fwd, self.bwd = fwd, bwd
        return self

    def __call__(self, *args):
        if self.fwd is None:
            raise TypeError(f"custom_vjp {self.fun.__name__}: call defvjp(fwd, bwd) first")
        top = _top_trace(args)
        if not isinstance(top, ReverseTrace):
            return self.fun(*args)
        vals, idx = unwrap_for(top, args)
        out, res = self.fwd(*vals)
        bwd = self.bwd
        nargs = len(args)
        name = self.fun.__name__

        def vjp_all(_args, _ans, g):
            cts = bwd(res, g)
            if not isinstance(cts, (tuple, list)) or len(cts) != nargs:
                raise TypeError(
                    f"custom_vjp {name}: bwd must return a tuple of {nargs} cotangents, one per argument"
                )
            return cts

        prim = _Custom(name, self.fun, vjp_all)
        shp, dt = _shape(out), _dtype(out)
        node = GraphNode(prim, tuple(args[i]._node for i in idx), tuple(idx), None, {}, None, shp, dt)
        return top.box(out, top, node)


class custom_jvp:
    """A function with a user-given forward-mode rule (JAX's convention).

    ::

        @custom_jvp
        def f(x): ...
        @f.defjvp
        def f_jvp(primals, tangents): return f(*primals), tangent_out

    The rule must be linear in the tangents; reverse mode transposes it (by differentiating it with
    respect to the tangents), so the one rule serves every transform.
    """

    def __init__(self, fun: Callable) -> None:
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.rule = None

    def defjvp(self, rule: Callable) -> Callable:
        self.rule = rule
        return rule

    def __call__(self, *args):
        if self.rule is None:
            raise TypeError(f"custom_jvp {self.fun.__name__}: define the rule with defjvp first")
        top = _top_trace(args)
        if not isinstance(top, (ForwardTrace, ReverseTrace)):  # none, or a program being traced
            return self.fun(*args)
        vals, idx = unwrap_for(top, args)
        rule = self.rule
        if isinstance(top, ForwardTrace):
            ts = [
                args[i]._tangent
                if i in idx
                else _zeros_like_batched(v, args[idx[0]]._tangent, vals[idx[0]])
                for i, v in enumerate(vals)
            ]
            out, tout = rule(tuple(vals), tuple(ts))
            return top.box(out, top, tout)
        out = self.fun(*vals)

        def vjp_all(_args, _ans, g):
            zeros = tuple(np.zeros(_shape(v), dtype=_dtype(v)) for v in vals)
            _, pull = vjp(lambda *ts: rule(tuple(vals), ts)[1], *zeros)
            return pull(g)

        prim = _Custom(self.fun.__name__, self.fun, vjp_all)
        node = GraphNode(
            prim,
            tuple(args[i]._node for i in idx),
            tuple(idx),
            None,
            {},
            None,
            _shape(out),
            _dtype(out),
        )
        return top.box(out, top, node)


def _zeros_like_batched(v, t0, v0):
    batch = _shape(t0)[: len(_shape(t0)) - len(_shape(v0))]
    return np.zeros(batch + _shape(v), dtype=_dtype(v))


def _top_trace(args):
    top, level = None, -1
    for a in args:
        if type(a) in BOX_TYPES and a._trace is not None and a._trace.level > level:
            top, level = a._trace, a._trace.level
    if top is EAGER and not STATE.grad_enabled:
        return None
    return top


__all__ = [
    "checkpoint",
    "custom_jvp",
    "custom_vjp",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jvp",
    "value_and_grad",
    "vjp",
]
