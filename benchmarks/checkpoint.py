"""Memory for time with wengert.checkpoint: the gradient of a 200-layer tanh chain of width 1000
(h <- tanh(h @ W), a batch of 16 rows, float64), with and without a checkpoint every 14 layers.

Peak memory is measured by tracemalloc (numpy reports its allocations to it); time is the median of
repeated runs. Run: python benchmarks/checkpoint.py
"""

from __future__ import annotations

import os
import sys
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _util import table, time_per_call

import wengert as W

DEPTH, WIDTH, BATCH, EVERY = 200, 1000, 16, 14
rng = np.random.default_rng(0)
Wm = rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH)
X = rng.standard_normal((BATCH, WIDTH))


def layers(h, n):
    for _ in range(n):
        h = W.tanh(h @ Wm)
    return h


def loss_plain(x):
    return W.sum(layers(x, DEPTH))


def loss_checkpointed(x):
    h, done = x, 0
    while done < DEPTH:
        n = min(EVERY, DEPTH - done)
        h = W.checkpoint(lambda h, n=n: layers(h, n))(h)
        done += n
    return W.sum(h)


def peak_bytes(fn) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    g_plain, g_ck = W.grad(loss_plain), W.grad(loss_checkpointed)
    assert np.allclose(g_plain(X), g_ck(X))
    rows = []
    res = {}
    for name, g in (("no checkpoint", g_plain), (f"checkpoint every {EVERY} layers", g_ck)):
        mem = peak_bytes(lambda g=g: g(X))
        t = time_per_call(lambda g=g: g(X), min_time=0.01, repeats=3)
        res[name] = (mem, t)
        rows.append([name, f"{mem / 2**20:.1f}", f"{t * 1e3:.1f}"])
    print(f"gradient of a {DEPTH}-layer tanh chain, width {WIDTH}, batch {BATCH}, float64")
    print(table(rows, ["", "peak MiB (tracemalloc)", "ms"]))
    (m0, t0), (m1, t1) = res.values()
    print(f"memory drops {m0 / m1:.1f}x; time grows {t1 / t0:.2f}x")


if __name__ == "__main__":
    main()
