"""Sparsity detection: the structural Jacobian and Hessian patterns of a function, found by
interpreting its primitives, never by probing with random vectors.

Each primitive of the table gets a field `sparsity`: a rule that says, for one application, how each
output element depends on the elements of each traced argument (a *link*), and which pairs of argument
elements interact nonlinearly (second-order *terms*). Rules see only values, shapes and keyword
parameters, so the same rules serve any driver: here an interpreter over the function's program
(`wengert.program`), which walks its equations once with index sets instead of numbers.

Patterns are global: they hold for every input of the given shape (a `where` keeps both branches,
`maximum` both arguments), so a pattern computed once can be cached and reused. Zeros of constant
operands (arrays the function closes over, and values computed from them alone) are respected by
`mul` and `matmul`/`linear`; values computed from the input through piecewise-constant primitives
(comparisons, sign) carry no derivative and are never trusted to be zero.

A link is a `Lin`: an index map (each output element copies at most one argument element; -1 for
none), a sparse boolean matrix (output elements x argument elements), or "all" (every output element
depends on every argument element: the conservative fallback). Patterns of values are boolean CSR
matrices: one row per element of the value, one column per input variable.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np

from ..core import primitives as P
from ..core.primitive import Elementwise, NonDiff
from ..core.trace import raw
from ..program import program
from ..program.ir import Literal, Var
from ._scipy import require_scipy

# --- links --------------------------------------------------------------------------------------------


class Lin:
    """How the elements of one output depend on the elements of one argument (see module docstring)."""

    __slots__ = ("dense", "idx", "mat", "n_in", "n_out")

    def __init__(self, n_out: int, n_in: int, idx=None, mat=None, dense: bool = False) -> None:
        self.n_out, self.n_in = n_out, n_in
        self.idx = idx  # int array of length n_out (-1: none); with mat also None: the identity
        self.mat = mat  # sparse bool (n_out x n_in)
        self.dense = dense  # every output element on every argument element

    @classmethod
    def identity(cls, n: int) -> Lin:
        return cls(n, n)

    @classmethod
    def all(cls, n_out: int, n_in: int) -> Lin:
        return cls(n_out, n_in, dense=True)

    def apply(self, G):
        """The pattern of the output from the pattern G (n_in x n) of the argument."""
        sp = require_scipy()
        if self.dense:
            union = np.flatnonzero(np.asarray(G.sum(axis=0)).ravel() > 0)
            cols = np.tile(union, self.n_out)
            ptr = np.arange(self.n_out + 1) * len(union)
            return sp.csr_array((np.ones(len(cols), bool), cols, ptr), shape=(self.n_out, G.shape[1]))
        if self.mat is not None:
            return _bool(self.mat @ G)
        if self.idx is None:
            return G
        return gather_rows(G, self.idx)

    def back(self, reach: np.ndarray) -> np.ndarray:
        """Which argument elements reach the output, from the output elements that do (`reach`)."""
        if self.dense:
            return np.full(self.n_in, bool(reach.any()))
        if self.mat is not None:
            return np.asarray(self.mat.T @ reach.astype(np.int32)).ravel() > 0
        if self.idx is None:
            return reach
        out = np.zeros(self.n_in, bool)
        sel = self.idx[reach]
        out[sel[sel >= 0]] = True
        return out


def _bool(A):
    A = A.tocsr() if A.format != "csr" else A
    if A.dtype != bool:
        A = A.astype(bool)
    A.eliminate_zeros()
    return A


def gather_rows(G, idx: np.ndarray):
    """Rows idx of the CSR matrix G (an empty row where idx is -1), built directly in CSR."""
    sp = require_scipy()
    valid = idx >= 0
    safe = np.where(valid, idx, 0)
    lengths = np.diff(G.indptr)[safe] * valid
    ptr = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    total = int(ptr[-1])
    starts = G.indptr[safe].astype(np.int64)
    pos = np.repeat(starts - ptr[:-1], lengths) + np.arange(total, dtype=np.int64)
    return sp.csr_array((np.ones(total, bool), G.indices[pos], ptr), shape=(len(idx), G.shape[1]))


def _union(mats, n_rows: int, n: int):
    sp = require_scipy()
    if not mats:
        return sp.csr_array((n_rows, n), dtype=bool)
    out = mats[0]
    for m in mats[1:]:
        out = out + m
    return out


def _coo(rows, cols, n_out: int, n_in: int):
    sp = require_scipy()
    rows = np.asarray(rows).ravel()
    cols = np.asarray(cols).ravel()
    m = sp.coo_array((np.ones(len(rows), bool), (rows, cols)), shape=(n_out, n_in)).tocsr()
    m.sum_duplicates()
    return m


class Deps:
    """One application's dependency structure: links[i] for each traced argument i, and second-order
    terms (i, j, A, B, C): term t pairs the elements A(t) of argument i with B(t) of argument j, and
    belongs to output element C[t] (C None: terms are the output elements themselves)."""

    __slots__ = ("links", "terms")

    def __init__(self, links: dict, terms: list | None = None) -> None:
        self.links = links
        self.terms = terms or []


# --- rules --------------------------------------------------------------------------------------------


def _size(v) -> int:
    return math.prod(np.shape(v))


def _broadcast_idx(shape_in: tuple, shape_out: tuple):
    if tuple(shape_in) == tuple(shape_out):
        return None
    return np.broadcast_to(np.arange(math.prod(shape_in)).reshape(shape_in), shape_out).ravel()


def elementwise_rule(prim, ans, vals, traced, trusted, kwargs) -> Deps:
    """Elementwise (with broadcasting): output element e depends on the element of each argument that
    broadcasts to e. Second-order terms from the primitive's declared nonzero second partials."""
    out_shape = np.shape(ans)
    n_out = _size(ans)
    links = {}
    for i in traced:
        idx = _broadcast_idx(np.shape(vals[i]), out_shape)
        if prim is P.mul:  # a constant factor's zeros stay zeros
            j = 1 - i
            if j in trusted and np.ndim(vals[j]) and not np.all(vals[j]):
                zero = np.broadcast_to(np.asarray(vals[j]) == 0, out_shape).ravel()
                idx = np.arange(n_out) if idx is None else idx.copy()
                idx[zero] = -1
        links[i] = Lin(n_out, _size(vals[i]), idx=idx)
    second = getattr(prim, "second_order", None)
    if second is None:  # undeclared: every pair may interact
        second = {(i, j) for i in range(len(vals)) for j in range(i, len(vals))}
    terms = [(i, j, links[i], links[j], None) for i, j in second if i in links and j in links]
    return Deps(links, terms)


