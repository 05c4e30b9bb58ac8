"""Simplification passes over programs: each takes a `Program` and returns an equivalent one.

- `dce`: dead-code elimination (equations and constants that no output depends on);
- `fold_constants`: equations whose inputs are all constants are computed once, at trace time;
- `identities`: algebraic identities (x*1, x+0, x-0, x/1, x**1, x**0, --x, double transpose,
  (a @ b).T = b.T @ a.T, reshape
  or broadcast to the same shape, a sum over axes of size 1 (a reshape), a cast to the same dtype,
  stop_gradient, where on an all-true mask),
  and constant arrays of one repeated value written as numbers where broadcasting allows;
- `cse`: common-subexpression elimination (the same primitive on the same operands and parameters);
- `rename`: names intermediates v1, v2, ... and constants c1, c2, ... in order.

`simplify` runs them to a fixed point. Every identity keeps the result's shape and dtype, so a
simplified program computes what the recorded one does, value for value. Transposes feeding a
matrix product are folded into it when the program is emitted as source (see emit.py).
"""

from __future__ import annotations

import numpy as np

from ..core import primitives as P
from .ir import Equation, Literal, Program, Var, use_counts

# --- small helpers ------------------------------------------------------------------------------------


def _value(a, consts):
    """The constant value of operand `a`, or None when it is not a constant."""
    if type(a) is Literal:
        return a.value
    if a in consts:
        return consts[a]
    return None


def _all_equal(a, consts, number) -> bool:
    v = _value(a, consts)
    if v is None or isinstance(v, (bool, np.bool_)):
        return False
    try:
        arr = np.asarray(v)
        return arr.dtype.kind in "fiu" and bool(np.all(arr == number))
    except (TypeError, ValueError):
        return False


def _same_type(a, out: Var) -> bool:
    """Operand `a` can stand for `out`: same shape and dtype."""
    if type(a) is Literal:
        v = a.value
        return isinstance(v, np.ndarray) and v.shape == out.shape and v.dtype == out.dtype
    return a.shape == out.shape and a.dtype == out.dtype


def _with(prog: Program, equations, outvars=None, consts=None) -> Program:
    return Program(
        prog.invars,
        prog.consts if consts is None else consts,
        equations,
        prog.outvars if outvars is None else outvars,
        prog.in_tree,
        prog.out_tree,
        prog.name,
        prog.in_static,
        prog.arg_names,
    )


def _substitute(prog: Program, subst: dict, equations) -> Program:
    """Replace every use of a Var in `subst` by its replacement (following chains)."""

    def find(a):
        while type(a) is Var and a in subst:
            a = subst[a]
        return a

    eqs = []
    for e in equations:
        eqs.append(Equation(e.prim, [find(a) for a in e.inputs], e.out, e.params))
    return _with(prog, eqs, [find(o) for o in prog.outvars])


# --- dead code ----------------------------------------------------------------------------------------


def dce(prog: Program) -> Program:
    """Drop equations and constants that no output depends on."""
    live = {o for o in prog.outvars if type(o) is Var}
    kept = []
    for e in reversed(prog.equations):
        if e.out in live:
            kept.append(e)
            live.update(a for a in e.inputs if type(a) is Var)
    kept.reverse()
    consts = {v: c for v, c in prog.consts.items() if v in live}
    return _with(prog, kept, consts=consts)


# --- constant folding ---------------------------------------------------------------------------------

_FOLD_LIMIT = 1 << 22  # elements: larger results are computed when the program runs


def fold_constants(prog: Program) -> Program:
    """Compute at trace time every equation whose inputs are all constants."""
    consts = dict(prog.consts)
    subst: dict = {}
    eqs = []
    for e in prog.equations:
        ins = [subst.get(a, a) if type(a) is Var else a for a in e.inputs]
        if e.out.size <= _FOLD_LIMIT and all(type(a) is Literal or a in consts for a in ins):
            vals = [_value(a, consts) if type(a) is Var else a.value for a in ins]
            with np.errstate(all="ignore"):
                ans = e.prim.impl(*vals, **e.params)
            if isinstance(ans, np.ndarray):
                consts[e.out] = ans
            else:
                subst[e.out] = Literal(ans)
            continue
        eqs.append(Equation(e.prim, ins, e.out, e.params))
    outs = [subst.get(o, o) if type(o) is Var else o for o in prog.outvars]
    return _with(prog, eqs, outs, consts)


# --- algebraic identities -----------------------------------------------------------------------------


_BINARY = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"}


