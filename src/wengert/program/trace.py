"""Tracing a function to a `Program`: a trace at its own level whose boxes hold abstract values.

`ProgramTrace` is a `Trace` like the derivative traces of the core: each primitive applied to one of its
boxes is handed to it by the core's dispatch (`bind`), and it records an equation instead of computing.
The result's shape and dtype come from the primitive's own numpy function applied to zeros of the
argument shapes, so every primitive of the table is covered without a shape rule of its own. Because
it is a trace among the others, the transforms compose with it both ways: `grad(f)` traced gives the
derivative program (the table's rules applied to boxes of this trace), and a program can be evaluated
inside any transform.
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import tree
from ..core.anomaly import user_line
from ..core.primitive import Elementwise, NonDiff, Structural
from ..core.trace import BOX_TYPES, EAGER_LEVEL, STATE, Trace, next_level, raw
from ..tensor import reverse_box
from .ir import Equation, Literal, Program, Var

_TABLE_KINDS = (Elementwise, Structural, NonDiff)
_PYSCALARS = (bool, int, float, complex)


class ConcretizationError(TypeError):
    """The data of a traced value was needed (a Python branch on it, float(), bool(), ...)."""


class LeakedTracerError(RuntimeError):
    """A value traced to a program was used after its tracing ended."""


def concretization_error(v: Var, what: str) -> Exception:
    where = user_line()
    t = v.trace
    if t is not None and not t.alive:
        return _leaked(v, where)
    return ConcretizationError(
        f"the data of a traced value (shape {v.shape}, dtype {v.dtype}) was needed, for {what}, at "
        f"{where}. "
        "jit and program trace a function on shapes and dtypes only, so a Python branch (if, "
        "while), float(), int() or bool() on a traced value cannot be recorded. Make that argument "
        "static with jit(f, static_argnums=...), or compute both branches and choose with "
        "wengert.where(condition, a, b)."
    )


def _leaked(v: Var, where: str) -> LeakedTracerError:
    return LeakedTracerError(
        f"a traced value (shape {v.shape}, dtype {v.dtype}) was used at {where} after the jit/program "
        "tracing that made it had finished: it leaked out of the traced function (through a global, "
        "an attribute or a closure). Return it from the function instead."
    )


class ProgramTrace(Trace):
    """A level that records every primitive applied to its boxes as an equation of a program."""

    __slots__ = ("alive", "const_ids", "consts", "equations")
    stages = True

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.alive = True
        self.equations: list[Equation] = []
        self.consts: dict[Var, Any] = {}
        self.const_ids: dict[int, Var] = {}

    def new_var(self, shape, dtype, weak: bool = False) -> Var:
        v = Var(shape, dtype, weak=weak)
        v.trace = self
        return v

    def box(self, v: Var):
        return reverse_box(v, self, None)

    def operand(self, a):
        """An argument of a primitive as a program operand: this trace's Var, a Literal or a const."""
        if type(a) in BOX_TYPES:
            t = a._trace
            if t is self:
                return a._value
            if t is not None and not (t.level == EAGER_LEVEL and not STATE.grad_enabled):
                raise self.foreign(a)
            a = raw(a)
        if type(a) is Var:  # a Var of a finished tracing
            raise _leaked(a, user_line())
        if a is None or type(a) in _PYSCALARS or isinstance(a, np.generic):
            return Literal(a)
        return self.const(a)

    def const(self, value) -> Var:
        v = self.const_ids.get(id(value))
        if v is None:
            arr = np.asarray(value)
            v = self.new_var(arr.shape, arr.dtype)
            self.consts[v] = arr
            self.const_ids[id(value)] = v
            self.const_ids[id(arr)] = v
        return v

    def foreign(self, a) -> Exception:
        t = a._trace
        if isinstance(t, ProgramTrace) and not t.alive:
            return _leaked(a._value, user_line())
        if t.level == EAGER_LEVEL:
            what = "a tensor with requires_grad=True (on the eager tape)"
        else:
            what = "a value of an enclosing transform (a perturbation of an outer grad/jvp/jit)"
        return TypeError(
            f"jit/program: the traced function uses {what} that is not one of its arguments, at "
            f"{user_line()}. Pass it as an argument (a pytree of arrays), or detach it to make it a "
            "constant."
        )

    def process(self, prim, args: tuple, kwargs: dict):
        if not self.alive:
            raise LeakedTracerError(
                f"'{prim.name}' was applied at {user_line()} to a traced value whose jit/program "
                "tracing had finished: it leaked out of the traced function (through a global, an "
                "attribute or a closure). Return it from the function instead."
            )
        if not isinstance(prim, _TABLE_KINDS):
            fun = getattr(prim, "fun", None)  # checkpoint and custom rules: trace the function itself
            if fun is None:
                raise TypeError(f"jit/program: cannot trace primitive '{prim.name}'")
            return fun(*args)
        inputs = [self.operand(a) for a in args]
        out = self.infer(prim, inputs, kwargs)
        self.equations.append(Equation(prim, inputs, out, dict(kwargs)))
        return self.box(out)

    def infer(self, prim, inputs: list, kwargs: dict) -> Var:
        """The result's shape and dtype: the primitive's numpy function applied to zeros."""
        dummies = [_dummy(a, self.consts) for a in inputs]
        try:
            with np.errstate(all="ignore"):
                ans = prim.impl(*dummies, **kwargs)
        except ValueError as e:
            raise prim.error(dummies, e) from None
        weak = type(ans) in _PYSCALARS
        return self.new_var(np.shape(ans), np.result_type(ans), weak=weak)


def _dummy(a, consts):
    if type(a) is Literal:
        return a.value
    if a in consts:
        return consts[a]
    if a.weak:
        return a.dtype.type(0).item()
    return np.zeros(a.shape, a.dtype)