def _index_array(x, offset: int = 0):
    return np.arange(offset, offset + _size(x), dtype=np.int64).reshape(np.shape(x))


def moving_rule(prim, ans, vals, traced, trusted, kwargs) -> Deps:
    """Linear primitives that only move, copy or drop elements (reshape, transpose, broadcast_to,
    getitem, concatenate): the pattern comes from applying the primitive itself to arrays of indices."""
    n_out = _size(ans)
    offsets, off = [], 0
    for v in vals:
        offsets.append(off)
        off += _size(v)
    ids = [
        _index_array(v, o) if i in traced else np.full(np.shape(v), -1, np.int64)
        for i, (v, o) in enumerate(zip(vals, offsets))
    ]
    moved = np.asarray(prim.impl(*ids, **kwargs)).ravel()
    links = {}
    for i in traced:
        lo, n_i = offsets[i], _size(vals[i])
        inside = (moved >= lo) & (moved < lo + n_i)
        idx = np.where(inside, moved - lo, -1)
        if n_out == n_i and inside.all() and np.array_equal(idx, np.arange(n_i)):
            idx = None
        links[i] = Lin(n_out, n_i, idx=idx)
    return Deps(links)


def identity_rule(prim, ans, vals, traced, trusted, kwargs) -> Deps:
    return Deps({i: Lin.identity(_size(vals[i])) for i in traced})


def _group_map(xshape: tuple, axis):
    """For a reduction over `axis`: the output element (of the keepdims shape) each element goes to."""
    kept = P.kept_shape(tuple(xshape), axis)
    return np.broadcast_to(np.arange(math.prod(kept)).reshape(kept), xshape).ravel(), math.prod(kept)


def reduction_rule(second_order: bool):
    def rule(prim, ans, vals, traced, trusted, kwargs) -> Deps:
        x = vals[0]
        groups, n_groups = _group_map(np.shape(x), kwargs.get("axis"))
        link = Lin(n_groups, _size(x), mat=_coo(groups, np.arange(_size(x)), n_groups, _size(x)))
        terms = [(0, 0, link, link, None)] if second_order else []
        return Deps({0: link}, terms)

    return rule


