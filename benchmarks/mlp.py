"""One SGD training step of a ReLU MLP with softmax cross-entropy (float32), side by side: wengert,
hand-written numpy (no AD: the floor for any numpy-based library), PyTorch eager (CPU), HIPS autograd
and JAX without jit (when installed).

Three networks: 784-128-10 at batch 128 (where numpy's matrix products dominate), the same at batch 1
and a 4-4-2 network at batch 1 (where the fixed cost of each operation dominates: it shows the Python
overhead per step). Every system runs the same loop: forward, loss, backward, `p -= lr * grad`.

A second table gives the cheap-gradient ratio, time(loss and gradient) / time(loss), with no update:
for wengert through the tensor API (`loss.backward()`) and the functional API (`value_and_grad`), and
for the hand-written numpy backward, whose ratio is the floor.

Run: python benchmarks/mlp.py [--quick]      (pip install -e ".[bench]" for the other systems)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _util import installed, machine_header, table, time_interleaved

import wengert as W
from wengert import threads

LR = 0.05
CONFIGS = [
    ("784-128-10", (784, 128, 10), 128),
    ("784-128-10", (784, 128, 10), 1),
    ("4-4-2", (4, 4, 2), 1),
]


def problem(sizes, batch, seed=0):
    """Inputs, labels and initial weights [w1, b1, w2, b2, ...] (PyTorch's layout: w is (out, in))."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch)
    params = []
    for a, b in itertools.pairwise(sizes):
        params.append((rng.standard_normal((b, a)) * np.sqrt(2 / a)).astype(np.float32))
        params.append(np.zeros(b, np.float32))
    return x, y, params


# --- each system: (step, loss and gradient without update, loss alone) -------------------------------


def wengert_tensor(x_np, y, init):
    params = [W.tensor(p, requires_grad=True) for p in init]
    x = W.as_tensor(x_np)
    last = len(params) // 2 - 1

    def loss():
        h = x
        for i in range(0, len(params), 2):
            h = W.linear(h, params[i], params[i + 1])
            if i // 2 < last:
                h = W.relu(h)
        return W.cross_entropy(h, y)

    def grads():
        for p in params:
            p.grad = None
        loss().backward()

    def step():
        grads()
        with W.no_grad():
            for p in params:
                v = p.numpy()
                v -= LR * p.grad.numpy()

    def forward_only():
        with W.no_grad():
            loss()

    return step, grads, forward_only


def wengert_functional(x, y, init):
    """The same loss as a function of plain arrays, differentiated with value_and_grad."""
    params = [p.copy() for p in init]
    last = len(params) // 2 - 1

    def loss(ps):
        h = x
        for i in range(0, len(ps), 2):
            h = W.linear(h, ps[i], ps[i + 1])
            if i // 2 < last:
                h = W.relu(h)
        return W.cross_entropy(h, y)

    vg = W.value_and_grad(loss)

    def step():
        _, gs = vg(params)
        for p, g in zip(params, gs):
            p -= LR * g

    return step, lambda: vg(params), lambda: loss(params)


def numpy_hand(x, y, init):
    params = [p.copy() for p in init]
    n, classes = x.shape[0], params[-1].shape[0]
    onehot = np.eye(classes, dtype=np.float32)[y]
    rows = np.arange(n)

    def forward():
        hs = [x]
        h = x
        for i in range(0, len(params), 2):
            a = h @ params[i].T
            a += params[i + 1]
            h = np.maximum(a, 0) if i + 2 < len(params) else a
            hs.append(h)
        z = h - h.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(p[rows, y]).mean()
        return hs, p, loss

    def backward():
        hs, p, _ = forward()
        d = (p - onehot) / n
        gs = [None] * len(params)
        for i in range(len(params) - 2, -1, -2):
            h = hs[i // 2]
            gs[i] = d.T @ h
            gs[i + 1] = d.sum(0)
            if i:
                d = d @ params[i]
                d *= h > 0
        return gs

    def step():
        for v, g in zip(params, backward()):
            v -= LR * g

    return step, backward, forward


def torch_eager(x_np, y_np, init):
    import torch

    params = [torch.tensor(p, requires_grad=True) for p in init]
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    F = torch.nn.functional
    last = len(params) // 2 - 1

    def loss():
        h = x
        for i in range(0, len(params), 2):
            h = F.linear(h, params[i], params[i + 1])
            if i // 2 < last:
                h = F.relu(h)
        return F.cross_entropy(h, y)

    def grads():
        for p in params:
            p.grad = None
        loss().backward()

    def step():
        grads()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad

    def forward_only():
        with torch.no_grad():
            loss()

    return step, grads, forward_only


def hips_autograd(x, y, init):
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    params = [p.copy() for p in init]
    rows = np.arange(x.shape[0])

    def loss(ps):
        h = x
        for i in range(0, len(ps), 2):
            h = anp.dot(h, ps[i].T) + ps[i + 1]
            if i + 2 < len(ps):
                h = anp.maximum(h, 0)
        return anp.mean(logsumexp(h, axis=1) - h[rows, y])

    vg = autograd.value_and_grad(loss)

    def step():
        _, gs = vg(params)
        for p, g in zip(params, gs):
            p -= LR * g

    return step, lambda: vg(params), lambda: loss(params)


def jax_nojit(x, y, init):
    import jax
    import jax.numpy as jnp

    rows = jnp.arange(x.shape[0])

    def loss(ps):
        h = x
        for i in range(0, len(ps), 2):
            h = h @ ps[i].T + ps[i + 1]
            if i + 2 < len(ps):
                h = jnp.maximum(h, 0)
        return jnp.mean(jax.nn.logsumexp(h, axis=1) - h[rows, y])

    vg = jax.value_and_grad(loss)
    state = {"p": [jnp.asarray(p) for p in init]}

    def step():
        _, gs = vg(state["p"])
        state["p"] = [p - LR * g for p, g in zip(state["p"], gs)]
        gs[0].block_until_ready()

    def grads():
        vg(state["p"])[1][0].block_until_ready()

    return step, grads, lambda: loss(state["p"]).block_until_ready()


def check_same_gradients(x, y, init) -> None:
    """wengert's gradients (both APIs) agree with the hand-written numpy backward before timing."""
    ref = numpy_hand(x, y, init)[1]()
    tensor_params = [W.tensor(p, requires_grad=True) for p in init]
    h = W.as_tensor(x)
    for i in range(0, len(init), 2):
        h = W.linear(h, tensor_params[i], tensor_params[i + 1])
        h = W.relu(h) if i + 2 < len(init) else h
    W.cross_entropy(h, y).backward()
    by_tensor = [p.grad.numpy() for p in tensor_params]
    by_function = [np.asarray(g) for g in wengert_functional(x, y, init)[1]()[1]]
    for got in (by_tensor, by_function):
        for g, r in zip(got, ref):
            if not np.allclose(g, r, rtol=1e-4, atol=1e-6):
                raise SystemExit("wengert's gradient differs from the hand-written numpy backward")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing blocks (noisier)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads of numpy and threads of PyTorch, the same for every system (default 1, "
        "as `wengert train`; 0: each library's own default)",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: elapsed time; cpu: this process's CPU time, for a machine shared with other work "
        "(with one thread: a BLAS thread's spin-waiting would count as CPU time)",
    )
    args = parser.parse_args()
    min_time = 0.03 if args.quick else 0.1
    for lib in ("torch", "scipy.linalg"):  # load their BLAS now: the thread limit below reaches it
        with contextlib.suppress(ImportError):
            importlib.import_module(lib)
    with threads.blas_threads(args.threads or None):
        run(min_time, args.threads, args.clock)


def run(min_time: float, n_threads: int, clock: str = "wall") -> None:
    optional = {"PyTorch eager": torch_eager, "autograd": hips_autograd, "JAX (no jit)": jax_nojit}
    probe = problem((4, 4, 2), 1)
    optional = {k: v for k, v in optional.items() if k in installed({k: lambda v=v: v(*probe)})}
    if n_threads and "PyTorch eager" in optional:
        import torch

        torch.set_num_threads(n_threads)
    print(machine_header())
    if "PyTorch eager" in optional:
        import torch

        print(f"PyTorch threads: {torch.get_num_threads()}")
    print(f"clock: {'elapsed time' if clock == 'wall' else 'CPU time of this process'}")
    summary = []
    for label, sizes, batch in CONFIGS:
        x, y, init = problem(sizes, batch)
        check_same_gradients(x, y, init)
        systems = {
            "wengert": wengert_tensor,
            "wengert value_and_grad": wengert_functional,
            "numpy (hand-written, no AD)": numpy_hand,
            **optional,
        }
        if batch == 1:
            systems.pop("JAX (no jit)", None)  # 10 ms a step whatever the size: nothing to learn here
        fns = {}
        for name, make in systems.items():
            for kind, fn in zip(("step", "grad", "loss"), make(x, y, init)):
                fns[name, kind] = fn
        res = time_interleaved(fns, min_time=min_time, clock=clock)
        floor = res["numpy (hand-written, no AD)", "step"][0]
        torch_t = res["PyTorch eager", "step"][0] if "PyTorch eager" in systems else None
        rows = []
        for name in systems:
            t_step, spread = res[name, "step"]
            cheap = res[name, "grad"][0] / res[name, "loss"][0]
            rows.append(
                [
                    name,
                    f"{t_step * 1e6:,.1f} ±{spread:.0%}",
                    f"{t_step / floor:.2f}x",
                    "-" if torch_t is None else f"{t_step / torch_t:.2f}x",
                    f"{cheap:.2f}",
                ]
            )
        print(f"\n{label} ReLU MLP, batch {batch}, float32, SGD step (forward, backward, update)")
        print(table(rows, ["system", "µs/step", "vs numpy", "vs PyTorch", "loss and gradient / loss"]))
        w = res["wengert", "step"][0]
        f = res["wengert value_and_grad", "step"][0]
        summary.append(
            f"{label} batch {batch}: wengert {w / floor:.2f}x numpy's time"
            + ("" if torch_t is None else f", {w / torch_t:.2f}x PyTorch eager's")
            + f"; value_and_grad step {f / floor:.2f}x numpy's"
        )
    print(
        "\n(µs/step: median of interleaved blocks, ± half the interquartile range; vs numpy / vs "
        "PyTorch: time per step divided by theirs, < 1 is faster; the last column is the "
        "cheap-gradient ratio, time(loss and gradient, no update) / time(loss alone))"
    )
    print("\n".join(summary))


if __name__ == "__main__":
    main()
