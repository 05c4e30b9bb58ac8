"""Programs: a function traced to the Wengert list of primitives from the one table, and the
interpreters and passes over it.

- `trace.py`: tracing at its own level on abstract values (shape and dtype) -> `Program`;
- `ir.py`: the data structure (`Program`, `Equation`, `Var`, `Literal`; its docstring describes it);
- `passes.py`: simplification (dead code, common subexpressions, constants, identities);
- `emit.py`: Python/numpy source of a program;
- `jit.py`: programs cached per signature and replayed as compiled source;
- `table.py`: the evaluation-trace tables of the article (primal, tangent and adjoint columns).

The core never imports this package; it reaches the core only through the trace interface.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .ir import Equation, Literal, Program, Var
from .jit import CacheInfo, Jitted, jit
from .table import TraceTable, trace_table
from .trace import ConcretizationError, LeakedTracerError, program


def source(f: Callable, static_argnums: int | Sequence[int] = ()) -> Callable[..., str]:
    """A function returning the numpy source of `f` traced on its arguments:
    `wengert.source(f)(x)` is `wengert.program(f)(x).source()`. With `wengert.grad(f)` for f this is
    source transformation: the derivative as code."""

    def make(*args: Any) -> str:
        return program(f, static_argnums)(*args).source()

    return make


__all__ = [
    "CacheInfo",
    "ConcretizationError",
    "Jitted",
    "jit",
    "source",
    "TraceTable",
    "trace_table",
    "Equation",
    "LeakedTracerError",
    "Literal",
    "Program",
    "Var",
    "program",
]
