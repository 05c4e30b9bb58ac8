"""Function transforms: agreement between modes, nesting without perturbation confusion, Taylor mode,
checkpointing and user-defined rules."""

import math

import numpy as np
import pytest

import wengert as W
from wengert.testing import check_grads

RNG = np.random.default_rng(0)


def rosen(x):
    return W.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosen_hessian(x):
    n = len(x)
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        h[i, i + 1] = h[i + 1, i] = -400 * x[i]
        h[i + 1, i + 1] += 200
    return h


def test_perturbation_confusion_regressions():
    # d/dx [x * d/dy (x + y)] at x = 1 is 1 (not 2): the inner derivative must not see x as varying
    assert W.grad(lambda x: x * W.grad(lambda y: x + y)(1.0))(1.0) == 1.0
    assert W.grad(lambda x: x * W.grad(lambda y: x * y)(2.0))(1.0) == 2.0
    assert W.derivative(lambda x: x * W.derivative(lambda y: x + y)(1.0))(1.0) == 1.0
    # forward over reverse and reverse over forward
    assert W.jvp(lambda x: x * W.grad(lambda y: x + y)(1.0), (1.0,), (1.0,))[1] == 1.0
    assert W.grad(lambda x: x * W.jvp(lambda y: x + y, (1.0,), (1.0,))[1])(1.0) == 1.0


def test_third_and_fourth_derivatives_by_real_nesting():
    x = 0.7
    f = lambda x: W.sin(x) * W.exp(x)
    d3 = W.grad(W.grad(W.grad(f)))(x)
    # (sin e^x)''' = 2 e^x (cos x - sin x)
    assert d3 == pytest.approx(2 * math.exp(x) * (math.cos(x) - math.sin(x)), rel=1e-12)
    d4 = W.grad(W.grad(W.grad(W.grad(W.sin))))(0.3)
    assert abs(d4 - W.taylor(W.sin, 0.3, 4)[4]) < 1e-10
    assert abs(d4 - math.sin(0.3)) < 1e-12
    mixed = W.jvp(W.grad(W.derivative(W.sin)), (0.3,), (1.0,))[1]
    assert mixed == pytest.approx(-math.cos(0.3))  # sin''' = -cos


@pytest.mark.parametrize("seed", range(3))
def test_jacfwd_equals_jacrev(seed):
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))

    def f(x):
        return W.tanh(A @ x) * W.exp(B @ x) + W.sum(x**2)

    x = rng.standard_normal(3)
    jf, jr, j = W.jacfwd(f)(x), W.jacrev(f)(x), W.jacobian(f)(x)
    assert jf.shape == (4, 3)
    assert np.allclose(jf, jr) and np.allclose(j, jf)
    h = 1e-6
    num = np.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(3)], axis=1)
    assert np.allclose(jf, num, atol=1e-6)


def test_jacobian_shapes_for_matrix_inputs_and_outputs():
    f = lambda x: W.sin(x) @ np.ones((3, 2))
    x = RNG.standard_normal((4, 3))
    for jac in (W.jacfwd, W.jacrev, W.jacobian):
        J = jac(f)(x)
        assert J.shape == (4, 2, 4, 3)
    assert np.allclose(W.jacfwd(f)(x), W.jacrev(f)(x))


def test_hessian_of_rosenbrock_and_hvp():
    x = RNG.uniform(-1, 1, 6)
    H = W.hessian(rosen)(x)
    assert np.allclose(H, rosen_hessian(x))
    v = RNG.standard_normal(6)
    assert np.allclose(W.hvp(rosen, x, v), H @ v)
    assert np.allclose(W.jacrev(W.jacfwd(rosen))(x), H)
    assert np.allclose(W.jacrev(W.jacrev(rosen))(x), H)


def test_argnums_pytrees_and_aux():
    def f(params, x):
        return W.sum(W.tanh(x @ params["w"] + params["b"]) ** 2), "aux"

    params = {"w": RNG.standard_normal((3, 2)), "b": np.zeros(2)}
    x = RNG.standard_normal((5, 3))
    (_val, aux), g = W.value_and_grad(f, has_aux=True)(params, x)
    assert aux == "aux" and set(g) == {"w", "b"} and g["w"].shape == (3, 2)
    gx = W.grad(lambda p, x: f(p, x)[0], argnums=1)(params, x)
    assert gx.shape == (5, 3)
    gp, gx2 = W.grad(lambda p, x: f(p, x)[0], argnums=(0, 1))(params, x)
    assert np.allclose(gx, gx2) and np.allclose(gp["b"], g["b"])
    lg = W.grad(lambda xs: xs[0] * xs[1] ** 2)([2.0, 3.0])
    assert lg == [9.0, 12.0]


def test_dtypes_are_kept():
    assert W.grad(lambda x: W.sum(W.sin(x)))(np.ones(3)).dtype == np.float64
    assert W.grad(lambda x: W.sum(W.sin(x)))(np.ones(3, np.float32)).dtype == np.float32
    assert W.jacfwd(W.sin)(np.ones(2, np.float32)).dtype == np.float32
    assert isinstance(W.grad(W.sin)(1.0), float)


