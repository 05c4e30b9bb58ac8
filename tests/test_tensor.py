"""The Tensor API: construction, dtypes, eager backward, no_grad, errors, stability and conventions."""

import gc
import weakref

import numpy as np
import pytest

import wengert as W


def test_defaults_follow_pytorch():
    assert W.tensor([1.0, 2.0]).dtype == np.float32
    assert W.tensor(np.array([1.0, 2.0])).dtype == np.float64  # numpy arrays keep their dtype
    assert W.tensor([1, 2]).dtype == np.int64
    t = W.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.shape == (2, 2) and t.ndim == 2 and t.size == 4
    assert np.asarray(t).tolist() == [[1, 2], [3, 4]]
    assert W.tensor(3.5).item() == 3.5
    assert "requires_grad=True" in repr(W.tensor([1.0], requires_grad=True))
    assert repr(W.tensor([1.0, 2.0])) == "tensor([1., 2.])"


def test_helpers():
    assert W.zeros(2, 3).shape == (2, 3) and W.ones((2,)).numpy().tolist() == [1, 1]
    assert W.full((2,), 7.0).numpy().tolist() == [7, 7]
    assert W.arange(3).numpy().tolist() == [0, 1, 2]
    assert W.randn(3, 4, seed=0).shape == (3, 4)
    assert W.randn(2, seed=1).numpy().tolist() == W.randn(2, seed=1).numpy().tolist()


def test_backward_accumulates_and_resets():
    x = W.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    (x * x).sum().backward()
    assert np.allclose(x.grad.numpy(), 4 * np.array([1, 2, 3]))
    x.grad = None
    (3 * x).sum().backward()
    assert np.allclose(x.grad.numpy(), 3)


def test_fan_out_and_reuse():
    x = W.tensor(2.0, requires_grad=True)
    y = x * x * x + x
    y.backward()
    assert x.grad.item() == pytest.approx(13.0)


def test_numpy_operands_on_either_side():
    x = W.tensor(np.array([1.0, 2.0]), requires_grad=True)
    a = np.array([3.0, 4.0])
    y = (a * x + x / a - a - x**2 + 2.0**x).sum()
    y.backward()
    expect = a + 1 / a - 2 * np.array([1.0, 2.0]) + np.log(2) * 2.0 ** np.array([1.0, 2.0])
    assert np.allclose(x.grad.numpy(), expect)
    z = np.exp(x)  # numpy ufuncs dispatch to wengert
    assert isinstance(z, W.Tensor) and z.requires_grad
    assert isinstance(np.sum(x), W.Tensor)


def test_float32_is_kept():
    x = W.tensor(np.ones((3, 4), np.float32), requires_grad=True)
    y = (W.tanh(x * 2.0 + 1) @ np.ones((4, 2), np.float32)).mean()
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32
    assert W.grad(lambda v: W.sum(v * 0.5))(np.ones(3, np.float32)).dtype == np.float32


def test_backward_non_scalar_needs_gradient():
    x = W.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"gradient.*ones_like|sum\(\)"):
        (x * 2).backward()
    (x * 2).backward(gradient=np.array([1.0, 10.0]))
    assert x.grad.numpy().tolist() == [2.0, 20.0]
    with pytest.raises(ValueError, match="shape"):
        (x * 2).backward(gradient=np.ones(3))


def test_backward_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        W.tensor([1.0]).sum().backward()


def test_graph_is_freed_and_second_backward_raises():
    x = W.tensor([1.0, 2.0], requires_grad=True)
    h = W.exp(x)
    y = W.sin(h).sum()
    saved = weakref.ref(h.numpy())  # sin's node keeps h's values for its rule
    del h
    gc.collect()
    assert saved() is not None
    y.backward()
    gc.collect()
    assert saved() is None  # released by the sweep
    with pytest.raises(W.FreedGraphError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = W.tensor([1.0, 2.0], requires_grad=True)
    y = (W.exp(x)).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert np.allclose(x.grad.numpy(), 2 * np.exp([1.0, 2.0]))


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="float"):
        W.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="float"):
        W.grad(lambda x: x * x)(3)


def test_no_grad_and_detach():
    x = W.tensor([1.0], requires_grad=True)
    with W.no_grad():
        y = x * 2
        assert not y.requires_grad
        with W.enable_grad():
            assert (x * 2).requires_grad
    assert not x.detach().requires_grad
    assert (x * 2).requires_grad

    @W.no_grad()
    def f(v):
        return v * 3

    assert not f(x).requires_grad


def test_setitem_on_tracked_tensor_is_refused():
    x = W.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="where"):
        y[0] = 5.0
    c = W.tensor([1.0, 2.0])
    c[0] = 5.0
    assert c.numpy().tolist() == [5.0, 2.0]


