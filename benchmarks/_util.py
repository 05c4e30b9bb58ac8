"""Shared timing helpers for the benchmarks: median of repeated blocks, printed tables."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable


def time_samples(fn: Callable[[], object], min_time: float = 0.2, repeats: int = 7) -> list[float]:
    """Seconds per call of fn in `repeats` blocks, each running at least `min_time`."""
    fn()  # warm up
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time / 4:
            break
        n *= 2
    n = max(1, int(n * (min_time / 4) / max(dt, 1e-9)))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    return samples


def time_per_call(fn: Callable[[], object], min_time: float = 0.2, repeats: int = 7) -> float:
    """Median seconds per call of fn over `repeats` blocks, each running at least `min_time`."""
    return statistics.median(time_samples(fn, min_time, repeats))


def time_interleaved(
    fns: dict, min_time: float = 0.1, repeats: int = 9, clock: str = "wall"
) -> dict[str, tuple[float, float]]:
    """(median seconds per call, spread) of each function, timed in turns: every round runs one block
    of each, so a change in the machine's load during the run reaches all of them alike. A block
    runs at least `min_time`; the spread is half the interquartile range of the blocks over the
    median (a relative figure: 0.05 means +-5%).

    clock "wall" is time.perf_counter; "cpu" is time.process_time, the CPU time of this process (all
    its threads): on a machine shared with other work it leaves out the time spent waiting for a
    core, but it counts a BLAS thread's spin-waiting, so use it with one BLAS thread."""
    now = time.perf_counter if clock == "wall" else time.process_time
    counts = {}
    for name, fn in fns.items():
        fn()  # warm up
        n = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            dt = time.perf_counter() - t0
            if dt >= min_time / 4:
                break
            n *= 2
        counts[name] = max(1, int(n * min_time / max(dt, 1e-9)))
    samples: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            n = counts[name]
            t0 = now()
            for _ in range(n):
                fn()
            samples[name].append((now() - t0) / n)
    out = {}
    for name, ts in samples.items():
        q = statistics.quantiles(ts, n=4)
        med = statistics.median(ts)
        out[name] = (med, (q[2] - q[0]) / 2 / med)
    return out


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *map(line, rows)])


def installed(optional: dict[str, Callable[[], object]]) -> dict[str, Callable[[], object]]:
    """The entries of `optional` (name -> setup function) whose setup runs; the others are reported
    as skipped. PyTorch, when present, is set to use every core, like numpy's BLAS."""
    out = {}
    for name, make in optional.items():
        try:
            make()
            out[name] = make
        except ImportError:
            print(f"({name} not installed: skipped)")
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
    except ImportError:
        pass
    return out


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), or platform's description."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> str:
    """numpy's BLAS library, version and thread count, as threadpoolctl reports them."""
    import numpy as np

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return f"numpy {np.__version__} (install threadpoolctl to see its BLAS)"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    desc = ", ".join(
        f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads)" for p in pools
    )
    return f"numpy {np.__version__} with {desc or 'no BLAS found'}"


def machine_header(peers: tuple[str, ...] = ("torch", "jax", "autograd")) -> str:
    """One paragraph naming the machine and libraries a table was measured with: CPU model, cores,
    load average, Python, numpy and its BLAS, and the versions of the peer systems installed."""
    import importlib.metadata as md

    versions = []
    for name in peers:
        try:
            versions.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            versions.append(f"{name} not installed")
    try:
        load = "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "load average unknown"
    return (
        f"CPU: {cpu_model()}, {os.cpu_count()} cores, {load}\n"
        f"Python {platform.python_version()}; {blas_info()}; {'; '.join(versions)}"
    )
