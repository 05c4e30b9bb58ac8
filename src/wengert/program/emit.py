"""Programs as Python source: one numpy statement per equation, with a shape comment each.

Every primitive of the table gets a code template (the `source` field of its entry, attached here):
an operator (`a * b`, `a @ b`), a numpy call (`np.sin(a)`, `np.sum(a, axis=0)`), or a call to the
primitive's own numpy implementation, whose text is copied into the source. Two forms are emitted:

- `emit_source` (what `Program.source()` returns): a self-contained module that imports only numpy,
  constants written out, arguments and results with the traced pytree structure;
- `emit_compiled` (what jit runs): the same statements over flat arguments, constants passed in by
  name, transposes folded into matrix products, and elementwise results written into the buffer of
  an operand that the program proves dead (never an argument, a constant, a view or an output).
"""

from __future__ import annotations

import dis
import inspect
import linecache
import math
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import primitives as P
from ..core.primitive import Elementwise, NonDiff, Structural
from .ir import Literal, Program, Var, use_counts

# --- rendering values -------------------------------------------------------------------------------


def _float(x: float) -> str:
    if math.isnan(x):
        return "np.nan"
    if math.isinf(x):
        return "np.inf" if x > 0 else "-np.inf"
    return repr(float(x))


def literal(v: Any) -> str:
    """Python text for a number, numpy scalar, dtype, None, slice or tuple of them."""
    if v is None or isinstance(v, (bool, int, str)) or v is Ellipsis:
        return "..." if v is Ellipsis else repr(v)
    if isinstance(v, float):
        return _float(v)
    if isinstance(v, np.generic):
        name = type(v).__name__
        if isinstance(v, np.bool_):
            return f"np.bool_({bool(v)})"
        if isinstance(v, np.integer):
            return f"np.{name}({int(v)})"
        if isinstance(v, np.floating):
            return f"np.{name}({_float(float(v))})"
        return f"np.{name}({v!r})"
    if isinstance(v, np.dtype):
        return f"np.{v.name}" if v.name != "bool" else "np.bool_"
    if isinstance(v, type) and issubclass(v, np.generic):
        return literal(np.dtype(v))
    if isinstance(v, tuple):
        inner = ", ".join(literal(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, slice):
        return f"slice({literal(v.start)}, {literal(v.stop)}, {literal(v.step)})"
    raise TypeError(f"no source for the value {v!r}")


def array_text(a: np.ndarray) -> str:
    """Python text rebuilding array `a` exactly (values written with full precision)."""
    a = np.asarray(a)
    dt = literal(a.dtype)
    if a.ndim == 0:
        return f"np.array({literal(a.item() if a.dtype.kind != 'f' else float(a))}, dtype={dt})"
    flat = a.ravel()
    if a.size > 1 and np.all(flat == flat[0]) and a.dtype.kind in "fiub":
        fill = literal(flat[0].item() if a.dtype.kind != "f" else float(flat[0]))
        return f"np.full({literal(a.shape)}, {fill}, dtype={dt})"
    items = ", ".join(literal(x.item() if a.dtype.kind != "f" else float(x)) for x in flat)
    return f"np.array([{items}], dtype={dt}).reshape({literal(a.shape)})"


# --- templates: (args as text, params, emitter) -> expression --------------------------------------

_OPERATORS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "matmul": "@"}
_COMPARISONS = {
    "greater": ">",
    "greater_equal": ">=",
    "less": "<",
    "less_equal": "<=",
    "equal": "==",
    "not_equal": "!=",
}


def _wrap(s: str) -> str:
    """Parenthesise an operand that is not a plain name, number or call."""
    return f"({s})" if s.startswith("-") or " " in s else s


def _kw(params: dict, em, defaults: dict) -> str:
    parts = [f"{k}={em.param(v)}" for k, v in params.items() if defaults.get(k, object()) != v]
    return "".join(", " + p for p in parts)


def _axis_kw(defaults):
    return lambda fn: lambda a, params, em: f"{fn}({a[0]}{_kw(params, em, defaults)})"


