"""Evaluation-trace tables: the article's view of automatic differentiation, computed by wengert.

One row per intermediate of the function's program, in the article's numbering: the n inputs are
v₁₋ₙ ... v₀, the equations v₁, v₂, ...; each row has its expression and primal value, a tangent column
v̇ when tangents are given (forward accumulation: one `jvp` of the program) and an adjoint column v̄
when a cotangent is given (reverse accumulation: one `vjp`). The columns come from running the traced
program under wengert's own transforms, so they show what the rules of the table compute.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from .. import tree
from ..transforms import jvp, vjp
from .emit import _Emitter
from .ir import Program, Var
from .passes import dce, rename
from .trace import check_static_argnums, trace_program

_SUB = str.maketrans("-0123456789", "₋₀₁₂₃₄₅₆₇₈₉")


def _vname(i: int) -> str:
    return "v" + str(i).translate(_SUB)


class Row(NamedTuple):
    """One intermediate: its name (v₋₁, v₀, v₁, ...), expression, value, tangent and adjoint."""

    name: str
    expression: str
    value: Any
    tangent: Any = None
    adjoint: Any = None


class TraceTable:
    """The evaluation trace of a function at a point: `rows`, printed as a table by `str()`."""

    def __init__(self, rows: list[Row], forward: bool, reverse: bool, program: Program) -> None:
        self.rows = rows
        self.forward = forward
        self.reverse = reverse
        self.program = program

    def __getitem__(self, name: str) -> Row:
        """The row of intermediate `name`: 'v₋₁' or the plain 'v-1' both work."""
        for r in self.rows:
            if r.name in (name, name.translate(_SUB)):
                return r
        raise KeyError(name)

    def __str__(self) -> str:
        header = ["", "expression", "value"]
        if self.forward:
            header.append("tangent")
        if self.reverse:
            header.append("adjoint")
        body = []
        for r in self.rows:
            line = [r.name, r.expression, _fmt(r.value)]
            if self.forward:
                line.append(_fmt(r.tangent))
            if self.reverse:
                line.append(_fmt(r.adjoint))
            body.append(line)
        widths = [max(len(x[i]) for x in [header, *body]) for i in range(len(header))]
        fmt = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
        sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([fmt(header), sep, *map(fmt, body)])

    def __repr__(self) -> str:
        return str(self)


def _width(s: str) -> int:
    return sum(not unicodedata.combining(c) for c in s)


def _pad(s: str, w: int) -> str:
    return s + " " * (w - _width(s))


def _fmt(v) -> str:
    if v is None:
        return ""
    a = np.asarray(v)
    if a.size == 1:
        return f"{a.item():.6g}" if a.dtype.kind in "fc" else str(a.item())
    if a.size <= 4:
        return np.array2string(a, precision=4, separator=", ")
    return f"array{list(a.shape)}"


def trace_table(
    f: Callable,
    *args: Any,
    tangents: Sequence | None = None,
    cotangent: Any = None,
    static_argnums: int | Sequence[int] = (),
) -> TraceTable:
    """The evaluation trace of f at `args`: one row per intermediate with its value, plus a tangent
    column when `tangents` (one per argument, as for `jvp`) are given and an adjoint column when a
    `cotangent` for f's output (as for `vjp`) is given.

    ::

        t = wengert.trace_table(lambda x1, x2: x1 * x2 + wengert.sin(x1), 2.0, 3.0,
                                tangents=(1.0, 0.0), cotangent=1.0)
        print(t)          # rows v₋₁ = x1, v₀ = x2, v₁ = v₋₁ * v₀, v₂ = sin(v₋₁), v₃ = v₁ + v₂
    """
    nums = check_static_argnums(static_argnums, len(args), "trace_table")
    prog = rename(dce(trace_program(f, args, nums, "trace_table")))
    dyn = tuple(a for i, a in enumerate(args) if i not in nums)
    leaves = prog.flat_inputs(dyn)
    leaves = [np.asarray(x, dtype=v.dtype) for x, v in zip(leaves, prog.invars)]
    n = len(prog.invars)
    names = {v: _vname(i - n + 1) for i, v in enumerate(prog.invars)}
    for k, e in enumerate(prog.equations):
        names[e.out] = _vname(k + 1)
    em = _Emitter(prog, standalone=True)
    em.names = names
    exprs = {v: v.name for v in prog.invars}
    for e in prog.equations:
        text = em.expr(e, [names[a] if type(a) is Var and a in names else em.name(a) for a in e.inputs])
        exprs[e.out] = text.replace("np.", "")

    def run(inputs, eps=None, keep=None):
        env = dict(prog.consts)
        env.update(zip(prog.invars, inputs))
        for k, e in enumerate(prog.equations):
            val = e.prim(*[env[a] if type(a) is Var else a.value for a in e.inputs], **e.params)
            if eps is not None:
                val = val + eps[k]  # a zero perturbation: its cotangent is this value's adjoint
            env[e.out] = val
            if keep is not None:
                keep.append(val)
        return [env[o] if type(o) is Var else o.value for o in prog.outvars]

    kept_values: list = []
    run(leaves, keep=kept_values)
    values = list(leaves) + kept_values
    tans = adjs = None
    if tangents is not None:
        tleaves = tree.flatten(tuple(tangents))[0]
        if len(tleaves) != n:
            raise ValueError(f"trace_table: {len(tleaves)} tangents for {n} inputs")
        tleaves = [np.asarray(t, dtype=v.dtype) for t, v in zip(tleaves, prog.invars)]
        kept: list = []
        jvp(lambda *xs: tuple(run(list(xs), keep=kept)), tuple(leaves), tuple(tleaves))
        tans = list(tleaves) + [_tangent(b) for b in kept]
    if cotangent is not None:
        shapes = [e.out.shape for e in prog.equations]
        zeros = [np.zeros(s, dtype=e.out.dtype) for s, e in zip(shapes, prog.equations)]
        m = len(prog.equations)

        def g(*xs):
            out = run(list(xs[:n]), eps=xs[n:])
            return tree.unflatten(prog.out_tree, out)

        _, pull = vjp(g, *leaves, *zeros)
        cts = pull(tree.tree_map(lambda c: np.asarray(c), cotangent))
        adjs = list(cts[:n]) + list(cts[n : n + m])
    rows = []
    order = list(prog.invars) + [e.out for e in prog.equations]
    for i, v in enumerate(order):
        rows.append(
            Row(
                names[v],
                exprs[v],
                values[i],
                None if tans is None else tans[i],
                None if adjs is None else adjs[i],
            )
        )
    return TraceTable(rows, tangents is not None, cotangent is not None, prog)


def _tangent(box):
    t = getattr(box, "_tangent", None)
    return np.zeros(np.shape(box)) if t is None else t


__all__ = ["Row", "TraceTable", "trace_table"]
