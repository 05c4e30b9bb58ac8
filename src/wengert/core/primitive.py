"""Primitive operations and how each mode reads their derivative rules.

There are three kinds of primitive:

- `Elementwise`: declared by its partial derivatives, one per argument, written in wengert's own
  operations (so they can be differentiated again). The same partials serve reverse mode (g * d),
  forward mode (d * t), the scalar `Node` and `Dual`, and Taylor arithmetic. Broadcasting is undone
  in one place (`unbroadcast`).
- `Structural`: declared by one VJP rule per argument and one JVP rule; both are linear in the cotangent
  or tangent and must accept leading batch axes on it (how jacfwd/jacrev push a whole basis in one
  sweep), so rules index axes from the end.
- `NonDiff`: comparisons and other piecewise-constant functions: their result is a constant.

Rule signatures: partial `(ans, *args) -> d`, VJP `(g, ans, *args, **kw) -> cotangent`,
JVP `(tangents, ans, *args, **kw) -> tangent` with `None` for unperturbed arguments. `ans` is the value
of the output when the primitive declares `save_ans`, otherwise an `Aval` with its shape and dtype.
"""

from __future__ import annotations

import numpy as np

from . import trace as _trace
from .graph import Aval
from .trace import BOX_TYPES, bind, raw

PYNUM = (float, int, bool)


class DomainError(ValueError):
    """An argument outside a function's domain (log of a negative number, sqrt of -1, ...)."""


