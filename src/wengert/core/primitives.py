"""The table of primitives: every operation wengert differentiates, each with its derivative rules.

This is the only place a derivative formula is written. Elementwise primitives give one partial
derivative per argument (shared by reverse, forward and Taylor modes, tensors and scalars alike);
structural ones give per-argument VJPs and a JVP. Rules are written with the primitives themselves, so
every derivative can be differentiated again. Conventions at kinks: relu'(0) = 0, abs'(0) = 0, ties of
maximum/minimum and of max/min reductions split the gradient evenly, clip passes the gradient on its
closed interval. See docs/primitives.md for the full table with domains.
"""

from __future__ import annotations

import itertools
import math
import operator

import numpy as np

from .anomaly import warn_at_user_line
from .primitive import (
    DomainError,
    Elementwise,
    NonDiff,
    Structural,
    fit,
    ndim,
    shape,
    unbroadcast,
    use_structural,
)
from .trace import BOX_TYPES, is_abstract, raw, staged

_BOXES = BOX_TYPES  # for the rules' array-only branches (BOX_TYPES itself is not exported)

# ---------------------------------------------------------------------------------------------------
# Scalar implementations (Python floats: the paper's Node and Dual) and domain checks.


def _requires(name: str, ok, requirement: str):
    def check(*a):
        if not ok(*a):
            shown = ", ".join(repr(v) for v in a)
            raise DomainError(f"{name}: {requirement}; got {shown}")

    return check


def _sexp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _spow(x, y):
    try:
        r = x**y
    except ZeroDivisionError:
        return math.inf
    except OverflowError:
        return math.inf
    if isinstance(r, complex):
        raise DomainError(f"pow: a negative base needs an integer exponent; got {x!r} ** {y!r}")
    return r


def _ssigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(np.asarray(x) >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x):
    return np.logaddexp(0, x)


def _ssoftplus(x):
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


def _pow_domain(x, y):
    if x < 0 and y != int(y):
        raise DomainError(f"pow: a negative base needs an integer exponent; got {x!r} ** {y!r}")
    if x == 0 and y < 0:
        raise ZeroDivisionError(f"pow: zero to a negative power; got {x!r} ** {y!r}")


def _div_domain(x, y):
    if y == 0:
        raise ZeroDivisionError(f"div: division by zero; got {x!r} / {y!r}")


def _mask(cond, *likes):
    """A constant 0/1 array from a boolean condition, in the floating dtype of the `likes`."""
    dt = np.result_type(*[raw(v) for v in likes]) if likes else np.float64
    if not np.issubdtype(dt, np.floating):
        dt = np.float64
    if is_abstract(cond) or getattr(cond, "_trace", None) is not None:  # traced or batched
        return cast(cond, dtype=np.dtype(dt))
    return np.asarray(raw(cond), dtype=dt)


# ---------------------------------------------------------------------------------------------------
# Elementwise primitives: name, numpy function, Python-float function, partial derivatives.

add = Elementwise("add", np.add, operator.add, partials=(1, 1))
sub = Elementwise("sub", np.subtract, operator.sub, partials=(1, -1))
neg = Elementwise("neg", np.negative, operator.neg, partials=(-1,))
mul = Elementwise("mul", np.multiply, operator.mul, partials=(lambda ans, x, y: y, lambda ans, x, y: x))
div = Elementwise(
    "div",
    np.divide,
    operator.truediv,
    partials=(lambda ans, x, y: 1 / y, lambda ans, x, y: -ans / y),
    guard=True,
    domain=_div_domain,
    save_ans=True,
)


def _pow_dx(ans, x, y):
    # d/dx x**y = y x**(y-1), taken as 0 at y == 0 even at x == 0 (where x**-1 is infinite); the base
    # is replaced there only, so the derivative with respect to y (1/x at y == 0) stays exact elsewhere
    if type(y) in (float, int):
        return 0 * x if y == 0 else y * x ** (y - 1)
    safe_x = where(logical_and(y == 0, x == 0), 1.0, x)
    return y * safe_x ** (y - 1)


def _pow_dy(ans, x, y):
    # d/dy x**y = x**y log x, for x > 0; 0 at x == 0 (and where log x is undefined)
    if type(x) in (float, int):
        return ans * math.log(x) if x > 0 else 0.0
    pos = x > 0
    return where(pos, ans * log(where(pos, x, 1.0)), 0.0)


power = Elementwise(
    "pow",
    np.power,
    _spow,
    partials=(_pow_dx, _pow_dy),
    guard=True,
    domain=_pow_domain,
    save_ans=True,
)
exp = Elementwise("exp", np.exp, _sexp, partials=(lambda ans, x: ans,), save_ans=True)
log = Elementwise(
    "log",
    warn_at_user_line("log", np.log),
    math.log,
    partials=(lambda ans, x: 1 / x,),
    guard=True,
    domain=_requires("log", lambda x: x > 0, "argument must be > 0"),
)
sqrt = Elementwise(
    "sqrt",
    warn_at_user_line("sqrt", np.sqrt),
    math.sqrt,
    partials=(lambda ans, x: 0.5 / ans,),
    guard=True,
    save_ans=True,
    domain=_requires("sqrt", lambda x: x >= 0, "argument must be >= 0"),
)
sin = Elementwise("sin", np.sin, math.sin, partials=(lambda ans, x: cos(x),))
cos = Elementwise("cos", np.cos, math.cos, partials=(lambda ans, x: -sin(x),))
tan = Elementwise("tan", np.tan, math.tan, partials=(lambda ans, x: 1 + ans * ans,), save_ans=True)
tanh = Elementwise("tanh", np.tanh, math.tanh, partials=(lambda ans, x: 1 - ans * ans,), save_ans=True)
sinh = Elementwise("sinh", np.sinh, math.sinh, partials=(lambda ans, x: cosh(x),))
cosh = Elementwise("cosh", np.cosh, math.cosh, partials=(lambda ans, x: sinh(x),))
arcsin = Elementwise(
    "arcsin",
    warn_at_user_line("arcsin", np.arcsin),
    math.asin,
    partials=(lambda ans, x: 1 / sqrt(1 - x * x),),
    guard=True,
    domain=_requires("arcsin", lambda x: -1 <= x <= 1, "argument must be in [-1, 1]"),
)
arccos = Elementwise(
    "arccos",
    warn_at_user_line("arccos", np.arccos),
    math.acos,
    partials=(lambda ans, x: -1 / sqrt(1 - x * x),),
    guard=True,
    domain=_requires("arccos", lambda x: -1 <= x <= 1, "argument must be in [-1, 1]"),
)
arctan = Elementwise("arctan", np.arctan, math.atan, partials=(lambda ans, x: 1 / (1 + x * x),))
log1p = Elementwise(
    "log1p",
    warn_at_user_line("log1p", np.log1p),
    math.log1p,
    partials=(lambda ans, x: 1 / (1 + x),),
    guard=True,
    domain=_requires("log1p", lambda x: x > -1, "argument must be > -1"),
)
expm1 = Elementwise("expm1", np.expm1, math.expm1, partials=(lambda ans, x: ans + 1,), save_ans=True)


