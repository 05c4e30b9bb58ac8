"""The paper's listings typed in as a reader would, run on wengert's scalar engine.

The paper ("Automatic Differentiation", Andrews, Hu, Ye) builds its graph from `Node(value, op=None,
parents=[])` and operation classes on `BinaryOp` / `UnaryOp` bases, each with `forward()` and
`backward()` over the operands `a`, `b` and the output `c` (`a` and `b` for a unary operation). The
classes below are written in that style; wengert must run them, and its own built-in operations must
give the same numbers: a = (x + y)**z - w = 47 at w, x, y, z = 2, 3, 4, 2, da/dx = 14, da/dz = 49 ln 7.
"""

from __future__ import annotations

import itertools
import math
import random
import re

import numpy as np
import pytest

from wengert.nn.scalar import Layer as WLayer
from wengert.nn.scalar import Neuron as WNeuron
from wengert.scalar import (
    OPERATIONS,
    Add,
    BinaryOp,
    Div,
    Mul,
    Neg,
    Node,
    Operation,
    Pow,
    ReLU,
    Sigmoid,
    UnaryOp,
)
from wengert.viz import draw_graph

# --- the paper's operation classes, as printed (in their own namespace) -----------------------------


class paper:
    """The paper's operation, neuron and layer classes, in the paper's style."""

    class Add(BinaryOp):
        def forward(self):
            return self.a.value + self.b.value

        def backward(self):
            self.a.grad += self.c.grad
            self.b.grad += self.c.grad

    class Neg(UnaryOp):
        def forward(self):
            return -self.a.value

        def backward(self):
            self.a.grad += -self.b.grad

    class Mul(BinaryOp):
        def forward(self):
            return self.a.value * self.b.value

        def backward(self):
            self.a.grad += self.b.value * self.c.grad
            self.b.grad += self.a.value * self.c.grad

    class Pow(BinaryOp):
        def forward(self):
            return self.a.value**self.b.value

        def backward(self):
            self.a.grad += self.b.value * self.a.value ** (self.b.value - 1) * self.c.grad
            self.b.grad += self.c.value * math.log(self.a.value) * self.c.grad

    class Div(BinaryOp):
        def forward(self):
            return self.a.value / self.b.value

        def backward(self):
            self.a.grad += self.c.grad / self.b.value
            self.b.grad += -self.a.value / self.b.value**2 * self.c.grad

    class Sigmoid(UnaryOp):
        def forward(self):
            return 1 / (1 + math.exp(-self.a.value))

        def backward(self):
            self.a.grad += self.b.value * (1 - self.b.value) * self.b.grad

    class ReLU(UnaryOp):
        def forward(self):
            return max(self.a.value, 0.0)

        def backward(self):
            self.a.grad += (self.a.value > 0) * self.b.grad

    class Neuron:
        def __init__(self, input_dim):
            self.weights = [Node(random.gauss(0, 1)) for _ in range(input_dim)]
            self.bias = Node(random.random())

        def __call__(self, x):
            out = self.bias
            for w, xi in zip(self.weights, x):
                out = out + w * xi
            return Sigmoid().apply(out)

        def parameters(self):
            return [*self.weights, self.bias]

    class Layer:
        def __init__(self, input_dim, output_dim):
            self.neurons = [paper.Neuron(input_dim) for _ in range(output_dim)]

        def __call__(self, x):
            return [n(x) for n in self.neurons]


def paper_topological_sort(node):
    """The paper's topological sort: every node after its parents."""
    order, seen = [], set()

    def visit(n):
        if n not in seen:
            seen.add(n)
            for p in n.parents:
                visit(p)
            order.append(n)

    visit(node)
    return order


def paper_backward(node, seed=1.0):
    """The paper's Algorithm 2 as printed: set the output's grad to the seed, then walk the graph
    backwards, each operation adding its share to its operands' grads."""
    node.grad = seed
    for n in reversed(paper_topological_sort(node)):
        if n.op is not None:
            n.op.backward()


W, X, Y, Z = 2.0, 3.0, 4.0, 2.0
LN7 = math.log(7.0)