def normalise_rule(prim, ans, vals, traced, trusted, kwargs) -> Deps:
    """softmax / log_softmax along an axis: each output element depends on its whole group."""
    x = vals[0]
    n = _size(x)
    groups, n_groups = _group_map(np.shape(x), kwargs.get("axis", -1))
    R = _coo(groups, np.arange(n), n_groups, n)
    link = Lin(n, n, mat=_bool(R.T @ R))
    return Deps({0: link}, [(0, 0, link, link, None)])


def cross_entropy_rule(prim, ans, vals, traced, trusted, kwargs) -> Deps:
    logits = vals[0]
    n = _size(logits)
    groups, n_groups = _group_map(np.shape(logits), -1)
    R = Lin(n_groups, n, mat=_coo(groups, np.arange(n), n_groups, n))
    if kwargs.get("reduction", "mean") == "none":
        return Deps({0: R}, [(0, 0, R, R, None)])
    return Deps({0: Lin.all(1, n)}, [(0, 0, R, R, np.zeros(n_groups, np.int64))])


def _contraction(Ix, Iy, Io, mx, my, traced, sizes, n_out):
    """Links and terms of out[o] = sum_t x[Ix[t]] y[Iy[t]] over broadcast index arrays (one entry per
    term t); mx / my mark the terms whose other factor may be nonzero."""
    links = {}
    shape = np.broadcast_shapes(*(np.shape(a) for a in (Ix, Iy, Io, mx, my) if a is not None))
    Ix, Iy, Io = (np.broadcast_to(a, shape).ravel() for a in (Ix, Iy, Io))
    mx = np.broadcast_to(mx, shape).ravel() if mx is not None else None
    my = np.broadcast_to(my, shape).ravel() if my is not None else None
    for i, own, other_mask in ((0, Ix, my), (1, Iy, mx)):
        if i in traced:
            keep = slice(None) if other_mask is None else other_mask
            links[i] = Lin(n_out, sizes[i], mat=_coo(Io[keep], own[keep], n_out, sizes[i]))
    terms = []
    if 0 in traced and 1 in traced:
        terms.append(
            (0, 1, Lin(len(Ix), sizes[0], idx=Ix), Lin(len(Iy), sizes[1], idx=Iy), Io.astype(np.int64))
        )
    return Deps(links, terms)


def _nonzero_mask(v, shape, i, trusted):
    return (np.reshape(v, shape) != 0) if i in trusted else None


def matmul_rule(prim, ans, vals, traced, trusted, kwargs) -> Deps:
    """out[..., i, k] = sum_j x[..., i, j] y[..., j, k], with numpy's rules for 1-d operands; the
    zeros of a constant operand remove dependencies."""
    sp = require_scipy()
    x, y = vals
    xm, ym = P.as_matrices(np.shape(x), np.shape(y))
    n_out = _size(ans)
    sizes = (_size(x), _size(y))
    if len(xm) == 2 and len(ym) == 2 and not (0 in traced and 1 in traced):
        # one constant matrix: a Kronecker product of its nonzero pattern with an identity
        m = xm[0]
        q = ym[1]
        links = {}
        if 0 in traced:
            Y = np.asarray(y).reshape(ym) != 0 if 1 in trusted else np.ones(ym, bool)
            links[0] = Lin(n_out, sizes[0], mat=_bool(sp.kron(sp.eye_array(m, dtype=bool), Y.T)))
        if 1 in traced:
            X = np.asarray(x).reshape(xm) != 0 if 0 in trusted else np.ones(xm, bool)
            links[1] = Lin(n_out, sizes[1], mat=_bool(sp.kron(X, sp.eye_array(q, dtype=bool))))
        return Deps(links)
    full = np.broadcast_shapes(xm[:-2], ym[:-2]) + (xm[-2], ym[-1])
    Ix = _index_array(np.empty(xm))[..., :, None, :]  # (..., i, 1, j)
    Iy = np.swapaxes(_index_array(np.empty(ym)), -1, -2)[..., None, :, :]  # (..., 1, k, j)
    Io = np.arange(n_out).reshape(full)[..., None]
    mx = _nonzero_mask(x, xm, 0, trusted)
    my = _nonzero_mask(y, ym, 1, trusted)
    mx = None if mx is None else mx[..., :, None, :]
    my = None if my is None else np.swapaxes(my, -1, -2)[..., None, :, :]
    return _contraction(Ix, Iy, Io, mx, my, traced, sizes, n_out)


