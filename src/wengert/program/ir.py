"""The program data structure: Wengert's list of primitive applications, as values.

A `Program` is what tracing a function at its own level records (see `wengert.program`):

- `invars`: the inputs, a flat list of `Var` (the leaves of the arguments' pytree, in order);
  `in_tree` rebuilds the arguments from them (as `wengert.tree.unflatten` does), with the leaves
  that are not traced (None) at the positions of `in_static`;
- `consts`: hoisted constants, a dict `Var -> numpy value` (arrays the function closed over, the
  seeds and zero cotangents of derivative programs...);
- `equations`: a list of `Equation`, in evaluation order. Each applies one primitive of the table
  (`eqn.prim`, a `wengert.core.primitive.Primitive`; `eqn.prim.name` is its name) to `eqn.inputs`
  (each a `Var`, or a `Literal` holding a Python number, numpy scalar or None) with the static
  keyword parameters `eqn.params` (axes, shapes, indices, dtypes: what the table's functions take as
  keywords), and defines one new `Var`, `eqn.out`;
- `outvars`: the outputs, a flat list of `Var` or `Literal`, rebuilt into the result with `out_tree`.

A `Var` is an abstract value: `shape`, `dtype` (a numpy dtype), `ndim`, `size`, and a `name` used when
printing. Vars are compared by identity. A Var is defined once: by being an input, a constant or the
output of exactly one equation, always before its uses.

`str(program)` lists it one equation a line; `program(*args)` evaluates it by applying each
equation's primitive (so it also works on tensors and inside every transform); `program.source()`
gives the Python text of an equivalent numpy function.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import tree
from ..core.graph import Aval
from ..core.trace import ABSTRACT_TYPES


class Var(Aval):
    """An abstract array in a program: its shape and dtype, no data (an `Aval` with a name).

    While a function is being traced, the boxes it computes with hold Vars as their values; asking
    such a box for its data (a Python `if`, `float()`, `bool()`, `np.asarray`) raises
    `ConcretizationError` naming the line.
    """

    __slots__ = ("name", "trace", "weak")

    def __init__(self, shape: tuple, dtype: Any, name: str = "", weak: bool = False) -> None:
        super().__init__(tuple(shape), np.dtype(dtype))
        self.name = name
        self.weak = weak  # a Python number: numpy treats it as weakly typed
        self.trace = None  # the tracing that created it, while it runs

    @property
    def type_str(self) -> str:
        return type_str(self.shape, self.dtype)

    def __repr__(self) -> str:
        return f"{self.name or 'var'}:{self.type_str}"

    # --- asking for data: not available while tracing -------------------------------------------
    def _concrete(self, what: str):
        from .trace import concretization_error

        raise concretization_error(self, what)

    def __array__(self, dtype=None, copy=None):
        self._concrete("a Python if/while, float(), int(), bool() or np.asarray")

    def __bool__(self):
        self._concrete("its truth value (if, while, and/or, bool())")

    def __float__(self):
        self._concrete("float()")

    def __int__(self):
        self._concrete("int()")

    def __index__(self):
        self._concrete("an integer index")

    def __iter__(self):
        self._concrete("iteration over its values")

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d traced value")
        return self.shape[0]


ABSTRACT_TYPES.add(Var)


class Literal:
    """A constant written into an equation: a Python number, numpy scalar or None."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    @property
    def shape(self) -> tuple:
        return np.shape(self.value) if self.value is not None else ()

    @property
    def dtype(self):
        return np.result_type(self.value) if self.value is not None else None

    def __repr__(self) -> str:
        return repr(self.value)


class Equation:
    """`out = prim(*inputs, **params)`: one line of the Wengert list."""

    __slots__ = ("inputs", "out", "params", "prim")

    def __init__(self, prim, inputs: list, out: Var, params: dict) -> None:
        self.prim = prim
        self.inputs = inputs
        self.out = out
        self.params = params

    def __repr__(self) -> str:
        return format_equation(self)


def type_str(shape: tuple, dtype) -> str:
    """'f64[3,2]' for a float64 array of shape (3, 2); 'f32[]' for a float32 scalar."""
    dt = np.dtype(dtype)
    code = {"f": "f", "i": "i", "u": "u", "b": "bool", "c": "c"}.get(dt.kind, dt.kind)
    head = code if code == "bool" else f"{code}{dt.itemsize * 8}"
    return f"{head}[{','.join(str(s) for s in shape)}]"


