"""ADVI (mean-field and full-rank) against HMC on real models: posterior means and standard
deviations side by side, and the time each method takes, in one run.

- Eight schools (Rubin 1981): the eight published estimates y_j and standard errors sigma_j; mu ~
  N(0, 5^2), tau ~ half-Cauchy(0, 5), theta_j = mu + tau eta_j with eta_j ~ N(0, 1) (non-centred);
  latents mu (real), tau (positive), eta (real, 8).
- Challenger O-rings (23 flights): logistic regression of thermal distress on standardised launch
  temperature, coefficients ~ N(0, 10^2).
- Breast-cancer diagnosis (scikit-learn's bundled copy of the Wisconsin data, 569 x 30, standardised;
  skipped without scikit-learn): logistic regression, coefficients ~ N(0, 1).

ADVI: 1 draw per step (Kucukelbir et al.'s default), Adam, iterate averaging over the last 10%; the
density is written for one draw. HMC: wengert.vi.hmc with dual-averaging step size, 10 leapfrog
steps, on the same unconstrained density.

Run: PYTHONPATH=src python benchmarks/advi.py [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _util import machine_header, table

import wengert as w
from wengert.data.classic import CHALLENGER, EIGHT_SCHOOLS
from wengert.vi import Latents, advi, hmc, unconstrained

QUICK = "--quick" in sys.argv
STEPS = 3000 if QUICK else 10000
DRAWS = 1000 if QUICK else 4000


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def compare(title, names, fits, times, note=""):
    """fits: {method: (mean array, sd array)} over the same named quantities."""
    methods = list(fits)
    rows = []
    for i, name in enumerate(names):
        row = [name]
        for m in methods:
            row.append(f"{fits[m][0][i]:8.3f} ± {fits[m][1][i]:.3f}")
        rows.append(row)
    print(f"\n{title}{note}")
    print(table(rows, ["quantity", *[f"{m} mean ± sd" for m in methods]]))
    print("time: " + ", ".join(f"{m} {times[m]:.1f} s" for m in methods))


def eight_schools() -> None:
    y, sigma = EIGHT_SCHOOLS["y"], EIGHT_SCHOOLS["sigma"]
    latents = {"mu": "real", "tau": "positive", "eta": ("real", 8)}

    def log_density(p):
        theta = p["mu"] + p["tau"] * p["eta"]
        return (
            -0.5 * (p["mu"] / 5) ** 2
            - w.log1p((p["tau"] / 5) ** 2)
            - 0.5 * w.sum(p["eta"] ** 2)
            - 0.5 * w.sum(((y - theta) / sigma) ** 2)
        )

    def summarise(d):
        theta = d["mu"][:, None] + d["tau"][:, None] * d["eta"]
        q = np.column_stack([d["mu"], d["tau"], theta])
        return q.mean(0), q.std(0)

    fits, times = {}, {}
    for family in ("meanfield", "fullrank"):
        q, times[f"ADVI {family}"] = timed(
            lambda family=family: advi(
                log_density, latents, family=family, num_samples=1, steps=STEPS, seed=0
            )
        )
        fits[f"ADVI {family}"] = summarise(q.draws(20000, seed=1))
    ref, times["HMC"] = timed(
        lambda: hmc(unconstrained(log_density, latents), np.zeros(10), num_samples=DRAWS, step_size=0.2,
                    num_leapfrog=10, seed=0, burn_in=1000)
    )  # fmt: skip
    vals, _ = Latents(latents).constrain(ref.samples)
    fits["HMC"] = summarise({k: np.asarray(v) for k, v in vals.items()})
    names = ["mu", "tau"] + [f"theta[{j + 1}] (y={y[j]:.0f}, se={sigma[j]:.0f})" for j in range(8)]
    compare(
        "Eight schools", names, fits, times,
        f" ({STEPS} ADVI steps; HMC 1000 burn-in + {DRAWS} draws, acceptance {ref.acceptance_rate:.2f})",
    )  # fmt: skip


def logistic(title, x, y, prior_sd, names, step_size) -> None:
    d = x.shape[1] + 1

    def log_density(b):
        logits = x @ b[1:] + b[0]
        return w.sum(y * logits - w.softplus(logits)) - 0.5 * w.sum(b * b) / prior_sd**2

    fits, times = {}, {}
    for family in ("meanfield", "fullrank"):
        q, times[f"ADVI {family}"] = timed(
            lambda family=family: advi(log_density, d, family=family, num_samples=1, steps=STEPS, seed=0)
        )
        fits[f"ADVI {family}"] = (q.mean, q.std)
    ref, times["HMC"] = timed(
        lambda: hmc(log_density, np.zeros(d), num_samples=DRAWS, step_size=step_size, num_leapfrog=10,
                    seed=0, burn_in=1000)
    )  # fmt: skip
    fits["HMC"] = (ref.samples.mean(0), ref.samples.std(0))
    shown = min(d, 8)
    compare(
        title, names[:shown], {k: (m[:shown], s[:shown]) for k, (m, s) in fits.items()}, times,
        f" ({STEPS} ADVI steps; HMC 1000 burn-in + {DRAWS} draws, acceptance {ref.acceptance_rate:.2f})",
    )  # fmt: skip
    if d > shown:
        hm, hs = fits["HMC"]
        for k in ("ADVI meanfield", "ADVI fullrank"):
            m, s = fits[k]
            gap = np.abs(m - hm) / hs
            print(
                f"  {k}, all {d} coefficients: |mean - HMC mean| / HMC sd max {gap.max():.2f} "
                f"(median {np.median(gap):.2f}); sd / HMC sd median {np.median(s / hs):.2f}"
            )


def main() -> None:
    print(f"ADVI vs HMC; wengert {w.__version__}")
    print(machine_header(("scikit-learn",)))
    eight_schools()
    t, y = CHALLENGER["temperature"], CHALLENGER["distress"]
    x = ((t - t.mean()) / t.std())[:, None]
    logistic(
        "Challenger O-rings, logistic regression", x, y, 10.0, ["intercept", "temperature (std.)"], 0.3
    )
    try:
        from sklearn.datasets import load_breast_cancer
    except ImportError:
        print("\n(breast-cancer data: scikit-learn not installed, skipped)")
        return
    data = load_breast_cancer()
    xb = (data.data - data.data.mean(0)) / data.data.std(0)
    logistic(
        "Breast cancer (569 x 30), logistic regression", xb, data.target.astype(float), 1.0,
        ["intercept", *data.feature_names], 0.05,
    )  # fmt: skip


if __name__ == "__main__":
    main()
