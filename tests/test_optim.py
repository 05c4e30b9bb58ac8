"""Tests for wengert.optim: each update rule computed by hand in numpy, schedules, state dicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

import wengert as W
from wengert import nn, optim

RNG = np.random.default_rng(0)


def make(shape=(3, 2), dtype=np.float64):
    """A parameter and a function giving it the gradient g (as backward would)."""
    p = nn.Parameter(RNG.standard_normal(shape), dtype=dtype)

    def set_grad(g):
        p.grad = g

    return p, set_grad


def run(opt_cls, grads, **kw):
    """Apply `grads` in turn with a fresh optimizer; return the parameter's start and end values."""
    p, set_grad = make()
    start = p.numpy().copy()
    opt = opt_cls([p], **kw)
    for g in grads:
        set_grad(g)
        opt.step()
    return start, p.numpy().copy()


GRADS = [RNG.standard_normal((3, 2)) for _ in range(3)]


def test_sgd_plain():
    start, end = run(optim.SGD, GRADS[:1], lr=0.1)
    np.testing.assert_allclose(end, start - 0.1 * GRADS[0])


def test_sgd_momentum_and_weight_decay_by_hand():
    lr, mu, wd, damp = 0.1, 0.9, 0.01, 0.2
    start, end = run(optim.SGD, GRADS, lr=lr, momentum=mu, weight_decay=wd, dampening=damp)
    p, buf = start.copy(), None
    for g in GRADS:
        g = g + wd * p
        buf = g.copy() if buf is None else mu * buf + (1 - damp) * g
        p = p - lr * buf
    np.testing.assert_allclose(end, p, rtol=1e-12)


def test_sgd_nesterov_by_hand():
    lr, mu = 0.05, 0.8
    start, end = run(optim.SGD, GRADS, lr=lr, momentum=mu, nesterov=True)
    p, buf = start.copy(), None
    for g in GRADS:
        buf = g.copy() if buf is None else mu * buf + g
        p = p - lr * (g + mu * buf)
    np.testing.assert_allclose(end, p, rtol=1e-12)


def adam_by_hand(start, grads, lr, b1, b2, eps, wd, decoupled):
    p, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t, g in enumerate(grads, 1):
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat, vhat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * mhat / (np.sqrt(vhat) + eps)
    return p


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_by_hand(wd):
    kw = dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=wd)
    start, end = run(optim.Adam, GRADS, **kw)
    want = adam_by_hand(start, GRADS, 0.01, 0.8, 0.95, 1e-6, wd, decoupled=False)
    np.testing.assert_allclose(end, want, rtol=1e-10)


def test_adam_first_step_is_lr_times_sign():
    # bias correction makes the first step lr * g / (|g| + eps'): about lr in each coordinate
    start, end = run(optim.Adam, GRADS[:1], lr=0.01)
    np.testing.assert_allclose(start - end, 0.01 * np.sign(GRADS[0]), rtol=1e-5)


def test_adamw_by_hand():
    start, end = run(optim.AdamW, GRADS, lr=0.01, weight_decay=0.5)
    want = adam_by_hand(start, GRADS, 0.01, 0.9, 0.999, 1e-8, 0.5, decoupled=True)
    np.testing.assert_allclose(end, want, rtol=1e-10)
    assert optim.AdamW([make()[0]]).param_groups[0]["weight_decay"] == 1e-2


def test_float32_parameters_stay_float32():
    for cls, kw in [(optim.SGD, dict(lr=0.1, momentum=0.9)), (optim.Adam, {})]:
        p = nn.Parameter(np.ones(3))
        opt = cls([p], **kw)
        for _ in range(2):
            p.grad = np.ones(3, np.float32)
            opt.step()
        assert p.dtype == np.float32


def test_parameters_without_gradients_are_skipped():
    (a, ga), (b, _) = make(), make()
    before = b.numpy().copy()
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    ga(np.ones((3, 2)))
    opt.step()
    np.testing.assert_array_equal(b.numpy(), before)
    assert opt.state_dict()["state"].keys() == {"0"}


