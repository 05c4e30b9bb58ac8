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

from .ir import Equation, Literal, Program, Var
from .trace import ConcretizationError, LeakedTracerError, program

__all__ = [
    "ConcretizationError",
    "Equation",
    "LeakedTracerError",
    "Literal",
    "Program",
    "Var",
    "program",
]
