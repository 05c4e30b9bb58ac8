"""`wengert train` under CPU contention: epoch time with the machine as it is, and with one more
CPU-bound process running (this script starts it: a Python loop that never sleeps), for numpy's own
BLAS thread count and for the count `wengert train` uses by default.

The epoch is the one `wengert train` runs with its defaults: the bundled MNIST digits (8,000 images,
standardised), a 784-256-10 sigmoid MLP, SGD with momentum, batch 16, through
`wengert.train.train_epoch`.
With spinning BLAS threads the busy process can slow an epoch several times over; with one thread it
should cost at most the share of a core it takes.

Run: python benchmarks/contention.py [--steps N] [--rounds R]      (needs threadpoolctl)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _util import machine_header, table

from wengert import nn, optim, threads
from wengert.cli import DEFAULTS, LEARNING_RATES, load_dataset
from wengert.data import DataLoader
from wengert.data.datasets import standardize
from wengert.train import train_epoch


def make_epoch(steps: int | None):
    """A function running one `wengert train` epoch (or only its first `steps` batches), each call
    continuing the training of one model; returns (function, batches per call)."""
    x, y, _, _, _ = load_dataset("mnist-bundled")
    x = standardize(x, float(x.mean()), float(x.std()))
    if steps is not None:
        n = steps * DEFAULTS["batch_size"]
        x, y = x[:n], y[:n]
    model = nn.MLP([784, *DEFAULTS["hidden"], 10], DEFAULTS["activation"], seed=0)
    opt = optim.SGD(model.parameters(), lr=LEARNING_RATES["sgd"], momentum=DEFAULTS["momentum"])
    loader = DataLoader(x, y, DEFAULTS["batch_size"], shuffle=True, seed=0)
    return (lambda: train_epoch(model, opt, loader)), len(loader)


def busy_process(same_session: bool) -> subprocess.Popen:
    """One CPU-bound process: a Python loop that never sleeps. By default it runs in a session of its
    own, like another program: Linux's scheduler (with autogroup, its default) shares the cores
    fairly between sessions first, so a busy child in this session would take half of this
    session's share whatever the threads do."""
    return subprocess.Popen(
        [sys.executable, "-c", "while True: pass"], start_new_session=not same_session
    )


def timed(fn, n_threads: int | None, rounds: int) -> list[float]:
    out = []
    with threads.blas_threads(n_threads):
        fn()  # warm up under this thread count
        for _ in range(rounds):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="time only the first N batches")
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs per setting")
    parser.add_argument(
        "--same-session", action="store_true", help="run the busy process in this process's session"
    )
    args = parser.parse_args()
    print(machine_header(peers=()))
    fn, batches = make_epoch(args.steps)
    numpy_default = threads.blas_info()[0]["num_threads"] if threads.blas_info() else None
    settings = {
        f"numpy's default ({numpy_default} threads)": None,
        f"wengert train's default ({threads.DEFAULT_TRAIN_THREADS} thread)": (
            threads.DEFAULT_TRAIN_THREADS
        ),
    }
    results: dict[str, dict[str, list[float]]] = {name: {"quiet": [], "busy": []} for name in settings}
    # Alternate the settings and the load, twice, so that a change in the machine's own load
    # during the run reaches every cell alike.
    for _ in range(2):
        for load in ("quiet", "busy"):
            proc = busy_process(args.same_session) if load == "busy" else None
            try:
                if proc is not None:
                    time.sleep(0.5)  # let it start spinning
                for name, n in settings.items():
                    results[name][load] += timed(fn, n, args.rounds)
            finally:
                if proc is not None:
                    proc.kill()
                    proc.wait()
    print(
        f"\n`wengert train` defaults: 784-{DEFAULTS['hidden'][0]}-10 {DEFAULTS['activation']}, "
        f"batch {DEFAULTS['batch_size']}, {batches} batches per timed epoch; median of "
        f"{2 * args.rounds} epochs per cell; the busy process in "
        + ("this session" if args.same_session else "a session of its own")
    )
    rows = []
    for name, r in results.items():
        quiet, busy = statistics.median(r["quiet"]), statistics.median(r["busy"])
        rows.append([name, f"{quiet:.3f}", f"{busy:.3f}", f"{busy / quiet:.2f}x"])
    print(table(rows, ["BLAS threads", "s/epoch", "s/epoch, one busy process", "busy / quiet"]))
    print(f"(load before the run as printed above; numpy {np.__version__})")


if __name__ == "__main__":
    main()
