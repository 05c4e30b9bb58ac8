"""Newton's method with sparse Jacobians and Hessians.

1. The 2-D Bratu problem -Laplace(u) = lambda exp(u) on the unit square, u = 0 on the boundary, with
   lambda = 6, on a k x k grid of interior points (five-point stencil): n = k^2 unknowns, a Jacobian
   with about 5 n nonzeros. `wengert.sparse_jacobian` finds the pattern (by interpreting the residual,
   once), colours its columns (5 colours, the lower bound) and then gives each Newton step's Jacobian
   from one forward sweep with 5 tangent directions; scipy.sparse.linalg solves the linear systems.
   A dense Jacobian at k = 300 would have 8.1e9 entries (65 GB).
2. The chained Rosenbrock function of n = 10^6 variables, minimised by Newton's method with the sparse
   (tridiagonal) Hessian from `wengert.sparse_hessian` (3 colours), damped where the Hessian is
   indefinite, from x0 = 1.5 in every component. (From the classic start (-1.2, 1, -1.2, ...) Newton-type
   methods at this size, scipy's trust-region ones included, stall at stationary points far from the
   minimum: the chain has many.)

Run: PYTHONPATH=src python examples/sparse_newton.py [k] [n]      (needs scipy: wengert[sparse])
"""

from __future__ import annotations

import sys
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import wengert as W


def bratu_residual(x, k: int, lam: float = 6.0):
    """F(u) = -Laplace(u) - lam exp(u) on the k x k interior grid (flattened), zero boundary."""
    h2 = 1.0 / (k + 1) ** 2
    u = W.reshape(x, (k, k))
    zr, zc = np.zeros((1, k)), np.zeros((k + 2, 1))
    up = W.concatenate([zc, W.concatenate([zr, u, zr], axis=0), zc], axis=1)
    lap = 4 * u - up[:-2, 1:-1] - up[2:, 1:-1] - up[1:-1, :-2] - up[1:-1, 2:]
    return W.reshape(lap / h2 - lam * W.exp(u), (k * k,))


def chained_rosenbrock(x):
    """sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2."""
    return W.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def solve_bratu(k: int, lam: float = 6.0, tol: float = 1e-10, verbose: bool = True):
    """Newton on the Bratu problem from u = 0. Returns (u, iterations, jacobian function)."""
    F = lambda x: bratu_residual(x, k, lam)
    J = W.sparse_jacobian(F)
    u = np.zeros(k * k)
    r = np.asarray(F(u))
    r0 = np.linalg.norm(r)
    for it in range(1, 30):
        t0 = time.perf_counter()
        Ju = J(u)
        tj = time.perf_counter() - t0
        u = u + spla.spsolve(Ju.tocsc(), -r)
        r = np.asarray(F(u))
        if verbose:
            print(
                f"  iteration {it}: |F| = {np.linalg.norm(r):.3e}  (Jacobian {tj * 1e3:.1f} ms, "
                f"{J.colors} colours, nnz {Ju.nnz:,})"
            )
        if np.linalg.norm(r) <= tol * max(r0, 1.0):
            return u, it, J
    raise RuntimeError("Bratu: Newton did not converge")


def minimize_rosenbrock(n: int, tol: float = 1e-8, verbose: bool = True):
    """Newton with the sparse Hessian, damped Levenberg-Marquardt style: solve (H + mu I) d = -g,
    accept the step if f decreases (then mu shrinks), else grow mu (the Hessian is indefinite away
    from the minimum). Returns (x, iterations, hessian function)."""
    x = np.full(n, 1.5)
    H = W.sparse_hessian(chained_rosenbrock)
    vg = W.value_and_grad(chained_rosenbrock)
    fx, g = vg(x)
    eye = sp.eye_array(n, format="csr")
    mu = 1e-3
    for it in range(1, 200):
        Hx = H(x)
        while True:
            d = spla.spsolve((Hx + mu * eye).tocsc(), -g)
            f_new, g_new = vg(x + d)
            if f_new < fx:
                mu = max(mu / 4, 1e-12)
                break
            mu *= 8
        x, fx, g = x + d, f_new, g_new
        gmax = np.linalg.norm(g, np.inf)
        if verbose:
            print(f"  iteration {it}: f = {fx:.3e}, |grad|_inf = {gmax:.2e}")
        if gmax < tol:
            return x, it, H
    raise RuntimeError("Rosenbrock: Newton did not converge")


def main() -> None:
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10**6
    print(f"Bratu, lambda = 6, {k} x {k} grid (n = {k * k:,}):")
    t0 = time.perf_counter()
    u, its, J = solve_bratu(k)
    print(
        f"converged in {its} Newton iterations, {time.perf_counter() - t0:.2f} s in all (pattern and "
        f"colouring {J.setup_s:.2f} s); max u = {u.max():.6f}; {J.colors} colours (lower bound 5)\n"
    )
    print(f"Chained Rosenbrock, n = {n:,}, sparse-Hessian Newton:")
    t0 = time.perf_counter()
    x, its, H = minimize_rosenbrock(n)
    print(
        f"converged in {its} iterations, {time.perf_counter() - t0:.2f} s in all (Hessian pattern and "
        f"colouring {H.setup_s:.2f} s, {H.colors} colours); max |x - 1| = {np.abs(x - 1).max():.2e}"
    )


if __name__ == "__main__":
    main()
