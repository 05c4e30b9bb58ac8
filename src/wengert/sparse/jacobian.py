"""Sparse Jacobians and Hessians by compressed evaluation.

For each input shape, once: the sparsity pattern (by interpreting f's program, `patterns`), a
colouring (`coloring`), the index arrays that decompress straight into CSR, and the compressed sweep
jit-compiled (`wengert.jit`): all colours pushed through one vector-mode sweep, the seed matrix as a
leading batch axis of the tangents (forward mode, J V), of the cotangents (reverse mode, W^T J), or of
the tangents of the gradient (forward over reverse, H V). Each call then runs the compiled sweep and
gathers the nonzeros; or, where at most half of them vary with x, copies the constant ones and computes
only the varying ones (`decompress`). Memory: O(nnz + n * colours).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.trace import raw
from ..program.jit import jit
from ..transforms import grad, jvp, vjp
from . import coloring
from ._scipy import require_scipy
from .decompress import split_constant
from .patterns import hessian_sparsity, jacobian_sparsity


def _as_input(x: Any, who: str) -> np.ndarray:
    x = np.asarray(raw(x))
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{who}: the input has dtype {x.dtype}; pass a floating-point array")
    return x


class _Plan:
    """Everything about one input shape that does not depend on the input's values."""

    __slots__ = (
        "colors",
        "decompress",
        "indices",
        "indptr",
        "mode",
        "pick",
        "run",
        "seed",
        "setup_s",
        "shape",
    )

    def __repr__(self) -> str:
        return f"<sparse plan {self.mode}: {self.colors} colours, nnz {len(self.indices)}>"


class SparseJacobian:
    """`sparse_jacobian(f)`: call it with x to get the Jacobian of f at x as a scipy CSR matrix of
    shape (f(x).size, x.size). After the first call, `.colors` is the number of colours (sweep
    directions), `.mode` 'forward' or 'reverse', `.pattern` the structural pattern and `.setup_s` the
    seconds spent finding pattern and colouring."""

    _who = "sparse_jacobian"

    def __init__(self, f: Callable, mode: str = "auto") -> None:
        if mode not in ("auto", "forward", "reverse"):
            raise ValueError(
                f"sparse_jacobian: mode must be 'auto', 'forward' or 'reverse', not {mode!r}"
            )
        functools.update_wrapper(self, f)
        self.f = f
        self.requested = mode
        self._plans: dict = {}
        self._last: _Plan | None = None
        self.pattern = None

    @property
    def colors(self) -> int | None:
        return None if self._last is None else self._last.colors

    @property
    def mode(self) -> str | None:
        return None if self._last is None else self._last.mode

    @property
    def setup_s(self) -> float | None:
        return None if self._last is None else self._last.setup_s

    def plan(self, x: Any) -> _Plan:
        """The pattern, colouring and decompression indices for inputs shaped like x (cached)."""
        x = _as_input(x, "sparse_jacobian")
        key = (x.shape, x.dtype.str)
        plan = self._plans.get(key)
        if plan is None:
            t0 = time.perf_counter()
            pattern = jacobian_sparsity(self.f)(x)
            m, n = pattern.shape
            rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(pattern.indptr))
            cols = pattern.indices.astype(np.int64)
            plan = _Plan()
            mode = self.requested
            if mode != "reverse":
                cc = coloring.column_coloring(pattern)
                kc = int(cc.max()) + 1 if n and pattern.nnz else 0
            # row colouring needs at least as many colours as the densest column has nonzeros
            col_bound = int(np.bincount(pattern.indices, minlength=n).max()) if pattern.nnz else 0
            if mode == "reverse" or (mode == "auto" and kc > col_bound):
                rc = coloring.row_coloring(pattern)
                kr = int(rc.max()) + 1 if m and pattern.nnz else 0
                if mode == "auto":
                    mode = "forward" if kc <= kr else "reverse"
            else:
                mode = "forward"
            if mode == "forward":
                plan.colors = kc
                plan.seed = coloring.seed_matrix(cc).reshape((kc,) + x.shape).astype(x.dtype)
                plan.pick = cc[cols] * m + rows  # entry (i, j) is (J V)[i, colour j], stored (k, m)
            else:
                plan.colors = kr
                plan.seed = rc  # the cotangent seed needs the output's shape: built at the call
                plan.pick = rc[rows] * n + cols  # entry (i, j) is (W^T J)[colour i, j], stored (k, n)
            plan.mode = mode
            plan.indices, plan.indptr = _index_arrays(pattern)
            plan.shape = (m, n)
            plan.pick = _compact(plan.pick, plan.colors * (m if mode == "forward" else n))
            plan.run = _compressed_program(self._sweep(plan), x) if plan.colors else None
            plan.decompress = split_constant(plan.run, x, plan.pick) if plan.colors else None
            plan.setup_s = time.perf_counter() - t0
            self._plans[key] = plan
            self.pattern = pattern
        self._last = plan
        return plan

    def _sweep(self, plan: _Plan) -> Callable:
        """x -> the compressed Jacobian (J V or W^T J, colours first): one vector-mode sweep."""
        f, seed = self.f, plan.seed
        if plan.mode == "forward":
            return lambda v: jvp(f, (v,), (seed,))[1]

        def reverse(v):
            out, pull = vjp(f, v)
            W = coloring.seed_matrix(seed)
            W = W.reshape((W.shape[0],) + np.shape(out)).astype(np.result_type(raw(out)))
            return pull(W)[0]

        return reverse

    def __call__(self, x: Any):
        sp = require_scipy()
        x = _as_input(x, self._who)
        plan = self.plan(x)
        if plan.colors == 0:
            return _matrix(sp, plan, np.zeros(0))
        data = _values(plan, x)
        return _matrix(sp, plan, data)


