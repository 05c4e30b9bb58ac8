"""Bad inputs a user can cause: each raises a clear error at the user's call, and loses nothing.

`ROWS` is the table: a callable that makes the mistake, the exception it must raise and a pattern its
message must match (what happened, and where it helps, what to do instead). After every row the
tensors, the per-thread state and the engine are checked to be as they were: a correct call on the
same tensors still gives the right values and gradients.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

import wengert as W
from wengert.core.trace import STATE
from wengert.testing import check_grads

X = np.array([0.5, -1.0, 2.0])
WEIGHT = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]])


class Env:
    """Fresh tensors for one row: x (3,) and w (2, 3), both leaves with requires_grad."""

    def __init__(self, tmp_path) -> None:
        self.tmp = tmp_path
        self.x = W.tensor(X.copy(), requires_grad=True)
        self.w = W.tensor(WEIGHT.copy(), requires_grad=True)

    def file(self, name: str, content: bytes) -> str:
        path = self.tmp / name
        path.write_bytes(content)
        return str(path)

    def check_intact(self) -> None:
        """Nothing was lost: state reset, values unchanged, and backward and transforms still work."""
        assert STATE.stack == [] and STATE.grad_enabled and not STATE.anomaly
        for t, v in ((self.x, X), (self.w, WEIGHT)):
            assert t.requires_grad and t.is_leaf
            np.testing.assert_array_equal(t.numpy(), v)
            t.grad = None
        loss = W.sum(W.tanh(self.w @ self.x))
        loss.backward()
        d = 1 - np.tanh(WEIGHT @ X) ** 2
        np.testing.assert_allclose(loss.item(), np.sum(np.tanh(WEIGHT @ X)))
        np.testing.assert_allclose(self.x.grad.numpy(), WEIGHT.T @ d)
        np.testing.assert_allclose(self.w.grad.numpy(), np.outer(d, X))
        g = W.grad(lambda x: W.sum(W.tanh(WEIGHT @ x)))(X)
        np.testing.assert_allclose(g, WEIGHT.T @ d)
        assert W.grad(lambda a: a * W.grad(lambda b: a + b)(1.0))(1.0) == 1.0
        a, b = W.Node(2.0), W.Node(3.0)
        (a * b + a).backward()
        assert (a.grad, b.grad) == (4.0, 2.0)


# --- triggers that need more than one expression ----------------------------------------------------


def backward_twice(env):
    y = W.sum(env.x * env.x)
    y.backward()
    y.backward()


def backward_through_shared_freed_part(env):
    h = W.exp(env.x)
    y1, y2 = W.sum(h), W.sum(h * 2.0)
    y1.backward()
    y2.backward()


def backward_of_no_grad_result(env):
    with W.no_grad():
        y = W.sum(env.x * 2.0)
    y.backward()


def backward_inside_transform(env):
    def f(v):
        W.sum(v).backward()
        return W.sum(v)

    W.grad(f)(X)


def set_int_requires_grad(env):
    t = W.tensor([1, 2])
    t.requires_grad = True


def setitem_on_leaf(env):
    env.x[0] = 5.0


def setitem_on_result(env):
    y = env.x * 2.0
    y[0] = 5.0


def setitem_inside_grad(env):
    def f(v):
        v[0] = 1.0
        return W.sum(v)

    W.grad(f)(X)


def vjp_wrong_cotangent_shape(env):
    _, pull = W.vjp(W.sin, X)
    pull(np.ones(2))


def vjp_wrong_cotangent_count(env):
    _, pull = W.vjp(W.sin, X)
    pull((np.ones(3), np.ones(3)))


def set_grad_wrong_shape(env):
    env.x.grad = np.ones(2)


def requires_grad_off_on_result(env):
    y = env.x * 2.0
    y.requires_grad = False


def custom_vjp_without_rule(env):
    W.custom_vjp(lambda v: v * 2.0)(1.0)


def scalar_module():
    return pytest.importorskip("wengert.nn.scalar")


def scalar_mlp(env):
    mlp = getattr(scalar_module(), "MLP", None)
    if mlp is None:
        pytest.skip("wengert.nn.scalar has no MLP yet")
    mlp([3, 2, 1], activation="elu")


def tensor_mlp(env):
    nn = pytest.importorskip("wengert.nn")
    mlp = getattr(nn, "MLP", None)
    if mlp is None:
        pytest.skip("wengert.nn has no MLP yet")
    mlp([3, 2, 1], activation="swish")


def data_loader(*args, **kwargs):
    data = pytest.importorskip("wengert.data")
    return data.DataLoader(*args, **kwargs)


def npz_bytes() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, a=np.ones(2))
    return buf.getvalue()


def row(id_, trigger, exc, match, marks=()):
    return pytest.param(trigger, exc, match, id=id_, marks=marks)


# --- the table ---------------------------------------------------------------------------------------

ROWS = [
    # shape mismatches: the op's name and both shapes
    row("add-eager", lambda e: e.x + np.ones(4), ValueError, r"add: arguments of shapes \(3,\), \(4,\)"),
    row(
        "mul-in-grad",
        lambda e: W.grad(lambda v: W.sum(v * np.ones(4)))(X),
        ValueError,
        r"mul: arguments of shapes \(3,\), \(4,\)",
    ),
    row(
        "sub-in-jvp",
        lambda e: W.jvp(lambda v: v - np.ones(4), (X,), (X,)),
        ValueError,
        r"sub: arguments of shapes \(3,\), \(4,\)",
    ),
    row("div-arrays", lambda e: W.div(np.ones(3), np.ones(2)), ValueError, r"div: .*\(3,\), \(2,\)"),
    row("pow-eager", lambda e: e.x ** np.ones(2), ValueError, r"pow: .*\(3,\), \(2,\)"),
    row(
        "maximum-eager",
        lambda e: W.maximum(e.x, np.ones((2, 2))),
        ValueError,
        r"maximum: .*\(3,\), \(2, 2\)",
    ),
    row(
        "where-eager",
        lambda e: W.where(np.ones(2, bool), e.x, 0.0),
        ValueError,
        r"where: .*\(2,\), \(3,\)",
    ),
    row(
        "matmul-matrices",
        lambda e: e.w @ np.ones((2, 3)),
        ValueError,
        r"matmul: shapes \(2, 3\) and \(2, 3\) do not match: inner dimensions 3 and 2",
    ),
    row("matmul-vector", lambda e: e.x @ e.w, ValueError, r"matmul: shapes \(3,\) and \(2, 3\)"),
    row(
        "matmul-0d",
        lambda e: W.matmul(e.x, 2.0),
        ValueError,
        r"matmul: operands must have at least one dimension.*\(3,\) and \(\)",
    ),
    row(
        "linear-weight",
        lambda e: W.linear(np.ones((4, 2)), e.w),
        ValueError,
        r"linear: input of shape \(4, 2\) does not fit weight of shape \(2, 3\)",
    ),
    row(
        "linear-bias",
        lambda e: W.linear(e.x, e.w, np.ones(3)),
        ValueError,
        r"linear: bias of shape \(3,\), expected \(2,\)",
    ),
    row(
        "concatenate-shapes",
        lambda e: W.concatenate([e.x, e.w]),
        ValueError,
        r"concatenate: shapes \[\(3,\), \(2, 3\)\] do not match",
    ),
    row(
        "concatenate-0d",
        lambda e: W.concatenate([W.sum(e.x), 1.0]),
        ValueError,
        r"concatenate: zero-dimensional",
    ),
    row(
        "stack-shapes",
        lambda e: W.stack([e.x, np.ones(2)]),
        ValueError,
        r"stack: all arrays need the same shape.*\(2,\), \(3,\)",
    ),
    row(
        "cross_entropy-shapes",
        lambda e: W.cross_entropy(e.w, np.array([0, 1, 2])),
        ValueError,
        r"cross_entropy: logits of shape \(2, 3\) need labels of shape \(2,\), got \(3,\)",
    ),
    row(
        "broadcast_to-shapes",
        lambda e: W.broadcast_to(e.x, (2, 4)),
        ValueError,
        r"broadcast_to: .*\(3,\).*\(2,4\)",
    ),
    row(
        "reshape-size",
        lambda e: W.reshape(e.x, (2, 2)),
        ValueError,
        r"reshape: .*\(3,\).*size 3 into shape \(2,2\)",
    ),
    row(
        "sum-axis",
        lambda e: W.sum(e.x, axis=2),
        ValueError,
        r"sum: .*axis 2 is out of bounds.*dimension 1",
    ),
    row(
        "backward-gradient-shape",
        lambda e: (e.x * 2.0).backward(gradient=np.ones(2)),
        ValueError,
        r"gradient of shape \(2,\) for a tensor of shape \(3,\)",
    ),
    # backward
    row("backward-twice", backward_twice, W.FreedGraphError, r"already freed.*retain_graph=True"),
    row(
        "backward-shared-freed",
        backward_through_shared_freed_part,
        W.FreedGraphError,
        r"retain_graph=True",
    ),
    row(
        "backward-non-scalar",
        lambda e: (e.x * 2.0).backward(),
        RuntimeError,
        r"shape \(3,\) needs `gradient`: pass an array of that shape.*ones_like.*t\.sum\(\)",
    ),
    row(
        "backward-no-requires-grad",
        lambda e: W.tensor([1.0, 2.0]).sum().backward(),
        RuntimeError,
        r"does not require grad.*requires_grad=True",
    ),
    row(
        "backward-of-no_grad",
        backward_of_no_grad_result,
        RuntimeError,
        r"does not require grad.*no_grad",
    ),
    row(
        "backward-in-transform",
        backward_inside_transform,
        RuntimeError,
        r"inside a function transform.*grad/vjp",
    ),
    # transforms
    row(
        "grad-non-scalar",
        lambda e: W.grad(lambda v: v * 2.0)(X),
        TypeError,
        r"grad: f must return a scalar.*shape \(3,\).*jacrev.*vjp",
    ),
    row(
        "grad-bool-output",
        lambda e: W.grad(lambda v: W.sum(v) > 0)(X),
        TypeError,
        r"grad: f returned dtype bool; it must return a float",
    ),
    row(
        "grad-has_aux-not-pair",
        lambda e: W.grad(W.sum, has_aux=True)(X),
        TypeError,
        r"has_aux=True the function must return a pair",
    ),
    row(
        "grad-int",
        lambda e: W.grad(lambda v: v * v)(3),
        TypeError,
        r"grad: input 0 is the integer 3.*pass 3\.0",
    ),
    row(
        "grad-int-array",
        lambda e: W.grad(W.sum)(np.arange(3)),
        TypeError,
        r"grad: input 0 has dtype int64.*floating-point.*astype\(float\)",
    ),
    row(
        "jacfwd-int-array",
        lambda e: W.jacfwd(W.sin)(np.arange(3)),
        TypeError,
        r"jacfwd: input 0 has dtype int64.*astype\(float\)",
    ),
    row(
        "jacrev-int-array",
        lambda e: W.jacrev(W.sin)(np.arange(3)),
        TypeError,
        r"jacrev: input 0 has dtype int64.*astype\(float\)",
    ),
    row(
        "jvp-int",
        lambda e: W.jvp(W.sin, (3,), (1.0,)),
        TypeError,
        r"jvp: primal 0 is the integer 3.*pass 3\.0",
    ),
    row(
        "taylor-int",
        lambda e: W.taylor(W.sin, 1, 2),
        TypeError,
        r"taylor: x is the integer 1.*pass 1\.0",
    ),
    row(
        "int-tensor-requires_grad",
        lambda e: W.tensor([1, 2], requires_grad=True),
        TypeError,
        r"only floating-point tensors can require gradients, got dtype int64.*dtype=wengert\.float32",
    ),
    row("int-tensor-requires_grad-setter", set_int_requires_grad, TypeError, r"floating-point.*int64"),
    row("setitem-leaf", setitem_on_leaf, RuntimeError, r"in-place assignment.*wengert\.where\(mask"),
    row("setitem-result", setitem_on_result, RuntimeError, r"in-place assignment.*concatenate/stack"),
    row("setitem-in-grad", setitem_inside_grad, RuntimeError, r"in-place assignment.*wengert\.where"),
    row(
        "vjp_fn-cotangent-shape",
        vjp_wrong_cotangent_shape,
        ValueError,
        r"cotangent of shape \(2,\) for an output of shape \(3,\)",
    ),
    row(
        "vjp_fn-cotangent-count",
        vjp_wrong_cotangent_count,
        ValueError,
        r"cotangent has 2 leaves, the output 1",
    ),
    row(
        "jvp-tangent-shape",
        lambda e: W.jvp(W.sin, (X,), (np.ones(2),)),
        ValueError,
        r"jvp: tangent of shape \(2,\) for a primal of shape \(3,\)",
    ),
    row(
        "jvp-tangent-count",
        lambda e: W.jvp(W.mul, (X, X), (X,)),
        ValueError,
        r"jvp: 2 primal leaves but 1 tangent leaves",
    ),
    row(
        "jvp-not-tuples",
        lambda e: W.jvp(W.sin, X, X),
        TypeError,
        r"jvp: primals and tangents must be tuples",
    ),
    row(
        "hvp-vector-shape",
        lambda e: W.hvp(lambda v: W.sum(v**2), X, np.ones(2)),
        ValueError,
        r"tangent of shape \(2,\) for a primal of shape \(3,\)",
    ),
    row(
        "grad-argnums",
        lambda e: W.grad(lambda a, b: a * b, argnums=2)(1.0, 2.0),
        ValueError,
        r"grad: argnums=2 is out of range for 2 arguments",
    ),
    row(
        "jacrev-argnums",
        lambda e: W.jacrev(W.sin, argnums=(0, 3))(X),
        ValueError,
        r"jacrev: argnums=\(0, 3\) is out of range for 1 arguments",
    ),
    row("custom_vjp-without-rule", custom_vjp_without_rule, TypeError, r"call defvjp\(fwd, bwd\) first"),
    row(
        "check_grads-mode",
        lambda e: check_grads(W.sin, X, modes=("bwd",)),
        ValueError,
        r"unknown mode 'bwd'; use 'rev' and/or 'fwd'",
    ),
    # the scalar graph and dual numbers
    row(
        "Node-str",
        lambda e: W.Node("a"),
        TypeError,
        r"Node: value must be a real number, got 'a' \(str\)",
    ),
    row("Node-None", lambda e: W.Node(None), TypeError, r"Node: value must be a real number, got None"),
    row(
        "Node-list",
        lambda e: W.Node([1, 2]),
        TypeError,
        r"Node: value must be a real number, got \[1, 2\]",
    ),
    row("Node-bool", lambda e: W.Node(True), TypeError, r"got True \(bool\)"),
    row(
        "Node-log", lambda e: W.Node(-1.0).log(), W.DomainError, r"log: argument must be > 0; got -1\.0"
    ),
    row(
        "Node-log-0", lambda e: W.Node(0.0).log(), W.DomainError, r"log: argument must be > 0; got 0\.0"
    ),
    row(
        "Node-sqrt",
        lambda e: W.Node(-4.0).sqrt(),
        W.DomainError,
        r"sqrt: argument must be >= 0; got -4\.0",
    ),
    row(
        "Node-pow",
        lambda e: W.Node(-2.0) ** 0.5,
        W.DomainError,
        r"pow: a negative base needs an integer exponent; got -2\.0 \*\* 0\.5",
    ),
    row(
        "Node-div-0",
        lambda e: W.Node(1.0) / 0,
        ZeroDivisionError,
        r"div: division by zero; got 1\.0 / 0",
    ),
    row("Node-rdiv-0", lambda e: 1.0 / W.Node(0.0), ZeroDivisionError, r"div: division by zero"),
    row("Node-pow-0", lambda e: W.Node(0.0) ** -1, ZeroDivisionError, r"pow: zero to a negative power"),
    row("Dual-str", lambda e: W.Dual("a"), TypeError, r"Dual: value must be a real number, got 'a'"),
    row(
        "Dual-deriv-None",
        lambda e: W.Dual(1.0, None),
        TypeError,
        r"Dual: value must be a real number, got None",
    ),
    row(
        "Dual-log",
        lambda e: W.Dual(-1.0, 1.0).log(),
        W.DomainError,
        r"log: argument must be > 0; got -1\.0",
    ),
    row("Dual-sqrt", lambda e: W.Dual(-1.0, 1.0).sqrt(), W.DomainError, r"sqrt: argument must be >= 0"),
    row("Dual-div-0", lambda e: W.Dual(1.0, 1.0) / 0.0, ZeroDivisionError, r"div: division by zero"),
    row(
        "Dual-arcsin",
        lambda e: W.arcsin(W.Dual(2.0, 1.0)),
        W.DomainError,
        r"arcsin: argument must be in \[-1, 1\]; got 2\.0",
    ),
    row(
        "derivative-log",
        lambda e: W.derivative(W.log)(-1.0),
        W.DomainError,
        r"log: argument must be > 0",
    ),
    row(
        "log1p-float", lambda e: W.log1p(-2.0), W.DomainError, r"log1p: argument must be > -1; got -2\.0"
    ),
    # Taylor mode
    row(
        "taylor-unsupported",
        lambda e: W.taylor(W.checkpoint(W.sin), X, 2),
        NotImplementedError,
        r"taylor: primitive 'checkpoint\(f\)' has no Taylor rule.*nested jvp/grad",
    ),
    row(
        "taylor-negative-order",
        lambda e: W.taylor(W.sin, 1.0, -1),
        ValueError,
        r"taylor: order must be a non-negative integer, got -1",
    ),
    row(
        "taylor-direction",
        lambda e: W.taylor(W.sin, X, 2, direction=np.ones(2)),
        ValueError,
        r"taylor: direction of shape \(2,\) for x of shape \(3,\)",
    ),
    # cross_entropy's labels and reduction
    row(
        "cross_entropy-reduction",
        lambda e: W.cross_entropy(e.w, np.array([0, 1]), reduction="avg"),
        ValueError,
        r"reduction must be 'mean', 'sum' or 'none', got 'avg'",
    ),
    row(
        "cross_entropy-label-too-big",
        lambda e: W.cross_entropy(e.w, np.array([0, 3])),
        ValueError,
        r"labels must be in \[0, 3\), got values from 0 to 3",
    ),
    row(
        "cross_entropy-label-negative",
        lambda e: W.cross_entropy(e.w, np.array([-1, 0])),
        ValueError,
        r"labels must be in \[0, 3\), got values from -1",
    ),
    row(
        "cross_entropy-float-labels",
        lambda e: W.cross_entropy(e.w, np.array([0.0, 1.0])),
        TypeError,
        r"labels must be integers, got dtype float64",
    ),
    row(
        "cross_entropy-0d-logits",
        lambda e: W.cross_entropy(W.sum(e.x), np.array(0)),
        ValueError,
        r"cross_entropy: logits .*(at least one|class axis)",
    ),
    # numpy functions that wengert cannot differentiate
    row(
        "numpy-ufunc-reduce",
        lambda e: np.add.reduce(e.x),
        TypeError,
        r"numpy's add\.reduce is not differentiable by wengert; use the wengert function",
    ),
    row(
        "numpy-ufunc",
        lambda e: np.exp2(e.x),
        TypeError,
        r"numpy's exp2 is not differentiable.*wengert function",
    ),
    row(
        "numpy-function",
        lambda e: np.cumsum(e.x),
        TypeError,
        r"numpy\.cumsum is not differentiable.*wengert",
    ),
    # structural helpers
    row(
        "squeeze-non-1-axis",
        lambda e: W.squeeze(W.reshape(e.x, (1, 3)), 1),
        ValueError,
        r"squeeze: axis 1 has size 3, not 1 \(shape \(1, 3\)\)",
    ),
    row(
        "squeeze-axis-out-of-range",
        lambda e: W.squeeze(W.reshape(e.x, (1, 3)), 2),
        ValueError,
        r"squeeze: .*axis 2.*(out of|bounds)",
    ),
    row(
        "squeeze-0d",
        lambda e: W.squeeze(W.sum(e.x), 0),
        ValueError,
        r"squeeze: .*axis 0",
    ),
    row(
        "expand_dims-axis-out-of-range",
        lambda e: W.expand_dims(e.x, 5),
        ValueError,
        r"expand_dims: .*axis 5",
    ),
    row(
        "one_hot-negative-label",
        lambda e: W.one_hot(np.array([-1, 0]), 3),
        ValueError,
        r"one_hot: .*-1",
    ),
    row(
        "index-out-of-bounds",
        lambda e: e.x[5],
        IndexError,
        r"index 5 is out of bounds for axis 0 with size 3",
    ),
    row(
        "item-of-vector",
        lambda e: e.x.item(),
        ValueError,
        r"item\(\) needs a tensor with one element.*\(3,\)",
    ),
    row(
        "tensor-of-str",
        lambda e: W.tensor("abc"),
        TypeError,
        r"tensor\(\): data must be numeric, got 'abc'",
    ),
    row(
        "sum-out",
        lambda e: e.x.sum(out=np.empty(())),
        TypeError,
        r"sum: out= is not supported for tensors",
    ),
    row("grad-setter-shape", set_grad_wrong_shape, ValueError, r"grad of shape \(2,\).*shape \(3,\)"),
    row(
        "requires_grad-off-on-result",
        requires_grad_off_on_result,
        RuntimeError,
        r"leaf tensor.*\.detach\(\)",
    ),
    # the paper's neurons and layers, and the tensor MLP (guarded: nn is being written)
    row(
        "Neuron-activation",
        lambda e: scalar_module().Neuron(3, activation="gelu"),
        ValueError,
        r"unknown activation 'gelu'; valid activations are .*'relu'",
    ),
    row(
        "Layer-activation",
        lambda e: scalar_module().Layer(3, 2, activation="softmax"),
        ValueError,
        r"unknown activation 'softmax'; valid activations are .*'tanh'",
    ),
    row("scalar-MLP-activation", scalar_mlp, ValueError, r"unknown activation 'elu'; valid"),
    row("MLP-activation", tensor_mlp, ValueError, r"MLP: unknown activation 'swish'; valid: .*relu"),
    # files and data
    row(
        "load-text-file",
        lambda e: W.load(e.file("notes.txt", b"hello\n")),
        W.FormatError,
        r"notes\.txt: not a wengert state file",
    ),
    row(
        "load-npz",
        lambda e: W.load(e.file("a.npz", npz_bytes())),
        W.FormatError,
        r"a\.npz: not a wengert state file",
    ),
    row(
        "load-missing-file",
        lambda e: W.load(str(e.tmp / "missing.wengert")),
        FileNotFoundError,
        r"missing\.wengert",
    ),
    row(
        "DataLoader-batch_size-0",
        lambda e: data_loader(np.ones((4, 2)), np.ones(4), batch_size=0),
        ValueError,
        r"batch_size must be >= 1, got 0",
    ),
    row(
        "DataLoader-lengths",
        lambda e: data_loader(np.ones((4, 2)), np.ones(3)),
        ValueError,
        r"len\(x\) = 4 but len\(y\) = 3; they must match",
    ),
]


@pytest.mark.parametrize(("trigger", "exc", "match"), ROWS)
def test_bad_input_raises_a_clear_error_and_loses_nothing(trigger, exc, match, tmp_path):
    env = Env(tmp_path)
    with pytest.raises(exc, match=match):
        trigger(env)
    env.check_intact()


def test_the_table_is_large():
    assert len(ROWS) >= 45


def test_domain_and_format_errors_are_value_errors():
    assert issubclass(W.DomainError, ValueError) and issubclass(W.FormatError, ValueError)
    assert issubclass(W.FreedGraphError, RuntimeError)


# --- losing nothing, in detail ------------------------------------------------------------------------


def test_refused_backward_adds_nothing_to_earlier_gradients():
    x = W.tensor(X.copy(), requires_grad=True)
    h = W.exp(x)
    W.sum(h).backward()
    first = x.grad.numpy().copy()
    with pytest.raises(W.FreedGraphError):
        W.sum(h * 2.0).backward()
    np.testing.assert_array_equal(x.grad.numpy(), first)
    with pytest.raises(RuntimeError, match="gradient"):
        (x * 2.0).backward()
    np.testing.assert_array_equal(x.grad.numpy(), first)


def test_refused_setitem_keeps_values_and_graph():
    x = W.tensor(X.copy(), requires_grad=True)
    y = x * x
    with pytest.raises(RuntimeError, match="in-place"):
        y[0] = 100.0
    np.testing.assert_array_equal(y.numpy(), X * X)
    W.sum(y).backward()  # the recorded graph is intact
    np.testing.assert_allclose(x.grad.numpy(), 2 * X)


def test_errors_inside_nested_transforms_close_every_level():
    def inner(v):
        return W.sum(v * np.ones(4))

    with pytest.raises(ValueError, match=r"mul: arguments of shapes \(3,\), \(4,\)"):
        W.jacfwd(W.grad(lambda v: W.grad(inner)(v) @ v))(X)
    assert STATE.stack == []
    h = W.hessian(lambda v: W.sum(v**3))(X)
    np.testing.assert_allclose(h, np.diag(6 * X))


def test_domain_error_leaves_the_scalar_graph_usable():
    a = W.Node(-1.0)
    b = a * a
    with pytest.raises(W.DomainError):
        a.log()
    b.backward()
    assert a.grad == -2.0


# --- the `wengert` command: one line on stderr, the right exit code, nothing lost ---------------------

SRC = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "src")
QUICK = ["--epochs", "1", "--hidden", "4", "--limit", "100", "--no-plot"]


def wengert_cmd(*args, cwd=None, timeout=120):
    """Run `python -m wengert ARGS` in a fresh process; returns the CompletedProcess."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": SRC, "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "wengert", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


