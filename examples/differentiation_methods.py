"""Numerical, symbolic and automatic differentiation side by side, as the paper's introduction argues.

(a) Numerical: the forward difference (f(x+h) - f(x)) / h and the central difference
    (f(x+h) - f(x-h)) / 2h of f(x) = exp(x) sin(x) at x = 1, against the exact derivative
    exp(x)(sin x + cos x), for h from 1e-1 down to 1e-15. Truncation error falls with h (as h and h²),
    rounding error grows as eps / h: the log-log error curve is a V, bottoming out near 1e-8 (forward)
    and 1e-5 (central). Automatic differentiation has no step: its error is at machine precision.
(b) Symbolic: the iterates of the logistic map l₁ = x, lₙ₊₁ = 4 lₙ (1 - lₙ). SymPy's derivative of lₙ
    (as `diff` returns it, and expanded) grows exponentially with n, while AD records three operations
    per iterate and its value and gradient cost a small constant times the value alone (measured on the
    same scalar graph, medians of repeated runs of CPU time). Needs SymPy
    (the `symbolic` extra); part (a) needs nothing.

The figure (matplotlib, the `plot` extra) goes to --out. Run:
    python examples/differentiation_methods.py [--out docs] [--iterates 8]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout

import numpy as np

import wengert
from wengert import Node

X0 = 1.0


def f(x):
    """exp(x) sin(x) for floats, arrays and wengert values alike."""
    return wengert.exp(x) * wengert.sin(x)


def df_exact(x: float) -> float:
    return math.exp(x) * (math.sin(x) + math.cos(x))


def finite_differences(hs: np.ndarray, x: float = X0) -> tuple[np.ndarray, np.ndarray, float]:
    """Relative errors of the forward and central differences for each h, and of AD (reverse mode)."""
    exact = df_exact(x)
    fx = float(f(x))
    fwd = np.array([(float(f(x + h)) - fx) / h for h in hs])
    ctr = np.array([(float(f(x + h)) - float(f(x - h))) / (2 * h) for h in hs])
    ad = float(wengert.grad(f)(x))
    rel = lambda d: np.abs(d - exact) / abs(exact)
    return rel(fwd), rel(ctr), float(rel(ad))


def logistic(x, n: int):
    """The n-th iterate of the logistic map l₁ = x, lₙ₊₁ = 4 lₙ (1 - lₙ)."""
    for _ in range(n - 1):
        x = 4 * x * (1 - x)
    return x


def _cost_ratio(value, value_and_grad, blocks: int = 15, inner: int = 100) -> tuple[float, float, float]:
    """Median seconds per call of value_and_grad, and the median and interquartile range over blocks
    of time(value_and_grad) / time(value). Times are this process's CPU time (other processes on a
    busy machine do not count), the two timed in alternating blocks."""
    value(), value_and_grad()
    ratios, grads = [], []
    clock = time.process_time
    for _ in range(blocks):
        t0 = clock()
        for _ in range(inner):
            value()
        t1 = clock()
        for _ in range(inner):
            value_and_grad()
        t2 = clock()
        ratios.append((t2 - t1) / (t1 - t0))
        grads.append((t2 - t1) / inner)
    q1, q2, q3 = statistics.quantiles(ratios, n=4)
    return statistics.median(grads), q2, q3 - q1


def symbolic_swell(n_max: int, expand_max: int = 6) -> list[dict[str, float]]:
    """For n = 1..n_max: the size (SymPy's count_ops) of d lₙ / dx as `diff` gives it and expanded,
    the time to differentiate, and AD's tape length and cost ratio time(value and grad) / time(value)
    (both on the scalar graph, so the ratio is the price of the backward sweep alone)."""
    import sympy as sp

    x = sp.Symbol("x")
    rows = []
    for n in range(1, n_max + 1):
        expr = logistic(x, n)
        t0 = time.process_time()
        d = sp.diff(expr, x)
        t_diff = time.process_time() - t0
        size = sp.count_ops(d)
        expanded = sp.count_ops(sp.expand(d)) if n <= expand_max else float("nan")
        # AD on the scalar graph: the tape has three operations per iterate
        node = Node(0.3)
        out = logistic(node, n)
        tape = len(out.topological_sort())

        def value(n: int = n) -> None:  # the same graph, built without the backward sweep
            logistic(Node(0.3), n)

        def value_and_grad(n: int = n) -> None:
            leaf = Node(0.3)
            logistic(leaf, n).backward()

        t_grad, ratio, spread = _cost_ratio(value, value_and_grad)
        rows.append(
            {
                "n": n,
                "diff_ops": float(size),
                "expanded_ops": float(expanded),
                "diff_ms": 1e3 * t_diff,
                "ad_tape": float(tape),
                "ad_us": 1e6 * t_grad,
                "ad_ratio": ratio,
                "ad_ratio_iqr": spread,
            }
        )
        # the two derivatives agree
        want = float(d.subs(x, 0.3))
        got = Node(0.3)
        logistic(got, n).backward()
        assert math.isclose(got.grad, want, rel_tol=1e-9, abs_tol=1e-9), (n, got.grad, want)
    return rows


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = f", load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    versions = f"Python {platform.python_version()}, numpy {np.__version__}"
    return f"{cpu}, {os.cpu_count()} cores{load}; {versions}"


def plot(hs, fwd, ctr, ad, rows, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no figure)")
        return None
    ncols = 2 if rows else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols, 4.0))
    ax = axes[0] if rows else axes
    floor = np.finfo(float).eps / 4  # plot exact zeros at the bottom of the scale
    ax.loglog(hs, np.maximum(fwd, floor), "o-", ms=3, label="forward difference")
    ax.loglog(hs, np.maximum(ctr, floor), "s-", ms=3, label="central difference")
    eps = np.finfo(float).eps
    ax.axhline(max(ad, floor), color="k", ls="--", label=f"AD: error {ad:.1g} (machine eps {eps:.1e})")
    ax.set_xlabel("step h")
    ax.set_ylabel("relative error of f'(1)")
    ax.set_title("f(x) = exp(x) sin(x): truncation vs rounding")
    ax.legend(fontsize=8)
    if rows:
        ax = axes[1]
        n = [r["n"] for r in rows]
        ax.semilogy(n, [r["diff_ops"] for r in rows], "o-", label="SymPy diff (operations)")
        exp_rows = [r for r in rows if not math.isnan(r["expanded_ops"])]
        ax.semilogy(
            [r["n"] for r in exp_rows], [r["expanded_ops"] for r in exp_rows], "s-", label="expanded"
        )
        ax.semilogy(n, [r["ad_tape"] for r in rows], "^-", label="AD tape (nodes)")
        ax.set_xlabel("iterate n of the logistic map")
        ax.set_ylabel("size of the derivative")
        ax.set_title("expression swell vs AD")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Numerical vs symbolic vs automatic differentiation.")
    parser.add_argument("--out", type=Path, default=None, help="folder for the figure")
    parser.add_argument("--iterates", type=int, default=8, help="logistic-map iterates for SymPy")
    args = parser.parse_args(argv)
    print(machine())

    hs = 10.0 ** -np.arange(1, 16)
    fwd, ctr, ad = finite_differences(hs)
    print("\n(a) f(x) = exp(x) sin(x), relative error of f'(1)")
    print(f"    {'h':>8} {'forward':>10} {'central':>10}")
    for h, e1, e2 in zip(hs, fwd, ctr):
        print(f"    {h:8.0e} {e1:10.2e} {e2:10.2e}")
    i, j = int(np.argmin(fwd)), int(np.argmin(ctr))
    print(f"    best forward difference: {fwd[i]:.1e} at h = {hs[i]:.0e}")
    print(f"    best central difference: {ctr[j]:.1e} at h = {hs[j]:.0e}")
    print(f"    automatic differentiation: {ad:.1e} (no step to choose)")

    rows: list[dict[str, float]] = []
    try:
        import sympy
    except ImportError:
        print("\n(b) skipped: SymPy is not installed (pip install 'wengert[symbolic]')")
    else:
        print(f"\n(b) d lₙ/dx of the logistic map lₙ₊₁ = 4 lₙ (1 - lₙ), SymPy {sympy.__version__}")
        rows = symbolic_swell(args.iterates)
        print(
            f"    {'n':>2} {'SymPy diff ops':>14} {'expanded ops':>12} {'diff ms':>8} "
            f"{'AD tape':>7} {'AD grad us':>10} {'time(f and grad)/time(f) (IQR)':>31}"
        )
        for r in rows:
            exp_ops = "-" if math.isnan(r["expanded_ops"]) else f"{r['expanded_ops']:.0f}"
            print(
                f"    {r['n']:>2} {r['diff_ops']:>14.0f} {exp_ops:>12} {r['diff_ms']:>8.1f} "
                f"{r['ad_tape']:>7.0f} {r['ad_us']:>10.1f} "
                f"{r['ad_ratio']:>24.2f} ({r['ad_ratio_iqr']:.2f})"
            )
    path = None
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        path = plot(hs, fwd, ctr, ad, rows, args.out / "differentiation_methods.png")
        if path:
            print(f"\nfigure: {path}")
    return {"hs": hs, "forward": fwd, "central": ctr, "ad": ad, "symbolic": rows, "figure": path}


if __name__ == "__main__":
    main()