def linear_rule(prim, ans, vals, traced, trusted, kwargs) -> Deps:
    """y = x @ w.T + b."""
    x, w = vals[0], vals[1]
    b = vals[2] if len(vals) > 2 else None
    n_out = _size(ans)
    rows = _size(x) // np.shape(w)[1]
    Ix = _index_array(x).reshape(rows, 1, -1)
    Iw = _index_array(w)[None, :, :]
    Io = np.arange(n_out).reshape(rows, -1)[..., None]
    mx = None if 0 not in trusted else (np.asarray(x) != 0).reshape(rows, 1, -1)
    mw = None if 1 not in trusted else (np.asarray(w) != 0)[None]
    deps = _contraction(Ix, Iw, Io, mx, mw, [i for i in traced if i < 2], (_size(x), _size(w)), n_out)
    if b is not None and 2 in traced:
        deps.links[2] = Lin(n_out, _size(b), idx=_broadcast_idx(np.shape(b), np.shape(ans)))
    return deps


def dense_rule(prim, ans, vals, traced, trusted, kwargs) -> Deps:
    """The conservative fallback: every output element depends on every traced argument element,
    and all of them may interact."""
    n_out = _size(ans)
    links = {i: Lin.all(n_out, _size(vals[i])) for i in traced}
    terms = [(i, j, links[i], links[j], None) for i in traced for j in traced if i <= j]
    return Deps(links, terms)


_warned: set[str] = set()


def dependencies(prim, ans, vals, traced, trusted, kwargs) -> Deps:
    """The dependency structure of one application of `prim`, from its `sparsity` field."""
    rule = getattr(prim, "sparsity", None)
    if rule is None:
        if prim.name not in _warned:
            _warned.add(prim.name)
            warnings.warn(
                f"sparsity: primitive '{prim.name}' declares no dependency pattern; taking every "
                "output element to depend on every input element (a dense, conservative pattern)",
                stacklevel=4,
            )
        rule = dense_rule
    return rule(prim, ans, vals, traced, trusted, kwargs)


# --- the table's entries gain a `sparsity` field (and elementwise ones their second-order pairs) -----

_LINEAR2: dict = {}  # elementwise primitives with no nonzero second partial
for _p in (P.add, P.sub, P.neg, P.relu, P.abs_, P.maximum, P.minimum, P.where, P.clip):
    _LINEAR2[_p] = set()
_LINEAR2[P.mul] = {(0, 1)}
_LINEAR2[P.copy] = set()
_LINEAR2[P.leaky_relu] = {(0, 1)}  # piecewise linear in x; the slope a multiplies x
_LINEAR2[P.div] = {(0, 1), (1, 1)}


def _register() -> None:
    for name in P.__all__:
        prim = getattr(P, name)
        if isinstance(prim, Elementwise):
            prim.sparsity = elementwise_rule
            if prim in _LINEAR2:
                prim.second_order = _LINEAR2[prim]
            elif len(prim.partials) == 1:
                prim.second_order = {(0, 0)}
    for prim in (P.reshape_p, P.transpose_p, P.broadcast_to_p, P.getitem, P.concatenate):
        prim.sparsity = moving_rule
    P.cast.sparsity = identity_rule
    P.sum_.sparsity = reduction_rule(False)
    P.max_.sparsity = reduction_rule(False)
    P.min_.sparsity = reduction_rule(False)
    P.logsumexp.sparsity = reduction_rule(True)
    P.softmax.sparsity = normalise_rule
    P.log_softmax.sparsity = normalise_rule
    P.cross_entropy.sparsity = cross_entropy_rule
    P.matmul.sparsity = matmul_rule
    P.linear.sparsity = linear_rule
    P.scatter_add.sparsity = scatter_rule
    P.conv.sparsity = conv_rule
    P.max_pool.sparsity = max_pool_rule
    P.fold.sparsity = fold_rule


def scatter_rule(prim, ans, vals, traced, trusted, kwargs) -> Deps:
    """out = zeros(new_shape); out[index] += g: element k of g goes to the output position that
    `index` selects for it (found by indexing an array of output positions)."""
    g = vals[0]
    n_out = _size(ans)
    pos = np.arange(n_out).reshape(kwargs["new_shape"])[kwargs["index"]]
    pos = np.broadcast_to(pos, np.shape(g)).ravel()
    return Deps({0: Lin(n_out, _size(g), mat=_coo(pos, np.arange(_size(g)), n_out, _size(g)))})


def _windows_of(index: np.ndarray, kernel, stride, dilation, out) -> np.ndarray:
    """(K, ..., *out): for each kernel offset, the elements of `index` that offset reads."""
    parts = [
        index[(Ellipsis, *P.pool_slices(off, out, stride, dilation))]
        for off in itertools.product(*map(range, kernel))
    ]
    return np.stack(parts)


