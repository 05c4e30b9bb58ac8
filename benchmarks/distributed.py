"""Data-parallel training throughput over MPI on one machine, and what it predicts for a cluster.

Trains the `wengert train` default model (784-256-10 sigmoid MLP, SGD with momentum) on the bundled MNIST
digits with the same global batch on 1, 2, ... ranks (each rank takes batch // ranks samples of every
batch, and the gradients are averaged with one Allreduce per step), and reports:

- images/s and the speed-up over one rank;
- the time per step spent in the gradient Allreduce (inside the training loop, so it includes waiting for
  the slowest rank) and in a bare Allreduce of the same bytes (communication alone);
- the gradient bytes reduced per step and the bytes each rank sends per step in a ring allreduce.

It then projects the throughput on N machines (one rank each) with the ring-allreduce model: each rank
sends and receives 2(N-1)/N times the gradient bytes S per step, in 2(N-1) messages, so

    t_allreduce(N) = 2(N-1) * latency + 2(N-1)/N * S / bandwidth
    t_step(N)      = t_compute(batch / N) + t_allreduce(N)          (no overlap: reduce after backward)
    images/s(N)    = batch / t_step(N)

where t_compute(b) is the measured time of one step (forward, backward, optimizer) of the 1-rank run at
per-rank batch b, the bandwidth is either an assumed network (--bandwidth-gbit, default 10 Gbit/s, with
--latency-us per message) or the bandwidth of this machine's shared-memory Allreduce measured at 2 ranks.

Run (needs pip install "wengert[mpi]"; the script launches itself under mpiexec):
    python benchmarks/distributed.py [--ranks 1 2] [--batch-size 128] [--steps 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _util import table

from wengert import distributed as dist
from wengert import nn, optim
from wengert.cli import DEFAULTS, LEARNING_RATES
from wengert.data import DataLoader, load_mnist
from wengert.nn.losses import cross_entropy
from wengert.tensor import as_tensor

WARMUP = 10
BLOCKS = 5  # timings are medians over this many blocks


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2], help="rank counts to run here")
    p.add_argument("--batch-size", type=int, default=128, help="global batch (split over the ranks)")
    p.add_argument("--steps", type=int, default=200, help="timed steps per run")
    p.add_argument("--hidden", type=int, default=DEFAULTS["hidden"][0])
    p.add_argument("--threads", type=int, default=1, help="BLAS threads per rank")
    p.add_argument("--bandwidth-gbit", type=float, default=10.0, help="assumed network bandwidth")
    p.add_argument("--latency-us", type=float, default=50.0, help="assumed latency per message")
    p.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32], help="projected sizes")
    p.add_argument("--worker", metavar="JSON", help=argparse.SUPPRESS)  # set when run under mpiexec
    return p.parse_args(argv)


# --- one run, on every rank ---------------------------------------------------------------------------


def step_fn(model, opt, sync):
    """One training step on a batch; returns (seconds computing, seconds in the gradient Allreduce)."""

    def step(xb, yb):
        t0 = time.perf_counter()
        loss = cross_entropy(model(as_tensor(xb)), yb)
        opt.zero_grad()
        loss.backward()
        t1 = time.perf_counter()
        sync()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        return (t1 - t0) + (t3 - t2), t2 - t1

    return step


def batches(loader):
    """Endless batches from `loader`, epoch after epoch."""
    while True:
        yield from loader


def worker(args: argparse.Namespace) -> None:
    rank, size = dist.rank(), dist.size()
    x, y, _, _ = load_mnist()
    model = dist.DistributedDataParallel(nn.MLP([784, args.hidden, 10], DEFAULTS["activation"], seed=0))
    opt = optim.SGD(model.parameters(), lr=LEARNING_RATES["sgd"], momentum=DEFAULTS["momentum"])
    shard = (rank, size) if size > 1 else None
    loader = DataLoader(x, y, args.batch_size // size, shuffle=True, seed=0, shard=shard, drop_last=True)
    step = step_fn(model, opt, model.sync_gradients)
    it = batches(loader)
    for _ in range(WARMUP):
        step(*next(it))
    dist.barrier()
    compute = comm = 0.0
    t0 = time.perf_counter()
    for _ in range(args.steps):
        c, a = step(*next(it))
        compute += c
        comm += a
    wall = dist.allreduce(np.array([time.perf_counter() - t0]), "max")[0]
    compute, comm = dist.allreduce(np.array([compute, comm]), "mean")
    grad_bytes = sum(p.numpy().nbytes for p in model.parameters())

    # Communication alone: the same bytes through one Allreduce, all ranks already in step.
    bare = 0.0
    if size > 1:
        from mpi4py import MPI

        buf = np.zeros(grad_bytes // 4, np.float32)
        world = dist.init()
        for _ in range(5):
            world.Allreduce(MPI.IN_PLACE, buf)
        blocks = np.zeros(BLOCKS)
        for i in range(BLOCKS):
            dist.barrier()
            t = time.perf_counter()
            for _ in range(50):
                world.Allreduce(MPI.IN_PLACE, buf)
            blocks[i] = (time.perf_counter() - t) / 50
        # The slowest rank's time per call, median over the blocks (this machine's timings are noisy).
        bare = float(np.median(dist.allreduce(blocks, "max")))

    # The 1-rank run also times the compute of one step at each projected per-rank batch size.
    profile = {}
    if size == 1:
        for n in args.nodes:
            b = args.batch_size // n
            if b < 1:
                continue
            loader_b = DataLoader(x, y, b, shuffle=True, seed=1, drop_last=True)
            it_b = batches(loader_b)
            nosync = step_fn(model, opt, lambda: None)
            for _ in range(WARMUP):
                nosync(*next(it_b))
            reps = max(20, min(200, args.steps * n // BLOCKS))
            blocks = []
            for _ in range(BLOCKS):
                t = time.perf_counter()
                for _ in range(reps):
                    nosync(*next(it_b))
                blocks.append((time.perf_counter() - t) / reps)
            profile[n] = float(np.median(blocks))

    if dist.is_main():
        result = dict(
            ranks=size,
            batch=args.batch_size,
            per_rank_batch=args.batch_size // size,
            steps=args.steps,
            wall=float(wall),
            compute_per_step=float(compute) / args.steps,
            allreduce_per_step=float(comm) / args.steps,
            bare_allreduce=bare,
            grad_bytes=int(grad_bytes),
            profile=profile,
        )
        Path(args.worker).write_text(json.dumps(result))


# --- the driver ---------------------------------------------------------------------------------------


def launch(args: argparse.Namespace, n: int, out: Path) -> dict:
    """Run this script's worker on `n` ranks; returns rank 0's measurements."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    threads = str(args.threads)
    env.update(OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    forwarded = sys.argv[1:]
    cmd = [*dist.mpiexec_command(n), sys.executable, __file__, *forwarded, "--worker", str(out)]
    subprocess.run(cmd, env=env, check=True, timeout=1800)
    return json.loads(out.read_text())


def ring_allreduce_seconds(n: int, nbytes: float, bandwidth: float, latency: float) -> float:
    """Time of a ring allreduce of `nbytes` over `n` ranks: 2(n-1) messages of nbytes/n each way."""
    if n == 1:
        return 0.0
    return 2 * (n - 1) * latency + 2 * (n - 1) / n * nbytes / bandwidth


def report(args: argparse.Namespace, runs: list[dict]) -> None:
    base = runs[0]
    base_rate = base["batch"] * base["steps"] / base["wall"]
    s = base["grad_bytes"]
    print(
        f"\nData-parallel training on this machine ({os.cpu_count()} cores, {args.threads} BLAS "
        f"thread(s) per rank): 784-{args.hidden}-10 {DEFAULTS['activation']} MLP, "
        f"global batch {args.batch_size}, {args.steps} timed steps;\n"
        f"gradients {s:,} bytes ({s // 4:,} float32) per step\n"
    )
    rows = []
    for r in runs:
        n = r["ranks"]
        rate = r["batch"] * r["steps"] / r["wall"]
        sent = 2 * (n - 1) / n * r["grad_bytes"]
        rows.append(
            [
                str(n),
                str(r["per_rank_batch"]),
                f"{rate:,.0f}",
                f"{rate / base_rate:.2f}x",
                f"{1e3 * r['wall'] / r['steps']:.2f}",
                f"{1e3 * r['compute_per_step']:.2f}",
                f"{1e3 * r['allreduce_per_step']:.3f}" if n > 1 else "-",
                f"{1e3 * r['bare_allreduce']:.3f}" if n > 1 else "-",
                f"{r['grad_bytes']:,}" if n > 1 else "0",
                f"{sent:,.0f}",
            ]
        )
    header = [
        "ranks",
        "batch/rank",
        "images/s",
        "speed-up",
        "ms/step",
        "compute ms",
        "allreduce ms (in loop)",
        "allreduce ms (bare)",
        "bytes reduced/step",
        "bytes sent/rank/step (ring)",
    ]
    print(table(rows, header))

    profile = {int(k): v for k, v in base["profile"].items()}
    bw_net = args.bandwidth_gbit * 1e9 / 8
    lat = args.latency_us * 1e-6
    two = next((r for r in runs if r["ranks"] == 2), None)
    # At 2 ranks the ring moves exactly S bytes per rank, so S / t is the measured bandwidth.
    bw_shm = s / two["bare_allreduce"] if two and two["bare_allreduce"] > 0 else None
    print(
        f"\nProjected throughput on N machines, one rank each, global batch {args.batch_size} "
        "(ring allreduce, no overlap of communication with compute):\n"
        f"  network: {args.bandwidth_gbit:g} Gbit/s = {bw_net / 1e9:.2f} GB/s, "
        f"latency {args.latency_us:g} us per message"
        + (f"; this machine: {bw_shm / 1e9:.2f} GB/s (measured Allreduce, 2 ranks)" if bw_shm else "")
        + "\n  compute per step: measured on 1 rank at batch/N\n"
    )
    rows = []
    t1 = profile.get(1)
    for n in sorted(profile):
        tc = profile[n]
        ta = ring_allreduce_seconds(n, s, bw_net, lat)
        rate = args.batch_size / (tc + ta)
        row = [
            str(n),
            str(args.batch_size // n),
            f"{1e3 * tc:.2f}",
            f"{2 * (n - 1) / n * s / 1e6:.2f}",
            f"{1e3 * ta:.2f}",
            f"{rate:,.0f}",
            f"{rate / (args.batch_size / t1):.2f}x" if t1 else "-",
        ]
        if bw_shm:
            ta_shm = ring_allreduce_seconds(n, s, bw_shm, 0.0)
            rate_shm = args.batch_size / (tc + ta_shm)
            row += [f"{1e3 * ta_shm:.2f}", f"{rate_shm:,.0f}"]
        rows.append(row)
    header = [
        "N",
        "batch/rank",
        "compute ms",
        "MB sent/rank/step",
        "allreduce ms (net)",
        "images/s (net)",
        "speed-up (net)",
    ]
    if bw_shm:
        header += ["allreduce ms (shm bw)", "images/s (shm bw)"]
    print(table(rows, header))
    print(
        "\nAt a fixed global batch, compute per step shrinks more slowly than 1/N (per-step Python "
        "overhead),\nwhile each rank moves nearly 2S bytes per step for any N: scaling stops once the "
        "allreduce\ncosts as much as the compute. Larger global batches, or models with more compute "
        "per gradient byte, scale further."
    )


def main() -> None:
    args = parse_args()
    if args.worker:
        worker(args)
        return
    if not dist.is_available():
        sys.exit(f"this benchmark needs MPI: {dist.MPI_EXTRA}")
    ranks = sorted(set(args.ranks) | {1})
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in ranks:
            print(f"running on {n} rank(s)...", flush=True)
            runs.append(launch(args, n, Path(tmp) / f"ranks{n}.json"))
    report(args, runs)


if __name__ == "__main__":
    main()
