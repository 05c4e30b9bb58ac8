"""Tests for wengert.viz: DOT generation and Graphviz rendering of computation graphs."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import wengert.viz as viz
from wengert.viz import Graph, draw_graph, node_label_lines

HAS_DOT = shutil.which("dot") is not None


class FakeNode:
    """Minimal stand-in with the duck-typed interface of wengert.Node."""

    def __init__(
        self,
        value: float,
        parents: tuple[FakeNode, ...] = (),
        op: str | None = None,
        name: str | None = None,
        grad: float = 0.0,
    ) -> None:
        self.value, self.parents, self.op, self.name, self.grad = value, parents, op, name, grad

    def topological_sort(self) -> list[FakeNode]:
        order: list[FakeNode] = []
        seen: set[int] = set()

        def visit(n: FakeNode) -> None:
            if id(n) not in seen:
                seen.add(id(n))
                for p in n.parents:
                    visit(p)
                order.append(n)

        visit(self)
        return order


def paper_graph() -> tuple[FakeNode, dict[str, FakeNode]]:
    """a = (x + y) ** z - w with w, x, y, z = 2, 3, 4, 2, gradients filled in by hand."""
    w = FakeNode(2.0, name="w", grad=-1.0)
    x = FakeNode(3.0, name="x", grad=14.0)
    y = FakeNode(4.0, name="y", grad=14.0)
    z = FakeNode(2.0, name="z", grad=49 * np.log(7))
    s = FakeNode(7.0, (x, y), "add", grad=14.0)
    p = FakeNode(49.0, (s, z), "pow", grad=1.0)
    a = FakeNode(47.0, (p, w), "sub", name="a", grad=1.0)
    return a, {"w": w, "x": x, "y": y, "z": z, "s": s, "p": p, "a": a}


def node_ids(source: str) -> dict[str, str]:
    """Map each value node's first label line (its name) to its DOT id."""
    ids = {}
    for m in re.finditer(r"^\s*(v\d+) \[.*?<B>(.*?)</B>", source, re.M):
        ids[m.group(2)] = m.group(1)
    return ids


def test_source_has_values_grads_and_names() -> None:
    a, _ = paper_graph()
    src = draw_graph(a).source
    assert src.startswith("digraph") and src.rstrip().endswith("}")
    assert "rankdir=LR;" in src
    for text in ("value 47", "value 49", "value 7", "value 3", "value 4", "value 2"):
        assert text in src
    for text in ("grad 14", "grad -1", "grad 1", f"grad {49 * np.log(7):.4g}"):
        assert text in src
    assert "grad 95.35" in src  # 49 ln 7 = 95.3496..., formatted with :.4g
    assert set(node_ids(src)) == {"a", "w", "x", "y", "z"}
    # Op ellipses with their symbols.
    for symbol in ('label="+"', 'label="^"', 'label="-"'):
        assert symbol in src


def test_edges_parent_to_op_to_child() -> None:
    a, n = paper_graph()
    src = draw_graph(a).source
    order = a.topological_sort()
    vid = {id(node): f"v{i}" for i, node in enumerate(order)}
    edges = re.findall(r"^\s*(\w+) -> (\w+);", src, re.M)
    expected = []
    for child in order:
        for parent in child.parents:
            expected.append((vid[id(parent)], vid[id(child)] + "_op"))
        if child.op is not None:
            expected.append((vid[id(child)] + "_op", vid[id(child)]))
    assert sorted(edges) == sorted(expected)
    assert len(edges) == 2 + 2 + 2 + 3  # three binary ops: 6 operand edges + 3 result edges
    # Operands enter in order: (x + y) before z for pow.
    pow_op = vid[id(n["p"])] + "_op"
    pow_edges = [e for e in edges if e[1] == pow_op]
    assert pow_edges == [(vid[id(n["s"])], pow_op), (vid[id(n["z"])], pow_op)]


def test_show_grad_false_and_rankdir() -> None:
    a, _ = paper_graph()
    src = draw_graph(a, rankdir="TB", show_grad=False).source
    assert "grad" not in src and "rankdir=TB;" in src
    with pytest.raises(ValueError, match="rankdir"):
        draw_graph(a, rankdir="XY")


def test_labels_are_escaped() -> None:
    x = FakeNode(1.0, name='<b>&"x"|{y}</b>', grad=0.5)
    y = FakeNode(2.0, (x,), op='we"ird\\op')
    src = draw_graph(y).source
    assert "&lt;b&gt;&amp;&quot;x&quot;|{y}&lt;/b&gt;" in src
    assert "<b>" not in src
    assert 'label="we\\"ird\\\\op"' in src


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz dot not installed")
def test_escaped_labels_are_valid_dot(tmp_path: Path) -> None:
    x = FakeNode(1.0, name='<b>&"x"|{y}</b>\nnew', grad=0.5)
    y = FakeNode(2.0, (x,), op='we"ird\\op')
    svg = draw_graph(y).render(tmp_path / "e.svg").read_text()
    assert "&lt;b&gt;" in svg


def test_shared_and_repeated_parents() -> None:
    x = FakeNode(3.0, name="x")
    sq = FakeNode(9.0, (x, x), "mul")
    out = FakeNode(12.0, (sq, x), "add", name="out")
    src = draw_graph(out).source
    assert src.count("[shape=plain") == 3  # x drawn once
    assert len(re.findall(r"^\s*v0 -> v1_op;", src, re.M)) == 2  # x * x: two operand edges