def inputs():
    return Node(W, name="w"), Node(X, name="x"), Node(Y, name="y"), Node(Z, name="z")


def check_example(a, w, x, y, z):
    assert a.value == 47.0
    assert x.grad == 14.0 and y.grad == 14.0
    assert z.grad == pytest.approx(49 * LN7, rel=1e-15)
    assert w.grad == -1.0


# --- the Node class as the paper uses it --------------------------------------------------------------


def test_node_signature_of_the_paper():
    x = Node(3.0)
    assert (x.value, x.op, x.parents, x.grad) == (3.0, None, (), 0.0)
    assert Node(3.0, None, []).op is None
    op = Add()
    c = Node(7.0, op, [x, Node(4.0)])
    assert c.op is op and c.parents[0] is x
    assert op.a is x and op.c is c  # the op knows its operands and output
    with pytest.raises(TypeError, match="backward"):
        Node(1.0, "add", [x])  # op is an object, not a name
    with pytest.raises(ValueError, match="op"):
        Node(1.0, None, [x])
    with pytest.raises(ValueError, match="one or two parents"):
        Node(1.0, paper.Add(), [x, x, x])
    with pytest.raises(ValueError, match="2 operand"):
        Node(1.0, Add(), [x])


def test_node_op_is_the_operation_object():
    w, x, y, _ = inputs()
    s = x + y
    assert isinstance(s.op, Add) and s.op is s.op
    assert (s.op.a, s.op.b, s.op.c) == (x, y, s)
    assert s.op.name == "add" and str(s.op) == "add" and f"{s.op:<5}|" == "add  |"
    n = -w
    assert isinstance(n.op, Neg) and (n.op.a, n.op.b) == (w, n)
    assert isinstance(x.sigmoid().op, Sigmoid) and isinstance(x.relu().op, ReLU)
    assert isinstance((x * y).op, Mul) and isinstance((x / y).op, Div) and isinstance((x**y).op, Pow)
    assert "op='add'" in repr(s)


def test_builtin_operations_hold_no_formula_of_their_own():
    # forward and backward of every built-in operation are the bases' ones, reading the table
    for cls in OPERATIONS:
        assert cls.primitive is not None
        assert cls.forward is Operation.forward and cls.backward is Operation.backward


# --- a = (x + y)**z - w, four ways ------------------------------------------------------------------


def test_example_with_operators():
    w, x, y, z = inputs()
    a = (x + y) ** z - w
    a.backward()
    check_example(a, w, x, y, z)


def test_example_with_the_builtin_operation_classes():
    w, x, y, z = inputs()
    s = Add().apply(x, y)
    p = Pow(s, z).apply()
    a = Add().apply(p, Neg().apply(w))  # a - w as the paper writes it: a + (-w)
    assert a.op.c is a and a.op.a is p
    a.backward()
    check_example(a, w, x, y, z)
    assert [a.forward_accumulate(v)[a] for v in (w, x, y, z)] == [-1.0, 14.0, 14.0, 49 * LN7]
    # the paper's own backward loop over wengert's operations gives the same numbers
    for n in a.topological_sort():
        n.grad = 0.0
    paper_backward(a)
    check_example(a, w, x, y, z)


def paper_example():
    w, x, y, z = inputs()
    s = paper.Add().apply(x, y)
    p = paper.Pow().apply(s, z)
    a = paper.Add().apply(p, paper.Neg().apply(w))
    return a, (w, x, y, z)


def test_example_with_the_paper_classes_and_wengert_backward():
    a, (w, x, y, z) = paper_example()
    assert isinstance(a.op, paper.Add) and a.op.c is a
    a.backward()
    check_example(a, w, x, y, z)
    assert a.grad == 1.0


def test_example_with_the_paper_classes_and_the_paper_backward():
    a, (w, x, y, z) = paper_example()
    paper_backward(a)
    check_example(a, w, x, y, z)


