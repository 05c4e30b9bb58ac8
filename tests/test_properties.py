"""Property-based tests of every differentiable primitive of the table.

For each primitive a hypothesis strategy draws cases: random shapes (0-d, size-1 axes, broadcasting
pairs made by dropping leading axes and setting axes to 1), random float64 values inside the
primitive's domain and clear of its kinks, and random parameters (axes, keepdims, indices,
exponents...). Every case is checked three ways:

- derivatives: `check_grads` in reverse and forward mode to order 2;
- values: the result on tensors equals numpy's, with numpy's shape (broadcasting included);
- dtypes: float32 inputs give float32 outputs, gradients, cotangents and tangents.

`EXAMPLES` sets the number of examples per primitive and property. The examples that pass are
counted; run pytest with `--junitxml=FILE` to read the total from the `property_examples` property of
the test suite.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wengert as W
from wengert.core import primitives as P
from wengert.core.primitive import Elementwise, NonDiff, Structural
from wengert.testing import check_grads

#: Examples per primitive and property (three properties per primitive).
EXAMPLES = 150

_COUNT = {"examples": 0}


@pytest.fixture(scope="module")
def examples(record_testsuite_property):
    """The running count of property examples; recorded in the JUnit XML at the end."""
    yield _COUNT
    record_testsuite_property("property_examples", _COUNT["examples"])


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Case(NamedTuple):
    """A function of the differentiable arguments `args`, written with wengert, and its numpy twin."""

    fn: Callable
    ref: Callable
    args: tuple


# --- shapes ------------------------------------------------------------------------------------------


def shapes(min_dims: int = 0, max_dims: int = 3, max_side: int = 3):
    return st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def broadcastable_to(draw, base: tuple) -> tuple:
    """A shape that broadcasts to `base`: some leading axes dropped, some axes set to 1."""
    kept = base[draw(st.integers(0, len(base))) :]
    return tuple(1 if draw(st.integers(0, 2)) == 0 else s for s in kept)


@st.composite
def broadcasting(draw, n: int = 2, min_dims: int = 0) -> tuple:
    """n shapes broadcasting together, derived from one random base shape."""
    base = draw(shapes(min_dims=min_dims))
    return tuple(draw(broadcastable_to(base)) for _ in range(n))


# --- values ------------------------------------------------------------------------------------------


def inside(lo: float, hi: float):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


AWAY_FROM_ZERO = st.one_of(inside(0.2, 2.0), inside(-2.0, -0.2))  # |x| >= 0.2: clear of a kink at 0


def array(shape, elements=None):
    return hnp.arrays(np.float64, shape, elements=inside(-2.0, 2.0) if elements is None else elements)


def lattice(offset: float):
    """k + offset + u, u in [0, 0.3]: values on two lattices (offsets 0 and 0.5) stay 0.2 apart."""
    return st.builds(lambda k, u: k + offset + u, st.integers(-2, 2), inside(0.0, 0.3))


@st.composite
def distinct(draw, shape) -> np.ndarray:
    """Values at least 0.2 apart (no ties for max/min), in random order."""
    n = math.prod(shape)
    order = np.array(draw(st.permutations(range(n))), dtype=np.float64)
    noise = draw(array((n,), inside(0.0, 0.1)))
    return (order * 0.3 + noise - 0.15 * n).reshape(shape)


# --- elementwise primitives --------------------------------------------------------------------------


def _erf_ref(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


UNARY = {  # name: (wengert function, numpy reference, elements of the domain clear of kinks)
    "neg": (W.neg, np.negative, None),
    "exp": (W.exp, np.exp, None),
    "log": (W.log, np.log, inside(0.3, 3.0)),
    "sqrt": (W.sqrt, np.sqrt, inside(0.3, 3.0)),
    "sin": (W.sin, np.sin, None),
    "cos": (W.cos, np.cos, None),
    "tan": (W.tan, np.tan, inside(-1.0, 1.0)),
    "tanh": (W.tanh, np.tanh, None),
    "sinh": (W.sinh, np.sinh, None),
    "cosh": (W.cosh, np.cosh, None),
    "arcsin": (W.arcsin, np.arcsin, inside(-0.8, 0.8)),
    "arccos": (W.arccos, np.arccos, inside(-0.8, 0.8)),
    "arctan": (W.arctan, np.arctan, None),
    "log1p": (W.log1p, np.log1p, inside(-0.7, 3.0)),
    "expm1": (W.expm1, np.expm1, None),
    "erf": (W.erf, _erf_ref, None),
    "sigmoid": (W.sigmoid, lambda x: 1 / (1 + np.exp(-x)), inside(-5.0, 5.0)),
    "softplus": (W.softplus, lambda x: np.log1p(np.exp(x)), inside(-5.0, 5.0)),
    "relu": (W.relu, lambda x: np.maximum(x, 0), AWAY_FROM_ZERO),
    "gelu": (W.gelu, lambda x: 0.5 * x * (1 + _erf_ref(x / np.sqrt(2.0))), None),
    "silu": (W.silu, lambda x: x / (1 + np.exp(-x)), inside(-6.0, 6.0)),
    "copy": (W.clone, lambda x: np.array(x, copy=True), None),
    "abs": (W.abs, np.abs, AWAY_FROM_ZERO),
}


def unary(name: str):
    fn, ref, elements = UNARY[name]
    return shapes().flatmap(lambda s: array(s, elements)).map(lambda x: Case(fn, ref, (x,)))


# An exponent of exactly 0 has its own regression test below (the mixed derivative d2/dxdy x**y = 1/x).
NONZERO = inside(-2.0, 2.0).map(lambda v: v or 0.5)

BINARY = {  # name: (wengert function, numpy reference, elements of x, elements of y)
    "add": (W.add, np.add, None, None),
    "sub": (W.sub, np.subtract, None, None),
    "mul": (W.mul, np.multiply, None, None),
    "div": (W.div, np.divide, None, st.one_of(inside(0.5, 2.0), inside(-2.0, -0.5))),
    "pow": (W.power, np.power, inside(0.5, 2.0), NONZERO),
    "leaky_relu": (W.leaky_relu, lambda x, a: np.where(x > 0, x, a * x), AWAY_FROM_ZERO, None),
}


@st.composite
def binary(draw, name: str) -> Case:
    fn, ref, ex, ey = BINARY[name]
    sx, sy = draw(broadcasting())
    return Case(fn, ref, (draw(array(sx, ex)), draw(array(sy, ey))))


@st.composite
def power_cases(draw) -> Case:
    """x ** y for arrays (x > 0), an integer exponent (x of either sign) and a constant base."""
    kind = draw(st.sampled_from(["arrays", "integer exponent", "constant base"]))
    if kind == "arrays":
        return draw(binary("pow"))
    x = draw(array(draw(shapes()), AWAY_FROM_ZERO))
    if kind == "integer exponent":
        e = draw(st.integers(-3, 3))
        return Case(lambda x: x**e, lambda x: x**e, (x,))
    base = draw(inside(0.5, 3.0))
    return Case(lambda y: base**y, lambda y: base**y, (x,))


@st.composite
def extremum(draw, name: str) -> Case:
    """maximum/minimum of broadcast arrays whose values sit on two lattices 0.2 apart (no ties)."""
    fn, ref = (W.maximum, np.maximum) if name == "maximum" else (W.minimum, np.minimum)
    sx, sy = draw(broadcasting())
    ex, ey = (lattice(0.0), lattice(0.5)) if draw(st.booleans()) else (lattice(0.5), lattice(0.0))
    return Case(fn, ref, (draw(array(sx, ex)), draw(array(sy, ey))))


@st.composite
def where_cases(draw) -> Case:
    sc, sx, sy = draw(broadcasting(3))
    cond = draw(hnp.arrays(np.bool_, sc))
    return Case(
        lambda x, y: W.where(cond, x, y),
        lambda x, y: np.where(cond, x, y),
        (draw(array(sx)), draw(array(sy))),
    )


@st.composite
def clip_cases(draw) -> Case:
    """clip to [lo, hi] (either may be None), with x at least 0.1 from both edges (hi - lo >= 0.6, so
    a value moved 0.2 away from one edge stays clear of the other)."""
    lo = draw(inside(-1.5, 0.5))
    hi = lo + draw(inside(0.6, 2.0))
    lo, hi = draw(st.sampled_from([(lo, hi), (None, hi), (lo, None)]))
    x = draw(array(draw(shapes()), inside(-3.0, 3.0)))
    for edge in (lo, hi):
        if edge is not None:
            x = np.where(np.abs(x - edge) < 0.1, np.where(x < edge, edge - 0.2, edge + 0.2), x)
    return Case(lambda x: W.clip(x, lo, hi), lambda x: np.clip(x, lo, hi), (x,))


# --- reductions --------------------------------------------------------------------------------------


@st.composite
def axes(draw, nd: int):
    """None, an int or a tuple of distinct axes (empty included), each possibly negative."""
    kind = draw(st.sampled_from(["none", "int", "tuple"] if nd else ["none", "tuple"]))
    if kind == "none":
        return None
    if nd == 0:
        return ()
    chosen = draw(st.lists(st.integers(0, nd - 1), unique=True, min_size=kind == "int", max_size=nd))
    chosen = [a - nd if draw(st.booleans()) else a for a in chosen]
    return chosen[0] if kind == "int" else tuple(chosen)


def _np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


REDUCTIONS = {  # name: (wengert function, numpy reference)
    "sum": (W.sum, np.sum),
    "max": (W.max, np.max),
    "min": (W.min, np.min),
    "logsumexp": (W.logsumexp, _np_logsumexp),
}


@st.composite
def reduction(draw, name: str) -> Case:
    fn, ref = REDUCTIONS[name]
    shape = draw(shapes())
    axis, keepdims = draw(axes(len(shape))), draw(st.booleans())
    if name in ("max", "min"):
        x = draw(distinct(shape))
    else:
        x = draw(array(shape)) + draw(st.sampled_from([0.0, 100.0, -100.0]))  # stable far from 0
    return Case(
        lambda x: fn(x, axis=axis, keepdims=keepdims),
        lambda x: ref(x, axis=axis, keepdims=keepdims),
        (x,),
    )


# --- structural primitives ---------------------------------------------------------------------------


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def reshape_cases(draw) -> Case:
    shape = draw(shapes())
    n = math.prod(shape)
    new: list[int] = []
    rest = n
    for _ in range(draw(st.integers(0 if n == 1 else 1, 3)) - 1):
        d = draw(st.sampled_from(_divisors(rest)))
        new.append(d)
        rest //= d
    if n != 1 or new or draw(st.booleans()):
        new.append(rest)
    if new and draw(st.booleans()):
        new[draw(st.integers(0, len(new) - 1))] = -1
    new = tuple(new)
    return Case(lambda x: W.reshape(x, new), lambda x: np.reshape(x, new), (draw(array(shape)),))


@st.composite
def transpose_cases(draw) -> Case:
    shape = draw(shapes())
    nd = len(shape)
    perm = draw(st.none() | st.permutations(range(nd)))
    if perm is not None:
        perm = tuple(a - nd if draw(st.booleans()) else a for a in perm)
    return Case(lambda x: W.transpose(x, perm), lambda x: np.transpose(x, perm), (draw(array(shape)),))


@st.composite
def broadcast_to_cases(draw) -> Case:
    target = draw(shapes())
    x = draw(array(draw(broadcastable_to(target))))
    return Case(lambda x: W.broadcast_to(x, target), lambda x: np.broadcast_to(x, target), (x,))


@st.composite
def index(draw, shape: tuple):
    """An index into `shape`: basic (ints, slices with steps, None, ...), integer arrays with repeats
    and negative entries (along one axis or on every axis), or a boolean mask of leading axes."""
    nd = len(shape)
    kinds = ["basic"] + (["int array", "int arrays", "mask"] if nd else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "basic":
        return draw(hnp.basic_indices(shape, allow_newaxis=True))
    if kind == "int arrays":
        return draw(hnp.integer_array_indices(shape, result_shape=shapes(1, 2, 4)))
    if kind == "int array":
        ax = draw(st.integers(0, nd - 1))
        ints = draw(st.lists(st.integers(-shape[ax], shape[ax] - 1), min_size=1, max_size=5))
        return (slice(None),) * ax + (np.array(ints),)
    k = draw(st.integers(1, nd))
    return draw(hnp.arrays(np.bool_, shape[:k]))


@st.composite
def getitem_cases(draw) -> Case:
    shape = draw(shapes())
    idx = draw(index(shape))
    return Case(lambda x: x[idx], lambda x: x[idx], (draw(array(shape)),))


@st.composite
def scatter_add_cases(draw) -> Case:
    """scatter_add (the VJP of indexing) called directly: repeated indices accumulate."""
    shape = draw(shapes())
    idx = draw(index(shape))
    idx = idx if isinstance(idx, tuple) else (idx,)  # the primitive takes a tuple
    gshape = np.zeros(shape)[idx].shape

    def ref(g):
        out = np.zeros(shape)
        np.add.at(out, idx, g)
        return out

    fn = lambda g: P.scatter_add(g, index=idx, new_shape=shape)
    return Case(fn, ref, (draw(array(gshape)),))


@st.composite
def concatenate_cases(draw) -> Case:
    """concatenate of 1 to 4 arrays along any axis, or stack (concatenate of expanded arrays)."""
    base = draw(shapes(min_dims=1))
    nd = len(base)
    k = draw(st.integers(1, 4))
    if draw(st.booleans()):
        axis = draw(st.integers(-nd, nd - 1))
        xs = []
        for _ in range(k):
            s = list(base)
            s[axis] = draw(st.integers(1, 3))
            xs.append(draw(array(tuple(s))))
        fn = lambda *xs: W.concatenate(xs, axis=axis)
        ref = lambda *xs: np.concatenate(xs, axis=axis)
    else:
        axis = draw(st.integers(-nd - 1, nd))
        xs = [draw(array(base)) for _ in range(k)]
        fn = lambda *xs: W.stack(xs, axis=axis)
        ref = lambda *xs: np.stack(xs, axis=axis)
    return Case(fn, ref, tuple(xs))


@st.composite
def matmul_cases(draw) -> Case:
    """Vector and matrix operands with broadcast batch axes, as numpy's matmul allows."""
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    bx, by = draw(broadcasting(2)) if draw(st.booleans()) else ((), ())
    xvec, yvec = draw(st.booleans()), draw(st.booleans())
    sx = (k,) if xvec else bx[-2:] + (n, k)
    sy = (k,) if yvec else by[-2:] + (k, m)
    return Case(W.matmul, np.matmul, (draw(array(sx)), draw(array(sy))))


