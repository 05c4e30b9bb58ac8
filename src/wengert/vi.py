"""Approximate Bayesian inference with gradients by automatic differentiation.

- `advi`: automatic differentiation variational inference (Kucukelbir, Tran, Ranganath, Gelman and
  Blei, "Automatic Differentiation Variational Inference", JMLR 2017). The model is a log density
  written for one draw of its latent variables; latents with constrained supports (positive, an
  interval, the simplex) are mapped to R^K by fixed bijections, the log-Jacobian of the inverse map is
  added to the density, and a Gaussian in R^K — mean-field or full-rank — is fitted by ascending a
  Monte-Carlo estimate of the ELBO whose gradient comes from the reparameterisation trick and
  `wengert.value_and_grad`. Convergence is monitored on the relative change of the ELBO.
- `hmc`: Hamiltonian Monte Carlo, the classical sampler ADVI is compared with; leapfrog gradients by
  `wengert.value_and_grad`, step size tuned during burn-in by dual averaging.

Both take an unnormalised log density written with wengert functions (or numpy ufuncs), so it accepts
wengert Tensors, and both are reproducible given `seed`. `unconstrained(log_density, latents)` gives
the density ADVI works with (a function of a flat vector on R^K), which `hmc` can sample too.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import ops
from .core.trace import raw
from .optim import Adam
from .tensor import tensor
from .transforms import value_and_grad

__all__ = [
    "ADVIResult",
    "HMCResult",
    "Latents",
    "advi",
    "hmc",
    "interval",
    "unconstrained",
]

_LOG_2PI = math.log(2 * math.pi)

# --- constrained latent variables and their maps to R^K ------------------------------------------
#
# Each transform maps an unconstrained vector (..., k) to the constrained value and returns the log
# absolute determinant of the Jacobian of that inverse map, summed over the event (leading axes are
# a batch of draws). They are written with wengert functions, so ADVI differentiates through them.


def _shape(x) -> tuple:
    """The shape code sees (one example's, inside vmap)."""
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _real(z):
    return z, ops.sum(z * 0.0, axis=-1)


def _positive(z):  # theta = exp(z): log|J| = z
    return ops.exp(z), ops.sum(z, axis=-1)


@dataclass(frozen=True)
class interval:
    """The open interval (lo, hi): theta = lo + (hi - lo) sigmoid(z)."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lo) and math.isfinite(self.hi) and self.lo < self.hi):
            raise ValueError(f"interval: needs finite lo < hi, got ({self.lo}, {self.hi})")

    def __call__(self, z):
        # log|J| = log(hi - lo) + log sigmoid(z) + log sigmoid(-z)
        jac = math.log(self.hi - self.lo) - ops.softplus(-z) - ops.softplus(z)
        return self.lo + (self.hi - self.lo) * ops.sigmoid(z), ops.sum(jac, axis=-1)


def _simplex(z):
    # additive log-ratio: theta = softmax([z, 0]); the Jacobian of z -> theta_1..K-1 has determinant
    # theta_1 ... theta_K, so log|J| = sum(log theta)
    zero = ops.reshape(ops.sum(z * 0.0, axis=-1), _shape(z)[:-1] + (1,))
    logp = ops.log_softmax(ops.concatenate([z, zero], axis=-1), axis=-1)
    return ops.exp(logp), ops.sum(logp, axis=-1)


CONSTRAINTS: dict[str, Callable] = {
    "real": _real,
    "positive": _positive,
    "unit_interval": interval(0.0, 1.0),
    "simplex": _simplex,
}


class Latents:
    """The latent variables of a model: name -> constraint, or (constraint, shape).

    A constraint is "real", "positive", "unit_interval", "simplex" (the last axis sums to one; it has
    one unconstrained coordinate fewer) or `interval(lo, hi)`. Example:
    `Latents({"mu": "real", "tau": "positive", "eta": ("real", 8), "p": ("simplex", 3)})`.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        if not isinstance(spec, dict) or not spec:
            raise TypeError(
                "advi: latents must be a dict name -> constraint (or (constraint, shape)), or the "
                "number of real latent variables"
            )
        self.names, self.shapes, self.transforms, self.sizes, self.kinds = [], [], [], [], []
        for name, c in spec.items():
            shape: tuple = ()
            if isinstance(c, tuple):
                if len(c) != 2:
                    raise ValueError(f"advi: latent {name!r}: write (constraint, shape), got {c!r}")
                c, shape = c
                shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
            transform = CONSTRAINTS.get(c) if isinstance(c, str) else c
            if not (isinstance(c, interval) or (isinstance(c, str) and transform is not None)):
                raise ValueError(
                    f"advi: latent {name!r} has constraint {c!r}; use one of "
                    f"{', '.join(repr(k) for k in CONSTRAINTS)} or wengert.vi.interval(lo, hi)"
                )
            if c == "simplex" and (not shape or shape[-1] < 2):
                raise ValueError(f"advi: simplex latent {name!r} needs a shape with a last axis >= 2")
            size = (
                math.prod(shape) // shape[-1] * (shape[-1] - 1) if c == "simplex" else math.prod(shape)
            )
            self.names.append(name)
            self.shapes.append(shape)
            self.transforms.append(transform)
            self.sizes.append(size)
            self.kinds.append(c)
        self.dim = sum(self.sizes)

    def constrain(self, z) -> tuple[dict, Any]:
        """The constrained values of the unconstrained vector(s) z (..., dim) and log|J| (...)."""
        out, logdet, start = {}, 0.0, 0
        batch = _shape(z)[:-1]
        for name, shape, f, size, kind in zip(
            self.names, self.shapes, self.transforms, self.sizes, self.kinds
        ):
            piece = z[..., start : start + size]
            start += size
            if kind == "simplex":
                piece = ops.reshape(piece, batch + shape[:-1] + (shape[-1] - 1,))
            else:
                piece = ops.reshape(piece, batch + shape + (1,))  # a last axis for the event sum
            value, ld = f(piece)
            if kind != "simplex":
                value = ops.reshape(value, batch + shape)
            if np.ndim(raw(ld)) > len(batch):
                ld = ops.sum(ops.reshape(ld, batch + (-1,)), axis=-1)
            out[name] = value
            logdet = logdet + ld
        return out, logdet


def unconstrained(log_density: Callable[[dict], Any], latents: dict | Latents) -> Callable:
    """The density ADVI fits, on R^K: z -> log_density(constrained values of z) + log|J|(z), for one
    flat vector z of the unconstrained coordinates (in the order of `latents`). Pass it to `hmc`."""
    lat = latents if isinstance(latents, Latents) else Latents(latents)

    def log_p(z):
        values, logdet = lat.constrain(z)
        return log_density(values) + logdet

    return log_p


def _batch_of(per_sample: Callable) -> Callable:
    """Evaluate a function of one draw on a batch of draws (leading axis), returning (num_draws,)."""
    try:
        from .program.batching import vmap  # vectorised where wengert has vmap
    except ImportError:
        vmap = None
    if vmap is not None:
        return vmap(per_sample)
    return lambda zs: ops.stack([per_sample(zs[i]) for i in range(_shape(zs)[0])])


@dataclass(frozen=True)
class ADVIResult:
    """A fitted Gaussian q on the unconstrained coordinates, N(mean, diag(std**2)) (mean-field) or
    N(mean, cov) (full-rank).

    `elbo` holds the Monte-Carlo ELBO estimate of every step (noisy; `converged` says whether the
    relative-change test stopped the fit, after `steps` steps). `draws(n)` gives draws of the
    constrained latents by name; `summary()` their posterior means and standard deviations.
    """

    mean: np.ndarray
    std: np.ndarray
    elbo: np.ndarray
    cov: np.ndarray | None = None
    family: str = "meanfield"
    converged: bool = False
    steps: int = 0
    latents: Latents | None = field(default=None, repr=False)

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """n draws from q on the unconstrained coordinates, shape (n, dim)."""
        rng = np.random.default_rng(seed)
        eps = rng.standard_normal((n, len(self.mean)))
        if self.cov is not None and self.family == "fullrank":
            return self.mean + eps @ np.linalg.cholesky(self.cov).T
        return self.mean + self.std * eps

    def draws(self, n: int = 4000, seed: int | None = None) -> dict[str, np.ndarray]:
        """n draws of each constrained latent variable, {name: array (n, *shape)}."""
        z = self.sample(n, seed)
        if self.latents is None:
            return {"z": z}
        values, _ = self.latents.constrain(z)
        return {k: np.asarray(raw(v)) for k, v in values.items()}

    def summary(self, n: int = 4000, seed: int | None = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Posterior mean and standard deviation of each constrained latent, from n draws of q."""
        return {k: (v.mean(axis=0), v.std(axis=0)) for k, v in self.draws(n, seed).items()}


@dataclass(frozen=True)
class HMCResult:
    """Draws from `hmc`: `samples` of shape (num_samples, *x0.shape), the fraction of proposals
    accepted after burn-in, and the step size used after burn-in."""

    samples: np.ndarray
    acceptance_rate: float
    step_size: float


def advi(
    log_density: Callable[[Any], Any],
    latents: int | dict | Latents | None = None,
    num_samples: int = 10,
    steps: int = 2000,
    lr: float | None = None,
    seed: int | None = None,
    *,
    dim: int | None = None,
    family: str = "meanfield",
    batched: bool = False,
    tol_rel_obj: float | None = None,
    eval_every: int = 100,
    init_mean: Any = None,
    init_std: float = 1.0,
    average: float = 0.1,
) -> ADVIResult:
    """Fit a Gaussian q to the posterior p(theta | data) ∝ exp(log_density(theta)) by ADVI.

    `latents` declares the latent variables: a dict name -> constraint or (constraint, shape) (see
    `Latents`; constraints "real", "positive", "unit_interval", "simplex", `interval(lo, hi)`), and
    `log_density` receives a dict of their values for one draw and returns a scalar; or an int K
    (also `dim=K`): K real latents, and `log_density` receives one vector of shape (K,). Constrained
    latents are written theta = T^-1(z) for z in R^dim, and the fit is on
    log_density(T^-1(z)) + log|det J_T^-1(z)|.

    `family="meanfield"`: q = N(mu, diag(sigma^2)), parameters (mu, log sigma). `family="fullrank"`:
    q = N(mu, L L^T), L lower triangular with a positive (exponentiated) diagonal. Each step draws
    `num_samples` z = mu + L eps, eps ~ N(0, I) (the reparameterisation trick), estimates
    ELBO = E_q[log p(z)] + H[q] (Gaussian entropy in closed form), differentiates it by reverse mode
    and ascends with Adam at learning rate `lr`, for at most `steps` steps. The default lr is 0.05
    for mean-field and 0.01 for full-rank: the K(K-1)/2 extra parameters make few-draw gradients
    noisier, and at 0.05 the noise biases the fitted mean (by about one posterior sd on a 31-dimensional
    logistic regression).

    The density is written for one draw and evaluated on the batch of draws by `wengert.vmap` where
    available, else draw by draw. `batched=True` keeps the older convention: `log_density` receives
    all draws at once, shape (num_samples, dim), and returns shape (num_samples,) (real latents only).

    Convergence: with `tol_rel_obj` (Stan's default is 0.01), every `eval_every` steps the mean ELBO
    of the last window is compared with the previous one; the fit stops once the mean or the median
    of the recent relative changes is below tol_rel_obj (`converged=True`). The returned mean and
    scale are averages of the iterates over the last `average` fraction of the steps taken
    (Polyak-Ruppert), which removes most of the jitter a constant learning rate leaves. Raises
    FloatingPointError if the ELBO estimate stops being finite (usually a learning rate too large
    for the model's scale) and ValueError for unknown constraints or families.
    """
    if dim is not None:
        if latents is not None:
            raise TypeError("advi: give latents or dim, not both")
        latents = dim
    if latents is None:
        raise TypeError("advi: declare the latent variables (latents=... or dim=...)")
    if family not in ("meanfield", "fullrank"):
        raise ValueError(f"advi: family must be 'meanfield' or 'fullrank', got {family!r}")
    lat = None
    if isinstance(latents, (int, np.integer)) and not isinstance(latents, bool):
        k = int(latents)
    else:
        lat = latents if isinstance(latents, Latents) else Latents(latents)
        k = lat.dim
        if batched:
            raise ValueError("advi: batched=True takes real latents only (latents=dim)")
    if k < 1 or num_samples < 1 or steps < 1:
        raise ValueError(
            f"advi: dim, num_samples and steps must be positive; got {k}, {num_samples}, {steps}"
        )
    rng = np.random.default_rng(seed)
    full = family == "fullrank"
    if lr is None:
        lr = 0.01 if full else 0.05
    mu = np.zeros(k) if init_mean is None else np.array(init_mean, dtype=np.float64).reshape(k)
    omega = np.full(k, math.log(init_std))  # log sigma, or log diag(L)
    lower = np.zeros((k, k))  # strictly lower part of L (full-rank only)
    mask = np.tril(np.ones((k, k)), -1)
    entropy_const = 0.5 * k * (1 + _LOG_2PI)

    per_sample = unconstrained(log_density, lat) if lat is not None else log_density
    batch_fn = None if batched else _batch_of(per_sample)

    def elbo(eps, mu, omega, lower=None):
        if full:
            chol = lower * mask + ops.exp(omega) * np.eye(k)  # diag(exp(omega)) off the diagonal: 0
            z = mu + eps @ ops.transpose(chol)
        else:
            z = mu + ops.exp(omega) * eps
        if batched:
            lp = log_density(z)
            if np.shape(lp) != (num_samples,):
                raise ValueError(
                    f"advi: with batched=True log_density must return shape ({num_samples},) for "
                    f"samples of shape {tuple(np.shape(z))}; it returned shape {np.shape(lp)}"
                )
        else:
            lp = batch_fn(z)
            if np.shape(lp) != (num_samples,):
                raise ValueError(
                    "advi: log_density must return one number for one draw; it returned shape "
                    f"{np.shape(lp)[1:]}"
                )
        return ops.mean(lp) + ops.sum(omega) + entropy_const

    argnums = (1, 2, 3) if full else (1, 2)
    value_grad = value_and_grad(elbo, argnums=argnums)
    params = [tensor(mu, requires_grad=True), tensor(omega, requires_grad=True)]
    if full:
        params.append(tensor(lower, requires_grad=True))
    adam = Adam(params, lr=lr)  # ascent on the ELBO: the optimizer descends on its negative
    arrays = [p.numpy() for p in params]  # updated in place by the optimizer
    trace = np.empty(steps)
    keep = max(1, math.ceil(average * steps))
    recent: deque = deque(maxlen=keep)  # the last iterates, for the average
    changes: deque = deque(maxlen=max(2, int(0.1 * steps / eval_every)))
    last_window, converged, t = None, False, 0
    for t in range(steps):
        eps = rng.standard_normal((num_samples, k))
        value, grads = value_grad(eps, *arrays)
        if not math.isfinite(value):
            raise FloatingPointError(
                f"advi: the ELBO estimate is {value} at step {t}; try a smaller lr (now {lr}) or "
                "check log_density at the current mean"
            )
        trace[t] = value
        for p, g in zip(params, grads):
            p.grad = -np.asarray(raw(g))
        adam.step()
        recent.append([a.copy() for a in arrays])
        if tol_rel_obj is not None and (t + 1) % eval_every == 0:
            window = float(np.mean(trace[t + 1 - eval_every : t + 1]))
            if last_window is not None:
                changes.append(abs((window - last_window) / window))
                if len(changes) == changes.maxlen and (
                    np.mean(changes) < tol_rel_obj or np.median(changes) < tol_rel_obj
                ):
                    converged = True
                    break
            last_window = window
    n_steps = t + 1
    avg = [np.mean([r[i] for r in recent], axis=0) for i in range(len(arrays))]
    mean, std = avg[0], np.exp(avg[1])
    cov = None
    if full:
        chol = avg[2] * mask + np.diag(std)
        cov = chol @ chol.T
        std = np.sqrt(np.diag(cov))
    return ADVIResult(
        mean=mean,
        std=std,
        elbo=trace[:n_steps],
        cov=cov,
        family=family,
        converged=converged,
        steps=n_steps,
        latents=lat,
    )


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
