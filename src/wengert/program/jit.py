"""jit: a function traced once per signature, simplified, emitted as numpy source, compiled, replayed.

The signature of a call is the pytree structure of its arguments, the shape and dtype of every array
leaf (the type of every Python number), and the values of the static arguments. The first call with a
signature traces the function to a program, simplifies it and compiles its source; later calls with
that signature run the compiled function directly: a dictionary lookup and then one numpy statement
per equation, with no interpreter work per operation.

Called on values that a transform is differentiating (inside `grad`, `jvp`, on tensors with
`requires_grad=True`, or inside another jit), the function runs at those values' levels instead, so
every transform sees the same primitives and rules (checkpoints and custom rules included) as without
jit; `jit(grad(f))` is what compiles a derivative.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from .. import tree
from ..core.trace import BOX_TYPES, EAGER_LEVEL, STATE
from ..tensor import constant
from .emit import emit_compiled
from .ir import Program
from .passes import simplify
from .trace import check_static_argnums, trace_program

_PYSCALARS = (bool, int, float, complex)


class CacheInfo(NamedTuple):
    """Calls answered from the cache (`hits`), traces (`misses`), signatures held (`size`), and the
    seconds spent tracing and simplifying (`trace_seconds`) and compiling (`compile_seconds`)."""

    hits: int
    misses: int
    size: int
    trace_seconds: float
    compile_seconds: float


class _Entry:
    __slots__ = ("fn", "program", "source")

    def __init__(self, program: Program, source: str, fn: Callable) -> None:
        self.program = program
        self.source = source
        self.fn = fn  # flat array arguments -> the output pytree


def _as_tensor(o):
    return constant(o) if isinstance(o, (np.ndarray, np.generic)) else o


def _signature(x, leaves: list, key: list) -> bool:
    """Flatten a pytree of numpy arrays into `leaves` and its signature into `key`; False when some
    leaf is not a numpy array (numbers, tensors, None take the general path)."""
    t = type(x)
    if t is np.ndarray:
        leaves.append(x)
        key.append(x.shape)
        key.append(x.dtype)
        return True
    if t is tuple or t is list:
        key.append(t)
        key.append(len(x))
        for y in x:  # noqa: SIM110 - a loop is faster than all() over a generator here
            if not _signature(y, leaves, key):
                return False
        return True
    if t is dict:
        ks = sorted(x)
        key.append(tuple(ks))
        for k in ks:  # noqa: SIM110
            if not _signature(x[k], leaves, key):
                return False
        return True
    return False


def _flatten(x, leaves: list):
    """wengert.tree's flattening, with a hashable description (a cache key)."""
    t = type(x)
    if t is tuple or t is list:
        return (t, tuple([_flatten(y, leaves) for y in x]))
    if t is dict:
        keys = sorted(x)
        return (dict, tuple(keys), tuple([_flatten(x[k], leaves) for k in keys]))
    leaves.append(x)
    return None


def _leaf_key(x):
    t = type(x)
    if t is np.ndarray:
        return (x.shape, x.dtype)
    if t in BOX_TYPES:
        v = x._value
        while type(v) in BOX_TYPES:
            v = v._value
        return ("box", np.shape(v), np.result_type(v))
    if t in _PYSCALARS or x is None:
        return t
    if isinstance(x, np.generic):
        return ("scalar", x.dtype)
    if isinstance(x, np.ndarray):
        return (x.shape, x.dtype)
    return ("other", t)


def _live(x) -> bool:
    """A box that some transform is recording or perturbing (not a constant tensor)."""
    if type(x) not in BOX_TYPES:
        return False
    t = x._trace
    return t is not None and not (t.level == EAGER_LEVEL and not STATE.grad_enabled)


