"""The recorded graph (Wengert's list) and reverse accumulation over it.

Tensors record a `GraphNode` per primitive application, on the eager tape and in every reverse-mode
transform. (The scalar `Node` of scalar.py is a graph of its own, with its own sweep over the same
primitive table; it does not use this module.) Traversals are iterative, so graphs of any depth work;
after a sweep the intermediates are released unless the caller keeps them.
"""

from __future__ import annotations

import itertools
from heapq import heappop, heappush

import numpy as np

from . import anomaly, versions
from . import trace as trace_mod
from .trace import BOX_TYPES, STATE, Trace, dispatch, unwrap_for


class FreedGraphError(RuntimeError):
    """Backward met a part of the graph that an earlier backward already released."""


class Aval:
    """The abstract value of an array: what a rule needs when it needs no numbers (shape, dtype)."""

    __slots__ = ("dtype", "ndim", "shape")

    def __init__(self, shape: tuple, dtype) -> None:
        self.shape = shape
        self.dtype = dtype
        self.ndim = len(shape)

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def __repr__(self) -> str:
        return f"Aval(shape={self.shape}, dtype={self.dtype})"


def aval(x) -> Aval:
    """Shape and dtype of an array, numpy scalar, box or Python number."""
    try:
        return Aval(x.shape, x.dtype)
    except AttributeError:
        a = np.asarray(x)
        return Aval(a.shape, a.dtype)


_SEQ = itertools.count()


class GraphNode:
    """One recorded primitive application: what its VJP rules need, and its parents in the graph.

    `parents` is None once released; `released` then keeps the parents (not their values) so that a
    picture of the graph can still be drawn. Leaves (prim is None) collect their cotangent in `grad`.
    """

    __slots__ = (
        "ans",
        "argnums",
        "args",
        "dtype",
        "grad",
        "kwargs",
        "origin",
        "owned",  # a leaf's grad array that no other leaf or caller shares (see Tensor.grad)
        "parents",
        "prim",
        "released",  # unset until release(): no cost while recording
        "res",  # what the primitive's `residual` forward saved for its reverse rules, or None
        "seq",  # the order of recording: parents come before their children
        "shape",
        "version",
    )

    def __init__(self, prim, parents, argnums, args, kwargs, ans, shape, dtype) -> None:
        self.prim = prim
        self.parents = parents
        self.argnums = argnums
        self.args = args
        self.kwargs = kwargs
        self.ans = ans
        self.shape = shape
        self.dtype = dtype
        self.grad = None
        self.res = None
        self.owned = None
        self.origin = None  # the user's source line, recorded under detect_anomaly()
        self.seq = next(_SEQ)
        self.version = versions.CLOCK.now  # in-place writes after this one are checked in backward

    def release(self) -> None:
        self.released = self.parents
        self.parents = None
        self.args = self.ans = self.kwargs = self.res = None

    @property
    def name(self) -> str:
        return "input" if self.prim is None else self.prim.name


def leaf_node(shape: tuple, dtype) -> GraphNode:
    return GraphNode(None, (), (), None, None, None, shape, dtype)


def _freed() -> FreedGraphError:
    return FreedGraphError(
        "backward through a graph whose intermediates were already freed by an earlier "
        "backward; pass retain_graph=True to the first backward() to keep them"
    )


def _to_leaf(node, g, handed: set) -> None:
    """Add cotangent g to a leaf's grad (the grad of an earlier backward included)."""
    if node.grad is not None:
        g = node.grad + g
        if type(g) is np.ndarray:
            node.owned = g  # a new sum
    elif type(g) is np.ndarray and g.base is None and g.flags.writeable and id(g) not in handed:
        node.owned = g  # a fresh array of this sweep: the leaf may hand it out as is
    handed.add(id(g))
    node.grad = g


