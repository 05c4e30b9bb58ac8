"""vmap: every primitive of the table against a Python loop, nesting, compositions with the
derivative transforms, per-example gradients, and errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import STRATEGIES

import wengert as W
from wengert.core import primitives as P
from wengert.core.primitive import Elementwise, NonDiff, Structural
from wengert.testing import check_grads

EXAMPLES = 25
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
B = 3  # examples per batch


def _examples(a: np.ndarray) -> list[np.ndarray]:
    """B examples near `a`: shifted by 0, 0.01, 0.02, which keeps the property strategies' margins
    (domains, kinks, ties)."""
    return [a + 0.01 * k for k in range(B)]


def _batch(data, args, dtype):
    """Random in_axes (None, the first or the last axis; at least one mapped), the examples of each
    argument, and the batched arguments."""
    args = [np.asarray(a, dtype=dtype) for a in args]
    axes = [data.draw(st.sampled_from([None, 0, -1]), label=f"in_axes[{i}]") for i in range(len(args))]
    if all(a is None for a in axes):
        axes[0] = 0
    per = [None if ax is None else [e.astype(dtype) for e in _examples(a)] for a, ax in zip(args, axes)]
    batched = [a if ax is None else np.stack(p, axis=ax) for a, ax, p in zip(args, axes, per)]

    def example(k):
        return [a if p is None else p[k] for a, p in zip(args, per)]

    return tuple(axes), batched, example


def _loop(fn, example, out_axis):
    return np.stack([np.asarray(fn(*example(k))) for k in range(B)], axis=out_axis)


NAMES = sorted(STRATEGIES)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_vmap_equals_a_loop_for_every_primitive(name, dtype, data):
    case = data.draw(STRATEGIES[name], label="case")
    axes, batched, example = _batch(data, case.args, dtype)
    out_axis = data.draw(st.sampled_from([0, -1]), label="out_axes")
    got = W.vmap(case.fn, in_axes=axes, out_axes=out_axis)(*batched)
    want = _loop(case.fn, example, out_axis)
    assert got.shape == want.shape and got.dtype == want.dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_per_example_gradients_and_gradient_of_vmap(name, data):
    """vmap(grad) against a loop of grads, and grad of a vmapped sum against the sum of grads."""
    case = data.draw(STRATEGIES[name], label="case")
    axes, batched, example = _batch(data, case.args, np.float64)
    nums = tuple(range(len(case.args)))

    def loss(*a):
        return W.sum(W.sin(case.fn(*a)))

    got = W.vmap(W.grad(loss, argnums=nums), in_axes=axes)(*batched)
    for i in nums:
        want = np.stack([np.asarray(W.grad(loss, argnums=nums)(*example(k))[i]) for k in range(B)])
        np.testing.assert_allclose(got[i], want, rtol=1e-10, atol=1e-10)

    total = W.grad(lambda *a: W.sum(W.vmap(loss, in_axes=axes)(*a)), argnums=nums)(*batched)
    for i, ax in enumerate(axes):
        per = [W.grad(loss, argnums=nums)(*example(k))[i] for k in range(B)]
        want = np.sum(per, axis=0) if ax is None else np.stack(per, axis=ax)
        np.testing.assert_allclose(total[i], want, rtol=1e-10, atol=1e-10)


NONDIFF_CASES = {
    "sign": lambda x, y: W.sign(x),
    "floor": lambda x, y: W.floor(x),
    "ceil": lambda x, y: W.ceil(x),
    "round": lambda x, y: W.round(x),
    "greater": W.greater,
    "greater_equal": W.greater_equal,
    "less": W.less,
    "less_equal": W.less_equal,
    "equal": lambda x, y: W.equal(W.round(x), W.round(y)),
    "not_equal": lambda x, y: W.not_equal(W.round(x), W.round(y)),
    "logical_not": lambda x, y: W.logical_not(x > 0),
    "logical_and": lambda x, y: W.logical_and(x > 0, y > 0),
    "logical_or": lambda x, y: W.logical_or(x > 0, y > 0),
    "isfinite": lambda x, y: W.isfinite(W.log(x)),
    "isnan": lambda x, y: W.isnan(W.sqrt(x)),
    "argmax": lambda x, y: W.argmax(x + y, axis=-1) * 10 + W.argmax(x),
    "argmin": lambda x, y: W.argmin(x * y, axis=0) * 10 + W.argmin(y),
    "stop_gradient": lambda x, y: W.stop_gradient(x) * y,
}


@pytest.mark.parametrize("name", sorted(NONDIFF_CASES))
@pytest.mark.parametrize("axes", [(0, 0), (0, None), (None, 1)])
def test_constant_valued_primitives_equal_a_loop(name, axes):
    fn = NONDIFF_CASES[name]
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((4, 3)) * 2, rng.standard_normal((4, 3))
    xb = np.stack([x + k for k in range(B)], axis=axes[0]) if axes[0] is not None else x
    yb = np.stack([y - k for k in range(B)], axis=axes[1]) if axes[1] is not None else y
    got = W.vmap(fn, in_axes=axes)(xb, yb)
    want = np.stack(
        [
            np.asarray(fn(x + k if axes[0] is not None else x, y - k if axes[1] is not None else y))
            for k in range(B)
        ]
    )
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_every_primitive_of_the_table_has_a_batching_rule():
    prims = [p for p in vars(P).values() if isinstance(p, (Elementwise, Structural, NonDiff))]
    assert len(prims) > 50
    assert all(callable(getattr(p, "batch_rule", None)) for p in prims)
    assert {p.name for p in prims if isinstance(p, NonDiff)} == set(NONDIFF_CASES)


def test_a_primitive_without_a_rule_is_named():
    double = Structural("double", lambda x: 2 * x, vjps=(lambda g, ans, x: 2 * g,), jvp=None)
    with pytest.raises(NotImplementedError, match="no batching rule for primitive 'double'"):
        W.vmap(double)(np.ones((2, 3)))


# --- per-example gradients of a small MLP ------------------------------------------------------------


def _mlp_problem(dtype, n=6, seed=0):
    rng = np.random.default_rng(seed)
    params = {
        "w1": (rng.standard_normal((5, 4)) * 0.5).astype(dtype),
        "b1": (rng.standard_normal(5) * 0.1).astype(dtype),
        "w2": (rng.standard_normal((3, 5)) * 0.5).astype(dtype),
        "b2": np.zeros(3, dtype),
    }
    xs = rng.standard_normal((n, 4)).astype(dtype)
    ys = rng.integers(0, 3, n)
    return params, xs, ys


def _loss(params, x, y):
    h = W.relu(W.linear(x, params["w1"], params["b1"]))
    return W.cross_entropy(W.linear(h, params["w2"], params["b2"]), y)


def _loss_matmul(params, x, y):
    h = W.tanh(x @ W.transpose(params["w1"]) + params["b1"])
    logp = W.log_softmax(h @ W.transpose(params["w2"]) + params["b2"])
    return -W.sum(logp * W.one_hot(y, 3, dtype=logp.dtype))


@pytest.mark.parametrize("loss", [_loss, _loss_matmul])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_per_example_gradients_of_an_mlp(loss, dtype):
    params, xs, ys = _mlp_problem(dtype)
    got = W.vmap(W.grad(loss), in_axes=(None, 0, 0))(params, xs, ys)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for k in params:
        want = np.stack([W.grad(loss)(params, x, y)[k] for x, y in zip(xs, ys)])
        assert got[k].dtype == dtype and got[k].shape == (len(xs),) + params[k].shape
        np.testing.assert_allclose(got[k], want, rtol=tol, atol=tol)
    # their mean is the gradient of the mean loss over the batch
    mean = W.grad(lambda p: W.mean(W.vmap(loss, in_axes=(None, 0, 0))(p, xs, ys)))(params)
    for k in params:
        np.testing.assert_allclose(got[k].mean(axis=0), mean[k], rtol=tol, atol=tol)


def test_per_example_value_and_grad_and_hessian_vector_products():
    params, xs, ys = _mlp_problem(np.float64)
    vals, grads = W.vmap(W.value_and_grad(_loss), in_axes=(None, 0, 0))(params, xs, ys)
    np.testing.assert_allclose(vals, [_loss(params, x, y) for x, y in zip(xs, ys)], rtol=1e-12)
    v = np.random.default_rng(1).standard_normal((len(xs), 4))
    hv = W.vmap(lambda x, y, t: W.hvp(lambda z: _loss(params, z, y), x, t))(xs, ys, v)
    want = [W.hvp(lambda z, y=y: _loss(params, z, y), x, t) for x, y, t in zip(xs, ys, v)]
    np.testing.assert_allclose(hv, want, rtol=1e-10, atol=1e-12)
    assert grads["w1"].shape == (len(xs), 5, 4)


# --- compositions ------------------------------------------------------------------------------------


def _f(x):
    return W.sum(W.sin(x) ** 2 * x[0]) + W.max(x) * W.logsumexp(x)


XS = np.random.default_rng(2).standard_normal((3, 4))


@pytest.mark.parametrize(
    "transform", [W.grad, W.jacfwd, W.jacrev, W.hessian, lambda f: W.jacfwd(W.jacrev(f))]
)
def test_vmap_of_a_derivative_equals_a_loop(transform):
    got = W.vmap(transform(_f))(XS)
    want = np.stack([transform(_f)(x) for x in XS])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_derivatives_of_vmap():
    vf = W.vmap(_f)  # (3, 4) -> (3,): example i depends on row i only
    rows = [W.grad(_f)(x) for x in XS]
    jac = np.zeros((3, 3, 4))
    for i in range(3):
        jac[i, i] = rows[i]
    np.testing.assert_allclose(W.jacfwd(vf)(XS), jac, rtol=1e-10)
    np.testing.assert_allclose(W.jacrev(vf)(XS), jac, rtol=1e-10)
    hess = W.hessian(lambda X: W.sum(vf(X)))(XS)
    for i in range(3):
        np.testing.assert_allclose(hess[i, :, i, :], W.hessian(_f)(XS[i]), rtol=1e-10)
    _, tangent = W.jvp(vf, (XS,), (np.ones_like(XS),))
    np.testing.assert_allclose(tangent, [r.sum() for r in rows], rtol=1e-10)


def test_vmap_of_jvp_and_vjp():
    ts = np.random.default_rng(4).standard_normal(XS.shape)
    _, tan = W.vmap(lambda x, t: W.jvp(_f, (x,), (t,)))(XS, ts)
    np.testing.assert_allclose(tan, [W.grad(_f)(x) @ t for x, t in zip(XS, ts)], rtol=1e-10)
    ct = W.vmap(lambda x: W.vjp(W.sin, x)[1](W.cos(x))[0])(XS)
    np.testing.assert_allclose(ct, np.cos(XS) ** 2, rtol=1e-12)


def test_nested_vmap():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4))
    dots = W.vmap(W.vmap(lambda u, v: W.sum(u * v), in_axes=(0, None)), in_axes=(None, 0))(a[0], b)
    np.testing.assert_allclose(dots, b @ a[0].T)
    inner = W.vmap(W.vmap(lambda u: W.softmax(u)), in_axes=1, out_axes=1)(a)
    np.testing.assert_allclose(inner, np.exp(a) / np.exp(a).sum(-1, keepdims=True))
    g = W.vmap(W.vmap(W.grad(_f)))(a)
    np.testing.assert_allclose(g, [[W.grad(_f)(x) for x in row] for row in a], rtol=1e-10)


def test_nested_vmap_matrix_products():
    rng = np.random.default_rng(6)
    ms, vs = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4))
    got = W.vmap(W.vmap(lambda m, v: m @ v, in_axes=(0, None)), in_axes=(None, 0))(ms, vs)
    np.testing.assert_allclose(got, np.einsum("ijk,bk->bij", ms, vs))


def test_no_perturbation_confusion_across_vmap_and_grad():
    # d/dx [x * sum(vmap(d/dy (x + y))(ys))] = 3 (the inner derivative is 1 per example, x constant)
    ys = np.arange(3.0)
    outer = W.grad(lambda x: x * W.sum(W.vmap(W.grad(lambda y: x * 0 + x + y))(ys)))(2.0)
    assert outer == pytest.approx(3.0)
    # a value closed over from outside vmap is shared by every example and differentiated once
    g = W.grad(lambda x: W.sum(W.vmap(lambda y: x * y)(ys)))(2.0)
    assert g == pytest.approx(ys.sum())


def test_checkpoint_and_custom_rules_inside_vmap():
    f = W.checkpoint(lambda x: W.sum(W.exp(x) * x))
    np.testing.assert_allclose(W.vmap(f)(XS), [f(x) for x in XS])
    np.testing.assert_allclose(W.vmap(W.grad(f))(XS), [W.grad(f)(x) for x in XS], rtol=1e-12)

    @W.custom_jvp
    def softclip(x):
        return W.tanh(x)

    @softclip.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        y = W.tanh(x)
        return y, (1 - y * y) * t

    @W.custom_vjp
    def square(x):
        return x * x

    square.defvjp(lambda x: (x * x, x), lambda x, g: (2 * x * g,))
    for fn in (softclip, square):
        loss = lambda x, fn=fn: W.sum(fn(x))
        np.testing.assert_allclose(W.vmap(fn)(XS), [fn(x) for x in XS], rtol=1e-12)
        np.testing.assert_allclose(W.vmap(W.grad(loss))(XS), [W.grad(loss)(x) for x in XS], rtol=1e-12)


# --- axes and structures -----------------------------------------------------------------------------


def test_in_axes_and_out_axes_as_structures():
    rng = np.random.default_rng(7)
    p = {"a": rng.standard_normal((4, 3)), "b": rng.standard_normal(4)}
    xs = rng.standard_normal((2, 4))

    def f(p, x):
        return {"s": W.sum(p["a"] * x[:, None]), "v": p["b"] * x}, W.sum(p["b"])

    out, shared = W.vmap(f, in_axes=({"a": None, "b": None}, 0), out_axes=({"s": 0, "v": 1}, None))(
        p, xs
    )
    np.testing.assert_allclose(out["s"], [np.sum(p["a"] * x[:, None]) for x in xs])
    np.testing.assert_allclose(out["v"], np.stack([p["b"] * x for x in xs], axis=1))
    np.testing.assert_allclose(shared, p["b"].sum())
    # a structure mapped by one int maps every leaf; an unbatched output is broadcast
    pb = {"a": np.stack([p["a"]] * 2), "b": np.stack([p["b"], 2 * p["b"]])}
    s, const = W.vmap(lambda p: (W.sum(p["b"]), 1.5 * np.ones(2)))(pb)
    np.testing.assert_allclose(s, [p["b"].sum(), 2 * p["b"].sum()])
    np.testing.assert_allclose(const, np.full((2, 2), 1.5))
    # tensors are accepted like arrays; a list argument is a structure
    t = W.vmap(lambda u: u * 2, in_axes=1)(W.tensor(np.ones((2, 3)), dtype=np.float64))
    assert t.shape == (3, 2)
    assert W.vmap(lambda u: u[0] + u[1])([np.ones(2), np.ones(2)]).shape == (2,)


def test_indexing_with_advanced_indices_apart():
    x = np.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)
    for index in [
        (np.array([0, 2]), slice(None), np.array([1, 3])),
        (0, slice(None), np.array([1, 3])),
        (slice(None), np.array([[0], [1]]), np.array([1, 2, 3])),
    ]:
        got = W.vmap(lambda e, index=index: e[index])(x)
        np.testing.assert_array_equal(got, np.stack([e[index] for e in x]))
        g = W.vmap(W.grad(lambda e, index=index: W.sum(W.sin(e[index]))))(x)
        want = np.stack([W.grad(lambda e, index=index: W.sum(W.sin(e[index])))(e) for e in x])
        np.testing.assert_allclose(g, want)


def test_indices_that_vary_over_the_batch():
    rng = np.random.default_rng(10)
    x = W.as_tensor(rng.standard_normal((4, 5, 6)))
    ks = np.array([0, 3, -1])
    for pick in (
        lambda i: x[i],
        lambda i: x[:, i],
        lambda i: x[..., i],
        lambda i: x[:, :, i],
        lambda i: W.take(x, i),
        lambda i: W.take(x, i, axis=1),
    ):
        np.testing.assert_allclose(W.vmap(pick)(ks), np.stack([pick(k).numpy() for k in ks]))
    # per-example gradients through a picked log-probability and an embedding lookup
    w, xs, ys = rng.standard_normal((5, 3)), rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    loss = lambda w, x, y: -W.log_softmax(x @ w)[y]
    got = W.vmap(W.grad(loss), in_axes=(None, 0, 0))(w, xs, ys)
    np.testing.assert_allclose(got, [W.grad(loss)(w, x, y) for x, y in zip(xs, ys)], rtol=1e-12)
    table, ids = rng.standard_normal((7, 3)), np.array([[1, 2], [6, 0], [3, 3]])
    lookup = lambda t, i: W.sum(W.sin(t[i]))
    got = W.vmap(W.grad(lookup), in_axes=(None, 0))(table, ids)
    np.testing.assert_allclose(got, [W.grad(lookup)(table, i) for i in ids], rtol=1e-12)
    # both the tensor and the index batched, and nested
    vs, idx = rng.standard_normal((3, 7)), np.array([[0, 1], [2, 3], [4, 5]])
    got = W.vmap(lambda v, i: W.as_tensor(v)[i])(vs, idx)
    np.testing.assert_allclose(got, [v[i] for v, i in zip(vs, idx)])
    got = W.vmap(W.vmap(lambda v, i: v[i], in_axes=(None, 0)), in_axes=(0, None))(vs, np.array([1, 2]))
    np.testing.assert_allclose(got, vs[:, [1, 2]])


def test_rank_changes_and_broadcasting_against_unbatched_values():
    rng = np.random.default_rng(8)
    xs, m = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    got = W.vmap(lambda x: x * m + W.reshape(x, (4, 1))[:, 0] - W.mean(x, axis=0))(xs)
    np.testing.assert_allclose(got, [x * m + x - x.mean() for x in xs])
    got = W.vmap(lambda x: W.concatenate([x, m[0]]) @ np.ones(8))(xs)
    np.testing.assert_allclose(got, [x.sum() + m[0].sum() for x in xs])
    got = W.vmap(lambda x: W.stack([x, m[1]], axis=1).sum(axis=1), in_axes=1)(xs.T)
    np.testing.assert_allclose(got, xs + m[1])
    got = W.vmap(lambda x: W.var(x) + W.std(x) + W.norm(x) + W.squeeze(W.expand_dims(x, 0)).sum())(xs)
    np.testing.assert_allclose(got, [x.var() + x.std() + np.linalg.norm(x) + x.sum() for x in xs])


# --- errors ------------------------------------------------------------------------------------------


def test_bad_in_axes_and_arguments_are_named():
    x = np.ones((3, 2))
    f = lambda a, b: a + b
    with pytest.raises(ValueError, match="in_axes has 3 entries but the function got 2 arguments"):
        W.vmap(f, in_axes=(0, 0, 0))(x, x)
    with pytest.raises(ValueError, match=r"in_axes=2 for argument 1 of shape \(3, 2\) is out of range"):
        W.vmap(f, in_axes=(0, 2))(x, x)
    with pytest.raises(ValueError, match=r"different sizes \(argument 0: 3, argument 1: 4\)"):
        W.vmap(f)(x, np.ones((4, 2)))
    with pytest.raises(TypeError, match="argument 1 is a str, not an array"):
        W.vmap(f)(x, "abc")
    with pytest.raises(TypeError, match="in_axes must be an int, None"):
        W.vmap(f, in_axes="0")
    with pytest.raises(ValueError, match="maps no argument"):
        W.vmap(f, in_axes=None)(x, x)
    with pytest.raises(ValueError, match=r"in_axes=0 for argument 0 of shape \(\) is out of range"):
        W.vmap(W.sin)(2.0)
    with pytest.raises(ValueError, match="does not match the structure"):
        W.vmap(lambda p: p["a"], in_axes=({"b": 0},))({"a": x})
    with pytest.raises(ValueError, match="out_axes is None for output 0, but that output varies"):
        W.vmap(W.sin, out_axes=None)(x)
    with pytest.raises(ValueError, match="out_axes=3 is out of range"):
        W.vmap(W.sin, out_axes=3)(x)
    with pytest.raises(TypeError, match="output 1 of the function is a str"):
        W.vmap(lambda v: (v, "label"))(x)
    # keyword arguments reach the function unchanged
    np.testing.assert_allclose(W.vmap(lambda v, scale: v * scale)(x, scale=2.0), 2 * x)


def test_concrete_values_and_batched_indices_inside_vmap_are_errors():
    x = np.ones((3, 2))
    with pytest.raises(TypeError, match=r"the truth value of a value batched by vmap.*wengert\.where"):
        W.vmap(lambda v: v if W.sum(v) > 0 else -v)(x)
    with pytest.raises(TypeError, match=r"float\(\) of a value batched by vmap"):
        W.vmap(lambda v: float(W.sum(v)))(x)
    with pytest.raises(NotImplementedError, match="index that varies over a vmap batch"):
        W.vmap(lambda v, i: v[i, i], in_axes=(None, 0))(W.ones((3, 3)), np.array([0, 1, 2]))
    with pytest.raises(IndexError, match="index from 0 to 4 is out of bounds for axis 0 with size 4"):
        W.vmap(lambda v, i: v[i], in_axes=(None, 0))(W.arange(4.0), np.array([0, 4]))
    with pytest.raises(TypeError, match="conversion to a numpy array of a value batched by vmap"):
        W.vmap(lambda v, i: v[i], in_axes=(None, 0))(np.arange(4.0), np.array([0, 1, 2]))
    # an error leaves no open trace behind: the next transform starts at the first level
    assert W.grad(lambda v: W.sum(v * v))(np.ones(2)).tolist() == [2.0, 2.0]


def test_modules_losses_and_the_eager_tape_under_vmap():
    rng = np.random.default_rng(9)
    model = W.nn.MLP([4, 8, 3])
    xs = rng.standard_normal((5, 4)).astype(np.float32)
    labels, target = np.array([0, 2, 1, 1, 0]), rng.standard_normal(3).astype(np.float32)
    out = W.vmap(model)(xs)
    np.testing.assert_allclose(out.numpy(), [model(x).numpy() for x in xs], rtol=1e-6, atol=1e-6)
    nll = W.vmap(lambda x, y: W.nn.nll_loss(W.log_softmax(model(x)), y))(xs, labels)
    want = [W.nn.nll_loss(W.log_softmax(model(x)), y).numpy() for x, y in zip(xs, labels)]
    np.testing.assert_allclose(nll.numpy(), want, rtol=1e-6)
    mse = W.vmap(lambda x: W.nn.mse_loss(model(x), target))(xs)
    want = [W.nn.mse_loss(model(x), target).numpy() for x in xs]
    np.testing.assert_allclose(mse.numpy(), want, rtol=1e-6)
    # the result stays on the eager tape: backward reaches the parameters and tracked inputs
    t = W.tensor(xs, requires_grad=True)
    W.vmap(lambda v: W.sum(v * v))(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 2 * xs, rtol=1e-6)
    mse.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


# --- with jit ----------------------------------------------------------------------------------------

jit = getattr(W, "jit", None)
needs_jit = pytest.mark.skipif(jit is None, reason="wengert.jit is not part of this build")


@needs_jit
def test_jit_of_vmap_and_vmap_of_jit_equal_a_loop():
    def f(x):
        return W.sum(W.where(x > 0, W.sin(x) * x, -x)) + W.logsumexp(x)

    want = [f(x) for x in XS]
    jf = jit(W.vmap(f))
    np.testing.assert_allclose(jf(XS), want, rtol=1e-12)
    np.testing.assert_allclose(jf(XS + 1), [f(x) for x in XS + 1], rtol=1e-12)
    assert jf.cache_info().misses == 1 and jf.cache_info().hits == 1  # one trace per signature
    np.testing.assert_allclose(W.vmap(jit(f))(XS), want, rtol=1e-12)
    g = [W.grad(f)(x) for x in XS]
    np.testing.assert_allclose(jit(W.vmap(W.grad(f)))(XS), g, rtol=1e-12)
    np.testing.assert_allclose(W.vmap(jit(W.grad(f)))(XS), g, rtol=1e-12)
    np.testing.assert_allclose(W.vmap(W.grad(jit(f)))(XS), g, rtol=1e-12)
    table = W.as_tensor(XS)
    picks = jit(W.vmap(lambda i: W.sum(table[:, i] * 2.0)))(np.array([0, 3, -1]))
    np.testing.assert_allclose(picks, 2 * XS[:, [0, 3, -1]].sum(axis=0), rtol=1e-12)


@needs_jit
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_jitted_per_example_gradients(dtype):
    params, xs, ys = _mlp_problem(dtype)
    per_example = jit(W.vmap(W.grad(_loss), in_axes=(None, 0, 0)))
    got = per_example(params, xs, ys)
    want = W.vmap(W.grad(_loss), in_axes=(None, 0, 0))(params, xs, ys)
    for k in params:
        assert got[k].dtype == dtype
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_guarded_rules_behind_where_under_vmap():
    # sqrt's infinite partial at 0 meets a zero cotangent: 0, per example, as without vmap
    f = lambda x: W.sum(W.where(x > 0, W.sqrt(x), 0.0))
    xs = np.array([[0.0, 4.0], [1.0, 0.0]])
    with np.errstate(divide="ignore"):
        want = np.stack([W.grad(f)(x) for x in xs])
        np.testing.assert_array_equal(W.vmap(W.grad(f))(xs), want)
        np.testing.assert_array_equal(W.grad(lambda xs: W.sum(W.vmap(f)(xs)))(xs), want)
    np.testing.assert_array_equal(want, [[0.0, 0.25], [0.5, 0.0]])


def test_cross_entropy_gradient_of_strided_logits():
    # a batch axis moved to the front leaves the logits strided: the fused backward must not write
    # into a copy of them (found by the vmap property tests; plain grad takes the same path)
    labels = np.zeros((2, 3), dtype=np.int64)
    z = np.random.default_rng(11).standard_normal((4, 3, 2))
    f = lambda z: W.cross_entropy(W.transpose(z, (2, 1, 0)), labels)
    check_grads(f, z, modes=("rev",), order=1)
    loss = lambda e: W.cross_entropy(e, np.array([0, 2, 1, 1]))
    got = W.vmap(W.grad(loss), in_axes=-1)(z)  # examples z[..., i] of shape (4, 3)
    np.testing.assert_allclose(got, [W.grad(loss)(z[..., i]) for i in range(2)], rtol=1e-12)
