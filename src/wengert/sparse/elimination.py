"""Jacobian accumulation by vertex elimination on the linearised computational graph.

Run a function of scalars once on the paper's `Node`s: the result is its computational graph, a DAG
whose vertices are the inputs, the intermediate values and the outputs. Label every edge u -> v with
the local partial derivative dv/du (from the primitive table): that is the *linearised* graph. The
chain rule then says dy/dx is the sum over all paths from x to y of the product of the edge labels.

*Eliminating* an intermediate vertex j applies the chain rule once, locally: for every predecessor i
and successor k, the edge i -> k gains c_kj * c_ji (created if absent), and j disappears. That costs
|pred(j)| * |succ(j)| multiplications (its Markowitz degree). When only inputs and outputs are left,
the edge labels are the nonzeros of the Jacobian. The order matters:

- eliminating in topological order is forward mode (each vertex meets the tangents of the inputs it
  depends on);
- reverse topological order is reverse mode;
- the Markowitz order (always the vertex of lowest degree product next) is the classic heuristic,
  and on many graphs cheaper than both. Finding the cheapest order is NP-complete (Naumann 2008).

`linearize(f, x)` builds the graph; `LinearizedGraph.count(order)` counts multiplications without
arithmetic; `.jacobian(order)` eliminates. `order="best"` counts forward, reverse and Markowitz first
and eliminates in the cheapest, so it is never worse than the better of forward and reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..scalar import Node, partial_terms, toposort

ORDERS = ("forward", "reverse", "markowitz")


class LinearizedGraph:
    """The linearised computational graph of a function of scalars (see module docstring).

    Vertices are numbered in topological order: `n` inputs, then intermediates, then one vertex per
    output. `edges[(u, v)]` is the local partial dv/du.
    """

    def __init__(self, n: int, m: int, num_vertices: int, edges: dict, ops: list) -> None:
        self.n, self.m = n, m
        self.num_vertices = num_vertices
        self.edges = edges
        self.ops = ops  # the operation name of every vertex (None for inputs)

    @property
    def intermediates(self) -> range:
        return range(self.n, self.num_vertices - self.m)

    @property
    def outputs(self) -> range:
        return range(self.num_vertices - self.m, self.num_vertices)

    def _adjacency(self):
        pred: dict[int, dict[int, float]] = {v: {} for v in range(self.num_vertices)}
        succ: dict[int, dict[int, float]] = {v: {} for v in range(self.num_vertices)}
        for (u, v), c in self.edges.items():
            pred[v][u] = c
            succ[u][v] = c
        return pred, succ

    def order(self, order: str | Sequence[int] = "markowitz") -> list[int]:
        """The elimination order of the intermediates: 'forward', 'reverse', 'markowitz', 'best'
        (the cheapest of those three) or an explicit sequence of vertices."""
        if not isinstance(order, str):
            order = [int(v) for v in order]
            if sorted(order) != list(self.intermediates):
                raise ValueError("elimination order: must list every intermediate vertex exactly once")
            return order
        if order == "forward":
            return list(self.intermediates)
        if order == "reverse":
            return list(reversed(self.intermediates))
        if order == "markowitz":
            return self._eliminate(None, numeric=False)[2]
        if order == "best":
            return min((self.order(o) for o in ORDERS), key=lambda o: self.count(o))
        raise ValueError(
            f"elimination order: {order!r} is not one of 'forward', 'reverse', 'markowitz', 'best'"
        )

    def count(self, order: str | Sequence[int] = "markowitz") -> int:
        """Multiplications needed to accumulate the Jacobian by eliminating in `order`."""
        return self._eliminate(self.order(order), numeric=False)[0]

    def counts(self) -> dict[str, int]:
        """Multiplications of forward, reverse and Markowitz vertex elimination, and of dense vector
        forward / reverse mode (n resp. m directions along every edge, as jacfwd / jacrev do)."""
        out = {o: self.count(o) for o in ORDERS}
        out["forward (vector mode)"] = self.n * len(self.edges)
        out["reverse (vector mode)"] = self.m * len(self.edges)
        return out

    def jacobian(self, order: str | Sequence[int] = "best") -> np.ndarray:
        """The Jacobian (m x n) accumulated by vertex elimination in `order`."""
        _, pred, _ = self._eliminate(self.order(order), numeric=True)
        J = np.zeros((self.m, self.n))
        for r, k in enumerate(self.outputs):
            for i, c in pred[k].items():
                J[r, i] = c
        return J

    def _eliminate(self, order, numeric: bool):
        """Eliminate intermediates in `order` (None: Markowitz, chosen as it goes). Returns the
        multiplication count, the final predecessor lists (or the order taken, for Markowitz)."""
        pred, succ = self._adjacency()
        mults = 0
        remaining = set(self.intermediates)
        taken: list[int] = []
        steps = len(remaining)
        for step in range(steps):
            if order is None:  # lowest Markowitz degree, ties to the earliest vertex
                j = min(remaining, key=lambda v: (len(pred[v]) * len(succ[v]), v))
            else:
                j = order[step]
            remaining.discard(j)
            taken.append(j)
            pj, sj = pred[j], succ[j]
            mults += len(pj) * len(sj)
            for i, cji in pj.items():
                si = succ[i]
                del si[j]
                for k, ckj in sj.items():
                    w = ckj * cji if numeric else 0.0
                    pk = pred[k]
                    if i in pk:
                        pk[i] += w
                    else:
                        pk[i] = w
                    si[k] = pk[i]
            for k in sj:
                del pred[k][j]
            del pred[j], succ[j]
        return mults, pred, taken


def linearize(f: Callable, x: Any) -> LinearizedGraph:
    """Run f (a function of a sequence of scalars returning a scalar or a sequence of scalars) on
    Nodes at the point x and return its linearised computational graph."""
    xs = [float(v) for v in np.asarray(x, dtype=float).ravel()]
    inputs = [Node(v) for v in xs]
    out = f(inputs)
    outs = list(out) if isinstance(out, (list, tuple, np.ndarray)) else [out]
    for o in outs:
        if not isinstance(o, Node):
            raise TypeError(
                f"linearize: f must return Nodes (computed from its inputs); it returned {o!r}"
            )
    index: dict[int, int] = {id(v): i for i, v in enumerate(inputs)}
    ops: list = [None] * len(inputs)
    edges: dict[tuple[int, int], float] = {}
    # every node that depends on an input, in topological order (constants are not vertices)
    body: list[Node] = []
    seen: set[int] = set()
    for o in outs:
        for node in toposort(o):
            if id(node) in seen or id(node) in index:
                continue
            seen.add(id(node))
            if node.parents:
                body.append(node)
    depends = {id(v) for v in inputs}
    vertices: list[Node] = []
    for node in body:
        if any(id(p) in depends for p in node.parents):
            depends.add(id(node))
            vertices.append(node)
    for node in vertices:
        index[id(node)] = len(index)
        ops.append(node.op)
        parents = node.parents
        partials = partial_terms(node._prim, 1.0, node.value, [p.value for p in parents])
        for p, d in zip(parents, partials):
            if id(p) in index:
                key = (index[id(p)], index[id(node)])
                edges[key] = edges.get(key, 0.0) + float(d)  # x * x: one edge, both partials
    # one fresh vertex per output, joined by an edge of label 1 (outputs may also feed other vertices)
    nv = len(index)
    m = len(outs)
    for r, o in enumerate(outs):
        ops.append("output")
        if id(o) in index:
            edges[(index[id(o)], nv + r)] = 1.0
    return LinearizedGraph(len(inputs), m, nv + m, edges, ops)


def elimination_jacobian(f: Callable, order: str | Sequence[int] = "best") -> Callable:
    """A function x -> the Jacobian of f at x (m x n), accumulated by vertex elimination in `order`
    on f's linearised graph. f takes a sequence of scalars (Nodes) and returns one or a sequence."""

    def jac(x: Any) -> np.ndarray:
        return linearize(f, x).jacobian(order)

    return jac


__all__ = ["LinearizedGraph", "elimination_jacobian", "linearize"]