def backward(seeds, retain_graph: bool = False) -> None:
    """Reverse accumulation from `seeds` [(node, cotangent)], adding each leaf's cotangent to its grad.

    Nodes are numbered as they are recorded, so a parent's number is below its children's: taking
    the nodes that hold a cotangent highest number first visits each one after all of its consumers,
    with no separate topological sort, and visits only the nodes a cotangent reaches. Cotangents are
    dropped as soon as they have been pushed to the parents, so the sweep holds only the frontier;
    each node's saved values are released after its rule ran unless `retain_graph`.
    """
    cts: dict = {}
    heap: list = []
    handed = set()  # arrays a leaf took as its grad: a second leaf must not share one, nor the seed
    clock, check = versions.CLOCK, STATE.anomaly
    for n, g in seeds:
        if n in cts:
            cts[n] = cts[n] + g
        else:
            cts[n] = g
            heappush(heap, (-n.seq, n))
        handed.add(id(g))
    while heap:
        node = heappop(heap)[1]
        g = cts.pop(node)
        prim = node.prim
        if prim is None:  # a seed that is a leaf
            _to_leaf(node, g, handed)
            continue
        parents = node.parents
        if parents is None:
            raise _freed()
        if node.version != clock.now:
            versions.check_saved(node)
        pcts = prim.vjp(node, g)
        if check:
            for i, c in zip(node.argnums, pcts):
                if c is not None:
                    anomaly.check_backward(node, i, c)
        for p, c in zip(parents, pcts):
            if c is not None:
                if p.prim is None:  # a leaf needs no place in the order: its sum is its grad
                    _to_leaf(p, c, handed)
                elif p in cts:
                    cts[p] = cts[p] + c
                else:
                    cts[p] = c
                    heappush(heap, (-p.seq, p))
        if not retain_graph:  # release (inlined: once per node of every sweep)
            node.released = parents  # the structure stays drawable after backward
            node.parents = None
            node.args = node.ans = node.kwargs = node.res = None


class ReverseTrace(Trace):
    """A level that records a graph: the eager tape, or one `vjp`/`grad` call."""

    __slots__ = ("box",)

    direct = True  # `bind` hands it the calls made while it is the innermost open trace

    def __init__(self, level: int, box) -> None:
        super().__init__(level)
        self.box = box  # (value, trace, node) -> box

    def record(self, prim, args, kwargs):
        """The fast path: process a call made while this trace is the innermost one, in one pass over
        the arguments (values opened, parents collected, the numpy function called, one node, one
        box). A box of any other trace, or a value that is itself a box (nested derivatives), sends
        the call to the general dispatch, which is what keeps nested transforms exact."""
        vals = [*args]
        parents = []
        idx = []
        for i, a in enumerate(args):
            if type(a) in BOX_TYPES:
                t = a._trace
                if t is self:
                    v = a._value
                    if type(v) in BOX_TYPES:
                        return self.process(prim, args, kwargs)
                    parents.append(a._node)
                    idx.append(i)
                    vals[i] = v
                elif t is not None:
                    return dispatch(prim, args, kwargs)
                else:
                    vals[i] = a._value
        res = None
        try:
            if not parents:  # only constants: nothing to record
                return trace_mod.const_box(prim.impl(*vals, **kwargs))
            if prim.residual is None:
                ans = prim.impl(*vals, **kwargs)
            else:
                ans, res = prim.residual(*vals, **kwargs)
        except ValueError as e:
            raise prim.error(vals, e) from None
        try:
            shp, dt = ans.shape, ans.dtype
        except AttributeError:  # a Python number from a scalar function
            ans = np.asarray(ans)
            shp, dt = ans.shape, ans.dtype
        if not prim.save_args:  # rules that need only shapes and dtypes keep no arrays alive
            vals = [Aval(v.shape, v.dtype) if type(v) is np.ndarray else aval(v) for v in vals]
        node = GraphNode(
            prim, tuple(parents), tuple(idx), vals, kwargs, ans if prim.save_ans else None, shp, dt
        )
        node.res = res
        if STATE.anomaly:
            anomaly.check_forward(prim, ans, node)
        return self.box(ans, self, node)

    def process(self, prim, args, kwargs):
        vals, idx = unwrap_for(self, args)
        for v in vals:
            if type(v) in BOX_TYPES:  # boxes of outer levels remain: they process the call
                ans = prim(*vals, **kwargs)
                break
        else:  # plain values: apply the numpy function without a second dispatch
            try:
                ans = prim.impl(*vals, **kwargs)
            except ValueError as e:
                raise prim.error(vals, e) from None
        parents = tuple([args[i]._node for i in idx])
        saved = vals if prim.save_args else [aval(v) for v in vals]
        a = aval(ans)
        node = GraphNode(
            prim,
            parents,
            tuple(idx),
            saved,
            kwargs,
            ans if prim.save_ans else None,
            a.shape,
            a.dtype,
        )
        if STATE.anomaly:
            anomaly.check_forward(prim, ans, node)
        return self.box(ans, self, node)
