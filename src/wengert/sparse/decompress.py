"""Decompression of a compressed sweep into the nonzeros of a sparse matrix, computing only what varies.

The compressed product (J V, W^T J or H V) is produced by a compiled program; the nonzeros are a
gather from it (`pick`). Many of them do not depend on the input at all: the linear part of f applied
to the seed (a discretised Laplacian, the constant couplings of a chain) is folded into a constant of
the program, and only the entries that the nonlinear part reaches change from call to call. Which
entries vary is read from the program (`varying`: which elements of each value may change with the
input, and which are structural zeros, equation by equation), so:

- the constant nonzeros are computed once, at setup, and copied at each call;
- the varying ones come from a second program: the sweep with the gather of the varying entries
  pushed back through its elementwise and data-moving equations (a gather of a product is the product
  of the gathers, a gather of a broadcast reads the operand itself; gathers of constants are folded),
  so each equation runs on the entries that are needed instead of the whole compressed product.

Every varying nonzero is computed by the same floating-point operations as in the full sweep, so its
value is the same, bit for bit; a constant one is the full sweep's value at setup. (The one difference:
where a structural zero meets an infinity at some x, the full sweep would give nan, and the split one
the constant, as the sparsity pattern itself takes that product to be zero.) When more than half of
the nonzeros vary, one sweep and a gather cost less, and that is what runs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..core import primitives as P
from ..core.primitive import Elementwise, NonDiff
from ..program.emit import emit_compiled
from ..program.ir import Equation, Literal, Program, Var
from ..program.passes import simplify

_MOVING = {"reshape", "transpose", "broadcast_to", "getitem"}


def _input_dependent(prog: Program) -> set:
    """The Vars whose values depend on the input."""
    dep = set(prog.invars)
    for e in prog.equations:
        if any(type(a) is Var and a in dep for a in e.inputs):
            dep.add(e.out)
    return dep


# primitives that are linear with 0/1 coefficients (they move, copy, drop or add elements): applied
# to 0/1 masks of their arguments, they give the mask of their result
_LINEAR01 = {
    "reshape",
    "transpose",
    "broadcast_to",
    "getitem",
    "concatenate",
    "scatter_add",
    "sum",
    "cast",
}


def _mask(a, state: dict, consts: dict) -> tuple[np.ndarray, np.ndarray]:
    """(varies, nonzero) of operand a: which elements may change with the input, and which may be
    other than zero."""
    if type(a) is Literal:
        v = a.value
        zero = isinstance(v, (int, float, complex, np.number)) and v == 0
        return np.zeros((), bool), np.asarray(not zero)
    if a in state:
        return state[a]
    if a in consts:
        c = np.asarray(consts[a])
        nz = c != 0 if c.dtype.kind in "biufc" else np.ones(c.shape, bool)
        return np.zeros(c.shape, bool), nz
    return np.ones(a.shape, bool), np.ones(a.shape, bool)  # an input


def varying(prog: Program) -> np.ndarray:
    """A boolean mask over the flattened output of the one-input, one-output program `prog`: the
    elements whose value may depend on the input (True where unsure). Elements known to be zero do
    not vary: a product with a structural zero is zero (an infinite factor is ignored there, as the
    sparsity patterns ignore it)."""
    consts = prog.consts
    state: dict = {}
    last: dict = {}
    for k, e in enumerate(prog.equations):
        for a in e.inputs:
            if type(a) is Var:
                last[a] = k
    (out,) = prog.outvars
    for x in prog.invars:
        state[x] = (np.ones(x.shape, bool), np.ones(x.shape, bool))
    for k, e in enumerate(prog.equations):
        masks = [_mask(a, state, consts) for a in e.inputs]
        state[e.out] = _rule(e, masks, consts)
        for a in e.inputs:
            if type(a) is Var and last.get(a) == k and a is not out:
                state.pop(a, None)
    if type(out) is not Var or out not in state:
        return np.zeros(1 if type(out) is not Var else out.size, bool)
    return np.broadcast_to(state[out][0], out.shape).reshape(-1)


def _rule(e: Equation, masks: list, consts: dict) -> tuple[np.ndarray, np.ndarray]:
    name, shape = e.prim.name, e.out.shape
    vs = [m[0] for m in masks]
    if not any(v.any() for v in vs):  # a function of constants: nothing varies
        return np.zeros(shape, bool), np.ones(shape, bool)
    nzs = [m[1] for m in masks]
    elementwise = isinstance(e.prim, Elementwise) or (
        isinstance(e.prim, NonDiff)
        and name not in ("argmax", "argmin")
        and shape == np.broadcast_shapes(*(np.shape(v) for v in vs))
    )
    if elementwise:
        bv = [np.broadcast_to(v, shape) for v in vs]
        bz = [np.broadcast_to(z, shape) for z in nzs]
        fixed = type(e.inputs[0]) is Literal or e.inputs[0] in consts
        if name == "where" and fixed:  # a fixed condition: each element from one branch
            cond = np.broadcast_to(_value(e.inputs[0], consts), shape).astype(bool)
            return _settle(np.where(cond, bv[1], bv[2]), np.where(cond, bz[1], bz[2]))
        v = np.logical_or.reduce(bv) if len(bv) > 1 else bv[0].copy()
        if isinstance(e.prim, NonDiff):
            return v, np.ones(shape, bool)
        if name == "mul":
            nz = bz[0] & bz[1]
        elif name in ("add", "sub"):
            nz = bz[0] | bz[1]
        elif name in ("neg", "copy"):
            nz = bz[0].copy()
        else:
            nz = np.ones(shape, bool)
        return _settle(v, nz)
    if name in _LINEAR01:
        try:
            with np.errstate(all="ignore"):
                v = np.asarray(e.prim.impl(*[m.astype(np.float64) for m in vs], **e.params)) > 0
                nz = np.asarray(e.prim.impl(*[m.astype(np.float64) for m in nzs], **e.params)) > 0
            return _settle(np.broadcast_to(v, shape), np.broadcast_to(nz, shape))
        except (TypeError, ValueError):  # parameters that masks cannot take: all of it may vary
            return np.ones(shape, bool), np.ones(shape, bool)
    if name == "matmul" and len(vs) == 2:
        # element (i, j) sums a[i, k] b[k, j]: it varies where some term has a varying factor and
        # a factor that may be nonzero
        fa, fb = (np.broadcast_to(v, np.shape(z)).astype(np.float64) for v, z in zip(vs, nzs))
        za, zb = nzs[0].astype(np.float64), nzs[1].astype(np.float64)
        v = (np.matmul(fa, zb) + np.matmul(za, fb)) > 0
        return _settle(np.broadcast_to(v, shape), np.broadcast_to(np.matmul(za, zb) > 0, shape))
    return np.ones(shape, bool), np.ones(shape, bool)  # anything else: all of it may vary


def _settle(v: np.ndarray, nz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A structural zero does not vary."""
    return v & nz, nz


