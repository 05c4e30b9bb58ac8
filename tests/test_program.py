"""Programs: tracing to the Wengert list, its listing, evaluation and simplification passes."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as W
from wengert.program import Literal, Program, Var


def article(x1, x2):
    return x1 * x2 + W.sin(x1)


def test_program_of_the_article_example():
    prog = W.program(article)(2.0, 3.0)
    assert isinstance(prog, Program)
    assert [e.prim.name for e in prog.equations] == ["mul", "sin", "add"]
    assert [v.name for v in prog.invars] == ["x1", "x2"]
    assert str(prog).splitlines() == [
        "program article(x1:f64[], x2:f64[])",
        "  v1:f64[] = mul x1 x2",
        "  v2:f64[] = sin x1",
        "  v3:f64[] = add v1 v2",
        "  return v3",
    ]
    assert prog(2.0, 3.0) == pytest.approx(6 + np.sin(2.0))
    assert prog(1.0, -1.0) == pytest.approx(-1 + np.sin(1.0))


def test_equations_name_table_primitives_inputs_and_static_params():
    from wengert.core import primitives as P

    x = np.ones((3, 4), np.float32)
    prog = W.program(lambda x: W.sum(x.T * 2.0, axis=0))(x)
    mul = prog.equations[1]
    assert prog.equations[0].prim is P.transpose_p
    assert mul.prim is P.mul and type(mul.inputs[1]) is Literal and mul.inputs[1].value == 2.0
    assert prog.equations[2].params == {"axis": 0, "keepdims": False}
    out = prog.outvars[0]
    assert isinstance(out, Var) and out.shape == (3,) and out.dtype == np.float32
    np.testing.assert_array_equal(prog(x), np.full(3, 8.0, np.float32))


def test_constants_are_hoisted_and_pytrees_kept():
    a = np.arange(6.0).reshape(2, 3)

    def f(params, x):
        return {"y": W.tanh(a @ x) * params["s"], "n": W.sum(x)}

    args = ({"s": np.float64(2.0)}, np.ones(3))
    prog = W.program(f)(*args)
    assert next(iter(prog.consts.values())) is a
    got = prog(*args)
    assert set(got) == {"y", "n"}
    np.testing.assert_allclose(got["y"], np.tanh(a @ np.ones(3)) * 2)
    assert len(prog.invars) == 2 and prog.invars[0].name == "params_0"


def test_derivative_program_reads_like_hand_written_code():
    prog = W.program(W.grad(article, argnums=(0, 1)))(2.0, 3.0)
    assert [e.prim.name for e in prog.equations] == ["cos", "add"]
    g = prog(2.0, 3.0)
    assert g == pytest.approx((3 + np.cos(2.0), 2.0))


def test_program_evaluates_inside_transforms():
    prog = W.program(article)(2.0, 3.0)
    g = W.grad(lambda a, b: prog(a, b), argnums=(0, 1))(2.0, 3.0)
    assert g == pytest.approx((3 + np.cos(2.0), 2.0))


def test_program_checks_its_arguments():
    prog = W.program(lambda x: x * 2)(np.ones(3))
    with pytest.raises(ValueError, match="shape"):
        prog(np.ones(4))
    with pytest.raises(TypeError, match="structure"):
        prog(np.ones(3), np.ones(3))


# --- evaluation-trace tables -----------------------------------------------------------------------


def test_trace_table_of_the_article_example_forward_and_reverse():
    t = W.trace_table(article, 2.0, 3.0, tangents=(1.0, 0.0), cotangent=1.0)
    assert [r.name for r in t.rows] == ["v₋₁", "v₀", "v₁", "v₂", "v₃"]
    assert [r.expression for r in t.rows] == ["x1", "x2", "v₋₁ * v₀", "sin(v₋₁)", "v₁ + v₂"]
    values = [float(r.value) for r in t.rows]
    assert values == pytest.approx([2.0, 3.0, 6.0, np.sin(2.0), 6 + np.sin(2.0)])
    tangents = [float(r.tangent) for r in t.rows]
    assert tangents == pytest.approx([1.0, 0.0, 3.0, np.cos(2.0), 3 + np.cos(2.0)])
    adjoints = [float(r.adjoint) for r in t.rows]
    assert adjoints == pytest.approx([3 + np.cos(2.0), 2.0, 1.0, 1.0, 1.0])
    assert t["v3"].value == pytest.approx(6 + np.sin(2.0))
    text = str(t)
    assert "v₃" in text and "tangent" in text and "adjoint" in text and "6.9093" in text


def test_trace_table_columns_only_when_asked():
    t = W.trace_table(article, 2.0, 3.0)
    assert all(r.tangent is None and r.adjoint is None for r in t.rows)
    assert "tangent" not in str(t) and "adjoint" not in str(t)
    with pytest.raises(ValueError, match="tangents"):
        W.trace_table(article, 2.0, 3.0, tangents=(1.0,))


def test_trace_table_on_arrays_agrees_with_grad():
    x = np.array([0.5, -1.0, 2.0])
    f = lambda x: W.sum(W.tanh(x) * x)
    t = W.trace_table(f, x, tangents=(np.ones(3),), cotangent=1.0)
    np.testing.assert_allclose(t.rows[0].adjoint, W.grad(f)(x))
    np.testing.assert_allclose(t.rows[-1].tangent, W.jvp(f, (x,), (np.ones(3),))[1])


# --- docs/programs.md shows what wengert prints --------------------------------------------------------


def test_docs_show_the_printed_program_sources_and_tables():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "programs.md").read_text(encoding="utf-8")

    def f(x1, x2):
        return x1 * x2 + W.sin(x1)

    g = W.grad(f, argnums=(0, 1))
    shown = [
        str(W.program(f)(2.0, 3.0)),
        W.source(f)(2.0, 3.0).strip(),
        W.source(g)(2.0, 3.0).strip(),
        str(W.program(g, simplify=False)(2.0, 3.0)),
        str(W.trace_table(f, 2.0, 3.0, tangents=(1.0, 0.0))),
        str(W.trace_table(f, 2.0, 3.0, cotangent=1.0)),
    ]
    for text in shown:
        assert text in doc, text


# --- simplification passes ---------------------------------------------------------------------------


def _names(prog):
    return [e.prim.name for e in prog.equations]


def test_dead_code_and_common_subexpressions():
    def f(x):
        unused = W.exp(x) * 3  # noqa: F841 - dead code
        a = W.sin(x) * W.sin(x)
        return a + W.sin(x)

    raw = W.program(f, simplify=False)(np.ones(3))
    assert _names(raw).count("sin") == 3 and "exp" in _names(raw)
    prog = W.program(f)(np.ones(3))
    assert _names(prog) == ["sin", "mul", "add"]
    np.testing.assert_allclose(prog(np.arange(3.0)), f(np.arange(3.0)))


def test_constant_folding_and_identities():
    c = np.arange(3.0)

    def f(x):
        k = W.exp(c) * 2  # constants only: computed at trace time
        y = (x * 1 + 0) / 1
        y = W.transpose(W.transpose(W.reshape(y, (3, 1))))
        y = W.reshape(W.reshape(y, (1, 3)), (3,))
        return W.stop_gradient(y) ** 1 * k

    prog = W.program(f)(np.ones(3))
    assert _names(prog) == ["mul"]
    np.testing.assert_allclose(next(iter(prog.consts.values())), np.exp(c) * 2)
    np.testing.assert_allclose(prog(c), f(c))


def test_identities_keep_dtype_and_shape():
    x32 = np.ones(3, np.float32)
    # x * 1.0 on float32 stays float32: removed; x + zeros((2, 3)) broadcasts: kept
    prog = W.program(lambda x: x * 1.0 + np.zeros((2, 3), np.float32))(x32)
    assert _names(prog) == ["add"] and prog.outvars[0].shape == (2, 3)
    # float32 * float64 ones promotes: kept
    prog = W.program(lambda x: x * np.ones(3))(x32)
    assert _names(prog) == ["mul"] and prog.outvars[0].dtype == np.float64


def test_transposes_fold_into_matmul_and_buffers_are_reused():
    w = np.ones((4, 3))
    j = W.jit(W.grad(lambda w, x: W.sum(W.tanh(x @ w.T))))
    src = j.source(w, np.ones((5, 3)))
    assert "x @ w.T" in src and ".T @ x" in src  # (x.T @ g).T became g.T @ x: no transpose left
    assert not any(ln.strip().endswith(".T") for ln in src.splitlines())
    assert "out=" in src  # an elementwise result written into a dead buffer
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_allclose(j(w, x), W.grad(lambda w, x: W.sum(W.tanh(x @ w.T)))(w, x))
    np.testing.assert_array_equal(x, np.random.default_rng(0).standard_normal((5, 3)))  # inputs intact


def test_traced_tensor_repr_shows_shape_and_dtype():
    seen = []
    W.program(lambda x: seen.append(repr(x)) or x)(np.ones(3, np.float32))
    assert seen == ["tensor(traced x:f32[3])"]


def test_functions_with_user_line_warnings_still_emit_numpy():
    # log, sqrt, arcsin, arccos and log1p report numpy's warnings at the user's line; their programs
    # are still emitted as plain numpy calls, and the article's second example tabulates
    def f(x):
        return W.sum(W.log(x) + W.sqrt(x) + W.arcsin(x / 2) + W.arccos(x / 2) + W.log1p(x))

    x = np.array([0.25, 0.5, 1.5])
    text = W.source(f)(x)
    for fn in ("np.log(", "np.sqrt(", "np.arcsin(", "np.arccos(", "np.log1p("):
        assert fn in text
    ns: dict = {}
    exec(text, ns)
    np.testing.assert_allclose(ns["f"](x), f(x))
    table = W.trace_table(
        lambda x1, x2: W.log(x1) + x1 * x2 - W.sin(x2), 2.0, 5.0, tangents=(1.0, 0.0), cotangent=1.0
    )
    assert "log(v₋₁)" in str(table) and table["v-1"].adjoint == 5.5  # df/dx1 = 1/x1 + x2
