"""Newton's method with derivatives by automatic differentiation.

- `newton(f, x0)` finds a root of a scalar function (its derivative by forward mode, one sweep per
  iteration) or of a square system R^n -> R^n (its Jacobian by `wengert.jacobian`).
- `minimize_newton(f, x0)` minimises a scalar function with Newton steps on the Hessian
  (`wengert.hessian`), safeguarded by a damped (Levenberg-style) Hessian and an Armijo line search.

Both return a small immutable result (a named tuple, so `x, *_ = newton(f, x0)` and `.x` both work) and
raise `ConvergenceError` rather than return an answer they could not verify.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from . import ops
from .transforms import hessian, jacobian, jvp, value_and_grad

__all__ = ["ConvergenceError", "MinimizeResult", "NewtonResult", "minimize_newton", "newton"]


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
