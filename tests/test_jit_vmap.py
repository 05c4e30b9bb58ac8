"""jit and vmap composed both ways: jit(vmap(f)), vmap(jit(f)) and jitted per-example gradients, each
against a Python loop over the examples."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as W

vmap = getattr(W, "vmap", None)
pytestmark = pytest.mark.skipif(vmap is None, reason="this build has no wengert.vmap")

RNG = np.random.default_rng(0)
XS = RNG.standard_normal((5, 3))


def f(v):
    return W.sum(W.tanh(v) ** 2) + W.max(v)


def loss(params, x, y):
    w, b = params
    return W.cross_entropy(W.reshape(w @ x + b, (1, -1)), W.reshape(y, (1,)))


def test_jit_of_vmap_equals_a_loop():
    jf = W.jit(vmap(f))
    want = np.array([f(x) for x in XS])
    np.testing.assert_allclose(jf(XS), want, rtol=1e-12)
    np.testing.assert_allclose(jf(XS + 1), [f(x) for x in XS + 1], rtol=1e-12)
    assert jf.cache_info().misses == 1 and jf.cache_info().hits == 1


def test_vmap_of_jit_equals_a_loop():
    np.testing.assert_allclose(vmap(W.jit(f))(XS), [f(x) for x in XS], rtol=1e-12)


def test_jit_of_vmap_of_grad_and_of_a_branch_free_where():
    g = W.jit(vmap(W.grad(f)))
    np.testing.assert_allclose(g(XS), [W.grad(f)(x) for x in XS], rtol=1e-12)
    h = W.jit(vmap(lambda v: W.where(v > 0, W.sqrt(W.abs(v)), 0.0)))
    np.testing.assert_allclose(h(XS), np.where(XS > 0, np.sqrt(np.abs(XS)), 0.0))


def test_jitted_per_example_gradients_equal_a_loop():
    params = (RNG.standard_normal((4, 3)), np.zeros(4))
    ys = RNG.integers(0, 4, 5)
    per_example = W.jit(vmap(W.grad(loss), in_axes=(None, 0, 0)))
    gw, gb = per_example(params, XS, ys)
    for i in range(5):
        w_i, b_i = W.grad(loss)(params, XS[i], ys[i])
        np.testing.assert_allclose(gw[i], w_i, rtol=1e-10)
        np.testing.assert_allclose(gb[i], b_i, rtol=1e-10)
    # one program for the whole batch: its length does not grow with the number of examples
    big = RNG.standard_normal((50, 3)), RNG.integers(0, 4, 50)
    n5 = len(per_example.lower(params, XS, ys).equations)
    assert len(per_example.lower(params, *big).equations) == n5
