"""Checking derivatives against finite differences.

`check_grads(f, *args)` checks reverse mode by adjointness — a random cotangent u and direction v must
give <u, J v> (central differences in float64) equal to <J^T u, v> (vjp) — and forward mode by
comparing jvp's J v with the same differences. With `order=2` it checks the derivative functions
themselves (the VJP and JVP as functions of the inputs), so second-order rules are checked too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from . import tree
from .core.trace import raw
from .transforms import jvp, vjp

__all__ = ["check_grads", "numerical_jvp"]


def _leaves(x) -> list[np.ndarray]:
    return [np.asarray(raw(v), dtype=np.float64) for v in tree.flatten(x)[0]]


def _inner(a, b) -> float:
    return float(sum(np.sum(x * y) for x, y in zip(_leaves(a), _leaves(b))))


def _safe_sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # inf - inf is taken to be 0: a value that is infinite on both sides has a zero difference
    with np.errstate(invalid="ignore"):
        d = a - b
    return np.where((a == b) & np.isinf(a), 0.0, d)


def numerical_jvp(f: Callable, args: Sequence, tangents: Sequence, eps: float = 1e-6) -> list:
    """Central-difference directional derivative (f(x + eps t) - f(x - eps t)) / (2 eps), in float64."""
    plus = [a + eps * t for a, t in zip(args, tangents)]
    minus = [a - eps * t for a, t in zip(args, tangents)]
    fp, fm = _leaves(f(*plus)), _leaves(f(*minus))
    return [_safe_sub(p, m) / (2 * eps) for p, m in zip(fp, fm)]


def _random_like(x, rng) -> np.ndarray:
    return rng.standard_normal(np.shape(x))


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


def check_grads(
    f: Callable,
    *args,
    modes: Sequence[str] = ("rev", "fwd"),
    order: int = 2,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    seed: int = 0,
) -> None:
    """Check the derivatives of f at args against central finite differences; raise AssertionError
    naming the mode and order on a mismatch.

    f takes arrays (or floats) and returns an array, a float, or a tuple of them. Arguments are
    converted to float64 so that finite differences are accurate. `modes` is any of "rev", "fwd".
    """
    for m in modes:
        if m not in ("rev", "fwd"):
            raise ValueError(f"check_grads: unknown mode {m!r}; use 'rev' and/or 'fwd'")
    args = tuple(np.array(raw(a), dtype=np.float64) for a in args)
    rng = np.random.default_rng(seed)
    _check(f, args, tuple(modes), order, eps, rtol, atol, rng, level=1)


def _check(f, args, modes, order, eps, rtol, atol, rng, level) -> None:
    name = getattr(f, "__name__", "f")
    v = [_random_like(a, rng) for a in args]
    jv_num = numerical_jvp(f, args, v, eps)
    if "fwd" in modes:
        _, jv = jvp(f, args, tuple(v))
        for k, (a, n) in enumerate(zip(_leaves(jv), jv_num)):
            err = np.max(np.abs(a - n)) if a.size else 0.0
            scale = max(np.max(np.abs(n)) if n.size else 0.0, np.max(np.abs(a)) if a.size else 0.0)
            if not err <= atol + rtol * scale:
                raise AssertionError(
                    f"check_grads: forward mode (order {level}) of {name}: J v differs from finite "
                    f"differences in output {k} by {err:.3g} (scale {scale:.3g})\n"
                    f"jvp:       {a.ravel()[:6]}\nnumerical: {n.ravel()[:6]}"
                )
    if "rev" in modes:
        out, pull = vjp(f, *args)
        u = tree.tree_map(lambda o: rng.standard_normal(np.shape(raw(o))), out)
        lhs = _inner(u, tree.unflatten(tree.flatten(out)[1], jv_num))
        jtu = pull(u)
        rhs = _inner(jtu, tuple(v))
        if not _close(lhs, rhs, rtol, atol):
            raise AssertionError(
                f"check_grads: reverse mode (order {level}) of {name}: <u, J v> by finite "
                f"differences is {lhs:.10g} but <J^T u, v> by vjp is {rhs:.10g}"
            )
    if order > 1:
        if "rev" in modes:
            out, _ = vjp(f, *args)
            u = tree.tree_map(lambda o: rng.standard_normal(np.shape(raw(o))), out)

            def vjp_of_f(*xs):
                return vjp(f, *xs)[1](u)

            vjp_of_f.__name__ = f"vjp({name})"
            _check(vjp_of_f, args, modes, order - 1, eps, rtol, atol, rng, level + 1)
        if "fwd" in modes:
            t = tuple(_random_like(a, rng) for a in args)

            def jvp_of_f(*xs):
                return jvp(f, xs, t)[1]

            jvp_of_f.__name__ = f"jvp({name})"
            _check(jvp_of_f, args, modes, order - 1, eps, rtol, atol, rng, level + 1)
