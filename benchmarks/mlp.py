"""One SGD training step of a 784-128-10 ReLU MLP (softmax cross-entropy, batch 128, float32),
side by side: wengert, PyTorch eager (CPU), HIPS autograd, JAX without jit (when installed), and a
hand-written numpy forward/backward (no AD: the floor for any numpy-based library).

Run: python benchmarks/mlp.py            (pip install -e ".[bench]" for the other systems)
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _util import installed, table, time_per_call

import wengert as W

B, D, H, C, LR = 128, 784, 128, 10, 0.05
rng = np.random.default_rng(0)
X = rng.random((B, D), dtype=np.float32)
Y = rng.integers(0, C, B)
W1 = (rng.standard_normal((H, D)) * np.sqrt(2 / D)).astype(np.float32)
B1 = np.zeros(H, np.float32)
W2 = (rng.standard_normal((C, H)) * np.sqrt(2 / H)).astype(np.float32)
B2 = np.zeros(C, np.float32)


def wengert_step():
    params = [W.tensor(p, requires_grad=True) for p in (W1, B1, W2, B2)]
    x = W.as_tensor(X)

    def loss():
        h = W.relu(W.linear(x, params[0], params[1]))
        return W.cross_entropy(W.linear(h, params[2], params[3]), Y)

    def step():
        for p in params:
            p.grad = None
        loss().backward()
        with W.no_grad():
            for p in params:
                v = p.numpy()
                v -= LR * p.grad.numpy()

    def forward_only():
        with W.no_grad():
            loss()

    return step, forward_only


def numpy_step():
    w1, b1, w2, b2 = (p.copy() for p in (W1, B1, W2, B2))
    onehot = np.eye(C, dtype=np.float32)[Y]

    def forward():
        a = X @ w1.T
        a += b1
        h = np.maximum(a, 0)
        z = h @ w2.T
        z += b2
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(B), Y]).mean()
        return h, p, loss

    def step():
        h, p, _ = forward()
        dz = (p - onehot) / B
        gw2 = dz.T @ h
        gb2 = dz.sum(0)
        dh = dz @ w2
        dh *= h > 0
        gw1 = dh.T @ X
        gb1 = dh.sum(0)
        for v, g in ((w1, gw1), (b1, gb1), (w2, gw2), (b2, gb2)):
            v -= LR * g

    return step, forward


def torch_step():
    import torch

    params = [torch.tensor(p, requires_grad=True) for p in (W1, B1, W2, B2)]
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    F = torch.nn.functional

    def loss():
        h = F.relu(F.linear(x, params[0], params[1]))
        return F.cross_entropy(F.linear(h, params[2], params[3]), y)

    def step():
        for p in params:
            p.grad = None
        loss().backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad

    def forward_only():
        with torch.no_grad():
            loss()

    return step, forward_only


def autograd_step():
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    params = [p.copy() for p in (W1, B1, W2, B2)]

    def loss(ps):
        w1, b1, w2, b2 = ps
        h = anp.maximum(anp.dot(X, w1.T) + b1, 0)
        z = anp.dot(h, w2.T) + b2
        return anp.mean(logsumexp(z, axis=1) - z[np.arange(B), Y])

    vg = autograd.value_and_grad(loss)

    def step():
        _, gs = vg(params)
        for p, g in zip(params, gs):
            p -= LR * g

    return step, lambda: loss(params)


def jax_step():
    import jax
    import jax.numpy as jnp

    params = [jnp.asarray(p) for p in (W1, B1, W2, B2)]

    def loss(ps):
        w1, b1, w2, b2 = ps
        h = jnp.maximum(X @ w1.T + b1, 0)
        z = h @ w2.T + b2
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - z[jnp.arange(B), Y])

    vg = jax.value_and_grad(loss)
    state = {"p": params}

    def step():
        _, gs = vg(state["p"])
        state["p"] = [p - LR * g for p, g in zip(state["p"], gs)]
        gs[0].block_until_ready()

    return step, lambda: loss(state["p"]).block_until_ready()


def main() -> None:
    systems = {"wengert": wengert_step, "numpy (hand-written, no AD)": numpy_step}
    optional = {"PyTorch eager": torch_step, "autograd": autograd_step, "JAX (no jit)": jax_step}
    systems.update(installed(optional))
    threads = os.cpu_count()
    results = {}
    for name, make in systems.items():
        step, fwd = make()
        results[name] = (time_per_call(step), time_per_call(fwd))
    base = results["wengert"][0]
    rows = []
    for name, (t_step, t_fwd) in results.items():
        rows.append(
            [
                name,
                f"{t_step * 1e3:.3f}",
                f"{1 / t_step:,.0f}",
                f"{t_step / base:.2f}x",
                f"{t_step / t_fwd:.2f}",
            ]
        )
    print(f"784-128-10 ReLU MLP, batch {B}, float32, SGD; {threads} threads; numpy {np.__version__}")
    print(table(rows, ["system", "ms/step", "steps/s", "time vs wengert", "step / forward"]))
    print(
        "(time vs wengert > 1: slower than wengert; step / forward is the cheap-gradient ratio:"
        " time(loss and gradient) / time(loss alone))"
    )
    for other in ("PyTorch eager", "autograd"):
        if other in results:
            print(f"wengert steps/s = {results[other][0] / base:.2f} x {other}'s")


if __name__ == "__main__":
    main()