def test_number_formatting_and_label_function() -> None:
    n = FakeNode(1 / 3, name="third", grad=123456789.0)
    assert node_label_lines(n) == ["third", "value 0.3333", "grad 1.235e+08"]
    assert node_label_lines(FakeNode(2.0), show_grad=False) == ["value 2"]
    assert viz.format_number(None) == "?"
    assert viz.format_number(np.array([1.0, 2.5])) == "[1, 2.5]"
    assert viz.format_number(np.zeros((3, 4))) == "array(3, 4)"

    def custom(node: Any, show_grad: bool) -> list[str]:
        return [f"custom {node.value:.1f}"]

    assert "custom 3.0" in draw_graph(FakeNode(3.0), label=custom).source


def test_without_topological_sort_method() -> None:
    class Bare:
        def __init__(self, value: float, parents: tuple = (), op: str | None = None) -> None:
            self.value, self.parents, self.op, self.name, self.grad = value, parents, op, None, 0.0

    x = Bare(1.0)
    y = Bare(2.0, (x,), "exp")
    z = Bare(3.0, (y, x), "mul")
    src = draw_graph(z).source
    assert src.count("[shape=plain") == 3 and 'label="exp"' in src and 'label="*"' in src


def test_deep_graph_no_recursion_error() -> None:
    class Bare:
        def __init__(self, value: float, parents: tuple = ()) -> None:
            self.value, self.parents, self.name, self.grad = value, parents, None, 0.0
            self.op = "neg" if parents else None

    node = Bare(0.0)
    for i in range(5000):
        node = Bare(float(i), (node,))
    assert draw_graph(node).source.count("_op -> ") == 5000


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz dot not installed")
@pytest.mark.parametrize("ext", ["svg", "png"])
def test_render_files(tmp_path: Path, ext: str) -> None:
    a, _ = paper_graph()
    out = draw_graph(a).render(tmp_path / f"graph.{ext}")
    assert out == tmp_path / f"graph.{ext}"
    data = out.read_bytes()
    if ext == "svg":
        assert b"<svg" in data and b"value 47" in data
    else:
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert os.listdir(tmp_path) == [f"graph.{ext}"]  # no temp file left behind


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz dot not installed")
def test_render_explicit_format_and_repr_svg(tmp_path: Path) -> None:
    a, _ = paper_graph()
    g = draw_graph(a)
    out = g.render(tmp_path / "picture", format="svg")
    assert out.read_bytes().lstrip().startswith(b"<?xml") or b"<svg" in out.read_bytes()
    svg = g._repr_svg_()
    assert svg is not None and "<svg" in svg


def test_render_dot_format_needs_no_graphviz(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    g = draw_graph(paper_graph()[0])
    assert (g.render(tmp_path / "g.dot")).read_text() == g.source


def test_missing_dot_gives_install_hint(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    g = draw_graph(paper_graph()[0])
    with pytest.raises(RuntimeError, match="apt-get install graphviz") as info:
        g.render(tmp_path / "g.svg")
    assert "brew install graphviz" in str(info.value)
    assert os.listdir(tmp_path) == []
    assert g._repr_svg_() is None


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported format 'bmpx'"):
        draw_graph(FakeNode(1.0)).render(tmp_path / "x.bmpx")


def test_graph_str_is_source() -> None:
    g = Graph("digraph { }\n")
    assert str(g) == g.source


def test_real_scalar_engine() -> None:
    wengert = pytest.importorskip("wengert")
    Node = getattr(wengert, "Node", None)
    if Node is None:
        pytest.skip("wengert.Node is not available yet")
    w, x, y, z = Node(2.0, name="w"), Node(3.0, name="x"), Node(4.0, name="y"), Node(2.0, name="z")
    a = (x + y) ** z - w
    a.backward()
    src = draw_graph(a).source
    assert "value 47" in src
    assert "x" in node_ids(src) and "w" in node_ids(src)
    for text in ("grad 14", "grad -1", f"grad {49 * np.log(7):.4g}"):
        assert text in src
    if HAS_DOT:
        assert "<svg" in (draw_graph(a)._repr_svg_() or "")


def test_tensor_graph_shows_ops_shapes_values_and_leaf_grads():
    import numpy as np

    import wengert as W

    x = W.tensor([1.0, 2.0], requires_grad=True)
    w = W.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    y = (W.tanh(W.linear(x, w)) * 2).sum()
    y.backward(retain_graph=True)
    src = W.draw_graph(y).source
    for text in ("linear", "tanh", "sum", "(3, 2) float32", "() float32", "value [1, 2]", "grad ["):
        assert text in src
    assert src.count("->") == 9
    with pytest.raises(ValueError, match="requires_grad"):
        W.draw_graph(W.tensor([1.0]) * 2)
    y.backward()  # frees the saved values; the structure stays drawable


def test_tensor_graph_after_a_plain_backward():
    import numpy as np

    import wengert as W

    x = W.tensor([1.0, 2.0], requires_grad=True)
    w = W.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    y = (W.tanh(W.linear(x, w)) * 2).sum()
    before = W.draw_graph(y).source
    y.backward()  # the paper's order: backward, then look at the graph
    src = W.draw_graph(y).source
    for text in ('label="linear"', 'label="tanh"', 'label="*"', 'label="sum"', "(3, 2) float32"):
        assert text in src
    assert src.count("->") == before.count("->") == 9
    assert src.count("[shape=plain") == before.count("[shape=plain") == 6
    assert src.count("value freed") == 3  # linear, tanh and * outputs; the root keeps its value
    assert "value 5.97" in src
    g = w.grad.numpy()
    assert f"grad [[{g[0, 0]:.4g}, {g[0, 1]:.4g}]" in src  # the leaves' grads are drawn
    assert f"grad [{x.grad.numpy()[0]:.4g}, " in src
    # a second backward still refuses: the values its rules need are gone
    with pytest.raises(W.FreedGraphError, match="retain_graph"):
        y.backward()
