"""Approximate Bayesian inference with gradients by automatic differentiation.

- `advi`: automatic differentiation variational inference with a mean-field Gaussian (Kucukelbir et
  al.): the ELBO's gradient by the reparameterisation trick and `wengert.value_and_grad`, ascended
  with Adam.
- `hmc`: Hamiltonian Monte Carlo, the classical sampler ADVI is compared with; leapfrog gradients by
  `wengert.value_and_grad`, step size tuned during burn-in by dual averaging.

Both take an unnormalised log density written with wengert functions (or numpy ufuncs), so it accepts
wengert Tensors, and both are reproducible given `seed`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import ops
from .optim import Adam
from .tensor import tensor
from .transforms import value_and_grad

__all__ = ["ADVIResult", "HMCResult", "advi", "hmc"]

_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class ADVIResult:
    """A fitted mean-field Gaussian q(z) = N(mean, diag(std**2)).

    `elbo` holds the Monte-Carlo ELBO estimate of every step (noisy; plot or smooth it to judge
    convergence).
    """

    mean: np.ndarray
    std: np.ndarray
    elbo: np.ndarray

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """n draws from q, shape (n, dim)."""
        rng = np.random.default_rng(seed)
        return self.mean + self.std * rng.standard_normal((n, len(self.mean)))


@dataclass(frozen=True)
class HMCResult:
    """Draws from `hmc`: `samples` of shape (num_samples, *x0.shape), the fraction of proposals
    accepted after burn-in, and the step size used after burn-in."""

    samples: np.ndarray
    acceptance_rate: float
    step_size: float


def advi(
    log_joint: Callable[[Any], Any],
    dim: int,
    num_samples: int = 10,
    steps: int = 2000,
    lr: float = 0.05,
    seed: int | None = None,
    *,
    batched: bool = True,
    init_mean: Any = None,
    init_std: float = 1.0,
    average: float = 0.1,
) -> ADVIResult:
    """Fit q(z) = N(mu, diag(sigma**2)) to the posterior p(z | data) ∝ exp(log_joint(z)) by ADVI.

    Maximises the evidence lower bound ELBO(mu, log sigma) = E_q[log_joint(z)] + H[q], with the
    Gaussian entropy H[q] = sum(log sigma) + dim/2 (1 + log 2 pi) in closed form and the expectation
    estimated from `num_samples` draws z = mu + sigma * eps, eps ~ N(0, I), per step. The estimate is
    differentiated with respect to (mu, log sigma) by reverse mode (the reparameterisation gradient)
    and ascended with Adam at learning rate `lr` for `steps` steps.

    `log_joint` receives, with `batched=True` (the default, much faster), a Tensor of shape
    (num_samples, dim) and must return the num_samples log densities, shape (num_samples,); write it
    with `axis=-1` reductions and `z[..., i]` indexing and the same function also serves `hmc`. With
    `batched=False` it receives one sample of shape (dim,) and returns a scalar.

    The returned mean and std are averages of the iterates (mu and log sigma) over the last `average`
    fraction of the steps (Polyak-Ruppert averaging), which removes most of the jitter that a constant
    learning rate leaves in the final iterate. Raises FloatingPointError if the ELBO estimate stops
    being finite (usually a learning rate too large for the model's scale).
    """
    if dim < 1 or num_samples < 1 or steps < 1:
        raise ValueError(
            f"advi: dim, num_samples and steps must be positive; got {dim}, {num_samples}, {steps}"
        )
    rng = np.random.default_rng(seed)
    mu = np.zeros(dim) if init_mean is None else np.array(init_mean, dtype=np.float64).reshape(dim)
    omega = np.full(dim, math.log(init_std))
    entropy_const = 0.5 * dim * (1 + _LOG_2PI)

    def elbo(mu, omega, eps):
        z = mu + ops.exp(omega) * eps
        if batched:
            lp = log_joint(z)
            if np.shape(lp) != (num_samples,):
                raise ValueError(
                    f"advi: with batched=True log_joint must return shape ({num_samples},) for "
                    f"samples of shape {tuple(np.shape(z))}; it returned shape {np.shape(lp)}"
                )
        else:
            lp = ops.stack([log_joint(z[s]) for s in range(num_samples)])
        return ops.mean(lp) + ops.sum(omega) + entropy_const

    value_grad = value_and_grad(elbo, argnums=(0, 1))
    params = [tensor(mu, requires_grad=True), tensor(omega, requires_grad=True)]
    adam = Adam(params, lr=lr)  # ascent on the ELBO: the optimizer descends on its negative
    mu, omega = (p.numpy() for p in params)  # updated in place by the optimizer
    trace = np.empty(steps)
    keep = max(1, math.ceil(average * steps))
    mu_sum, omega_sum = np.zeros(dim), np.zeros(dim)
    for t in range(steps):
        eps = rng.standard_normal((num_samples, dim))
        value, (g_mu, g_omega) = value_grad(mu, omega, eps)
        if not math.isfinite(value):
            raise FloatingPointError(
                f"advi: the ELBO estimate is {value} at step {t}; try a smaller lr (now {lr}) or "
                "check log_joint at the current mean"
            )
        trace[t] = value
        params[0].grad, params[1].grad = -g_mu, -g_omega
        adam.step()
        if t >= steps - keep:
            mu_sum += mu
            omega_sum += omega
    return ADVIResult(mean=mu_sum / keep, std=np.exp(omega_sum / keep), elbo=trace)


def hmc(
    log_prob: Callable[[Any], Any],
    x0: Any,
    num_samples: int = 1000,
    step_size: float = 0.1,
    num_leapfrog: int = 20,
    seed: int | None = None,
    burn_in: int = 500,
    *,
    adapt_step_size: bool = True,
    target_accept: float = 0.8,
    inv_mass: Any = None,
) -> HMCResult:
    """Draws from the density ∝ exp(log_prob(x)) by Hamiltonian Monte Carlo.

    Each draw resamples a momentum p ~ N(0, M), follows the Hamiltonian -log_prob(x) + p.M^{-1}p/2
    for `num_leapfrog` leapfrog steps of length `step_size` (jittered by +-10% to avoid periodic
    orbits), with the gradient of log_prob by reverse mode, and accepts the end point by the
    Metropolis rule. `log_prob` receives a Tensor of x0's shape and returns a scalar.

    The first `burn_in` draws are discarded; during them, with `adapt_step_size`, the step size is
    tuned by dual averaging (Hoffman and Gelman, NUTS, section 3.2) towards the acceptance rate
    `target_accept`, starting from `step_size`. `inv_mass` is the diagonal of the inverse mass
    matrix M^{-1} (default ones): set it to rough posterior variances when scales differ widely.
    """
    if num_samples < 1 or num_leapfrog < 1 or step_size <= 0 or burn_in < 0:
        raise ValueError(
            "hmc: num_samples and num_leapfrog must be positive, step_size > 0, burn_in >= 0"
        )
    rng = np.random.default_rng(seed)
    x = np.array(x0, dtype=np.float64)
    inv_m = (
        np.ones_like(x) if inv_mass is None else np.broadcast_to(np.asarray(inv_mass, float), x.shape)
    )
    value_grad = value_and_grad(log_prob)

    def evaluate(x):
        lp, g = value_grad(x)
        return float(lp), np.asarray(g, dtype=np.float64)

    lp, g = evaluate(x)
    if not math.isfinite(lp):
        raise ValueError(f"hmc: log_prob(x0) is {lp}; start where the density is positive")

    # dual averaging state (Hoffman and Gelman's constants)
    log_eps = math.log(step_size)
    mu_da, h_bar, log_eps_bar = math.log(10 * step_size), 0.0, 0.0
    gamma, t0, kappa = 0.05, 10.0, 0.75

    samples = np.empty((num_samples,) + x.shape)
    accepted = 0
    for i in range(burn_in + num_samples):
        eps = math.exp(log_eps) * rng.uniform(0.9, 1.1)
        p = rng.standard_normal(x.shape) / np.sqrt(inv_m)
        h0 = -lp + 0.5 * float(np.sum(p * p * inv_m))
        x_new, lp_new, g_new = x, lp, g
        p_new = p + 0.5 * eps * g
        for step in range(num_leapfrog):
            x_new = x_new + eps * inv_m * p_new
            lp_new, g_new = evaluate(x_new)
            if not math.isfinite(lp_new):
                break  # diverged: the proposal is rejected below
            p_new = p_new + (eps if step < num_leapfrog - 1 else 0.5 * eps) * g_new
        h1 = -lp_new + 0.5 * float(np.sum(p_new * p_new * inv_m))
        log_ratio = h0 - h1
        accept_prob = math.exp(min(0.0, log_ratio)) if math.isfinite(log_ratio) else 0.0
        if rng.uniform() < accept_prob:
            x, lp, g = x_new, lp_new, g_new
            if i >= burn_in:
                accepted += 1
        if i < burn_in and adapt_step_size:
            m = i + 1
            h_bar = (1 - 1 / (m + t0)) * h_bar + (target_accept - accept_prob) / (m + t0)
            log_eps = mu_da - math.sqrt(m) / gamma * h_bar
            w = m**-kappa
            log_eps_bar = w * log_eps + (1 - w) * log_eps_bar
            if m == burn_in:
                log_eps = log_eps_bar  # sample with the averaged step size
        if i >= burn_in:
            samples[i - burn_in] = x
    return HMCResult(
        samples=samples, acceptance_rate=accepted / num_samples, step_size=math.exp(log_eps)
    )
