"""Automatic differentiation variational inference (ADVI), checked two ways.

1. A conjugate model, where the posterior is known exactly: an unknown mean theta with a normal prior
   and normal observations of known variance. ADVI's Gaussian should match it.
2. Bayesian logistic regression on scikit-learn's breast-cancer data (569 tumours, 30 standardised
   features, a N(0, 1) prior on the intercept and coefficients). There is no closed form, so the
   reference is Hamiltonian Monte Carlo (`wengert.vi.hmc`), the classical sampler. One log density,
   written for a batch of parameter vectors, serves both.

Needs scikit-learn for part 2 (`pip install scikit-learn`, the `data` extra); without it part 2 is
skipped.

Run: PYTHONPATH=src python examples/advi_demo.py
"""

from __future__ import annotations

import time

import numpy as np

import wengert as w
from wengert.vi import advi, hmc


def conjugate_gaussian(seed: int = 0) -> None:
    """ADVI on theta ~ N(0, tau^2), x_i | theta ~ N(theta, s^2), against the exact posterior."""
    tau, s, n = 2.0, 1.0, 50
    x = np.random.default_rng(seed).normal(1.5, s, n)

    def log_joint(z):
        # z: (num_samples, 1); constants dropped
        theta = z[..., 0]
        return -0.5 * (theta / tau) ** 2 - 0.5 * w.sum((x - z[..., :1]) ** 2, axis=-1) / s**2

    precision = 1 / tau**2 + n / s**2
    exact_mean, exact_std = x.sum() / s**2 / precision, precision**-0.5
    start = time.perf_counter()
    res = advi(log_joint, dim=1, num_samples=10, steps=2000, lr=0.05, seed=seed, batched=True)
    elapsed = time.perf_counter() - start
    print("1. Conjugate Gaussian model: theta ~ N(0, 2^2), 50 observations x_i ~ N(theta, 1)")
    print(f"   exact posterior: mean {exact_mean:.4f}, std {exact_std:.4f}")
    print(f"   ADVI:            mean {res.mean[0]:.4f}, std {res.std[0]:.4f}   ({elapsed:.2f} s)")
    first, last = res.elbo[:100].mean(), res.elbo[-100:].mean()
    print(f"   ELBO: {first:.2f} (mean of the first 100 steps) -> {last:.2f} (last 100)")


def logistic_regression(seed: int = 0) -> None:
    """ADVI against HMC for Bayesian logistic regression on the breast-cancer data."""
    try:
        from sklearn.datasets import load_breast_cancer
    except ImportError:
        print(
            "\n2. Skipped: Bayesian logistic regression needs scikit-learn (pip install scikit-learn)."
        )
        return
    data = load_breast_cancer()
    x = (data.data - data.data.mean(0)) / data.data.std(0)
    y = data.target.astype(np.float64)
    names = ["intercept", *data.feature_names]
    dim = x.shape[1] + 1

    def log_joint(z):
        # z: (..., 31) = (intercept, coefficients): a batch of samples for ADVI, one point for HMC
        logits = z[..., 1:] @ x.T + z[..., :1]
        log_lik = w.sum(y * logits - w.softplus(logits), axis=-1)  # Bernoulli, in the stable form
        return log_lik - 0.5 * w.sum(z * z, axis=-1)

    start = time.perf_counter()
    q = advi(log_joint, dim, num_samples=10, steps=3000, lr=0.05, seed=seed, batched=True)
    t_advi = time.perf_counter() - start
    start = time.perf_counter()
    ref = hmc(log_joint, np.zeros(dim), num_samples=1000, step_size=0.05, num_leapfrog=20, seed=seed)
    t_hmc = time.perf_counter() - start
    hmc_mean, hmc_std = ref.samples.mean(0), ref.samples.std(0)

    print(
        "\n2. Bayesian logistic regression, breast-cancer data (569 x 30, standardised), N(0, 1) prior"
    )
    print(f"   ADVI: 3000 steps x 10 samples                     {t_advi:6.2f} s")
    print(
        f"   HMC:  500 burn-in + 1000 draws x 20 leapfrog steps {t_hmc:6.2f} s "
        f"(acceptance {ref.acceptance_rate:.2f}, step {ref.step_size:.3f})"
    )
    print(f"\n   {'parameter':<22} {'ADVI mean':>10} {'HMC mean':>10} {'ADVI std':>10} {'HMC std':>10}")
    for i in range(6):
        row = f"{q.mean[i]:10.3f} {hmc_mean[i]:10.3f} {q.std[i]:10.3f} {hmc_std[i]:10.3f}"
        print(f"   {names[i]:<22} {row}")
    gap = np.abs(q.mean - hmc_mean) / hmc_std
    print(
        f"\n   over all {dim} parameters: |ADVI mean - HMC mean| is at most {gap.max():.2f} "
        f"posterior std (median {np.median(gap):.2f});"
    )
    print(
        f"   ADVI std / HMC std has median {np.median(q.std / hmc_std):.2f}: the mean-field family "
        "ignores the strong\n   correlations between the features, so it underestimates the spread."
    )


if __name__ == "__main__":
    conjugate_gaussian()
    logistic_regression()
