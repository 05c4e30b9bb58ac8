"""Convolutional networks: wengert beside PyTorch eager on the CPU, in one run.

1. Training throughput (images/s) of the `wengert train --model cnn` network (nn.CNN: two blocks of
   3x3 convolution, ReLU and 2x2 max pooling, then a linear layer) at batch 64 on the bundled MNIST
   digits: the same initial weights, batches, loss (softmax cross-entropy) and optimizer (SGD with
   momentum) in both systems; each step is forward, loss, zero_grad, backward, step. The systems take
   turns in blocks of steps, so a change in the machine's load affects both alike.
2. conv2d forward + backward alone (gradients of the input and the weight) at a few sizes, 3x3 and
   5x5 kernels, 1 to 64 channels: median time with its spread, and peak memory. Each memory figure is
   measured in a fresh process, the same way for both systems: the growth of the process's peak
   resident memory over one forward + backward (Linux /proc/self/clear_refs, VmHWM). wengert's peak
   as numpy reports it to tracemalloc is shown too, beside the size of the forward pass's im2col
   matrix (N * outH * outW rows, C_in * kH * kW columns), the buffer a classic im2col convolution
   holds.

Run: python benchmarks/cnn.py [--steps 30] [--rounds 3] [--quick]      (PyTorch: pip install torch)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _util import cpu_model, table, time_per_call

import wengert as W
from wengert import nn, optim
from wengert.data import load_mnist

BATCH = 64
LR, MOMENTUM = 0.05, 0.9
# (batch, C_in, C_out, H = W, kernel)
CONV_SIZES = [
    (64, 1, 16, 28, 3),
    (64, 16, 32, 14, 3),
    (64, 32, 64, 14, 3),
    (32, 64, 64, 14, 3),
    (64, 1, 32, 28, 5),
    (64, 16, 32, 14, 5),
    (32, 32, 64, 14, 5),
]


def _limit_threads() -> None:
    """Apply --threads (passed to child processes through the environment) to numpy and PyTorch."""
    n = int(os.environ.get("CNN_BENCH_THREADS", "0"))
    try:
        import torch

        torch.set_num_threads(n or os.cpu_count() or 1)
    except ImportError:
        pass
    if n:
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(n)
        except ImportError:
            print("(threadpoolctl not installed: numpy keeps its BLAS threads)")


def machine() -> str:
    """CPU model, core count, load and library versions: printed above every table."""
    cpu = cpu_model()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    try:
        import torch

        tv = f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)"
        try:
            from threadpoolctl import threadpool_info

            blas = ", ".join(
                f"{i['internal_api']} {i['num_threads']} threads"
                + (f" ({i['architecture']} kernels)" if i.get("architecture") else "")
                for i in threadpool_info()
            )
            tv += f", numpy BLAS: {blas}"
        except ImportError:
            pass
    except ImportError:
        tv = "PyTorch not installed"
    return (
        f"{cpu}, {os.cpu_count()} cores, load average {load}; Python {platform.python_version()}, "
        f"numpy {np.__version__}, wengert {W.__version__}, {tv}"
    )


# --- 1. training throughput ------------------------------------------------------------------------


def torch_cnn(model: nn.CNN):
    """The same network in PyTorch, with wengert's initial weights."""
    import torch

    class TorchCNN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c1, c2 = model.channels
            self.conv1 = torch.nn.Conv2d(1, c1, 3, padding=1)
            self.conv2 = torch.nn.Conv2d(c1, c2, 3, padding=1)
            self.fc = torch.nn.Linear(model.fc.in_features, model.fc.out_features)

        def forward(self, x):
            F = torch.nn.functional
            x = x.reshape(x.shape[0], 1, 28, 28)
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc(x.flatten(1))

    net = TorchCNN()
    net.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    return net


def throughput(steps: int, rounds: int) -> None:
    x, y, _, _ = load_mnist()
    x = ((x - x.mean()) / x.std()).astype(np.float32)
    rng = np.random.default_rng(0)
    batches = [rng.choice(len(x), BATCH, replace=False) for _ in range(steps)]
    data = [(x[i], y[i]) for i in batches]

    model = nn.CNN(seed=0)
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def wengert_block() -> None:
        for xb, yb in data:
            loss = nn.cross_entropy(model(W.as_tensor(xb)), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

    runs = {"wengert": wengert_block}
    try:
        import torch

        tnet = torch_cnn(nn.CNN(seed=0))
        topt = torch.optim.SGD(tnet.parameters(), lr=LR, momentum=MOMENTUM)
        tdata = [(torch.from_numpy(xb), torch.from_numpy(yb)) for xb, yb in data]

        def torch_block() -> None:
            for xb, yb in tdata:
                loss = torch.nn.functional.cross_entropy(tnet(xb), yb)
                topt.zero_grad()
                loss.backward()
                topt.step()

        runs["PyTorch eager"] = torch_block
    except ImportError:
        print("(PyTorch not installed: wengert alone)")
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            run()  # warm-up block, untimed
            t0 = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - t0) / steps)
    print(f"\n## Training throughput: nn.CNN {model.channels}, batch {BATCH}, SGD momentum {MOMENTUM}")
    print(f"{steps} steps per block, {rounds} timed blocks per system (median, min-max over blocks)\n")
    rows = []
    for name, ts in times.items():
        med = statistics.median(ts)
        rows.append(
            [
                name,
                f"{med * 1e3:.1f} ({min(ts) * 1e3:.1f}-{max(ts) * 1e3:.1f})",
                f"{BATCH / med:,.0f}",
            ]
        )
    print(table(rows, ["system", "ms/step", "images/s"]))
    if len(times) == 2:
        r = statistics.median(times["PyTorch eager"]) / statistics.median(times["wengert"])
        print(f"\nwengert images/s = {r:.2f} x PyTorch eager's (target >= 0.5)")


