"""Sparse Jacobians and Hessians: exact patterns, colourings, values against the dense transforms, and
Jacobian accumulation by vertex elimination."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

import wengert as W
from wengert.sparse import coloring
from wengert.sparse.coloring import is_column_coloring, is_star_coloring, lower_bound

sp = pytest.importorskip("scipy.sparse")

rng = np.random.default_rng(0)


def dense(P):
    return np.asarray(P.toarray(), dtype=bool)


def tri(n):
    return sp.diags_array([np.ones(n - 1), np.ones(n), np.ones(n - 1)], offsets=[-1, 0, 1]).astype(bool)


def laplacian_pattern(k):
    T = tri(k).astype(float)
    return dense(sp.kronsum(T, T))


def bratu(x, k, lam=6.0):
    h2 = 1.0 / (k + 1) ** 2
    u = W.reshape(x, (k, k))
    zr, zc = np.zeros((1, k)), np.zeros((k + 2, 1))
    up = W.concatenate([zc, W.concatenate([zr, u, zr], axis=0), zc], axis=1)
    lap = 4 * u - up[:-2, 1:-1] - up[2:, 1:-1] - up[1:-1, :-2] - up[1:-1, 2:]
    return W.reshape(lap / h2 - lam * W.exp(u), (k * k,))


def rosen(x):
    return W.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


# --- Jacobian patterns ----------------------------------------------------------------------------


def test_elementwise_pattern_is_diagonal():
    P = W.jacobian_sparsity(lambda x: W.sin(x) * x + W.exp(2.0 * x))(np.ones(7))
    assert sp.issparse(P) and P.dtype == bool and P.shape == (7, 7)
    assert np.array_equal(dense(P), np.eye(7, dtype=bool))


def test_tridiagonal_stencil_pattern():
    f = lambda x: W.concatenate([x[:1], x[2:] - 2 * W.sin(x[1:-1]) + x[:-2] ** 2, x[-1:]])
    P = W.jacobian_sparsity(f)(np.ones(9))
    want = dense(tri(9))
    want[0, 1] = want[-1, -2] = False
    assert np.array_equal(dense(P), want)


def test_five_point_laplacian_pattern():
    k = 6
    P = W.jacobian_sparsity(lambda x: bratu(x, k))(np.zeros(k * k))
    assert np.array_equal(dense(P), laplacian_pattern(k))


def test_dense_rows_and_reductions():
    f = lambda x: W.concatenate([W.reshape(W.sum(x**2), (1,)), x[:2] * W.max(x)])
    P = dense(W.jacobian_sparsity(f)(np.ones(5)))
    assert P[0].all() and P[1].all() and P[2].all()
    g = lambda x: W.sum(W.reshape(x, (3, 4)), axis=1)
    Q = dense(W.jacobian_sparsity(g)(np.ones(12)))
    assert np.array_equal(Q, np.kron(np.eye(3, dtype=bool), np.ones((1, 4), bool)))


def test_matmul_respects_a_constant_operands_zeros():
    n = 8
    A = np.diag(np.arange(1.0, n + 1)) + np.diag(np.ones(n - 2), 2)  # diagonal and second superdiagonal
    P = dense(W.jacobian_sparsity(lambda x: W.tanh(A @ x))(np.ones(n)))
    assert np.array_equal(P, A != 0)
    Q = dense(W.jacobian_sparsity(lambda x: x @ A)(np.ones(n)))
    assert np.array_equal(Q, (A != 0).T)
    # a matrix of variables times a constant matrix: rows of X mix only through A's nonzeros
    R = dense(
        W.jacobian_sparsity(lambda x: W.reshape(W.reshape(x, (2, n)) @ A, (2 * n,)))(np.ones(2 * n))
    )
    assert np.array_equal(R, np.kron(np.eye(2, dtype=bool), (A != 0).T))


def test_matmul_of_two_variables():
    f = lambda x: W.reshape(W.reshape(x[:6], (2, 3)) @ W.reshape(x[6:], (3, 2)), (4,))
    P = dense(W.jacobian_sparsity(f)(rng.standard_normal(12)))
    J = W.jacfwd(f)(rng.standard_normal(12)) != 0
    assert np.array_equal(P, J)


def test_indexing_gather_scatter_and_moves():
    perm = np.array([3, 0, 4, 1, 2])
    f = lambda x: x[perm] * 2.0
    assert np.array_equal(dense(W.jacobian_sparsity(f)(np.ones(5))), np.eye(5, dtype=bool)[perm])
    g = lambda x: W.transpose(W.reshape(x, (2, 3)))[1:, :]
    J = W.jacfwd(g)(np.ones(6)).reshape(4, 6) != 0
    assert np.array_equal(dense(W.jacobian_sparsity(g)(np.ones(6))), J)
    # scatter_add (the reverse rule of getitem) under jacrev: indexes repeat, so entries add up
    h = lambda x: W.vjp(lambda y: y[np.array([0, 0, 2])], np.ones(4))[1](x)[0]
    P = dense(W.jacobian_sparsity(h)(np.ones(3)))
    assert np.array_equal(P, np.array([[1, 1, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0]], bool))


def test_softmax_and_where_keep_groups_and_branches():
    f = lambda x: W.softmax(W.reshape(x, (2, 3)), axis=1)
    P = dense(W.jacobian_sparsity(f)(np.ones(6)))
    assert np.array_equal(P, np.kron(np.eye(2, dtype=bool), np.ones((3, 3), bool)))
    g = lambda x: W.where(x[:3] > 0, x[:3], x[3:] ** 2)  # both branches: a global pattern
    Q = dense(W.jacobian_sparsity(g)(np.ones(6)))
    assert np.array_equal(Q, np.hstack([np.eye(3, dtype=bool)] * 2))


def test_pattern_never_misses_a_nonzero():
    A = rng.standard_normal((6, 6)) * (rng.random((6, 6)) < 0.3)
    fs = [
        lambda x: W.tanh(A @ x) * x[::-1] + W.sum(x[:2]),
        lambda x: W.concatenate([W.maximum(x, x[::-1]), W.reshape(W.logsumexp(x, axis=0), (1,))]),
        lambda x: W.log_softmax(W.reshape(x, (3, 2)), axis=0)[1:] * 3.0,
    ]
    for f in fs:
        P = dense(W.jacobian_sparsity(f)(np.ones(6)))
        for _ in range(3):
            J = np.atleast_2d(W.jacfwd(f)(rng.standard_normal(6)))
            J = J.reshape(-1, 6)
            assert not np.any((J != 0) & ~P)


def test_undeclared_primitive_falls_back_dense_and_warns_once():
    from wengert.core.primitive import Structural
    from wengert.sparse import patterns

    cumsum = Structural(
        "cumsum_without_pattern",
        lambda x: np.cumsum(x, axis=-1),
        vjps=(None,),
        jvp=None,
    )
    g = lambda x: cumsum(x[:3]) + x[3:]
    patterns._warned.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        P = dense(W.jacobian_sparsity(g)(np.ones(6)))
        W.jacobian_sparsity(g)(np.ones(6))
    msgs = [str(w.message) for w in caught if "declares no dependency pattern" in str(w.message)]
    assert len(msgs) == 1 and "cumsum_without_pattern" in msgs[0]
    assert P[:, :3].all() and np.array_equal(P[:, 3:], np.eye(3, dtype=bool))


def test_checkpointed_functions_are_seen_through():
    f = W.checkpoint(lambda x: x * 2.0)
    P = dense(W.jacobian_sparsity(lambda x: f(x[:3]) + x[3:])(np.ones(6)))
    assert np.array_equal(P, np.hstack([np.eye(3, dtype=bool)] * 2))


# --- Hessian patterns -----------------------------------------------------------------------------


def test_hessian_patterns():
    H = dense(W.hessian_sparsity(rosen)(np.ones(7)))
    assert np.array_equal(H, dense(tri(7)))
    assert np.array_equal(dense(W.hessian_sparsity(lambda x: W.sum(W.exp(x)))(np.ones(4))), np.eye(4))
    mixed = dense(W.hessian_sparsity(lambda x: W.sum(x[:3] * x[3:]))(np.ones(6)))
    want = np.zeros((6, 6), bool)
    want[[0, 1, 2, 3, 4, 5], [3, 4, 5, 0, 1, 2]] = True
    assert np.array_equal(mixed, want)
    assert dense(W.hessian_sparsity(lambda x: W.sum(x) ** 2)(np.ones(4))).all()
    assert not dense(W.hessian_sparsity(lambda x: W.sum(3.0 * x - x[::-1]))(np.ones(4))).any()
    # a nonlinear value that does not reach the output adds nothing
    unused = lambda x: (W.exp(x), W.sum(x))[1]
    assert not dense(W.hessian_sparsity(unused)(np.ones(3))).any()


def test_hessian_pattern_through_a_wide_group():
    # every element of a 256-group feeds all 256 outputs of the softmax: counts past 255 stay exact
    w = np.linspace(1.0, 2.0, 256)
    H = dense(W.hessian_sparsity(lambda x: W.sum(W.softmax(x, axis=0) * w))(np.ones(256)))
    assert H.all()


def test_hessian_pattern_of_a_sparse_quadratic_is_its_matrix():
    n = 30
    A = sp.random_array((n, n), density=0.08, rng=rng)
    A = (A + A.T + sp.eye_array(n)).toarray()
    f = lambda x: 0.5 * W.sum(x * (A @ x))
    assert np.array_equal(dense(W.hessian_sparsity(f)(np.ones(n))), A != 0)


def test_hessian_sparsity_needs_a_scalar():
    with pytest.raises(ValueError, match="scalar"):
        W.hessian_sparsity(lambda x: x**2)(np.ones(3))


# --- colouring ------------------------------------------------------------------------------------


def test_colourings_reach_the_lower_bound():
    T = tri(50)
    c = coloring.column_coloring(T)
    assert c.max() + 1 == 3 == lower_bound(T) and is_column_coloring(T, c)
    L = sp.csr_array(laplacian_pattern(10))
    c = coloring.column_coloring(L)
    assert lower_bound(L) == 5 and c.max() + 1 == 5 and is_column_coloring(L, c)
    # DSATUR alone on the stencil's column-conflict graph (the band colouring would need 21), where
    # greedy colouring in natural order does not reach the bound
    C = coloring._conflict_graph(L)
    d = coloring.dsatur(C)
    assert d.max() + 1 == 5
    natural = -np.ones(100, int)
    for v in range(100):
        used = set(natural[C.indices[C.indptr[v] : C.indptr[v + 1]]])
        natural[v] = min(set(range(100)) - used)
    assert natural.max() + 1 > 5


def test_every_differentiable_primitive_declares_its_pattern():
    from wengert.core import primitives as P
    from wengert.core.primitive import Elementwise, Structural

    table = [getattr(P, name) for name in P.__all__]
    missing = [
        p.name for p in table if isinstance(p, (Elementwise, Structural)) and not hasattr(p, "sparsity")
    ]
    assert not missing


def test_star_colourings_are_valid():
    for seed in range(5):
        r = np.random.default_rng(seed)
        A = sp.random_array((40, 40), density=0.06, rng=r) != 0
        A = (A + A.T + sp.eye_array(40, dtype=bool)).tocsr()
        c = coloring.star_coloring(A)
        assert is_star_coloring(A, c)
    assert coloring.star_coloring(tri(20)).max() + 1 == 3
    # a two-coloured path on four vertices is not a star colouring
    P4 = tri(4)
    assert not is_star_coloring(P4, np.array([0, 1, 0, 1]))
    assert is_star_coloring(P4, np.array([0, 1, 2, 0]))


# --- values ---------------------------------------------------------------------------------------


def test_sparse_jacobian_matches_dense_bratu():
    k = 20
    F = lambda x: bratu(x, k)
    x = rng.uniform(0, 1, k * k)
    J = W.sparse_jacobian(F)
    got = J(x)
    assert sp.issparse(got) and got.format == "csr"
    assert J.colors == 5 and J.mode == "forward"
    np.testing.assert_allclose(got.toarray(), W.jacfwd(F)(x), rtol=1e-12, atol=1e-9)
    x2 = rng.uniform(0, 1, k * k)  # the cached plan at another point
    np.testing.assert_allclose(J(x2).toarray(), W.jacfwd(F)(x2), rtol=1e-12, atol=1e-9)


def test_sparse_jacobian_picks_reverse_for_a_dense_row():
    f = lambda x: W.concatenate([W.sin(x), W.reshape(W.sum(x * x), (1,))])
    x = rng.standard_normal(40)
    J = W.sparse_jacobian(f)
    got = J(x)
    assert J.mode == "reverse" and J.colors == 2
    np.testing.assert_allclose(got.toarray(), W.jacfwd(f)(x), rtol=1e-12)
    fwd = W.sparse_jacobian(f, mode="forward")
    np.testing.assert_allclose(fwd(x).toarray(), W.jacfwd(f)(x), rtol=1e-12)
    assert fwd.colors == 40


def test_sparse_hessian_matches_dense():
    x = rng.uniform(-1, 1, 500)
    H = W.sparse_hessian(rosen)
    got = H(x)
    assert H.colors == 3
    np.testing.assert_allclose(got.toarray(), W.hessian(rosen)(x), rtol=1e-12, atol=1e-9)
    n = 60
    A = sp.random_array((n, n), density=0.05, rng=rng)
    A = (A + A.T + 4 * sp.eye_array(n)).toarray()
    f = lambda x: 0.5 * W.sum(x * (A @ x)) + W.sum(W.cos(x[:-3] * x[3:]))
    y = rng.standard_normal(n)
    Hs = W.sparse_hessian(f)
    np.testing.assert_allclose(Hs(y).toarray(), W.hessian(f)(y), rtol=1e-10, atol=1e-10)


def _full_gather(S, x):
    """The nonzeros read from the whole compressed product, as before any splitting."""
    plan = S._last
    return np.take(np.asarray(plan.run(x)).reshape(-1), plan.pick)


def test_only_the_varying_nonzeros_are_computed_bratu():
    k = 20
    F = lambda x: bratu(x, k)
    J = W.sparse_jacobian(F)
    J(rng.uniform(0, 1, k * k))
    dec = J._last.decompress
    # the Laplacian's nonzeros are constants of x: only the diagonal (its exp term) is computed
    assert dec is not None and len(dec.var_pos) == k * k and dec.source.count("np.exp") == 1
    assert "[5," not in dec.source  # no statement on the whole compressed product
    for x in (rng.uniform(-2, 2, k * k), np.zeros(k * k)):
        got = J(x)
        assert np.array_equal(got.data, _full_gather(J, x))  # the same floating-point operations
        np.testing.assert_allclose(got.toarray(), W.jacfwd(F)(x), rtol=1e-12, atol=1e-9)


_SPLIT_A = rng.standard_normal((40, 40)) * (rng.uniform(size=(40, 40)) < 0.1)


@pytest.mark.parametrize(
    "f, kind, split",
    [
        # reverse mode (a dense row): the linear couplings and the row of sum(x) are constants
        (
            lambda x: W.concatenate([2 * x[1:] - x[:-1] + W.sin(x[1:]), W.reshape(W.sum(x), (1,))]),
            "J",
            1,
        ),
        # two of three nonzeros per row vary: one sweep and a gather
        (lambda x: x[2:] - 2 * x[1:-1] + x[:-2] + W.sin(x[1:-1]) * x[2:], "J", 0),
        # values that depend on x through piecewise-constant primitives vary
        (lambda x: W.sign(x) * x + x[::-1], "J", 1),
        (lambda x: W.where(x > 0, 2.0, 3.0) * x + x[::-1], "J", 1),
        (lambda x: 2.0 * x + W.abs(x) * W.exp(x), "J", 0),
        (lambda x: W.sum(x[1:] * x[:-1]) + W.sum(W.exp(x)), "H", 1),
        (lambda x: 0.5 * W.sum(x * (_SPLIT_A @ x)) + W.sum(W.cos(x[:-3] * x[3:])), "H", 1),
    ],
)
def test_split_decompression_matches_the_full_gather_and_dense(f, kind, split):
    n = 40
    S = W.sparse_jacobian(f) if kind == "J" else W.sparse_hessian(f)
    S(rng.standard_normal(n))
    # 1: at most half of the nonzeros vary, and only those are computed at each call
    assert (S._last.decompress is not None) == bool(split)
    dense = W.jacfwd(f) if kind == "J" else W.hessian(f)
    for x in (rng.standard_normal(n), -rng.standard_normal(n)):
        got = S(x)
        assert np.array_equal(got.data, _full_gather(S, x))
        np.testing.assert_allclose(got.toarray(), dense(x), rtol=1e-12, atol=1e-12)


def test_split_decompression_is_exact_across_primitives():
    n = 12
    A = rng.standard_normal((n, n)) * (rng.random((n, n)) < 0.25)
    perm = rng.permutation(n)
    T = lambda x: W.transpose(W.reshape(x, (3, 4)))
    fs = [
        lambda x: A @ x + W.tanh(x) * 0.5,
        lambda x: W.tanh(A @ x) * x[::-1] + W.sum(x[:2]),
        lambda x: W.maximum(x, 0.5 * x[::-1]) + 3.0 * x[perm] + A @ x,
        lambda x: W.where(x > 0, W.exp(x), 2.0 * x) + x[perm] - x + A @ x,
        lambda x: W.reshape(T(x) * W.cos(T(x)[:, ::-1]) + 2.0 * T(x), (n,)) + A @ x,
        lambda x: W.concatenate([x[1:] - x[:-1], W.reshape(W.sum(x * x), (1,)), 4.0 * x[:3]]),
        lambda x: W.reshape(W.softmax(W.reshape(x, (4, 3)), axis=1), (n,)) + 2.0 * x[perm] + A @ x,
    ]
    for f in fs:
        J = W.sparse_jacobian(f)
        J(rng.standard_normal(n))
        for _ in range(3):
            x = rng.standard_normal(n)
            got = J(x)
            assert np.array_equal(got.data, _full_gather(J, x))
            np.testing.assert_allclose(got.toarray(), W.jacfwd(f)(x).reshape(-1, n), atol=1e-12)


def test_a_linear_function_runs_no_sweep_per_call():
    A = rng.standard_normal((8, 8)) * (rng.random((8, 8)) < 0.3)
    J = W.sparse_jacobian(lambda x: A @ x + 3.0 * x[::-1])
    J(rng.standard_normal(8))
    assert J._last.decompress.run is None and len(J._last.decompress.var_pos) == 0
    np.testing.assert_allclose(J(rng.standard_normal(8)).toarray(), A + 3.0 * np.eye(8)[::-1])
    H = W.sparse_hessian(lambda x: 0.5 * W.sum(x * (A @ x)))
    np.testing.assert_allclose(H(rng.standard_normal(8)).toarray(), (A + A.T) / 2, atol=1e-15)
    assert H._last.decompress.run is None


def test_results_do_not_share_index_arrays():
    f = lambda x: x[1:] * x[:-1] + x[1:]
    J = W.sparse_jacobian(f)
    x = np.ones(6)
    x[2] = 0.0  # one entry is exactly zero here
    A = J(x)
    A.eliminate_zeros()  # in place: must not change the plan the next calls use
    assert A.nnz == 9
    y = np.arange(1.0, 7.0)
    np.testing.assert_array_equal(J(y).toarray(), W.jacfwd(f)(y))
    H = W.sparse_hessian(rosen)
    B = H(np.zeros(5))
    B.indices[:] = 0
    np.testing.assert_allclose(H(y[:5]).toarray(), W.hessian(rosen)(y[:5]), rtol=1e-12)


def test_no_constant_is_taken_from_an_overflow_at_setup():
    k = 6
    F = lambda x: bratu(x, k)
    x = np.zeros(k * k)
    x[7] = 800.0  # exp overflows: inf times the seed's zeros is nan in the compressed product
    J = W.sparse_jacobian(F)
    with np.errstate(all="ignore"):
        J(x)
    assert J._last.decompress is None
    y = rng.uniform(0, 1, k * k)
    np.testing.assert_allclose(J(y).toarray(), W.jacfwd(F)(y), rtol=1e-12, atol=1e-9)


def test_banded_case_with_100000_variables():
    n = 100_000
    f = lambda x: x[2:] * W.exp(x[1:-1]) - x[:-2] ** 2
    x = rng.uniform(-1, 1, n)
    J = W.sparse_jacobian(f)
    got = J(x)
    assert got.shape == (n - 2, n) and got.nnz == 3 * (n - 2) and J.colors == 3
    i = np.arange(n - 2)
    np.testing.assert_allclose(got[i, i + 2], np.exp(x[1:-1]))
    np.testing.assert_allclose(got[i, i + 1], x[2:] * np.exp(x[1:-1]))
    np.testing.assert_allclose(got[i, i], -2 * x[:-2])


def test_errors():
    with pytest.raises(TypeError, match="floating"):
        W.sparse_jacobian(lambda x: x)(np.arange(3))
    with pytest.raises(ValueError, match="mode"):
        W.sparse_jacobian(lambda x: x, mode="sideways")


def test_missing_scipy_names_the_extra(monkeypatch):
    from wengert.sparse._scipy import require_scipy

    monkeypatch.setitem(sys.modules, "scipy.sparse", None)
    with pytest.raises(ImportError, match=r"wengert\[sparse\]"):
        require_scipy()


# --- vertex elimination ---------------------------------------------------------------------------


def bottleneck(x):
    """Many inputs, a long chain through one value, many outputs: Markowitz beats both modes."""
    s = x[0].sin()
    for xi in x[1:]:
        s = s + xi.sin()
    for _ in range(6):
        s = (s * 0.5).tanh()
    return [s * (k + 1.0) for k in range(len(x))]


def lighthouse(x):
    nu, gamma, omega, t = x
    tn = (omega * t).sin() / (omega * t).cos()
    y1 = nu * tn / (gamma - tn)
    return [y1, gamma * y1]


def as_array_fn(f):
    return lambda v: W.stack(f([v[i] for i in range(v.shape[0])]))


def random_dag(seed, n_in=4, n_mid=25, n_out=3):
    r = np.random.default_rng(seed)
    plan = []
    for j in range(n_mid):
        a, b = r.integers(0, n_in + j, size=2)
        plan.append((int(r.integers(0, 4)), int(a), int(b)))
    outs = r.choice(n_in + n_mid, size=n_out, replace=False)

    def f(x):
        vals = list(x)
        for op, a, b in plan:
            u, v = vals[a], vals[b]
            vals.append([u * v, u + v.sin(), (u * 0.3).tanh() - v, u.exp() * 0.1 + v][op])
        return [vals[i] for i in outs]

    return f


def test_elimination_beats_forward_and_reverse_on_a_bottleneck():
    x = np.linspace(0.1, 0.5, 5)
    g = W.linearize(bottleneck, x)
    c = g.counts()
    assert c["markowitz"] < min(c["forward"], c["reverse"])
    assert c["forward"] <= c["forward (vector mode)"] and c["reverse"] <= c["reverse (vector mode)"]
    J = W.elimination_jacobian(bottleneck, order="markowitz")(x)
    np.testing.assert_allclose(J, W.jacfwd(as_array_fn(bottleneck))(x), rtol=1e-12)


def test_elimination_on_the_lighthouse():
    x = np.array([2.0, 3.0, 0.5, 1.0])
    g = W.linearize(lighthouse, x)
    assert g.count("markowitz") < min(g.count("forward"), g.count("reverse"))
    for order in ("forward", "reverse", "markowitz", "best"):
        np.testing.assert_allclose(g.jacobian(order), W.jacfwd(as_array_fn(lighthouse))(x), rtol=1e-12)


def test_elimination_on_random_dags():
    fewer = 0
    for seed in range(20):
        f = random_dag(seed)
        x = np.random.default_rng(seed).uniform(0.2, 0.9, 4)
        g = W.linearize(f, x)
        best = g.count("best")
        assert best <= min(g.count("forward"), g.count("reverse"))
        fewer += best < min(g.count("forward"), g.count("reverse"))
        np.testing.assert_allclose(
            g.jacobian("best"), W.jacfwd(as_array_fn(f))(x), rtol=1e-10, atol=1e-12
        )
        np.testing.assert_allclose(
            g.jacobian("markowitz"), g.jacobian("forward"), rtol=1e-10, atol=1e-12
        )
    assert fewer > 0


def test_elimination_order_errors():
    g = W.linearize(lighthouse, [2.0, 3.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="order"):
        g.count("sideways")
    with pytest.raises(ValueError, match="every intermediate"):
        g.count([g.n])
    with pytest.raises(TypeError, match="Nodes"):
        W.linearize(lambda x: [1.0], [1.0])


# --- the applications -----------------------------------------------------------------------------


def load_example(name):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_newton_on_bratu_converges_in_a_handful_of_iterations():
    ex = load_example("sparse_newton")
    u, its, J = ex.solve_bratu(30, verbose=False)
    assert its <= 6 and J.colors == 5
    assert np.linalg.norm(np.asarray(ex.bratu_residual(u, 30))) < 1e-6
    assert 0.7 < u.max() < 0.85  # the lower branch of Bratu's problem at lambda = 6


def test_sparse_hessian_newton_on_chained_rosenbrock():
    ex = load_example("sparse_newton")
    x, its, H = ex.minimize_rosenbrock(2000, verbose=False)
    assert np.abs(x - 1).max() < 1e-6 and H.colors == 3 and its < 40


@pytest.mark.slow
def test_sparse_hessian_at_a_million_variables():
    ex = load_example("sparse_newton")
    x = rng.uniform(-1, 1, 10**6)
    H = W.sparse_hessian(ex.chained_rosenbrock)
    h = H(x)
    v = rng.standard_normal(10**6)
    np.testing.assert_allclose(h @ v, W.hvp(ex.chained_rosenbrock, x, v), rtol=1e-10, atol=1e-8)
    assert H.colors == 3 and h.nnz == 3 * 10**6 - 2


def test_convolution_pooling_and_fold_patterns():
    from wengert.nn import conv as C

    w = rng.standard_normal((4, 2, 3, 3))
    w[:, :, 0, 0] = 0.0  # a constant kernel's zeros are respected

    def conv(v):
        return W.reshape(C.conv2d(W.reshape(v, (2, 2, 5, 5)), w, padding=1), (-1,))

    def conv_grad(v):  # the input gradient ends in `fold` (col2im)
        g = W.grad(lambda x: W.sum(C.conv2d(x, w, padding=1, stride=2) ** 2))
        return W.reshape(g(W.reshape(v, (2, 2, 5, 5))), (-1,))

    for f in (conv, conv_grad):
        P = dense(W.jacobian_sparsity(f)(np.ones(100)))
        J = W.jacfwd(f)(rng.standard_normal(100)) != 0
        assert np.array_equal(P, J)
    pool = lambda v: W.reshape(C.max_pool2d(W.reshape(v, (1, 2, 6, 6)), 2), (-1,))
    P = dense(W.jacobian_sparsity(pool)(np.ones(72)))
    assert (P.sum(axis=1) == 4).all() and (P.sum(axis=0) == 1).all()  # each output on its window
    assert not np.any((W.jacfwd(pool)(rng.standard_normal(72)) != 0) & ~P)
    f = lambda v: W.sum(C.conv2d(W.reshape(v, (1, 2, 5, 5)), w, padding=1) ** 2)
    H = dense(W.hessian_sparsity(f)(np.ones(50)))
    assert np.array_equal(H, W.hessian(f)(rng.standard_normal(50)) != 0)