def test_shared_gradient_arrays_are_not_modified():
    # y = a + b gives a and b the same gradient array: an optimizer must only read it
    a, b = nn.Parameter(np.zeros(3)), nn.Parameter(np.zeros(3))
    (a + b).sum().backward()
    opt = optim.SGD([a, b], lr=1.0, momentum=0.5, weight_decay=0.1)
    opt.step()
    opt.step()
    np.testing.assert_array_equal(a.grad.numpy(), np.ones(3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_zero_grad():
    p, g = make()
    g(np.ones((3, 2)))
    opt = optim.Adam([p])
    opt.zero_grad()
    assert p.grad is None


def test_param_groups():
    (a, ga), (b, gb) = make(), make()
    a0, b0 = a.numpy().copy(), b.numpy().copy()
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    ga(np.ones((3, 2)))
    gb(np.ones((3, 2)))
    opt.step()
    np.testing.assert_allclose(a.numpy(), a0 - 0.1)
    np.testing.assert_allclose(b.numpy(), b0 - 1.0)
    with pytest.raises(ValueError, match="unknown group options"):
        optim.SGD([{"params": [a], "betas": (0.9, 0.9)}], lr=0.1)


def test_errors():
    p, _ = make()
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="invalid learning rate"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(TypeError, match="leaf tensors with requires_grad=True"):
        optim.SGD([W.tensor([1.0])], lr=0.1)
    with pytest.raises(TypeError, match="leaf tensors"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="appears twice"):
        optim.SGD([p, p], lr=0.1)


@pytest.mark.parametrize(
    ("cls", "kw"),
    [(optim.SGD, dict(lr=0.1, momentum=0.9)), (optim.Adam, dict(lr=0.01)), (optim.AdamW, dict(lr=0.01))],
)
def test_state_dict_resume_equals_uninterrupted(cls, kw, tmp_path):
    p1, g1 = make()
    p2 = nn.Parameter(p1.numpy(), dtype=np.float64)
    o1 = cls([p1], **kw)
    for g in GRADS[:2]:
        g1(g)
        o1.step()
    # save everything through wengert.save (no pickle), resume in a fresh optimizer
    path = tmp_path / "opt.wgt"
    W.save({"opt": o1.state_dict(), "p": p1.numpy()}, path)
    saved = W.load(path)
    p2.numpy()[...] = saved["p"]
    o2 = cls([p2], **kw)
    o2.load_state_dict(saved["opt"])
    for o, p in ((o1, p1), (o2, p2)):
        p.grad = GRADS[2]
        o.step()
    np.testing.assert_array_equal(p1.numpy(), p2.numpy())


def test_load_state_dict_checks_structure():
    (a, _), (b, _) = make(), make((4,))
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    a.grad = np.ones((3, 2))
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="group 0 has 1 parameters in the saved state and 2 here"):
        optim.SGD([a, b], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="shape"):
        optim.SGD([b], lr=0.1).load_state_dict(sd)
    fresh = optim.SGD([a], lr=0.5, momentum=0.9)
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["lr"] == 0.1


def test_optimizer_trains_a_model():
    x = RNG.standard_normal((64, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)  # XOR-like quadrants
    model = nn.MLP([2, 16, 2], "tanh", seed=0)
    opt = optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(150):
        loss = nn.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


# --- schedules -----------------------------------------------------------------------------------


def lrs(sched_cls, n, lr=1.0, **kw):
    opt = optim.SGD([make()[0]], lr=lr)
    s = sched_cls(opt, **kw)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(n):
        opt.step()
        s.step()
        out.append(opt.param_groups[0]["lr"])
    assert s.get_last_lr() == [out[-1]]
    return out


def test_step_lr():
    got = lrs(optim.StepLR, 7, lr=0.5, step_size=3, gamma=0.1)
    np.testing.assert_allclose(got, [0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.005, 0.005])


def test_cosine_annealing_lr():
    got = lrs(optim.CosineAnnealingLR, 12, lr=0.1, T_max=10, eta_min=0.01)
    want = [0.01 + 0.09 * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(13)]
    np.testing.assert_allclose(got, want)
    assert got[10] == pytest.approx(0.01)


def test_schedule_errors_and_state():
    opt = optim.SGD([make()[0]], lr=1.0)
    with pytest.raises(ValueError, match="step_size"):
        optim.StepLR(opt, 0)
    with pytest.raises(ValueError, match="T_max"):
        optim.CosineAnnealingLR(opt, 0)
    s = optim.CosineAnnealingLR(opt, 10)
    s.step()
    s.step()
    s2 = optim.CosineAnnealingLR(optim.SGD([make()[0]], lr=1.0), 10)
    s2.load_state_dict(s.state_dict())
    s.step()
    s2.step()
    assert s.get_last_lr() == s2.get_last_lr()


def test_against_torch():
    torch = pytest.importorskip("torch")
    cases = [
        (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)),
        (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3)),
        (optim.Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.1)),
        (optim.AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    ]
    for ours, theirs, kw in cases:
        start, end = run(ours, GRADS, **kw)
        tp = torch.tensor(start, requires_grad=True)
        topt = theirs([tp], **kw)
        for g in GRADS:
            tp.grad = torch.tensor(g)
            topt.step()
        np.testing.assert_allclose(end, tp.detach().numpy(), rtol=1e-10, err_msg=ours.__name__)
    for ours, theirs, kw in [
        (optim.StepLR, torch.optim.lr_scheduler.StepLR, dict(step_size=3, gamma=0.5)),
        (
            optim.CosineAnnealingLR,
            torch.optim.lr_scheduler.CosineAnnealingLR,
            dict(T_max=7, eta_min=0.01),
        ),
    ]:
        topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
        ts = theirs(topt, **kw)
        want = [topt.param_groups[0]["lr"]]
        for _ in range(20):
            topt.step()
            ts.step()
            want.append(topt.param_groups[0]["lr"])
        np.testing.assert_allclose(
            lrs(ours, 20, lr=0.3, **kw), want, rtol=1e-10, atol=1e-15, err_msg=ours.__name__
        )
