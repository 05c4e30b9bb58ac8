"""Training throughput: one epoch over the bundled MNIST digits (8,000 images), wengert beside PyTorch
eager on the CPU, with the same model, initial weights, batches, loss and optimizer.

Configurations: the `wengert train` default (784-256-10 sigmoid MLP, softmax cross-entropy, SGD with
momentum, batch 32) and a 784-128-10 ReLU MLP with batch 128. Both systems run the same loop per
batch: forward, loss, zero_grad, backward, optimizer step. "wengert train_epoch" is the library's own
loop (wengert.train), which also tracks the running loss and accuracy.

Run: python benchmarks/train.py [--epochs N]      (PyTorch: pip install torch)
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _util import machine_header, table

import wengert as W
from wengert import nn, optim, threads
from wengert.cli import DEFAULTS, LEARNING_RATES
from wengert.data import DataLoader, load_mnist
from wengert.train import train_epoch

CONFIGS = [
    dict(
        name="CLI default: 784-{}-10 {}, batch {}".format(
            DEFAULTS["hidden"][0], DEFAULTS["activation"], DEFAULTS["batch_size"]
        ),
        sizes=[784, *DEFAULTS["hidden"], 10],
        activation=DEFAULTS["activation"],
        batch=DEFAULTS["batch_size"],
        lr=LEARNING_RATES["sgd"],
    ),
    dict(name="784-128-10 relu, batch 128", sizes=[784, 128, 10], activation="relu", batch=128, lr=0.05),
]
MOMENTUM = 0.9


def epoch_times(runs: dict, epochs: int, rounds: int = 3) -> dict[str, float]:
    """Median seconds per epoch of each system. The systems take turns in blocks (one untimed warm-up
    epoch, then `epochs` timed ones), `rounds` times, so a change in the machine's load affects them
    alike, while the block keeps one system's thread pool from spinning against the other's."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            run()
            for _ in range(epochs):
                t0 = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def wengert_epoch(cfg, loader):
    model = nn.MLP(cfg["sizes"], cfg["activation"], seed=0)
    opt = optim.SGD(model.parameters(), lr=cfg["lr"], momentum=MOMENTUM)

    def run():
        for xb, yb in loader:
            loss = nn.cross_entropy(model(W.as_tensor(xb)), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

    return model, run


def wengert_train_epoch(cfg, loader):
    model = nn.MLP(cfg["sizes"], cfg["activation"], seed=0)
    opt = optim.SGD(model.parameters(), lr=cfg["lr"], momentum=MOMENTUM)
    return model, lambda: train_epoch(model, opt, loader)


def torch_epoch(cfg, loader, init_from):
    import torch

    sizes = cfg["sizes"]
    act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}[cfg["activation"]]
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    model = torch.nn.Sequential(*layers)
    with torch.no_grad():  # the same initial weights as wengert's model
        for (_, p), (_, q) in zip(model.named_parameters(), init_from.named_parameters()):
            p.copy_(torch.from_numpy(q.numpy()))
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=MOMENTUM)
    F = torch.nn.functional

    def run():
        for xb, yb in loader:
            loss = F.cross_entropy(model(torch.from_numpy(xb)), torch.from_numpy(yb))
            opt.zero_grad()
            loss.backward()
            opt.step()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per block (3 blocks)")
    parser.add_argument(
        "--threads",
        type=int,
        default=threads.DEFAULT_TRAIN_THREADS,
        help="threads of numpy's BLAS and of PyTorch (default: as `wengert train`; 0: every core)",
    )
    args = parser.parse_args()
    print(machine_header(peers=("torch",)))
    with threads.blas_threads(args.threads or None):
        run(args.epochs, args.threads or os.cpu_count() or 1)


def run(epochs: int, n_threads: int) -> None:
    x, y, _, _ = load_mnist()
    try:
        import torch

        torch.set_num_threads(n_threads)
        torch_info = f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        torch = None
        torch_info = "PyTorch not installed"
    blas = threads.blas_info()
    nb = blas[0]["num_threads"] if blas else "?"
    print(f"one epoch = {len(x):,} images; numpy {np.__version__} ({nb} BLAS threads); {torch_info}")
    for cfg in CONFIGS:
        loader = DataLoader(x, y, cfg["batch"], shuffle=True, seed=0)
        runs = {
            "wengert": wengert_epoch(cfg, loader)[1],
            "wengert train_epoch (with metrics)": wengert_train_epoch(cfg, loader)[1],
        }
        if torch is not None:
            runs["PyTorch eager"] = torch_epoch(
                cfg, loader, nn.MLP(cfg["sizes"], cfg["activation"], seed=0)
            )
        rows = epoch_times(runs, epochs)
        print(f"\n{cfg['name']}, SGD lr {cfg['lr']} momentum {MOMENTUM}, {len(loader)} steps per epoch")
        body = [
            [name, f"{t:.3f}", f"{len(x) / t:,.0f}", f"{t / len(loader) * 1e3:.3f}"]
            for name, t in rows.items()
        ]
        print(table(body, ["system", "s/epoch", "images/s", "ms/step"]))
        if torch is not None:
            r = rows["PyTorch eager"] / rows["wengert"]
            print(f"wengert images/s = {r:.2f} x PyTorch's")


if __name__ == "__main__":
    main()
