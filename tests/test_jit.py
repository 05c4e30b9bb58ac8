"""jit: equal to eager on every primitive, composed with every transform, cached per signature,
static arguments, clear errors, and emitted source that runs with numpy alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import NAMES, STRATEGIES

import wengert as W
from wengert import nn

SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _close(got, want, dtype):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


# --- jit equals eager on every primitive of the table ----------------------------------------------


def _check_jit_case(case, dtype):
    args = tuple(np.asarray(a, dtype=dtype) for a in case.args)
    _close(W.jit(case.fn)(*args), case.fn(*args), dtype)
    # the derivative program too: one reverse sweep with a random cotangent
    out = case.fn(*args)
    ct = np.random.default_rng(0).standard_normal(np.shape(out)).astype(dtype)

    def pullback(*a):
        return W.vjp(case.fn, *a)[1](ct)

    for got, want in zip(W.jit(pullback)(*args), pullback(*args)):
        _close(got, want, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_jit_equals_eager_on_every_primitive(name, dtype, data):
    _check_jit_case(data.draw(STRATEGIES[name], label="case"), dtype)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
@settings(SETTINGS, max_examples=150)
@given(data=st.data())
def test_jit_equals_eager_on_every_primitive_many_examples(name, dtype, data):
    _check_jit_case(data.draw(STRATEGIES[name], label="case"), dtype)


# --- composition with the transforms ------------------------------------------------------------------


def rosen(x):
    return W.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


X = np.random.default_rng(1).uniform(-1, 1, 6)
V = np.random.default_rng(2).standard_normal(6)


@pytest.mark.parametrize(
    "make",
    [
        lambda: (W.jit(W.grad(rosen)), W.grad(rosen)),
        lambda: (W.grad(W.jit(rosen)), W.grad(rosen)),
        lambda: (W.jit(W.hessian(rosen)), W.hessian(rosen)),
        lambda: (W.hessian(W.jit(rosen)), W.hessian(rosen)),
        lambda: (W.jacfwd(W.jit(W.grad(rosen))), W.hessian(rosen)),
        lambda: (W.jacrev(W.jit(W.grad(rosen))), W.hessian(rosen)),
        lambda: (W.jit(W.jacrev(W.grad(rosen))), W.hessian(rosen)),
        lambda: (W.jit(W.jit(rosen)), rosen),
        lambda: (W.jit(W.grad(W.jit(rosen))), W.grad(rosen)),
        lambda: (W.jit(W.checkpoint(W.grad(rosen))), W.grad(rosen)),
        lambda: (W.jit(W.grad(lambda x: W.sum(W.checkpoint(W.sin)(x) ** 2))), None),
    ],
)
def test_composition_matrix(make):
    fn, ref = make()
    got = fn(X)
    if ref is None:  # d/dx sum(sin(x)^2) = 2 sin x cos x
        np.testing.assert_allclose(got, 2 * np.sin(X) * np.cos(X), rtol=1e-12)
    else:
        np.testing.assert_allclose(got, ref(X), rtol=1e-12, atol=1e-12)


def test_hvp_and_jvp_through_jit():
    want = W.hvp(rosen, X, V)
    np.testing.assert_allclose(W.jit(lambda x, v: W.hvp(rosen, x, v))(X, V), want, rtol=1e-12)
    np.testing.assert_allclose(W.jvp(W.grad(W.jit(rosen)), (X,), (V,))[1], want, rtol=1e-12)


def test_custom_rules_inside_jit():
    @W.custom_vjp
    def clipped_sin(x):
        return W.sin(x)

    clipped_sin.defvjp(lambda x: (W.sin(x), x), lambda x, g: (W.clip(g * W.cos(x), -0.5, 0.5),))

    @W.custom_jvp
    def softsq(x):
        return x * x

    @softsq.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return x * x, 2 * x * t

    f = lambda x: W.sum(clipped_sin(x) + softsq(x))
    np.testing.assert_allclose(W.jit(W.grad(f))(X), W.grad(f)(X), rtol=1e-12)
    np.testing.assert_allclose(W.grad(W.jit(f))(X), W.grad(f)(X), rtol=1e-12)
    np.testing.assert_allclose(W.jit(W.jacfwd(f))(X), W.jacfwd(f)(X), rtol=1e-12)


def test_jit_on_tensors_records_on_the_eager_tape():
    x = W.tensor(X, requires_grad=True)
    y = W.jit(rosen)(x)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), W.grad(rosen)(X), rtol=1e-12)
    out = W.jit(rosen)(W.tensor(X))
    assert isinstance(out, W.Tensor) and not out.requires_grad


def test_nested_perturbations_stay_apart_through_jit():
    # d/dx [x * d/dy (x + y)] = 1, with the inner function compiled
    inner = W.jit(lambda x, y: x + y)
    f = lambda x: x * W.grad(lambda y: inner(x, y), argnums=0)(np.float64(3.0))
    assert W.grad(f)(np.float64(2.0)) == pytest.approx(1.0)
    assert W.jit(W.grad(f))(np.float64(2.0)) == pytest.approx(1.0)


# --- dtypes, pytrees, caching -----------------------------------------------------------------------


def test_float32_stays_float32():
    x = np.linspace(-1, 1, 5, dtype=np.float32)
    f = lambda x: W.sum(W.tanh(x) * 2.0 + x**2)
    assert W.jit(f)(x).dtype == np.float32
    assert W.jit(W.grad(f))(x).dtype == np.float32
    assert W.jit(W.hessian(f))(x).dtype == np.float32


def test_body_runs_once_per_signature():
    calls = []

    def f(params, x):
        calls.append(1)
        return {"y": params["w"] @ x + params["b"], "n": W.sum(x)}

    jf = W.jit(f)
    p = {"w": np.ones((2, 3)), "b": np.zeros(2)}
    for k in range(3):
        out = jf(p, np.full(3, float(k)))
        np.testing.assert_allclose(out["y"], [3.0 * k, 3.0 * k])
    assert len(calls) == 1 and jf.cache_info().hits == 2 and jf.cache_info().misses == 1
    jf(p, np.ones(4)[:3].astype(np.float32))  # new dtype
    jf(p, np.ones(5)[:3].copy().reshape(3))  # same signature as before
    jf({"w": np.ones((2, 4)), "b": np.zeros(2)}, np.ones(4))  # new shapes
    info = jf.cache_info()
    assert len(calls) == 3 and info.misses == 3 and info.size == 3 and info.hits == 3
    assert info.trace_seconds > 0 and info.compile_seconds > 0
    jf.cache_clear()
    assert jf.cache_info().size == 0


def test_pytree_structure_is_part_of_the_signature():
    calls = []

    def f(xs):
        calls.append(1)
        return W.sum(xs[0]) + W.sum(xs[-1])

    jf = W.jit(f)
    assert jf((np.ones(2), np.ones(2))) == 4.0
    assert jf([np.ones(2), np.ones(2)]) == 4.0
    assert jf((np.ones(2), np.ones(2), np.ones(2))) == 4.0
    assert len(calls) == 3


def test_static_argnums():
    calls = []

    def f(x, n, mode):
        calls.append(1)
        y = x
        for _ in range(n):  # a Python loop and branch on static values
            y = W.sin(y) if mode == "sin" else W.cos(y)
        return y

    jf = W.jit(f, static_argnums=(1, 2))
    np.testing.assert_allclose(jf(X, 3, "sin"), np.sin(np.sin(np.sin(X))))
    np.testing.assert_allclose(jf(X, 3, "sin"), np.sin(np.sin(np.sin(X))))
    np.testing.assert_allclose(jf(X, 1, "cos"), np.cos(X))
    assert len(calls) == 2
    assert len(jf.lower(X, 3, "sin").equations) == 3


def test_unhashable_static_argument_is_refused_and_nothing_is_cached():
    jf = W.jit(lambda x, axes: W.sum(x, axis=axes), static_argnums=1)
    with pytest.raises(TypeError, match=r"static argument 1 .*list.* not hashable"):
        jf(np.ones((2, 3)), [0])
    assert jf.cache_info().size == 0
    assert jf(np.ones((2, 3)), (0,)).shape == (3,)


def test_bad_arguments_name_the_argument():
    jf = W.jit(lambda x, scale: x * scale)
    with pytest.raises(TypeError, match="argument scale is a str"):
        jf(np.ones(2), "big")
    with pytest.raises(ValueError, match="static_argnums"):
        W.jit(lambda x: x, static_argnums=3)(np.ones(2))
    with pytest.raises(TypeError, match="expected a function"):
        W.jit(3)
    assert jf.cache_info().size == 0
    np.testing.assert_allclose(jf(np.ones(2), 3.0), [3.0, 3.0])


def test_failed_trace_leaves_nothing_cached():
    state = {"fail": True}

    def f(x):
        if state["fail"]:
            raise RuntimeError("boom")
        return x * 2

    jf = W.jit(f)
    with pytest.raises(RuntimeError, match="boom"):
        jf(np.ones(2))
    assert jf.cache_info().size == 0
    state["fail"] = False
    np.testing.assert_allclose(jf(np.ones(2)), [2.0, 2.0])


# --- errors ------------------------------------------------------------------------------------------


def test_branch_on_a_traced_value_names_the_line_and_the_fixes():
    def f(x):
        if W.sum(x) > 0:  # the line the error names
            return x
        return -x

    with pytest.raises(W.ConcretizationError) as err:
        W.jit(f)(np.ones(3))
    msg = str(err.value)
    assert "test_jit.py" in msg and "if W.sum(x) > 0:" in msg
    assert "static_argnums" in msg and "wengert.where" in msg
    fixed = W.jit(lambda x: W.where(W.sum(x) > 0, x, -x))
    np.testing.assert_allclose(fixed(-np.ones(3)), np.ones(3))


@pytest.mark.parametrize("convert", [float, bool, int, np.asarray])
def test_concrete_conversions_of_traced_values_raise(convert):
    with pytest.raises(W.ConcretizationError, match="static_argnums"):
        W.jit(lambda x: convert(W.sum(x)))(np.ones(3))


def test_leaked_tracer_gives_a_clear_error():
    leaked = []

    def f(x):
        leaked.append(x * 2)
        return x

    W.jit(f)(np.ones(2))
    with pytest.raises(W.LeakedTracerError, match="leaked out of the traced function"):
        W.sin(leaked[0])
    with pytest.raises(W.LeakedTracerError, match="leaked"):
        np.asarray(leaked[0])


def test_closing_over_a_differentiated_value_is_refused():
    def f(x):
        return W.jit(lambda y: x * y)(np.float64(3.0))

    with pytest.raises(TypeError, match="not one of its arguments"):
        W.grad(f)(np.float64(2.0))


# --- emitted source ----------------------------------------------------------------------------------


def _run_source(src: str, name: str, *args):
    imports = [ln for ln in src.splitlines() if "import" in ln and ln.startswith(("import", "from"))]
    assert imports[-1] == "import numpy as np"  # numpy, and at most the standard library before it
    assert set(imports[:-1]) <= {"import itertools", "import math"}
    ns: dict = {}
    exec(src, ns)  # a fresh namespace: the source brings its own numpy import
    return ns[name](*args)


def mlp_loss(params, x, y):
    h = W.tanh(x @ params["w1"].T + params["b1"])
    return W.cross_entropy(h @ params["w2"].T + params["b2"], y)


CNN_PARAMS = (np.random.default_rng(4).standard_normal((3, 1, 3, 3)), np.arange(3.0) / 10)


def small_cnn(x, w, b):
    """conv (a padded one and a strided one), max pooling and, in its gradient, fold"""
    h = nn.functional.relu(nn.functional.conv2d(x, w, b, padding=1))
    h = nn.functional.max_pool2d(h, 2) + nn.functional.conv2d(
        h, W.concatenate([w] * 3, 1), stride=2, padding=1
    )
    return W.sum(W.round(h) * h)


@pytest.mark.parametrize(
    "fn, args",
    [
        (lambda x1, x2: x1 * x2 + W.sin(x1), (2.0, 3.0)),
        (rosen, (X,)),
        (
            mlp_loss,
            (
                {
                    "w1": np.random.default_rng(0).standard_normal((4, 3)),
                    "b1": np.zeros(4),
                    "w2": np.random.default_rng(1).standard_normal((2, 4)),
                    "b2": np.zeros(2),
                },
                np.random.default_rng(2).standard_normal((5, 3)),
                np.array([0, 1, 1, 0, 1]),
            ),
        ),
        (lambda x: W.sum(W.softmax(x) * W.log_softmax(x)) + W.logsumexp(x), (X,)),
        (small_cnn, (np.random.default_rng(3).standard_normal((2, 1, 8, 8)), *CNN_PARAMS)),
    ],
)
def test_emitted_source_runs_with_numpy_alone(fn, args):
    for f in (fn, W.grad(fn)):
        src = W.source(f)(*args)
        got = _run_source(src, W.program(f)(*args).name, *args)
        want = f(*args)
        for g, w in zip(W.tree.flatten(got)[0], W.tree.flatten(want)[0]):
            np.testing.assert_allclose(g, w, rtol=1e-12)


def test_hessian_source_runs_with_numpy_alone():
    src = W.source(W.hessian(rosen))(X)
    np.testing.assert_allclose(_run_source(src, "rosen", X), W.hessian(rosen)(X), rtol=1e-12)


# --- training steps ------------------------------------------------------------------------------


def test_functional_training_step():
    rng = np.random.default_rng(0)
    params = {
        "w1": rng.standard_normal((8, 6)).astype(np.float32) * 0.3,
        "b1": np.zeros(8, np.float32),
        "w2": rng.standard_normal((3, 8)).astype(np.float32) * 0.3,
        "b2": np.zeros(3, np.float32),
    }
    x = rng.standard_normal((16, 6)).astype(np.float32)
    y = rng.integers(0, 3, 16)

    def step(params, x, y):
        g = W.grad(mlp_loss)(params, x, y)
        return {k: params[k] - 0.1 * g[k] for k in params}

    jstep = W.jit(step)
    p_eager, p_jit = params, params
    for _ in range(5):
        p_eager, p_jit = step(p_eager, x, y), jstep(p_jit, x, y)
    for k in params:
        assert p_jit[k].dtype == np.float32
        np.testing.assert_allclose(p_jit[k], p_eager[k], rtol=1e-5, atol=1e-6)
    assert jstep.cache_info().misses == 1
    assert mlp_loss(p_jit, x, y) < mlp_loss(params, x, y)


def test_module_training_step_through_functional_call():
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    params = nn.parameter_arrays(model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 6)).astype(np.float32)
    y = rng.integers(0, 3, 16)

    @W.jit
    def step(params, x, y):
        loss = lambda p: nn.cross_entropy(nn.functional_call(model, p, x), y)
        g = W.grad(loss)(params)
        return {k: params[k] - 0.1 * g[k] for k in params}

    before = float(nn.cross_entropy(model(x), y))
    for _ in range(5):
        params = step(params, x, y)
    model.load_state_dict(params)
    assert float(nn.cross_entropy(model(x), y)) < before
    assert step.cache_info().misses == 1


# --- the fused softmax cross-entropy --------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lead", [(), (5,), (2, 3)])
def test_cross_entropy_and_its_gradient_fuse_into_one_call(reduction, dtype, lead):
    rng = np.random.default_rng(1)
    z = (rng.standard_normal((*lead, 4)) * 3).astype(dtype)
    y = rng.integers(0, 4, lead)

    def f(z, y):
        loss = W.cross_entropy(z, y, reduction=reduction)
        return W.sum(loss) if reduction == "none" else loss

    vg = W.value_and_grad(f)
    jvg = W.jit(vg)
    assert "_cross_entropy_softmax(" in jvg.source(z, y)
    (lj, gj), (le, ge) = jvg(z, y), vg(z, y)
    _close(lj, le, dtype)
    _close(gj, ge, dtype)


def test_fused_cross_entropy_keeps_a_softmax_used_elsewhere():
    rng = np.random.default_rng(2)
    z, y = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)

    def f(z):
        return W.cross_entropy(z, y) + W.sum(W.softmax(z, axis=-1) ** 2)

    jvg = W.jit(W.value_and_grad(f))
    assert "_cross_entropy_softmax(" in jvg.source(z)
    (vj, gj), (ve, ge) = jvg(z), W.value_and_grad(f)(z)
    np.testing.assert_allclose(vj, ve, rtol=1e-12)
    np.testing.assert_allclose(gj, ge, rtol=1e-12)


def test_softmax_and_cross_entropy_propagate_nan_and_handle_huge_logits():
    z = np.array([[1e30, 0.0, -1e30], [np.nan, 1.0, 2.0], [3.0, 3.0, 3.0]], np.float32)
    y = np.array([0, 1, 2])
    sm = W.softmax(z, axis=-1)
    np.testing.assert_array_equal(sm[0], [1, 0, 0])
    assert np.isnan(sm[1]).all()
    np.testing.assert_allclose(sm[2], [1 / 3] * 3, rtol=1e-6)
    loss = W.cross_entropy(z, y, reduction="none")
    assert loss[0] == 0 and np.isnan(loss[1])
    jvg = W.jit(W.value_and_grad(lambda z: W.cross_entropy(z, y, reduction="sum")))
    got, want = jvg(z), W.value_and_grad(lambda z: W.cross_entropy(z, y, reduction="sum"))(z)
    np.testing.assert_array_equal(np.isnan(got[1]), np.isnan(want[1]))
    np.testing.assert_allclose(got[1][[0, 2]], want[1][[0, 2]], rtol=1e-6)


def test_fused_cross_entropy_on_transposed_logits():
    # logits laid out column by column (a transpose): the kernels' flat writes must still land
    rng = np.random.default_rng(5)
    a, y = rng.standard_normal((4, 6)), rng.integers(0, 4, 6)

    def f(a):
        return W.cross_entropy(W.transpose(a), y)

    (vj, gj), (ve, ge) = W.jit(W.value_and_grad(f))(a), W.value_and_grad(f)(a)
    np.testing.assert_allclose(vj, ve, rtol=1e-12)
    np.testing.assert_allclose(gj, ge, rtol=1e-12)
    z = np.ascontiguousarray(a.T)
    want = (np.exp(z) / np.exp(z).sum(1, keepdims=True) - np.eye(4)[y]) / 6
    np.testing.assert_allclose(ge, want.T, rtol=1e-12)