class Jitted:
    """The callable that `wengert.jit(f)` returns (see `jit`)."""

    def __init__(self, f: Callable, static_argnums: int | Sequence[int] = ()) -> None:
        functools.update_wrapper(self, f)
        self.f = f
        self.static_argnums = static_argnums
        self._cache: dict = {}
        self._hits = self._misses = 0
        self._trace_s = self._compile_s = 0.0
        self._last: _Entry | None = None
        self._fast: dict = {}  # calls whose arguments are all numpy arrays: (shape, dtype)... -> entry

    def __call__(self, *args):
        if not self.static_argnums:  # the common case, answered with the least work
            leaves: list = []
            key: list = []
            if _signature(args, leaves, key):
                entry = self._fast.get(tuple(key))
                if entry is not None:
                    self._hits += 1
                    self._last = entry
                    return entry.fn(*leaves)
        return self._call(args)

    def _call(self, args: tuple):
        static = self.static_argnums
        leaves: list = []
        if not static:
            tdef = _flatten(args, leaves)
            if any(map(_live, leaves)):
                return self.f(*args)  # see the module docstring: f runs at its arguments' levels
            key = (tdef, *map(_leaf_key, leaves))
        else:
            nums = check_static_argnums(static, len(args), "jit")
            statics = tuple(args[i] for i in nums)
            for i, s in zip(nums, statics):
                try:
                    hash(s)
                except TypeError:
                    raise TypeError(
                        f"jit: static argument {i} (a {type(s).__name__}) is not hashable; static "
                        "arguments are part of the cache key: pass a tuple instead of a list, or a "
                        "number, string or other hashable value"
                    ) from None
            tdef = _flatten(tuple(a for i, a in enumerate(args) if i not in nums), leaves)
            if any(map(_live, leaves)):
                return self.f(*args)
            key = (tdef, statics, nums, *map(_leaf_key, leaves))
        entry = self._cache.get(key)
        if entry is None:
            entry = self._compile(args, key)
            fast: list = []
            if not static and _signature(args, [], fast):
                self._fast[tuple(fast)] = entry
        else:
            self._hits += 1
        self._last = entry
        if entry.program.in_static:
            leaves = [x for i, x in enumerate(leaves) if i not in entry.program.in_static]
        boxed = False
        for i, x in enumerate(leaves):
            if type(x) in BOX_TYPES:
                leaves[i] = x._value
                boxed = True
        out = entry.fn(*leaves)
        if boxed:  # constant tensors in, tensors out
            out = tree.tree_map(
                lambda o: constant(o) if isinstance(o, (np.ndarray, np.generic)) else o, out
            )
        return out

    def _compile(self, args: tuple, key) -> _Entry:
        nums = check_static_argnums(self.static_argnums, len(args), "jit")
        t0 = time.perf_counter()
        prog = simplify(trace_program(self.f, args, nums, "jit"))
        t1 = time.perf_counter()
        source, fn = emit_compiled(prog)
        t2 = time.perf_counter()
        entry = _Entry(prog, source, fn)
        self._cache[key] = entry  # only after tracing and compiling succeeded
        self._misses += 1
        self._trace_s += t1 - t0
        self._compile_s += t2 - t1
        return entry

    # --- inspection -------------------------------------------------------------------------------
    def cache_info(self) -> CacheInfo:
        """Hits, misses (traces), cached signatures and the time spent tracing and compiling."""
        return CacheInfo(self._hits, self._misses, len(self._cache), self._trace_s, self._compile_s)

    def cache_clear(self) -> None:
        self._cache.clear()
        self._fast.clear()
        self._hits = self._misses = 0
        self._trace_s = self._compile_s = 0.0

    def lower(self, *args) -> Program:
        """The simplified program this function compiles to for `args` (tracing it if needed)."""
        return self._entry(args).program

    def source(self, *args) -> str:
        """The compiled source for `args`' signature (flat arguments, in-place buffer reuse)."""
        return self._entry(args).source

    def _entry(self, args) -> _Entry:
        hits = self._hits
        self(*args)
        self._hits = hits  # looking is not a call
        return self._last

    def __repr__(self) -> str:
        return f"<jit of {getattr(self.f, '__name__', self.f)!r}>"


def jit(f: Callable, static_argnums: int | Sequence[int] = ()) -> Jitted:
    """`f`, traced once per signature to a program that is simplified, compiled and then replayed.

    Results equal f's (dtypes kept: float32 stays float32). A signature is the pytree structure of
    the arguments, each array's shape and dtype, and the values of the arguments in `static_argnums`
    (which must be hashable: they are used as they are, so a Python branch may depend on them).
    A Python branch, `float()` or `bool()` on a traced value raises `ConcretizationError` naming the
    line: make that argument static, or use `wengert.where`. `cache_info()` counts traces and hits.

    jit composes with every transform in both orders: `jit(grad(f))` compiles the derivative program,
    `grad(jit(f))` differentiates through the cached program.
    """
    if not callable(f):
        raise TypeError(f"jit: expected a function, got {type(f).__name__}")
    return Jitted(f, static_argnums)
