"""The table of primitives: every operation wengert differentiates, each with its derivative rules.

This is the only place a derivative formula is written. Elementwise primitives give one partial
derivative per argument (shared by reverse, forward and Taylor modes, tensors and scalars alike);
structural ones give per-argument VJPs and a JVP. Rules are written with the primitives themselves, so
every derivative can be differentiated again. Conventions at kinks: relu'(0) = 0, abs'(0) = 0, ties of
maximum/minimum and of max/min reductions split the gradient evenly, clip passes the gradient on its
closed interval. See docs/primitives.md for the full table with domains.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .anomaly import warn_at_user_line
from .primitive import DomainError, Elementwise, NonDiff, Structural, ndim, shape, unbroadcast
from .trace import BOX_TYPES, raw

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
    if getattr(cond, "_trace", None) is not None:  # batched by vmap: keep it a box
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


def _axes(axis, nd: int) -> tuple:
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


def _kept(xshape: tuple, axis) -> tuple:
    """Shape of a reduction over `axis` with keepdims=True."""
    nd = len(xshape)
    red = {a + nd for a in _axes(axis, nd)}
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
        g = reshape(g, shape(g)[:b] + _kept(x.shape, axis))
    return broadcast_to(g, shape(g)[:b] + x.shape)


sum_ = Structural(
    "sum",
    lambda x, axis=None, keepdims=False: np.sum(x, axis=axis, keepdims=keepdims),
    vjps=(_sum_vjp,),
    jvp=lambda ts, ans, x, axis=None, keepdims=False: sum_(
        ts[0], axis=_axes(axis, x.ndim), keepdims=keepdims
    ),
    save_args=False,
)


def _extremum(name: str, fn):
    def rule_parts(ans, x, axis):
        kept = _kept(x.shape, axis)
        ans_k = reshape(ans, kept)
        mask = _mask(x == ans_k, x)
        return kept, mask / sum_(mask, axis=axis, keepdims=True)

    def vjp(g, ans, x, axis=None, keepdims=False):
        b = _lead(g, ans)
        kept, share = rule_parts(ans, x, axis)
        return reshape(g, shape(g)[:b] + kept) * share

    def jvp(ts, ans, x, axis=None, keepdims=False):
        _, share = rule_parts(ans, x, axis)
        return sum_(ts[0] * share, axis=_axes(axis, ndim(x)), keepdims=keepdims)

    return Structural(
        name,
        lambda x, axis=None, keepdims=False: fn(x, axis=axis, keepdims=keepdims),
        vjps=(vjp,),
        jvp=jvp,
        save_ans=True,
    )


max_ = _extremum("max", np.max)
min_ = _extremum("min", np.min)

reshape_p = Structural(
    "reshape",
    lambda x, new_shape: np.reshape(x, new_shape),
    vjps=(lambda g, ans, x, new_shape: reshape(g, shape(g)[: _lead(g, ans)] + x.shape),),
    jvp=lambda ts, ans, x, new_shape: reshape(ts[0], shape(ts[0])[: _lead(ts[0], x)] + ans.shape),
    save_args=False,
)


def reshape(x, new_shape):
    """x with a new shape (shape parameters are keywords of the primitive, not arguments)."""
    return reshape_p(x, new_shape=tuple(new_shape))


def _perm(axes, nd):
    return tuple(range(nd))[::-1] if axes is None else tuple(int(a) % nd for a in axes)


def _batched_perm(perm, b):
    return tuple(range(b)) + tuple(b + a for a in perm)


transpose_p = Structural(
    "transpose",
    lambda x, axes=None: np.transpose(x, axes),
    vjps=(
        lambda g, ans, x, axes=None: transpose(
            g, _batched_perm(tuple(np.argsort(_perm(axes, x.ndim))), _lead(g, ans))
        ),
    ),
    jvp=lambda ts, ans, x, axes=None: transpose(
        ts[0], _batched_perm(_perm(axes, ndim(x)), _lead(ts[0], x))
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


def _batched_index(index: tuple, b: int) -> tuple:
    return (slice(None),) * b + index


def _is_basic(index: tuple) -> bool:
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in index)


def _scatter_add(g, index, new_shape):
    out = np.zeros(new_shape, dtype=np.result_type(g))
    if _is_basic(index):
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
            index=_batched_index(index, _lead(g, ans)),
            new_shape=shape(g)[: _lead(g, ans)] + x.shape,
        ),
    ),
    jvp=lambda ts, ans, x, index: getitem(ts[0], index=_batched_index(index, _lead(ts[0], x))),
    save_args=False,
)

scatter_add = Structural(
    "scatter_add",
    _scatter_add,
    vjps=(lambda g, ans, x, index, new_shape: getitem(g, index=_batched_index(index, _lead(g, ans))),),
    jvp=lambda ts, ans, x, index, new_shape: scatter_add(
        ts[0],
        index=_batched_index(index, _lead(ts[0], x)),
        new_shape=shape(ts[0])[: _lead(ts[0], x)] + tuple(new_shape),
    ),
    save_args=False,
)


def _concat_vjp(i):
    def rule(g, ans, *xs, axis=0):
        ax = _axes(axis, ans.ndim)[0]  # counted from the end, so batch axes of g need no care
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
    return concatenate(*full, axis=_axes(axis, ndim(ans))[0])


builtin_sum = sum  # the table defines its own `sum_`; keep the builtin for Python sequences
concatenate = Structural(
    "concatenate",
    lambda *xs, axis=0: np.concatenate(xs, axis=axis),
    vjps=_concat_vjp,
    jvp=_concat_jvp,
    save_args=False,
)

# --- matmul, with numpy's rules for 1-d operands and broadcast batch axes --------------------------


def _as_matrices(xs, ys):
    """Shapes of x and y promoted to at least 2-d (numpy's matmul rule for vectors)."""
    xm = (1,) + tuple(xs) if len(xs) == 1 else tuple(xs)
    ym = tuple(ys) + (1,) if len(ys) == 1 else tuple(ys)
    return xm, ym


def _out_full(xm, ym):
    return np.broadcast_shapes(xm[:-2], ym[:-2]) + (xm[-2], ym[-1])


def _mT(a):
    nd = ndim(a)
    perm = tuple(range(nd - 2)) + (nd - 1, nd - 2)
    return transpose(a, perm)


def _matmul_vjp_x(g, ans, x, y):
    b = _lead(g, ans)
    if b and x.ndim == 1 and y.ndim == 2:  # a batch of vector cotangents: one matrix product
        return matmul(g, _mT(y))
    xm, ym = _as_matrices(x.shape, y.shape)
    out = _out_full(xm, ym)
    gm = reshape(g, shape(g)[:b] + out)
    gx = matmul(gm, _mT(reshape(y, ym)))
    return reshape(unbroadcast(gx, xm, b), shape(g)[:b] + x.shape)


def _matmul_vjp_y(g, ans, x, y):
    b = _lead(g, ans)
    if b and x.ndim == 2 and y.ndim == 1:  # a batch of vector cotangents: one matrix product
        return matmul(g, x)
    xm, ym = _as_matrices(x.shape, y.shape)
    out = _out_full(xm, ym)
    gm = reshape(g, shape(g)[:b] + out)
    gy = matmul(_mT(reshape(x, xm)), gm)
    return reshape(unbroadcast(gy, ym, b), shape(g)[:b] + y.shape)


def _matmul_jvp(ts, ans, x, y):
    xm, ym = _as_matrices(shape(x), shape(y))
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
            c = reshape(c, shape(t)[:b] + shape(ans))
            out = c if out is None else out + c
            continue
        tm = _pad(reshape(t, shape(t)[:b] + this_m), b, this_m, nd)
        o = reshape(other, other_m)
        c = matmul(tm, o) if first else matmul(o, tm)
        c = reshape(c, shape(c)[:b] + shape(ans))
        out = c if out is None else out + c
    return out


matmul = Structural("matmul", np.matmul, vjps=(_matmul_vjp_x, _matmul_vjp_y), jvp=_matmul_jvp)


def _linear(x, w, b=None):
    y = x @ w.T
    if b is not None:
        y += b  # y is fresh: adding in place saves a temporary
    return y


def _linear_vjp_w(g, ans, x, w, b=None):
    bd = _lead(g, ans)
    g2 = reshape(g, shape(g)[:bd] + (-1, shape(w)[0]))
    return matmul(_mT(g2), reshape(x, (-1, shape(w)[1])))


def _linear_vjp_b(g, ans, x, w, b=None):
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
    vjps=(lambda g, ans, x, w, b=None: matmul(g, w), _linear_vjp_w, _linear_vjp_b),
    jvp=_linear_jvp,
)

