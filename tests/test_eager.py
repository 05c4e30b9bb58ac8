"""The eager tape's fast path (core/eager.py) against the general dispatch: the same bits; a backward
inside a transform is recorded by it; the Python work per training step stays small."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest

import wengert as W
from wengert.core import trace
from wengert.testing import check_grads


def _problem(seed=0, sizes=(6, 5, 3), batch=4, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch)
    params = []
    for a, b in itertools.pairwise(sizes):
        params += [rng.standard_normal((b, a)).astype(dtype), rng.standard_normal(b).astype(dtype)]
    return x, y, params


def _loss(x, y, ps):
    h = W.tanh(W.linear(x, ps[0], ps[1]))
    h = W.relu(h @ W.transpose(ps[2]) + ps[3]) * 0.5 + W.sigmoid(h)[:, :3]
    z = h - W.mean(h, axis=-1, keepdims=True)
    return W.cross_entropy(z, y) + W.sum(W.log_softmax(z) ** 2) / 10 + W.max(z) * W.logsumexp(z)


def _eager_grads(x, y, params):
    ps = [W.tensor(p, requires_grad=True) for p in params]
    loss = _loss(W.as_tensor(x), y, ps)
    loss.backward()
    return loss.numpy(), [p.grad.numpy() for p in ps]


def _assert_bitwise(a, b):
    for u, v in zip(a, b):
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_path_and_general_dispatch_give_the_same_bits(monkeypatch, dtype):
    x, y, params = _problem(dtype=dtype)
    fast_loss, fast = _eager_grads(x, y, params)
    # the general path: every call goes through the level search of trace.dispatch
    monkeypatch.setattr(trace, "eager", None)
    general_loss, general = _eager_grads(x, y, params)
    np.testing.assert_array_equal(fast_loss, general_loss)
    _assert_bitwise(fast, general)


def test_eager_tape_inside_an_open_transform_gives_the_same_bits():
    # While a transform is open on the thread, eager operations take the general dispatch.
    x, y, params = _problem()
    ref_loss, ref = _eager_grads(x, y, params)
    inside = {}

    def f(s):
        inside["loss"], inside["grads"] = _eager_grads(x, y, params)
        return s * s

    W.grad(f)(1.0)
    np.testing.assert_array_equal(ref_loss, inside["loss"])
    _assert_bitwise(ref, inside["grads"])


def test_tensor_api_and_value_and_grad_give_the_same_bits():
    x, y, params = _problem(dtype=np.float64)
    loss, grads = _eager_grads(x, y, params)
    value, g = W.value_and_grad(lambda ps: _loss(x, y, ps))(params)
    np.testing.assert_array_equal(loss, value)
    _assert_bitwise(grads, g)


@pytest.mark.parametrize("batch", [4, 1])  # 1: the weight gradients are products over one term
def test_rules_on_arrays_and_rules_on_boxes_give_the_same_bits(batch):
    # grad(f)(p) runs the rules on plain arrays; as the primal output of a jvp of grad(f) the same
    # rules run on boxes of the forward trace (the general path, recorded for the next order).
    x, y, params = _problem(dtype=np.float64, batch=batch)
    f = lambda w0: _loss(x, y, [w0, *params[1:]])
    on_arrays = W.grad(f)(params[0])
    on_boxes, _tangent = W.jvp(W.grad(f), (params[0],), (np.ones_like(params[0]),))
    np.testing.assert_array_equal(on_arrays, on_boxes)


def test_backward_inside_a_transform_is_recorded():
    def cube_grad(s):
        t = W.tensor(2.0, requires_grad=True)
        (t * t * t).backward(gradient=s)
        return t.grad  # 3 t^2 s, a function of s the transform can differentiate

    assert float(W.grad(cube_grad)(1.0)) == pytest.approx(12.0)
    assert float(W.grad(W.grad(lambda s: cube_grad(s) * s))(1.0)) == pytest.approx(24.0)


def test_backward_inside_a_transform_through_an_mlp():
    # d/ds of sum(w.grad) where w.grad comes from loss.backward(gradient=s): the same as the gradient
    # itself at s = 1, summed.
    x, y, params = _problem(dtype=np.float64)

    def summed_grad(s):
        ps = [W.tensor(p, requires_grad=True) for p in params]
        _loss(W.as_tensor(x), y, ps).backward(gradient=s)
        return W.sum(ps[0].grad)

    _, grads = _eager_grads(x, y, params)
    d = W.grad(summed_grad)(np.float64(1.0))
    np.testing.assert_allclose(d, grads[0].sum(), rtol=1e-12)
    # and against finite differences, in both modes
    check_grads(summed_grad, np.float64(0.7), order=1)


def test_backward_with_a_plain_gradient_inside_a_transform_is_a_constant():
    seen = {}

    def f(s):
        t = W.tensor(3.0, requires_grad=True)
        (t * t).backward(gradient=2.0)
        seen["grad"] = t.grad
        return s * s

    W.grad(f)(1.0)
    assert type(seen["grad"]) is W.Tensor and not seen["grad"].requires_grad
    assert float(seen["grad"]) == 12.0


def _python_calls(fn) -> int:
    calls = 0

    def prof(frame, event, arg):
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return calls


def test_python_calls_per_training_step_stay_small():
    """A 2-layer MLP step (forward, cross-entropy, backward, SGD) costs about 180 Python calls,
    numpy's own included; the bound is loose, but the general dispatch on every operation (or a
    rule that stops skipping no-op reshapes) would cross it."""
    x, y, params = _problem(sizes=(4, 4, 2), batch=1)
    ps = [W.tensor(p, requires_grad=True) for p in params]
    xt = W.as_tensor(x)

    def step():
        for p in ps:
            p.grad = None
        h = W.relu(W.linear(xt, ps[0], ps[1]))
        W.cross_entropy(W.linear(h, ps[2], ps[3]), y).backward()
        with W.no_grad():
            for p in ps:
                v = p.numpy()
                v -= 0.1 * p.grad.numpy()

    step()
    assert _python_calls(step) < 250


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_reuses_its_saved_softmax_and_leaves_it_intact(reduction):
    # The eager tape saves the forward pass's softmax for the backward (the primitive's `residual`):
    # the same bits as recomputing it (inside grad of a jvp, nothing is saved), and a second backward
    # through the retained graph reads it unchanged.
    x, y, params = _problem(dtype=np.float64)
    z = W.tensor(x @ params[0].T, requires_grad=True)
    loss = W.cross_entropy(z, y, reduction=reduction)
    if reduction == "none":
        loss = W.sum(loss * np.arange(1.0, 5.0))
    nodes, ce = [loss._node], None
    while nodes and ce is None:
        n = nodes.pop()
        ce = n if n.name == "cross_entropy" else None
        nodes += n.parents
    assert ce is not None and ce.res.shape == z.shape  # the softmax, saved
    loss.backward(retain_graph=True)
    first = z.grad.numpy().copy()
    loss.backward()
    np.testing.assert_array_equal(z.grad.numpy(), 2 * first)

    def f(a):
        out = W.cross_entropy(a, y, reduction=reduction)
        return W.sum(out * np.arange(1.0, 5.0)) if reduction == "none" else out

    recomputed, _ = W.jvp(W.grad(f), (z.numpy(),), (np.ones_like(z.numpy()),))
    np.testing.assert_array_equal(first, recomputed)