def test_vjp_and_jvp():
    A = RNG.standard_normal((3, 4))
    f = lambda x: W.tanh(A @ x)
    x = RNG.standard_normal(4)
    out, pull = W.vjp(f, x)
    u = RNG.standard_normal(3)
    (g,) = pull(u)
    J = W.jacfwd(f)(x)
    assert np.allclose(g, u @ J)
    assert np.allclose(pull(u)[0], g)  # vjp_fn can be called again
    v = RNG.standard_normal(4)
    o2, t = W.jvp(f, (x,), (v,))
    assert np.allclose(o2, out) and np.allclose(t, J @ v)


def test_errors():
    with pytest.raises(TypeError, match="jacrev"):
        W.grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(TypeError, match="float"):
        W.grad(lambda x: x * 2)(3)
    with pytest.raises(TypeError, match="float"):
        W.jacfwd(lambda x: x * 2)(np.arange(3))
    with pytest.raises(ValueError, match="argnums"):
        W.grad(lambda x: x, argnums=2)(1.0)
    with pytest.raises(ValueError, match="tangent"):
        W.jvp(W.sin, (np.ones(3),), (np.ones(2),))


def test_closure_over_eager_tensor_stays_on_the_tape():
    w = W.tensor(np.array([1.0, 2.0]), requires_grad=True)
    g = W.grad(lambda x: W.sum(w * x**2))(np.array([3.0, 4.0]))  # 2 w x, a function of w
    assert isinstance(g, W.Tensor) and g.requires_grad
    g.sum().backward()
    assert np.allclose(w.grad.numpy(), [6.0, 8.0])


UNARY = [
    W.exp,
    W.log,
    W.sqrt,
    W.sin,
    W.cos,
    W.tan,
    W.tanh,
    W.sinh,
    W.cosh,
    W.arcsin,
    W.arccos,
    W.arctan,
    W.log1p,
    W.expm1,
    W.sigmoid,
    W.softplus,
    W.erf,
    W.relu,
    W.abs,
    W.neg,
]


@pytest.mark.parametrize("fn", UNARY, ids=lambda f: f.name)
def test_taylor_matches_nested_forward_mode(fn):
    x = 0.37
    coeffs = W.taylor(fn, x, 4)
    d = fn
    for k in range(5):
        if k:
            d = W.derivative(d)
        assert coeffs[k] == pytest.approx(d(x), rel=1e-9, abs=1e-12), k


def test_taylor_of_composites_binary_ops_and_arrays():
    f = lambda x: W.exp(x) * W.tanh(x) / (1 + x * x) - x**2.5 + W.maximum(x, 0.1)
    t = W.taylor(f, 0.3, 4)
    d = f
    for k in range(5):
        assert t[k] == pytest.approx(d(0.3), rel=1e-9)
        d = W.grad(d)
    x = np.array([0.1, 0.2, 0.3])
    t = W.taylor(lambda x: W.sum(W.sin(x) * x), x, 3)
    v = np.ones(3)
    assert t[1] == pytest.approx(W.jvp(lambda x: W.sum(W.sin(x) * x), (x,), (v,))[1])
    A = RNG.standard_normal((2, 3))
    t = W.taylor(lambda x: W.tanh(A @ x)[1], x, 2)
    assert t[2] == pytest.approx(
        W.jvp(lambda y: W.jvp(lambda z: W.tanh(A @ z)[1], (y,), (v,))[1], (x,), (v,))[1]
    )


def test_taylor_unsupported_primitive_is_named():
    with pytest.raises(NotImplementedError, match=r"checkpoint\(f\)"):
        W.taylor(W.checkpoint(W.sin), np.ones(3), 2)


def test_checkpoint_same_values_and_gradients():
    A = RNG.standard_normal((5, 5)) * 0.5

    def block(h):
        return W.tanh(A @ h)

    def f(x, ck):
        h = x
        for _ in range(4):
            h = ck(block)(h) if ck else block(h)
        return W.sum(h**2)

    x = RNG.standard_normal(5)
    assert np.allclose(W.grad(lambda x: f(x, W.checkpoint))(x), W.grad(lambda x: f(x, None))(x))
    assert np.allclose(W.hessian(lambda x: f(x, W.checkpoint))(x), W.hessian(lambda x: f(x, None))(x))
    t = W.tensor(x, requires_grad=True)
    f(t, W.checkpoint).backward()
    assert np.allclose(t.grad.numpy(), W.grad(lambda x: f(x, None))(x))


def test_custom_vjp_composes():
    @W.custom_vjp
    def log1pexp(x):
        return W.log(1 + W.exp(x))

    def fwd(x):
        return log1pexp(x), x

    def bwd(x, g):
        return (g * W.sigmoid(x),)  # stable where the naive rule overflows

    log1pexp.defvjp(fwd, bwd)
    assert W.grad(lambda x: W.sum(log1pexp(x)))(np.array([1000.0]))[0] == 1.0
    check_grads(lambda x: log1pexp(x), np.array([0.3, -1.2]), modes=("rev",), order=2)
    assert W.jvp(log1pexp, (0.5,), (1.0,))[1] == pytest.approx(1 / (1 + math.exp(-0.5)))


def test_custom_jvp_composes():
    @W.custom_jvp
    def f(x):
        return W.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), W.cos(x) * t

    x = np.array([0.3, 0.8])
    assert np.allclose(W.jacfwd(f)(x), np.diag(np.cos(x)))
    assert np.allclose(W.grad(lambda x: W.sum(f(x)))(x), np.cos(x))
    assert np.allclose(W.hessian(lambda x: W.sum(f(x)))(x), np.diag(-np.sin(x)))