def _erf(x):
    try:
        from scipy.special import erf as scipy_erf
    except ImportError:  # numpy has no erf: fall back to the math module, elementwise
        return np.vectorize(math.erf, otypes=[np.result_type(x, np.float32)])(x)
    return scipy_erf(x)


erf = Elementwise(
    "erf", _erf, math.erf, partials=(lambda ans, x: (2 / math.sqrt(math.pi)) * exp(-x * x),)
)

sigmoid = Elementwise(
    "sigmoid", _sigmoid, _ssigmoid, partials=(lambda ans, x: ans * (1 - ans),), save_ans=True
)
softplus = Elementwise("softplus", _softplus, _ssoftplus, partials=(lambda ans, x: sigmoid(x),))
relu = Elementwise(
    "relu",
    lambda x: np.maximum(x, 0),
    lambda x: x if x > 0 else 0.0,
    partials=(lambda ans, x: x > 0,),
)

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x * _INV_SQRT2))


gelu = Elementwise(
    "gelu",
    _gelu,
    lambda x: 0.5 * x * (1.0 + math.erf(x * _INV_SQRT2)),
    partials=(lambda ans, x: 0.5 * (1.0 + erf(x * _INV_SQRT2)) + x * exp(-0.5 * x * x) * _INV_SQRT_2PI,),
)


def _silu_partial(ans, x):
    s = sigmoid(x)
    return s * (1.0 + x * (1.0 - s))


silu = Elementwise(
    "silu", lambda x: x * _sigmoid(x), lambda x: x * _ssigmoid(x), partials=(_silu_partial,)
)


def _leaky_dx(ans, x, a):
    # leaky_relu'(0) = a (PyTorch's convention: the identity only for x > 0)
    if type(x) in (float, int):
        return 1.0 if x > 0 else a
    return _mask(x > 0, x) * (1.0 - a) + a


def _leaky_da(ans, x, a):
    if type(x) in (float, int):
        return 0.0 if x > 0 else x
    return x * _mask(x <= 0, x)


leaky_relu = Elementwise(
    "leaky_relu",
    lambda x, a: np.where(x > 0, x, a * x),
    lambda x, a: x if x > 0 else a * x,
    partials=(_leaky_dx, _leaky_da),
)
copy = Elementwise("copy", lambda x: np.array(x, copy=True), lambda x: x, partials=(1,))


def _abs_partial(ans, x):
    if type(x) in (float, int):  # keep Python floats (Node, Dual) free of numpy scalars
        return (x > 0) - (x < 0)
    return sign(x)


abs_ = Elementwise("abs", np.abs, abs, partials=(_abs_partial,))
maximum = Elementwise(
    "maximum",
    np.maximum,
    max,
    partials=(
        lambda ans, x, y: _mask(x > y, x, y) + 0.5 * _mask(x == y, x, y),
        lambda ans, x, y: _mask(y > x, x, y) + 0.5 * _mask(x == y, x, y),
    ),
)
minimum = Elementwise(
    "minimum",
    np.minimum,
    min,
    partials=(
        lambda ans, x, y: _mask(x < y, x, y) + 0.5 * _mask(x == y, x, y),
        lambda ans, x, y: _mask(y < x, x, y) + 0.5 * _mask(x == y, x, y),
    ),
)
where = Elementwise(
    "where",
    np.where,
    lambda c, x, y: x if c else y,
    partials=(
        None,
        lambda ans, c, x, y: _mask(c, x, y),
        lambda ans, c, x, y: _mask(logical_not(c), x, y),
    ),
)


def _clip_partial(ans, x, lo, hi):
    inside = np.ones(shape(x), dtype=bool)
    if lo is not None:
        inside = logical_and(inside, greater_equal(x, lo))
    if hi is not None:
        inside = logical_and(inside, less_equal(x, hi))
    return _mask(inside, x)


clip = Elementwise("clip", np.clip, None, partials=(_clip_partial, None, None))

# ---------------------------------------------------------------------------------------------------
# Piecewise-constant primitives: no derivative, their results are constants.

sign = NonDiff("sign", np.sign)
floor = NonDiff("floor", np.floor)
ceil = NonDiff("ceil", np.ceil)
round_ = NonDiff("round", np.round)
greater = NonDiff("greater", np.greater)
greater_equal = NonDiff("greater_equal", np.greater_equal)
less = NonDiff("less", np.less)
less_equal = NonDiff("less_equal", np.less_equal)
equal = NonDiff("equal", np.equal)
not_equal = NonDiff("not_equal", np.not_equal)
logical_not = NonDiff("logical_not", np.logical_not)
logical_and = NonDiff("logical_and", np.logical_and)
logical_or = NonDiff("logical_or", np.logical_or)
isfinite = NonDiff("isfinite", np.isfinite)
isnan = NonDiff("isnan", np.isnan)
argmax = NonDiff("argmax", np.argmax)
argmin = NonDiff("argmin", np.argmin)
stop_gradient = NonDiff("stop_gradient", lambda x: x)

# ---------------------------------------------------------------------------------------------------
# Axis helpers. Rules index axes from the end so that tangents and cotangents may carry leading batch
# axes (a basis of directions pushed through one sweep by jacfwd/jacrev).


def negative_axes(axis, nd: int) -> tuple:
    """Axes as a tuple of negative indices (None: all axes)."""
    if axis is None:
        return tuple(range(-nd, 0))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    out = []
    for a in axis:
        a = int(a)
        if not -nd <= a < nd:
            raise np.exceptions.AxisError(a, nd)
        out.append(a - nd if a >= 0 else a)
    return tuple(out)


def kept_shape(xshape: tuple, axis) -> tuple:
    """Shape of a reduction over `axis` with keepdims=True."""
    nd = len(xshape)
    red = {a + nd for a in negative_axes(axis, nd)}
    return tuple(1 if i in red else s for i, s in enumerate(xshape))


def _lead(t, x) -> int:
    """Number of leading batch axes of tangent/cotangent `t` relative to value `x`."""
    return ndim(t) - ndim(x)


def _pad(t, b: int, xshape: tuple, nd: int):
    """Insert size-1 axes after the batch axes so `t` (batch + xshape) has `nd` non-batch axes."""
    if len(xshape) >= nd:
        return t
    return reshape(t, shape(t)[:b] + (1,) * (nd - len(xshape)) + tuple(xshape))


# ---------------------------------------------------------------------------------------------------
# Structural primitives: VJP per argument, JVP, both linear and batch-aware.


