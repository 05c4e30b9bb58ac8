"""wengert against PyTorch: the layers, losses and optimizers that follow PyTorch's definitions,
checked against reference values stored in tests/data/torch_reference.npz (written by
tests/torch_reference.py) and, when PyTorch is installed, against PyTorch itself; PyTorch's names;
state dicts in both directions; optimizers that resume exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch_reference as ref

import wengert as W
from wengert import nn, optim
from wengert.nn import functional as F

REF = dict(np.load(ref.PATH))


def compute() -> dict[str, np.ndarray]:
    """The cases of tests/torch_reference.py, computed by wengert."""
    a = ref.inputs()
    out: dict[str, np.ndarray] = {}

    def value_and_grad(name, fn, *args):
        xs = [W.tensor(v, requires_grad=True) for v in args]
        y = fn(*xs)
        y.backward(W.ones_like(y) if y.ndim else None)
        out[name] = y.numpy()
        for i, x in enumerate(xs):
            out[f"{name}.grad{i}"] = x.grad.numpy()

    value_and_grad("gelu", lambda x, w: F.gelu(x) * w, a["x"], a["w"])
    value_and_grad("gelu_tanh", lambda x, w: F.gelu(x, approximate="tanh") * w, a["x"], a["w"])
    value_and_grad("silu", lambda x, w: F.silu(x) * w, a["x"], a["w"])
    value_and_grad("leaky_relu", lambda x, w: F.leaky_relu(x, 0.1) * w, a["x"], a["w"])
    value_and_grad("embedding", lambda t: F.embedding(a["idx"], t, padding_idx=0) * a["v"], a["table"])
    for red in ("mean", "sum", "none"):
        losses = {
            "cross_entropy": (nn.CrossEntropyLoss(red), lambda z, f: f(z, a["labels"])),
            "nll": (nn.NLLLoss(red), lambda z, f: f(W.log_softmax(z, dim=1), a["labels"])),
            "mse": (nn.MSELoss(red), None),
            "l1": (nn.L1Loss(red), None),
        }
        for opt, kw in ref.CE_OPTIONS.items():
            kw = {k: a[v] if isinstance(v, str) else v for k, v in kw.items()}
            f = nn.CrossEntropyLoss(reduction=red, **kw)
            losses[f"cross_entropy_{opt}"] = (f, lambda z, f: f(z, a["labels_ignored"]))
        losses["nll_weighted"] = (
            nn.NLLLoss(weight=a["class_weight"], reduction=red),
            lambda z, f: f(W.log_softmax(z, dim=1), a["labels_ignored"]),
        )
        for name, (f, call) in losses.items():
            if call is None:
                value_and_grad(f"{name}.{red}", f, a["logits"], a["target"])
            else:
                value_and_grad(f"{name}.{red}", lambda z, f=f, call=call: call(z, f), a["logits"])
    for name, (cls, kw) in ref.OPTIMIZERS.items():
        p = W.tensor(a["p0"], requires_grad=True)
        opt = getattr(optim, cls)([p], **kw)
        for _ in range(ref.STEPS):
            opt.zero_grad()
            loss = (np.arange(1.0, 7.0).reshape(3, 2) * (p - a["goal"]) ** 2).sum()
            (loss + (p**4).sum() / 10).backward()
            opt.step()
        out[f"optim.{name}"] = p.numpy().copy()
    for name, (cls, kw) in ref.SCHEDULERS.items():
        opt = optim.SGD([W.tensor([0.0], requires_grad=True)], lr=0.5)
        sched = getattr(optim.lr_scheduler, cls)(opt, **kw)
        lrs = []
        for _ in range(ref.EPOCHS):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        out[f"sched.{name}"] = np.array(lrs)
    return out


@pytest.fixture(scope="module")
def ours() -> dict[str, np.ndarray]:
    return compute()


CASES = sorted(k for k in REF if not k.startswith("input."))


def test_reference_file_matches_the_inputs():
    for k, v in ref.inputs().items():
        np.testing.assert_array_equal(REF[f"input.{k}"], v)


@pytest.mark.parametrize("key", CASES)
def test_against_stored_pytorch_values(ours, key):
    np.testing.assert_allclose(ours[key], REF[key], rtol=1e-10, atol=1e-12)


def test_against_live_pytorch(ours):
    torch = pytest.importorskip("torch")
    theirs = ref.compute(torch)
    assert set(theirs) == set(ours)
    for k, v in theirs.items():
        np.testing.assert_allclose(ours[k], v, rtol=1e-10, atol=1e-12, err_msg=k)


# --- PyTorch's names -------------------------------------------------------------------------------


def test_dim_and_keepdim_wherever_axis_and_keepdims():
    x = np.arange(24.0).reshape(2, 3, 4)
    t = W.tensor(x)
    for name in ("sum", "mean"):
        np.testing.assert_allclose(
            getattr(t, name)(dim=1, keepdim=True).numpy(), getattr(x, name)(1, keepdims=True)
        )
        np.testing.assert_allclose(getattr(W, name)(t, dim=(0, 2)).numpy(), getattr(x, name)((0, 2)))
    np.testing.assert_allclose(W.logsumexp(t, dim=-1).numpy(), np.log(np.exp(x).sum(-1)))
    np.testing.assert_allclose(t.softmax(dim=0).numpy().sum(0), np.ones((3, 4)))
    np.testing.assert_allclose(
        W.norm(t, dim=2, keepdim=True).numpy(), np.linalg.norm(x, axis=2, keepdims=True)
    )
    assert t.argmax(dim=2, keepdim=True).shape == (2, 3, 1)
    assert W.cat([t, t], dim=1).shape == (2, 6, 4) and W.stack([t, t], dim=3).shape == (2, 3, 4, 2)
    with pytest.raises(TypeError, match="axis= or dim="):
        t.sum(axis=0, dim=1)


def test_max_with_dim_returns_values_and_indices_as_pytorch():
    x = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    values, indices = W.tensor(x).max(dim=1)
    np.testing.assert_array_equal(values.numpy(), [5.0, 7.0])
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    lo = W.min(W.tensor(x), dim=0, keepdim=True)
    assert lo.values.shape == lo.indices.shape == (1, 3)
    np.testing.assert_array_equal(W.tensor(x).max(1).numpy(), [5.0, 7.0])  # numpy's meaning


def test_var_and_std_spelled_as_pytorch_are_unbiased():
    x = np.arange(10.0).reshape(2, 5) ** 2
    t = W.tensor(x)
    np.testing.assert_allclose(t.var(dim=1).numpy(), x.var(1, ddof=1))
    np.testing.assert_allclose(t.std(dim=1, unbiased=False).numpy(), x.std(1))
    np.testing.assert_allclose(t.var(1).numpy(), x.var(1))  # numpy's spelling, numpy's default
    np.testing.assert_allclose(t.std(correction=0).numpy(), x.std())


def test_shape_names():
    t = W.tensor(np.arange(24.0).reshape(2, 3, 4))
    assert t.size == 24 and t.size() == (2, 3, 4) and t.size(1) == 3 and t.numel() == 24
    assert t.view(6, 4).shape == (6, 4) and t.view(-1).shape == (24,)
    assert (
        t.flatten().shape == (24,) and t.flatten(1).shape == (2, 12) and t.flatten(0, 1).shape == (6, 4)
    )
    assert t.permute(2, 0, 1).shape == (4, 2, 3) and W.permute(t, (1, 0, 2)).shape == (3, 2, 4)
    assert t.unsqueeze(1).shape == (2, 1, 3, 4) and t.unsqueeze(dim=-1).shape == (2, 3, 4, 1)
    assert t.unsqueeze(0).squeeze(dim=0).shape == (2, 3, 4)
    assert t.swapaxes(0, 2).shape == (4, 3, 2)
    m = W.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(m.t().numpy(), np.arange(6.0).reshape(2, 3).T)
    assert W.tensor([3.5]).item() == 3.5 and m.dim() == 2
    with pytest.raises(ValueError, match="permutation"):
        t.permute(0, 1)
    with pytest.raises(ValueError, match="at most 2"):
        t.t()


def test_clone_copies_and_is_differentiable():
    x = W.tensor([1.0, 2.0], requires_grad=True)
    y = x.clone()
    assert not np.shares_memory(y.numpy(), x.numpy())
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    assert W.grad(lambda v: (W.clone(v) ** 3).sum())(np.array([2.0])) == pytest.approx(12.0)


def test_from_numpy_shares_memory_both_ways():
    a = np.zeros(3, dtype=np.float32)
    t = W.from_numpy(a)
    a[0] = 5.0
    assert t[0].item() == 5.0
    t += 1.0
    np.testing.assert_array_equal(a, [6.0, 1.0, 1.0])
    with pytest.raises(TypeError, match="numpy array"):
        W.from_numpy([1.0, 2.0])


def test_manual_seed_makes_draws_reproducible():
    def draws():
        W.manual_seed(3)
        return (
            W.randn(3).numpy(),
            nn.Linear(2, 2).weight.numpy().copy(),
            nn.Dropout(0.5)(W.ones(8)).numpy(),
        )

    first, second = draws(), draws()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    W.manual_seed(4)
    assert not np.array_equal(W.randn(3).numpy(), first[0])


# --- nn ------------------------------------------------------------------------------------------


def test_activation_layers_match_the_functional_forms():
    x = W.tensor(np.linspace(-3, 3, 7))
    np.testing.assert_allclose(nn.GELU()(x).numpy(), F.gelu(x).numpy())
    np.testing.assert_allclose(nn.GELU("tanh")(x).numpy(), F.gelu(x, approximate="tanh").numpy())
    np.testing.assert_allclose(nn.SiLU()(x).numpy(), x.numpy() / (1 + np.exp(-x.numpy())))
    np.testing.assert_allclose(
        nn.LeakyReLU(0.2)(x).numpy(), np.where(x.numpy() > 0, x.numpy(), 0.2 * x.numpy())
    )
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("erf")


def test_embedding_layer_and_errors():
    e = nn.Embedding(10, 4, padding_idx=2, seed=0)
    assert e.weight.shape == (10, 4) and np.all(e.weight.numpy()[2] == 0)
    out = e(np.array([[1, 2], [2, 9]]))
    assert out.shape == (2, 2, 4)
    out.sum().backward()
    np.testing.assert_array_equal(e.weight.grad.numpy()[[1, 2, 9, 0]].sum(1), [4.0, 0.0, 4.0, 0.0])
    with pytest.raises(IndexError, match=r"indices must be in \[0, 10\)"):
        e(np.array([10]))
    with pytest.raises(TypeError, match="integers"):
        e(np.array([1.0]))


def test_flatten_layer_dims():
    x = np.zeros((2, 3, 4, 5))
    assert nn.Flatten()(x).shape == (2, 60) and nn.Flatten(0, 2)(x).shape == (24, 5)


def test_module_list_and_dict_register_their_modules():
    ml = nn.ModuleList([nn.Linear(2, 3), nn.ReLU()])
    ml.append(nn.Linear(3, 1))
    assert len(ml) == 3 and isinstance(ml[1], nn.ReLU) and len(ml[:2]) == 2
    assert list(ml.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    ml.insert(0, nn.Identity())
    assert list(ml.state_dict()) == ["1.weight", "1.bias", "3.weight", "3.bias"]
    del ml[0]
    assert [type(m).__name__ for m in ml] == ["Linear", "ReLU", "Linear"]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])
            self.heads = nn.ModuleDict({"a": nn.Linear(4, 1), "b": nn.Linear(4, 2)})

    net = Net()
    assert list(net.state_dict()) == [
        "blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias",
        "heads.a.weight", "heads.a.bias", "heads.b.weight", "heads.b.bias",
    ]  # fmt: skip
    assert "a" in net.heads and list(net.heads) == ["a", "b"] and net.heads["b"].out_features == 2
    net.eval()
    assert not net.blocks[0].training


def test_layers_in_a_plain_list_warn():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Linear(2, 2), nn.Linear(2, 2)]

    with pytest.warns(UserWarning, match=r"Net\.layers is a plain list .* use nn\.ModuleList"):
        net = Net()
    assert list(net.parameters()) == []


def test_buffers_are_in_the_state_dict():
    class Norm(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(np.ones(3))
            self.register_buffer("running_mean", np.zeros(3, np.float32))
            self.register_buffer("scratch", np.zeros(1), persistent=False)

    m = Norm()
    assert list(m.state_dict()) == ["scale", "running_mean"]
    m.running_mean = W.full((3,), 2.0)  # a tensor assigned to a buffer keeps it registered
    assert "running_mean" in dict(m.named_buffers())
    m2 = Norm()
    m2.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(m2.running_mean.numpy(), [2.0, 2.0, 2.0])


def _net():
    return nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 3))


def test_state_dict_moves_between_wengert_and_pytorch():
    torch = pytest.importorskip("torch")
    ours = _net()
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 3)).double()
    sd = ours.state_dict()
    assert list(sd) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().astype(np.float64)) for k, v in sd.items()})
    x = np.random.default_rng(0).normal(size=(5, 4))
    np.testing.assert_allclose(
        ours(x.astype(np.float32)).numpy(),
        theirs(torch.from_numpy(x)).detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    with torch.no_grad():
        for p in theirs.parameters():
            p.mul_(0.5)
    back = _net()
    back.load_state_dict(theirs.state_dict())  # PyTorch tensors load directly
    np.testing.assert_allclose(back[0].weight.numpy(), 0.5 * ours[0].weight.numpy(), rtol=1e-6)


# --- optimizers ----------------------------------------------------------------------------------


def test_schedulers_live_in_lr_scheduler_and_old_names_still_import():
    from wengert.optim import StepLR
    from wengert.optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, LambdaLR, MultiStepLR
    from wengert.optim.lr_scheduler import StepLR as S

    assert StepLR is S and optim.CosineAnnealingLR is CosineAnnealingLR
    p = W.tensor([1.0], requires_grad=True)

    def lrs(cls, **kw):
        opt = optim.SGD([p], lr=1.0)
        s = cls(opt, **kw)
        out = []
        for _ in range(5):
            out.append(opt.param_groups[0]["lr"])
            s.step()
        return out

    np.testing.assert_allclose(lrs(ExponentialLR, gamma=0.5), [1, 0.5, 0.25, 0.125, 0.0625])
    np.testing.assert_allclose(lrs(MultiStepLR, milestones=[1, 3], gamma=0.1), [1, 0.1, 0.1, 0.01, 0.01])
    np.testing.assert_allclose(
        lrs(LambdaLR, lr_lambda=lambda e: 1 / (e + 1)), [1, 1 / 2, 1 / 3, 1 / 4, 1 / 5]
    )


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_training_resumes_bit_identically_from_saved_state(tmp_path, name):
    kw = {
        "SGD": {"lr": 0.1, "momentum": 0.9, "nesterov": True},
        "Adam": {"lr": 0.01},
        "AdamW": {"lr": 0.01},
        "RMSprop": {"lr": 0.01, "momentum": 0.5, "centered": True},
        "Adagrad": {"lr": 0.1, "lr_decay": 0.01},
    }[name]
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype(np.float32), rng.integers(0, 3, 32)

    def setup():
        W.manual_seed(0)
        model = _net()
        opt = getattr(optim, name)(model.parameters(), **kw)
        return model, opt, optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    def train(model, opt, sched, steps):
        for _ in range(steps):
            opt.zero_grad()
            nn.CrossEntropyLoss()(model(x), y).backward()
            opt.step()
            sched.step()

    model, opt, sched = setup()
    train(model, opt, sched, 3)
    W.save(
        {"model": model.state_dict(), "optim": opt.state_dict(), "sched": sched.state_dict()},
        tmp_path / "c",
    )
    train(model, opt, sched, 4)

    model2, opt2, sched2 = setup()
    state = W.load(tmp_path / "c")
    model2.load_state_dict(state["model"])
    opt2.load_state_dict(state["optim"])
    sched2.load_state_dict(state["sched"])
    train(model2, opt2, sched2, 4)
    for (k, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


def test_new_primitives_in_programs():
    """gelu, silu, leaky_relu and copy have code templates: emitted source and jit equal eager."""

    def f(x):
        return W.gelu(x) + W.silu(x) * W.leaky_relu(x, 0.1) - W.clone(x) ** 2

    x = np.linspace(-2.0, 2.0, 7)
    namespace: dict = {}
    exec(str(W.source(f)(x)), namespace)
    np.testing.assert_allclose(namespace["f"](x), f(x), rtol=1e-12)
    np.testing.assert_allclose(W.jit(f)(x), f(x), rtol=1e-12)
    g = W.grad(lambda x: W.sum(f(x)))
    np.testing.assert_allclose(W.jit(g)(x), g(x), rtol=1e-12)