def _reduction(fn: str, ufunc: str):
    """np.sum/np.max/np.min in a module; the ufunc's reduce (the same numbers, without the wrapper's
    microsecond) in jit's compiled code."""
    plain = _axis_kw({"axis": None, "keepdims": False})(fn)
    fast = _axis_kw({"keepdims": False})(f"np.{ufunc}.reduce")
    return lambda a, params, em: (plain if em.standalone else fast)(a, params, em)


def _index_text(index: tuple, em) -> str:
    parts = []
    for i in index:
        if isinstance(i, slice):
            ends = (i.start, i.stop) if i.step is None else (i.start, i.stop, i.step)
            parts.append(":".join("" if p is None else str(int(p)) for p in ends))
        elif i is None:
            parts.append("None")
        elif i is Ellipsis:
            parts.append("...")
        elif isinstance(i, (int, np.integer)):
            parts.append(str(int(i)))
        else:
            parts.append(em.param(i))
    return ", ".join(parts) if parts else "()"


def _transpose(a, params, em):
    axes = params.get("axes")
    nd = em.current.out.ndim
    if axes is None or tuple(axes) == tuple(range(nd))[::-1]:
        return f"{_wrap(a[0])}.T" if nd <= 2 else f"np.transpose({a[0]})"
    if nd >= 2 and tuple(axes) == tuple(range(nd - 2)) + (nd - 1, nd - 2):
        return f"{_wrap(a[0])}.mT"
    return f"np.transpose({a[0]}, {literal(tuple(axes))})"


def _binary(op: str):
    return lambda a, p, em: f"{_wrap(a[0])} {op} {_wrap(a[1])}"


def _matmul(a, p, em):
    x, y = em.current.inputs
    if x.ndim >= 2 and y.ndim >= 2 and x.shape[-1] == 1:
        # a product over one term: the broadcast product gives the same numbers without BLAS (an
        # outer product, as in a batch-1 weight gradient, is several times faster this way)
        return f"{_wrap(a[0])} * {_wrap(a[1])}"
    return f"{_wrap(a[0])} @ {_wrap(a[1])}"


def _concatenate(a, p, em):
    items = ", ".join(a) + ("," if len(a) == 1 else "")
    return f"np.concatenate(({items}), axis={p.get('axis', 0)})"


TEMPLATES: dict[str, Callable] = {
    **{n: _binary(op) for n, op in _OPERATORS.items()},
    "matmul": _matmul,
    **{n: _binary(op) for n, op in _COMPARISONS.items()},
    "neg": lambda a, p, em: f"-{_wrap(a[0])}",
    "relu": lambda a, p, em: f"np.maximum({a[0]}, 0)",
    "where": lambda a, p, em: f"np.where({a[0]}, {a[1]}, {a[2]})",
    "clip": lambda a, p, em: f"np.clip({a[0]}, {a[1]}, {a[2]})",
    "stop_gradient": lambda a, p, em: a[0],
    "sum": _reduction("np.sum", "add"),
    "max": _reduction("np.max", "maximum"),
    "min": _reduction("np.min", "minimum"),
    "argmax": _axis_kw({"axis": None})("np.argmax"),
    "argmin": _axis_kw({"axis": None})("np.argmin"),
    "reshape": lambda a, p, em: f"np.reshape({a[0]}, {literal(tuple(p['new_shape']))})",
    "transpose": _transpose,
    "broadcast_to": lambda a, p, em: f"np.broadcast_to({a[0]}, {literal(tuple(p['new_shape']))})",
    "getitem": lambda a, p, em: f"{_wrap(a[0])}[{_index_text(p['index'], em)}]",
    "concatenate": _concatenate,
    "cast": lambda a, p, em: f"np.asarray({a[0]}).astype({literal(np.dtype(p['dtype']))}, copy=False)",
    "copy": lambda a, p, em: f"np.array({a[0]}, copy=True)",
    "round": lambda a, p, em: f"np.round({a[0]}{_kw(p, em, {'decimals': 0})})",
    "leaky_relu": lambda a, p, em: f"np.where({a[0]} > 0, {a[0]}, {_wrap(a[1])} * {_wrap(a[0])})",
    "silu": lambda a, p, em: f"{_wrap(a[0])} * {em.helper('_sigmoid')}({a[0]})",
    "gelu": lambda a, p, em: (
        f"0.5 * {_wrap(a[0])} * (1.0 + {em.helper('_erf')}({_wrap(a[0])} * {0.5**0.5!r}))"
    ),
}