class SparseHessian:
    """`sparse_hessian(f)`: call it with x to get the Hessian of scalar f at x as a symmetric scipy
    CSR matrix. Star colouring, forward-over-reverse products H V for all colours in one sweep, and
    symmetric (direct) recovery. `.colors`, `.pattern` and `.setup_s` as for `sparse_jacobian`."""

    def __init__(self, f: Callable) -> None:
        functools.update_wrapper(self, f)
        self.f = f
        self._grad = grad(f)
        self._plans: dict = {}
        self._last: _Plan | None = None
        self.pattern = None

    _who = "sparse_hessian"
    colors = SparseJacobian.colors
    setup_s = SparseJacobian.setup_s
    __call__ = SparseJacobian.__call__  # plan(x), then the values decompressed into CSR

    def plan(self, x: Any) -> _Plan:
        x = _as_input(x, "sparse_hessian")
        key = (x.shape, x.dtype.str)
        plan = self._plans.get(key)
        if plan is None:
            t0 = time.perf_counter()
            pattern = hessian_sparsity(self.f)(x)
            n = pattern.shape[0]
            rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(pattern.indptr))
            cols = pattern.indices.astype(np.int64)
            colors = coloring.star_coloring(pattern)
            k = int(colors.max()) + 1 if pattern.nnz else 0
            # (H V)[i, c] sums H[i, j] over the j of colour c in row i: read H[i, j] there when j is
            # alone with its colour in row i, else at (H V)[j, colour of i] (a star colouring
            # guarantees one of the two)
            count = np.bincount(rows * max(k, 1) + colors[cols], minlength=n * max(k, 1))
            alone = count[rows * max(k, 1) + colors[cols]] == 1
            plan = _Plan()
            pick = np.where(alone, colors[cols] * n + rows, colors[rows] * n + cols)
            plan.pick = _compact(pick, k * n)
            plan.colors = k
            plan.mode = "forward-over-reverse"
            plan.seed = coloring.seed_matrix(colors).reshape((k,) + x.shape).astype(x.dtype)
            plan.indices, plan.indptr = _index_arrays(pattern)
            plan.shape = (n, n)
            seed, g = plan.seed, self._grad
            plan.run = _compressed_program(lambda v: jvp(g, (v,), (seed,))[1], x) if k else None
            plan.decompress = split_constant(plan.run, x, plan.pick) if k else None
            plan.setup_s = time.perf_counter() - t0
            self._plans[key] = plan
            self.pattern = pattern
        self._last = plan
        return plan


def _compact(pick: np.ndarray, size: int) -> np.ndarray:
    """Gather indices as numpy's own index type (np.take converts any other at every call)."""
    return pick.astype(np.intp, copy=False)


def _index_arrays(pattern) -> tuple[np.ndarray, np.ndarray]:
    """The pattern's CSR index arrays, in int32 where they fit (scipy's own choice): each result
    copies them, and half the bytes copy in half the time."""
    small = max(pattern.nnz, *pattern.shape) < 2**31
    dt = np.int32 if small else np.int64
    return pattern.indices.astype(dt), pattern.indptr.astype(dt)


def _matrix(sp, plan: _Plan, data: np.ndarray):
    """The CSR matrix, with its own copies of the plan's index arrays: scipy's in-place methods
    (eliminate_zeros, sort_indices) on one result must not change the next ones."""
    return sp.csr_array((data, plan.indices.copy(), plan.indptr.copy()), shape=plan.shape)


def _values(plan: _Plan, x: np.ndarray) -> np.ndarray:
    """The nonzeros in CSR order: only the varying ones computed where the program tells them apart
    (`decompress`), else a gather from the whole compressed product."""
    if plan.decompress is not None:
        return plan.decompress(x)
    return np.take(np.asarray(plan.run(x)).reshape(-1), plan.pick)


def _compressed_program(sweep: Callable, x: np.ndarray) -> Callable:
    """The sweep jit-compiled for x's signature: traced once to a program, simplified (the seed is a
    constant of it, so whatever depends on the seed alone, such as the linear part of f applied to
    the seed, is folded), emitted as numpy source and compiled, now, as part of the setup."""
    fn = jit(sweep)
    fn(x)
    return fn


def sparse_jacobian(f: Callable, mode: str = "auto") -> SparseJacobian:
    """The Jacobian of f (one array in, one array out) as a scipy sparse CSR matrix, by colouring:
    `sparse_jacobian(f)(x)`. mode 'auto' picks forward (column colouring) or reverse (row colouring)
    by the smaller number of colours. Requires scipy (`pip install wengert[sparse]`)."""
    require_scipy()
    return SparseJacobian(f, mode)


def sparse_hessian(f: Callable) -> SparseHessian:
    """The Hessian of scalar f as a symmetric scipy sparse CSR matrix, by star colouring and
    forward-over-reverse products: `sparse_hessian(f)(x)`. Requires scipy."""
    require_scipy()
    return SparseHessian(f)


__all__ = ["SparseHessian", "SparseJacobian", "sparse_hessian", "sparse_jacobian"]