@st.composite
def linear_cases(draw) -> Case:
    """x @ w.T + b for x of shape (*batch, in), batch of 0 to 2 axes, with and without bias."""
    n_in, n_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    x = draw(array(draw(shapes(max_dims=2)) + (n_in,)))
    w = draw(array((n_out, n_in)))
    if draw(st.booleans()):
        return Case(W.linear, lambda x, w, b: x @ w.T + b, (x, w, draw(array((n_out,)))))
    return Case(W.linear, lambda x, w: x @ w.T, (x, w))


def _np_log_softmax(x, axis):
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


@st.composite
def normalised(draw, name: str) -> Case:
    shape = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    x = draw(array(shape)) + draw(st.sampled_from([0.0, 100.0, -100.0]))
    if name == "softmax":
        return Case(lambda x: W.softmax(x, axis), lambda x: np.exp(_np_log_softmax(x, axis)), (x,))
    return Case(lambda x: W.log_softmax(x, axis), lambda x: _np_log_softmax(x, axis), (x,))


@st.composite
def cross_entropy_cases(draw) -> Case:
    """Logits of shape (*batch, classes) with 0 to 2 batch axes, every reduction."""
    batch, classes = draw(shapes(max_dims=2)), draw(st.integers(1, 4))
    labels = draw(hnp.arrays(np.int64, batch, elements=st.integers(0, classes - 1)))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    logits = draw(array(batch + (classes,))) + draw(st.sampled_from([0.0, 100.0, -100.0]))

    def ref(z):
        nll = -np.take_along_axis(_np_log_softmax(z, -1), labels[..., None], axis=-1)[..., 0]
        return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](nll)

    return Case(lambda z: W.cross_entropy(z, labels, reduction=reduction), ref, (logits,))


