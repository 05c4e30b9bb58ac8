"""Jacobians, Hessians and Hessian-vector products, side by side: wengert, torch.func, JAX (without jit,
and with jit for reference) and HIPS autograd.

- Rosenbrock in n = 100: the full Hessian, and one Hessian-vector product.
- J of tanh(A x) for (n = 10 inputs, m = 1000 outputs) and (n = 1000, m = 10), by forward mode (jacfwd)
  and by reverse mode (jacrev): forward should win when n << m and reverse when n >> m.

Run: python benchmarks/transforms.py      (pip install -e ".[bench]" for the other systems)
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _util import installed, table, time_per_call

import wengert as W

rng = np.random.default_rng(0)
N = 100
X = rng.uniform(-1, 1, N)
V = rng.standard_normal(N)
SHAPES = {"n=10, m=1000": (10, 1000), "n=1000, m=10": (1000, 10)}
A = {k: rng.standard_normal((m, n)) / np.sqrt(n) for k, (n, m) in SHAPES.items()}
XA = {k: rng.standard_normal(n) for k, (n, m) in SHAPES.items()}


def wengert_cases():
    rosen = lambda x: W.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    cases = {"Hessian (n=100)": lambda: W.hessian(rosen)(X), "HVP (n=100)": lambda: W.hvp(rosen, X, V)}
    for k in SHAPES:
        f = lambda x, a=A[k]: W.tanh(a @ x)
        cases[f"jacfwd {k}"] = lambda f=f, k=k: W.jacfwd(f)(XA[k])
        cases[f"jacrev {k}"] = lambda f=f, k=k: W.jacrev(f)(XA[k])
    return cases


def torch_cases():
    import torch
    from torch import func

    rosen = lambda x: torch.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    x, v = torch.tensor(X), torch.tensor(V)
    hvp = lambda: func.jvp(func.grad(rosen), (x,), (v,))[1]
    cases = {"Hessian (n=100)": lambda: func.hessian(rosen)(x), "HVP (n=100)": hvp}
    for k in SHAPES:
        a, xa = torch.tensor(A[k]), torch.tensor(XA[k])
        f = lambda x, a=a: torch.tanh(a @ x)
        cases[f"jacfwd {k}"] = lambda f=f, xa=xa: func.jacfwd(f)(xa)
        cases[f"jacrev {k}"] = lambda f=f, xa=xa: func.jacrev(f)(xa)
    return cases


def jax_cases(jit: bool):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    wrap = jax.jit if jit else (lambda f: f)
    ready = lambda y: y.block_until_ready()
    rosen = lambda x: jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    x, v = jnp.asarray(X), jnp.asarray(V)
    hess = wrap(jax.hessian(rosen))
    hvp = wrap(lambda x, v: jax.jvp(jax.grad(rosen), (x,), (v,))[1])
    cases = {"Hessian (n=100)": lambda: ready(hess(x)), "HVP (n=100)": lambda: ready(hvp(x, v))}
    for k in SHAPES:
        a, xa = jnp.asarray(A[k]), jnp.asarray(XA[k])
        f = lambda x, a=a: jnp.tanh(a @ x)
        jf, jr = wrap(jax.jacfwd(f)), wrap(jax.jacrev(f))
        cases[f"jacfwd {k}"] = lambda jf=jf, xa=xa: ready(jf(xa))
        cases[f"jacrev {k}"] = lambda jr=jr, xa=xa: ready(jr(xa))
    return cases


def autograd_cases():
    import autograd
    import autograd.numpy as anp

    rosen = lambda x: anp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    hvp = autograd.hessian_vector_product(rosen)
    cases = {"Hessian (n=100)": lambda: autograd.hessian(rosen)(X), "HVP (n=100)": lambda: hvp(X, V)}
    for k in SHAPES:
        f = lambda x, a=A[k]: anp.tanh(anp.dot(a, x))
        cases[f"jacfwd {k}"] = lambda f=f, k=k: autograd.jacobian(f)(XA[k])  # autograd: reverse only
        cases[f"jacrev {k}"] = lambda f=f, k=k: autograd.jacobian(f)(XA[k])
    return cases


def main() -> None:
    systems = {"wengert": wengert_cases}
    systems.update(
        installed(
            {
                "torch.func": torch_cases,
                "JAX (no jit)": lambda: jax_cases(False),
                "JAX (jit)": lambda: jax_cases(True),
                "autograd": autograd_cases,
            }
        )
    )
    results = {
        name: {c: time_per_call(fn, min_time=0.1, repeats=5) for c, fn in make().items()}
        for name, make in systems.items()
    }
    ref = results["wengert"]
    cases = list(ref)
    rows = []
    for c in cases:
        row = [c, f"{ref[c] * 1e3:.3f}"]
        for name in systems:
            if name != "wengert":
                row.append(f"{results[name][c] * 1e3:.3f} ({results[name][c] / ref[c]:.1f}x)")
        rows.append(row)
    header = ["case", "wengert ms"] + [f"{n} ms (vs wengert)" for n in systems if n != "wengert"]
    print("float64; (Nx) = that system's time / wengert's: above 1 means wengert is faster")
    print("autograd has no forward-mode Jacobian: its jacfwd rows time autograd.jacobian (reverse)")
    print(table(rows, header))
    for k in SHAPES:
        f, r = ref[f"jacfwd {k}"], ref[f"jacrev {k}"]
        fast, slow = ("jacfwd", "jacrev") if f < r else ("jacrev", "jacfwd")
        print(f"wengert {k}: {fast} is {max(f, r) / min(f, r):.1f}x faster than {slow}")


if __name__ == "__main__":
    main()