def _sum_vjp(g, ans, x, axis=None, keepdims=False):
    b = _lead(g, ans)
    if not keepdims:
        g = fit(g, shape(g)[:b] + kept_shape(x.shape, axis))
    return broadcast_to(g, shape(g)[:b] + x.shape)


# The impls call numpy's ufunc reductions and array methods directly: np.sum, np.reshape and
# np.transpose add layers of Python dispatch that cost more than the operation on small arrays.
sum_ = Structural(
    "sum",
    lambda x, axis=None, keepdims=False: np.add.reduce(x, axis=axis, keepdims=keepdims),
    vjps=(_sum_vjp,),
    jvp=lambda ts, ans, x, axis=None, keepdims=False: sum_(
        ts[0], axis=negative_axes(axis, x.ndim), keepdims=keepdims
    ),
    save_args=False,
)


def _extremum(name: str, fn):
    def rule_parts(ans, x, axis):
        kept = kept_shape(x.shape, axis)
        ans_k = reshape(ans, kept)
        mask = _mask(x == ans_k, x)
        return kept, mask / sum_(mask, axis=axis, keepdims=True)  # a primitive: traceable to a program

    def vjp(g, ans, x, axis=None, keepdims=False):
        b = _lead(g, ans)
        kept, share = rule_parts(ans, x, axis)
        return fit(g, shape(g)[:b] + kept) * share

    def jvp(ts, ans, x, axis=None, keepdims=False):
        _, share = rule_parts(ans, x, axis)
        return sum_(ts[0] * share, axis=negative_axes(axis, ndim(x)), keepdims=keepdims)

    return Structural(
        name,
        lambda x, axis=None, keepdims=False: fn(x, axis=axis, keepdims=keepdims),
        vjps=(vjp,),
        jvp=jvp,
        save_ans=True,
    )


max_ = _extremum("max", np.maximum.reduce)
min_ = _extremum("min", np.minimum.reduce)

reshape_p = Structural(
    "reshape",
    lambda x, new_shape: np.asarray(x).reshape(new_shape),
    vjps=(lambda g, ans, x, new_shape: fit(g, shape(g)[: _lead(g, ans)] + x.shape),),
    jvp=lambda ts, ans, x, new_shape: fit(ts[0], shape(ts[0])[: _lead(ts[0], x)] + ans.shape),
    save_args=False,
)


def reshape(x, new_shape):
    """x with a new shape (shape parameters are keywords of the primitive, not arguments)."""
    return reshape_p(x, new_shape=tuple(new_shape))


def full_perm(axes, nd):
    return tuple(range(nd))[::-1] if axes is None else tuple(int(a) % nd for a in axes)


def batched_perm(perm, b):
    return tuple(range(b)) + tuple(b + a for a in perm)


transpose_p = Structural(
    "transpose",
    lambda x, axes=None: np.asarray(x).transpose(axes),
    vjps=(
        lambda g, ans, x, axes=None: transpose(
            g, batched_perm(tuple(np.argsort(full_perm(axes, x.ndim))), _lead(g, ans))
        ),
    ),
    jvp=lambda ts, ans, x, axes=None: transpose(
        ts[0], batched_perm(full_perm(axes, ndim(x)), _lead(ts[0], x))
    ),
    save_args=False,
)


def transpose(x, axes=None):
    return transpose_p(x, axes=None if axes is None else tuple(axes))


def _broadcast_jvp(ts, ans, x, new_shape):
    t = ts[0]
    b = _lead(t, x)
    return broadcast_to(_pad(t, b, shape(x), len(new_shape)), shape(t)[:b] + tuple(new_shape))


broadcast_to_p = Structural(
    "broadcast_to",
    lambda x, new_shape: np.broadcast_to(x, new_shape),
    vjps=(lambda g, ans, x, new_shape: unbroadcast(g, x.shape, _lead(g, ans)),),
    jvp=_broadcast_jvp,
    save_args=False,
)


def broadcast_to(x, new_shape):
    return broadcast_to_p(x, new_shape=tuple(new_shape))


def batched_index(index: tuple, b: int) -> tuple:
    return (slice(None),) * b + index


def is_basic_index(index: tuple) -> bool:
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in index)