def _as_scalar(a, other, out: Var, consts):
    """A constant array of one repeated value, as a number, where the other operand alone gives the
    result its shape and dtype (`c * x` with c = [100., 100., 100.] is `100.0 * x`)."""
    if type(a) is not Var or a not in consts or type(other) is not Var or other in consts:
        return a
    if other.shape != out.shape or other.dtype != out.dtype or other.weak:
        return a
    c = np.asarray(consts[a])
    if c.size == 0 or c.dtype.kind not in "fiu" or c.dtype.itemsize > out.dtype.itemsize:
        return a
    flat = c.ravel()
    if c.size > 1 and not np.all(flat == flat[0]):
        return a
    if c.dtype.kind == "f" and out.dtype.kind != "f":
        return a
    # a Python number where numpy reads it as the same type (float64, int64), else a numpy scalar
    return Literal(flat[0].item() if c.dtype in (np.float64, np.int64) else flat[0])


def _merge_scatters(e, ins, defs, uses):
    """The payloads (a, b) when `e` adds two scatters into zeros at the same index, each used once."""
    if not all(type(a) is Var and a in defs and uses.get(a) == 1 for a in ins):
        return None
    d1, d2 = defs[ins[0]], defs[ins[1]]
    if d1.prim.name != "scatter_add" or d2.prim.name != "scatter_add":
        return None
    a, b = d1.inputs[0], d2.inputs[0]
    if _freeze(d1.params) != _freeze(d2.params) or a.shape != b.shape or a.dtype != b.dtype:
        return None
    if not (ins[0].dtype == ins[1].dtype == e.out.dtype and ins[0].shape == e.out.shape):
        return None
    return a, b


def full_perm(axes, nd):
    return tuple(range(nd))[::-1] if axes is None else tuple(int(a) % nd for a in axes)


def identities(prog: Program) -> Program:
    """Remove operations that return their input unchanged, and merge chains of layout changes."""
    consts = dict(prog.consts)
    uses = use_counts(prog)
    defs: dict = {}  # Var -> its (rewritten) equation
    subst: dict = {}
    eqs = []

    def find(a):
        while type(a) is Var and a in subst:
            a = subst[a]
        return a

    for e in prog.equations:
        ins = [find(a) for a in e.inputs]
        out, name = e.out, e.prim.name
        if name in _BINARY and len(ins) == 2:
            ins = [_as_scalar(a, b, out, consts) for a, b in ((ins[0], ins[1]), (ins[1], ins[0]))]
        keep: object = None  # an operand that equals the result
        prim, params = e.prim, e.params
        merged = _merge_scatters(e, ins, defs, uses) if name == "add" else None
        if merged is not None:  # scatter(a, i) + scatter(b, i) = scatter(a + b, i)
            total = Var(merged[0].shape, merged[0].dtype)
            se = Equation(P.add, list(merged), total, {})
            ne = Equation(P.scatter_add, [total], out, dict(defs[ins[0]].params))
            defs[total], defs[out] = se, ne
            eqs.extend((se, ne))
            continue
        if name in ("add", "sub") and _all_equal(ins[1], consts, 0) and _same_type(ins[0], out):
            keep = ins[0]
        elif name == "add" and _all_equal(ins[0], consts, 0) and _same_type(ins[1], out):
            keep = ins[1]
        elif name in ("mul", "div") and _all_equal(ins[1], consts, 1) and _same_type(ins[0], out):
            keep = ins[0]
        elif name == "mul" and _all_equal(ins[0], consts, 1) and _same_type(ins[1], out):
            keep = ins[1]
        elif name in ("reshape", "broadcast_to", "cast", "stop_gradient", "pow") and _same_type(
            ins[0], out
        ):
            if name != "pow" or _all_equal(ins[1], consts, 1):
                keep = ins[0]
        elif name == "neg" and type(ins[0]) is Var and defs.get(ins[0]) is not None:
            d = defs[ins[0]]
            if d.prim.name == "neg" and _same_type(d.inputs[0], out):
                keep = d.inputs[0]
        elif name == "transpose" and type(ins[0]) is Var:
            perm = full_perm(params.get("axes"), out.ndim)
            d = defs.get(ins[0])
            if (
                perm == (1, 0)
                and d is not None
                and d.prim.name == "matmul"
                and uses.get(ins[0]) == 1
                and all(type(a) is Var and a.ndim == 2 for a in d.inputs)
            ):  # (a @ b).T = b.T @ a.T: the transposes fold into the product or cancel
                a, b = d.inputs
                tb, ta = Var(b.shape[::-1], b.dtype), Var(a.shape[::-1], a.dtype)
                for src, t in ((b, tb), (a, ta)):
                    te = Equation(P.transpose_p, [src], t, {"axes": (1, 0)})
                    defs[t] = te
                    eqs.append(te)
                ne = Equation(P.matmul, [tb, ta], out, {})
                defs[out] = ne
                eqs.append(ne)
                continue
            if d is not None and d.prim.name == "transpose":
                inner = full_perm(d.params.get("axes"), out.ndim)
                perm = tuple(inner[p] for p in perm)
                ins = [d.inputs[0]]
                params = {"axes": perm}
            if perm == tuple(range(out.ndim)) and _same_type(ins[0], out):
                keep = ins[0]
        elif name == "reshape" and type(ins[0]) is Var:
            d = defs.get(ins[0])
            if d is not None and d.prim.name == "reshape":
                ins = [d.inputs[0]]
                if _same_type(ins[0], out):
                    keep = ins[0]
        elif name == "sum" and type(ins[0]) is Var and ins[0].dtype == out.dtype:
            x = ins[0]
            axes = params.get("axis")
            axes = range(x.ndim) if axes is None else (axes if isinstance(axes, tuple) else (axes,))
            if all(x.shape[int(a)] == 1 for a in axes):  # summing size-1 axes only moves values
                if _same_type(x, out):
                    keep = x
                else:
                    prim, params = P.reshape_p, {"new_shape": out.shape}
        elif name == "where" and _value(ins[0], consts) is not None:
            c = np.asarray(_value(ins[0], consts))
            if c.dtype == bool and c.all() and _same_type(ins[1], out):
                keep = ins[1]
            elif c.dtype == bool and not c.any() and _same_type(ins[2], out):
                keep = ins[2]
        elif name == "logical_or" and out.size <= _FOLD_LIMIT:
            for a in ins:
                v = _value(a, consts)
                if v is not None and np.asarray(v).dtype == bool and np.all(v):
                    keep = Var(out.shape, out.dtype)  # true | anything is true
                    consts[keep] = np.ones(out.shape, bool)
                    break
        if name == "pow" and _all_equal(ins[1], consts, 0) and out.size <= _FOLD_LIMIT:
            one = Var(out.shape, out.dtype)  # x ** 0 is 1 everywhere (numpy: also at nan and inf)
            consts[one] = np.ones(out.shape, out.dtype)
            keep = one
        if keep is not None:
            subst[out] = keep
            continue
        ne = Equation(prim, ins, out, params)
        defs[out] = ne
        eqs.append(ne)
    return _with(prog, eqs, [find(o) for o in prog.outvars], consts)


