"""Decompression of a compressed sweep into the nonzeros of a sparse matrix, computing only what varies.

The compressed product (J V, W^T J or H V) is produced by a compiled program; the nonzeros are a
gather from it (`pick`). Many of them do not depend on the input at all: the linear part of f applied
to the seed (a discretised Laplacian, the constant couplings of a chain) is folded into a constant of
the program, and only the entries that the nonlinear part reaches change from call to call. Which
entries vary is read from the program's own sparsity pattern (an entry whose pattern row is empty is
a constant of x), so:

- the constant nonzeros are computed once, at setup, and copied at each call;
- the varying ones come from a second program: the sweep with the gather of the varying entries
  pushed back through its elementwise and data-moving equations (a gather of a product is the product
  of the gathers, a gather of a broadcast reads the operand itself; gathers of constants are folded),
  so each equation runs on the entries that are needed instead of the whole compressed product.

Every nonzero is computed by the same floating-point operations as in the full sweep, so the values
are the same, bit for bit. Programs where some value depends on the input through a piecewise-constant
primitive (a comparison, `sign`, `stop_gradient`), whose pattern says nothing about its value, keep
the plain gather.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..core import primitives as P
from ..core.primitive import Elementwise, NonDiff
from ..program.emit import emit_compiled
from ..program.ir import Equation, Literal, Program, Var
from ..program.passes import simplify
from .patterns import interpret

_MOVING = {"reshape", "transpose", "broadcast_to", "getitem"}


def _input_dependent(prog: Program) -> tuple[set, bool]:
    """The Vars that depend on the input, and whether the pattern of each one bounds its value: no
    piecewise-constant primitive (whose pattern is empty) and no primitive without a declared pattern
    (whose fallback would warn) sees the input."""
    dep = set(prog.invars)
    for e in prog.equations:
        if any(type(a) is Var and a in dep for a in e.inputs):
            if isinstance(e.prim, NonDiff) or getattr(e.prim, "sparsity", None) is None:
                return dep, False
            dep.add(e.out)
    return dep, True


class _Gathers:
    """Builds, equation by equation, operands equal to `var.ravel()[idx]` for the Vars of `prog`."""

    def __init__(self, prog: Program, dep: set) -> None:
        self.consts = dict(prog.consts)
        self.dep = dep
        self.defs = {e.out: e for e in prog.equations}
        self.new: list[Equation] = []
        self.memo: dict = {}

    def emit(self, prim, inputs, shape, dtype, params) -> Var:
        out = Var(shape, dtype)
        self.new.append(Equation(prim, list(inputs), out, params))
        return out

    def flat(self, a: Var) -> Var:
        if a.ndim == 1:
            return a
        return self.emit(P.reshape_p, [a], (a.size,), a.dtype, {"new_shape": (a.size,)})

    def gather(self, a, idx: np.ndarray):
        """An operand holding a.ravel()[idx] (shape (len(idx),))."""
        if type(a) is Literal:
            return a
        key = (a, len(idx), hash(idx.tobytes()))
        hit = self.memo.get(key)
        if hit is not None and np.array_equal(hit[0], idx):
            return hit[1]
        res = self._gather(a, idx)
        self.memo[key] = (idx, res)
        return res

    def _gather(self, a: Var, idx: np.ndarray):
        if a in self.consts:
            c = Var((len(idx),), a.dtype)
            self.consts[c] = np.ascontiguousarray(np.asarray(self.consts[a]).reshape(-1)[idx])
            return c
        e = self.defs.get(a)
        if a not in self.dep or e is None or len(idx) > a.size:
            return self.take(a, idx)
        name = e.prim.name
        if isinstance(e.prim, Elementwise) and all(
            type(b) is Literal or b.ndim <= a.ndim for b in e.inputs
        ):
            ins = []
            for b in e.inputs:
                if type(b) is Literal:
                    ins.append(b)
                    continue
                # the element of b that broadcasts to each wanted element of the result
                pos = np.arange(b.size, dtype=np.int64).reshape((1,) * (a.ndim - b.ndim) + b.shape)
                pos = np.broadcast_to(pos, a.shape).reshape(-1)[idx]
                ins.append(self.gather(b, pos))
            return self.emit(e.prim, ins, (len(idx),), a.dtype, e.params)
        if name in _MOVING or name == "cast":
            (b,) = [x for x in e.inputs if type(x) is Var]
            if name == "cast":
                pos = idx
            else:  # the primitive itself, applied to the positions of its argument's elements
                where = np.arange(b.size, dtype=np.int64).reshape(b.shape)
                pos = np.asarray(e.prim.impl(where, **e.params)).reshape(-1)[idx]
            g = self.gather(b, pos)
            if name != "cast":
                return g
            return self.emit(e.prim, [g], (len(idx),), a.dtype, e.params)
        return self.take(a, idx)

    def take(self, a: Var, idx: np.ndarray) -> Var:
        """a.ravel()[idx] computed from a itself (a itself, flattened, when idx reads all of it)."""
        flat = self.flat(a)
        if len(idx) == a.size and np.array_equal(idx, np.arange(a.size)):
            return flat
        return self.emit(P.getitem, [flat], (len(idx),), a.dtype, {"index": (idx,)})


class Decompress:
    """x -> the nonzeros (CSR order): `base` with the entries at `var_pos` replaced by `run(x)`."""

    __slots__ = ("base", "run", "source", "var_pos")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        data = self.base.copy()
        if self.run is not None:
            data[self.var_pos] = self.run(x)
        return data


def split_constant(sweep: Callable, x: np.ndarray, pick: np.ndarray) -> Decompress | None:
    """For the jit-compiled `sweep` (x -> compressed product) and the gather `pick` of the nonzeros
    from its flattened result: a `Decompress` that computes only the nonzeros that vary with x, or
    None where every nonzero varies or the program's pattern cannot tell (then gather from the sweep)."""
    prog = sweep.lower(x)
    if len(prog.invars) != 1 or len(prog.outvars) != 1 or type(prog.outvars[0]) is not Var:
        return None
    dep, bounded = _input_dependent(prog)
    if not bounded:
        return None
    (out,) = prog.outvars
    rows = interpret(prog).G
    varies = (np.diff(rows.indptr) > 0)[pick]
    var_pos = np.flatnonzero(varies)
    if len(var_pos) == len(pick):
        return None
    dec = Decompress()
    dec.base = np.take(np.asarray(sweep(x)).reshape(-1), pick)
    dec.var_pos = var_pos
    dec.run = dec.source = None
    if len(var_pos):
        g = _Gathers(prog, dep)
        res = g.gather(out, np.asarray(pick)[var_pos].astype(np.int64))
        if type(res) is not Var or res in g.consts:  # nothing of the input reaches it after all
            return None
        small = Program(
            prog.invars,
            g.consts,
            prog.equations + g.new,
            [res],
            prog.in_tree,
            prog.out_tree,
            prog.name,
            prog.in_static,
            prog.arg_names,
        )
        small = simplify(small)
        dec.source, dec.run = emit_compiled(small)
    return dec