def _scatter_add(g, index, new_shape):
    out = np.zeros(new_shape, dtype=np.result_type(g))
    if is_basic_index(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


getitem = Structural(
    "getitem",
    lambda x, index: x[index],
    vjps=(
        lambda g, ans, x, index: scatter_add(
            g,
            index=batched_index(index, _lead(g, ans)),
            new_shape=shape(g)[: _lead(g, ans)] + x.shape,
        ),
    ),
    jvp=lambda ts, ans, x, index: getitem(ts[0], index=batched_index(index, _lead(ts[0], x))),
    save_args=False,
)

scatter_add = Structural(
    "scatter_add",
    _scatter_add,
    vjps=(lambda g, ans, x, index, new_shape: getitem(g, index=batched_index(index, _lead(g, ans))),),
    jvp=lambda ts, ans, x, index, new_shape: scatter_add(
        ts[0],
        index=batched_index(index, _lead(ts[0], x)),
        new_shape=shape(ts[0])[: _lead(ts[0], x)] + tuple(new_shape),
    ),
    save_args=False,
)


def _concat_vjp(i):
    def rule(g, ans, *xs, axis=0):
        ax = negative_axes(axis, ans.ndim)[0]  # counted from the end, so batch axes of g need no care
        start = builtin_sum(x.shape[ax] for x in xs[:i])
        sl = [slice(None)] * ndim(g)
        sl[ax] = slice(start, start + xs[i].shape[ax])
        return getitem(g, index=tuple(sl))

    return rule


def _concat_jvp(ts, ans, *xs, axis=0):
    k = next(i for i, t in enumerate(ts) if t is not None)
    b = _lead(ts[k], xs[k])
    batch = shape(ts[k])[:b]
    full = [
        t if t is not None else np.zeros(batch + shape(x), dtype=np.result_type(raw(ans)))
        for t, x in zip(ts, xs)
    ]
    return concatenate(*full, axis=negative_axes(axis, ndim(ans))[0])


builtin_sum = sum  # the table defines its own `sum_`; keep the builtin for Python sequences
concatenate = Structural(
    "concatenate",
    lambda *xs, axis=0: np.concatenate(xs, axis=axis),
    vjps=_concat_vjp,
    jvp=_concat_jvp,
    save_args=False,
)

# --- matmul, with numpy's rules for 1-d operands and broadcast batch axes --------------------------


def as_matrices(xs, ys):
    """Shapes of x and y promoted to at least 2-d (numpy's matmul rule for vectors)."""
    xm = (1,) + tuple(xs) if len(xs) == 1 else tuple(xs)
    ym = tuple(ys) + (1,) if len(ys) == 1 else tuple(ys)
    return xm, ym


def _out_full(xm, ym):
    return np.broadcast_shapes(xm[:-2], ym[:-2]) + (xm[-2], ym[-1])


def _mT(a):
    nd = ndim(a)
    return transpose(a, (1, 0) if nd == 2 else tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _matmul_vjp_x(g, ans, x, y):
    b = _lead(g, ans)
    if b and x.ndim == 1 and y.ndim == 2:  # a batch of vector cotangents: one matrix product
        return matmul(g, _mT(y))
    xm, ym = as_matrices(x.shape, y.shape)
    out = _out_full(xm, ym)
    gm = fit(g, shape(g)[:b] + out)
    gx = matmul(gm, _mT(fit(y, ym)))
    return fit(unbroadcast(gx, xm, b), shape(g)[:b] + x.shape)


def _matmul_vjp_y(g, ans, x, y):
    b = _lead(g, ans)
    if b and x.ndim == 2 and y.ndim == 1:  # a batch of vector cotangents: one matrix product
        return matmul(g, x)
    xm, ym = as_matrices(x.shape, y.shape)
    out = _out_full(xm, ym)
    gm = fit(g, shape(g)[:b] + out)
    gy = matmul(_mT(fit(x, xm)), gm)
    return fit(unbroadcast(gy, ym, b), shape(g)[:b] + y.shape)


def _matmul_jvp(ts, ans, x, y):
    xm, ym = as_matrices(shape(x), shape(y))
    nd = len(_out_full(xm, ym))
    out = None
    for t, this, other, this_m, other_m, first in (
        (ts[0], x, y, xm, ym, True),
        (ts[1], y, x, ym, xm, False),
    ):
        if t is None:
            continue
        b = _lead(t, this)
        if b and ndim(other) == 2 and (first or ndim(this) == 1):
            # a batch of tangents against a matrix: fold the batch into rows, one matrix product
            c = matmul(reshape(t, (-1, shape(this)[-1])), other) if first else matmul(t, _mT(other))
            c = fit(c, shape(t)[:b] + shape(ans))
            out = c if out is None else out + c
            continue
        tm = _pad(fit(t, shape(t)[:b] + this_m), b, this_m, nd)
        o = fit(other, other_m)
        c = matmul(tm, o) if first else matmul(o, tm)
        c = fit(c, shape(c)[:b] + shape(ans))
        out = c if out is None else out + c
    return out


def _matmul(x, y):
    if (
        type(x) is np.ndarray
        and type(y) is np.ndarray
        and x.ndim >= 2
        and y.ndim >= 2
        and x.shape[-1] == 1
        and y.shape[-2] == 1
    ):
        # a product over one term (the weight gradient of a batch of one): the broadcast product
        # gives the same numbers, several times faster than BLAS on such an outer product
        return x * y
    return np.matmul(x, y)


matmul = Structural("matmul", _matmul, vjps=(_matmul_vjp_x, _matmul_vjp_y), jvp=_matmul_jvp)


def _linear(x, w, b=None):
    y = x @ w.T
    if b is not None:
        y += b  # y is fresh: adding in place saves a temporary
    return y


def _linear_vjp_x(g, ans, x, w, b=None):
    if type(g) is np.ndarray and type(w) is np.ndarray:
        return _matmul(g, w)  # arrays: nothing records this sweep
    return matmul(g, w)


def _linear_vjp_w(g, ans, x, w, b=None):
    if type(g) is np.ndarray and type(x) is np.ndarray and g.ndim == x.ndim == 2:
        return _matmul(g.T, x)  # arrays, no batch axes: nothing records this sweep
    bd = _lead(g, ans)
    if ndim(g) - bd != 2:  # fold the sample axes of g and x into one
        g = reshape(g, shape(g)[:bd] + (-1, shape(w)[0]))
    if ndim(x) != 2:
        x = reshape(x, (-1, shape(w)[1]))
    return matmul(_mT(g), x)


def _linear_vjp_b(g, ans, x, w, b=None):
    if type(g) is np.ndarray and g.ndim == 2 == len(ans.shape):
        return np.add.reduce(g, axis=0)  # an array, no batch axes: nothing records this sweep
    bd = _lead(g, ans)
    return sum_(g, axis=tuple(range(bd, ndim(g) - 1))) if ndim(g) - 1 > bd else g


def _linear_jvp(ts, ans, x, w, b=None):
    tx, tw, tb = (ts + [None])[:3]
    nd = ndim(x)
    out = None
    if tx is not None:
        out = matmul(tx, _mT(w))
    if tw is not None:
        bd = _lead(tw, w)
        c = matmul(x, _mT(_pad(tw, bd, shape(w), nd)))
        out = c if out is None else out + c
    if tb is not None:
        bd = _lead(tb, b)
        c = _pad(tb, bd, shape(b), nd)
        out = c if out is None else out + c
    return out


linear = Structural(
    "linear",
    _linear,
    vjps=(_linear_vjp_x, _linear_vjp_w, _linear_vjp_b),
    jvp=_linear_jvp,
)

# --- normalisations and losses, as primitives with stable forward passes and rules ---------------


def _max_keep(x, axis):
    """max over one axis, keeping it. Over the last axis of a float array of many rows, argmax and a
    gather: numpy's maximum.reduce along many short rows (a batch of logits of ten classes) is up to
    four times slower. NaN wins either way (argmax picks the first NaN)."""
    k = x.shape[-1] if x.ndim else 0
    if x.dtype.kind != "f" or k == 0 or x.size < 32 * k or axis not in (-1, x.ndim - 1):
        return np.maximum.reduce(x, axis=axis, keepdims=True)
    rows = x.reshape(-1, k)
    top = rows[np.arange(rows.shape[0]), rows.argmax(axis=1)]
    return top.reshape(x.shape[:-1] + (1,))


def _softmax(x, axis=-1):
    e = x - _max_keep(x, axis)
    np.exp(e, out=e)  # e is fresh: work in place
    e /= np.add.reduce(e, axis=axis, keepdims=True)
    return e


def _softmax_rule(v, ans, axis):
    ax = negative_axes(axis, ndim(ans))
    return ans * (v - sum_(v * ans, axis=ax, keepdims=True))


softmax = Structural(
    "softmax",
    _softmax,
    vjps=(lambda g, ans, x, axis=-1: _softmax_rule(g, ans, axis),),
    jvp=lambda ts, ans, x, axis=-1: _softmax_rule(ts[0], ans, axis),
    save_args=False,
    save_ans=True,
)


def _log_softmax(x, axis=-1):
    z = x - _max_keep(x, axis)
    z -= np.log(np.add.reduce(np.exp(z), axis=axis, keepdims=True))
    return z


log_softmax = Structural(
    "log_softmax",
    _log_softmax,
    vjps=(
        lambda g, ans, x, axis=-1: (
            g - exp(ans) * sum_(g, axis=negative_axes(axis, ndim(ans)), keepdims=True)
        ),
    ),
    jvp=lambda ts, ans, x, axis=-1: (
        ts[0] - sum_(exp(ans) * ts[0], axis=negative_axes(axis, ndim(ans)), keepdims=True)
    ),
    save_args=False,
    save_ans=True,
)


def _logsumexp(x, axis=None, keepdims=False):
    m = np.maximum.reduce(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):  # all inputs -inf: the result is -inf
        out = np.log(np.add.reduce(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _lse_weights(ans, x, axis):
    ans_k = fit(ans, kept_shape(shape(x), axis))
    finite = isfinite(ans_k)
    return exp(x - where(finite, ans_k, 0.0)), ans_k  # softmax weights; 0 where all inputs are -inf


logsumexp = Structural(
    "logsumexp",
    _logsumexp,
    vjps=(
        lambda g, ans, x, axis=None, keepdims=False: (
            fit(g, shape(g)[: _lead(g, ans)] + kept_shape(x.shape, axis)) * _lse_weights(ans, x, axis)[0]
        ),
    ),
    jvp=lambda ts, ans, x, axis=None, keepdims=False: sum_(
        _lse_weights(ans, x, axis)[0] * ts[0], axis=negative_axes(axis, ndim(x)), keepdims=keepdims
    ),
    save_ans=True,
)


def _labelled(labels, classes: int):
    """Index of each sample's labelled entry in a C-contiguous array of shape labels.shape +
    (classes,), flattened (the fused kernels below read and write only those entries)."""
    flat = labels.reshape(-1)
    return flat if flat.size == 1 else np.arange(0, flat.size * classes, classes) + flat


def _ce_terms(logits, labels):
    """exp(logits - max) over the classes (fresh and C-contiguous, so flat views write through), its
    sums (kept), the flat index of the labelled entries, and each sample's loss
    log(sum) - (logit - max)[label]."""
    e = logits - _max_keep(logits, -1)
    if not e.flags.c_contiguous:  # a transposed input: rows made whole, so flat views write through
        e = np.ascontiguousarray(e)
    at = _labelled(labels, logits.shape[-1])
    picked = e.reshape(-1)[at].reshape(labels.shape)
    np.exp(e, out=e)  # e is fresh: exponentiate in place
    s = np.add.reduce(e, axis=-1, keepdims=True)
    nll = np.log(s.reshape(labels.shape))
    nll -= picked
    return e, s, at, nll


def _reduced(nll, reduction):
    if reduction == "none":
        return nll
    total = np.add.reduce(nll, axis=None)
    return total / nll.size if reduction == "mean" and nll.size != 1 else total


def _cross_entropy(logits, labels, reduction="mean"):
    # self-contained (numpy only): jit's emitted source copies this function and its helpers
    return _reduced(_ce_terms(logits, labels)[3], reduction)


def _cross_entropy_softmax(logits, labels, reduction="mean", minus_one_hot=False, scale=None):
    """(cross_entropy(logits, labels), softmax(logits)) from one pass of shifted exponentials; with
    minus_one_hot, the second is softmax(logits) - one_hot(labels), the loss's derivative, then
    multiplied by `scale` if given. (jit emits this where a program asks for both.)"""
    p, s, at, nll = _ce_terms(logits, labels)
    p /= s
    if minus_one_hot:
        p.reshape(-1)[at] -= 1  # a view: p is fresh and C-contiguous
    if scale is not None:
        p *= scale
    return _reduced(nll, reduction), p


def _ce_vjp(g, ans, logits, labels, reduction="mean", res=None):
    """g (softmax(logits) - one_hot(labels)), divided by the number of samples for the mean. `res`:
    the softmax saved by the forward pass (the `residual` below), when there is one."""
    if (
        (res is not None or type(logits) is np.ndarray)
        and type(g) not in _BOXES
        and type(labels) not in _BOXES
        and ndim(g) == ans.ndim
    ):
        # Nothing records this sweep and g has no batch axes: the fused backward, in place on a
        # fresh softmax (a copy of the saved one: another backward through a retained graph reads
        # it again), the same operations as below without the temporaries.
        p = np.ascontiguousarray(_softmax(logits, -1)) if res is None else res.copy()
        n = p.size // p.shape[-1]
        if reduction == "mean" and n != 1:
            g = g * (1.0 / n)  # scale the (small) cotangent, not the gradient
        p.reshape(-1)[_labelled(labels, p.shape[-1])] -= 1
        p *= g if reduction != "none" else np.reshape(g, np.shape(g) + (1,))
        return p
    b = _lead(g, ans)
    k = shape(logits)[-1]
    kept = shape(ans) + (1,) if reduction == "none" else (1,) * ndim(logits)
    n = math.prod(shape(logits)[:-1])
    if reduction == "mean" and n != 1:
        g = g * (1.0 / n)
    p = softmax(logits, axis=-1)
    return (p - _one_hot_like(labels, k, p)) * fit(g, shape(g)[:b] + kept)


def _one_hot_like(labels, k: int, like):
    dtype = np.result_type(raw(like))
    if is_abstract(labels) or getattr(labels, "_trace", None) is not None:  # traced or batched
        return cast(equal(reshape(labels, shape(labels) + (1,)), np.arange(k)), dtype=dtype)
    out = np.zeros(labels.shape + (k,), dtype=dtype)
    out.reshape(-1)[_labelled(labels, k)] = 1
    return out


def _ce_jvp(ts, ans, logits, labels, reduction="mean"):
    k = shape(logits)[-1]
    p = softmax(logits, axis=-1)
    d = p - _one_hot_like(labels, k, p)
    if reduction == "mean":
        d = d * (1.0 / math.prod(shape(logits)[:-1]))
    nll = sum_(d * ts[0], axis=-1)
    if reduction == "none":
        return nll
    return sum_(nll, axis=tuple(range(-ndim(logits) + 1, 0)))


cross_entropy = Structural(
    "cross_entropy",
    _cross_entropy,
    vjps=(_ce_vjp, None),
    jvp=_ce_jvp,
)
cross_entropy.residual = _cross_entropy_softmax  # (loss, softmax): the VJP reuses the softmax


def _cast_impl(x, dtype):
    return np.asarray(x).astype(dtype, copy=False)


cast = Structural(
    "cast",
    _cast_impl,
    vjps=(lambda g, ans, x, dtype: cast(g, dtype=x.dtype),),
    jvp=lambda ts, ans, x, dtype: cast(ts[0], dtype=dtype),
    save_args=False,
)

# --- Taylor mode (taylor.py): linear primitives map each coefficient by their JVP, matmul takes a
# Cauchy product, and the normalisations and losses are evaluated as compositions of primitives (with
# the maximum shift as a constant, so the series are as stable as the values).
_LINEAR = (
    sum_, max_, min_, reshape_p, transpose_p, broadcast_to_p, getitem, scatter_add, concatenate, cast,
)  # fmt: skip
for _p in _LINEAR:
    _p.taylor = "linear"
matmul.taylor = "bilinear"


def _shift(x, axis):
    m = np.max(raw(x), axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0)


def _linear_taylor(x, w, b=None):
    y = matmul(x, _mT(w))
    return y if b is None else y + b


def _softmax_taylor(x, axis=-1):
    e = exp(x - _shift(x, axis))
    return e / sum_(e, axis=axis, keepdims=True)


def _log_softmax_taylor(x, axis=-1):
    z = x - _shift(x, axis)
    return z - log(sum_(exp(z), axis=axis, keepdims=True))


def _logsumexp_taylor(x, axis=None, keepdims=False):
    m = _shift(x, axis)
    return log(sum_(exp(x - m), axis=axis, keepdims=keepdims)) + (m if keepdims else np.squeeze(m, axis))


def _ce_taylor(logits, labels, reduction="mean"):
    labels = np.asarray(raw(labels))
    picked = getitem(logits, index=(*np.indices(labels.shape, sparse=True), labels))
    nll = _logsumexp_taylor(logits, axis=-1) - picked
    if reduction == "none":
        return nll
    return sum_(nll) / labels.size if reduction == "mean" else sum_(nll)


linear.taylor, softmax.taylor, log_softmax.taylor = _linear_taylor, _softmax_taylor, _log_softmax_taylor
logsumexp.taylor, cross_entropy.taylor = _logsumexp_taylor, _ce_taylor

use_structural(sum_=sum_, reshape=reshape, broadcast_to=broadcast_to, where=where)

# --- convolution: one matrix product per group over the im2col matrix of the padded input ---------
# x (N, C, *spatial), w (O, C // groups, *kernel) -> (N, O, *out): PyTorch's layout, 1 to 3 spatial axes.
# `padding` holds (low, high) per spatial axis; a negative entry crops. The input's VJP is the transposed
# convolution (a matrix product and a fold), the kernel's is a convolution of the input with the
# cotangent as kernel, so every order of derivative is made of conv, matmul and fold.


def conv_out_size(size: int, k: int, stride: int, pad: tuple, dilation: int) -> int:
    return (size + pad[0] + pad[1] - dilation * (k - 1) - 1) // stride + 1


def pad_crop(x, pads):
    """x with its trailing len(pads) axes padded with zeros (positive entries) or cropped (negative)."""
    lead = x.ndim - len(pads)
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        crop = tuple(
            slice(max(-lo, 0), x.shape[lead + i] - max(-hi, 0)) for i, (lo, hi) in enumerate(pads)
        )
        x = x[(slice(None),) * lead + crop]
    if any(lo > 0 or hi > 0 for lo, hi in pads):
        sizes = tuple(s + max(lo, 0) + max(hi, 0) for s, (lo, hi) in zip(x.shape[lead:], pads))
        out = np.zeros(x.shape[:lead] + sizes, dtype=x.dtype)  # (faster than np.pad)
        inner = tuple(slice(max(lo, 0), max(lo, 0) + s) for s, (lo, _) in zip(x.shape[lead:], pads))
        out[(slice(None),) * lead + inner] = x
        x = out
    return x


def _channels_first(x, pads):
    """x (N, C, *spatial) as (C, N, *padded), `pads` as in `pad_crop`: without padding a transposed
    view; with it, the one copy does both the transpose and the padding."""
    return pad_crop(x.transpose((1, 0, *range(2, x.ndim))), pads)


def _conv(x, w, stride, padding, dilation, groups):
    x, w = np.asarray(x), np.asarray(w)
    n, o, cg, kernel = x.shape[0], w.shape[0], w.shape[1], w.shape[2:]
    nd = len(kernel)
    kk = math.prod(kernel)
    og = o // groups
    wm = w.reshape(groups, og, cg * kk)
    sp = tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[2:], padding))
    out = tuple((s - d * (k - 1) - 1) // m + 1 for s, k, m, d in zip(sp, kernel, stride, dilation))
    if math.prod(out) >= math.prod(kernel):
        # im2col with the batch folded into the columns: (C, K, N, *out), each kernel offset one
        # strided copy of the channels-first padded input (runs of the output's width); then one
        # matrix product per group, (O / G, Cg K) @ (Cg K, N out). One large product instead of one
        # per image: BLAS threads synchronise once, not N times.
        xt = _channels_first(x, padding)
        cols = np.empty((groups * cg, kk, n) + out, dtype=np.result_type(x, w))
        for k, offset in enumerate(itertools.product(*map(range, kernel))):
            cols[:, k] = xt[(slice(None), slice(None), *pool_slices(offset, out, stride, dilation))]
        y = np.matmul(wm, cols.reshape(groups, cg * kk, n * math.prod(out)))  # (G, O / G, N out)
        y = y.reshape((o, n) + out).transpose((1, 0, *range(2, 2 + nd)))
        return np.ascontiguousarray(y)
    # a kernel larger than the output (the weight gradient's convolution): the batch folded into the
    # rows, (G, N, *out, Cg, *kernel), one strided copy per output position (the window it reads, with
    # the kernel's long runs innermost); then (N out, Cg K) @ (Cg K, O / G) per group
    xp = pad_crop(x, padding)
    cols = np.empty((groups, n) + out + (cg,) + tuple(kernel), dtype=np.result_type(x, w))
    for pos in itertools.product(*map(range, out)):
        win = xp[(slice(None), slice(None), *pool_slices(pos, kernel, dilation, stride))]
        cols[(slice(None), slice(None), *pos)] = win.reshape((n, groups, cg) + tuple(kernel)).swapaxes(
            0, 1
        )
    cols = cols.reshape(groups, n * math.prod(out), cg * kk)
    y = np.matmul(cols, wm.transpose(0, 2, 1))  # (G, N * out, O / G)
    y = y.reshape((groups, n) + out + (og,))
    y = y.transpose((1, 0, 2 + nd, *range(2, 2 + nd)))
    return np.ascontiguousarray(y).reshape((n, o) + out)


def _unpad(dx, padding, sizes):
    """From the padded extent back to the input's: padding dropped, cropped parts restored as zeros."""
    nd = len(padding)
    ext = shape(dx)[-nd:]
    if any(lo > 0 or hi > 0 for lo, hi in padding):
        keep = tuple(slice(max(lo, 0), e - max(hi, 0)) for (lo, hi), e in zip(padding, ext))
        dx = getitem(dx, index=(Ellipsis, *keep))
    if any(lo < 0 or hi < 0 for lo, hi in padding):
        at = tuple(slice(max(-lo, 0), s - max(-hi, 0)) for (lo, hi), s in zip(padding, sizes))
        dx = scatter_add(dx, index=(Ellipsis, *at), new_shape=shape(dx)[:-nd] + tuple(sizes))
    return dx


def _conv_vjp_x(g, ans, x, w, stride, padding, dilation, groups):
    # the transposed convolution: each output's cotangent times the kernel, added back into the window
    # that output read (fold); its buffer is the size of the forward's im2col. The batch is the
    # innermost axis, (C, *spatial, N): one matrix product (Cg K, Og) @ (Og, out N) per group, and
    # each kernel offset of the fold adds runs of a whole image row times the batch (the batch is one
    # more spatial axis with a kernel of 1), not runs of one row.
    b = _lead(g, ans)
    o, cg, kernel = shape(w)[0], shape(w)[1], shape(w)[2:]
    og, kk, nd = o // groups, math.prod(kernel), len(kernel)
    lead, out = shape(g)[:b], shape(ans)[2:]
    n = math.prod(lead) * shape(ans)[0]  # leading batch axes of g join the images
    gt = transpose(reshape(g, (n, groups, og, math.prod(out))), (1, 2, 3, 0))
    gt = reshape(gt, (groups, og, math.prod(out) * n))
    wm = transpose(reshape(w, (groups, og, cg * kk)), (0, 2, 1))
    cols = reshape(matmul(wm, gt), (groups * cg, kk) + out + (n,))  # (C, K, *out, N)
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(shape(x)[2:], padding))
    dx = fold(
        cols,
        kernel=(*kernel, 1),
        stride=(*stride, 1),
        dilation=(*dilation, 1),
        new_shape=(groups * cg,) + padded + (n,),
    )
    dx = _unpad(dx, (*padding, (0, 0)), (*shape(x)[2:], n))
    return reshape(transpose(dx, (nd + 1, 0, *range(1, nd + 1))), lead + shape(x))


def _conv_vjp_w(g, ans, x, w, stride, padding, dilation, groups):
    b = _lead(g, ans)
    lead = shape(g)[:b]
    nb = math.prod(lead)
    nd = ndim(w) - 2
    n, sp = shape(x)[0], shape(x)[2:]
    o, cg, kernel = shape(w)[0], shape(w)[1], shape(w)[2:]
    og, out = o // groups, shape(g)[b + 2 :]
    # the input as a batch of Cg images with groups * N channels; the cotangent as groups * nb * Og
    # kernels over N channels, dilated by the stride; the result's stride is the kernel's dilation
    xs = reshape(
        transpose(reshape(x, (n, groups, cg) + sp), (2, 1, 0, *range(3, 3 + nd))), (cg, groups * n) + sp
    )
    gk = reshape(g, (nb, n, groups, og) + out)
    gk = transpose(gk, (2, 0, 3, 1, *range(4, 4 + nd)))
    gk = reshape(gk, (groups * nb * og, n) + out)
    pads = []
    for size, k, m, (lo, hi), d in zip(sp, kernel, stride, padding, dilation):
        rest = (size + lo + hi - d * (k - 1) - 1) % m  # trim the inputs no window reads
        pads.append((lo, hi - rest))
    if b == 0 and groups == 1 and nd < 3 and o < cg * math.prod(kernel):
        # The same convolution with the batch as one more spatial axis, innermost, of kernel N: its
        # im2col copies runs of a whole image row times the batch instead of one row. It costs moving
        # x and g to batch-innermost, so it is taken where the im2col matrix (Cg K per output
        # position) outweighs g (O per output position).
        last = (*range(1, 2 + nd), 0)
        xs = reshape(transpose(x, last), (cg, 1) + sp + (n,))
        gk = reshape(transpose(g, last), (o, 1) + out + (n,))
        dw = conv(
            xs,
            gk,
            stride=(*dilation, 1),
            padding=(*pads, (0, 0)),
            dilation=(*stride, 1),
            groups=1,
        )  # (Cg, O, *kernel, 1)
        return transpose(reshape(dw, (cg, o) + kernel), (1, 0, *range(2, 2 + nd)))
    dw = conv(xs, gk, stride=tuple(dilation), padding=tuple(pads), dilation=tuple(stride), groups=groups)
    dw = reshape(dw, (cg, groups, nb, og) + kernel)  # (Cg, G, nb, Og, *kernel)
    dw = transpose(dw, (2, 1, 3, 0, *range(4, 4 + nd)))
    return reshape(dw, lead + shape(w))


def _conv_jvp(ts, ans, x, w, stride, padding, dilation, groups):
    tx, tw = ts
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    out = None
    if tx is not None:
        b = _lead(tx, x)
        y = conv(reshape(tx, (-1,) + shape(x)[1:]), w, **kw)
        out = reshape(y, shape(tx)[:b] + shape(ans))
    if tw is not None:
        b = _lead(tw, w)
        lead = shape(tw)[:b]
        nb = math.prod(lead)
        nd = ndim(w) - 2
        og = shape(w)[0] // groups
        n, out_sp = shape(ans)[0], shape(ans)[2:]
        # a batch of kernel tangents as extra output channels of each group
        k = reshape(tw, (nb, groups, og) + shape(w)[1:])
        k = reshape(transpose(k, (1, 0, *range(2, 4 + nd))), (groups * nb * og,) + shape(w)[1:])
        y = reshape(conv(x, k, **kw), (n, groups, nb, og) + out_sp)
        y = reshape(transpose(y, (2, 0, 1, 3, *range(4, 4 + nd))), lead + shape(ans))
        out = y if out is None else out + y
    return out


conv = Structural("conv", _conv, vjps=(_conv_vjp_x, _conv_vjp_w), jvp=_conv_jvp)


# --- max pooling: the maximum of each window, taken offset by offset over strided slices ----------
# x (..., *spatial) with windows over the trailing len(kernel) axes; `padding` holds (low, high) per
# axis and pads with -inf. Tied maxima share the gradient evenly, as in the `max` reduction.


def pool_slices(offset: tuple, kernel_out: tuple, stride: tuple, dilation: tuple) -> tuple:
    """Per spatial axis, the strided slice of the padded input that kernel `offset` reads."""
    return tuple(
        slice(i * d, i * d + m * (o - 1) + 1, m)
        for i, o, m, d in zip(offset, kernel_out, stride, dilation)
    )


def pool_pad(x, padding, fill):
    lead = x.ndim - len(padding)
    if not any(lo or hi for lo, hi in padding):
        return x
    return np.pad(x, [(0, 0)] * lead + list(padding), constant_values=fill)


def _max_pool(x, kernel, stride, padding, dilation):
    xp = pool_pad(np.asarray(x), padding, -np.inf)
    nd = len(kernel)
    out = tuple(
        (s - d * (k - 1) - 1) // m + 1 for s, k, m, d in zip(xp.shape[-nd:], kernel, stride, dilation)
    )
    ans = None
    for offset in itertools.product(*map(range, kernel)):
        sl = xp[(Ellipsis, *pool_slices(offset, out, stride, dilation))]
        ans = sl.copy() if ans is None else np.maximum(ans, sl, out=ans)
    return ans


def _max_pool_weights(ans, x, kernel, stride, padding, dilation):
    """(mask, share): mask (..., K, *out) is 1 where the element at each of the K kernel offsets is its
    window's maximum, share (..., *out) is 1 / the number of maxima of each window (ties share the
    gradient evenly; a window's weights are mask * share). Constants: the rules are linear in g and t.
    Eagerly the mask is a bool array: the products with it cost no more than with floats, and no
    weight array of floats is written."""
    nd = len(kernel)
    if is_abstract(ans) or is_abstract(x) or _staging(ans) or _staging(x):
        # traced to a program, or batched by vmap: the same, in primitives
        return _traced_max_pool_weights(ans, x, kernel, stride, padding, dilation)
    a = np.asarray(raw(ans))
    xp = pool_pad(np.asarray(raw(x)), padding, -np.inf)
    out = a.shape[-nd:]
    kk = math.prod(kernel)
    mask = np.empty(a.shape[:-nd] + (kk,) + out, dtype=bool)
    for n, offset in enumerate(itertools.product(*map(range, kernel))):
        sl = xp[(Ellipsis, *pool_slices(offset, out, stride, dilation))]
        np.equal(sl, a, out=mask[(Ellipsis, n) + (slice(None),) * nd])
    # maxima per window (ties are common: all-zero windows after a ReLU), summed over the bytes
    count = np.add.reduce(mask.view(np.uint8), axis=-nd - 1, dtype=np.uint8 if kk < 256 else np.int64)
    np.maximum(count, 1, out=count)  # a NaN window has no maximum equal to it: no gradient there
    return mask, np.reciprocal(count, dtype=a.dtype)


def _staging(v) -> bool:
    """True for a box that a staging trace (a vmap's batching trace, a program) must see."""
    return type(staged(v)) in _BOXES


def _traced_max_pool_weights(ans, x, kernel, stride, padding, dilation):
    nd = len(kernel)
    out = shape(ans)[-nd:]
    xp = x
    if any(lo or hi for lo, hi in padding):
        sizes = shape(x)[-nd:]
        padded = tuple(s + lo + hi for s, (lo, hi) in zip(sizes, padding))
        inner = tuple(slice(lo, lo + s) for (lo, _), s in zip(padding, sizes))
        fill = np.full(padded, -np.inf, dtype=np.result_type(raw(ans)))
        fill[inner] = 0
        xp = scatter_add(x, index=(Ellipsis, *inner), new_shape=shape(x)[:-nd] + padded) + fill
    masks = []
    for offset in itertools.product(*map(range, kernel)):
        eq = getitem(xp, index=(Ellipsis, *pool_slices(offset, out, stride, dilation))) == ans
        masks.append(reshape(_mask(eq, ans), shape(ans)[:-nd] + (1,) + tuple(out)))
    w = concatenate(*masks, axis=-nd - 1)
    return w, 1 / sum_(w, axis=-nd - 1)  # ties share evenly


def _max_pool_vjp(g, ans, x, kernel, stride, padding, dilation):
    b = _lead(g, ans)
    nd = len(kernel)
    out = shape(ans)[-nd:]
    mask, share = _max_pool_weights(ans, x, kernel, stride, padding, dilation)
    spread = reshape(g * share, shape(g)[:-nd] + (1,) + out) * mask  # (..., K, *out)
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(shape(x)[-nd:], padding))
    dx = fold(
        spread,
        kernel=tuple(kernel),
        stride=tuple(stride),
        dilation=tuple(dilation),
        new_shape=shape(g)[:b] + shape(x)[:-nd] + padded,
    )
    return _unpad(dx, padding, shape(x)[-nd:])


def _max_pool_jvp(ts, ans, x, kernel, stride, padding, dilation):
    t = ts[0]
    nd = len(kernel)
    mask, share = _max_pool_weights(ans, x, kernel, stride, padding, dilation)
    if any(lo or hi for lo, hi in padding):
        inner = tuple(slice(lo, lo + s) for (lo, _), s in zip(padding, shape(x)[-nd:]))
        padded = tuple(s + lo + hi for s, (lo, hi) in zip(shape(x)[-nd:], padding))
        t = scatter_add(t, index=(Ellipsis, *inner), new_shape=shape(t)[: ndim(t) - nd] + padded)
    return sum_(_unfold(t, kernel, stride, dilation, shape(ans)[-nd:]) * mask, axis=-nd - 1) * share


def _unfold(c, kernel, stride, dilation, out):
    """(..., K, *out): the strided slice of c that each of the K kernel offsets reads (im2col, the
    transpose of fold)."""
    nd = len(kernel)
    parts = []
    for offset in itertools.product(*map(range, kernel)):
        part = getitem(c, index=(Ellipsis, *pool_slices(offset, out, stride, dilation)))
        parts.append(reshape(part, shape(part)[:-nd] + (1,) + tuple(out)))
    return parts[0] if len(parts) == 1 else concatenate(*parts, axis=-nd - 1)


def _fold(cols, kernel, stride, dilation, new_shape):
    nd = len(kernel)
    out = cols.shape[-nd:]
    tiles = tuple(stride) == tuple(kernel) and all(d == 1 for d in dilation)
    covered = tiles and all(o * k == s for o, k, s in zip(out, kernel, new_shape[-nd:]))
    y = (np.empty if covered else np.zeros)(new_shape, dtype=cols.dtype)
    for n, offset in enumerate(itertools.product(*map(range, kernel))):
        src = cols[(Ellipsis, n) + (slice(None),) * nd]
        dst = y[(Ellipsis, *pool_slices(offset, out, stride, dilation))]
        if tiles:  # each element is in one window: copy, do not accumulate
            dst[...] = src
        else:
            dst += src
    return y


max_pool = Structural("max_pool", _max_pool, vjps=(_max_pool_vjp,), jvp=_max_pool_jvp, save_ans=True)

# fold (col2im): cols (..., K, *out) added into a zero array of `new_shape`, the values of kernel
# offset k at the strided slice that offset reads (overlapping windows add up). The transposed
# convolution and max pooling's VJP end in it; its transpose (unfold, im2col) gathers the slices.
fold = Structural(
    "fold",
    _fold,
    vjps=(
        lambda c, ans, cols, kernel, stride, dilation, new_shape: _unfold(
            c, kernel, stride, dilation, shape(cols)[-len(kernel) :]
        ),
    ),
    jvp=lambda ts, ans, cols, kernel, stride, dilation, new_shape: fold(
        ts[0],
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        new_shape=shape(ts[0])[: _lead(ts[0], cols)] + tuple(new_shape),
    ),
    save_args=False,
)


# Taylor mode for the convolution layer's primitives (see the Taylor block above): conv is bilinear in
# (x, w), max_pool selects (linear where the maxima do not tie), fold sums windows (linear).
conv.taylor, max_pool.taylor, fold.taylor = "bilinear", "linear", "linear"

__all__ = [name for name, v in globals().items() if isinstance(v, (Elementwise, Structural, NonDiff))]
del BOX_TYPES