def test_example_with_the_paper_classes_forward_accumulate():
    a, (w, x, y, z) = paper_example()
    got = [a.forward_accumulate(v)[a] for v in (w, x, y, z)]
    assert got[:3] == [-1.0, 14.0, 14.0]
    assert got[3] == pytest.approx(49 * LN7, rel=1e-15)
    assert all(v.grad == 0.0 for v in (w, x, y, z))  # reading the partials left no grads behind
    # a directional derivative over the user's operations
    assert a.forward_accumulate({x: 1.0, z: 1.0})[a] == pytest.approx(14 + 49 * LN7)


def test_example_with_the_paper_classes_draw_graph():
    a, _ = paper_example()
    a.backward()
    src = draw_graph(a).source
    for text in ("value 47", "grad 14", f"grad {49 * LN7:.4g}", "grad -1"):
        assert text in src
    for op in ('label="+"', 'label="neg"', 'label="^"'):  # the paper's Pow is named pow
        assert op in src
    assert len(re.findall(r"-> v\d+_op;", src)) == 2 + 2 + 2 + 1


# --- a user's own operation in all three modes ------------------------------------------------------


class Hypot(BinaryOp):
    """c = sqrt(a**2 + b**2), written in the paper's style."""

    def forward(self):
        return math.hypot(self.a.value, self.b.value)

    def backward(self):
        self.a.grad += self.a.value / self.c.value * self.c.grad
        self.b.grad += self.b.value / self.c.value * self.c.grad


class Square(UnaryOp):
    def forward(self):
        return self.a.value**2

    def backward(self):
        self.a.grad += 2 * self.a.value * self.b.grad


def test_user_operation_reverse_forward_and_picture():
    x, y = Node(3.0, name="x"), Node(4.0, name="y")
    h = Hypot().apply(x, y)
    out = Square().apply(h) * x + h.sin()  # mixed with built-in operations
    want_x = 2 * 5 * 0.6 * 3 + 25 + math.cos(5) * 0.6
    want_y = 2 * 5 * 0.8 * 3 + math.cos(5) * 0.8
    out.backward()
    assert x.grad == pytest.approx(want_x, rel=1e-14) and y.grad == pytest.approx(want_y, rel=1e-14)
    assert h.grad == pytest.approx(2 * 5 * 3 + math.cos(5), rel=1e-14)
    assert out.forward_accumulate(x)[out] == pytest.approx(want_x, rel=1e-14)
    assert out.forward_accumulate(y)[out] == pytest.approx(want_y, rel=1e-14)
    src = draw_graph(out).source
    assert 'label="hypot"' in src and 'label="square"' in src and "value 5" in src
    # the user's operation is a node like any other: a second backward adds to the inputs' grads
    out.backward()
    assert x.grad == pytest.approx(2 * want_x, rel=1e-14)


def test_user_operation_with_a_repeated_operand():
    x = Node(1.5)
    c = paper.Mul().apply(x, x)  # x * x: both partials land on x
    c.backward()
    assert x.grad == 3.0
    assert c.forward_accumulate(x)[c] == 3.0


def test_user_operation_from_a_class_of_the_readers_own():
    # a class that does not derive from wengert's bases, used through Node(value, op, parents)
    class Cube:
        def __init__(self, a):
            self.a = a
            self.b = Node(a.value**3, self, [a])

        def backward(self):
            self.a.grad += 3 * self.a.value**2 * self.b.grad

    x = Node(2.0)
    b = Cube(x).b
    (b * 2).backward()
    assert x.grad == 24.0
    assert b.forward_accumulate(x)[b] == 12.0
    assert 'label="cube"' in draw_graph(b).source


# --- the paper's neuron and layer -------------------------------------------------------------------


