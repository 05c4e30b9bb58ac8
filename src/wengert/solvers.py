"""Newton's method with derivatives by automatic differentiation.

- `newton(f, x0)` finds a root of a scalar function (its derivative by forward mode, one sweep per
  iteration) or of a square system R^n -> R^n (its Jacobian by `wengert.jacobian`).
- `minimize_newton(f, x0)` minimises a scalar function with Newton steps on the Hessian
  (`wengert.hessian`), safeguarded by a damped (Levenberg-style) Hessian and an Armijo line search.
- `least_squares(residual, x0)` minimises 0.5 |r(x)|^2 for r: R^n -> R^m (the paper's Newton-Raphson
  for m != n) by Levenberg-Marquardt or Gauss-Newton on the AD Jacobian.

Both return a small immutable result (a named tuple, so `x, *_ = newton(f, x0)` and `.x` both work) and
raise `ConvergenceError` rather than return an answer they could not verify.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from . import ops
from .core.trace import raw
from .transforms import hessian, jacobian, jvp, value_and_grad, vjp

__all__ = [
    "ConvergenceError",
    "LeastSquaresResult",
    "MinimizeResult",
    "NewtonResult",
    "least_squares",
    "minimize_newton",
    "newton",
]


class ConvergenceError(RuntimeError):
    """A solver stopped without meeting its tolerance.

    Attributes: `iterations` (steps taken), `residual` (|f(x)| for root finding, |grad f(x)| for
    minimisation, at the last point reached; nan if it could not be computed), `x` (that point) and
    `reason` (a short phrase: "no convergence", "zero derivative", "singular Jacobian", ...).
    """

    def __init__(self, reason: str, iterations: int, residual: float, x: Any) -> None:
        self.reason = reason
        self.iterations = iterations
        self.residual = residual
        self.x = x
        super().__init__(f"{reason} (iteration {iterations}, residual {residual:.3e}, x = {x!r})")


class NewtonResult(NamedTuple):
    """A root found by `newton`.

    `x` is the root (a float for a scalar problem, an array for a system), `fun` is f(x), `residual`
    the norm of f(x), `iterations` the number of Newton steps taken.
    """

    x: Any
    fun: Any
    residual: float
    iterations: int


class MinimizeResult(NamedTuple):
    """A minimum found by `minimize_newton`.

    `x` is the minimiser, `fun` is f(x), `grad_norm` the Euclidean norm of the gradient there and
    `iterations` the number of Newton steps taken.
    """

    x: Any
    fun: float
    grad_norm: float
    iterations: int


def _as_float_array(x0: Any, who: str) -> np.ndarray:
    x = np.array(x0, dtype=np.float64)  # a copy: the caller's array is never modified
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{who}: the starting point must be finite, got {x0!r}")
    return x


def _shown(x: np.ndarray) -> Any:
    """x as given back to the user: a Python float for a 0-d array."""
    return float(x) if x.ndim == 0 else x.copy()


def newton(f: Callable[[Any], Any], x0: Any, tol: float = 1e-10, maxiter: int = 50) -> NewtonResult:
    """A root of f by Newton's method, x <- x - f'(x)^{-1} f(x), with the derivative by AD.

    `x0` a number: f maps a number to a number; f'(x) comes from one forward-mode sweep together
    with f(x). `x0` an array of n elements: f maps such an array to n values (an array, or a list of
    n scalars); the n x n Jacobian comes from `wengert.jacobian`. Write f with wengert functions or
    numpy ufuncs so it accepts wengert Tensors.

    Converged when |f(x)| <= tol, or when a step is small: |dx| <= tol * (1 + |x|) (norms are
    Euclidean). Returns a `NewtonResult` (x, fun, residual, iterations). Raises `ConvergenceError`
    when maxiter steps do not converge, when the derivative is zero or the Jacobian singular, or
    when f, its derivative or the step is not finite.
    """
    x = _as_float_array(x0, "newton")
    scalar = x.ndim == 0
    fj = _scalar_fj(f) if scalar else _system_fj(f, x.shape)
    for it in range(maxiter + 1):
        fx, jx = fj(x)
        res = float(np.linalg.norm(fx))
        if not math.isfinite(res):
            raise ConvergenceError("f(x) is not finite", it, res, _shown(x))
        if res <= tol:
            return NewtonResult(_shown(x), _shown(fx), res, it)
        if it == maxiter:
            break
        if not np.all(np.isfinite(jx)):
            raise ConvergenceError("the derivative is not finite", it, res, _shown(x))
        if scalar:
            if jx == 0:
                raise ConvergenceError("zero derivative", it, res, _shown(x))
            step = fx / jx
        else:
            try:
                step = np.linalg.solve(jx, fx.reshape(-1)).reshape(x.shape)
            except np.linalg.LinAlgError:
                raise ConvergenceError("singular Jacobian", it, res, _shown(x)) from None
        if not np.all(np.isfinite(step)):
            # a nearly zero derivative or nearly singular Jacobian overflows the step
            raise ConvergenceError("the Newton step is not finite", it, res, _shown(x))
        x = x - step
        if np.linalg.norm(step) <= tol * (1 + np.linalg.norm(x)):
            fx, _ = fj(x)
            res = float(np.linalg.norm(fx))
            if not math.isfinite(res):
                raise ConvergenceError("f(x) is not finite", it + 1, res, _shown(x))
            return NewtonResult(_shown(x), _shown(fx), res, it + 1)
    raise ConvergenceError("no convergence", maxiter, res, _shown(x))


def _scalar_fj(f):
    """x -> (f(x), f'(x)) as floats, both from one forward-mode sweep."""

    def fj(x):
        fx, dfx = jvp(f, (x,), (np.float64(1.0),))
        fx, dfx = np.asarray(fx, dtype=np.float64), np.asarray(dfx, dtype=np.float64)
        if fx.size != 1:
            raise ValueError(
                f"newton: x0 is a number, so f must return one number; got shape {fx.shape}"
            )
        return fx.reshape(()), dfx.reshape(())

    return fj


def _system_fj(f, shape):
    """x -> (f(x), J(x)) with J as an n x n matrix over the flattened x."""
    n = math.prod(shape)

    def g(x):
        out = f(x)
        # a list of scalar equations is a convenient way to write a system
        return ops.stack(list(out)) if isinstance(out, (list, tuple)) else out

    jac = jacobian(g)

    def fj(x):
        fx = np.asarray(g(x), dtype=np.float64)
        if fx.size != n:
            raise ValueError(
                f"newton: f must return as many values as x has ({n}) to make a square system; "
                f"it returned shape {fx.shape}"
            )
        return fx, np.asarray(jac(x), dtype=np.float64).reshape(n, n)

    return fj


def minimize_newton(
    f: Callable[[Any], Any],
    x0: Any,
    tol: float = 1e-8,
    maxiter: int = 100,
    *,
    armijo: float = 1e-4,
    max_backtracks: int = 60,
) -> MinimizeResult:
    """A local minimum of scalar f by Newton's method on the Hessian, gradient and Hessian by AD.

    Each iteration solves (H + lam I) p = -g, where lam = 0 when the Hessian H is positive definite,
    else the smallest lam of a doubling sequence for which the Cholesky factorisation succeeds (so p
    is always a descent direction); then a backtracking line search halves the step from t = 1 until
    the Armijo condition f(x + t p) <= f(x) + armijo * t * g.p holds. Near a minimum with a positive
    definite Hessian the full Newton step is taken and convergence is quadratic; on a convex
    quadratic the first step is exact.

    Converged when |grad f(x)| <= tol. Returns a `MinimizeResult` (x, fun, grad_norm, iterations).
    Raises `ConvergenceError` after maxiter iterations, when the line search fails or when f, its
    gradient or its Hessian is not finite.
    """
    x = _as_float_array(x0, "minimize_newton")
    shape = x.shape
    n = x.size
    flat = lambda v: f(ops.reshape(v, shape))  # work on a vector whatever the shape of x
    fg = value_and_grad(flat)
    hess = hessian(flat)
    v = x.reshape(-1)
    for it in range(maxiter + 1):
        fx, g = fg(v)
        fx = float(fx)
        g = np.asarray(g, dtype=np.float64).reshape(-1)
        gnorm = float(np.linalg.norm(g))
        if not (math.isfinite(fx) and math.isfinite(gnorm)):
            raise ConvergenceError(
                "f or its gradient is not finite", it, gnorm, _shown(v.reshape(shape))
            )
        if gnorm <= tol:
            return MinimizeResult(_shown(v.reshape(shape)), fx, gnorm, it)
        if it == maxiter:
            break
        h = np.asarray(hess(v), dtype=np.float64).reshape(n, n)
        if not np.all(np.isfinite(h)):
            raise ConvergenceError("the Hessian is not finite", it, gnorm, _shown(v.reshape(shape)))
        p = _damped_newton_direction(0.5 * (h + h.T), g)
        slope = float(g @ p)
        t = 1.0
        for _ in range(max_backtracks):
            trial = v + t * p
            ft = float(np.asarray(flat(trial)))
            if math.isfinite(ft) and ft <= fx + armijo * t * slope:
                break
            t *= 0.5
        else:
            raise ConvergenceError(
                "the line search found no decrease", it, gnorm, _shown(v.reshape(shape))
            )
        v = trial
    raise ConvergenceError("no convergence", maxiter, gnorm, _shown(v.reshape(shape)))


def _damped_newton_direction(h: np.ndarray, g: np.ndarray) -> np.ndarray:
    """-(h + lam I)^{-1} g for the smallest lam in 0, beta, 2 beta, 4 beta, ... that makes h + lam I
    positive definite (Cholesky succeeds). With lam > 0 the step bends towards -g, Levenberg-style."""
    n = len(g)
    eye = np.eye(n)
    scale = max(1.0, float(np.max(np.abs(np.diag(h))))) if n else 1.0
    beta = 1e-3 * scale
    lam = 0.0 if np.min(np.diag(h), initial=np.inf) > 0 else beta - float(np.min(np.diag(h)))
    for _ in range(100):
        try:
            c = np.linalg.cholesky(h + lam * eye)
        except np.linalg.LinAlgError:
            lam = max(2 * lam, beta)
            continue
        y = np.linalg.solve(c, -g)
        return np.linalg.solve(c.T, y)
    return -g  # no damping made h positive definite (it cannot happen for finite h): steepest descent


# --- least squares: Gauss-Newton and Levenberg-Marquardt on the AD Jacobian ----------------------

_LSQ_MESSAGES = {
    0: "the maximum number of residual evaluations was reached",
    1: "the gradient is small: |J^T r|_inf <= gtol |J| |r| (first-order optimality)",
    2: "the cost cannot decrease: the Gauss-Newton step would gain <= ftol * cost",
    3: "the step is small: |dx| <= xtol * (xtol + |x|)",
    4: "both the cost (ftol) and the step (xtol) criteria are met",
}


@dataclass(frozen=True)
class LeastSquaresResult:
    """A fit found by `least_squares`, with the fields of scipy.optimize.least_squares' result.

    `x` the solution; `cost` = 0.5 |r(x)|^2; `fun` = r(x) (m,); `jac` the m x n Jacobian at x;
    `grad` = J^T r; `optimality` = |grad|_inf; `nfev`/`njev` residual and Jacobian evaluations;
    `status` (0: evaluation limit, 1: gtol, 2: ftol, 3: xtol, 4: ftol and xtol); `message`;
    `success` (status > 0); `active_mask` (zeros: there are no bounds). Also `iterations`
    (accepted steps), `rank` of J at x (< n: the parameters are not all identifiable there) and
    `history`, one row per iteration: (nfev, cost, optimality, damping, |step|, accepted).
    """

    x: np.ndarray
    cost: float
    fun: np.ndarray
    jac: np.ndarray
    grad: np.ndarray
    optimality: float
    nfev: int
    njev: int
    status: int
    message: str
    success: bool
    iterations: int
    rank: int
    history: list = field(repr=False)
    active_mask: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int), repr=False)

    def report(self) -> str:
        """A short convergence report, one line per iteration."""
        rows = [f"{'nfev':>5} {'cost':>13} {'optimality':>11} {'damping':>10} {'|step|':>10}  step"]
        for nfev, cost, opt, lam, step, ok in self.history:
            rows.append(
                f"{nfev:5d} {cost:13.6e} {opt:11.3e} {lam:10.2e} {step:10.2e}  "
                f"{'accepted' if ok else 'rejected'}"
            )
        rows.append(
            f"{'converged' if self.success else 'stopped'}: {self.message} (status {self.status}; "
            f"{self.iterations} iterations, {self.nfev} residual and {self.njev} Jacobian evaluations)"
        )
        return "\n".join(rows)


