"""Graph colouring for compressed Jacobians and Hessians (Gebremedhin, Manne, Pothen, "What color is
your Jacobian?", SIAM Review 2005).

- Column colouring of a Jacobian J: columns that share a row get different colours (a distance-2
  colouring of the bipartite row/column graph), so J V, with V the 0/1 seed matrix of the colours, holds
  every nonzero of J once. Row colouring is column colouring of J's transpose (for reverse mode).
- Star colouring of a symmetric Hessian H: a distance-1 colouring in which every path on four vertices
  uses at least three colours; each nonzero can then be read directly from H V (symmetric recovery).

The lower bound is the largest number of nonzeros in a row. Two methods are tried and the smaller
colouring kept: an exact O(nnz) colouring of band matrices (colour j mod (bandwidth + 1), optimal when
the band is full) and DSATUR (Brélaz: colour next the vertex that sees the most distinct colours,
ties to the larger degree), which reaches the bound where plain greedy orders do not (the 5-point
stencil: 5 colours where natural, largest-first and smallest-last orders give 6-7).
"""

from __future__ import annotations

import heapq

import numpy as np

from ._scipy import require_scipy


def lower_bound(pattern) -> int:
    """The largest number of nonzeros in a row: no colouring of the columns can use fewer colours."""
    pattern = pattern.tocsr()
    return int(np.diff(pattern.indptr).max()) if pattern.shape[0] else 0


def _band_coloring(pattern):
    """Colour j mod (l + u + 1) for a matrix with lower/upper bandwidths l, u: columns closer than
    l + u + 1 are the only ones that can share a row."""
    coo = pattern.tocoo()
    if coo.nnz == 0:
        return np.zeros(pattern.shape[1], np.int64)
    d = coo.col.astype(np.int64) - coo.row.astype(np.int64)
    width = int(d.max() - d.min()) + 1
    return np.arange(pattern.shape[1], dtype=np.int64) % width


def _conflict_graph(pattern):
    """Adjacency (CSR, no diagonal) of the columns of `pattern` that share a row."""
    P = pattern.tocsr().astype(bool)
    C = (P.T @ P).tocsr()
    C.setdiag(False)
    C.eliminate_zeros()
    return C


def dsatur(adjacency) -> np.ndarray:
    """DSATUR colouring of the graph with the given symmetric CSR adjacency (colours 0, 1, ...)."""
    n = adjacency.shape[0]
    ptr = adjacency.indptr.tolist()
    ind = adjacency.indices.tolist()
    deg = np.diff(adjacency.indptr).tolist()
    span = (max(deg, default=0) + 1) * n
    color = [-1] * n
    seen = [0] * n  # the colours among a vertex's neighbours, as bits
    nseen = [0] * n
    # one integer per heap entry: most distinct neighbour colours first, then largest degree, then
    # lowest index
    heap = [(-deg[v]) * n + v for v in range(n)]
    heapq.heapify(heap)
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        v = pop(heap) % n
        if color[v] >= 0:  # an older entry: a vertex's newest entry has its smallest key
            continue
        m = seen[v]
        c = ((m + 1) & ~m).bit_length() - 1  # the lowest colour no neighbour has
        color[v] = c
        bit = 1 << c
        for u in ind[ptr[v] : ptr[v + 1]]:
            if color[u] < 0 and not seen[u] & bit:
                seen[u] |= bit
                nseen[u] += 1
                push(heap, -nseen[u] * span - deg[u] * n + u)
    return np.asarray(color, dtype=np.int64)


def column_coloring(pattern) -> np.ndarray:
    """A distance-2 colouring of the columns of a Jacobian pattern (colours 0..k-1, one per column)."""
    pattern = pattern.tocsr()
    if pattern.shape[1] == 0:
        return np.zeros(0, np.int64)
    bound = lower_bound(pattern)
    band = _band_coloring(pattern)
    if band.max() + 1 <= max(bound, 1):
        return band
    greedy = dsatur(_conflict_graph(pattern))
    return greedy if greedy.max() <= band.max() else band


def row_coloring(pattern) -> np.ndarray:
    """A colouring of the rows of a Jacobian pattern for reverse mode (column colouring of J^T)."""
    return column_coloring(pattern.T.tocsr())