#: Primitives computed by calling their numpy implementation; its source is copied into the text.
HELPERS = {
    "sigmoid": "_sigmoid",
    "softplus": "_softplus",
    "erf": "_erf",
    "softmax": "_softmax",
    "log_softmax": "_log_softmax",
    "logsumexp": "_logsumexp",
    "cross_entropy": "_cross_entropy",
    "scatter_add": "_scatter_add",
    "linear": "_linear",
    "conv": "_conv",
    "max_pool": "_max_pool",
    "fold": "_fold",
}


def _helper_deps(name: str, seen: set | None = None) -> list[str]:
    """The table module's functions that helper `name` calls (recursively), in definition order."""
    seen = set() if seen is None else seen
    out: list[str] = []
    codes = [_helper(name).__code__]
    while codes:
        code = codes.pop()
        codes.extend(c for c in code.co_consts if inspect.iscode(c))
        names = [i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL"]
        for n in names:
            f = getattr(P, n, None)
            if n not in seen and inspect.isfunction(f) and f.__module__ == P.__name__:
                seen.add(n)
                out += [*_helper_deps(n, seen), n]
    return out


def _uses(helper: str, module: str) -> bool:
    """Whether the copied function `helper` names the standard-library `module`."""
    codes = [_helper(helper).__code__]
    while codes:
        code = codes.pop()
        codes.extend(c for c in code.co_consts if inspect.iscode(c))
        if module in code.co_names:
            return True
    return False


#: Results that may share memory with their first argument (never written in place).
VIEWS = {"reshape", "transpose", "broadcast_to", "getitem", "cast", "stop_gradient"}


def _helper(name: str) -> Callable:
    """A numpy function the emitted code calls: the table's implementation, or one defined here."""
    return globals()[name] if name in ("_safe_mul",) else getattr(P, name)


def _table():
    return {p.name: p for p in vars(P).values() if isinstance(p, (Elementwise, Structural, NonDiff))}


def _ufunc(prim):
    """The numpy function computing a primitive (unwrapped from its user-line warnings, if any)."""
    return getattr(prim.impl, "__wrapped__", prim.impl)


def _attach() -> None:
    """Give every primitive of the table its code template (the `source` field of its entry)."""
    for name, prim in _table().items():
        if name in TEMPLATES:
            prim.source = TEMPLATES[name]
        elif name in HELPERS:
            fn = HELPERS[name]
            prim.source = lambda a, p, em, fn=fn: f"{em.helper(fn)}({', '.join(a)}{_kw(p, em, {})})"
        elif isinstance(_ufunc(prim), np.ufunc):
            uf = _ufunc(prim).__name__
            prim.source = lambda a, p, em, uf=uf: f"np.{uf}({', '.join(a)})"


_attach()


def _inplace_ufunc(prim):
    """The numpy ufunc computing an elementwise primitive (for writing into a dead buffer)."""
    impl = _ufunc(prim)
    if isinstance(impl, np.ufunc) and impl.nout == 1 and isinstance(prim, Elementwise):
        return impl.__name__
    if prim.name == "relu":
        return "maximum"
    return None


# --- the emitter ------------------------------------------------------------------------------------


class _Emitter:
    def __init__(self, prog: Program, standalone: bool) -> None:
        self.prog = prog
        self.standalone = standalone
        self.namespace: dict[str, Any] = {"np": np}
        self.helpers: list[str] = []
        self.extra_consts: list[tuple[str, np.ndarray]] = []
        self.current = None
        self.names: dict = {}

    def name(self, a) -> str:
        if type(a) is Literal:
            return literal(a.value)
        return self.names.get(a, a.name)

    def param(self, v) -> str:
        if isinstance(v, np.ndarray):
            for nm, c in self.extra_consts:  # one name per distinct index array
                if isinstance(c, np.ndarray) and c.dtype == v.dtype and np.array_equal(c, v):
                    return nm
            nm = f"k{len(self.extra_consts) + 1}"
            self.extra_consts.append((nm, v))
            return nm
        if isinstance(v, np.integer):
            return str(int(v))
        if isinstance(v, tuple):
            inner = ", ".join(self.param(x) for x in v)
            return f"({inner},)" if len(v) == 1 else f"({inner})"
        return literal(v)

    def helper(self, fn_name: str) -> str:
        if self.standalone:
            for dep in [*_helper_deps(fn_name), fn_name]:
                if dep not in self.helpers:
                    self.helpers.append(dep)
        else:
            self.namespace[fn_name] = _helper(fn_name)
        return fn_name

    def expr(self, e, args: list[str]) -> str:
        self.current = e
        tmpl = getattr(e.prim, "source", None)
        if tmpl is not None:
            return tmpl(args, e.params, self)
        if self.standalone:
            raise NotImplementedError(f"source: no code template for primitive '{e.prim.name}'")
        fn = f"_p_{e.prim.name}"
        self.namespace[fn] = e.prim.impl
        kw = "".join(f", {k}={self.param_obj(v)}" for k, v in e.params.items())
        return f"{fn}({', '.join(args)}{kw})"

    def param_obj(self, v) -> str:
        nm = f"k{len(self.extra_consts) + 1}"
        self.extra_consts.append((nm, v))
        return nm


def _folded_transposes(prog: Program) -> dict:
    """Transposes used once, by a matrix product: emitted inside the product (`a.T @ b`)."""
    uses = use_counts(prog, output_uses=2)
    consumers = {a for e in prog.equations if e.prim.name in ("matmul",) for a in e.inputs}
    return {
        e.out: e
        for e in prog.equations
        if e.prim.name == "transpose" and uses.get(e.out) == 1 and e.out in consumers and e.out.ndim >= 2
    }


def _buffers(prog: Program, moved: dict | None = None):
    """For writing in place: which Vars own a fresh buffer, and the last equation using each buffer
    (`moved`: Vars read later than their equations say, {Var: index of the equation reading it})."""
    base: dict = {}
    for v in prog.invars:
        base[v] = v
    for v in prog.consts:
        base[v] = v
    fresh = set()
    for e in prog.equations:
        if e.prim.name in VIEWS and type(e.inputs[0]) is Var:
            base[e.out] = base[e.inputs[0]]
        else:
            base[e.out] = e.out
            if e.out.ndim > 0 and not e.out.weak:
                fresh.add(e.out)
    last: dict = {}
    for k, e in enumerate(prog.equations):
        for a in e.inputs:
            if type(a) is Var:
                last[base[a]] = k
    for v, k in (moved or {}).items():
        if type(v) is Var:
            last[base[v]] = max(last.get(base[v], -1), k)
    for o in prog.outvars:
        if type(o) is Var:
            last[base[o]] = math.inf
    return fresh, base, last


def _scatter_sums(prog: Program) -> dict:
    """Sums of two scatters into zeros (basic indices, same shape), each used only by the sum: emitted
    as one zeros array written twice. {sum's index: (first scatter, second scatter)}"""
    defs = {e.out: e for e in prog.equations}
    uses = use_counts(prog, output_uses=2)
    out = {}
    for k, e in enumerate(prog.equations):
        if e.prim.name != "add" or not all(type(a) is Var for a in e.inputs):
            continue
        d = [defs.get(a) for a in e.inputs]
        if (
            all(
                x is not None
                and x.prim.name == "scatter_add"
                and P.is_basic_index(x.params["index"])
                and uses.get(x.out) == 1
                and x.out.shape == e.out.shape
                and x.out.dtype == e.out.dtype
                for x in d
            )
            and d[0] is not d[1]
        ):
            out[k] = (d[0], d[1])
    return out


def _safe_mul(g, d):
    """g * d, with 0 where d is infinite and g is 0 (a zero cotangent meeting an infinite partial)."""
    prod = g * d
    finite = np.isfinite(d)
    if finite.all():
        return prod
    return np.where(finite | (g != 0), prod, 0.0)


def _guards(prog: Program) -> dict:
    """The guarded products of the table's rules, `where(isfinite(d) | (g != 0), g * d, 0)`, whose
    pieces are used only there: emitted as one call `_safe_mul(g, d)`. {where: (g, d, pieces)}"""
    defs = {e.out: e for e in prog.equations}
    uses = use_counts(prog, output_uses=2)
    out = {}
    for e in prog.equations:
        if e.prim.name != "where" or type(e.inputs[2]) is not Literal or e.inputs[2].value != 0:
            continue
        m, p = e.inputs[0], e.inputs[1]
        dm, dp = defs.get(m), defs.get(p)
        if dm is None or dp is None or dm.prim.name != "logical_or" or dp.prim.name != "mul":
            continue
        parts = [defs.get(a) for a in dm.inputs]
        if any(x is None for x in parts):
            continue
        fin = next((x for x in parts if x.prim.name == "isfinite"), None)
        ne = next((x for x in parts if x.prim.name == "not_equal"), None)
        if fin is None or ne is None:
            continue
        g, d = dp.inputs
        if fin.inputs[0] is not d or ne.inputs[0] is not g:
            continue
        pieces = (m, p, fin.out, ne.out)
        if all(uses.get(v) == 1 for v in pieces):
            out[e.out] = (g, d, set(pieces))
    return out


def _one_hot_of(e, labels, defs: dict, prog: Program) -> list | None:
    """The equations of `cast(reshape(labels, shape + (1,)) == arange(k))` ending in e (the one-hot
    rows the table's cross-entropy rules build while traced), or None."""
    if e is None or e.prim.name != "cast":
        return None
    eq = defs.get(e.inputs[0])
    if eq is None or eq.prim.name != "equal":
        return None
    r, c = eq.inputs
    rs = defs.get(r)
    k = e.out.shape[-1] if e.out.ndim else 0
    if (
        rs is None
        or rs.prim.name != "reshape"
        or rs.inputs[0] is not labels
        or type(c) is not Var
        or c not in prog.consts
    ):
        return None
    ref = prog.consts[c]
    if np.shape(ref) != (k,) or not np.array_equal(ref, np.arange(k)):
        return None
    return [rs, eq, e]


def _ce_softmax(prog: Program) -> dict:
    """cross_entropy(z, y) and softmax(z) over the last axis of the same z (a loss and its gradient):
    emitted as one call computing the shifted exponentials once; when that softmax is used only by
    `softmax - one_hot(y)`, the subtraction is folded in too, and a scaling by a number after it.
    {index where the call goes: (ce, the last equation folded in, the scale or None, pieces left out)}"""
    defs = {e.out: e for e in prog.equations}
    where = {e.out: k for k, e in enumerate(prog.equations)}
    uses = use_counts(prog, output_uses=2)
    users: dict = {}
    for e in prog.equations:
        for a in e.inputs:
            if type(a) is Var:
                users.setdefault(a, []).append(e)
    out = {}
    for ce in prog.equations:
        if ce.prim.name != "cross_entropy" or not all(type(a) is Var for a in ce.inputs):
            continue
        z, y = ce.inputs
        sm = next(
            (
                e
                for e in users.get(z, ())
                if e.prim.name == "softmax" and e.params.get("axis", -1) in (-1, z.ndim - 1)
            ),
            None,
        )
        if sm is None or z.ndim == 0 or sm.out.weak:
            continue
        first = min(where[ce.out], where[sm.out])
        if y in defs and where[y] >= first:
            continue  # the labels come later than the softmax: keep the two calls
        pieces, last = {sm.out}, sm
        if uses.get(sm.out) == 1:
            sub = users[sm.out][0]
            if sub.prim.name == "sub" and sub.inputs[0] is sm.out and type(sub.inputs[1]) is Var:
                chain = _one_hot_of(defs.get(sub.inputs[1]), y, defs, prog)
                if chain is not None and all(uses.get(x.out) == 1 for x in chain):
                    pieces |= {x.out for x in chain} | {sub.out}
                    last = sub
        scale = None
        if last is not sm and uses.get(last.out) == 1:
            mul = users[last.out][0]
            c = mul.inputs[1]
            if (
                mul.prim.name == "mul"
                and mul.inputs[0] is last.out
                and type(c) is Literal
                and np.ndim(c.value) == 0
                and mul.out.dtype == last.out.dtype
            ):
                pieces.add(last.out)
                last, scale = mul, c
        out[first] = (ce, last, scale, pieces)
    return out


def _body(prog: Program, em: _Emitter, inplace: bool) -> list[tuple[str, str]]:
    """(statement, comment) per equation."""
    folded = {} if em.standalone else _folded_transposes(prog)
    guards = _guards(prog)
    skip = set().union(*(p for _, _, p in guards.values())) if guards else set()
    sums = _scatter_sums(prog)
    moved = {}
    for k, (s1, s2) in sums.items():
        skip.update((s1.out, s2.out))
        moved.update({s1.inputs[0]: k, s2.inputs[0]: k})
    fused = {} if em.standalone else _ce_softmax(prog)
    for ce, grad, _, pieces in fused.values():
        skip |= pieces | {ce.out, grad.out}
    fresh, base, last = _buffers(prog, moved) if inplace else (set(), {}, {})
    lines = []
    for k, e in enumerate(prog.equations):
        if k in fused:
            ce, grad, scale, _ = fused[k]
            z, y = (em.name(a) for a in ce.inputs)
            fn = em.helper("_cross_entropy_softmax")
            red = ce.params.get("reduction", "mean")
            more = "" if scale is None else f", {em.name(scale)}"
            call = f"{fn}({z}, {y}, {literal(red)}, {grad.prim.name != 'softmax'}{more})"
            lines.append((f"{ce.out.name}, {grad.out.name} = {call}", grad.out.type_str))
        if e.out in skip:
            continue
        if k in sums:
            s1, s2 = sums[k]
            zeros = f"np.zeros({literal(e.out.shape)}, dtype={literal(e.out.dtype)})"
            lines.append((f"{e.out.name} = {zeros}", e.out.type_str))
            for op, sc in (("=", s1), ("+=", s2)):
                idx = _index_text(sc.params["index"], em)
                lines.append((f"{e.out.name}[{idx}] {op} {em.name(sc.inputs[0])}", ""))
            continue
        if e.out in folded:
            em.names[e.out] = em.expr(e, [em.name(a) for a in e.inputs])
            continue
        args = [em.name(a) for a in e.inputs]
        if e.out in guards:
            g, d, _ = guards[e.out]
            fn = em.helper("_safe_mul")
            lines.append((f"{e.out.name} = {fn}({em.name(g)}, {em.name(d)})", e.out.type_str))
            continue
        if e.prim.name == "scatter_add" and P.is_basic_index(e.params["index"]):
            zeros = f"np.zeros({literal(e.out.shape)}, dtype={literal(e.out.dtype)})"
            lines.append((f"{e.out.name} = {zeros}", e.out.type_str))
            lines.append((f"{e.out.name}[{_index_text(e.params['index'], em)}] = {args[0]}", ""))
            continue
        rhs = em.expr(e, args)
        uf = _inplace_ufunc(e.prim) if inplace and e.out in fresh else None
        if uf is not None:
            for a in e.inputs:
                if (
                    type(a) is Var
                    and a in fresh
                    and base[a] is a
                    and last.get(a) == k
                    and a.shape == e.out.shape
                    and a.dtype == e.out.dtype
                ):
                    extra = ", 0" if e.prim.name == "relu" else ""
                    rhs = f"np.{uf}({', '.join(args)}{extra}, out={em.name(a)})"
                    break
        lines.append((f"{e.out.name} = {rhs}", e.out.type_str))
    return lines


def _comment_lines(lines: list[tuple[str, str]], indent: str) -> list[str]:
    return [f"{indent}{s}  # {c}" if c else f"{indent}{s}" for s, c in lines]


def _tree_expr(treedef, leaves) -> str:
    it = iter(leaves)

    def go(d):
        if d is None:
            return next(it)
        if d[0] is dict:
            items = ", ".join(f"{k!r}: {go(sub)}" for k, sub in zip(d[1], d[2]))
            return "{" + items + "}"
        items = [go(sub) for sub in d[1]]
        if d[0] is tuple:
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        return "[" + ", ".join(items) + "]"

    return go(treedef)


def _unpack(prog: Program) -> tuple[list[str], list[str]]:
    """Parameters of the emitted function and the statements giving the input leaves from them."""
    names = prog.arg_names or [f"a{i + 1}" for i in range(len(prog.in_tree[1]))]
    lines = []
    pos = 0
    leaf_iter = iter(prog.invars)

    def walk(sub, expr):
        nonlocal pos
        if sub is None:
            k = pos
            pos += 1
            if k in prog.in_static:
                return
            v = next(leaf_iter)
            if v.name != expr:
                lines.append(f"{v.name} = {expr}")
            return
        if sub[0] is dict:
            for key, s in zip(sub[1], sub[2]):
                walk(s, f"{expr}[{key!r}]")
        else:
            for j, s in enumerate(sub[1]):
                walk(s, f"{expr}[{j}]")

    for nm, sub in zip(names, prog.in_tree[1]):
        walk(sub, nm)
    return list(names), lines


def emit_source(prog: Program, name: str | None = None) -> str:
    """A self-contained Python module (numpy only) defining a function that computes `prog`."""
    em = _Emitter(prog, standalone=True)
    name = name or prog.name
    body = _body(prog, em, inplace=False)
    args, unpack = _unpack(prog)
    out = _tree_expr(prog.out_tree, [em.name(o) for o in prog.outvars])
    stdlib = sorted(m for m in ("itertools", "math") if any(_uses(h, m) for h in em.helpers))
    head = [*(f"import {m}" for m in stdlib), *([""] if stdlib else []), "import numpy as np"]
    parts = ["\n".join(head)]  # laid out as `ruff format` lays out a module
    for h in em.helpers:
        parts.append(textwrap.dedent(inspect.getsource(_helper(h))).rstrip())
    consts = [(v.name, c) for v, c in prog.consts.items()] + em.extra_consts
    if consts:
        parts.append("\n".join(f"{n} = {array_text(c)}" for n, c in consts))
    lines = [f"def {name}({', '.join(args)}):"]
    lines += ["    " + s for s in unpack]
    lines += _comment_lines(body, "    ")
    lines.append(f"    return {out}")
    parts.append("\n".join(lines))
    return "\n\n\n".join(parts) + "\n"


_COUNTER = [0]


def emit_compiled(prog: Program) -> tuple[str, Callable]:
    """Source over flat arguments and its compiled function (returning the traced output structure)."""
    em = _Emitter(prog, standalone=False)
    body = _body(prog, em, inplace=True)
    for v, c in prog.consts.items():
        em.namespace[v.name] = c
    for n, c in em.extra_consts:
        em.namespace[n] = c
    outs = []
    for o in prog.outvars:
        if type(o) is Var and o in prog.consts:
            outs.append(f"{o.name}.copy()")  # a constant result: the caller may write into it
        else:
            outs.append(em.name(o))
    lines = [f"def {prog.name}({', '.join(v.name for v in prog.invars)}):"]
    lines += _comment_lines(body, "    ")
    lines.append(f"    return {_tree_expr(prog.out_tree, outs)}")
    src = "\n".join(lines) + "\n"
    _COUNTER[0] += 1
    filename = f"<wengert.jit {prog.name} #{_COUNTER[0]}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    exec(compile(src, filename, "exec"), em.namespace)
    return src, em.namespace[prog.name]
