"""Tests for wengert.uncertainty: linear error propagation by forward mode, against the `uncertainties`
package (an optional oracle) and Monte Carlo."""

import math

import numpy as np
import pytest

import wengert as w
from wengert.uncertainty import (
    Uncertain,
    correlated,
    correlation,
    covariance,
    nominal,
    std_dev,
    uncertain,
)


def test_documented_values():
    # the values printed in the uncertainties package's documentation for x = 1 +/- 0.1
    x = uncertain(1.0, 0.1)
    y = w.sin(2 * x)
    assert y.nominal_value == 0.9092974268256817
    assert y.std_dev == pytest.approx(0.08322936730942848, rel=1e-15)
    assert (x**2).std_dev == pytest.approx(0.2, rel=1e-15)
    assert repr(x) == "1.0+/-0.1"


def test_correlations_cancel():
    x = uncertain(1.0, 0.1)
    assert (x - x).std_dev == 0.0
    assert (x**2 - x * x).std_dev == 0.0
    assert (2 * x - x).std_dev == pytest.approx(0.1)
    y = uncertain(2.0, 0.2)  # independent of x
    assert (x + y).std_dev == pytest.approx(math.hypot(0.1, 0.2))


def test_linear_functions_exact():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4))
    mean = rng.standard_normal(4)
    c = rng.standard_normal((4, 4))
    cov = c @ c.T
    x = correlated(mean, cov)
    y = a @ x + 1.0
    np.testing.assert_allclose(y.nominal_value, a @ mean + 1.0, rtol=1e-12)
    np.testing.assert_allclose(covariance([y]), a @ cov @ a.T, rtol=1e-10)
    np.testing.assert_allclose(covariance([x]), cov, rtol=1e-10, atol=1e-12)
    # cross-covariance of outputs with inputs
    np.testing.assert_allclose(covariance([x, y])[:4, 4:], cov @ a.T, rtol=1e-10, atol=1e-12)


def test_matches_monte_carlo_for_small_errors():
    rng = np.random.default_rng(1)
    mean = np.array([1.2, 0.7, 2.0])
    std = np.array([0.01, 0.02, 0.015])

    def f(v):
        return w.stack([w.exp(v[0]) * w.sin(v[1]), v[2] ** 2 / v[0], w.logsumexp(v)])

    out = f(uncertain(mean, std))
    draws = mean + std * rng.standard_normal((200_000, 3))
    mc = np.stack(
        [
            np.exp(draws[:, 0]) * np.sin(draws[:, 1]),
            draws[:, 2] ** 2 / draws[:, 0],
            np.log(np.sum(np.exp(draws), axis=1)),
        ],
        axis=1,
    )
    np.testing.assert_allclose(out.std_dev, mc.std(axis=0), rtol=0.02)
    np.testing.assert_allclose(correlation([out]), np.corrcoef(mc.T), atol=0.02)
    np.testing.assert_allclose(out.nominal_value, mc.mean(axis=0), rtol=1e-3)


def test_arrays_through_structural_primitives():
    x = uncertain([1.0, 2.0, 3.0], [0.1, 0.2, 0.3])
    s = w.sum(x**2)
    assert s.nominal_value == 14.0
    assert s.std_dev == pytest.approx(
        math.sqrt(sum((2 * v * e) ** 2 for v, e in [(1, 0.1), (2, 0.2), (3, 0.3)]))
    )
    assert x[1].std_dev == pytest.approx(0.2)
    p = w.softmax(x)
    assert isinstance(p, Uncertain) and p.std_dev.shape == (3,)
    assert w.sum(p).std_dev == pytest.approx(0.0, abs=1e-15)  # softmax sums to exactly 1
    m = w.reshape(x, (3, 1)) * w.reshape(x, (1, 3))
    assert m.std_dev.shape == (3, 3) and covariance([m]).shape == (9, 9)


def test_numpy_ufuncs_and_plain_values():
    x = uncertain(0.5, 0.01)
    assert np.exp(x).std_dev == pytest.approx(math.exp(0.5) * 0.01)
    assert nominal(3.0) == 3.0 and std_dev(3.0) == 0.0
    assert nominal(x) == 0.5 and std_dev(x) == 0.01


def test_transforms_on_top():
    x = uncertain(2.0, 0.1)
    g = w.grad(lambda t: t**2 * x)(3.0)  # d/dt = 2 t x: carries x's error
    assert g.nominal_value == 12.0 and g.std_dev == pytest.approx(0.6)
    # the derivative of an uncertain function with respect to an ordinary variable
    h = w.grad(lambda t: w.sin(t * x))(1.0)
    assert h.nominal_value == pytest.approx(2 * math.cos(2.0))


def test_error_components():
    x = uncertain(1.0, 0.1)
    y = uncertain(2.0, 0.2)
    comps = (x * y).error_components()
    assert sorted(float(np.abs(c).sum()) for c in comps.values()) == pytest.approx([0.2, 0.2])


def test_bad_input():
    with pytest.raises(ValueError, match="std must be >= 0"):
        uncertain(1.0, -0.1)
    with pytest.raises(ValueError, match="std of shape"):
        uncertain([1.0, 2.0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="must be finite"):
        uncertain(math.nan, 0.1)
    with pytest.raises(ValueError, match="positive semi-definite"):
        correlated([1.0, 2.0], [[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="symmetric"):
        correlated([1.0, 2.0], [[1.0, 0.5], [0.2, 1.0]])
    with pytest.raises(ValueError, match=r"values must be a vector \(n,\) and cov \(n, n\)"):
        correlated([1.0, 2.0], np.eye(3))


# --- the uncertainties package as an oracle (optional) --------------------------------------------


def test_against_uncertainties_package():
    unc = pytest.importorskip("uncertainties")
    from uncertainties import umath

    ux, uy = unc.ufloat(1.5, 0.1), unc.ufloat(-0.4, 0.05)
    x, y = uncertain(1.5, 0.1), uncertain(-0.4, 0.05)
    cases = [
        (ux * uy + ux**3, x * y + x**3),
        (umath.exp(ux) / (1 + uy**2), w.exp(x) / (1 + y**2)),
        (umath.atan(ux * uy) - umath.sqrt(ux), w.arctan(x * y) - w.sqrt(x)),
        (umath.log(ux) * umath.tanh(uy), w.log(x) * w.tanh(y)),
        (ux**uy, x**y),
    ]
    for theirs, ours in cases:
        assert ours.nominal_value == pytest.approx(theirs.nominal_value, rel=1e-14)
        assert ours.std_dev == pytest.approx(theirs.std_dev, rel=1e-12)
    a, b = cases[0][0], cases[1][0]
    np.testing.assert_allclose(
        covariance([cases[0][1], cases[1][1]]), unc.covariance_matrix([a, b]), rtol=1e-12
    )
    # correlated inputs: the documented correlated_values example
    cov = [[1.0, 0.5, 0.2], [0.5, 2.0, 0.3], [0.2, 0.3, 3.0]]
    uu = unc.correlated_values([1.0, 10.0, 11.0], cov)
    vv = correlated([1.0, 10.0, 11.0], cov)
    theirs = [uu[0] * uu[1] - uu[2], umath.sin(uu[0]) + uu[2] ** 2]
    ours = [vv[0] * vv[1] - vv[2], w.sin(vv[0]) + vv[2] ** 2]
    np.testing.assert_allclose(covariance(ours), unc.covariance_matrix(theirs), rtol=1e-10)
