"""Implied volatility by Newton's method with derivatives from automatic differentiation.

The implied volatility of an option is the sigma at which a pricing model reproduces a market price.
Newton's method needs the model's derivative with respect to sigma (vega): AD gives it for any pricing
code, closed form or not. Three models, each written with wengert functions so the same code prices
with floats and differentiates with Tensors:

- Black-Scholes for a European call (the normal CDF from the `wengert.erf` primitive);
- a Cox-Ross-Rubinstein binomial tree of 200 steps for the same call: AD differentiates through the
  whole backward induction;
- the same tree for an American put, which has no closed form.

Newton (`wengert.solvers.newton`, vega by forward mode) is compared with bisection, the derivative-free
fallback, in iterations, time and error.

Run: PYTHONPATH=src python examples/implied_volatility.py
"""

from __future__ import annotations

import math
import time

import numpy as np

import wengert as w
from wengert.solvers import newton

_SQRT2 = math.sqrt(2.0)


def ndtr(x):
    """The standard normal CDF, Phi(x) = (1 + erf(x / sqrt 2)) / 2."""
    return 0.5 * (1.0 + w.erf(x / _SQRT2))


def bs_call(s: float, k: float, t: float, r: float, sigma):
    """Black-Scholes price of a European call (spot s, strike k, maturity t in years, rate r)."""
    vol = sigma * math.sqrt(t)
    d1 = (math.log(s / k) + r * t) / vol + 0.5 * vol
    return s * ndtr(d1) - k * math.exp(-r * t) * ndtr(d1 - vol)


def crr_price(
    s: float, k: float, t: float, r: float, sigma, steps: int = 200, put: bool = False, american=False
):
    """Cox-Ross-Rubinstein binomial-tree price of a call or put, European or American.

    Up factor u = exp(sigma sqrt(dt)), down 1/u, risk-neutral up probability
    p = (exp(r dt) - 1/u) / (u - 1/u); the payoff at maturity is discounted back through the tree,
    taking the exercise value where it is larger for an American option.
    """
    dt = t / steps
    log_u = sigma * math.sqrt(dt)
    up, down = w.exp(log_u), w.exp(-log_u)
    p = (math.exp(r * dt) - down) / (up - down)
    disc = math.exp(-r * dt)

    def payoff(level: int):
        # the spot at the level+1 nodes after `level` steps: s u^j d^(level-j), j = 0..level
        spot = s * w.exp(log_u * (2.0 * np.arange(level + 1) - level))
        return w.maximum(k - spot, 0.0) if put else w.maximum(spot - k, 0.0)

    v = payoff(steps)
    for level in range(steps - 1, -1, -1):
        v = disc * (p * v[1:] + (1 - p) * v[:-1])
        if american:
            v = w.maximum(v, payoff(level))
    return v[0]


def bisection(f, lo: float, hi: float, tol: float = 1e-10, maxiter: int = 200) -> tuple[float, int]:
    """A root of f in [lo, hi] (f(lo), f(hi) of opposite signs), to an interval of width tol."""
    f_lo = f(lo)
    for it in range(1, maxiter + 1):
        mid = 0.5 * (lo + hi)
        f_mid = f(mid)
        if f_mid == 0 or hi - lo < tol:
            return mid, it
        if (f_mid < 0) == (f_lo < 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    raise RuntimeError("bisection did not converge")


def implied_vol_newton(price_fn, target: float, x0: float = 0.3, tol: float = 1e-10):
    """sigma with price_fn(sigma) = target, by Newton with vega from forward-mode AD."""
    return newton(lambda sigma: price_fn(sigma) - target, x0, tol=tol)


def _timed(fn, repeat: int = 3):
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def compare(name: str, price, true_sigma: float, spot: float, t: float) -> None:
    """Print two table rows: the implied volatility of price(true_sigma) by Newton and by bisection."""
    target = float(price(true_sigma))
    # Brenner and Subrahmanyam's at-the-money approximation as Newton's starting point
    x0 = max(0.05, math.sqrt(2 * math.pi / t) * target / spot)
    res, dt_newton = _timed(lambda: implied_vol_newton(price, target, x0))
    (sig_b, it_b), dt_bis = _timed(lambda: bisection(lambda v: float(price(v)) - target, 1e-4, 3.0))
    err_newton, err_bis = abs(res.x - true_sigma), abs(sig_b - true_sigma)
    print(f"| {name} | Newton + AD | {res.iterations} | {1e3 * dt_newton:.2f} | {err_newton:.1e} |")
    print(f"| {name} | bisection | {it_b} | {1e3 * dt_bis:.2f} | {err_bis:.1e} |")


def main() -> None:
    s, k, t, r, true_sigma = 100.0, 110.0, 0.5, 0.03, 0.25
    models = {
        "Black-Scholes call": lambda sigma: bs_call(s, k, t, r, sigma),
        "CRR call, 200 steps": lambda sigma: crr_price(s, k, t, r, sigma),
        "CRR American put, 200 steps": lambda sigma: crr_price(
            s, k, t, r, sigma, put=True, american=True
        ),
    }
    print(f"S = {s}, K = {k}, T = {t}, r = {r}; prices computed at sigma = {true_sigma}\n")
    print("| model | method | iterations | time (ms) | abs. error in sigma |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, price in models.items():
        compare(name, price, true_sigma, s, t)
    bs, crr = float(bs_call(s, k, t, r, true_sigma)), float(crr_price(s, k, t, r, true_sigma))
    print(f"\nCall price at sigma = {true_sigma}: Black-Scholes {bs:.6f}, CRR with 200 steps {crr:.6f}")


if __name__ == "__main__":
    main()
