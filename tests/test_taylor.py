"""Tests for wengert.taylor_expand (multivariate truncated Taylor arithmetic) and the Taylor rules of
every structural primitive: mixed partials against nested forward mode, and SymPy (optional)."""

import itertools
import math

import numpy as np
import pytest

import wengert as W
from wengert.core import primitives as P
from wengert.core.primitive import Elementwise, Primitive

RNG = np.random.default_rng(0)
A = RNG.standard_normal((2, 3))
B = RNG.standard_normal((3, 3))


def nested(f, k):
    """The k-th derivative tensor of f by k nested jacfwd."""
    for _ in range(k):
        f = W.jacfwd(f)
    return f


FUNCTIONS = {
    "elementwise": lambda v: W.exp(v[0]) * W.sin(v[1]) + v[0] ** 2 * v[1] ** 3 / (1 + v[2] ** 2),
    "binary": lambda v: (
        W.power(v[0] + 2, v[1]) + W.arctan(v[0] / v[2]) - W.sqrt(v[1] + 1) * W.log1p(v[2])
    ),
    "kinks": lambda v: (
        W.maximum(v[0], 0.1 * v[1]) * W.where(v[2] > 0, v[1], -v[1]) + W.relu(v[0]) * v[2]
    ),
    "smooth": lambda v: (
        W.tanh(v[0] * v[1]) + W.sigmoid(v[2]) * W.softplus(v[0]) + W.erf(v[1]) * W.cosh(v[2])
    ),
    "matmul": lambda v: W.sum(W.tanh(A @ v) * (A @ W.sin(v))),
    "matmul-both": lambda v: W.sum((W.reshape(v, (3, 1)) * B) @ W.exp(v)),
    "structural": lambda v: (
        W.sum(W.concatenate([v[:2] ** 2, W.transpose(W.reshape(v, (3, 1)))[0]]) * 1.5)
        + W.max(v * v)
        + W.mean(W.broadcast_to(v, (2, 3)) ** 3)
    ),
    "softmax": lambda v: W.sum(W.softmax(v) * W.cos(v)),
    "log_softmax": lambda v: W.sum(W.log_softmax(W.stack([v, 2 * v]), axis=0) * v),
    "logsumexp": lambda v: (
        W.logsumexp(v) * W.logsumexp(W.reshape(v, (1, 3)), axis=1, keepdims=True)[0, 0]
    ),
    "cross_entropy": lambda v: W.cross_entropy(W.stack([v, v[::-1] ** 2]), np.array([2, 0])),
    "cross_entropy-none": lambda v: W.sum(
        W.cross_entropy(W.stack([v, -v]), np.array([1, 0]), reduction="none") ** 2
    ),
    "linear": lambda v: W.sum(W.tanh(W.linear(W.stack([v, v**2]), A, np.ones(2)))),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_mixed_partials_match_nested_forward_mode(name):
    f = FUNCTIONS[name]
    x = np.array([0.3, 0.7, 0.4])
    tp = W.taylor_expand(f, x, 4)
    assert tp.value == pytest.approx(float(f(x)), rel=1e-13)
    for k in (1, 2, 3, 4):
        np.testing.assert_allclose(tp.derivatives(k), nested(f, k)(x), rtol=1e-9, atol=1e-9)


def test_convolution_and_pooling():
    from wengert.nn import conv as C

    xin, wt = RNG.standard_normal((1, 2, 5, 5)), RNG.standard_normal((3, 2, 3, 3))

    def f(v):
        y = C.conv2d(xin * v[0] + v[1] * xin**2, wt * (1 + v[2]), padding=1)
        return W.sum(C.max_pool2d(W.tanh(y), 2) ** 2)

    x = np.array([0.3, -0.2, 0.1])
    tp = W.taylor_expand(f, x, 3)
    for k in (1, 2, 3):
        np.testing.assert_allclose(tp.derivatives(k), nested(f, k)(x), rtol=1e-9, atol=1e-9)


def test_vector_output_and_matrix_input():
    def f(m):
        return W.stack([W.sum(W.sin(m) * m[::-1]), m[0, 1] * W.exp(m[1, 0])])

    x = np.array([[0.1, 0.2], [0.3, 0.4]])
    tp = W.taylor_expand(f, x, 3)
    assert tp.coefficients.shape == (math.comb(4 + 3, 3), 2)
    np.testing.assert_allclose(tp.derivatives(1), W.jacfwd(f)(x), rtol=1e-12)
    np.testing.assert_allclose(tp.derivatives(3), nested(f, 3)(x), rtol=1e-10, atol=1e-12)
    assert tp.derivatives(2).shape == (2, 2, 2, 2, 2)


def test_partial_derivative_and_coefficient_api():
    # f = x^3 y^2 + z: d^5 f / dx^3 dy^2 = 3! 2! = 12
    f = lambda v: v[0] ** 3 * v[1] ** 2 + v[2]
    tp = W.taylor_expand(f, np.array([1.0, 2.0, 3.0]), 5)
    assert tp.partial(0, 0, 0, 1, 1) == pytest.approx(12.0)
    assert tp.derivative((3, 2, 0)) == pytest.approx(12.0)
    assert tp.coefficient((3, 2, 0)) == pytest.approx(1.0)
    assert tp.partial(2) == 1.0 and tp.partial(2, 2) == 0.0
    assert tp.partial() == pytest.approx(7.0)
    assert tp.partial(0, 1) == pytest.approx(3 * 1 * 2 * 2)  # 6 x^2 y
    with pytest.raises(ValueError, match="order 6 requested from an expansion of order 5"):
        tp.derivative((6, 0, 0))
    with pytest.raises(ValueError, match="needs 3 non-negative integers"):
        tp.coefficient((1, 1))
    with pytest.raises(ValueError, match="variable 5 out of range"):
        tp.partial(5)


def test_polynomial_evaluation_error_is_of_the_next_order():
    f = FUNCTIONS["elementwise"]
    x = np.array([0.3, 0.7, 0.4])
    d = np.array([1.0, -0.5, 0.8])
    for order in (1, 2, 3):
        tp = W.taylor_expand(f, x, order)
        errs = [abs(tp(h * d) - float(f(x + h * d))) for h in (1e-2, 5e-3)]
        # error ~ C h^(order + 1): halving h divides it by about 2^(order + 1)
        assert errs[0] / errs[1] == pytest.approx(2 ** (order + 1), rel=0.15)
    tp = W.taylor_expand(f, x, 3)
    batch = tp(np.stack([d * 1e-3, -d * 1e-3]))
    assert batch.shape == (2,)


def test_exact_for_polynomials():
    f = lambda v: (v[0] + 2 * v[1]) ** 3 - v[0] * v[1]
    tp = W.taylor_expand(f, np.array([0.5, -1.0]), 3)
    h = np.array([0.7, 0.2])
    assert tp(h) == pytest.approx(float(f(np.array([1.2, -0.8]))), rel=1e-14)


def test_constant_function_and_one_variable():
    tp = W.taylor_expand(lambda v: 3.0, np.array([1.0, 2.0]), 2)
    assert tp.value == 3.0 and np.all(tp.derivatives(2) == 0)
    tp = W.taylor_expand(W.sin, 0.5, 6)
    for k in range(7):
        assert tp.partial(*([0] * k)) == pytest.approx(math.sin(0.5 + k * math.pi / 2), abs=1e-14)


def directional(f, v, k):
    """The k-th derivative of f along v by k nested jvp."""
    for _ in range(k):
        f = (lambda g: lambda y: W.jvp(g, (y,), (v,))[1])(f)
    return f


def test_univariate_taylor_now_covers_normalisations():
    x = np.array([0.2, -0.4, 1.1])
    v = np.array([1.0, 0.5, -2.0])
    for f in (
        FUNCTIONS["softmax"],
        FUNCTIONS["logsumexp"],
        FUNCTIONS["cross_entropy"],
        FUNCTIONS["linear"],
    ):
        t = W.taylor(f, x, 3, direction=v)
        for k in range(1, 4):
            assert t[k] == pytest.approx(float(directional(f, v, k)(x)), rel=1e-9, abs=1e-12)


def test_stable_at_large_logits():
    x = np.array([1000.0, 999.0, -1000.0])
    tp = W.taylor_expand(lambda v: W.logsumexp(v) + W.sum(W.softmax(v) * v), x, 2)
    assert np.all(np.isfinite(tp.coefficients))
    np.testing.assert_allclose(
        tp.derivatives(2), nested(lambda v: W.logsumexp(v) + W.sum(W.softmax(v) * v), 2)(x), atol=1e-12
    )


def test_structural_primitives_have_taylor_rules_in_the_table():
    linear = ("sum", "max", "min", "reshape", "transpose", "broadcast_to", "getitem", "scatter_add")
    composed = ("linear", "softmax", "log_softmax", "logsumexp", "cross_entropy")
    table = {p.name: p for p in vars(P).values() if isinstance(p, Primitive)}
    for name in (*linear, "concatenate", "cast"):
        assert table[name].taylor == "linear", name
    assert table["matmul"].taylor == "bilinear"
    if "conv" in table:  # the convolution layer's primitives
        assert (table["conv"].taylor, table["max_pool"].taylor, table["fold"].taylor) == (
            "bilinear",
            "linear",
            "linear",
        )
    for name in composed:
        assert callable(table[name].taylor), name
    for p in table.values():
        if isinstance(p, Elementwise):  # the recurrence needs a partial for some argument
            assert any(q is not None for q in p.partials), p.name
    assert Primitive.taylor is None  # user-defined primitives have none


def test_rules_of_user_primitives_are_refused():
    with pytest.raises(NotImplementedError, match=r"taylor_expand: primitive 'checkpoint\(f\)'"):
        W.taylor_expand(W.checkpoint(W.sin), np.ones(2), 2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="order must be a non-negative integer"):
        W.taylor_expand(W.sin, 1.0, 1.5)
    with pytest.raises(TypeError, match="integer"):
        W.taylor_expand(W.sin, 1, 2)
    with pytest.raises(ValueError, match="h of shape"):
        W.taylor_expand(W.sin, np.ones(2), 2)(np.ones(3))


def test_against_sympy():
    sp = pytest.importorskip("sympy")
    a, b, c = sp.symbols("a b c")
    expr = sp.exp(a * b) * sp.sin(c) + a**3 / (1 + b**2) - sp.atan(a * c) + sp.sqrt(2 + b)
    f = lambda v: (
        W.exp(v[0] * v[1]) * W.sin(v[2])
        + v[0] ** 3 / (1 + v[1] ** 2)
        - W.arctan(v[0] * v[2])
        + W.sqrt(2 + v[1])
    )
    point = {a: 0.4, b: -0.3, c: 0.9}
    tp = W.taylor_expand(f, np.array([0.4, -0.3, 0.9]), 4)
    syms = (a, b, c)
    for alpha in itertools.product(range(5), repeat=3):
        if sum(alpha) > 4:
            continue
        d = expr
        for s, k in zip(syms, alpha):
            if k:
                d = sp.diff(d, s, k)
        assert tp.derivative(alpha) == pytest.approx(float(d.subs(point)), rel=1e-11, abs=1e-12), alpha