def _residual_fn(residual: Callable, x0: np.ndarray):
    """r as a function of a flat float vector returning a flat float vector, and the AD Jacobian."""
    shape = x0.shape

    def r(v):
        out = residual(ops.reshape(v, shape) if shape != v.shape else v)
        if isinstance(out, (list, tuple)):  # a list of scalar residuals
            out = ops.stack(list(out))
        return ops.reshape(out, (-1,))

    def value(v) -> np.ndarray:
        out = np.asarray(raw(r(v)))
        if not np.issubdtype(out.dtype, np.floating):
            out = out.astype(np.float64)
        return out.astype(np.float64, copy=False)

    def jac_forward(v) -> np.ndarray:  # n tangents in one sweep
        _, t = jvp(r, (v,), (np.eye(v.size),))
        return np.asarray(raw(t), dtype=np.float64).T

    def jac_reverse(v) -> np.ndarray:  # m cotangents in one sweep
        out, back = vjp(r, v)
        (g,) = back(np.eye(np.size(raw(out))))
        return np.asarray(raw(g), dtype=np.float64)

    return value, jac_forward, jac_reverse


def least_squares(
    residual: Callable[[Any], Any],
    x0: Any,
    method: str = "lm",
    *,
    jac: str = "auto",
    ftol: float = 1e-15,
    xtol: float = 1e-15,
    gtol: float = 1e-15,
    max_nfev: int | None = None,
    verbose: int = 0,
) -> LeastSquaresResult:
    """Minimise cost(x) = 0.5 sum_i r_i(x)^2 for a residual r: R^n -> R^m, with J = dr/dx by AD.

    `method="lm"` (default): Levenberg-Marquardt as a trust-region method (Moré's MINPACK design).
    Each iteration takes one SVD of the column-scaled Jacobian J D^-1 (D: the largest column norms of
    J seen so far, so the result does not depend on the units of x) and solves the damped
    Gauss-Newton problem min |J p + r|^2 + lam |D p|^2 with the smallest lam >= 0 that keeps |D p|
    within the trust radius (lam = 0, the Gauss-Newton step, when it fits). The radius grows after a
    step whose actual reduction of the cost matches the linear model's prediction and shrinks after
    a poor one; a step to a point where r is not finite is rejected like a poor one.
    `method="gn"`: Gauss-Newton steps (least-squares solves of J p = -r) with a backtracking line
    search; it raises ConvergenceError on a singular Jacobian, where "lm" keeps going.

    The Jacobian is forward mode (n tangents in one sweep) when n <= m, reverse mode (m cotangents)
    otherwise; `jac="forward"` or `"reverse"` forces one. Stops when the first-order optimality
    max_i |(J^T r)_i| / (|J_i| |r|) <= gtol, when both the actual and the predicted reduction are
    <= ftol * cost, or when |D dx| <= xtol (xtol + |D x|); the defaults ask for convergence to
    rounding level, which the NIST reference problems need for 6 significant digits. `max_nfev`
    (default 100 n + 200) bounds the residual evaluations. `verbose=1` prints the report at the
    end, `verbose=2` also each iteration.

    Returns a `LeastSquaresResult` (scipy's fields: x, cost, fun, jac, grad, optimality, nfev, njev,
    status, message, success). Raises ValueError for a bad x0, a non-finite residual or Jacobian at
    x0, or m < n with method "gn"; ConvergenceError when "gn" meets a singular Jacobian or the
    Jacobian stops being finite.
    """
    if method not in ("lm", "gn"):
        raise ValueError(f"least_squares: method must be 'lm' or 'gn', got {method!r}")
    if jac not in ("auto", "forward", "reverse"):
        raise ValueError(f"least_squares: jac must be 'auto', 'forward' or 'reverse', got {jac!r}")
    for name, tol in (("ftol", ftol), ("xtol", xtol), ("gtol", gtol)):
        if not (isinstance(tol, (int, float)) and tol >= 0):
            raise ValueError(f"least_squares: {name} must be a number >= 0, got {tol!r}")
    x0 = _as_float_array(x0, "least_squares")
    shape = x0.shape
    value, jac_fwd, jac_rev = _residual_fn(residual, x0)
    x = x0.reshape(-1)
    n = x.size
    max_nfev = 100 * n + 200 if max_nfev is None else int(max_nfev)
    r = value(x)
    m = r.size
    if not np.all(np.isfinite(r)):
        bad = np.flatnonzero(~np.isfinite(r))[:5].tolist()
        raise ValueError(
            f"least_squares: the residual at x0 is not finite (entries {bad} of {m}); start where "
            "it is defined"
        )
    if method == "gn" and m < n:
        raise ValueError(f"least_squares: 'gn' needs at least as many residuals as unknowns ({m} < {n})")
    jac_fn = {"forward": jac_fwd, "reverse": jac_rev}.get(jac, jac_fwd if n <= m else jac_rev)
    state = _LsqState(value, jac_fn, x, r, max_nfev, verbose)
    if method == "lm":
        status = state.levenberg_marquardt(ftol, xtol, gtol)
    else:
        status = state.gauss_newton(ftol, xtol, gtol)
    out = state.result(status, shape)
    if verbose:
        print(out.report() if verbose > 1 else out.report().splitlines()[-1])
    return out


