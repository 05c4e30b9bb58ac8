"""Tests for the paper's scalar engine: Node (reverse and forward accumulation), Dual, derivative,
and the scalar neurons of wengert.nn.scalar.

Every operation is checked twice: against its analytic derivative and against central finite
differences of the engine's own forward values.
"""

from __future__ import annotations

import math
import re
import weakref

import numpy as np
import pytest

import wengert
from wengert import Dual, Node, derivative
from wengert.nn.scalar import ACTIVATIONS, MLP, SGD, Layer, Neuron, mse_loss

DomainError = wengert.DomainError
H = 1e-6


def central_difference(f, x: float, h: float = H) -> float:
    """(f(x + h) - f(x - h)) / 2h for a function of one float."""
    return (f(x + h) - f(x - h)) / (2 * h)


def close(a: float, b: float, rel: float = 1e-6, abs_: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


# --- unary operations -----------------------------------------------------------------------------

# method, value, analytic derivative, points (away from kinks and domain edges)
UNARY = [
    ("__neg__", lambda x: -x, lambda x: -1.0, [-1.3, 0.0, 2.5]),
    (
        "sigmoid",
        lambda x: 1 / (1 + math.exp(-x)),
        lambda x: math.exp(-x) / (1 + math.exp(-x)) ** 2,
        [-3, 0, 1.7],
    ),
    ("relu", lambda x: max(x, 0.0), lambda x: 1.0 if x > 0 else 0.0, [-2.0, -0.5, 0.5, 3.0]),
    ("tanh", math.tanh, lambda x: 1 - math.tanh(x) ** 2, [-2.0, 0.0, 0.7]),
    ("exp", math.exp, math.exp, [-1.0, 0.0, 2.0]),
    ("log", math.log, lambda x: 1 / x, [0.1, 1.0, 5.0]),
    ("sin", math.sin, math.cos, [-1.0, 0.0, 2.0]),
    ("cos", math.cos, lambda x: -math.sin(x), [-1.0, 0.5, 2.0]),
    ("sqrt", math.sqrt, lambda x: 0.5 / math.sqrt(x), [0.25, 1.0, 9.0]),
    ("abs", abs, lambda x: math.copysign(1.0, x), [-2.0, -0.1, 0.3, 4.0]),
    ("__abs__", abs, lambda x: math.copysign(1.0, x), [-2.0, 3.0]),
]
UNARY_CASES = [(name, f, df, x) for name, f, df, xs in UNARY for x in xs]
UNARY_IDS = [f"{name}({x})" for name, _, _, x in UNARY_CASES]


def node_fn(name):
    return lambda v: getattr(Node(v), name)().value


@pytest.mark.parametrize(("name", "f", "df", "x"), UNARY_CASES, ids=UNARY_IDS)
def test_node_unary(name, f, df, x):
    xn = Node(x)
    y = getattr(xn, name)()
    assert y.value == pytest.approx(f(x), rel=1e-12, abs=1e-15)
    assert y.op.name == ("neg" if name == "__neg__" else name.strip("_"))
    assert y.parents == (xn,)
    y.backward()
    assert y.grad == 1.0
    assert xn.grad == pytest.approx(df(x), rel=1e-12, abs=1e-15)
    assert close(xn.grad, central_difference(node_fn(name), x))
    assert y.forward_accumulate(xn)[y] == pytest.approx(xn.grad, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("name", "f", "df", "x"), UNARY_CASES, ids=UNARY_IDS)
def test_dual_unary(name, f, df, x):
    d = getattr(Dual(x, 1.0), name)()
    assert d.value == pytest.approx(f(x), rel=1e-12, abs=1e-15)
    assert d.deriv == pytest.approx(df(x), rel=1e-12, abs=1e-15)
    assert close(d.deriv, central_difference(lambda v: getattr(Dual(v), name)().value, x))
    # a seed other than 1 scales the derivative
    assert getattr(Dual(x, 3.0), name)().deriv == pytest.approx(3 * df(x), rel=1e-12, abs=1e-15)
    assert derivative(lambda t: getattr(t, name)())(x) == pytest.approx(df(x), rel=1e-12, abs=1e-15)


def test_pos_and_float_and_comparisons():
    x = Node(2.5)
    assert +x is x
    assert float(x) == 2.5
    assert x > 2 and x >= 2.5 and x < 3 and x <= 2.5
    assert x < Node(3.0) and not x > Node(3.0)
    assert float(Dual(1.5, 2.0)) == 1.5
    assert Dual(1.5, 2.0) < 2 and Dual(1.5) > Dual(1.0)


# --- binary operations ----------------------------------------------------------------------------

# operator, value, (d/dx, d/dy), points (x, y)
BINARY = [
    ("+", lambda x, y: x + y, lambda x, y: (1.0, 1.0), [(1.5, -2.0), (0.0, 3.0)]),
    ("-", lambda x, y: x - y, lambda x, y: (1.0, -1.0), [(1.5, -2.0), (2.0, 2.0)]),
    ("*", lambda x, y: x * y, lambda x, y: (y, x), [(1.5, -2.0), (0.0, 3.0)]),
    ("/", lambda x, y: x / y, lambda x, y: (1 / y, -x / y**2), [(1.5, -2.0), (3.0, 0.5)]),
    (
        "**",
        lambda x, y: x**y,
        lambda x, y: (y * x ** (y - 1), x**y * math.log(x)),
        [(1.5, 2.0), (2.0, -0.5), (0.7, 3.3)],
    ),
]
BINARY_CASES = [(op, f, df, x, y) for op, f, df, pts in BINARY for x, y in pts]
BINARY_IDS = [f"x{op}y@({x},{y})" for op, _, _, x, y in BINARY_CASES]


def apply(op: str, a, b):
    return {
        "+": lambda: a + b,
        "-": lambda: a - b,
        "*": lambda: a * b,
        "/": lambda: a / b,
        "**": lambda: a**b,
    }[op]()


@pytest.mark.parametrize(("op", "f", "df", "x", "y"), BINARY_CASES, ids=BINARY_IDS)
def test_node_binary_node_node(op, f, df, x, y):
    xn, yn = Node(x), Node(y)
    z = apply(op, xn, yn)
    assert z.value == pytest.approx(f(x, y), rel=1e-12)
    assert z.parents == (xn, yn)
    z.backward()
    dx, dy = df(x, y)
    assert xn.grad == pytest.approx(dx, rel=1e-12, abs=1e-15)
    assert yn.grad == pytest.approx(dy, rel=1e-12, abs=1e-15)
    assert close(xn.grad, central_difference(lambda v: apply(op, Node(v), Node(y)).value, x))
    assert close(yn.grad, central_difference(lambda v: apply(op, Node(x), Node(v)).value, y))
    assert z.forward_accumulate(xn)[z] == pytest.approx(dx, rel=1e-12, abs=1e-15)
    assert z.forward_accumulate(yn)[z] == pytest.approx(dy, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("op", "f", "df", "x", "y"), BINARY_CASES, ids=BINARY_IDS)
def test_node_binary_with_numbers_on_either_side(op, f, df, x, y):
    dx, dy = df(x, y)
    # Node op number
    xn = Node(x)
    z = apply(op, xn, y)
    assert isinstance(z, Node) and z.value == pytest.approx(f(x, y), rel=1e-12)
    z.backward()
    assert xn.grad == pytest.approx(dx, rel=1e-12, abs=1e-15)
    # number op Node
    yn = Node(y)
    z = apply(op, x, yn)
    assert isinstance(z, Node) and z.value == pytest.approx(f(x, y), rel=1e-12)
    assert z.parents[1] is yn and z.parents[0].value == x and z.parents[0].op is None
    z.backward()
    assert yn.grad == pytest.approx(dy, rel=1e-12, abs=1e-15)
    assert close(yn.grad, central_difference(lambda v: apply(op, x, Node(v)).value, y))


@pytest.mark.parametrize(("op", "f", "df", "x", "y"), BINARY_CASES, ids=BINARY_IDS)
def test_dual_binary(op, f, df, x, y):
    dx, dy = df(x, y)
    for a, b, want in (
        (Dual(x, 1.0), Dual(y, 0.0), dx),
        (Dual(x, 0.0), Dual(y, 1.0), dy),
        (Dual(x, 1.0), y, dx),
        (x, Dual(y, 1.0), dy),
        (Dual(x, 2.0), Dual(y, -1.0), 2 * dx - dy),
    ):
        d = apply(op, a, b)
        assert d.value == pytest.approx(f(x, y), rel=1e-12)
        assert d.deriv == pytest.approx(want, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    ("build", "value", "grad"),
    [
        (lambda x: 2 - x, lambda x: 2 - x, lambda x: -1.0),
        (lambda x: 2 / x, lambda x: 2 / x, lambda x: -2 / x**2),
        (lambda x: 2**x, lambda x: 2**x, lambda x: 2**x * math.log(2)),
        (lambda x: x**3, lambda x: x**3, lambda x: 3 * x**2),
        (lambda x: x**0.5, math.sqrt, lambda x: 0.5 / math.sqrt(x)),
        (lambda x: 3 * x + 1, lambda x: 3 * x + 1, lambda x: 3.0),
        (lambda x: x - 1.5, lambda x: x - 1.5, lambda x: 1.0),
        (lambda x: x / 4, lambda x: x / 4, lambda x: 0.25),
        (lambda x: 1 + x, lambda x: 1 + x, lambda x: 1.0),
    ],
    ids=["2-x", "2/x", "2**x", "x**3", "x**0.5", "3*x+1", "x-1.5", "x/4", "1+x"],
)
@pytest.mark.parametrize("x", [0.7, 1.9])
def test_named_mixed_expressions(build, value, grad, x):
    xn = Node(x)
    y = build(xn)
    assert y.value == pytest.approx(value(x), rel=1e-12)
    y.backward()
    assert xn.grad == pytest.approx(grad(x), rel=1e-12)
    assert close(xn.grad, central_difference(lambda v: build(Node(v)).value, x))
    assert derivative(build)(x) == pytest.approx(grad(x), rel=1e-12)


def test_x_pow_y_both_nodes():
    x, y = Node(1.7), Node(2.3)
    z = x**y
    z.backward()
    assert x.grad == pytest.approx(2.3 * 1.7**1.3, rel=1e-12)
    assert y.grad == pytest.approx(1.7**2.3 * math.log(1.7), rel=1e-12)


def test_numpy_scalars_and_ints_on_either_side():
    x = Node(2.0)
    for z, want in (
        (x * np.float64(3.0), 6.0),
        (np.float64(3.0) * x, 6.0),
        (x + 1, 3.0),
        (np.int64(2) * x, 4.0),
    ):
        assert isinstance(z, Node) and z.value == want
    assert Node(3).value == 3.0 and type(Node(3).value) is float
    assert Node(np.float32(1.5)).value == 1.5


def test_unsupported_operand_raises_type_error():
    with pytest.raises(TypeError):
        Node(1.0) + "a"
    with pytest.raises(TypeError):
        "a" * Node(1.0)
    with pytest.raises(TypeError):
        Node(1.0) + [1.0]
    with pytest.raises(TypeError, match="True"):
        Node(1.0) + True


# --- graphs ---------------------------------------------------------------------------------------


def paper_graph():
    w, x, y, z = (Node(v, name=n) for v, n in zip((2.0, 3.0, 4.0, 2.0), "wxyz"))
    a = (x + y) ** z - w
    return a, (w, x, y, z)


def test_paper_example_exact_values():
    a, (w, x, y, z) = paper_graph()
    assert a.value == 47.0
    a.backward()
    assert a.grad == 1.0
    assert x.grad == 14.0 and y.grad == 14.0
    assert z.grad == pytest.approx(49 * math.log(7), rel=1e-15)
    assert w.grad == -1.0
    assert [str(n.op) for n in a.topological_sort()] == [
        "None", "None", "add", "None", "pow", "None", "sub"
    ]  # fmt: skip


def test_forward_accumulate_equals_backward_on_paper_example():
    a, inputs = paper_graph()
    a.backward()
    for node in inputs:
        tangents = a.forward_accumulate(node)
        assert tangents[a] == pytest.approx(node.grad, rel=1e-14)
        assert tangents[node] == 1.0
    # a directional derivative: sum of seeds times gradients
    seeds = {inputs[0]: 0.5, inputs[3]: -2.0}
    want = 0.5 * inputs[0].grad - 2.0 * inputs[3].grad
    assert a.forward_accumulate(seeds)[a] == pytest.approx(want, rel=1e-14)
    assert a.forward_accumulate(inputs[1], seed=3.0)[a] == pytest.approx(3 * 14.0)


def test_fan_out_uses_every_path():
    x = Node(1.5)
    cube = x * x * x
    cube.backward()
    assert x.grad == pytest.approx(3 * 1.5**2)

    a = Node(2.0)
    s = a + a
    s.backward()
    assert a.grad == 2.0
    assert s.parents == (a, a)

    b = Node(0.8)
    f = b * b + b.sin() * b + 1 / b  # b used five times
    f.backward()
    want = 2 * 0.8 + math.cos(0.8) * 0.8 + math.sin(0.8) - 1 / 0.8**2
    assert b.grad == pytest.approx(want, rel=1e-12)
    fd = central_difference(
        lambda v: (Node(v) * Node(v) + Node(v).sin() * Node(v) + 1 / Node(v)).value, 0.8
    )
    assert close(b.grad, fd)
    assert f.forward_accumulate(b)[f] == pytest.approx(want, rel=1e-12)


def test_shared_subexpression_counts_once_per_use():
    x = Node(1.2)
    e = x.exp()
    f = e * e + e  # e reused
    f.backward()
    assert e.grad == pytest.approx(2 * math.exp(1.2) + 1)
    assert x.grad == pytest.approx(2 * math.exp(2.4) + math.exp(1.2))


def test_gradients_accumulate_across_backward_calls_and_zero_grad():
    a, (w, x, _, z) = paper_graph()
    a.backward()
    a.backward()
    # the paper's listing sets the output's grad to the seed; every other node adds its share
    assert x.grad == 28.0 and w.grad == -2.0 and a.grad == 1.0
    a.zero_grad()
    assert all(n.grad == 0.0 for n in a.topological_sort())
    a.backward(seed=0.5)
    assert a.grad == 0.5 and x.grad == 7.0 and z.grad == pytest.approx(0.5 * 49 * math.log(7))
    a.zero_grad()
    a.backward()
    assert x.grad == 14.0


def test_topological_order():
    x, y = Node(1.0, name="x"), Node(2.0, name="y")
    s = x * y
    t = s + x.exp()
    out = t * s - y
    order = out.topological_sort()
    assert order[-1] is out
    assert len(order) == len(set(order))
    pos = {n: i for i, n in enumerate(order)}
    for n in order:
        for p in n.parents:
            assert pos[p] < pos[n]
    assert set(order) == {x, y, s, t, out, *t.parents, *out.parents}
    assert order == out.topological_sort()  # deterministic
    # the same expression built again gives the same order of operations
    x2, y2 = Node(1.0), Node(2.0)
    s2 = x2 * y2
    out2 = (s2 + x2.exp()) * s2 - y2
    assert [str(n.op) for n in out2.topological_sort()] == [str(n.op) for n in order]
    assert Node(1.0).topological_sort()[0].op is None


def test_leaf_backward_and_repr():
    x = Node(3.0, name="x")
    x.backward()
    assert x.grad == 1.0
    assert "x" in repr(x) and "3" in repr(x)
    assert "op='mul'" in repr(x * 2)
    assert x.op is None and x.parents == ()


def test_million_node_chain_builds_backpropagates_and_is_freed():
    n = 1_000_000
    x = Node(0.5)
    y = x
    for _ in range(n):
        y = y + x  # one new node per step; x feeds every step
    assert y.value == 0.5 * (n + 1)
    y.backward()
    assert x.grad == float(n + 1)
    mid = weakref.ref(y.parents[0].parents[0])
    root = weakref.ref(y)
    del y  # no reference cycles: reference counting frees the whole chain at once, iteratively
    assert root() is None and mid() is None


def test_deep_chain_topological_sort_zero_grad_and_forward():
    x = Node(1.0)
    y = x
    for _ in range(200_000):
        y = -y
    order = y.topological_sort()
    assert len(order) == 200_001 and order[0] is x and order[-1] is y
    y.backward()
    assert x.grad == 1.0
    y.zero_grad()
    assert x.grad == 0.0
    assert y.forward_accumulate(x)[y] == 1.0
    del order, y


# --- domains and bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a", None, [1, 2], True, 1 + 2j])
def test_bad_values_raise_type_error_naming_the_value(bad):
    with pytest.raises(TypeError, match=re.escape(repr(bad))):
        Node(bad)
    with pytest.raises(TypeError):
        Dual(bad)
    with pytest.raises(TypeError):
        Dual(1.0, bad)


@pytest.mark.parametrize(
    ("build", "op"),
    [
        (lambda v: v.log(), "log"),
        (lambda v: v.sqrt(), "sqrt"),
    ],
)
@pytest.mark.parametrize("x", [-1.0, 0.0])
def test_domain_errors_name_the_op(build, op, x):
    if op == "sqrt" and x == 0.0:
        return  # sqrt(0) is defined
    for make in (Node, lambda v: Dual(v, 1.0)):
        with pytest.raises(ValueError, match=op) as info:
            build(make(x))
        assert isinstance(info.value, DomainError)
    with pytest.raises(DomainError, match=op):
        derivative(build)(x)


def test_pow_domain_and_division_by_zero():
    with pytest.raises(DomainError, match="pow"):
        Node(-8.0) ** (1 / 3)
    with pytest.raises(DomainError, match="pow"):
        Dual(-8.0, 1.0) ** (1 / 3)
    with pytest.raises(ZeroDivisionError, match="div"):
        Node(1.0) / 0.0
    with pytest.raises(ZeroDivisionError):
        Node(0.0) ** -1.0
    # a negative base with an integer exponent is fine
    z = Node(-2.0) ** 3
    z.backward()
    assert z.value == -8.0 and z.parents[0].grad == 12.0


def test_infinite_partials_give_inf_not_nan():
    # d sqrt(x)/dx at 0 is +inf: reverse and forward accumulation both say so, without an exception
    x = Node(0.0)
    y = x.sqrt()
    y.backward()
    assert x.grad == math.inf
    assert y.forward_accumulate(x)[y] == math.inf
    x = Node(0.0)
    (x**0.5).backward()
    assert x.grad == math.inf
    # a zero cotangent meeting an infinite partial contributes 0, not nan
    x = Node(0.0)
    (x.sqrt() * 0.0).backward()
    assert x.grad == 0.0


def test_no_silent_nan_anywhere_in_the_table_domain():
    for name, _, _, xs in UNARY:
        for x in xs:
            xn = Node(x)
            y = getattr(xn, name)()
            y.backward()
            assert not math.isnan(y.value) and not math.isnan(xn.grad)


def test_dual_sqrt_at_zero():
    assert Dual(0.0, 1.0).sqrt().deriv == math.inf


# --- dual numbers and derivative ------------------------------------------------------------------


def test_dual_basics():
    d = Dual(4.0, 1.0)
    f = 2 * d + 5
    assert (f.value, f.deriv) == (13.0, 2.0)
    assert repr(Dual(1.0, 2.0)) == "Dual(1.0, 2.0)"
    assert Dual(3.0).deriv == 0.0
    assert (-d).deriv == -1.0 and (+d) is d
    assert abs(Dual(-2.0, 1.0)).deriv == -1.0


def test_derivative_of_constant_and_polynomial():
    assert derivative(lambda x: 3.0)(1.0) == 0.0
    assert derivative(lambda x: x**4 - 2 * x)(2.0) == pytest.approx(4 * 8 - 2)
    assert derivative(lambda x: x * x * x)(2.0) == 12.0


def test_nested_derivative_no_perturbation_confusion():
    # d/dx [x * d/dy (x + y)] = d/dx [x * 1] = 1, not 2
    assert derivative(lambda x: x * derivative(lambda y: x + y)(1.0))(2.0) == 1.0
    # d/dx [x * d/dy (x * y)] = d/dx x**2 = 2x
    assert derivative(lambda x: x * derivative(lambda y: x * y)(3.0))(2.0) == 4.0


def test_higher_derivatives():
    for x in (0.0, 0.5, 2.0):
        assert derivative(derivative(wengert.sin))(x) == pytest.approx(-math.sin(x), abs=1e-15)
        assert derivative(derivative(lambda t: t.sin()))(x) == pytest.approx(-math.sin(x), abs=1e-15)
        assert derivative(derivative(derivative(lambda t: t**4)))(x) == pytest.approx(24 * x)
        assert derivative(derivative(lambda t: t.exp() * t))(x) == pytest.approx(math.exp(x) * (x + 2))
    assert derivative(derivative(derivative(derivative(lambda t: t.cos()))))(0.3) == pytest.approx(
        math.cos(0.3)
    )


def test_nested_duals_by_hand():
    # (x + e1)(x + e2) with nested duals: the e1 e2 coefficient is the second derivative of x**2
    x = Dual(Dual(3.0, 1.0), Dual(1.0, 0.0))
    y = x * x
    assert y.value.value == 9.0
    assert y.value.deriv == 6.0 and y.deriv.value == 6.0
    assert y.deriv.deriv == 2.0


# --- the paper's neurons --------------------------------------------------------------------------


def test_neuron_matches_formula_and_gradients():
    neuron = Neuron(3, activation="sigmoid", seed=0)
    x = [0.5, -1.0, 2.0]
    w = np.array([p.value for p in neuron.w])
    neuron.b.value = 0.3
    out = neuron(x)
    z = float(w @ np.array(x) + 0.3)
    s = 1 / (1 + math.exp(-z))
    assert out.value == pytest.approx(s, rel=1e-12)
    out.backward()
    for p, xi in zip(neuron.w, x):
        assert p.grad == pytest.approx(s * (1 - s) * xi, rel=1e-12)
    assert neuron.b.grad == pytest.approx(s * (1 - s), rel=1e-12)
    # finite differences on one weight
    p = neuron.w[1]
    v = p.value

    def at(val):
        p.value = val
        return neuron(x).value

    fd = central_difference(at, v)
    p.value = v
    assert close(neuron.w[1].grad, fd)
    assert len(neuron.parameters()) == 4 and neuron.parameters()[-1] is neuron.b
    neuron.zero_grad()
    assert all(q.grad == 0.0 for q in neuron.parameters())


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_neuron_activations(activation):
    neuron = Neuron(2, activation=activation, seed=1)
    neuron.b.value = 0.1
    z = neuron.w[0].value * 1.0 + neuron.w[1].value * -0.5 + 0.1
    want = {"linear": z, "relu": max(z, 0.0), "sigmoid": 1 / (1 + math.exp(-z)), "tanh": math.tanh(z)}
    assert neuron([Node(1.0), -0.5]).value == pytest.approx(want[activation], rel=1e-12)


def test_unknown_activation_lists_the_valid_ones():
    for make in (
        lambda: Neuron(2, "softsign"),
        lambda: Layer(2, 2, "softsign"),
        lambda: MLP([2, 1], "softsign"),
    ):
        with pytest.raises(ValueError, match="softsign") as info:
            make()
        for name in ("linear", "relu", "sigmoid", "tanh"):
            assert name in str(info.value)
    with pytest.raises(ValueError, match="final"):
        MLP([2, 1], final_activation="final")


def test_bad_sizes_and_inputs():
    with pytest.raises(ValueError, match="input_dim"):
        Neuron(0)
    with pytest.raises(ValueError, match="output_dim"):
        Layer(2, 0)
    with pytest.raises(ValueError, match="sizes"):
        MLP([2])
    with pytest.raises(ValueError, match="length 3"):
        Neuron(3, seed=0)([1.0, 2.0])


def test_seeds_make_networks_reproducible():
    a, b, c = MLP([2, 4, 1], seed=7), MLP([2, 4, 1], seed=7), MLP([2, 4, 1], seed=8)
    va = [p.value for p in a.parameters()]
    assert va == [p.value for p in b.parameters()]
    assert va != [p.value for p in c.parameters()]
    layer = Layer(3, 5, seed=0)
    rows = [[p.value for p in n.w] for n in layer.neurons]
    assert len({tuple(r) for r in rows}) == 5  # neurons differ from one another


def test_layer_and_mlp_shapes_and_parameters():
    layer = Layer(3, 4, activation="tanh", seed=0)
    out = layer([1.0, 2.0, 3.0])
    assert isinstance(out, list) and len(out) == 4 and all(isinstance(o, Node) for o in out)
    assert len(layer.parameters()) == 4 * (3 + 1)
    mlp = MLP([3, 5, 4, 2], seed=0)
    assert len(mlp.layers) == 3
    assert [layer.activation for layer in mlp.layers] == ["relu", "relu", "linear"]
    assert len(mlp.parameters()) == (3 + 1) * 5 + (5 + 1) * 4 + (4 + 1) * 2
    y = mlp([0.1, -0.2, 0.3])
    assert len(y) == 2
    assert "MLP" in repr(mlp) and "Layer" in repr(layer) and "Neuron" in repr(layer.neurons[0])


def test_mlp_gradients_match_finite_differences():
    mlp = MLP([2, 3, 1], activation="tanh", seed=3)
    x, target = [0.4, -0.7], 0.25
    loss = mse_loss(mlp(x), [target])
    loss.backward()
    for p in mlp.parameters()[::2]:
        v = p.value

        def at(val, p=p):
            p.value = val
            return mse_loss(mlp(x), [target]).value

        fd = central_difference(at, v)
        p.value = v
        assert close(p.grad, fd, rel=1e-5, abs_=1e-8)
    mlp.zero_grad()
    assert all(p.grad == 0.0 for p in mlp.parameters())


def test_mse_loss():
    a, b = Node(1.0), Node(3.0)
    loss = mse_loss([a, b], [0.0, 1.0])
    assert loss.value == pytest.approx((1 + 4) / 2)
    loss.backward()
    assert a.grad == pytest.approx(1.0) and b.grad == pytest.approx(2.0)
    assert mse_loss(Node(2.0), 1.0).value == 1.0
    assert mse_loss([[Node(1.0)], [Node(2.0)]], [[0.0], [0.0]]).value == 2.5
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        mse_loss([a, b], [0.0])
    with pytest.raises(ValueError, match="no predictions"):
        mse_loss([], [])
    with pytest.raises(TypeError, match="Node"):
        mse_loss([1.0], [2.0])


def test_sgd_step_and_validation():
    p = Node(1.0)
    (p * p).backward()
    opt = SGD([p], lr=0.1)
    opt.step()
    assert p.value == pytest.approx(1.0 - 0.1 * 2.0)
    opt.zero_grad()
    assert p.grad == 0.0
    with pytest.raises(ValueError, match="lr"):
        SGD([p], lr=0.0)
    with pytest.raises(TypeError, match="Nodes"):
        SGD([1.0], lr=0.1)
    assert "1 parameters" in repr(opt)


def test_mlp_learns_xor():
    x = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    y = [-1.0, 1.0, 1.0, -1.0]
    mlp = MLP([2, 8, 1], activation="tanh", final_activation="tanh", seed=0)
    opt = SGD(mlp.parameters(), lr=0.5)
    for _ in range(300):
        preds = [mlp(row)[0] for row in x]
        loss = mse_loss(preds, y)
        if all((p.value > 0) == (t > 0) for p, t in zip(preds, y)) and loss.value < 0.05:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all((p.value > 0) == (t > 0) for p, t in zip(preds, y))
    assert loss.value < 0.05
