"""Tests for wengert.least_squares: NIST StRD certified values, scipy's result fields, clear failures."""

import math

import numpy as np
import pytest

import wengert as w
from wengert.data import nist
from wengert.solvers import ConvergenceError, LeastSquaresResult, least_squares

PROBLEMS = [(name, k) for name in nist.LOWER + nist.AVERAGE for k in (0, 1)]


@pytest.mark.parametrize(("name", "start"), PROBLEMS)
def test_nist_certified_values_from_both_starts(name, start):
    p = nist.load(name)
    res = least_squares(p.residual, p.start[start])  # default settings, no tuning per problem
    assert res.success, res.message
    rel = np.abs(res.x - p.certified) / np.abs(p.certified)
    assert np.max(rel) < 1e-6, f"{name} start {start + 1}: {res.x} vs {p.certified}"
    assert 2 * res.cost == pytest.approx(p.rss, rel=1e-6, abs=1e-20)


def test_nist_files_parse():
    p = nist.load("Nelson")
    assert p.x.shape == (128, 2) and p.y.shape == (128,) and len(p.certified) == 3
    assert p.difficulty == "average"
    p = nist.load("Misra1a")
    np.testing.assert_array_equal(p.start[0], [500, 1e-4])
    assert p.certified[0] == 2.3894212918e02 and p.rss == 1.2455138894e-01
    with pytest.raises(ValueError, match="unknown problem 'Nope'"):
        nist.load("Nope")


def _exp_fit():
    t = np.linspace(0, 3, 20)
    y = 2.5 * np.exp(-1.3 * t) + 0.5
    return t, y, lambda b: b[0] * w.exp(-b[1] * t) + b[2] - y


def test_result_fields_like_scipy():
    t, _, r = _exp_fit()
    res = least_squares(r, [1.0, 1.0, 0.0])
    assert isinstance(res, LeastSquaresResult)
    np.testing.assert_allclose(res.x, [2.5, 1.3, 0.5], rtol=1e-10)
    assert res.fun.shape == (20,) and res.jac.shape == (20, 3)
    np.testing.assert_allclose(res.grad, res.jac.T @ res.fun, atol=1e-14)
    assert res.optimality == np.max(np.abs(res.grad))
    assert res.cost == pytest.approx(0.5 * res.fun @ res.fun, abs=1e-30)
    assert res.nfev >= res.njev >= 1 and res.status in (1, 2, 3, 4) and res.message
    assert res.rank == 3 and res.iterations >= 1
    np.testing.assert_array_equal(res.active_mask, [0, 0, 0])
    # the AD Jacobian at the solution against the analytic one
    b = res.x
    analytic = np.stack([np.exp(-b[1] * t), -b[0] * t * np.exp(-b[1] * t), np.ones_like(t)], axis=1)
    np.testing.assert_allclose(res.jac, analytic, rtol=1e-12, atol=1e-14)
    assert "converged" in res.report()


def test_matches_scipy():
    optimize = pytest.importorskip("scipy.optimize")
    p = nist.load("Misra1b")
    ours = least_squares(p.residual, p.start[0])
    theirs = optimize.least_squares(
        lambda b: np.asarray(p.residual(b)), p.start[0], method="lm", ftol=1e-15, xtol=1e-15,
        gtol=1e-15, max_nfev=10000,
    )  # fmt: skip
    np.testing.assert_allclose(ours.x, theirs.x, rtol=1e-7)
    assert ours.cost == pytest.approx(theirs.cost, rel=1e-10)


def test_forward_and_reverse_jacobians_agree():
    _, _, r = _exp_fit()
    a = least_squares(r, [1.0, 1.0, 0.0], jac="forward")
    b = least_squares(r, [1.0, 1.0, 0.0], jac="reverse")
    np.testing.assert_allclose(a.jac, b.jac, rtol=1e-14)
    np.testing.assert_allclose(a.x, b.x, rtol=1e-12)


def test_more_unknowns_than_residuals_uses_reverse_mode():
    # 2 equations, 5 unknowns: LM finds a zero-residual point of the underdetermined system
    res = least_squares(lambda v: w.stack([w.sum(v**2) - 1.0, v[0] - v[1]]), np.full(5, 0.3))
    assert res.success and res.cost < 1e-25


def test_gauss_newton():
    _, _, r = _exp_fit()
    res = least_squares(r, [1.0, 1.0, 0.0], method="gn")
    np.testing.assert_allclose(res.x, [2.5, 1.3, 0.5], rtol=1e-10)
    p = nist.load("Misra1a")
    res = least_squares(p.residual, p.start[1], method="gn")
    np.testing.assert_allclose(res.x, p.certified, rtol=1e-6)


def test_list_of_residuals_and_matrix_unknowns():
    res = least_squares(
        lambda v: [v[0, 0] - 1, v[0, 1] + 2, v[1, 0] * v[1, 1] - 6, v[1, 1] - 3], np.ones((2, 2))
    )
    assert res.x.shape == (2, 2)
    np.testing.assert_allclose(res.x, [[1, -2], [2, 3]], atol=1e-10)


def test_rank_deficient_jacobian():
    # the residual depends on a + b only: LM still converges, reports rank 1; GN refuses
    r = lambda v: w.stack([v[0] + v[1] - 2.0, 2 * (v[0] + v[1]) - 4.0])
    res = least_squares(r, [0.0, 0.0])
    assert res.success and res.cost < 1e-25 and res.rank == 1
    with pytest.raises(ConvergenceError, match="singular Jacobian"):
        least_squares(r, [0.0, 0.0], method="gn")


def test_non_finite_residual_at_start():
    with pytest.raises(ValueError, match="residual at x0 is not finite"):
        least_squares(lambda v: w.log(v), [-1.0, 2.0])


def test_steps_out_of_domain_are_rejected():
    # sqrt(b) - 1 with a far start: trial steps to b < 0 give nan residuals and are rejected
    res = least_squares(lambda b: w.sqrt(b) - w.stack([1.0, 2.0]), [50.0, 0.01])
    np.testing.assert_allclose(res.x, [1.0, 4.0], rtol=1e-10)


def test_evaluation_limit_is_reported():
    p = nist.load("MGH17")
    res = least_squares(p.residual, p.start[0], max_nfev=5)
    assert not res.success and res.status == 0 and "maximum number" in res.message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "trf"}, "method must be 'lm' or 'gn'"),
        ({"jac": "numeric"}, "jac must be"),
        ({"ftol": -1.0}, "ftol must be a number"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        least_squares(lambda v: v - 1.0, [0.0], **kwargs)


def test_bad_start():
    with pytest.raises(ValueError, match="starting point must be finite"):
        least_squares(lambda v: v, [math.nan])
    with pytest.raises(ValueError, match="'gn' needs at least as many residuals"):
        least_squares(lambda v: w.sum(v), [1.0, 2.0], method="gn")


def test_verbose_prints_report(capsys):
    _, _, r = _exp_fit()
    least_squares(r, [1.0, 1.0, 0.0], verbose=2)
    out = capsys.readouterr().out
    assert "accepted" in out and "converged" in out