def conv_rule(prim, ans, vals, traced, trusted, kwargs) -> Deps:
    """out[n, o, p] = sum over the input channels c of o's group and the kernel offsets k of
    x[n, c, window(p, k)] * w[o, c, k] (zero padding reads nothing)."""
    x, w = vals
    groups = kwargs["groups"]
    kernel = tuple(np.shape(w)[2:])
    n, cg, o = np.shape(x)[0], np.shape(w)[1], np.shape(w)[0]
    og, K = o // groups, math.prod(kernel)
    xi = P.pad_crop(np.arange(1, _size(x) + 1).reshape(np.shape(x)), kwargs["padding"]) - 1
    out = tuple(np.shape(ans)[2:])
    U = _windows_of(xi, kernel, kwargs["stride"], kwargs["dilation"], out)  # (K, N, C, *out)
    U = np.moveaxis(U.reshape(K, n, groups, cg, -1), 0, -1)  # (N, G, cg, P, K)
    Ix = U[:, :, None]  # (N, G, 1, cg, P, K)
    Iw = np.arange(_size(w)).reshape(groups, og, cg, 1, K)[None]  # (1, G, og, cg, 1, K)
    Io = np.arange(_size(ans)).reshape(n, groups, og, 1, -1, 1)
    Ix, Iw, Io = (np.ravel(a) for a in np.broadcast_arrays(Ix, Iw, Io))
    keep = Ix >= 0
    Ix, Iw, Io = Ix[keep], Iw[keep], Io[keep]
    mx = np.ravel(vals[0])[Ix] != 0 if 0 in trusted else None
    mw = np.ravel(vals[1])[Iw] != 0 if 1 in trusted else None
    return _contraction(Ix, Iw, Io, mx, mw, traced, (_size(x), _size(w)), _size(ans))


def max_pool_rule(prim, ans, vals, traced, trusted, kwargs) -> Deps:
    """Each output element on the elements of its window (padding reads nothing)."""
    x = vals[0]
    kernel = tuple(kwargs["kernel"])
    xi = P.pool_pad(np.arange(1, _size(x) + 1).reshape(np.shape(x)), kwargs["padding"], 0) - 1
    out = tuple(np.shape(ans)[-len(kernel) :])
    cols = _windows_of(xi, kernel, kwargs["stride"], kwargs["dilation"], out).reshape(-1, _size(ans))
    rows = np.broadcast_to(np.arange(_size(ans)), cols.shape)
    keep = cols >= 0
    return Deps({0: Lin(_size(ans), _size(x), mat=_coo(rows[keep], cols[keep], _size(ans), _size(x)))})


def fold_rule(prim, ans, vals, traced, trusted, kwargs) -> Deps:
    """cols (..., K, *out) added into zeros of new_shape: each element to the one position its kernel
    offset's strided slice covers (found by reading an array of positions the same way)."""
    cols = vals[0]
    kernel = tuple(kwargs["kernel"])
    nd = len(kernel)
    out = tuple(np.shape(cols)[-nd:])
    dest = np.arange(_size(ans)).reshape(kwargs["new_shape"])
    pos = _windows_of(dest, kernel, kwargs["stride"], kwargs["dilation"], out)  # (K, ..., *out)
    pos = np.moveaxis(pos, 0, -nd - 1)
    pos = np.broadcast_to(pos, np.shape(cols)).ravel()
    return Deps(
        {0: Lin(_size(ans), _size(cols), mat=_coo(pos, np.arange(_size(cols)), _size(ans), _size(cols)))}
    )


_register()


# --- the driver: an interpreter over the function's program -----------------------------------------


class _Pat:
    """The pattern of a program value: G (elements x inputs) and its number in the record."""

    __slots__ = ("G", "id")

    def __init__(self, G, id_: int) -> None:
        self.G = G
        self.id = id_


def _program(f, x, who: str):
    x = np.asarray(raw(x))
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"{who}: the input has dtype {x.dtype}; pass a floating-point array (x.astype(float))"
        )
    prog = program(f)(x)
    if len(prog.outvars) != 1:
        raise TypeError(f"{who}: f must return one array; it returned {len(prog.outvars)} outputs")
    return prog, x.size


