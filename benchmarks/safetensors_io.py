"""Saving and loading weights as safetensors: wengert's numpy reader/writer beside the `safetensors`
package (its numpy and PyTorch APIs) and wengert's own format, on one state dict in the same run.

The state dict: 24 float32 tensors of 1024 x 1024 plus 24 biases (about 100 MB), the size of a small
transformer. Each row is the median of repeated save or load calls (the file stays in the page cache,
so this measures the libraries, not the disk), with the spread (min-max) and the ratio to the
`safetensors` package's numpy API. wengert's saves are atomic and durable (a temporary file, fsync,
rename) and both its formats carry a checksum that load verifies; the package does neither.

Run: python benchmarks/safetensors_io.py [--tensors N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _util import cpu_model, table

import wengert as W


def timed(fn, repeats: int) -> tuple[float, float, float]:
    fn()  # warm up (and fill the page cache)
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), min(samples), max(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tensors", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    state = {}
    for i in range(args.tensors):
        state[f"layers.{i}.weight"] = rng.standard_normal((1024, 1024), dtype=np.float32)
        state[f"layers.{i}.bias"] = rng.standard_normal(1024, dtype=np.float32)
    mb = sum(v.nbytes for v in state.values()) / 2**20
    d = tempfile.mkdtemp()
    ours, native = f"{d}/w.safetensors", f"{d}/w.wgt"
    cases = {
        "wengert save (safetensors)": lambda: W.save(state, ours),
        "wengert load (safetensors)": lambda: W.load(ours),
        "wengert save (own format)": lambda: W.save(state, native),
        "wengert load (own format)": lambda: W.load(native),
    }
    versions = [f"wengert {W.__version__}", f"numpy {np.__version__}"]
    try:
        import safetensors
        from safetensors.numpy import load_file, save_file

        theirs = f"{d}/p.safetensors"
        cases["safetensors.numpy save"] = lambda: save_file(state, theirs)
        cases["safetensors.numpy load"] = lambda: load_file(theirs)
        versions.append(f"safetensors {safetensors.__version__}")
        import torch
        from safetensors.torch import load_file as tload

        # the PyTorch API maps the file lazily: copy the tensors out so the data is read, as above
        cases["safetensors.torch load + copy"] = lambda: [t.clone() for t in tload(theirs).values()]
        versions.append(f"torch {torch.__version__}")
    except ImportError:
        print("(safetensors or torch not installed: their rows are skipped)")
    results = {name: timed(fn, args.repeats) for name, fn in cases.items()}
    rows = []
    for name, (med, lo, hi) in results.items():
        kind = "save" if "save" in name else "load"
        ref = results.get(f"safetensors.numpy {kind}")
        ratio = f"{med / ref[0]:.2f}x" if ref else "-"
        rows.append(
            [name, f"{med * 1e3:.1f}", f"{lo * 1e3:.1f}-{hi * 1e3:.1f}", f"{mb / med:,.0f}", ratio]
        )
    cpu = cpu_model()
    print(f"{len(state)} tensors, {mb:.0f} MB float32; {cpu}, {os.cpu_count()} cores")
    print(", ".join(versions))
    print(f"load average: {os.getloadavg()[0]:.1f}")
    header = ["operation", "median ms", "min-max ms", "MB/s", "time vs safetensors.numpy"]
    print(table(rows, header))


if __name__ == "__main__":
    main()