class Primitive:
    """A named operation on numpy values with derivative rules.

    `taylor` says how truncated Taylor series pass through a structural primitive (taylor.py):
    "linear" (each coefficient maps by the JVP rule), "bilinear" (a Cauchy product of the two
    arguments' series), or a function computing the primitive from others that have a Taylor rule.
    Elementwise primitives need none: their partials give the recurrence.
    """

    taylor = None
    #: Optional forward `(*args, **kwargs) -> (ans, res)`: the value and something the reverse rules
    #: reuse (cross-entropy's softmax). The eager tape and grad/vjp save `res` on the node and pass it
    #: to the VJP rules as the keyword `res`; elsewhere (programs, nested levels) the rules recompute.
    residual = None

    def __init__(self, name: str, impl, *, save_args: bool = True, save_ans: bool = False):
        self.name = name
        self.impl = impl
        self.save_args = save_args
        self.save_ans = save_ans

    def __call__(self, *args, **kwargs):
        for a in args:
            if type(a) in BOX_TYPES:
                return bind(self, args, kwargs)
        try:
            return self.impl(*args, **kwargs)
        except ValueError as e:
            raise self.error(args, e) from None

    def error(self, args, e: Exception) -> ValueError:
        """numpy's ValueError (a broadcasting mismatch, say) restated with this op and the shapes."""
        if str(e).startswith(f"{self.name}:"):
            return e
        shapes = ", ".join(str(shape(raw(a))) for a in args)
        return ValueError(f"{self.name}: arguments of shapes {shapes}: {e}")

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"

    def vjp(self, node, g):  # pragma: no cover - abstract
        raise NotImplementedError

    def jvp(self, idx, tangents, ans, vals, kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def missing(self, mode: str, i: int | None = None):
        where = "" if i is None else f" with respect to argument {i}"
        return NotImplementedError(
            f"differentiation rule for primitive '{self.name}' is not implemented ({mode} mode{where})"
        )


def ndim(x) -> int:
    return getattr(x, "ndim", 0)


def shape(x) -> tuple:
    return getattr(x, "shape", ())


class Elementwise(Primitive):
    """A primitive applied elementwise with numpy broadcasting, declared by its partial derivatives.

    `partials[i]` is a number (a constant partial: 1 for add, -1 for sub), a function
    `(ans, *args) -> d`, or None where argument i is not differentiable. `guard` marks partials that can
    be infinite where the cotangent is zero (sqrt or log at 0): there 0 * inf is taken to be 0.
    `scalar_impl` computes the function on Python floats; `domain` raises on arguments outside it.
    """

    def __init__(
        self, name, impl, scalar_impl=None, *, partials, guard=False, domain=None, save_ans=False
    ):
        constant = all(p is None or isinstance(p, (int, float)) for p in partials)
        super().__init__(name, impl, save_args=not constant, save_ans=save_ans)
        self.scalar_impl = scalar_impl
        self.partials = tuple(partials)
        self.guard = guard
        self.domain = domain

    def __call__(self, *args, **kwargs):
        for a in args:
            if type(a) in BOX_TYPES:
                return bind(self, args, kwargs)
        if (
            self.scalar_impl is not None
            and type(args[0]) in PYNUM
            and all(type(a) in PYNUM for a in args)
        ):
            return self.scalar(*args)
        try:
            return self.impl(*args, **kwargs)
        except ValueError as e:
            raise self.error(args, e) from None

    def scalar(self, *vals):
        """Value on Python floats, after the domain check (used by Node and Dual)."""
        if self.domain is not None:
            self.domain(*vals)
        return self.scalar_impl(*vals)

    def partial(self, i, ans, args):
        p = self.partials[i]
        if p is None:
            raise self.missing("reverse", i)
        return p if isinstance(p, (int, float)) else p(ans, *args)

    def vjp(self, node, g):
        args, ans = node.args, node.ans
        plain = type(g) is np.ndarray
        b = (g.ndim if plain else ndim(g)) - len(node.shape)
        out = []
        for i in node.argnums:
            p = self.partials[i]
            if p is None:
                out.append(None)
                continue
            if isinstance(p, (int, float)):
                c = g if p == 1 else (-g if p == -1 else g * p)
            else:
                if self.guard:
                    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                        c = safe_mul(g, guarded_partial(p, ans, args))
                else:
                    c = g * p(ans, *args)
            target = shape(args[i])
            if plain and type(c) is np.ndarray and c.shape == target:
                out.append(c)  # arrays of the argument's shape: nothing to unbroadcast
            else:
                out.append(unbroadcast(c, target, b))
        return out

    def jvp(self, idx, tangents, ans, vals, kwargs):
        out = None
        nd_ans = ndim(ans)
        for i, t in zip(idx, tangents):
            p = self.partials[i]
            if p is None:
                raise self.missing("forward", i)
            x = vals[i]
            nd_x = ndim(x)
            b = ndim(t) - nd_x
            if b and nd_x < nd_ans:  # align a batched tangent with the broadcast output
                t = _reshape(t, shape(t)[:b] + (1,) * (nd_ans - nd_x) + shape(x))
            if isinstance(p, (int, float)):
                c = t if p == 1 else (-t if p == -1 else t * p)
            else:
                if self.guard:
                    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                        c = safe_mul(t, guarded_partial(p, ans, vals))
                else:
                    c = p(ans, *vals) * t
            out = c if out is None else out + c
        b = ndim(out) - nd_ans
        want = shape(out)[:b] + shape(ans)
        if shape(out) != want:
            out = _broadcast_to(out, want)
        return out


class Structural(Primitive):
    """A primitive declared by per-argument VJP rules and one JVP rule (see module docstring).

    `vjps` is a tuple with one rule per argument (None: not differentiable), or, for primitives taking
    any number of arrays, a function `i -> rule`.
    """

    def __init__(self, name, impl, *, vjps, jvp, save_args=True, save_ans=False):
        super().__init__(name, impl, save_args=save_args, save_ans=save_ans)
        self.vjps = vjps
        self.jvp_rule = jvp

    def vjp_rule(self, i):
        rules = self.vjps
        rule = rules(i) if callable(rules) else rules[i]
        if rule is None:
            raise self.missing("reverse", i)
        return rule

    def vjp(self, node, g):
        args = node.args
        ans = node.ans if self.save_ans else Aval(node.shape, node.dtype)
        kw = node.kwargs if node.res is None else {**node.kwargs, "res": node.res}
        rules = self.vjps
        if callable(rules):
            return [self.vjp_rule(i)(g, ans, *args, **kw) for i in node.argnums]
        out = []
        for i in node.argnums:
            rule = rules[i]
            if rule is None:
                raise self.missing("reverse", i)
            out.append(rule(g, ans, *args, **kw))
        return out

    def jvp(self, idx, tangents, ans, vals, kwargs):
        if self.jvp_rule is None:
            raise self.missing("forward")
        ts = [None] * len(vals)
        for i, t in zip(idx, tangents):
            ts[i] = t
        return self.jvp_rule(ts, ans, *vals, **kwargs)


class NonDiff(Primitive):
    """A piecewise-constant primitive (comparison, sign, floor...): its result is a constant."""

    def __call__(self, *args, **kwargs):
        boxed = staged = False
        vals = list(args)
        for i, a in enumerate(args):
            if type(a) in BOX_TYPES:
                boxed = True
                vals[i] = v = _trace.staged(a)
                staged = staged or type(v) in BOX_TYPES
        if staged:  # a program is being traced: record the comparison there, not its value
            return bind(self, tuple(vals), kwargs)
        out = self.impl(*vals, **kwargs)
        return _trace.const_box(out) if boxed else out


# --- the engine's shared helpers, written in primitives so they are differentiable too ---------------


def unbroadcast(g, target: tuple, b: int = 0):
    """Sum `g` (with `b` leading batch axes) back to `target`, the shape of a broadcast argument."""
    gshape = shape(g)
    if gshape[b:] == target:
        return g
    lead = len(gshape) - b - len(target)
    axes = tuple(range(b, b + lead)) + tuple(
        b + lead + k for k, s in enumerate(target) if s == 1 and gshape[b + lead + k] != 1
    )
    if axes:
        g = _sum(g, axis=axes)
    return fit(g, gshape[:b] + target)


def fit(x, new_shape: tuple):
    """`x` reshaped to `new_shape`, or `x` itself when it has that shape already: rules reshape
    cotangents often, and most of those reshapes change nothing."""
    return x if shape(x) == new_shape else _reshape(x, new_shape)


def guarded_partial(p, ans, args):
    """A partial that may be infinite; on Python floats, where 1/0 or an overflow raises, take
    numpy's limit (inf) instead."""
    try:
        return p(ans, *args)
    except (ZeroDivisionError, OverflowError):
        return p(*(np.float64(a) if type(a) in PYNUM else a for a in (ans, *args)))


def safe_mul(g, d):
    """g * d, except 0 where d is infinite and g is 0 (0 * inf = 0: a zero cotangent meeting an
    infinite partial, as for sqrt or log at 0 behind a `where`, contributes nothing)."""
    prod = g * d
    if _trace.is_abstract(d) or _trace.is_abstract(g):  # traced: decide per element when run
        from .primitives import isfinite, logical_or, not_equal

        return _where(logical_or(isfinite(d), not_equal(g, 0)), prod, 0.0)
    finite = np.isfinite(raw(d))
    if finite.all():
        return prod
    if type(g) in BOX_TYPES or type(d) in BOX_TYPES:  # boxes may be batched: use the primitives
        from .primitives import isfinite, logical_or, not_equal

        keep = logical_or(isfinite(d), not_equal(g, 0))
    else:
        keep = finite | (raw(g) != 0)
    if np.ndim(keep) == 0 and type(prod) not in BOX_TYPES:  # scalars stay scalars
        return prod if keep else 0.0
    return _where(keep, prod, 0.0)


# The helpers above are written with four structural primitives of the table (sum, reshape,
# broadcast_to, where), which are themselves declared with the classes of this module. The table hands
# them over once it has defined them (`use_structural`), so this module never imports the table.
_STRUCTURAL: dict = {}


def use_structural(*, sum_, reshape, broadcast_to, where) -> None:
    """Give the engine's helpers the table's sum, reshape, broadcast_to and where (called once by
    core/primitives.py)."""
    _STRUCTURAL.update(sum=sum_, reshape=reshape, broadcast_to=broadcast_to, where=where)


def _sum(x, axis):
    return _STRUCTURAL["sum"](x, axis=axis)


def _reshape(x, new_shape):
    return _STRUCTURAL["reshape"](x, new_shape)


def _broadcast_to(x, new_shape):
    return _STRUCTURAL["broadcast_to"](x, new_shape)


def _where(c, x, y):
    return _STRUCTURAL["where"](c, x, y)
