"""Tests for wengert.nn: Module, Parameter, layers, initialisers and losses."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as W
from wengert import nn
from wengert.nn import functional as F

RNG = np.random.default_rng(0)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def numerical_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of scalar f at float64 array x."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        fp = f(x)
        x[i] = old - eps
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def as64(layer: nn.Linear) -> nn.Linear:
    """The same layer with float64 parameters (for finite differences)."""
    layer.weight = nn.Parameter(layer.weight, dtype=np.float64)
    if layer.bias is not None:
        layer.bias = nn.Parameter(layer.bias, dtype=np.float64)
    return layer


# --- Parameter and Module ---------------------------------------------------------------------------


def test_parameter_is_a_float32_leaf_copy():
    data = np.arange(6.0).reshape(2, 3)
    p = nn.Parameter(data)
    assert type(p) is W.Tensor and p.requires_grad and p.is_leaf and p.dtype == np.float32
    data[0, 0] = 100
    assert p.numpy()[0, 0] == 0
    assert nn.Parameter([1.0], dtype=np.float64).dtype == np.float64


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(3, 4, seed=0)
        self.scale = nn.Parameter(np.ones(4))
        self.constant = W.tensor([1.0, 2.0])  # no requires_grad: not a parameter
        self.note = "hello"

    def forward(self, x):
        return self.inner(x) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Linear(4, 2, seed=1)

    def forward(self, x):
        return self.head(W.relu(self.block(x)))


def test_registration_and_dotted_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["block.scale", "block.inner.weight", "block.inner.bias", "head.weight", "head.bias"]
    assert len(list(net.parameters())) == 5
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.inner", "head"]
    assert [n for n, _ in net.named_children()] == ["block", "head"]
    assert net.num_parameters() == 4 + 12 + 4 + 8 + 2
    assert net(np.ones((5, 3), np.float32)).shape == (5, 2)


def test_reassigning_an_attribute_unregisters_it():
    b = Block()
    b.scale = None
    assert "scale" not in dict(b.named_parameters())
    b.inner = "not a module"
    assert list(b.named_parameters()) == []
    b.extra = nn.Parameter([1.0])
    assert list(dict(b.named_parameters())) == ["extra"]
    del b.extra
    assert list(b.named_parameters()) == []


def test_shared_parameters_are_listed_once():
    a = nn.Linear(2, 2, seed=0)
    seq = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias"]


def test_forgetting_super_init_is_explained():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter([1.0])

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Bad()


def test_register_parameter_checks_type():
    m = nn.Module()
    with pytest.raises(TypeError, match="leaf tensor with requires_grad=True"):
        m.register_parameter("w", W.tensor([1.0]))
    with pytest.raises(TypeError, match="expected a Module"):
        m.add_module("x", 3)


def test_zero_grad_sets_none():
    net = Net()
    F.mse_loss(net(np.ones((2, 3), np.float32)), np.zeros((2, 2), np.float32)).backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_eval_propagate():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5)))
    assert net.eval() is net
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_repr_shows_structure():
    r = repr(nn.MLP([4, 3, 2], "tanh", seed=0))
    assert "MLP(sizes=[4, 3, 2], activation='tanh'" in r
    assert "(0): Linear(in_features=4, out_features=3, bias=True)" in r
    assert "(1): Tanh()" in r


def test_forward_not_defined():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


# --- state dicts --------------------------------------------------------------------------------------


def test_state_dict_is_a_copy_and_round_trips():
    a, b = nn.MLP([5, 4, 3], seed=0), nn.MLP([5, 4, 3], seed=1)
    sd = a.state_dict()
    assert set(sd) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert all(isinstance(v, W.Tensor) and not v.requires_grad for v in sd.values())
    sd["0.weight"][...] = 7.0
    assert not np.all(a[0].weight.numpy() == 7.0)
    sd = a.state_dict()
    w_before = b[0].weight  # loading copies in place: the tensors an optimizer holds stay valid
    assert b.load_state_dict(sd) == ([], [])
    assert b[0].weight is w_before
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])
    x = RNG.random((3, 5), dtype=np.float32)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_load_state_dict_errors_name_the_keys():
    m = nn.MLP([5, 4, 3], seed=0)
    sd = m.state_dict()
    del sd["2.bias"]
    sd["extra.weight"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"missing keys: '2\.bias'") as e:
        m.load_state_dict(sd)
    assert "unexpected keys: 'extra.weight'" in str(e.value)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert missing == ["2.bias"] and unexpected == ["extra.weight"]


def test_load_state_dict_shape_mismatch_changes_nothing():
    m = nn.MLP([5, 4, 3], seed=0)
    before = m.state_dict()
    sd = nn.MLP([5, 4, 3], seed=1).state_dict()
    sd["2.weight"] = np.zeros((3, 5))
    with pytest.raises(
        ValueError,
        match=r"shape mismatch for '2.weight': the checkpoint has \(3, 5\), the model \(3, 4\)",
    ):
        m.load_state_dict(sd, strict=False)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_model_save_load_round_trip(tmp_path):
    m = nn.MLP([6, 5, 4, 3], "sigmoid", seed=3)
    path = tmp_path / "m.wgt"
    W.save(m.state_dict(), path, metadata={"sizes": m.sizes, "activation": m.activation})
    meta = W.io.load_metadata(path)
    m2 = nn.MLP(meta["sizes"], meta["activation"])
    m2.load_state_dict(W.load(path))
    x = RNG.random((4, 6), dtype=np.float32)
    np.testing.assert_array_equal(m(x).numpy(), m2(x).numpy())


# --- layers -------------------------------------------------------------------------------------------


def test_linear_values_and_layout():
    lin = nn.Linear(4, 3, seed=0)
    assert lin.weight.shape == (3, 4) and lin.bias.shape == (3,)
    x = RNG.random((5, 4), dtype=np.float32)
    want = x @ lin.weight.numpy().T + lin.bias.numpy()
    np.testing.assert_allclose(lin(x).numpy(), want, rtol=1e-6)
    nobias = nn.Linear(4, 3, bias=False)
    assert nobias.bias is None and len(list(nobias.parameters())) == 1


def test_linear_gradients_against_numpy_formulas():
    lin = nn.Linear(4, 3, seed=0, init="torch")
    x = W.tensor(RNG.random((5, 4), dtype=np.float32), requires_grad=True)
    g = RNG.standard_normal((5, 3)).astype(np.float32)
    (lin(x) * g).sum().backward()
    np.testing.assert_allclose(lin.weight.grad.numpy(), g.T @ x.numpy(), rtol=1e-5)
    np.testing.assert_allclose(lin.bias.grad.numpy(), g.sum(0), rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), g @ lin.weight.numpy(), rtol=1e-5)


def test_linear_gradient_against_finite_differences():
    lin = as64(nn.Linear(3, 2, seed=1))
    x = RNG.standard_normal((4, 3))
    u = RNG.standard_normal((4, 2))
    (W.tanh(lin(x)) * u).sum().backward()
    w = lin.weight.numpy().copy()
    num = numerical_grad(lambda w_: float(np.sum(np.tanh(x @ w_.T + lin.bias.numpy()) * u)), w)
    np.testing.assert_allclose(lin.weight.grad.numpy(), num, rtol=1e-6, atol=1e-8)


def test_linear_init_statistics_and_seed():
    k = nn.Linear(400, 300, init="kaiming", seed=0).weight.numpy()
    assert abs(k.std() - np.sqrt(2 / 400)) < 0.002 and abs(k.mean()) < 0.002
    xa = nn.Linear(400, 300, init="xavier", seed=0).weight.numpy()
    bound = np.sqrt(6 / 700)
    assert xa.max() <= bound and xa.min() >= -bound and xa.max() > 0.95 * bound
    t = nn.Linear(400, 300, init="torch", seed=0)
    assert np.abs(t.weight.numpy()).max() <= 1 / 20 and np.abs(t.bias.numpy()).max() <= 1 / 20
    assert not np.all(t.bias.numpy() == 0)
    assert np.all(nn.Linear(4, 3, seed=0).bias.numpy() == 0)
    np.testing.assert_array_equal(
        nn.Linear(4, 3, seed=5).weight.numpy(), nn.Linear(4, 3, seed=5).weight.numpy()
    )
    with pytest.raises(ValueError, match="unknown init 'he'"):
        nn.Linear(4, 3, init="he")


def test_init_functions():
    g = np.random.default_rng(0)
    a, b = nn.init.normal((3, 3), seed=g), nn.init.normal((3, 3), seed=g)
    assert a.dtype == np.float32 and not np.array_equal(a, b)  # a Generator is drawn from
    np.testing.assert_array_equal(nn.init.uniform((5,), seed=1), nn.init.uniform((5,), seed=1))
    assert nn.init.fans((10, 20, 3, 3)) == (180, 90)
    assert nn.init.calculate_gain("relu") == pytest.approx(np.sqrt(2))
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        nn.init.calculate_gain("swish")
    assert nn.init.kaiming_uniform((1000, 500), seed=0).std() == pytest.approx(
        np.sqrt(2 / 500), rel=0.02
    )
    assert nn.init.xavier_normal((1000, 500), seed=0).std() == pytest.approx(np.sqrt(2 / 1500), rel=0.02)


@pytest.mark.parametrize(
    ("layer", "fn"),
    [
        (nn.ReLU(), lambda x: np.maximum(x, 0)),
        (nn.Sigmoid(), sigmoid),
        (nn.Tanh(), np.tanh),
        (nn.Softmax(), softmax),
        (nn.Softmax(axis=0), lambda x: softmax(x, axis=0)),
        (nn.Identity(), lambda x: x),
    ],
)
def test_activation_layers(layer, fn):
    x = RNG.standard_normal((4, 5))
    np.testing.assert_allclose(layer(W.tensor(x)).numpy(), fn(x), rtol=1e-12)


def test_activation_gradients():
    x = RNG.standard_normal((3, 4))
    for layer, d in [
        (nn.ReLU(), lambda x: (x > 0).astype(float)),
        (nn.Sigmoid(), lambda x: sigmoid(x) * (1 - sigmoid(x))),
        (nn.Tanh(), lambda x: 1 - np.tanh(x) ** 2),
    ]:
        t = W.tensor(x, requires_grad=True)
        layer(t).sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), d(x), rtol=1e-12)
    # softmax along axis 1, against finite differences of sum(softmax * u)
    u = RNG.standard_normal((3, 4))
    t = W.tensor(x, requires_grad=True)
    (nn.Softmax()(t) * u).sum().backward()
    np.testing.assert_allclose(
        t.grad.numpy(), numerical_grad(lambda z: float(np.sum(softmax(z) * u)), x.copy()), atol=1e-8
    )


def test_flatten():
    assert nn.Flatten()(W.zeros(2, 3, 4)).shape == (2, 12)


def test_dropout():
    d = nn.Dropout(0.25, seed=0)
    x = W.tensor(np.ones((200, 100)), requires_grad=True)
    y = d(x)
    v = y.numpy()
    assert set(np.unique(v)) == {0.0, 1 / 0.75}
    assert abs((v == 0).mean() - 0.25) < 0.01
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), v)  # the gradient is the mask
    d.eval()
    assert d(x) is x
    assert nn.Dropout(0.0)(x) is x
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        nn.Dropout(1.0)
    np.testing.assert_array_equal(
        F.dropout(np.ones(10), 0.5, seed=3), F.dropout(np.ones(10), 0.5, seed=3)
    )
    assert F.dropout(x, 0.5, training=False) is x


def test_sequential():
    seq = nn.Sequential(nn.Linear(3, 4, seed=0), nn.ReLU())
    seq.append(nn.Linear(4, 2, seed=1))
    assert len(seq) == 3 and isinstance(seq[2], nn.Linear) and isinstance(seq[-1], nn.Linear)
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    x = RNG.random((2, 3), dtype=np.float32)
    np.testing.assert_allclose(seq(x).numpy(), seq[2](seq[1](seq[0](x))).numpy())


def test_mlp():
    m = nn.MLP([6, 5, 4, 3], "tanh", seed=0)
    assert [type(x).__name__ for x in m] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert m(np.zeros((7, 6), np.float32)).shape == (7, 3)
    assert m[0].bias.numpy().sum() == 0
    np.testing.assert_array_equal(
        m.state_dict()["4.weight"], nn.MLP([6, 5, 4, 3], "tanh", seed=0)[4].weight.numpy()
    )
    with pytest.raises(ValueError, match="unknown activation 'gelu'; valid: relu, sigmoid, tanh"):
        nn.MLP([2, 2], "gelu")
    with pytest.raises(ValueError, match="at least an input and an output"):
        nn.MLP([2])


def test_mlp_gradient_against_finite_differences():
    m = nn.MLP([3, 4, 2], "sigmoid", seed=0)
    for lin in (m[0], m[2]):
        as64(lin)
    x = RNG.standard_normal((5, 3))
    y = np.array([0, 1, 1, 0, 1])
    nn.cross_entropy(m(x), y).backward()
    w1 = m[0].weight.numpy().copy()

    def loss(w):
        h = sigmoid(x @ w.T + m[0].bias.numpy())
        z = h @ m[2].weight.numpy().T + m[2].bias.numpy()
        return float(np.mean(-np.log(softmax(z)[np.arange(5), y])))

    np.testing.assert_allclose(m[0].weight.grad.numpy(), numerical_grad(loss, w1), rtol=1e-6, atol=1e-9)


# --- losses -------------------------------------------------------------------------------------------


def _grad_of(loss_fn, x, *rest, **kw):
    t = W.tensor(x, requires_grad=True)
    out = loss_fn(t, *rest, **kw)
    (out.sum() if out.ndim else out).backward()
    return out.numpy(), t.grad.numpy()


def test_mse_loss():
    p, t = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    v, g = _grad_of(nn.mse_loss, p, t)
    np.testing.assert_allclose(v, np.mean((p - t) ** 2))
    np.testing.assert_allclose(g, 2 * (p - t) / p.size)
    np.testing.assert_allclose(nn.mse_loss(p, t, reduction="sum").numpy(), np.sum((p - t) ** 2))
    np.testing.assert_allclose(nn.mse_loss(p, t, reduction="none").numpy(), (p - t) ** 2)
    with pytest.raises(ValueError, match=r"input of shape \(4, 3\) and target of shape \(4,\)"):
        nn.mse_loss(p, t[:, 0])
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.mse_loss(p, t, reduction="avg")


def test_cross_entropy():
    z = RNG.standard_normal((6, 4))
    y = np.array([0, 3, 1, 2, 3, 0])
    v, g = _grad_of(nn.cross_entropy, z, y)
    onehot = np.eye(4)[y]
    np.testing.assert_allclose(v, np.mean(-np.log(softmax(z)[np.arange(6), y])))
    np.testing.assert_allclose(g, (softmax(z) - onehot) / 6, atol=1e-15)
    big = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    assert np.isfinite(nn.cross_entropy(big, np.array([1, 1])).numpy())
    assert F.cross_entropy is nn.cross_entropy


def test_nll_loss_matches_cross_entropy_of_log_softmax():
    z = RNG.standard_normal((6, 4))
    y = np.array([0, 3, 1, 2, 3, 0])
    lp = z - np.log(np.exp(z).sum(1, keepdims=True))
    v, g = _grad_of(nn.nll_loss, lp, y)
    np.testing.assert_allclose(v, -np.mean(lp[np.arange(6), y]))
    np.testing.assert_allclose(g, -np.eye(4)[y] / 6)
    zt = W.tensor(z, requires_grad=True)
    nn.nll_loss(W.log_softmax(zt), y).backward()
    np.testing.assert_allclose(zt.grad.numpy(), _grad_of(nn.cross_entropy, z, y)[1], atol=1e-15)
    np.testing.assert_allclose(nn.nll_loss(lp, y, reduction="none").numpy(), -lp[np.arange(6), y])
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\)"):
        nn.nll_loss(lp, np.array([0, 1, 2, 3, 4, 0]))
    with pytest.raises(TypeError, match="labels must be integers"):
        nn.nll_loss(lp, y.astype(float))
    with pytest.raises(ValueError, match=r"needs labels of shape \(6,\)"):
        nn.nll_loss(lp, y[:3])


def test_binary_cross_entropy():
    p = RNG.uniform(0.05, 0.95, (5, 2))
    t = RNG.integers(0, 2, (5, 2)).astype(float)
    v, g = _grad_of(nn.binary_cross_entropy, p, t)
    np.testing.assert_allclose(v, np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p))))
    np.testing.assert_allclose(g, -(t / p - (1 - t) / (1 - p)) / p.size)
    # log clamped at -100: p = 0 with target 1 costs 100, with finite gradients
    v, g = _grad_of(
        nn.binary_cross_entropy, np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0]), reduction="none"
    )
    np.testing.assert_allclose(v, [100.0, 100.0, 0.0])
    assert np.all(np.isfinite(g))
    with pytest.raises(ValueError, match=r"probs must lie in \[0, 1\]"):
        nn.binary_cross_entropy(np.array([1.5]), np.array([1.0]))


def test_binary_cross_entropy_with_logits():
    x = RNG.standard_normal((4, 3)) * 3
    t = RNG.uniform(0, 1, (4, 3))
    v, g = _grad_of(nn.binary_cross_entropy_with_logits, x, t)
    s = sigmoid(x)
    np.testing.assert_allclose(v, np.mean(-(t * np.log(s) + (1 - t) * np.log(1 - s))), rtol=1e-12)
    np.testing.assert_allclose(g, (s - t) / x.size, rtol=1e-12)
    v, g = _grad_of(
        nn.binary_cross_entropy_with_logits,
        np.array([1000.0, -1000.0, 1000.0]),
        np.array([1.0, 0.0, 0.0]),
        reduction="sum",
    )
    np.testing.assert_allclose(v, 1000.0)
    np.testing.assert_allclose(g, [0.0, 0.0, 1.0])


def test_losses_against_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    z = RNG.standard_normal((6, 4))
    y = RNG.integers(0, 4, 6)
    p = RNG.uniform(0, 1, (6, 4))
    t = RNG.uniform(0, 1, (6, 4))
    cases = [
        (nn.cross_entropy, tf.cross_entropy, z, y),
        (nn.nll_loss, tf.nll_loss, z, y),
        (nn.mse_loss, tf.mse_loss, z, t),
        (nn.binary_cross_entropy, tf.binary_cross_entropy, p, t),
        (nn.binary_cross_entropy_with_logits, tf.binary_cross_entropy_with_logits, z, t),
    ]
    for ours, theirs, a, b in cases:
        for red in ("mean", "sum", "none"):
            v, g = _grad_of(ours, a, b, reduction=red)
            ta = torch.tensor(a, requires_grad=True)
            tv = theirs(ta, torch.tensor(b), reduction=red)
            tv.backward(torch.ones_like(tv))
            np.testing.assert_allclose(
                v, tv.detach().numpy(), rtol=1e-10, err_msg=f"{ours.__name__} {red}"
            )
            np.testing.assert_allclose(
                g, ta.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=f"{ours.__name__} {red}"
            )


# --- cross-entropy's PyTorch options (values against PyTorch: tests/test_torch_compat.py) -----------


def test_cross_entropy_options_check_grads_and_agree_under_jit():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((5, 4))
    y = np.array([0, 3, -1, 1, -1])
    w = np.array([1.0, 2.0, 0.5, 3.0])

    def f(z, y):
        return nn.cross_entropy(z, y, weight=w, ignore_index=-1, label_smoothing=0.1)

    W.testing.check_grads(lambda z: f(z, y), z, order=2)
    np.testing.assert_allclose(W.jit(f)(z, y), f(z, y).numpy(), rtol=1e-12)
    # the ignored samples change nothing
    z2 = z.copy()
    z2[[2, 4]] = 100.0
    np.testing.assert_allclose(f(z2, y).numpy(), f(z, y).numpy(), rtol=1e-12)
    np.testing.assert_array_equal(W.grad(lambda z: f(z, y))(z)[[2, 4]], 0.0)


def test_cross_entropy_options_bad_input():
    z, y = np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises(ValueError, match=r"cross_entropy: weight must have one entry per class"):
        nn.cross_entropy(z, y, weight=np.ones(2))
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        nn.cross_entropy(z, y, label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        nn.cross_entropy(z, np.array([0, 7]), ignore_index=-1, label_smoothing=0.1)
    assert nn.CrossEntropyLoss("sum").reduction == "sum"  # the old positional reduction still works
