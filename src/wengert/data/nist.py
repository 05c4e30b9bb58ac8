"""NIST Statistical Reference Datasets for nonlinear regression (StRD), as bundled test problems.

The files in `nist_strd/` are NIST's original .dat files (public domain) for the problems of lower and
average difficulty; each holds the data, two starting points and certified parameter values to 11
significant digits. `load(name)` reads one and pairs it with its model, written in wengert's functions
so that `wengert.least_squares` differentiates it:

    p = nist.load("Misra1a")
    fit = wengert.least_squares(p.residual, p.start[0])
    fit.x  # close to p.certified
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import ops

__all__ = ["AVERAGE", "LOWER", "NISTProblem", "load"]

DIR = Path(__file__).with_name("nist_strd")

#: Problems of NIST's "lower" and "average" levels of difficulty (all of them are bundled).
LOWER = ("Misra1a", "Chwirut2", "Chwirut1", "Lanczos3", "Gauss1", "Gauss2", "DanWood", "Misra1b")
AVERAGE = (
    "Kirby2", "Hahn1", "Nelson", "MGH17", "Lanczos1", "Lanczos2", "Gauss3", "Misra1c", "Misra1d",
    "Roszman1", "ENSO",
)  # fmt: skip


def _exp3(b, x):
    return b[0] * ops.exp(-b[1] * x) + b[2] * ops.exp(-b[3] * x) + b[4] * ops.exp(-b[5] * x)


def _gauss(b, x):
    return (
        b[0] * ops.exp(-b[1] * x)
        + b[2] * ops.exp(-((x - b[3]) ** 2) / b[4] ** 2)
        + b[5] * ops.exp(-((x - b[6]) ** 2) / b[7] ** 2)
    )


def _chwirut(b, x):
    return ops.exp(-b[0] * x) / (b[1] + b[2] * x)


def _enso(b, x):
    w = 2 * math.pi * x
    return (
        b[0]
        + b[1] * ops.cos(w / 12)
        + b[2] * ops.sin(w / 12)
        + b[4] * ops.cos(w / b[3])
        + b[5] * ops.sin(w / b[3])
        + b[7] * ops.cos(w / b[6])
        + b[8] * ops.sin(w / b[6])
    )


#: Model y = f(b, x) of each problem (Nelson's response is log y; its x has two columns).
MODELS: dict[str, Callable[[Any, Any], Any]] = {
    "Misra1a": lambda b, x: b[0] * (1 - ops.exp(-b[1] * x)),
    "Misra1b": lambda b, x: b[0] * (1 - (1 + b[1] * x / 2) ** -2),
    "Misra1c": lambda b, x: b[0] * (1 - (1 + 2 * b[1] * x) ** -0.5),
    "Misra1d": lambda b, x: b[0] * b[1] * x / (1 + b[1] * x),
    "Chwirut1": _chwirut,
    "Chwirut2": _chwirut,
    "DanWood": lambda b, x: b[0] * x ** b[1],
    "Lanczos1": _exp3,
    "Lanczos2": _exp3,
    "Lanczos3": _exp3,
    "Gauss1": _gauss,
    "Gauss2": _gauss,
    "Gauss3": _gauss,
    "Kirby2": lambda b, x: (b[0] + b[1] * x + b[2] * x**2) / (1 + b[3] * x + b[4] * x**2),
    "Hahn1": lambda b, x: (
        (b[0] + b[1] * x + b[2] * x**2 + b[3] * x**3) / (1 + b[4] * x + b[5] * x**2 + b[6] * x**3)
    ),
    "Nelson": lambda b, x: b[0] - b[1] * x[:, 0] * ops.exp(-b[2] * x[:, 1]),
    "MGH17": lambda b, x: b[0] + b[1] * ops.exp(-x * b[3]) + b[2] * ops.exp(-x * b[4]),
    "Roszman1": lambda b, x: b[0] - b[1] * x - ops.arctan(b[2] / (x - b[3])) / math.pi,
    "ENSO": _enso,
}


@dataclass(frozen=True)
class NISTProblem:
    """One StRD problem: `x` (n,) or (n, k), `y` (n,), `start` (two starting points), `certified`
    parameter values and their `certified_std`, and the certified residual sum of squares `rss`."""

    name: str
    x: np.ndarray
    y: np.ndarray
    start: tuple[np.ndarray, np.ndarray]
    certified: np.ndarray
    certified_std: np.ndarray
    rss: float
    difficulty: str

    def model(self, b: Any) -> Any:
        """The model's prediction at parameters b (log y for Nelson)."""
        return MODELS[self.name](b, self.x)

    def residual(self, b: Any) -> Any:
        """y - model(b): the vector whose sum of squares NIST certifies."""
        y = np.log(self.y) if self.name == "Nelson" else self.y
        return y - self.model(b)


def _lines(text: str, label: str) -> tuple[int, int]:
    m = re.search(label + r"\s*\(lines\s+(\d+)\s+to\s+(\d+)\)", text)
    if m is None:
        raise ValueError(f"nist: no '{label}' line range in the file header")
    return int(m.group(1)), int(m.group(2))


def load(name: str) -> NISTProblem:
    """Read the bundled StRD file `name` (e.g. "Misra1a"; see LOWER and AVERAGE)."""
    if name not in MODELS:
        raise ValueError(f"nist: unknown problem {name!r}; bundled: {', '.join(LOWER + AVERAGE)}")
    text = (DIR / f"{name}.dat").read_text()
    lines = text.splitlines()
    first, last = _lines(text, "Starting Values")
    start1, start2, cert, std = [], [], [], []
    for line in lines[first - 1 : last]:
        fields = line.split("=")[1].split()
        start1.append(float(fields[0]))
        start2.append(float(fields[1]))
        cert.append(float(fields[2]))
        std.append(float(fields[3]))
    rss = float(re.search(r"Residual Sum of Squares:\s+(\S+)", text).group(1))
    first, last = _lines(text, "Data")
    data = np.array([[float(v) for v in line.split()] for line in lines[first - 1 : last]])
    x = data[:, 1] if data.shape[1] == 2 else data[:, 1:]
    difficulty = "lower" if name in LOWER else "average"
    return NISTProblem(
        name, x, data[:, 0], (np.array(start1), np.array(start2)), np.array(cert), np.array(std), rss,
        difficulty,
    )  # fmt: skip