def test_errors_name_op_and_shapes():
    with pytest.raises(ValueError, match=r"add.*\(3,\).*\(4,\)"):
        W.tensor(np.ones(3), requires_grad=True) + np.ones(4)
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(2, 3\)"):
        W.tensor(np.ones((2, 3))) @ np.ones((2, 3))


@pytest.mark.parametrize("v", [1000.0, -1000.0])
def test_stable_at_large_inputs(v):
    x = np.array([v, 0.0, -v / 2])
    for f in (
        lambda x: W.sum(W.softmax(x) * np.arange(3.0)),
        lambda x: W.sum(W.log_softmax(x)),
        lambda x: W.logsumexp(x),
        lambda x: W.sum(W.sigmoid(x)),
        lambda x: W.sum(W.softplus(x)),
        lambda x: W.cross_entropy(W.reshape(x, (1, 3)), np.array([1])),
    ):
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            val, g = W.value_and_grad(f)(x)
        assert np.isfinite(val) and np.all(np.isfinite(g))


def test_logsumexp_of_minus_infinity():
    x = np.array([-np.inf, -np.inf])
    val, g = W.value_and_grad(W.logsumexp)(x)
    assert val == -np.inf and np.all(g == 0)
    val, g = W.value_and_grad(W.logsumexp)(np.array([-np.inf, 0.0]))
    assert val == 0 and g.tolist() == [0.0, 1.0]


def test_guarded_rules_behind_where():
    x = np.array([0.0, 4.0])
    g = W.grad(lambda x: W.sum(W.where(x > 0, W.sqrt(x), 0.0)))(x)
    assert g.tolist() == [0.0, 0.25]
    g = W.grad(lambda x: W.sum(W.where(x > 0, W.log(x), 0.0)))(x)
    assert g.tolist() == [0.0, 0.25]
    assert W.grad(lambda x: W.norm(x))(np.zeros(3)).tolist() == [0, 0, 0]


def test_conventions_at_kinks():
    assert W.grad(W.relu)(0.0) == 0.0
    assert W.grad(W.abs)(0.0) == 0.0
    assert W.grad(lambda x: W.max(x))(np.array([1.0, 3.0, 3.0])).tolist() == [0, 0.5, 0.5]
    assert W.grad(lambda x: W.min(x))(np.array([2.0, 2.0])).tolist() == [0.5, 0.5]
    assert W.grad(lambda x: W.maximum(x, 1.0))(1.0) == 0.5
    assert W.grad(lambda x: W.clip(x, 0.0, 1.0))(1.0) == 1.0


def test_repeated_indices_accumulate():
    x = W.tensor(np.zeros(3), requires_grad=True)
    x[np.array([0, 0, 2, 0])].sum().backward()
    assert x.grad.numpy().tolist() == [3.0, 0.0, 1.0]


def test_indexing_forms():
    a = np.arange(12.0).reshape(3, 4)
    t = W.tensor(a)
    assert np.array_equal(t[1].numpy(), a[1])
    assert np.array_equal(t[:, 1:3].numpy(), a[:, 1:3])
    assert np.array_equal(t[[0, 2]].numpy(), a[[0, 2]])
    assert np.array_equal(t[a > 5].numpy(), a[a > 5])
    assert np.array_equal(t[t > 5].numpy(), a[a > 5])


def test_methods_match_functions():
    a = np.random.default_rng(0).standard_normal((3, 4))
    t = W.tensor(a)
    assert np.allclose(t.T.numpy(), a.T)
    assert np.allclose(t.reshape(4, 3).numpy(), a.reshape(4, 3))
    assert np.allclose(t.mean(axis=0).numpy(), a.mean(0))
    assert np.allclose(t.std(axis=1).numpy(), a.std(1))
    assert np.allclose(t.var().numpy(), a.var())
    assert np.allclose(t.softmax().numpy().sum(-1), 1)
    assert np.allclose(t.max(axis=1).numpy(), a.max(1))
    assert t.argmax(axis=1).numpy().tolist() == a.argmax(1).tolist()
    assert np.allclose((t @ t.T).numpy(), a @ a.T)


def test_batched_and_vector_matmul():
    rng = np.random.default_rng(0)
    for xs, ys in [((3,), (3, 4)), ((2, 3), (3,)), ((5, 2, 3), (5, 3, 4)), ((3,), (3,))]:
        x = W.tensor(rng.standard_normal(xs), requires_grad=True)
        y = W.tensor(rng.standard_normal(ys), requires_grad=True)
        out = x @ y
        assert out.shape == np.matmul(np.ones(xs), np.ones(ys)).shape
        out.sum().backward()
        assert x.grad.shape == xs and y.grad.shape == ys
