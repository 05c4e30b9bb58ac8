"""Sparse Jacobians and Hessians, side by side: wengert (sparse_jacobian / sparse_hessian, and the dense
jacfwd / hessian where they fit), CasADi (SX graphs, its own sparsity and colouring) and JAX + sparsejac
(jit-compiled, given the pattern for free: wengert's).

- 2-D Bratu residual (lambda = 6, k x k grid, five-point stencil), Jacobian at k = 50 and k = 300;
- chained Rosenbrock, Hessian at n = 100, 10^4 and 10^6;
- colours used against the lower bound (the largest number of nonzeros in a row).

Evaluation times are medians over repeated blocks (spread: min-max of the blocks); setup (pattern,
colouring, graph building, jit compilation) is timed once and reported separately.

Run: PYTHONPATH=src python benchmarks/sparse.py [--no-big-peers]     (pip install -e ".[sparse,bench]")
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
from _util import cpu_model, installed, table, time_samples
from sparse_newton import bratu_residual, chained_rosenbrock

import wengert as W
from wengert.sparse import coloring

BIG_PEERS = "--no-big-peers" not in sys.argv


def fmt(s: list[float]) -> str:
    med = statistics.median(s)
    return f"{med * 1e3:.3g} ms ({min(s) * 1e3:.3g}-{max(s) * 1e3:.3g})"


def timed(make):
    t0 = time.perf_counter()
    out = make()
    return out, time.perf_counter() - t0


def machine() -> str:
    cpu = cpu_model()
    import scipy

    vers = [f"wengert {W.__version__}", f"numpy {np.__version__}", f"scipy {scipy.__version__}"]
    for mod in ("casadi", "jax", "sparsejac"):
        try:
            m = __import__(mod)
            vers.append(f"{mod} {getattr(m, '__version__', '?')}")
        except ImportError:
            pass
    load = os.getloadavg()
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        + ", ".join(vers)
        + f"; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )


# --- the peers -----------------------------------------------------------------------------------------


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import sparsejac
    from jax.experimental import sparse as jsparse

    return jax, jnp, sparsejac, jsparse


def _casadi():
    import casadi

    return casadi


PEERS = installed({"JAX + sparsejac": _jax, "CasADi": _casadi})


def jax_bratu(k, pattern, x):
    jax, jnp, sparsejac, jsparse = _jax()
    h2 = 1.0 / (k + 1) ** 2

    def F(v):
        u = v.reshape(k, k)
        up = jnp.pad(u, 1)
        lap = 4 * u - up[:-2, 1:-1] - up[2:, 1:-1] - up[1:-1, :-2] - up[1:-1, 2:]
        return (lap / h2 - 6.0 * jnp.exp(u)).reshape(-1)

    def make():
        sparsity = jsparse.BCOO.from_scipy_sparse(pattern.astype(np.float64))
        jac = jax.jit(sparsejac.jacfwd(F, sparsity=sparsity))
        xj = jnp.asarray(x)
        jac(xj).data.block_until_ready()
        return lambda: jac(xj).data.block_until_ready()

    return make


def jax_rosen_hessian(pattern, x):
    jax, jnp, sparsejac, jsparse = _jax()

    def f(v):
        return jnp.sum(100.0 * (v[1:] - v[:-1] ** 2) ** 2 + (1.0 - v[:-1]) ** 2)

    def make():
        sparsity = jsparse.BCOO.from_scipy_sparse(pattern.astype(np.float64))
        hess = jax.jit(sparsejac.jacfwd(jax.grad(f), sparsity=sparsity))
        xj = jnp.asarray(x)
        hess(xj).data.block_until_ready()
        return lambda: hess(xj).data.block_until_ready()

    return make


def casadi_bratu(k, x):
    ca = _casadi()

    def make():
        h2 = 1.0 / (k + 1) ** 2
        v = ca.SX.sym("x", k * k)
        u = ca.reshape(v, k, k)  # column-major: the transposed grid, and the Laplacian is symmetric
        zr, zc = ca.SX.zeros(1, k), ca.SX.zeros(k + 2, 1)
        up = ca.horzcat(zc, ca.vertcat(zr, u, zr), zc)
        lap = 4 * u - up[0:k, 1 : k + 1] - up[2 : k + 2, 1 : k + 1] - up[1 : k + 1, 0:k]
        lap = lap - up[1 : k + 1, 2 : k + 2]
        F = ca.vec(lap / h2 - 6.0 * ca.exp(u))
        J = ca.Function("J", [v], [ca.jacobian(F, v)])
        J(x)
        return lambda: J(x)

    return make


def casadi_rosen_hessian(n, x):
    ca = _casadi()

    def make():
        v = ca.SX.sym("x", n)
        d = v[1:] - v[:-1] ** 2
        f = ca.sum1(100.0 * d**2 + (1.0 - v[:-1]) ** 2)
        H, _ = ca.hessian(f, v)
        Hf = ca.Function("H", [v], [H])
        Hf(x)
        return lambda: Hf(x)

    return make


# --- the workloads -------------------------------------------------------------------------------------


def bench_bratu(k, rows, colour_rows, dense: bool, peers: bool):
    n = k * k
    x = np.random.default_rng(0).uniform(0, 1, n)
    F = lambda v: bratu_residual(v, k)
    J = W.sparse_jacobian(F)
    _, setup = timed(lambda: J.plan(x))
    ours = time_samples(lambda: J(x))
    label = f"Bratu Jacobian, k = {k} (n = {n:,})"
    add(rows, [label, "wengert sparse_jacobian", fmt(ours), f"{setup:.2f} s", "1.00"])
    colour_rows.append(
        [label, str(J.colors), str(coloring.lower_bound(J.pattern)), J.mode, peer_colours(J.pattern)]
    )
    if dense:
        d = time_samples(lambda: W.jacfwd(F)(x), repeats=3)
        add(rows, [label, "wengert jacfwd (dense)", fmt(d), "-", ratio(d, ours)])
    if not peers:
        return
    for name, make in (("JAX + sparsejac", jax_bratu(k, J.pattern, x)), ("CasADi", casadi_bratu(k, x))):
        if name not in PEERS:
            continue
        call, setup = timed(make)
        s = time_samples(call)
        add(rows, [label, name, fmt(s), f"{setup:.2f} s", ratio(s, ours)])


def bench_rosen(n, rows, colour_rows, dense: bool, peers: bool):
    x = np.random.default_rng(0).uniform(-1, 1, n)
    H = W.sparse_hessian(chained_rosenbrock)
    _, setup = timed(lambda: H.plan(x))
    ours = time_samples(lambda: H(x), repeats=5 if n > 10**5 else 7)
    label = f"chained Rosenbrock Hessian, n = {n:,}"
    mem = f" (peak RSS {peak_memory(n)})" if n >= 10**6 else ""
    add(rows, [label, "wengert sparse_hessian", fmt(ours), f"{setup:.2f} s{mem}", "1.00"])
    colour_rows.append(
        [label, str(H.colors), str(coloring.lower_bound(H.pattern)), "star", peer_colours(H.pattern)]
    )
    if dense:
        d = time_samples(lambda: W.hessian(chained_rosenbrock)(x))
        add(rows, [label, "wengert hessian (dense)", fmt(d), "-", ratio(d, ours)])
        dense_jit = W.jit(W.hessian(chained_rosenbrock))
        _, setup = timed(lambda: dense_jit(x))
        d = time_samples(lambda: dense_jit(x))
        add(rows, [label, "wengert jit(hessian) (dense)", fmt(d), f"{setup:.2f} s", ratio(d, ours)])
    if not peers:
        return
    for name, make in (
        ("JAX + sparsejac", jax_rosen_hessian(H.pattern, x)),
        ("CasADi", casadi_rosen_hessian(n, x)),
    ):
        if name not in PEERS:
            continue
        call, setup = timed(make)
        s = time_samples(call, repeats=5 if n > 10**5 else 7)
        add(rows, [label, name, fmt(s), f"{setup:.2f} s", ratio(s, ours)])


def peak_memory(n: int) -> str:
    """Peak resident memory of a fresh process that sets up and evaluates the sparse Hessian."""
    code = (
        "import resource, tracemalloc, numpy as np, wengert as W\n"
        "from sparse_newton import chained_rosenbrock\n"
        f"x = np.random.default_rng(0).uniform(-1, 1, {n})\n"
        "tracemalloc.start()\n"
        "H = W.sparse_hessian(chained_rosenbrock); H(x); H(x)\n"
        "print(tracemalloc.get_traced_memory()[1] // 2**20)\n"
        # VmHWM is this process's own high-water mark; ru_maxrss would include the benchmark's
        # own memory, which Linux carries across fork and exec
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
        "print(int(hwm[0].split()[1]) // 1024 if hwm else "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*sys.path[:2], env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        return "?"
    traced, rss = out.stdout.split()[-2:]
    return f"{rss} MB, of which {traced} MB allocated by Python and numpy"


def peer_colours(pattern) -> str:
    """Colours of sparsejac's forward mode (networkx greedy, largest first) on the same pattern."""
    if "JAX + sparsejac" not in PEERS or pattern.shape[1] > 10**5:
        return "-"
    import scipy.sparse as sp
    from sparsejac import sparsejac as sj

    conn = sj._input_connectivity_from_sparsity(sp.csr_matrix(pattern.astype(np.float64)))
    return str(sj._greedy_color(conn, "largest_first")[1])


def add(rows: list, row: list) -> None:
    rows.append(row)
    print("  " + " | ".join(row), flush=True)  # progress, in case a long run is interrupted


def ratio(theirs, ours) -> str:
    return f"{statistics.median(theirs) / statistics.median(ours):.2f}"


def main() -> None:
    print(machine())
    rows: list[list[str]] = []
    colour_rows: list[list[str]] = []
    bench_bratu(50, rows, colour_rows, dense=True, peers=True)
    bench_bratu(300, rows, colour_rows, dense=False, peers=True)
    bench_rosen(100, rows, colour_rows, dense=True, peers=True)
    bench_rosen(10**4, rows, colour_rows, dense=False, peers=True)
    bench_rosen(10**6, rows, colour_rows, dense=False, peers=BIG_PEERS)
    print()
    print(table(rows, ["workload", "system", "evaluation (median, spread)", "setup", "time / wengert"]))
    print()
    head = ["workload", "wengert colours", "lower bound", "mode", "sparsejac colours"]
    print(table(colour_rows, head))
    print(f"\nafter the run: load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