def test_paper_neuron_and_layer_match_wengerts():
    random.seed(5)
    theirs = paper.Neuron(2)
    random.seed(5)
    ours = WNeuron(2, activation="sigmoid", init="paper")
    assert [p.value for p in theirs.parameters()] == [p.value for p in ours.parameters()]
    assert 0.0 <= ours.bias.value < 1.0 and ours.weights is ours.w and ours.bias is ours.b
    x = [0.5, -1.5]
    out_t, out_o = theirs(x), ours(x)
    assert out_t.value == pytest.approx(out_o.value, rel=1e-15)
    paper_backward(out_t)
    out_o.backward()
    for p, q in zip(theirs.parameters(), ours.parameters()):
        assert p.grad == pytest.approx(q.grad, rel=1e-14)
    # seedable without touching the global state, and the same for a layer
    assert [p.value for p in WNeuron(3, init="paper", seed=1).parameters()] == [
        p.value for p in WNeuron(3, init="paper", seed=1).parameters()
    ]
    random.seed(2)
    theirs = paper.Layer(3, 2)
    random.seed(2)
    ours = WLayer(3, 2, activation="sigmoid", init="paper")
    assert [p.value for n in theirs.neurons for p in n.parameters()] == [
        p.value for p in ours.parameters()
    ]
    assert [o.value for o in theirs([1.0, 2.0, 3.0])] == pytest.approx(
        [o.value for o in ours([1.0, 2.0, 3.0])], rel=1e-15
    )
    with pytest.raises(ValueError, match="init"):
        WNeuron(2, init="gauss")


# --- the figures -------------------------------------------------------------------------------------


def load_example(name: str):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_figures_script_writes_the_papers_three_figures(tmp_path):
    figures = load_example("paper_figures")
    written = figures.main(["--out", str(tmp_path)])
    names = {p.name for p in written}
    assert {"paper_figure1.dot", "paper_figure2.dot"} <= names
    assert names & {"paper_figure3.png", "paper_figure3.pgm"}
    assert all(p.exists() and p.stat().st_size > 0 for p in written)
    fig1 = (tmp_path / "paper_figure1.dot").read_text()
    for text in ("value 47", "grad 14", f"grad {49 * LN7:.4g}", "grad -1", "<B>a</B>"):
        assert text in fig1
    # Figure 2: loss = (sigmoid(w . x + b) - t)**2; its grads are this step's own
    _, loss, neuron = figures.figure2()
    s = loss.parents[0].parents[0].value
    x = (0.5, -1.0)
    dz = 2 * (s - 1.0) * s * (1 - s)
    assert neuron.bias.grad == pytest.approx(dz, rel=1e-12)
    for w, xi in zip(neuron.weights, x):
        assert w.grad == pytest.approx(dz * xi, rel=1e-12)
    fig2 = (tmp_path / "paper_figure2.dot").read_text()
    assert "MSE loss" in fig2 and f"grad {neuron.bias.grad:.4g}" in fig2 and 'label="sigmoid"' in fig2


# --- numerical vs symbolic vs automatic --------------------------------------------------------------


def test_finite_differences_make_a_v_and_ad_sits_at_machine_precision():
    methods = load_example("differentiation_methods")
    hs = 10.0 ** -np.arange(1, 16)
    fwd, ctr, ad = methods.finite_differences(hs)
    eps = np.finfo(float).eps
    assert ad <= 4 * eps
    for err, lo, hi in ((fwd, 1e-10, 1e-6), (ctr, 1e-7, 1e-3)):
        i = int(np.argmin(err))
        assert lo <= hs[i] <= hi  # the bottom of the V: truncation meets rounding
        assert err[0] > 1e3 * err[i] and err[-1] > 1e3 * err[i]  # both arms rise
        assert err[i] > 100 * ad  # no step size reaches AD's accuracy
    # truncation: the forward difference's error falls as h, the central difference's as h**2
    assert fwd[1] / fwd[2] == pytest.approx(10, rel=0.05)
    assert ctr[1] / ctr[2] == pytest.approx(100, rel=0.05)


def test_symbolic_derivatives_swell_while_the_ad_tape_grows_linearly():
    pytest.importorskip("sympy")
    methods = load_example("differentiation_methods")
    rows = methods.symbolic_swell(6)  # also checks SymPy's and AD's derivatives agree
    ops = [r["diff_ops"] for r in rows]
    assert all(b >= 2.5 * a for a, b in itertools.pairwise(ops[2:]))  # exponential growth
    tape = [r["ad_tape"] for r in rows]
    assert all(b - a == 5 for a, b in itertools.pairwise(tape))  # five tape nodes per iterate