# --- normalisations and losses, as primitives with stable forward passes and rules ---------------


def _softmax(x, axis=-1):
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def _softmax_rule(v, ans, axis):
    ax = _axes(axis, ndim(ans))
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
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


log_softmax = Structural(
    "log_softmax",
    _log_softmax,
    vjps=(
        lambda g, ans, x, axis=-1: g - exp(ans) * sum_(g, axis=_axes(axis, ndim(ans)), keepdims=True),
    ),
    jvp=lambda ts, ans, x, axis=-1: (
        ts[0] - sum_(exp(ans) * ts[0], axis=_axes(axis, ndim(ans)), keepdims=True)
    ),
    save_args=False,
    save_ans=True,
)


def _logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):  # all inputs -inf: the result is -inf
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _lse_weights(ans, x, axis):
    ans_k = reshape(ans, _kept(shape(x), axis))
    finite = isfinite(ans_k)
    return exp(x - where(finite, ans_k, 0.0)), ans_k  # softmax weights; 0 where all inputs are -inf


logsumexp = Structural(
    "logsumexp",
    _logsumexp,
    vjps=(
        lambda g, ans, x, axis=None, keepdims=False: (
            reshape(g, shape(g)[: _lead(g, ans)] + _kept(x.shape, axis)) * _lse_weights(ans, x, axis)[0]
        ),
    ),
    jvp=lambda ts, ans, x, axis=None, keepdims=False: sum_(
        _lse_weights(ans, x, axis)[0] * ts[0], axis=_axes(axis, ndim(x)), keepdims=keepdims
    ),
    save_ans=True,
)


