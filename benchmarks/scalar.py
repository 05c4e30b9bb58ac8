"""The scalar engine side by side with micrograd, in one run.

(a) One training step of micrograd's own demo network: MLP 2-16-16-1 (ReLU hidden layers, linear
    output) on a batch of 32 two-moons points, SVM max-margin loss mean((1 - y * score).relu()) plus
    L2 regularisation 1e-4 * sum(p * p), zero_grad, backward, SGD update. wengert builds the same graph
    with its Nodes (wengert.nn.scalar.MLP starts from micrograd's weights, and the two losses and
    gradients are checked equal before timing).
(b) A chain of 100,000 operations (alternately * and + with a constant), built and backpropagated.
    micrograd's recursive topological sort fails at Python's default recursion limit; that is
    reported, then micrograd is timed with the limit raised, in a thread with a large stack.

Times are medians over repeats of time.perf_counter, with the garbage collector running as usual
(micrograd's cost includes freeing its reference cycles; wengert's graphs have none). Each system
runs in its own blocks, after a gc.collect(), so neither pays for the other's garbage.

Run: python benchmarks/scalar.py [--steps 20] [--chain 100000] [--repeats 5]
Needs micrograd (pip install micrograd, or the `bench` extra).
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout

import wengert
from wengert.nn.scalar import MLP, SGD

try:
    import micrograd
    from micrograd.engine import Value
    from micrograd.nn import MLP as MicroMLP
except ImportError:  # pragma: no cover - depends on the environment
    micrograd = None

ALPHA = 1e-4  # L2 regularisation of micrograd's demo
LR = 0.05


def two_moons(n: int, seed: int = 0) -> tuple[list[list[float]], list[float]]:
    """n noisy two-moons points and labels +-1, as Python floats."""
    rng = np.random.default_rng(seed)
    t = np.pi * rng.random(n)
    top = rng.random(n) < 0.5
    x = np.where(
        top[:, None], np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    )
    x += 0.1 * rng.standard_normal((n, 2))
    return x.tolist(), np.where(top, -1.0, 1.0).tolist()


# --- (a) the training step, written the same way for both systems ------------------------------------


def micrograd_loss(model, xs, ys):
    inputs = [list(map(Value, row)) for row in xs]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * si).relu() for yi, si in zip(ys, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = ALPHA * sum(p * p for p in model.parameters())
    return data_loss + reg_loss


def micrograd_step(model, xs, ys) -> float:
    total = micrograd_loss(model, xs, ys)
    model.zero_grad()
    total.backward()
    for p in model.parameters():
        p.data -= LR * p.grad
    return total.data


def wengert_loss(model, xs, ys) -> wengert.Node:
    inputs = [list(map(wengert.Node, row)) for row in xs]
    scores = [model(x)[0] for x in inputs]
    losses = [(1 + -yi * si).relu() for yi, si in zip(ys, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = ALPHA * sum(p * p for p in model.parameters())
    return data_loss + reg_loss


def wengert_step(model, opt, xs, ys) -> float:
    total = wengert_loss(model, xs, ys)
    opt.zero_grad()
    total.backward()
    opt.step()
    return total.value


def same_network(seed: int = 1):
    """micrograd's demo MLP and a wengert MLP with the same weights."""
    import random

    random.seed(seed)  # micrograd initialises from the random module
    micro = MicroMLP(2, [16, 16, 1])
    ours = MLP([2, 16, 16, 1], activation="relu", final_activation="linear", seed=seed)
    mp, wp = micro.parameters(), ours.parameters()
    assert len(mp) == len(wp) == 337
    for m, w in zip(mp, wp):
        w.value = float(m.data)
    return micro, ours


def check_identical(xs, ys) -> None:
    """Both systems give the same loss and the same gradients on the same weights."""
    micro, ours = same_network()
    lm = micrograd_step(micro, xs, ys)
    opt = SGD(ours.parameters(), lr=LR)
    lw = wengert_step(ours, opt, xs, ys)
    gm = np.array([p.grad for p in micro.parameters()])
    gw = np.array([p.grad for p in ours.parameters()])
    if not (np.isclose(lm, lw, rtol=1e-12) and np.allclose(gm, gw, rtol=1e-9, atol=1e-12)):
        raise SystemExit(
            f"the two networks differ: loss {lm} vs {lw}, max grad diff {abs(gm - gw).max()}"
        )


def time_blocks(fn, n: int, warmup: int = 2) -> list[float]:
    gc.collect()  # start from a clean heap: pay only for this system's own garbage
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


# --- (b) the chain ------------------------------------------------------------------------------------


def chain(leaf_type, n: int):
    """n operations on one value, alternately * and + with a constant; returns (leaf, output)."""
    x = leaf_type(0.5)
    y = x
    for i in range(n):
        y = y * 1.0000001 if i & 1 else y + 0.001
    return x, y


def time_chain(leaf_type, n: int, repeats: int) -> tuple[list[float], list[float], float]:
    """Build and backward times of `repeats` chains, and the leaf's gradient."""
    gc.collect()
    build, back = [], []
    grad = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        x, y = chain(leaf_type, n)
        t1 = time.perf_counter()
        y.backward()
        t2 = time.perf_counter()
        build.append(t1 - t0)
        back.append(t2 - t1)
        grad = x.grad
        del x, y
    return build, back, grad