def _trust_step(s, ur, kept, radius):
    """(lam, q): the scaled Levenberg-Marquardt step q = V^T D p = s ur / (s^2 + lam) of length at
    most `radius`: the Gauss-Newton step (lam = 0) if it fits, else lam solving |q(lam)| = radius
    (the norm decreases in lam; Newton's method on 1/|q| - 1/radius, which is nearly linear)."""
    sk, uk = s[kept], ur[kept]
    q = np.zeros_like(s)
    q[kept] = uk / sk
    norm = float(np.linalg.norm(q))
    if norm <= radius:
        return 0.0, q
    lam = 0.0
    for _ in range(50):
        den = sk * sk + lam
        qk = sk * uk / den
        norm = float(np.linalg.norm(qk))
        if abs(norm - radius) <= 1e-3 * radius:
            break
        dnorm = -float(np.sum(qk * qk / den)) / norm  # d|q|/dlam
        lam = lam + (norm / radius - 1) * norm / -dnorm
    q = np.zeros_like(s)
    q[kept] = sk * uk / (sk * sk + lam)
    return lam, q


class _LsqState:
    """The iterate and counters of one least-squares solve."""

    def __init__(self, value, jac_fn, x, r, max_nfev, verbose) -> None:
        self.value, self.jac_fn = value, jac_fn
        self.x, self.r = x, r
        self.cost = 0.5 * float(r @ r)
        self.nfev, self.njev, self.iterations = 1, 0, 0
        self.max_nfev, self.verbose = max_nfev, verbose
        self.history: list = []
        self.jacobian()

    def jacobian(self) -> None:
        j = self.jac_fn(self.x)
        self.njev += 1
        if j.shape != (self.r.size, self.x.size):
            j = j.reshape(self.r.size, self.x.size)
        if not np.all(np.isfinite(j)):
            if self.njev == 1:
                raise ValueError("least_squares: the Jacobian at x0 is not finite")
            raise ConvergenceError(
                "the Jacobian is not finite", self.iterations, math.sqrt(2 * self.cost), self.x.copy()
            )
        self.j = j
        self.g = j.T @ self.r

    def optimality(self) -> float:
        """Largest cosine between r and a column of J (MINPACK's gtol measure)."""
        rn = math.sqrt(2 * self.cost)
        if rn == 0:
            return 0.0
        cols = np.linalg.norm(self.j, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            cos = np.where(cols > 0, np.abs(self.g) / (cols * rn), 0.0)
        return float(np.max(cos, initial=0.0))

    def trial(self, p):
        xn = self.x + p
        with np.errstate(all="ignore"):  # a step out of r's domain is rejected, not reported
            rn = self.value(xn)
            cost = 0.5 * float(rn @ rn) if np.all(np.isfinite(rn)) else math.inf
        self.nfev += 1
        return xn, rn, cost

    def log(self, lam, step, ok) -> None:
        row = (self.nfev, self.cost, float(np.max(np.abs(self.g), initial=0.0)), lam, step, ok)
        self.history.append(row)
        if self.verbose > 1:
            print(f"least_squares: nfev {row[0]:4d} cost {row[1]:.6e} optimality {row[2]:.3e} "
                  f"damping {lam:.2e} |step| {step:.2e} {'accepted' if ok else 'rejected'}")  # fmt: skip

    def levenberg_marquardt(self, ftol, xtol, gtol) -> int:
        d = np.linalg.norm(self.j, axis=0)
        d[d == 0] = 1.0
        radius = None
        while True:
            if self.optimality() <= gtol:
                return 1
            d = np.maximum(d, np.linalg.norm(self.j, axis=0))
            u, s, vt = np.linalg.svd(self.j / d, full_matrices=False)
            ur = u.T @ self.r
            kept = s > (s[0] * max(self.j.shape) * np.finfo(float).eps if s.size else 0)
            # the most any step can gain on the linear model: the undamped Gauss-Newton reduction
            if 0.5 * float(ur[kept] @ ur[kept]) <= ftol * self.cost:
                return 2
            if self.nfev >= self.max_nfev:
                return 0
            xnorm = float(np.linalg.norm(d * self.x))
            if radius is None:
                radius = 100 * xnorm if xnorm > 0 else 100.0
            while True:  # shrink the trust region until a step lowers the cost
                lam, q = _trust_step(s, ur, kept, radius)
                p = -(vt.T @ q) / d
                jp = self.j @ p
                predicted = -float(self.g @ p) - 0.5 * float(jp @ jp)
                xn, rn, cost = self.trial(p)
                actual = self.cost - cost
                rho = actual / predicted if predicted > 0 else -math.inf
                dp = float(np.linalg.norm(q))
                small_step = dp <= xtol * (xtol + xnorm)
                if rho < 0.25:
                    radius = (
                        0.25 * min(radius, dp) if rho < 0 or not math.isfinite(rho) else 0.5 * radius
                    )
                elif rho > 0.75 or lam == 0:
                    radius = max(radius, 2 * dp)
                if rho > 1e-4:
                    self.x, self.r, self.cost = xn, rn, cost
                    self.iterations += 1
                    self.jacobian()
                    self.log(lam, dp, True)
                    if small_step:
                        return 3
                    break
                self.log(lam, dp, False)
                if small_step:
                    return 3  # no step, however short, lowers the cost
                if self.nfev >= self.max_nfev:
                    return 0

    def gauss_newton(self, ftol, xtol, gtol) -> int:
        n = self.x.size
        while True:
            if self.optimality() <= gtol:
                return 1
            if self.nfev >= self.max_nfev:
                return 0
            s = np.linalg.svd(self.j, compute_uv=False)
            if s[-1] <= s[0] * n * np.finfo(float).eps:
                raise ConvergenceError(
                    f"singular Jacobian (rank {int(np.sum(s > s[0] * n * np.finfo(float).eps))} of {n})",
                    self.iterations,
                    math.sqrt(2 * self.cost),
                    self.x.copy(),
                )
            p = -np.linalg.lstsq(self.j, self.r, rcond=None)[0]
            slope = float(self.g @ p)
            t = 1.0
            while True:
                xn, rn, cost = self.trial(t * p)
                if cost <= self.cost + 1e-4 * t * slope:
                    break
                if self.nfev >= self.max_nfev:
                    return 0
                t *= 0.5
                if t * float(np.linalg.norm(p)) <= xtol * (xtol + float(np.linalg.norm(self.x))):
                    return 3
            actual = self.cost - cost
            dp = t * float(np.linalg.norm(p))
            self.x, self.r, self.cost = xn, rn, cost
            self.iterations += 1
            self.jacobian()
            self.log(0.0, dp, True)
            small_cost = actual <= ftol * (self.cost + actual)
            small_step = dp <= xtol * (xtol + float(np.linalg.norm(self.x)))
            if small_cost or small_step:
                return 4 if small_cost and small_step else (2 if small_cost else 3)

    def result(self, status: int, shape: tuple) -> LeastSquaresResult:
        s = np.linalg.svd(self.j, compute_uv=False)
        rank = int(np.sum(s > s[0] * max(self.j.shape) * np.finfo(float).eps)) if s.size and s[0] else 0
        return LeastSquaresResult(
            x=self.x.reshape(shape).copy(),
            cost=self.cost,
            fun=self.r,
            jac=self.j,
            grad=self.g,
            optimality=float(np.max(np.abs(self.g), initial=0.0)),
            nfev=self.nfev,
            njev=self.njev,
            status=status,
            message=_LSQ_MESSAGES[status],
            success=status > 0,
            iterations=self.iterations,
            rank=rank,
            history=self.history,
            active_mask=np.zeros(self.x.size, dtype=int),
        )
