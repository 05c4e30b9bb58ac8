"""Per-example gradients of a 784-128-10 ReLU MLP (softmax cross-entropy, batch 64, float32), side by
side: wengert's `vmap(grad(loss), in_axes=(None, 0, 0))` (also under `wengert.jit` where it exists),
a Python loop of `grad` over the examples, torch.func.vmap(grad), and jax.vmap(grad) without and with
jit. Every system's gradients are checked
against wengert's loop before timing.

Run: python benchmarks/vmap.py            (pip install -e ".[bench]" for the other systems)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _util import cpu_model, installed, table, time_per_call

import wengert as W

try:
    from _util import machine_header
except ImportError:  # an older _util: the same paragraph, written here

    def machine_header(peers=("torch", "jax")) -> str:
        import importlib.metadata as md

        model = cpu_model()
        versions = []
        for name in peers:
            try:
                versions.append(f"{name} {md.version(name)}")
            except md.PackageNotFoundError:
                versions.append(f"{name} not installed")
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        return (
            f"CPU: {model}, {os.cpu_count()} cores, load average {load}\n"
            f"Python {platform.python_version()}; numpy {np.__version__}; {'; '.join(versions)}"
        )


N, D, H, C = 64, 784, 128, 10
rng = np.random.default_rng(0)
X = rng.random((N, D), dtype=np.float32)
Y = rng.integers(0, C, N)
PARAMS = {
    "w1": (rng.standard_normal((H, D)) * np.sqrt(2 / D)).astype(np.float32),
    "b1": np.zeros(H, np.float32),
    "w2": (rng.standard_normal((C, H)) * np.sqrt(2 / H)).astype(np.float32),
    "b2": np.zeros(C, np.float32),
}
KEYS = sorted(PARAMS)


def wengert_loss(p, x, y):
    h = W.relu(W.linear(x, p["w1"], p["b1"]))
    return W.cross_entropy(W.linear(h, p["w2"], p["b2"]), y)


def wengert_vmap():
    per_example = W.vmap(W.grad(wengert_loss), in_axes=(None, 0, 0))
    return lambda: per_example(PARAMS, X, Y)


def wengert_jit_vmap():
    per_example = W.jit(W.vmap(W.grad(wengert_loss), in_axes=(None, 0, 0)))
    return lambda: per_example(PARAMS, X, Y)


def wengert_loop():
    g = W.grad(wengert_loss)

    def run():
        grads = [g(PARAMS, X[i], Y[i]) for i in range(N)]
        return {k: np.stack([gr[k] for gr in grads]) for k in KEYS}

    return run


def torch_vmap():
    import torch
    from torch import func

    p = {k: torch.tensor(v) for k, v in PARAMS.items()}
    x, y = torch.tensor(X), torch.tensor(Y)

    def loss(p, x, y):
        h = torch.relu(x @ p["w1"].T + p["b1"])
        return torch.nn.functional.cross_entropy(h @ p["w2"].T + p["b2"], y)

    per_example = func.vmap(func.grad(loss), in_dims=(None, 0, 0))
    return lambda: {k: v.numpy() for k, v in per_example(p, x, y).items()}


def jax_vmap(jit: bool):
    import jax
    import jax.numpy as jnp

    p = {k: jnp.asarray(v) for k, v in PARAMS.items()}
    x, y = jnp.asarray(X), jnp.asarray(Y)

    def loss(p, x, y):
        h = jax.nn.relu(p["w1"] @ x + p["b1"])
        return -jax.nn.log_softmax(p["w2"] @ h + p["b2"])[y]

    per_example = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))
    if jit:
        per_example = jax.jit(per_example)

    def run():
        out = per_example(p, x, y)
        jax.block_until_ready(out)
        return out

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS and PyTorch threads (default 1: on a loaded machine spinning BLAS threads can "
        "slow a matrix product a hundredfold)",
    )
    args = parser.parse_args()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)  # holds until restored
    except ImportError:
        print("(threadpoolctl not installed: numpy's BLAS keeps its own thread count)")
    systems = {"wengert vmap(grad)": wengert_vmap, "wengert loop of grad": wengert_loop}
    if hasattr(W, "jit"):
        systems["wengert jit(vmap(grad))"] = wengert_jit_vmap
    systems.update(
        installed(
            {
                "torch.func vmap(grad)": torch_vmap,
                "JAX vmap(grad), no jit": lambda: jax_vmap(False),
                "JAX vmap(grad), jit": lambda: jax_vmap(True),
            }
        )
    )
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    ref = wengert_loop()()
    rows = []
    base = None
    for name, make in systems.items():
        fn = make()
        out = fn()
        for k in KEYS:  # the same per-example gradients everywhere
            np.testing.assert_allclose(np.asarray(out[k]), ref[k], rtol=2e-3, atol=2e-5)
        t = time_per_call(fn, min_time=0.3, repeats=7)
        base = base or t
        rows.append([name, f"{t * 1e3:.2f}", f"{t / base:.2f}x", f"{t / N * 1e6:.1f}"])
    print(machine_header())
    print(f"{args.threads} BLAS/PyTorch thread(s); JAX uses its own thread pool")
    print(
        f"per-example gradients, MLP {D}-{H}-{C}, batch {N}, float32; median of 7 blocks; "
        "(x) = time / wengert vmap's"
    )
    print(table(rows, ["system", "ms per batch", "vs wengert vmap", "us per example"]))


if __name__ == "__main__":
    main()
