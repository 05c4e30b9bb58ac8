"""least_squares on the NIST StRD problems (lower and average difficulty), side by side with
scipy.optimize.least_squares.

For each problem and each of NIST's two starting points: the significant digits of the worst parameter
against NIST's certified values, residual evaluations (nfev), Jacobian evaluations (njev, one per
iteration) and the median time of a whole solve.
- wengert: `wengert.least_squares(residual, x0)`, default settings, Jacobian by forward-mode AD.
- scipy "lm": MINPACK's Levenberg-Marquardt with ftol = xtol = gtol = 1e-15 and max_nfev = 10000 (what
  it needs to reach the certified values), given the same AD Jacobian as a callable.
- scipy default: method "trf" with its default tolerances and finite-difference Jacobian, as most
  users call it.

Run: PYTHONPATH=src python benchmarks/least_squares.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _util import machine_header, table
from scipy import optimize

import wengert as w
from wengert.data import nist


def digits(x, certified) -> float:
    rel = np.max(np.abs(np.asarray(x) - certified) / np.abs(certified))
    return float(-np.log10(rel)) if rel > 0 else 16.0


def timed(fn, repeats: int = 5) -> tuple[object, float]:
    out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def main() -> None:
    rows = []
    totals = {"w": [0, 0, 0.0, 0], "lm": [0, 0, 0.0, 0], "trf": [0, 0, 0.0, 0]}
    for name in nist.LOWER + nist.AVERAGE:
        p = nist.load(name)
        jac = w.jacfwd(p.residual)

        def fun(b, p=p):
            return np.asarray(p.residual(b))

        for k in (0, 1):
            x0 = p.start[k]
            ours, t_w = timed(lambda x0=x0, p=p: w.least_squares(p.residual, x0))
            lm, t_lm = timed(
                lambda x0=x0, fun=fun, jac=jac: optimize.least_squares(
                    fun, x0, jac=lambda b: np.asarray(jac(b)), method="lm", ftol=1e-15,
                    xtol=1e-15, gtol=1e-15, max_nfev=10000,
                )
            )  # fmt: skip
            trf, t_trf = timed(lambda x0=x0, fun=fun: optimize.least_squares(fun, x0))
            d = [digits(r.x, p.certified) for r in (ours, lm, trf)]
            for key, r, dd, t in (
                ("w", ours, d[0], t_w),
                ("lm", lm, d[1], t_lm),
                ("trf", trf, d[2], t_trf),
            ):
                tot = totals[key]
                tot[0] += r.nfev
                tot[1] += r.njev or 0
                tot[2] += t
                tot[3] += dd >= 6
            rows.append([
                f"{name} ({p.difficulty})", str(k + 1),
                f"{d[0]:.1f}", f"{ours.nfev}/{ours.njev}", f"{t_w * 1e3:.1f}",
                f"{d[1]:.1f}", f"{lm.nfev}/{lm.njev}", f"{t_lm * 1e3:.1f}", f"{t_lm / t_w:.2f}",
                f"{d[2]:.1f}", f"{trf.nfev}", f"{t_trf * 1e3:.1f}",
            ])  # fmt: skip
    n = len(rows)
    print(f"NIST StRD nonlinear regression, {n} solves; wengert {w.__version__}")
    print(machine_header(("scipy",)))
    print("digits: significant digits of the worst parameter; nfev/njev; time: median of 5 solves, ms\n")
    header = [
        "problem", "start", "wengert digits", "nfev/njev", "ms",
        "scipy lm digits", "nfev/njev", "ms", "time lm / wengert",
        "scipy default digits", "nfev", "ms",
    ]  # fmt: skip
    print(table(rows, header))
    print()
    summary = []
    for key, label in (("w", "wengert lm"), ("lm", "scipy lm, tol 1e-15"), ("trf", "scipy default")):
        nfev, njev, t, ok = totals[key]
        summary.append([label, f"{ok}/{n}", str(nfev), str(njev), f"{t * 1e3:.0f}"])
    print(table(summary, ["solver", ">= 6 digits", "total nfev", "total njev", "total ms"]))


if __name__ == "__main__":
    main()
