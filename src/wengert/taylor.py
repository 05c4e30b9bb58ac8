"""Derivatives of any order by truncated Taylor arithmetic, in one forward sweep.

Univariate (`taylor`): every value carries its Taylor coefficients y_0 (the value), y_1, ..., y_K along
a curve x + t v. For an elementwise primitive y = f(x1, x2, ...) the table's partial derivatives
q_i = df/dx_i give the recurrence of y' = sum_i q_i x_i':

    y_k = (1/k) sum_i sum_{j=1..k} j x_{i,j} q_{i,k-j}

The partials are themselves evaluated in Taylor arithmetic, lazily and memoised (a series computes a
coefficient only when asked), so coefficient k needs only coefficients below k and each operation costs
O(K^2) — not the 2^K of nesting K first-order transforms.

Multivariate (`taylor_expand`, the generalised dual numbers of pyaudi): every value is a truncated
polynomial in the n perturbations h of x, all monomials h^a of degree |a| <= K. Grouping the
monomials by degree, coefficient k above becomes the homogeneous part of degree k (an array with one
row per monomial of that degree), the product of numbers becomes the product of polynomials, and the
same recurrence holds (it is Euler's identity for homogeneous polynomials), so one sweep gives every
mixed partial derivative up to order K.

How a structural primitive passes series is a field of its table entry (`Primitive.taylor`): linear
ones map each coefficient by their JVP rule, matmul (bilinear) takes a Cauchy product, and softmax,
logsumexp, log_softmax, cross_entropy and linear are evaluated as compositions of primitives.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .core import primitives as P
from .core.primitive import Elementwise
from .core.trace import BOX_TYPES, Trace, next_level, raw, unwrap_for
from .tensor import forward_box

__all__ = ["TaylorPolynomial", "taylor", "taylor_expand"]


class Series:
    """Taylor coefficients of one value, computed on demand and cached."""

    __slots__ = ("coefs", "rule")

    def __init__(self, value, rule: Callable[[int], Any] | None) -> None:
        self.coefs = [value]
        self.rule = rule  # k -> coefficient k (k >= 1), may ask for lower coefficients of any series

    def __getitem__(self, k: int):
        coefs = self.coefs
        while len(coefs) <= k:
            coefs.append(self.rule(len(coefs)))
        return coefs[k]


def _is_zero(x) -> bool:
    return type(x) in (float, int) and x == 0


class TaylorTrace(Trace):
    """A level whose values carry truncated Taylor series along one direction.

    Coefficient arithmetic goes through the hooks `lift`, `mul`, `bilinear` and `fit`, which the
    multivariate trace overrides; here they are wengert operations, so `taylor` nests inside other
    transforms.
    """

    __slots__ = ("memo",)
    who = "taylor"

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.memo: dict = {}

    # --- coefficient arithmetic -------------------------------------------------------------------
    def lift(self, value):
        """Coefficient 0 of a value."""
        return value

    def mul(self, a, b, ka: int, kb: int, shape: tuple):
        """The product of a coefficient of degree ka and one of degree kb."""
        return a * b

    def bilinear(self, prim, a, b, ka: int, kb: int, vals, ans, kwargs):
        """A bilinear primitive applied to a coefficient of each argument."""
        return prim(a, b, **kwargs)

    def fit(self, c, k: int, shape: tuple):
        """Coefficient k of a value of `shape` from c (None: zero), broadcast where needed."""
        if c is None:
            return np.zeros(shape)
        return P.broadcast_to(c, shape) if np.shape(raw(c)) != shape else c

    # --- the sweep --------------------------------------------------------------------------------
    def series(self, x, k: int):
        """Coefficient k of x: its series if x is a box of this trace, else x is a constant."""
        if type(x) in BOX_TYPES:
            if x._trace is self:
                return x._tangent[k]
            if x._trace is None:
                x = x._value
        return self.lift(x) if k == 0 else 0.0

    def process(self, prim, args, kwargs):
        how = prim.taylor
        if callable(how):  # written in primitives that have Taylor rules
            return how(*args, **kwargs)
        key = None
        if isinstance(prim, Elementwise) and not kwargs:
            key = (prim, tuple(id(a) for a in args))
            hit = self.memo.get(key)
            if hit is not None and all(a is b for a, b in zip(hit[0], args)):
                return hit[1]
        vals, idx = unwrap_for(self, args)
        ans = prim(*vals, **kwargs)
        out = forward_box(ans, self, None)
        shape = np.shape(raw(ans))
        if isinstance(prim, Elementwise):
            rule = self._elementwise(prim, args, idx, out, shape)
        elif how == "linear":
            rule = self._linear(prim, args, idx, ans, vals, kwargs)
        elif how == "bilinear":
            rule = self._bilinear(prim, args, ans, vals, kwargs, shape)
        else:
            raise NotImplementedError(
                f"{self.who}: primitive '{prim.name}' has no Taylor rule (every primitive of the table "
                "has one; user-defined rules are first-order only); use nested jvp/grad for this "
                "function"
            )
        out._tangent = Series(self.lift(ans), rule)
        if key is not None:
            self.memo[key] = (args, out)
        return out

    def _elementwise(self, prim, args, idx, out, shape):
        partials: dict = {}

        def q(i, m):
            if i not in partials:  # evaluated once, lazily, in Taylor arithmetic
                p = prim.partials[i]
                if p is None:
                    raise prim.missing("Taylor", i)
                partials[i] = p if isinstance(p, (int, float)) else p(out, *args)
            return self.series(partials[i], m)

        def rule(k):
            total = None
            for i in idx:
                for j in range(1, k + 1):
                    xj = self.series(args[i], j)
                    if _is_zero(xj):
                        continue
                    qm = q(i, k - j)
                    if _is_zero(qm):
                        continue
                    term = self.mul(j * xj, qm, j, k - j, shape)
                    total = term if total is None else total + term
            return self.fit(None if total is None else total / k, k, shape)

        return rule

    def _linear(self, prim, args, idx, ans, vals, kwargs):
        def rule(k):
            return prim.jvp(idx, [self.series(args[i], k) for i in idx], ans, vals, kwargs)

        return rule

    def _bilinear(self, prim, args, ans, vals, kwargs, shape):
        x, y = args

        def rule(k):
            total = None
            for j in range(k + 1):
                a, b = self.series(x, j), self.series(y, k - j)
                if not (_is_zero(a) or _is_zero(b)):
                    term = self.bilinear(prim, a, b, j, k - j, vals, ans, kwargs)
                    total = term if total is None else total + term
            return self.fit(total, k, shape)

        return rule


def taylor(f: Callable, x: Any, order: int, direction: Any = None) -> list:
    """[f(x), f'(x), ..., f^(order)(x)] by truncated Taylor arithmetic in one forward sweep.

    For array x the derivatives are directional: d^k/dt^k f(x + t v) at t = 0, with v = `direction`
    (ones by default, which gives elementwise derivatives of an elementwise f). For all mixed partial
    derivatives of a function of several variables, see `taylor_expand`.
    """
    _check_order(order, "taylor")
    from .transforms import prepare_input

    x = prepare_input(x, "taylor", "x")
    v = (
        np.ones_like(raw(x))
        if direction is None
        else np.asarray(raw(direction), dtype=np.result_type(raw(x)))
    )
    if np.shape(v) != np.shape(raw(x)):
        raise ValueError(f"taylor: direction of shape {np.shape(v)} for x of shape {np.shape(raw(x))}")
    tr = TaylorTrace(next_level())
    box = forward_box(x, tr, None)
    box._tangent = Series(x, lambda k: v if k == 1 else 0.0 * v)
    with tr:
        out = f(box)
        if not (type(out) in BOX_TYPES and out._trace is tr):
            value = out._value if type(out) in BOX_TYPES and out._trace is None else out
            return [value] + [np.zeros(np.shape(raw(value)))] * order
        result = []
        for k in range(order + 1):
            c = out._tangent[k]
            result.append(c * math.factorial(k) if k > 1 else c)
    if isinstance(result[0], (np.floating, float)) and np.ndim(raw(result[0])) == 0:
        result = [float(r) if type(r) not in BOX_TYPES else r for r in result]
    return result


def _check_order(order, who: str) -> None:
    if not isinstance(order, int) or isinstance(order, bool) or order < 0:
        raise ValueError(f"{who}: order must be a non-negative integer, got {order!r}")


# --- multivariate: truncated polynomials in n variables -------------------------------------------


@functools.lru_cache(maxsize=32)
def _monomials(n: int, order: int) -> tuple:
    """Exponent vectors grouped by degree: a list, per degree d <= order, of arrays (N_d, n)."""
    out = []
    for d in range(order + 1):
        rows = [
            np.bincount(c, minlength=n) for c in itertools.combinations_with_replacement(range(n), d)
        ]
        out.append(np.array(rows, dtype=np.int64).reshape(len(rows), n))
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _product_table(n: int, order: int, da: int, db: int) -> tuple:
    """How the products of the monomials of degrees da and db sum into degree da + db: a permutation of
    the (N_da * N_db) pairs sorting them by their product monomial, and where each group starts."""
    mono = _monomials(n, order)
    index = {tuple(e): i for i, e in enumerate(mono[da + db])}
    sums = mono[da][:, None, :] + mono[db][None, :, :]
    target = np.array([index[tuple(e)] for e in sums.reshape(-1, n)], dtype=np.int64)
    perm = np.argsort(target, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(target[perm]) != 0])
    return perm, starts


class MultiTaylorTrace(TaylorTrace):
    """A level whose values carry truncated polynomials in n variables, coefficient k being the
    homogeneous part of degree k: an array (N_k,) + value shape, one row per monomial. Coefficients
    are numpy arrays (this level works on numbers, not inside other transforms)."""

    __slots__ = ("n", "order")
    who = "taylor_expand"

    def __init__(self, level: int, n: int, order: int) -> None:
        super().__init__(level)
        self.n, self.order = n, order

    def lift(self, value):
        return np.asarray(raw(value))[None]

    def _pad(self, c, nd: int):
        c = np.asarray(raw(c))
        return c.reshape(c.shape[:1] + (1,) * (nd - c.ndim + 1) + c.shape[1:])

    def _collect(self, pairs, ka: int, kb: int):
        """Sum the products of all monomial pairs (shape (N_ka, N_kb, ...)) into degree ka + kb."""
        perm, starts = _product_table(self.n, self.order, ka, kb)
        flat = pairs.reshape((-1,) + pairs.shape[2:])[perm]
        return np.add.reduceat(flat, starts, axis=0)

    def mul(self, a, b, ka, kb, shape):
        nd = len(shape)
        a, b = self._pad(a, nd), self._pad(b, nd)
        return self._collect(a[:, None] * b[None, :], ka, kb)

    def bilinear(self, prim, a, b, ka, kb, vals, ans, kwargs):
        # B(a_i, b_j) for all pairs from the JVP rule (linear in one argument at the other fixed),
        # looping over the shorter side and batching the longer one
        a, b = np.asarray(raw(a)), np.asarray(raw(b))
        if len(a) <= len(b):
            rows = [prim.jvp([1], [b], ans, [ai, raw(vals[1])], kwargs) for ai in a]
            pairs = np.stack([np.asarray(raw(r)) for r in rows], axis=0)
        else:
            cols = [prim.jvp([0], [a], ans, [raw(vals[0]), bj], kwargs) for bj in b]
            pairs = np.stack([np.asarray(raw(c)) for c in cols], axis=1)
        return self._collect(pairs, ka, kb)

    def fit(self, c, k, shape):
        rows = len(_monomials(self.n, self.order)[k])
        if c is None:
            return np.zeros((rows,) + shape)
        c = np.asarray(raw(c))
        return c if c.shape == (rows,) + shape else np.broadcast_to(c, (rows,) + shape)


class TaylorPolynomial:
    """The truncated Taylor polynomial of f at x: f(x + h) ~ sum over |a| <= order of c_a h^a.

    `exponents` (M, n): the multi-indices a over the n = x.size variables (x flattened), graded by
    degree; `coefficients` (M, *out_shape): the c_a = (d^a f / dx^a) / a!. Get a mixed partial with
    `derivative(a)` or `partial(i, j, ...)`, all partials of one order as a tensor with
    `derivatives(k)`, and evaluate the polynomial with `tp(h)`.
    """

    def __init__(self, x: np.ndarray, order: int, exponents: np.ndarray, coefficients: np.ndarray):
        self.x = x
        self.order = order
        self.exponents = exponents
        self.coefficients = coefficients
        self._index = {tuple(int(v) for v in e): i for i, e in enumerate(exponents)}

    @property
    def n(self) -> int:
        return self.exponents.shape[1]

    @property
    def value(self) -> Any:
        """f(x)."""
        return _plain(self.coefficients[0])

    def coefficient(self, alpha: Sequence[int]) -> Any:
        """The Taylor coefficient c_a of the monomial h^a (a: n non-negative integers)."""
        alpha = tuple(int(a) for a in alpha)
        if len(alpha) != self.n or min(alpha, default=0) < 0:
            raise ValueError(
                f"TaylorPolynomial: a multi-index needs {self.n} non-negative integers, got {alpha}"
            )
        if sum(alpha) > self.order:
            raise ValueError(
                f"TaylorPolynomial: derivative of order {sum(alpha)} requested from an expansion of "
                f"order {self.order}"
            )
        return _plain(self.coefficients[self._index[alpha]])

    def derivative(self, alpha: Sequence[int]) -> Any:
        """The mixed partial d^|a| f / (dx_0^a_0 ... dx_{n-1}^a_{n-1}) at x."""
        return _plain(
            np.asarray(self.coefficient(alpha)) * math.prod(math.factorial(int(a)) for a in alpha)
        )

    def partial(self, *variables: int) -> Any:
        """The partial derivative with respect to the listed variables (flat indices into x, repeats
        allowed): partial(0, 0, 1) = d^3 f / dx_0^2 dx_1; partial() = f(x)."""
        alpha = [0] * self.n
        for v in variables:
            if not -self.n <= v < self.n:
                raise ValueError(f"TaylorPolynomial: variable {v} out of range for {self.n} variables")
            alpha[v] += 1
        return self.derivative(alpha)

    def derivatives(self, k: int) -> np.ndarray:
        """All partials of order k as a symmetric tensor of shape out_shape + x.shape * k (k = 1: the
        Jacobian, as `jacfwd` gives it; k = 2: the Hessian of a scalar f)."""
        if not 0 <= k <= self.order:
            raise ValueError(f"TaylorPolynomial: order {k} is outside 0..{self.order}")
        out_shape = self.coefficients.shape[1:]
        tensor = np.zeros(out_shape + (self.n,) * k)
        for idx in itertools.product(range(self.n), repeat=k):
            tensor[(Ellipsis, *idx)] = self.partial(*idx)
        return tensor.reshape(out_shape + np.shape(self.x) * k)

    def __call__(self, h: Any) -> Any:
        """The polynomial at x + h; h of x's shape, or with leading batch axes."""
        h = np.asarray(raw(h), dtype=np.float64)
        xs = np.shape(self.x)
        if h.shape[h.ndim - len(xs) :] != xs:
            raise ValueError(f"TaylorPolynomial: h of shape {h.shape} for x of shape {xs}")
        batch = h.shape[: h.ndim - len(xs)]
        hf = h.reshape((-1, self.n))
        mono = np.prod(hf[:, None, :] ** self.exponents[None], axis=-1)  # (B, M)
        out = np.tensordot(mono, self.coefficients, axes=(1, 0))
        return _plain(out.reshape(batch + self.coefficients.shape[1:]))

    def __repr__(self) -> str:
        return (
            f"TaylorPolynomial(order={self.order}, variables={self.n}, "
            f"output shape={self.coefficients.shape[1:]}, terms={len(self.exponents)})"
        )


def _plain(v):
    v = np.asarray(v)
    return float(v) if v.ndim == 0 else v


def taylor_expand(f: Callable, x: Any, order: int) -> TaylorPolynomial:
    """The Taylor polynomial of f: R^n -> R^m (any shapes) at x up to total degree `order`: every mixed
    partial derivative up to that order, in one forward sweep of truncated multivariate polynomial
    arithmetic (the generalised dual numbers of pyaudi; the variables are the elements of x).

    Each operation costs about (number of monomial pairs) x (size of its value): the expansion has
    C(n + order, order) terms, so it suits a few variables at high order or many at low order. f must
    be built from wengert functions; x must be numbers (this sweep does not nest inside other
    transforms).
    """
    _check_order(order, "taylor_expand")
    from .transforms import prepare_input

    x = np.asarray(raw(prepare_input(x, "taylor_expand", "x")), dtype=np.float64)
    n = x.size
    if n == 0:
        raise ValueError("taylor_expand: x has no elements")
    mono = _monomials(n, order)
    tr = MultiTaylorTrace(next_level(), n, order)
    seed = np.eye(n).reshape((n,) + x.shape)
    box = forward_box(x, tr, None)
    box._tangent = Series(x[None], lambda k: seed if k == 1 else np.zeros((len(mono[k]),) + x.shape))
    with tr:
        out = f(box)
        if type(out) in BOX_TYPES and out._trace is tr:
            parts = [np.asarray(raw(out._tangent[k])) for k in range(order + 1)]
        else:  # f does not depend on x
            value = np.asarray(raw(out), dtype=np.float64)
            parts = [value[None]] + [
                np.zeros((len(mono[k]),) + value.shape) for k in range(1, order + 1)
            ]
    coefficients = np.concatenate(parts, axis=0)
    return TaylorPolynomial(x, order, np.concatenate(mono, axis=0), coefficients)
