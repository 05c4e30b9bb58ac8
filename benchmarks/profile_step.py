"""Python function calls per training step (cProfile's count, numpy's Python-level functions and
builtins included), for the SGD steps of benchmarks/mlp.py: the tensor API (`loss.backward()`) and
the functional API (`value_and_grad`), on the 4-4-2 and the 784-128-10 networks. The count does not
depend on the machine or its load, which makes it the figure to compare across versions of wengert:

    PYTHONPATH=src python benchmarks/profile_step.py
    PYTHONPATH=/path/to/other/checkout/src python benchmarks/profile_step.py

Run with --top N to list the N most called functions.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys

sys.path.insert(0, os.path.dirname(__file__))
import mlp

import wengert as W


def calls_per_step(step, n: int = 200) -> tuple[float, pstats.Stats]:
    for _ in range(5):
        step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        step()
    prof.disable()
    stats = pstats.Stats(prof)
    return sum(v[1] for v in stats.stats.values()) / n, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=0, help="list the N most called functions")
    args = parser.parse_args()
    print(f"wengert from {os.path.dirname(W.__file__)}")
    for label, sizes, batch in (("4-4-2", (4, 4, 2), 1), ("784-128-10", (784, 128, 10), 128)):
        x, y, init = mlp.problem(sizes, batch)
        apis = (("tensor API", mlp.wengert_tensor), ("value_and_grad", mlp.wengert_functional))
        for api, make in apis:
            step = make(x, y, init)[0]
            n, stats = calls_per_step(step)
            print(f"{label} batch {batch}, {api}: {n:.0f} Python calls per SGD step")
            if args.top:
                rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][1])[: args.top]
                for (path, line, name), v in rows:
                    print(f"    {v[1] / 200:6.1f}  {os.path.basename(path)}:{line} {name}")


if __name__ == "__main__":
    main()