def snapshot(folder) -> dict:
    """Every file under `folder` with its bytes: what "nothing was lost" compares."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory):
    """A finished run folder (model, history and plot) that later mistakes must leave alone."""
    from wengert.cli import main

    out = tmp_path_factory.mktemp("earlier") / "run"
    assert main(["train", *QUICK[:-1], "--out", str(out), "--quiet"]) == 0
    return out


def _idx_dir(tmp):
    d = tmp / "idx"
    d.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (d / name).write_bytes(b"\x00\x00\x08\x03garbage")
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (d / name).write_bytes(b"not an idx file")
    return d


def _other_architecture(tmp):
    """A model file whose stored architecture (784-16-10) does not match its weights (784-4-10)."""
    from wengert.cli import main

    out = tmp / "mismatch"
    assert main(["train", *QUICK, "--out", str(out), "--quiet"]) == 0
    path = out / "model.safetensors"
    meta = W.io.load_metadata(path)
    meta["sizes"] = meta["architecture"]["sizes"] = [784, 16, 10]
    W.io.save(W.io.load(path), path, metadata=meta)
    return path


# (id, args with {tmp}/{run} placeholders, setup(tmp) or None, exit code, stderr pattern)
T, R = "{tmp}", "{run}"
MNIST = ["train", "--dataset", "mnist", "--data-dir"]
CLI_ROWS = [
    ("out-is-a-file", ["train", *QUICK, "--out", f"{T}/file"], "file", 1,
     r"exists and is not a directory"),
    ("out-under-a-file", ["train", *QUICK, "--out", f"{T}/file/sub"], "file", 1, r"cannot create"),
    ("out-unwritable", ["train", *QUICK, "--out", "/proc/wengert-run"], None, 1, r"cannot create"),
    ("out-earlier-run", ["train", *QUICK, "--out", R], None, 1,
     r"holds an earlier run.*--overwrite"),
    ("out-empty", ["train", *QUICK, "--out", " "], None, 2, r"--out is empty"),
    ("lr-nan", ["train", "--lr", "nan"], None, 2, r"--lr: must be a finite number"),
    ("lr-inf", ["train", "--lr", "inf"], None, 2, r"--lr: must be a finite number"),
    ("lr-negative", ["train", "--lr", "-1"], None, 2, r"--lr: must be in \(0, inf\)"),
    ("lr-text", ["train", "--lr", "fast"], None, 2, r"--lr: not a number"),
    ("momentum-negative", ["train", "--momentum", "-1"], None, 2, r"--momentum: must be in \[0, 1\)"),
    ("momentum-one", ["train", "--momentum", "1"], None, 2, r"--momentum: must be in \[0, 1\)"),
    ("weight-decay-negative", ["train", "--weight-decay", "-1"], None, 2, r"--weight-decay: must be"),
    ("seed-negative", ["train", "--seed", "-1"], None, 2, r"--seed: must be in \[0,"),
    ("epochs-zero", ["train", "--epochs", "0"], None, 2, r"--epochs: must be in \(0, inf\)"),
    ("unknown-model", ["train", "--model", "resnet"], None, 2, r"invalid choice: 'resnet'"),
    ("mnist-without-dir", ["train", "--dataset", "mnist"], None, 2, r"--dataset mnist needs --data-dir"),
    ("bundled-with-dir", ["train", "--data-dir", T], None, 2, r"--data-dir is for --dataset mnist"),
    ("data-dir-missing", [*MNIST, f"{T}/nope"], None, 1, r"no such directory: .*nope"),
    ("data-dir-is-a-file", [*MNIST, f"{T}/file"], "file", 1, r"not a directory"),
    ("data-files-unreadable", [*MNIST, f"{T}/idx", *QUICK], "idx", 1, r"idx.*(IDX|truncated|short)"),
    ("fashion-hint", ["train", "--dataset", "fashion-mnist", "--data-dir", f"{T}/nope"], None, 1,
     r"no such directory"),
    ("diverges", ["train", *QUICK, "--lr", "1e300", "--out", f"{T}/diverged"], None, 1,
     r"training diverged.*smaller learning rate"),
    ("predict-directory", ["predict", R], None, 1, r"is a directory, not a model file; did you mean"),
    ("predict-missing", ["predict", f"{T}/nope.wgt"], None, 1, r"no such model file"),
    ("predict-not-a-model", ["predict", f"{T}/file"], "file", 1, r"not a wengert state file"),
    ("predict-other-architecture", ["predict", f"{T}/mismatch/model.safetensors"], "mismatch", 1,
     r"do not fit a MLP 784-16-10"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "setup", "code", "match"), [pytest.param(*r[1:], id=r[0]) for r in CLI_ROWS]
)
def test_cli_mistake_is_one_line_and_loses_nothing(args, setup, code, match, tmp_path, earlier_run):
    if setup == "file":
        (tmp_path / "file").write_text("precious")
    elif setup == "idx":
        _idx_dir(tmp_path)
    elif setup == "mismatch":
        _other_architecture(tmp_path)
    before_tmp, before_run = snapshot(tmp_path), snapshot(earlier_run)
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{run}", str(earlier_run)) for a in args]
    r = wengert_cmd(*argv, cwd=tmp_path)
    assert r.returncode == code, r.stderr
    assert re.search(match, r.stderr), r.stderr
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert snapshot(earlier_run) == before_run  # the earlier run is untouched
    assert snapshot(tmp_path) == before_tmp  # nothing written, nothing half-written
    assert not (tmp_path / "runs").exists() and not (tmp_path / "diverged").exists()


def test_cli_table_covers_the_mistakes():
    assert len(CLI_ROWS) >= 25


def test_cli_overwrite_replaces_the_whole_earlier_run(tmp_path):
    from wengert.cli import main

    out = tmp_path / "run"
    assert main(["train", *QUICK[:-1], "--out", str(out), "--quiet"]) == 0
    assert (out / "training_curve.png").exists() or not _has_matplotlib()
    old = (out / "model.safetensors").read_bytes()
    assert main(["train", *QUICK, "--seed", "1", "--out", str(out), "--quiet", "--overwrite"]) == 0
    assert (out / "model.safetensors").read_bytes() != old
    assert not (out / "training_curve.png").exists()  # the old run's plot does not outlive it
    assert W.io.load_metadata(out / "model.safetensors")["training"]["seed"] == 1


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_cli_runs_started_together_get_their_own_folders(tmp_path):
    import subprocess
    import sys

    env = {**__import__("os").environ, "PYTHONPATH": SRC, "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "wengert", "train", *QUICK, "--quiet"]
    procs = [
        subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True) for _ in "ab"
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    saved = [
        line.split("model saved to ")[1] for out in outs for line in out.splitlines() if "saved" in line
    ]
    assert len(set(saved)) == 2 and all((tmp_path / s).is_file() for s in saved)


def test_cli_predict_into_a_closed_pipe_is_quiet(earlier_run):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": SRC}
    p = subprocess.Popen(
        [sys.executable, "-m", "wengert", "predict", str(earlier_run / "model.safetensors")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    p.stdout.readline()
    p.stdout.close()  # the reader goes away, as `| head -1` does
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_cli_interrupted_run_leaves_no_partial_state(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": SRC, "OPENBLAS_NUM_THREADS": "1"}
    out = tmp_path / "run"
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wengert",
            "train",
            "--epochs",
            "500",
            "--limit",
            "2000",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    p.stdout.readline()  # the settings line: training has started
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "interrupted (nothing saved)" in err, err
    assert "Traceback" not in err
    assert not out.exists()  # the folder this run made is gone; no half-written model


def test_cli_debug_shows_the_traceback(tmp_path):
    r = wengert_cmd("predict", tmp_path / "nope.wgt", "--debug")
    assert r.returncode == 1 and "Traceback" in r.stderr