def _value(a, consts: dict):
    return a.value if type(a) is Literal else consts[a]


def _pointwise(e: Equation, a: Var) -> bool:
    """Equation e (defining a) computes each element of a from the elements of its arguments that
    broadcast to it, and nothing else: a gather commutes with it."""
    if isinstance(e.prim, NonDiff):
        if e.prim.name in ("argmax", "argmin"):
            return False
        shapes = [np.shape(b.value) if type(b) is Literal else b.shape for b in e.inputs]
        if np.broadcast_shapes(*shapes) != a.shape:
            return False
    elif not isinstance(e.prim, Elementwise):
        return False
    if any(isinstance(v, np.ndarray) and v.ndim for v in e.params.values()):
        return False  # an array parameter would have to be gathered too
    return all(type(b) is Literal or b.ndim <= a.ndim for b in e.inputs)


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
        if _pointwise(e, a):
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
                try:
                    pos = np.asarray(e.prim.impl(where, **e.params)).reshape(-1)[idx]
                except (TypeError, ValueError):
                    return self.take(a, idx)
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
    (out,) = prog.outvars
    var_pos = np.flatnonzero(varying(prog)[pick])
    if len(var_pos) > len(pick) // 2:  # mostly varying: one sweep and a gather cost less
        return None
    dep = _input_dependent(prog)
    dec = Decompress()
    dec.base = np.take(np.asarray(sweep(x)).reshape(-1), pick)
    if not np.isfinite(np.delete(dec.base, var_pos)).all():
        return None  # an overflow at this x (0 * inf) must not become a constant of every call
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