# --- 2. conv2d forward + backward --------------------------------------------------------------------


def _conv_inputs(n, cin, cout, hw, k):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, cin, hw, hw), dtype=np.float32)
    w = (rng.standard_normal((cout, cin, k, k), dtype=np.float32) / np.sqrt(cin * k * k)).astype(
        np.float32
    )
    g = rng.standard_normal((n, cout, hw, hw), dtype=np.float32)  # padding k // 2 keeps the size
    return x, w, g


def _wengert_step(x, w, g, k):
    def run():
        xt, wt = W.tensor(x, requires_grad=True), W.tensor(w, requires_grad=True)
        nn.functional.conv2d(xt, wt, padding=k // 2).backward(g)
        return xt.grad, wt.grad

    return run


def _torch_step(x, w, g, k):
    import torch

    xt0, wt0, gt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(g)

    def run():
        xt, wt = xt0.clone().requires_grad_(), wt0.clone().requires_grad_()
        torch.nn.functional.conv2d(xt, wt, padding=k // 2).backward(gt)
        return xt.grad, wt.grad

    return run


def _peak_rss_growth(system: str, size: tuple) -> int:
    """Bytes: peak resident memory during one forward + backward, over the resident memory just before
    (measured in this fresh process after a warm-up call)."""
    x, w, g = _conv_inputs(*size)
    run = (_wengert_step if system == "wengert" else _torch_step)(x, w, g, size[-1])
    _limit_threads()
    run()  # warm-up: lazy initialisation is not the op's memory
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident size
    base = _status("VmRSS")
    run()
    return _status("VmHWM") - base


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _tracemalloc_peak(x, w, g, k) -> int:
    run = _wengert_step(x, w, g, k)
    run()
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _measure_in_child(system: str, size: tuple) -> int | None:
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    code = (
        f"import sys, json; sys.path.insert(0, {here!r}); import cnn; "
        f"print(json.dumps(cnn._peak_rss_growth({system!r}, {tuple(size)!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(json.loads(out.stdout.strip().splitlines()[-1]))


def conv_table(quick: bool) -> None:
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False
    print("\n## conv2d forward + backward (input and weight gradients), float32, padding k // 2")
    print(
        "time: median of 7 blocks, the systems taking turns (min-max); "
        "memory: peak resident growth over one call, fresh process\n"
    )
    rows = []
    mb = 1 / 2**20
    for size in CONV_SIZES[:3] if quick else CONV_SIZES:
        n, cin, cout, hw, k = size
        x, w, g = _conv_inputs(*size)
        fns = {"wengert": _wengert_step(x, w, g, k)}
        if have_torch:
            fns["torch"] = _torch_step(x, w, g, k)
        spread = _time_interleaved(fns)
        tw = spread["wengert"]
        im2col = n * hw * hw * cin * k * k * 4
        traced = _tracemalloc_peak(x, w, g, k)
        rss_w = _measure_in_child("wengert", size)
        row = [
            f"{n}x{cin}x{hw}x{hw}, {cout}x{cin}x{k}x{k}",
            f"{tw[0] * 1e3:.2f} ({tw[1] * 1e3:.2f}-{tw[2] * 1e3:.2f})",
        ]
        if have_torch:
            tt = spread["torch"]
            rss_t = _measure_in_child("torch", size)
            row += [f"{tt[0] * 1e3:.2f} ({tt[1] * 1e3:.2f}-{tt[2] * 1e3:.2f})", f"{tt[0] / tw[0]:.2f}"]
        row += [f"{im2col * mb:.1f}", f"{traced * mb:.1f} ({traced / im2col:.1f}x)"]
        row += [f"{rss_w * mb:.1f}" if rss_w is not None else "-"]
        if have_torch:
            row += [f"{rss_t * mb:.1f}" if rss_t is not None else "-"]
        rows.append(row)
    header = ["input, weight", "wengert ms"]
    if have_torch:
        header += ["PyTorch ms", "speed vs PyTorch"]
    header += ["im2col MiB", "wengert traced peak MiB (x im2col)", "wengert peak RSS MiB"]
    if have_torch:
        header += ["PyTorch peak RSS MiB"]
    print(table(rows, header))
    print("\n'speed vs PyTorch' is PyTorch's time / wengert's (above 1: wengert faster).")


def _time_interleaved(fns: dict, repeats: int = 7) -> dict[str, tuple[float, float, float]]:
    """(median, min, max) seconds per call of each function over `repeats` blocks; the systems take
    turns block by block, so a change in the machine's load reaches them alike."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(time_per_call(fn, min_time=0.05, repeats=1))
    return {n: (statistics.median(v), min(v), max(v)) for n, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="training steps per timed block")
    parser.add_argument("--rounds", type=int, default=3, help="timed blocks per system")
    parser.add_argument("--quick", action="store_true", help="fewer conv2d sizes")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-conv", action="store_true")
    parser.add_argument(
        "--threads",
        type=int,
        help="BLAS threads of numpy and PyTorch alike (default: all cores); 1 steadies a busy machine",
    )
    args = parser.parse_args()
    if args.threads:
        os.environ["CNN_BENCH_THREADS"] = str(args.threads)  # for the memory-measuring children
    _limit_threads()
    print(machine())
    if not args.skip_training:
        throughput(args.steps, args.rounds)
    if not args.skip_conv:
        conv_table(args.quick)


if __name__ == "__main__":
    main()
