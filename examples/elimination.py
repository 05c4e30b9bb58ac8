"""Beyond forward and reverse: Jacobians by vertex elimination on the linearised computational graph.

Counts the multiplications that forward, reverse and Markowitz vertex elimination need on classic
examples (the lighthouse of Griewank and Walther, a bottleneck function, random DAGs), checks the
Jacobians against jacfwd, and draws docs/elimination.png: a small graph before and after eliminating
one vertex.

Run: PYTHONPATH=src python examples/elimination.py [--picture]
"""

from __future__ import annotations

import os
import sys

import numpy as np

import wengert as W


def lighthouse(x):
    """Griewank and Walther's lighthouse: where the beam meets the quay wall."""
    nu, gamma, omega, t = x
    tn = (omega * t).sin() / (omega * t).cos()
    y1 = nu * tn / (gamma - tn)
    return [y1, gamma * y1]


def bottleneck(x):
    """n inputs feed one value, a chain of operations, then n outputs: neither mode is good."""
    s = x[0].sin()
    for xi in x[1:]:
        s = s + xi.sin()
    for _ in range(6):
        s = (s * 0.5).tanh()
    return [s * (k + 1.0) for k in range(len(x))]


def random_dag(seed: int, n_in: int = 5, n_mid: int = 40, n_out: int = 4):
    r = np.random.default_rng(seed)
    plan = [
        (int(r.integers(0, 4)), *(int(v) for v in r.integers(0, n_in + j, size=2))) for j in range(n_mid)
    ]
    outs = r.choice(n_in + n_mid, size=n_out, replace=False)

    def f(x):
        vals = list(x)
        for op, a, b in plan:
            u, v = vals[a], vals[b]
            vals.append([u * v, u + v.sin(), (u * 0.3).tanh() - v, u.exp() * 0.1 + v][op])
        return [vals[i] for i in outs]

    return f


def as_array_fn(f):
    return lambda v: W.stack(f([v[i] for i in range(v.shape[0])]))


def report(name, f, x) -> dict:
    g = W.linearize(f, x)
    c = g.counts()
    err = np.abs(g.jacobian("markowitz") - W.jacfwd(as_array_fn(f))(np.asarray(x))).max()
    print(
        f"{name:<22} n={g.n:<2} m={g.m:<2} vertices={g.num_vertices:<4} forward {c['forward']:>5}  "
        f"reverse {c['reverse']:>5}  Markowitz {c['markowitz']:>5}  (vector modes: "
        f"{c['forward (vector mode)']} / {c['reverse (vector mode)']}); |J - jacfwd| = {err:.1e}"
    )
    return c


def draw(path: str) -> None:
    """A vertex v with two predecessors and two successors, before and after eliminating it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pos = {"x1": (0, 1), "x2": (0, -1), "v": (1.5, 0), "y1": (3, 1), "y2": (3, -1)}
    before = {("x1", "v"): "a", ("x2", "v"): "b", ("v", "y1"): "c", ("v", "y2"): "d"}
    after = {("x1", "y1"): "c·a", ("x1", "y2"): "d·a", ("x2", "y1"): "c·b", ("x2", "y2"): "d·b"}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, edges, title in (
        (axes[0], before, "before: v has 2 predecessors, 2 successors"),
        (axes[1], after, "after eliminating v: 2 x 2 = 4 multiplications"),
    ):
        names = {u for e in edges for u in e}
        for u, v in edges:
            (x0, y0), (x1, y1) = pos[u], pos[v]
            ax.annotate(
                "", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="-|>", shrinkA=14, shrinkB=14)
            )
            t = 0.3 if len(edges) > 4 or (u in ("x1", "x2") and v != "v") else 0.5
            ax.text(x0 + t * (x1 - x0), y0 + t * (y1 - y0) + 0.12, edges[(u, v)], ha="center")
        for nm in names:
            x, y = pos[nm]
            ax.add_patch(plt.Circle((x, y), 0.25, fc="#dde8f5" if nm != "v" else "#f5e0c8", ec="k"))
            ax.text(x, y, nm, ha="center", va="center")
        ax.set_xlim(-0.5, 3.5)
        ax.set_ylim(-1.6, 1.6)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> None:
    report("lighthouse", lighthouse, [2.0, 3.0, 0.5, 1.0])
    report("bottleneck (n = m = 5)", bottleneck, np.linspace(0.1, 0.5, 5))
    wins = 0
    for seed in range(10):
        x = np.random.default_rng(seed).uniform(0.2, 0.9, 5)
        c = report(f"random DAG {seed}", random_dag(seed), x)
        wins += c["markowitz"] < min(c["forward"], c["reverse"])
    print(f"Markowitz needs fewer multiplications than both modes on {wins} of 10 random DAGs")
    if "--picture" in sys.argv:
        draw(os.path.join(os.path.dirname(__file__), "..", "docs", "elimination.png"))


if __name__ == "__main__":
    main()