def one_hot(labels, num_classes: int, dtype=np.float32) -> np.ndarray:
    """Rows of the identity: one_hot([2, 0], 3) -> [[0, 0, 1], [1, 0, 0]]."""
    if getattr(labels, "_trace", None) is not None:  # labels batched by vmap: by comparison
        _ = one_hot(raw(labels), num_classes)  # the checks, on every example
        hot = equal(reshape(labels, shape(labels) + (1,)), np.arange(num_classes))
        return cast(hot, dtype=np.dtype(dtype))
    labels = np.asarray(raw(labels))
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"one_hot: labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"one_hot: labels must be in [0, {num_classes}), got values from {labels.min()} to "
            f"{labels.max()}"
        )
    out = np.zeros(labels.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, labels[..., None], 1, axis=-1)
    return out


def _cross_entropy(logits, labels, reduction="mean"):
    z = logits - np.max(logits, axis=-1, keepdims=True)
    lse = np.log(np.sum(np.exp(z), axis=-1))
    nll = lse - np.take_along_axis(z, labels[..., None], axis=-1)[..., 0]
    if reduction == "none":
        return nll
    return np.sum(nll) / nll.size if reduction == "mean" else np.sum(nll)


def _ce_dlogits(logits, labels, reduction):
    """d loss / d logits per sample: softmax(logits) - one_hot(labels), scaled for the mean."""
    dt = np.result_type(raw(logits))
    classes = shape(logits)[-1]
    d = softmax(logits, axis=-1) - one_hot(labels, classes, dtype=dt)
    if reduction == "mean":
        d = d * (1.0 / max(1, math.prod(shape(logits)[:-1])))
    return d


def _ce_vjp(g, ans, logits, labels, reduction="mean"):
    b = _lead(g, ans)
    kept = shape(ans) + (1,) if reduction == "none" else (1,) * ndim(logits)
    return reshape(g, shape(g)[:b] + kept) * _ce_dlogits(logits, labels, reduction)


def _ce_jvp(ts, ans, logits, labels, reduction="mean"):
    nll = sum_(_ce_dlogits(logits, labels, reduction) * ts[0], axis=-1)
    if reduction == "none":
        return nll
    return sum_(nll, axis=tuple(range(-ndim(logits) + 1, 0)))


cross_entropy = Structural(
    "cross_entropy",
    _cross_entropy,
    vjps=(_ce_vjp, None),
    jvp=_ce_jvp,
)


def _cast_impl(x, dtype):
    return np.asarray(x).astype(dtype, copy=False)


cast = Structural(
    "cast",
    _cast_impl,
    vjps=(lambda g, ans, x, dtype: cast(g, dtype=x.dtype),),
    jvp=lambda ts, ans, x, dtype: cast(ts[0], dtype=dtype),
    save_args=False,
)

__all__ = [name for name, v in globals().items() if isinstance(v, (Elementwise, Structural, NonDiff))]
del BOX_TYPES