def _param_str(v) -> str:
    if isinstance(v, np.ndarray):
        if v.size <= 6:
            return f"array({v.tolist()})"
        return f"array<{type_str(v.shape, v.dtype)}>"
    if isinstance(v, np.dtype):
        return v.name
    if isinstance(v, np.integer):
        return str(int(v))
    if isinstance(v, tuple):
        inner = ", ".join(_param_str(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, slice):
        parts = ["" if p is None else str(p) for p in (v.start, v.stop, v.step)]
        return ":".join(parts[:2] if v.step is None else parts)
    if v is Ellipsis:
        return "..."
    if isinstance(v, type) and issubclass(v, np.generic):
        return np.dtype(v).name
    return repr(v)


def format_equation(eqn: Equation) -> str:
    args = " ".join(_operand(a) for a in eqn.inputs)
    params = " ".join(f"{k}={_param_str(v)}" for k, v in eqn.params.items())
    rhs = " ".join(p for p in (eqn.prim.name, args, params) if p)
    return f"{eqn.out.name}:{eqn.out.type_str} = {rhs}"


def _operand(a) -> str:
    return a.name if isinstance(a, Var) else repr(a.value)


class Program:
    """A traced function: inputs, hoisted constants, equations and outputs (see the module docstring)."""

    def __init__(
        self,
        invars: list[Var],
        consts: dict[Var, Any],
        equations: list[Equation],
        outvars: list,
        in_tree: Any,
        out_tree: Any,
        name: str = "f",
        in_static: dict[int, Any] | None = None,
        arg_names: list[str] | None = None,
    ) -> None:
        self.invars = invars
        self.consts = consts
        self.equations = equations
        self.outvars = outvars
        self.in_tree = in_tree
        self.out_tree = out_tree
        self.name = name
        self.in_static = in_static or {}  # leaf position -> value of a leaf that is not traced (None)
        self.arg_names = arg_names  # names of the (non-static) arguments, for the emitted source

    # --- reading --------------------------------------------------------------------------------
    def __str__(self) -> str:
        ins = ", ".join(f"{v.name}:{v.type_str}" for v in self.invars)
        outs = ", ".join(_operand(o) for o in self.outvars)
        lines = [f"program {self.name}({ins})"]
        for v, value in self.consts.items():
            lines.append(f"  {v.name}:{v.type_str} = const {_param_str(np.asarray(value))}")
        lines.extend("  " + format_equation(e) for e in self.equations)
        lines.append(f"  return {outs}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"<Program {self.name}: {len(self.invars)} inputs, {len(self.equations)} equations, "
            f"{len(self.outvars)} outputs>"
        )

    def __len__(self) -> int:
        return len(self.equations)

    # --- running --------------------------------------------------------------------------------
    def flat_inputs(self, args: tuple) -> list:
        """The leaves of `args`, checked against the program's inputs (count and shapes)."""
        leaves, treedef = tree.flatten(tuple(args))
        if treedef != self.in_tree:
            raise TypeError(
                f"program {self.name}: the arguments do not have the structure the program was "
                "traced with"
            )
        if self.in_static:
            leaves = [x for i, x in enumerate(leaves) if i not in self.in_static]
        out = []
        for v, x in zip(self.invars, leaves):
            s = np.shape(x)
            if tuple(s) != v.shape:
                raise ValueError(
                    f"program {self.name}: input {v.name} has shape {v.shape}, got an argument of "
                    f"shape {tuple(s)}"
                )
            out.append(x)
        return out

    def eval_flat(self, leaves: list) -> list:
        """Apply the equations to the input leaves (arrays, numbers or boxes); the output leaves."""
        env: dict = dict(self.consts)
        for v, x in zip(self.invars, leaves):
            env[v] = x
        get = lambda a: env[a] if type(a) is Var else a.value
        for e in self.equations:
            env[e.out] = e.prim(*[get(a) for a in e.inputs], **e.params)
        return [get(o) for o in self.outvars]

    def __call__(self, *args):
        """Evaluate the program: on arrays it computes the traced function's values; on tensors and
        inside transforms it applies the same primitives, so it can be differentiated."""
        return tree.unflatten(self.out_tree, self.eval_flat(self.flat_inputs(args)))

    def source(self, name: str | None = None) -> str:
        """Python text of a function computing this program with numpy alone (see emit.py)."""
        from .emit import emit_source

        return emit_source(self, name=name)

    def simplify(self) -> Program:
        """A new program with the simplification passes applied (see passes.py)."""
        from .passes import simplify

        return simplify(self)


def use_counts(prog: Program, output_uses: int = 1) -> dict:
    """How many times each variable is read by the program's equations, plus `output_uses` for each
    time it is an output (2 keeps an output from ever looking "used once")."""
    counts: dict = {}
    for e in prog.equations:
        for a in e.inputs:
            if type(a) is Var:
                counts[a] = counts.get(a, 0) + 1
    for o in prog.outvars:
        if type(o) is Var:
            counts[o] = counts.get(o, 0) + output_uses
    return counts