def run_in_big_stack(fn, stack_mib: int = 1024):
    """fn() in a thread with a large C stack and a high recursion limit (for micrograd's recursion)."""
    result: dict = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as e:  # report it in the caller's thread
            result["error"] = e

    old_limit = sys.getrecursionlimit()
    old_stack = threading.stack_size(stack_mib * 1024 * 1024)
    sys.setrecursionlimit(10_000_000)
    try:
        t = threading.Thread(target=target)
        t.start()
        t.join()
    finally:
        threading.stack_size(old_stack)
        sys.setrecursionlimit(old_limit)
    if "error" in result:
        raise result["error"]
    return result["value"]


def ms(ts: list[float]) -> float:
    return 1e3 * statistics.median(ts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="wengert's scalar engine against micrograd.")
    parser.add_argument("--steps", type=int, default=20, help="timed MLP steps per block")
    parser.add_argument("--blocks", type=int, default=3, help="blocks of steps per system, alternating")
    parser.add_argument("--chain", type=int, default=100_000, help="operations in the chain")
    parser.add_argument("--repeats", type=int, default=5, help="timed chains per system")
    args = parser.parse_args(argv)
    if micrograd is None:
        raise SystemExit("micrograd is not installed: pip install micrograd (or the `bench` extra)")

    print(
        f"wengert {wengert.__version__} vs micrograd (engine.py, PyPI 'micrograd'); Python "
        f"{platform.python_version()}, numpy {np.__version__}, {platform.machine()}; gc enabled "
        f"(thresholds {gc.get_threshold()})"
    )

    # (a) --------------------------------------------------------------------------------------------
    xs, ys = two_moons(32)
    check_identical(xs, ys)
    micro, ours = same_network()
    opt = SGD(ours.parameters(), lr=LR)
    tm: list[float] = []
    tw: list[float] = []
    for _ in range(args.blocks):
        tm += time_blocks(lambda: micrograd_step(micro, xs, ys), args.steps)
        tw += time_blocks(lambda: wengert_step(ours, opt, xs, ys), args.steps)
    n_nodes = len(wengert_loss(ours, xs, ys).topological_sort())
    print(
        "\n(a) one training step of micrograd's demo MLP 2-16-16-1, batch 32, SVM loss + L2 "
        f"{ALPHA:g}, SGD"
        f"\n    ({n_nodes:,} graph nodes per step; same weights, loss and gradients checked equal; "
        f"median of {len(tm)} steps)"
    )
    print(f"    micrograd  {ms(tm):9.2f} ms/step")
    print(f"    wengert    {ms(tw):9.2f} ms/step")
    print(f"    wengert speedup  {ms(tm) / ms(tw):.2f}x   (target >= 2x)")
    # For reference only: the same steps with the collector off, which is most of micrograd's cost.
    gc.disable()
    try:
        tm0 = time_blocks(lambda: micrograd_step(micro, xs, ys), args.steps)
        tw0 = time_blocks(lambda: wengert_step(ours, opt, xs, ys), args.steps)
    finally:
        gc.enable()
    print(
        f"    (for reference, with gc disabled: micrograd {ms(tm0):.2f} ms, wengert {ms(tw0):.2f} ms, "
        f"{ms(tm0) / ms(tw0):.2f}x)"
    )

    # (b) --------------------------------------------------------------------------------------------
    n = args.chain
    print(f"\n(b) a chain of {n:,} operations (* and + with a constant), built and backpropagated")
    limit = sys.getrecursionlimit()
    try:
        _, y = chain(Value, n)
        y.backward()
        print(f"    micrograd at the default recursion limit ({limit}): backward succeeded")
    except RecursionError as e:
        print(
            f"    micrograd at the default recursion limit ({limit}): FAILED with RecursionError ({e})"
            "\n    (its topological sort is recursive)"
        )
    del y
    gc.collect()
    mb, mk, mg = run_in_big_stack(lambda: time_chain(Value, n, args.repeats))
    print("    micrograd timed with sys.setrecursionlimit(10_000_000), in a thread with a 1 GiB stack:")
    wb, wk, wg = time_chain(wengert.Node, n, args.repeats)
    if not np.isclose(mg, wg, rtol=1e-9):
        raise SystemExit(f"the chains differ: d out / d x = {mg} (micrograd) vs {wg} (wengert)")
    tot_m = [a + b for a, b in zip(mb, mk)]
    tot_w = [a + b for a, b in zip(wb, wk)]
    print(f"    {'':10} {'build':>10} {'backward':>10} {'total':>10}   (ms, median of {args.repeats})")
    print(f"    micrograd  {ms(mb):10.1f} {ms(mk):10.1f} {ms(tot_m):10.1f}")
    print(f"    wengert    {ms(wb):10.1f} {ms(wk):10.1f} {ms(tot_w):10.1f}")
    print(
        f"    wengert speedup  {ms(tot_m) / ms(tot_w):.2f}x total, {ms(mk) / ms(wk):.2f}x backward   "
        "(target >= 3x)"
    )


if __name__ == "__main__":
    main()