def star_coloring(pattern) -> np.ndarray:
    """A star colouring of the symmetric pattern of a Hessian (greedy in DSATUR order over the
    distance-1 graph, checked against the star condition), or the band colouring when that is smaller.
    """
    sp = require_scipy()
    H = sp.csr_array(pattern, dtype=bool)
    n = H.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    band = _band_coloring(H)  # a distance-2 colouring is a star colouring
    if band.max() + 1 <= lower_bound(H):
        return band
    A = H.copy()
    A.setdiag(False)
    A.eliminate_zeros()
    order = np.argsort(-np.diff(A.indptr), kind="stable")  # largest first
    star = _greedy_star(A, order)
    return star if star.max() <= band.max() else band


def _greedy_star(A, order) -> np.ndarray:
    """Greedy star colouring (GMP 2005, Algorithm 4.1): besides neighbours' colours, forbid a colour
    that would close a two-coloured path on four vertices."""
    n = A.shape[0]
    ptr = A.indptr.tolist()
    ind = A.indices.tolist()
    color = [-1] * n
    forbidden = [-1] * (n + 1)
    for v in order.tolist():
        nv = ind[ptr[v] : ptr[v + 1]]
        for w in nv:
            if color[w] >= 0:
                forbidden[color[w]] = v
        for w in nv:
            cw = color[w]
            for x in ind[ptr[w] : ptr[w + 1]]:
                cx = color[x]
                if x == v or cx < 0:
                    continue
                if cw < 0:
                    forbidden[cx] = v  # v - w - x with w still uncoloured: keep distance 2
                else:
                    for y in ind[ptr[x] : ptr[x + 1]]:
                        if y != w and color[y] == cw:
                            forbidden[cx] = v  # v - w - x - y would use two colours
                            break
        c = 0
        while forbidden[c] == v:
            c += 1
        color[v] = c
    return np.asarray(color, dtype=np.int64)


def is_star_coloring(pattern, colors: np.ndarray) -> bool:
    """Whether `colors` is a star colouring of the symmetric `pattern`: proper, and every connected
    two-coloured subgraph is a star (so no two-coloured path on four vertices)."""
    sp = require_scipy()
    A = sp.csr_array(pattern, dtype=bool).tocoo()
    off = A.row != A.col
    r, c = A.row[off], A.col[off]
    if np.any(colors[r] == colors[c]):
        return False
    n = A.shape[0]
    k = int(colors.max()) + 1 if n else 0
    for a in range(k):
        for b in range(a + 1, k):
            keep = np.isin(colors[r], (a, b)) & np.isin(colors[c], (a, b))
            if not keep.any():
                continue
            G = sp.coo_array((np.ones(keep.sum()), (r[keep], c[keep])), shape=(n, n)).tocsr()
            ncomp, labels = sp.csgraph.connected_components(G, directed=False)
            deg = np.diff(G.indptr)
            edges = np.bincount(labels, weights=deg, minlength=ncomp) / 2
            size = np.bincount(labels, minlength=ncomp)
            maxdeg = np.zeros(ncomp)
            np.maximum.at(maxdeg, labels, deg)
            # a tree whose largest degree is size - 1 is a star
            ok = (edges == size - 1) & ((size <= 2) | (maxdeg == size - 1))
            if not ok.all():
                return False
    return True


def is_column_coloring(pattern, colors: np.ndarray) -> bool:
    """Whether no two columns of the same colour share a row of `pattern`."""
    P = pattern.tocsr()
    rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
    key = rows.astype(np.int64) * (int(colors.max()) + 1 if len(colors) else 1) + colors[P.indices]
    return len(np.unique(key)) == len(key)


def seed_matrix(colors: np.ndarray) -> np.ndarray:
    """The 0/1 seed matrix, as its transpose (colours x n): row c marks the columns of colour c."""
    k = int(colors.max()) + 1 if len(colors) else 0
    S = np.zeros((k, len(colors)))
    S[colors, np.arange(len(colors))] = 1.0
    return S


__all__ = [
    "column_coloring",
    "dsatur",
    "is_column_coloring",
    "is_star_coloring",
    "lower_bound",
    "row_coloring",
    "seed_matrix",
    "star_coloring",
]
