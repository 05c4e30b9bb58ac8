"""Library behaviours under misuse: no silently wrong values, warnings and errors at the user's line."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import wengert as W

SRC = str(Path(__file__).resolve().parents[1] / "src")


# --- std and norm are sqrt(var) and sqrt(sum of squares), nan included --------------------------------


@pytest.mark.parametrize(
    "x",
    [np.array([1.0, np.nan]), np.array([np.inf, 1.0]), np.array([2.0, 2.0]), np.array([1.0, 4.0, 9.0])],
)
def test_std_is_sqrt_var(x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want_std = np.sqrt(np.var(x))
        np.testing.assert_equal(W.std(x), want_std)
        np.testing.assert_equal(W.norm(x), np.sqrt(np.sum(x * x)))
        np.testing.assert_equal(W.std(W.tensor(x)).numpy(), want_std)


def test_std_over_an_empty_axis_is_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = W.std(np.zeros((0, 3)), axis=0)
    assert got.shape == (3,) and np.all(np.isnan(got))


def test_std_and_norm_gradients_at_zero_spread_stay_zero():
    np.testing.assert_array_equal(W.grad(W.std)(np.ones(3)), np.zeros(3))
    np.testing.assert_array_equal(W.grad(W.norm)(np.zeros(2)), np.zeros(2))
    np.testing.assert_allclose(W.grad(W.norm)(np.array([3.0, 4.0])), [0.6, 0.8])


# --- grad of constants, and the value as f returns it ------------------------------------------------


def test_gradient_of_a_constant_function_is_zero():
    assert W.grad(lambda x: 1.0)(2.0) == 0.0
    np.testing.assert_array_equal(W.grad(lambda x: 3)(np.ones(3)), np.zeros(3))
    v, g = W.value_and_grad(lambda x, y: y * 2.0, argnums=0)(1.0, 5.0)
    assert v == 10.0 and g == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_value_and_grad_keeps_the_dtype_f_returns(dtype):
    x = np.ones(3, dtype=dtype)
    value, g = W.value_and_grad(lambda x: W.sum(x * x))(x)
    assert type(value) is dtype and value == 3 and g.dtype == dtype
    value, _ = W.value_and_grad(lambda x: x * x)(3.0)
    assert type(value) is float and value == 9.0  # Python floats in, a Python float out


# --- concrete values of traced ones would drop the derivative: refused --------------------------------


@pytest.mark.parametrize(
    ("convert", "what"),
    [(float, "float()"), (int, "int()"), (bool, "bool()"), (lambda x: x.item(), "item()")],
)
def test_python_conversion_of_a_traced_value_is_refused(convert, what):
    with pytest.raises(TypeError, match=rf"{what.replace('(', '[(]').replace(')', '[)]')} on a value "
                       r"traced by a function transform.*detach"):  # fmt: skip
        W.grad(lambda x: convert(x) * x)(3.0)
    with pytest.raises(TypeError, match="traced by a function transform"):
        W.jvp(lambda x: convert(x) * x, (3.0,), (1.0,))


def test_conversions_outside_transforms_and_of_detached_values_work():
    t = W.tensor(2.5, requires_grad=True)
    assert float(t) == 2.5 and t.item() == 2.5 and bool(t) and int(t) == 2
    assert W.grad(lambda x: float(x.detach()) * x)(3.0) == 3.0  # dropping it on purpose
    assert W.grad(lambda x: W.where(x > 0, x, -x))(-2.0) == -1.0  # branch the differentiable way


# --- subpackages are attributes of the package ---------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["data", "nn", "optim", "vi", "distributed", "testing", "io", "solvers", "train", "tree"]
)
def test_public_subpackages_are_reachable_after_a_plain_import(name):
    code = f"import wengert; m = wengert.{name}; print(m.__name__)"
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": SRC}
    )
    assert r.returncode == 0 and r.stdout.strip() == f"wengert.{name}", r.stderr


def test_load_mnist_through_the_package_attribute():
    assert W.data.load_mnist()[0].shape == (8000, 784)


# --- numpy's warnings point at the user's line ---------------------------------------------------------


def test_domain_warnings_name_the_users_line():
    t = W.tensor([-1.0, 2.0], requires_grad=True)
    with pytest.warns(RuntimeWarning, match="invalid value encountered in log") as rec:
        W.log(t)
    assert rec[0].filename == __file__
    with pytest.warns(RuntimeWarning, match="in sqrt") as rec:
        W.sqrt(np.array([-4.0]))
    assert rec[0].filename == __file__


def test_users_errstate_is_respected():
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        W.log(W.tensor([-1.0]))  # no warning: the user asked numpy for none
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        W.log(np.array([-1.0]))
