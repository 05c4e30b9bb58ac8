"""Every primitive against finite differences: reverse and forward mode, to order 2, at several shapes
(0-d, vectors, matrices, broadcasting pairs) and axis/keepdims sweeps."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as W
from wengert.core import primitives as P
from wengert.core.primitive import Elementwise, NonDiff, Structural
from wengert.testing import check_grads

R = np.random.default_rng(1)


def sample(shape, lo=-2.0, hi=2.0, away_from=None):
    x = R.uniform(lo, hi, size=shape)
    if away_from is not None:  # keep clear of a kink so finite differences are valid
        x = np.where(np.abs(x - away_from) < 0.2, x + 0.5, x)
    return x


UNARY = {
    "neg": (W.neg, {}),
    "exp": (W.exp, {}),
    "log": (W.log, {"lo": 0.3, "hi": 3.0}),
    "sqrt": (W.sqrt, {"lo": 0.3, "hi": 3.0}),
    "sin": (W.sin, {}),
    "cos": (W.cos, {}),
    "tan": (W.tan, {"lo": -1.0, "hi": 1.0}),
    "tanh": (W.tanh, {}),
    "sinh": (W.sinh, {}),
    "cosh": (W.cosh, {}),
    "arcsin": (W.arcsin, {"lo": -0.8, "hi": 0.8}),
    "arccos": (W.arccos, {"lo": -0.8, "hi": 0.8}),
    "arctan": (W.arctan, {}),
    "log1p": (W.log1p, {"lo": -0.7, "hi": 3.0}),
    "expm1": (W.expm1, {}),
    "sigmoid": (W.sigmoid, {}),
    "softplus": (W.softplus, {}),
    "erf": (W.erf, {}),
    "relu": (W.relu, {"away_from": 0.0}),
    "gelu": (W.gelu, {}),
    "silu": (W.silu, {}),
    "leaky_relu": (lambda x: W.leaky_relu(x, 0.1), {"away_from": 0.0}),
    "copy": (W.clone, {}),
    "abs": (W.abs, {"away_from": 0.0}),
}
SHAPES = [(), (3,), (2, 3)]


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unary(name, shape):
    fn, dom = UNARY[name]
    check_grads(fn, sample(shape, **dom))


BINARY = {
    "add": (W.add, {}, {}),
    "sub": (W.sub, {}, {}),
    "mul": (W.mul, {}, {}),
    "div": (W.div, {}, {"lo": 0.5, "hi": 2.0}),
    "pow": (W.power, {"lo": 0.5, "hi": 2.0}, {}),
    "maximum": (W.maximum, {}, {}),
    "minimum": (W.minimum, {}, {}),
    "leaky_relu": (W.leaky_relu, {"away_from": 0.0}, {}),
}
PAIRS = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)), ((4, 1, 3), (2, 1))]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", PAIRS, ids=str)
def test_binary_broadcasting(name, shapes):
    fn, dx, dy = BINARY[name]
    x, y = sample(shapes[0], **dx), sample(shapes[1], **dy)  # ties have probability 0
    check_grads(fn, x, y)


def test_pow_with_constant_exponents():
    x = sample((3,), 0.5, 2.0)
    for e in (2, 3.5, -1.5, 0):
        check_grads(lambda x, e=e: x**e, x)
    check_grads(lambda y: 2.0**y, sample((3,)))


REDUCTIONS = {
    "sum": lambda x, axis, keepdims: W.sum(x, axis=axis, keepdims=keepdims),
    "mean": lambda x, axis, keepdims: W.mean(x, axis=axis, keepdims=keepdims),
    "max": lambda x, axis, keepdims: W.max(x, axis=axis, keepdims=keepdims),
    "min": lambda x, axis, keepdims: W.min(x, axis=axis, keepdims=keepdims),
    "var": lambda x, axis, keepdims: W.var(x, axis=axis, keepdims=keepdims),
    "std": lambda x, axis, keepdims: W.std(x, axis=axis, keepdims=keepdims),
    "logsumexp": lambda x, axis, keepdims: W.logsumexp(x, axis=axis, keepdims=keepdims),
}
AXES = [
    ((3,), None),
    ((3,), 0),
    ((2, 3), None),
    ((2, 3), 0),
    ((2, 3), -1),
    ((2, 3, 4), (0, 2)),
    ((2, 3, 4), 1),
]


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("shape_axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(name, shape_axis, keepdims):
    shape, axis = shape_axis
    x = R.permutation(np.arange(np.prod(shape))).reshape(shape) * 0.37 + R.uniform(0, 0.1)
    check_grads(lambda x: REDUCTIONS[name](x, axis, keepdims), x)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: W.reshape(x, (3, 2)),
        lambda x: W.reshape(x, (-1,)),
        lambda x: W.transpose(x),
        lambda x: W.transpose(W.reshape(x, (1, 2, 3)), (2, 0, 1)),
        lambda x: W.broadcast_to(x, (4, 2, 3)),
        lambda x: W.squeeze(W.expand_dims(x, 1), 1),
        lambda x: x[1],
        lambda x: x[:, ::-1],
        lambda x: x[np.array([0, 1, 1, 0]), 1:],
        lambda x: x[x > 0],
        lambda x: x[..., np.array([2, 2, 0])],
        lambda x: x[None, 1, :2],
        lambda x: W.concatenate([x, 2 * x, x[:, :1]], axis=1),
        lambda x: W.concatenate([x, x * x], axis=0),
        lambda x: W.stack([x, W.sin(x)], axis=1),
        lambda x: W.softmax(x, axis=-1),
        lambda x: W.softmax(x, axis=0),
        lambda x: W.log_softmax(x, axis=1),
        lambda x: W.log_softmax(x, axis=0),
        lambda x: W.where(x > 0, x * x, W.sin(x)),
        lambda x: W.clip(x, -0.5, 0.7),
        lambda x: W.take(x, [0, 4, 4]),
    ],
    ids=lambda f: f.__code__.co_firstlineno,
)
def test_structural(fn):
    x = sample((2, 3), away_from=0.0)
    x = np.where(np.abs(np.abs(x) - 0.6) < 0.05, x + 0.2, x)  # clear of clip's edges
    check_grads(fn, x)


MATMUL_SHAPES = [
    ((3,), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((2, 1, 2, 3), (5, 3, 4)),
    ((5, 2, 3), (3,)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes):
    check_grads(W.matmul, sample(shapes[0]), sample(shapes[1]))


@pytest.mark.parametrize("xshape", [(3,), (4, 3), (2, 4, 3)], ids=str)
def test_linear(xshape):
    check_grads(W.linear, sample(xshape), sample((5, 3)), sample((5,)))
    check_grads(W.linear, sample(xshape), sample((5, 3)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(reduction):
    labels = np.array([0, 2, 1, 2])
    check_grads(lambda z: W.cross_entropy(z, labels, reduction=reduction), sample((4, 3)))


def test_cast_roundtrip_float64():
    check_grads(lambda x: W.astype(x * x, np.float64), sample((3,)))


CONV_CASES = [  # x shape, w shape, stride, padding ((low, high) per axis), dilation, groups
    ((2, 3, 5, 6), (4, 3, 3, 2), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    ((2, 4, 7, 6), (6, 2, 3, 3), (2, 1), ((1, 1), (2, 2)), (1, 2), 2),
    ((1, 4, 7, 8), (4, 1, 2, 3), (3, 2), ((2, 0), (-1, 1)), (2, 1), 4),
    ((2, 3, 9), (2, 3, 3), (2,), ((1, 1),), (2,), 1),
    ((1, 2, 4, 5, 4), (2, 1, 2, 2, 3), (1, 2, 1), ((0, 1), (1, 0), (0, 0)), (1, 1, 1), 2),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0]}*{c[1]}")
def test_conv(case):
    xs, ws, stride, padding, dilation, groups = case
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    check_grads(lambda x, w: P.conv(x, w, **kw), sample(xs), sample(ws))


def test_conv_third_order_and_jacobians_in_vector_mode():
    xs, ws, stride, padding, dilation, groups = CONV_CASES[1]
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    x, w = sample(xs), sample(ws)
    f = lambda x, w: W.sum(W.tanh(P.conv(x, w, **kw)))
    check_grads(f, x, w, order=3)
    for argnum in (0, 1):  # a whole basis of tangents/cotangents as a leading axis
        g = lambda x, w: P.conv(x, w, **kw)
        np.testing.assert_allclose(
            W.jacfwd(g, argnums=argnum)(x, w), W.jacrev(g, argnums=argnum)(x, w), atol=1e-10
        )


POOL_CASES = [  # kernel, stride, padding, dilation
    ((2, 2), (2, 2), ((0, 0), (0, 0)), (1, 1)),
    ((2, 3), (2, 3), ((1, 1), (0, 1)), (1, 1)),
    ((3, 2), (1, 2), ((1, 1), (0, 1)), (2, 1)),
    ((3,), (2,), ((1, 1),), (1,)),
    ((3,), (3,), ((0, 0),), (1,)),  # tiles with a remainder the windows do not read
]


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_max_pool_and_its_vjp_fold(case):
    kernel, stride, padding, dilation = case
    shape = (2, 3, 5, 7)[: 2 + len(kernel)]
    x = R.permutation(np.prod(shape)).reshape(shape) * 0.3  # distinct values: no ties
    f = lambda x: P.max_pool(x, kernel=kernel, stride=stride, padding=padding, dilation=dilation)
    check_grads(f, x, order=3)  # orders 2 and 3 check fold and its transpose
    np.testing.assert_allclose(W.jacfwd(f)(x), W.jacrev(f)(x))


def test_max_pool_ties_share_the_gradient_evenly():
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, 0, :2] = 1.0  # the first window has two maxima; the second is all ties
    g = W.grad(
        lambda x: W.sum(
            P.max_pool(x, kernel=(2, 2), stride=(2, 2), padding=((0, 0),) * 2, dilation=(1, 1))
        )
    )(x)
    np.testing.assert_array_equal(g[0, 0], [[0.5, 0.5, 0.25, 0.25], [0, 0, 0.25, 0.25]])


def test_max_pool_window_with_nan_passes_no_gradient_and_no_nan():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 0] = np.nan  # the first window's maximum is nan: no element equals it
    g = W.grad(
        lambda x: W.sum(
            P.max_pool(x, kernel=(2, 2), stride=(2, 2), padding=((0, 0),) * 2, dilation=(1, 1))
        )
    )(x)
    assert np.all(g[0, 0, :2, :2] == 0) and np.isfinite(g).all()
    np.testing.assert_array_equal(g[0, 0, 2:, 2:], [[0, 0], [0, 1]])


def _direct_conv(x, w, stride, padding, dilation, groups):
    """The definition, one output element at a time (a reference for small shapes)."""
    nd = w.ndim - 2
    xp = np.pad(x, [(0, 0), (0, 0)] + [(max(lo, 0), max(hi, 0)) for lo, hi in padding])
    crop = tuple(slice(max(-lo, 0), xp.shape[2 + i] - max(-hi, 0)) for i, (lo, hi) in enumerate(padding))
    xp = xp[(slice(None), slice(None)) + crop]
    og, cg = w.shape[0] // groups, w.shape[1]
    out = [
        (s - d * (k - 1) - 1) // m + 1 for s, k, m, d in zip(xp.shape[2:], w.shape[2:], stride, dilation)
    ]
    y = np.zeros((x.shape[0], w.shape[0], *out))
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            c0 = (o // og) * cg
            for pos in np.ndindex(*out):
                win = xp[
                    (n, slice(c0, c0 + cg))
                    + tuple(
                        slice(p * m, p * m + d * (k - 1) + 1, d)
                        for p, m, d, k in zip(pos, stride, dilation, w.shape[2:])
                    )
                ]
                y[(n, o) + pos] = np.sum(win * w[o])
    assert len(out) == nd
    return y


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0]}*{c[1]}")
def test_conv_value_and_float32_everywhere(case):
    """Both im2col layouts (a kernel smaller than the output, and larger: the weight gradient's) give
    the definition's value, and float32 inputs keep float32 values and gradients."""
    xs, ws, stride, padding, dilation, groups = case
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    x, w = sample(xs), sample(ws)
    np.testing.assert_allclose(P.conv(x, w, **kw), _direct_conv(x, w, **kw), atol=1e-12)
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    y = P.conv(x32, w32, **kw)
    assert y.dtype == np.float32
    gx, gw = W.grad(lambda x, w: W.sum(W.tanh(P.conv(x, w, **kw))), argnums=(0, 1))(x32, w32)
    assert gx.dtype == gw.dtype == np.float32
    gx64, gw64 = W.grad(lambda x, w: W.sum(W.tanh(P.conv(x, w, **kw))), argnums=(0, 1))(x, w)
    np.testing.assert_allclose(gx, gx64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gw, gw64, rtol=1e-4, atol=1e-4)


def test_every_primitive_of_the_table_is_covered():
    """A new primitive must be added to this sweep (or listed as piecewise constant)."""
    covered = {
        *UNARY,
        *BINARY,
        "sum",
        "max",
        "min",
        "logsumexp",
        "reshape",
        "transpose",
        "broadcast_to",
        "getitem",
        "scatter_add",
        "concatenate",
        "softmax",
        "log_softmax",
        "where",
        "clip",
        "matmul",
        "linear",
        "cross_entropy",
        "cast",
        "conv",
        "max_pool",
        "fold",
    }
    table = {
        p.name
        for p in vars(P).values()
        if isinstance(p, (Elementwise, Structural)) and not isinstance(p, NonDiff)
    }
    assert table - covered == set()


def test_scatter_add_is_checked_through_second_order_indexing():
    # getitem's VJP is scatter_add and scatter_add's VJP is getitem: order 2 of indexing checks both
    idx = np.array([0, 2, 2])
    check_grads(lambda x: W.sum(x[idx] ** 3), sample((4,)), order=3)
