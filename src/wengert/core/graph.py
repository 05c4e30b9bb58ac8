"""The recorded graph (Wengert's list) and reverse accumulation over it.

Tensors record a `GraphNode` per primitive application, on the eager tape and in every reverse-mode
transform. (The scalar `Node` of scalar.py is a graph of its own, with its own sweep over the same
primitive table; it does not use this module.) Traversals are iterative, so graphs of any depth work;
after a sweep the intermediates are released unless the caller keeps them.
"""

from __future__ import annotations

from . import anomaly, versions
from .trace import BOX_TYPES, STATE, Trace, unwrap_for


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
        import numpy as np

        a = np.asarray(x)
        return Aval(a.shape, a.dtype)


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
        "parents",
        "prim",
        "released",  # unset until release(): no cost while recording
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
        self.origin = None  # the user's source line, recorded under detect_anomaly()
        self.version = versions.CLOCK.now  # in-place writes after this one are checked in backward

    def release(self) -> None:
        self.released = self.parents
        self.parents = None
        self.args = self.ans = self.kwargs = None

    @property
    def name(self) -> str:
        return "input" if self.prim is None else self.prim.name


def leaf_node(shape: tuple, dtype) -> GraphNode:
    return GraphNode(None, (), (), None, None, None, shape, dtype)


def toposort(roots) -> list:
    """Every node reachable from `roots`, each after all of its parents (iterative depth-first)."""
    order = []
    seen = set()
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(_parents(root)))]
        while stack:
            node, it = stack[-1]
            for p in it:
                if p not in seen:
                    seen.add(p)
                    ps = _parents(p)
                    if ps:
                        stack.append((p, iter(ps)))
                        break
                    order.append(p)  # a leaf: done at once, no stack entry
            else:
                stack.pop()
                order.append(node)
    return order


def _parents(node):
    ps = node.parents
    if ps is None:
        raise FreedGraphError(
            "backward through a graph whose intermediates were already freed by an earlier "
            "backward; pass retain_graph=True to the first backward() to keep them"
        )
    return ps


def backward(seeds, retain_graph: bool = False) -> None:
    """Reverse accumulation from `seeds` [(node, cotangent)], adding each leaf's cotangent to its grad.

    Cotangents are dropped as soon as they have been pushed to the parents, so the sweep holds only the
    frontier; each node's saved values are released after its rule ran unless `retain_graph`.
    """
    order = toposort([n for n, _ in seeds])
    cts: dict = {}
    for n, g in seeds:
        cts[n] = cts[n] + g if n in cts else g
    for node in reversed(order):
        g = cts.pop(node, None)
        prim = node.prim
        if prim is None:
            if g is not None:
                node.grad = g if node.grad is None else node.grad + g
            continue
        parents = node.parents
        if g is not None:
            if node.version != versions.CLOCK.now:
                versions.check_saved(node)
            pcts = prim.vjp(node, g)
            if STATE.anomaly:
                for i, c in zip(node.argnums, pcts):
                    if c is not None:
                        anomaly.check_backward(node, i, c)
            for p, c in zip(parents, pcts):
                if c is not None:
                    cts[p] = cts[p] + c if p in cts else c
        if not retain_graph:  # release (inlined: once per node of every sweep)
            node.released = parents  # the structure stays drawable after backward
            node.parents = None
            node.args = node.ans = node.kwargs = None


class ReverseTrace(Trace):
    """A level that records a graph: the eager tape, or one `vjp`/`grad` call."""

    __slots__ = ("box",)

    def __init__(self, level: int, box) -> None:
        super().__init__(level)
        self.box = box  # (value, trace, node) -> box

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
