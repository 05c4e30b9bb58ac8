"""Tests for wengert.solvers: Newton root finding and Newton minimisation with AD derivatives."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import wengert as w
from wengert.solvers import ConvergenceError, MinimizeResult, NewtonResult, minimize_newton, newton

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def iv():
    return _load_example("implied_volatility")


# --- newton: roots -----------------------------------------------------------------------------


def test_cubic_root():
    res = newton(lambda x: x**3 - 2 * x - 5, 2.0)
    assert isinstance(res, NewtonResult)
    assert isinstance(res.x, float)
    assert abs(res.x - 2.0945514815423265) < 1e-12
    assert res.residual <= 1e-10
    assert 1 <= res.iterations <= 6


def test_result_unpacks():
    x, fun, residual, iterations = newton(lambda x: w.cos(x) - x, 1.0)
    assert abs(x - math.cos(x)) < 1e-12
    assert fun == pytest.approx(math.cos(x) - x, abs=1e-15)
    assert residual == abs(fun)
    assert iterations > 0


def test_integer_start_and_numpy_ufuncs():
    res = newton(lambda x: np.exp(x) - 2.0, 1)
    assert abs(res.x - math.log(2.0)) < 1e-12


def test_system_matches_analytic_root():
    # x^2 + y^2 = 4, x y = 1: (x + y)^2 = 6, (x - y)^2 = 2
    exact = np.array([(math.sqrt(6) + math.sqrt(2)) / 2, (math.sqrt(6) - math.sqrt(2)) / 2])
    res = newton(lambda v: w.stack([v[0] ** 2 + v[1] ** 2 - 4, v[0] * v[1] - 1]), np.array([2.0, 0.5]))
    assert isinstance(res.x, np.ndarray) and res.x.shape == (2,)
    np.testing.assert_allclose(res.x, exact, atol=1e-12)
    assert res.fun.shape == (2,)


def test_system_as_list_of_equations():
    res = newton(lambda v: [v[0] ** 2 + v[1] ** 2 - 4, v[0] * v[1] - 1], [2.0, 0.5])
    np.testing.assert_allclose(res.x[0] * res.x[1], 1.0, atol=1e-12)


def test_larger_system_reverse_or_forward_jacobian():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6)) + 6 * np.eye(6)
    b = rng.standard_normal(6)
    res = newton(lambda x: a @ x + 0.1 * x**3 - b, np.zeros(6))
    np.testing.assert_allclose(a @ res.x + 0.1 * res.x**3, b, atol=1e-10)


def test_start_at_root_takes_no_step():
    # x^2 has a zero derivative at 0, but 0 is already a root
    res = newton(lambda x: x**2, 0.0)
    assert res.x == 0.0 and res.iterations == 0


def test_does_not_modify_start():
    x0 = np.array([2.0, 0.5])
    newton(lambda v: [v[0] ** 2 + v[1] ** 2 - 4, v[0] * v[1] - 1], x0)
    assert x0.tolist() == [2.0, 0.5]


# --- newton: failures ----------------------------------------------------------------------------


def test_no_root_raises_with_details():
    with pytest.raises(ConvergenceError) as info:
        newton(lambda x: x**2 + 1, 0.5, maxiter=30)
    err = info.value
    assert isinstance(err, RuntimeError)
    assert err.iterations == 30
    assert err.residual >= 1.0
    assert isinstance(err.x, float)
    assert err.reason == "no convergence"
    assert "iteration 30" in str(err) and "residual" in str(err)


def test_zero_derivative_raises():
    with pytest.raises(ConvergenceError, match="zero derivative") as info:
        newton(lambda x: x**2 - 1, 0.0)
    assert info.value.iterations == 0
    assert info.value.residual == 1.0
    assert info.value.x == 0.0


def test_singular_jacobian_raises():
    with pytest.raises(ConvergenceError, match="singular") as info:
        newton(lambda v: w.stack([v[0] + v[1] - 1, 2 * v[0] + 2 * v[1] - 3]), np.zeros(2))
    assert info.value.residual > 0


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_non_finite_value_raises():
    with pytest.raises(ConvergenceError, match="not finite"):
        newton(lambda x: w.exp(x) - 1, 1000.0)


def test_wrong_output_size():
    with pytest.raises(ValueError, match="square"):
        newton(lambda v: w.stack([v[0], v[1], v[0] * v[1]]), np.ones(2))
    with pytest.raises(ValueError, match="one number"):
        newton(lambda x: w.stack([x, x]), 1.0)


# --- implied volatility (pricing code from examples/implied_volatility.py) -------------------------


def test_ndtr_and_its_derivative(iv):
    xs = np.linspace(-12, 12, 2401)
    exact = np.array([0.5 * math.erfc(-x / math.sqrt(2)) for x in xs])
    assert np.max(np.abs(iv.ndtr(xs) - exact)) < 1e-14
    density = w.grad(iv.ndtr)
    for x in (-3.0, -0.5, 0.0, 1.3, 4.0):
        assert density(x) == pytest.approx(math.exp(-x * x / 2) / math.sqrt(2 * math.pi), abs=1e-13)


def test_implied_volatility_black_scholes(iv):
    s, k, t, r = 100.0, 110.0, 0.5, 0.03
    price = float(iv.bs_call(s, k, t, r, 0.25))
    res = iv.implied_vol_newton(lambda sigma: iv.bs_call(s, k, t, r, sigma), price, x0=0.5)
    assert abs(res.x - 0.25) < 1e-8


def test_implied_volatility_binomial_tree(iv):
    s, k, t, r = 100.0, 95.0, 1.0, 0.02
    price_fn = lambda sigma: iv.crr_price(s, k, t, r, sigma, steps=100, put=True, american=True)
    res = iv.implied_vol_newton(price_fn, float(price_fn(0.25)), x0=0.4)
    assert abs(res.x - 0.25) < 1e-8


# --- minimize_newton -------------------------------------------------------------------------------


def rosenbrock(v):
    return (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2


def test_rosenbrock():
    res = minimize_newton(rosenbrock, np.array([-1.2, 1.0]))
    assert isinstance(res, MinimizeResult)
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-6)
    assert res.grad_norm <= 1e-8
    assert res.fun < 1e-12
    assert res.iterations < 50


def test_quadratic_in_one_step():
    a = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.0], [0.5, 0.0, 2.0]])
    b = np.array([1.0, -2.0, 0.5])
    res = minimize_newton(lambda x: 0.5 * x @ (a @ x) - b @ x + 7.0, np.array([10.0, -3.0, 5.0]))
    assert res.iterations == 1
    np.testing.assert_allclose(res.x, np.linalg.solve(a, b), atol=1e-12)


def test_indefinite_hessian_at_start():
    # f'' < 0 at 0.1: the damped direction still descends, to a minimum at +-1/sqrt(2)
    res = minimize_newton(lambda x: x**4 - x**2, 0.1)
    assert isinstance(res.x, float)
    assert abs(abs(res.x) - 1 / math.sqrt(2)) < 1e-8


def test_matrix_shaped_argument():
    target = np.arange(6.0).reshape(2, 3)
    res = minimize_newton(lambda x: w.sum((x - target) ** 2) + w.sum(x**4) * 1e-3, np.zeros((2, 3)))
    assert res.x.shape == (2, 3)
    assert res.grad_norm <= 1e-8


def test_unbounded_raises():
    with pytest.raises(ConvergenceError) as info:
        minimize_newton(lambda x: x[0] + 0 * x[1], np.zeros(2), maxiter=20)
    assert info.value.iterations == 20
    assert info.value.residual == pytest.approx(1.0)
    assert info.value.x.shape == (2,)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_non_finite_minimize_raises():
    with pytest.raises(ConvergenceError, match="not finite"):
        minimize_newton(lambda x: w.exp(x * x), 100.0)