# --- tracing a function ------------------------------------------------------------------------------


def leaf_var(x: Any, who: str, pos: str) -> Var | None:
    """The abstract value of an argument leaf (None for a leaf that stays static: None itself)."""
    if x is None:
        return None
    if type(x) in BOX_TYPES:
        x = raw(x)
    if type(x) is Var:
        return Var(x.shape, x.dtype, weak=x.weak)
    if type(x) in _PYSCALARS:
        return Var((), np.result_type(x), weak=True)
    if isinstance(x, (np.ndarray, np.generic)):
        if x.dtype == object or x.dtype.kind in "USVMm":
            raise TypeError(f"{who}: {pos} has dtype {x.dtype}; only numeric arrays can be traced")
        return Var(x.shape, x.dtype)
    raise TypeError(
        f"{who}: {pos} is a {type(x).__name__}, not an array or number; pass it among "
        "static_argnums to make it part of the signature, or convert it to an array"
    )


def check_static_argnums(static_argnums, nargs: int, who: str) -> tuple[int, ...]:
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    out = []
    for i in nums:
        if not isinstance(i, int) or isinstance(i, bool):
            raise TypeError(f"{who}: static_argnums must be ints, got {static_argnums!r}")
        if not -nargs <= i < nargs:
            raise ValueError(
                f"{who}: static_argnums={static_argnums!r} is out of range for {nargs} arguments"
            )
        out.append(i % nargs)
    return tuple(sorted(set(out)))


def arg_names(f: Callable, nargs: int) -> list[str]:
    """Names for the arguments of f: its parameter names where it has them, else x1, x2, ..."""
    names = []
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        params = []
    for i in range(nargs):
        p = params[i] if i < len(params) else None
        if p is not None and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        else:
            names.append(f"x{i + 1}")
    return names


def trace_program(
    f: Callable, args: Sequence, static_argnums: Sequence[int] = (), who: str = "program"
) -> Program:
    """Trace f at a fresh level on abstract values of `args`; the recorded (unsimplified) program."""
    args = tuple(args)
    static = set(static_argnums)
    dyn = tuple(a for i, a in enumerate(args) if i not in static)
    leaves, in_tree = tree.flatten(dyn)
    names = arg_names(f, len(args))
    dyn_names = [n for i, n in enumerate(names) if i not in static]
    leaf_names = _leaf_names(dyn, dyn_names)
    tr = ProgramTrace(next_level())
    invars, in_static, boxes = [], {}, []
    for k, (x, nm) in enumerate(zip(leaves, leaf_names)):
        v = leaf_var(x, who, f"argument {nm}")
        if v is None:
            in_static[k] = x
            boxes.append(x)
            continue
        v.name = nm
        v.trace = tr
        invars.append(v)
        boxes.append(tr.box(v))
    dyn_boxed = iter(tree.unflatten(in_tree, boxes))
    full = [a if i in static else next(dyn_boxed) for i, a in enumerate(args)]
    try:
        with tr:
            out = f(*full)
        out_leaves, out_tree = tree.flatten(out)
        outvars = [_output(tr, o, who) for o in out_leaves]
    finally:
        tr.alive = False
    name = getattr(f, "__name__", "f")
    name = name if name.isidentifier() else "f"
    return Program(
        invars,
        tr.consts,
        tr.equations,
        outvars,
        in_tree,
        out_tree,
        name,
        in_static,
        [_ident(n) for n in dyn_names],
    )


def _output(tr: ProgramTrace, o, who: str):
    if type(o) in BOX_TYPES and o._trace is tr:
        return o._value
    if type(o) in BOX_TYPES:
        t = o._trace
        if t is not None and not (t.level == EAGER_LEVEL and not STATE.grad_enabled):
            raise tr.foreign(o)
    o = raw(o)
    if o is None or type(o) in _PYSCALARS or isinstance(o, (np.ndarray, np.generic)):
        return tr.operand(o)
    raise TypeError(
        f"{who}: the function returned a {type(o).__name__}; outputs must be arrays or numbers"
    )


def _leaf_names(dyn: tuple, names: list[str]) -> list[str]:
    out = []
    for a, nm in zip(dyn, names):
        leaves, _ = tree.flatten(a)
        if len(leaves) == 1 and not isinstance(a, (tuple, list, dict)):
            out.append(_ident(nm))
        else:
            out.extend(_ident(f"{nm}_{j}") for j in range(len(leaves)))
    return out


def _ident(s: str) -> str:
    s = "".join(c if c.isalnum() or c == "_" else "_" for c in s)
    if not s or s[0].isdigit() or keyword.iskeyword(s):
        s = "a_" + s
    return s + "_" if s in ("np", "math") else s


def program(f: Callable, static_argnums: int | Sequence[int] = (), simplify: bool = True):
    """A function that traces `f` on its arguments' shapes and dtypes and returns the `Program`.

    ::

        prog = wengert.program(f)(x1, x2)
        print(prog)                     # one equation a line
        prog(x1, x2)                    # evaluates it
        wengert.program(wengert.grad(f))(x1, x2)   # the derivative program

    Arguments may be arrays, numbers, tensors or pytrees (tuples, lists, dicts) of them; those in
    `static_argnums` are used as they are (they are not traced). With `simplify` (the default) the
    simplification passes run on the recorded program.
    """

    def make(*args) -> Program:
        nums = check_static_argnums(static_argnums, len(args), "program")
        prog = trace_program(f, args, nums, "program")
        if simplify:
            from .passes import simplify as run_passes

            prog = run_passes(prog)
        else:
            from .passes import rename

            rename(prog)
        return prog

    return make