# --- common subexpressions ----------------------------------------------------------------------------


def _freeze(v):
    if isinstance(v, np.ndarray):
        return ("array", v.shape, v.dtype.str, v.tobytes())
    if isinstance(v, (tuple, list)):
        return (type(v).__name__, *(_freeze(x) for x in v))
    if isinstance(v, dict):
        return ("dict", *sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, slice):
        return ("slice", v.start, v.stop, v.step)
    if isinstance(v, np.dtype):
        return ("dtype", v.str)
    if isinstance(v, float) and v != v:
        return ("nan",)
    try:
        hash(v)
    except TypeError:
        return ("id", id(v))
    return (type(v).__name__, v)


def _operand_key(a):
    return ("var", id(a)) if type(a) is Var else ("lit", _freeze(a.value))


def cse(prog: Program) -> Program:
    """Reuse the result of an identical earlier equation (same primitive, operands and parameters)."""
    seen: dict = {}
    subst: dict = {}
    eqs = []
    for e in prog.equations:
        ins = [subst.get(a, a) if type(a) is Var else a for a in e.inputs]
        key = (id(e.prim), tuple(_operand_key(a) for a in ins), _freeze(e.params))
        prev = seen.get(key)
        if prev is not None:
            subst[e.out] = prev
            continue
        seen[key] = e.out
        eqs.append(Equation(e.prim, ins, e.out, e.params))
    return _with(prog, eqs, [subst.get(o, o) if type(o) is Var else o for o in prog.outvars])


def dedupe_consts(prog: Program) -> Program:
    """One constant per distinct value (derivative programs make many equal zeros and seeds)."""
    seen: dict = {}
    subst: dict = {}
    consts = {}
    for v, c in prog.consts.items():
        key = _freeze(np.asarray(c))
        if key in seen:
            subst[v] = seen[key]
        else:
            seen[key] = v
            consts[v] = c
    if not subst:
        return prog
    out = _substitute(prog, subst, prog.equations)
    out.consts = consts
    return out


# --- names --------------------------------------------------------------------------------------------


def rename(prog: Program) -> Program:
    """Name intermediates v1, v2, ... and constants c1, c2, ... (in place; returns the program)."""
    taken = {v.name for v in prog.invars}
    counter = {"v": 0, "c": 0}

    def fresh(prefix):
        while True:
            counter[prefix] += 1
            name = f"{prefix}{counter[prefix]}"
            if name not in taken:
                return name

    for v in prog.consts:
        v.name = fresh("c")
    for e in prog.equations:
        e.out.name = fresh("v")
    return prog


PASSES = (fold_constants, identities, cse, dedupe_consts, dce)


def simplify(prog: Program, max_rounds: int = 8) -> Program:
    """All passes, repeated until the program stops shrinking; then renamed."""
    for _ in range(max_rounds):
        before = (len(prog.equations), len(prog.consts))
        for p in PASSES:
            prog = p(prog)
        if (len(prog.equations), len(prog.consts)) == before:
            break
    return rename(prog)


__all__ = ["cse", "dce", "fold_constants", "identities", "rename", "simplify"]