def interpret(prog, record: list | None = None) -> _Pat:
    """Propagate patterns through the equations of `prog` (one input, one output): each equation's
    primitive gives its dependency structure through its `sparsity` field. Values that do not depend
    on the input are computed (constants and their functions: their zeros can be respected); values
    that depend on it only through piecewise-constant primitives carry no derivative. With `record`,
    every equation's links and terms are kept for the second-order pass."""
    sp = require_scipy()
    (x,) = prog.invars
    n = x.size
    pats: dict = {x: _Pat(sp.eye_array(n, dtype=bool, format="csr"), 0)}
    known: dict = dict(prog.consts)
    last_use: dict = {}
    for k, e in enumerate(prog.equations):
        for a in e.inputs:
            if type(a) is Var:
                last_use[a] = k
    for o in prog.outvars:
        last_use[o] = len(prog.equations)
    for k, e in enumerate(prog.equations):
        vals, traced, trusted = [], [], set()
        for i, a in enumerate(e.inputs):
            if type(a) is Literal:
                vals.append(a.value)
                trusted.add(i)
            elif a in pats:
                vals.append(a)  # a Var: its shape is what the rules read
                traced.append(i)
            elif a in known:
                vals.append(known[a])
                trusted.add(i)
            else:
                vals.append(a)  # from the input through a piecewise-constant function
        if not traced:
            if len(trusted) == len(vals):  # a function of constants alone: a constant
                known[e.out] = e.prim.impl(*vals, **e.params)
            continue
        if isinstance(e.prim, NonDiff):
            continue
        deps = dependencies(e.prim, e.out, vals, tuple(traced), frozenset(trusted), e.params)
        ins = {i: pats[e.inputs[i]] for i in traced}
        G = _union([deps.links[i].apply(ins[i].G) for i in traced], e.out.size, n)
        node = _Pat(G, k + 1)
        pats[e.out] = node
        if record is not None:  # keep the input patterns only where second-order terms need them
            need = {t[0] for t in deps.terms} | {t[1] for t in deps.terms}
            links = [(ins[i].id, deps.links[i]) for i in traced]
            record.append((node.id, links, deps.terms, {i: ins[i].G for i in need}))
        for a in e.inputs:  # no pattern is needed after its last use
            if type(a) is Var and last_use.get(a) == k and a in pats:
                del pats[a]
    (out,) = prog.outvars
    if type(out) is Var and out in pats:
        return pats[out]
    size = 1 if type(out) is Literal else out.size
    return _Pat(sp.csr_array((size, n), dtype=bool), -1)


def jacobian_sparsity(f):
    """A function x -> the structural pattern of the Jacobian of f at inputs shaped like x: a scipy
    CSR boolean matrix of shape (f(x).size, x.size) (flattened output and input), found by
    interpreting f's program. Never misses a nonzero that some input of this shape could produce."""

    def pattern(x: Any):
        prog, _n = _program(f, x, "jacobian_sparsity")
        G = interpret(prog).G
        G.sort_indices()
        return G

    return pattern


def hessian_sparsity(f):
    """A function x -> the structural pattern of the Hessian of scalar f at inputs shaped like x: a
    symmetric scipy CSR boolean matrix (x.size x x.size), from the nonlinear interactions of f's
    program that reach the output (second-order pattern propagation)."""

    def pattern(x: Any):
        prog, n = _program(f, x, "hessian_sparsity")
        (o,) = prog.outvars
        if _size(o if type(o) is Var else np.asarray(o.value)) != 1:
            raise ValueError(f"hessian_sparsity: f must return a scalar; it returned shape {o.shape}")
        record: list = []
        out = interpret(prog, record)
        return _hessian_from_record(record, out, n)

    return pattern


def _hessian_from_record(record, out: _Pat, n: int):
    sp = require_scipy()
    reach = {out.id: np.ones(out.G.shape[0], bool)}
    H = sp.csr_array((n, n), dtype=bool)
    for node_id, links, terms, ins in reversed(record):
        r = reach.pop(node_id, None)
        if r is None or not r.any():
            continue
        for src, lin in links:
            back = lin.back(r)
            prev = reach.get(src)
            reach[src] = back if prev is None else (prev | back)
        for i, j, A, B, C in terms:
            rt = r if C is None else r[C]
            rows = np.flatnonzero(rt)
            if not len(rows):
                continue
            X = A.apply(ins[i])
            Y = X if (B is A and j == i) else B.apply(ins[j])
            X, Y = X[rows], Y[rows]
            H = H + _bool(X.T @ Y)
    H = _bool(H + H.T)
    H.sort_indices()
    return H


__all__ = ["Deps", "Lin", "dependencies", "hessian_sparsity", "interpret", "jacobian_sparsity"]
