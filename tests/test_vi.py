"""Tests for wengert.vi: ADVI against analytic posteriors, HMC against known Gaussians."""

import numpy as np
import pytest

import wengert as w
from wengert.vi import ADVIResult, HMCResult, advi, hmc

# Conjugate model: theta ~ N(0, 2^2), x_i | theta ~ N(theta, 1), i = 1..20.
DATA = np.random.default_rng(0).normal(1.5, 1.0, 20)
PRIOR_VAR = 4.0
POST_PREC = 1 / PRIOR_VAR + len(DATA)
POST_MEAN = DATA.sum() / POST_PREC
POST_STD = POST_PREC**-0.5


def log_joint(z):
    """log p(theta, data) up to a constant, for z of shape (..., 1)."""
    theta = z[..., 0]
    return -0.5 * theta**2 / PRIOR_VAR - 0.5 * w.sum((DATA - z[..., :1]) ** 2, axis=-1)


def test_advi_conjugate_gaussian():
    res = advi(log_joint, dim=1, seed=0)
    assert isinstance(res, ADVIResult)
    assert abs(res.mean[0] - POST_MEAN) < 0.05
    assert abs(res.std[0] / POST_STD - 1) < 0.2
    assert res.elbo.shape == (2000,)
    assert np.all(np.isfinite(res.elbo))
    # the family contains the posterior, so the ELBO rises to the log evidence (of the unnormalised
    # log_joint): log of the integral of exp(-a theta^2 / 2 + b theta - c)
    a, b, c = POST_PREC, DATA.sum(), 0.5 * np.sum(DATA**2)
    log_evidence = b**2 / (2 * a) - c + 0.5 * np.log(2 * np.pi / a)
    assert res.elbo[:50].mean() < log_evidence - 2
    assert abs(res.elbo[-200:].mean() - log_evidence) < 0.1


def test_advi_unbatched_agrees():
    res = advi(log_joint, dim=1, num_samples=5, steps=600, lr=0.1, seed=1, batched=False)
    assert abs(res.mean[0] - POST_MEAN) < 0.05
    assert abs(res.std[0] / POST_STD - 1) < 0.2


def test_advi_independent_gaussian_target():
    mean, std = np.array([1.0, -2.0, 0.5]), np.array([0.5, 2.0, 1.0])
    res = advi(lambda z: -0.5 * w.sum(((z - mean) / std) ** 2, axis=-1), dim=3, seed=3)
    np.testing.assert_allclose(res.mean, mean, atol=0.1)
    np.testing.assert_allclose(res.std, std, rtol=0.15)


def test_advi_seeded_reproducible():
    a = advi(log_joint, dim=1, steps=100, seed=7)
    b = advi(log_joint, dim=1, steps=100, seed=7)
    assert np.array_equal(a.elbo, b.elbo) and np.array_equal(a.mean, b.mean)


def test_advi_sample():
    res = advi(log_joint, dim=1, steps=300, seed=0)
    draws = res.sample(20000, seed=0)
    assert draws.shape == (20000, 1)
    assert abs(draws.mean() - res.mean[0]) < 0.02


def test_advi_checks_batched_shape():
    with pytest.raises(ValueError, match="batched"):
        advi(lambda z: w.sum(z), dim=2, steps=5, seed=0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_advi_non_finite_elbo_raises():
    with pytest.raises(FloatingPointError, match="lr"):
        advi(lambda z: w.sum(w.log(z), axis=-1), dim=1, steps=5, seed=0)


COV = np.array([[1.0, 0.8], [0.8, 2.0]])
MEAN = np.array([1.0, -2.0])
PREC = np.linalg.inv(COV)


def gauss_log_prob(x):
    d = x - MEAN
    return -0.5 * d @ (PREC @ d)


def test_hmc_recovers_gaussian():
    res = hmc(gauss_log_prob, np.zeros(2), num_samples=2000, step_size=0.5, num_leapfrog=10, seed=1)
    assert isinstance(res, HMCResult)
    assert res.samples.shape == (2000, 2)
    assert 0.6 < res.acceptance_rate <= 1.0
    np.testing.assert_allclose(res.samples.mean(0), MEAN, atol=0.15)
    np.testing.assert_allclose(np.cov(res.samples.T), COV, atol=0.25)


def test_hmc_fixed_step_and_reproducible():
    kw = dict(num_samples=200, step_size=0.3, num_leapfrog=5, seed=4, burn_in=50, adapt_step_size=False)
    a, b = hmc(gauss_log_prob, np.zeros(2), **kw), hmc(gauss_log_prob, np.zeros(2), **kw)
    assert np.array_equal(a.samples, b.samples)
    assert a.step_size == pytest.approx(0.3)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_hmc_rejects_bad_start():
    with pytest.raises(ValueError, match="log_prob"):
        hmc(lambda x: w.sum(w.log(x)), np.array([0.0, 1.0]), num_samples=5)