@st.composite
def cast_cases(draw) -> Case:
    """Up to float64 and back to the input's dtype (a float32 input exercises both directions)."""
    x = draw(array(draw(shapes())))
    fn = lambda x: W.astype(W.astype(x, np.float64) ** 2, x.dtype)
    return Case(fn, lambda x: (x.astype(np.float64) ** 2).astype(x.dtype), (x,))


def _np_conv(x, w, stride, padding, dilation, groups):
    """Convolution by a loop over output positions: an independent reference for the primitive."""
    nd = w.ndim - 2
    crop = tuple(slice(max(-lo, 0), s - max(-hi, 0)) for s, (lo, hi) in zip(x.shape[2:], padding))
    x = np.pad(
        x[(slice(None),) * 2 + crop], [(0, 0)] * 2 + [(max(lo, 0), max(hi, 0)) for lo, hi in padding]
    )
    o, cg, kernel = w.shape[0], w.shape[1], w.shape[2:]
    og = o // groups
    out = [(s - d * (k - 1) - 1) // m + 1 for s, k, m, d in zip(x.shape[2:], kernel, stride, dilation)]
    y = np.zeros((x.shape[0], o, *out))
    for pos in np.ndindex(*out):
        win = tuple(
            slice(p * m, p * m + d * (k - 1) + 1, d) for p, m, d, k in zip(pos, stride, dilation, kernel)
        )
        for g in range(groups):
            patch = x[(slice(None), slice(g * cg, (g + 1) * cg)) + win]  # (N, Cg, *kernel)
            wg = w[g * og : (g + 1) * og]  # (Og, Cg, *kernel)
            axes = tuple(range(1, nd + 2))
            y[(slice(None), slice(g * og, (g + 1) * og)) + pos] = np.tensordot(
                patch, wg, axes=(axes, axes)
            )
    return y


@st.composite
def conv_cases(draw) -> Case:
    """1-d and 2-d convolutions: groups, strides, dilations, and padding (low, high) per axis from -1
    (a crop) to 2, on small inputs whose every output is at least one window."""
    nd = draw(st.integers(1, 2))
    groups, cg, og, n = (draw(st.integers(1, 2)) for _ in range(4))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = tuple((draw(st.integers(-1, 2)), draw(st.integers(-1, 2))) for _ in range(nd))
    spatial = []
    for k, d, (lo, hi) in zip(kernel, dilation, padding):
        least = max(1, d * (k - 1) + 1 - lo - hi, -min(lo, 0) - min(hi, 0) + 1)
        spatial.append(draw(st.integers(least, least + 3)))
    x = draw(array((n, groups * cg, *spatial)))
    w = draw(array((groups * og, cg, *kernel)))
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return Case(lambda x, w: P.conv(x, w, **kw), lambda x, w: _np_conv(x, w, **kw), (x, w))


def _pool_geometry(draw, nd: int):
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    return kernel, stride, dilation


@st.composite
def max_pool_cases(draw) -> Case:
    """Max pooling over 1 or 2 trailing axes of distinct values (no ties), with -inf padding of at
    most half the kernel (every window holds an input) and windows that tile or overlap."""
    nd = draw(st.integers(1, 2))
    kernel, stride, dilation = _pool_geometry(draw, nd)
    if draw(st.booleans()):
        stride, dilation = kernel, (1,) * nd  # windows that tile the input
    padding = tuple((draw(st.integers(0, k // 2)), draw(st.integers(0, k // 2))) for k in kernel)
    spatial = tuple(
        draw(st.integers(d * (k - 1) + 1, d * (k - 1) + 4)) for k, d in zip(kernel, dilation)
    )
    lead = draw(shapes(max_dims=2, max_side=2))
    x = draw(distinct(lead + spatial))
    kw = dict(kernel=kernel, stride=stride, padding=padding, dilation=dilation)

    def ref(x):
        xp = np.pad(x, [(0, 0)] * len(lead) + list(padding), constant_values=-np.inf)
        out = [
            (s - d * (k - 1) - 1) // m + 1
            for s, k, m, d in zip(xp.shape[-nd:], kernel, stride, dilation)
        ]
        y = np.empty(lead + tuple(out))
        for pos in np.ndindex(*out):
            win = tuple(
                slice(p * m, p * m + d * (k - 1) + 1, d)
                for p, m, d, k in zip(pos, stride, dilation, kernel)
            )
            y[(Ellipsis, *pos)] = np.max(xp[(Ellipsis, *win)].reshape(lead + (-1,)), axis=-1)
        return y

    return Case(lambda x: P.max_pool(x, **kw), ref, (x,))


@st.composite
def fold_cases(draw) -> Case:
    """fold (col2im, the end of the transposed convolution and of max pooling's VJP) called directly:
    windows that tile, overlap or leave inputs uncovered."""
    nd = draw(st.integers(1, 2))
    kernel, stride, dilation = _pool_geometry(draw, nd)
    if draw(st.booleans()):
        stride, dilation = kernel, (1,) * nd
    out = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    lead = draw(shapes(max_dims=2, max_side=2))
    spatial = tuple(
        (o - 1) * m + d * (k - 1) + 1 + draw(st.integers(0, 1))
        for o, k, m, d in zip(out, kernel, stride, dilation)
    )
    kw = dict(kernel=kernel, stride=stride, dilation=dilation, new_shape=lead + spatial)

    def ref(cols):
        y = np.zeros(lead + spatial)
        for pos in np.ndindex(*out):
            for n, off in enumerate(np.ndindex(*kernel)):
                at = tuple(p * m + i * d for p, m, i, d in zip(pos, stride, off, dilation))
                y[(Ellipsis, *at)] += cols[(Ellipsis, n, *pos)]
        return y

    return Case(lambda c: P.fold(c, **kw), ref, (draw(array(lead + (math.prod(kernel),) + out)),))


#: One strategy of cases per differentiable primitive of the table.
STRATEGIES: dict[str, st.SearchStrategy[Case]] = {
    **{name: unary(name) for name in UNARY},
    **{name: binary(name) for name in ("add", "sub", "mul", "div", "leaky_relu")},
    "pow": power_cases(),
    "maximum": extremum("maximum"),
    "minimum": extremum("minimum"),
    "where": where_cases(),
    "clip": clip_cases(),
    **{name: reduction(name) for name in REDUCTIONS},
    "reshape": reshape_cases(),
    "transpose": transpose_cases(),
    "broadcast_to": broadcast_to_cases(),
    "getitem": getitem_cases(),
    "scatter_add": scatter_add_cases(),
    "concatenate": concatenate_cases(),
    "matmul": matmul_cases(),
    "linear": linear_cases(),
    "softmax": normalised("softmax"),
    "log_softmax": normalised("log_softmax"),
    "cross_entropy": cross_entropy_cases(),
    "cast": cast_cases(),
    "conv": conv_cases(),
    "max_pool": max_pool_cases(),
    "fold": fold_cases(),
}
NAMES = sorted(STRATEGIES)


def test_every_differentiable_primitive_has_a_strategy():
    """A primitive added to the table later fails here until it has a property strategy."""
    table = {
        p.name
        for p in vars(P).values()
        if isinstance(p, (Elementwise, Structural)) and not isinstance(p, NonDiff)
    }
    assert table - set(STRATEGIES) == set()
    assert set(STRATEGIES) - table == set()  # and no strategy outlives its primitive


# --- the properties ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_derivatives_match_finite_differences(name, data, examples):
    case = data.draw(STRATEGIES[name], label="case")
    check_grads(case.fn, *case.args, modes=("rev", "fwd"), order=2)
    examples["examples"] += 1


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_values_and_shapes_match_numpy(name, data, examples):
    case = data.draw(STRATEGIES[name], label="case")
    want = np.asarray(case.ref(*case.args))
    for tracked in (False, True):
        out = case.fn(*[W.tensor(a, requires_grad=tracked) for a in case.args])
        assert isinstance(out, W.Tensor) and out.requires_grad == tracked
        got = out.numpy()
        assert got.shape == want.shape  # numpy's broadcasting and result shape
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    examples["examples"] += 1


@pytest.mark.parametrize("name", NAMES)
@settings(SETTINGS)
@given(data=st.data())
def test_float32_in_float32_out(name, data, examples):
    case = data.draw(STRATEGIES[name], label="case")
    args = tuple(a.astype(np.float32) for a in case.args)
    rng = np.random.default_rng(0)
    ts = [W.tensor(a, requires_grad=True) for a in args]
    out = case.fn(*ts)
    assert out.dtype == np.float32
    out.backward(gradient=rng.standard_normal(out.shape).astype(np.float32))
    for t, a in zip(ts, args):
        assert t.grad.dtype == np.float32 and t.grad.shape == a.shape
    value, pull = W.vjp(case.fn, *args)
    cts = pull(np.ones(np.shape(value), np.float32))
    assert value.dtype == np.float32
    assert all(c.dtype == np.float32 and c.shape == a.shape for c, a in zip(cts, args))
    value, tangent = W.jvp(case.fn, args, tuple(np.ones_like(a) for a in args))
    assert value.dtype == np.float32 and tangent.dtype == np.float32 and tangent.shape == value.shape
    examples["examples"] += 1


def test_pow_mixed_second_derivative_at_zero_exponent():
    h = W.hessian(lambda v: v[0] ** v[1])(np.array([2.0, 0.0]))
    np.testing.assert_allclose(h, [[0.0, 0.5], [0.5, np.log(2.0) ** 2]])
