"""Pictures of computation graphs (Graphviz DOT), like the paper's Figures 1 and 2.

Every value node is drawn as a small table with its name, value and gradient; every operation
is drawn as a separate ellipse holding the op symbol, with arrows from the operands into the
op and from the op into its result.

The DOT text is produced here and needs nothing installed. :meth:`Graph.render` and inline
display in Jupyter run the Graphviz ``dot`` program.

Nodes are duck-typed: anything with ``.value``, ``.grad``, ``.parents``, ``.op`` and ``.name``
works (``.topological_sort()`` is used when present). To draw other node kinds, pass a
``label`` function to :func:`draw_graph`, or extend :func:`node_label_lines`.
"""

from __future__ import annotations

import contextlib
import html
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Graph", "OP_SYMBOLS", "draw_graph", "format_number", "node_label_lines"]

# Op name -> symbol shown in the op ellipse; unknown ops are shown by name.
OP_SYMBOLS: dict[str, str] = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "div": "/",
    "pow": "^",
    "neg": "neg",
    "matmul": "@",
}

_RANKDIRS = ("LR", "RL", "TB", "BT")
_FORMATS = ("svg", "png", "pdf", "dot")
_INSTALL_HINT = (
    "the Graphviz 'dot' program was not found on PATH; install Graphviz to render graphs "
    "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; "
    "conda: conda install -c conda-forge graphviz). Graph.source holds the DOT text meanwhile."
)


def format_number(x: Any) -> str:
    """Format a number (or a small array) compactly with ``:.4g``; ``?`` when missing."""
    if x is None:
        return "?"
    arr = np.asarray(x)
    if arr.ndim == 0:
        try:
            return f"{float(arr):.4g}"
        except (TypeError, ValueError):
            return str(x)
    if arr.size <= 6:
        return np.array2string(arr, separator=", ", formatter={"all": lambda v: f"{v:.4g}"})
    return f"array{arr.shape}"


def node_label_lines(node: Any, show_grad: bool = True) -> list[str]:
    """Return the text lines shown for a value node: name (if any), value, and grad.

    Array values (future tensor nodes) with more than six elements show their shape instead.
    """
    lines = []
    name = getattr(node, "name", None)
    if name:
        lines.append(str(name))
    lines.append(f"value {format_number(getattr(node, 'value', None))}")
    if show_grad:
        lines.append(f"grad {format_number(getattr(node, 'grad', None))}")
    return lines


def _op_name(op: Any) -> str:
    """An op's name: the string itself, or an operation object's `name` (else its class name)."""
    if isinstance(op, str):
        return op
    name = getattr(op, "name", None)
    return name if isinstance(name, str) else type(op).__name__.lower()


def _topological_order(root: Any) -> list[Any]:
    """Nodes reachable from ``root``, each after its parents, ending with ``root``."""
    sort = getattr(root, "topological_sort", None)
    if callable(sort):
        return list(sort())
    # Iterative DFS so deep graphs do not hit the recursion limit.
    order: list[Any] = []
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for parent in reversed(tuple(getattr(node, "parents", ()) or ())):
            if id(parent) not in seen:
                stack.append((parent, False))
    return order


def _dot_string(s: str) -> str:
    """Quote ``s`` as a DOT double-quoted string."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _html_label(lines: Sequence[str], bold_first: bool) -> str:
    """An HTML-like DOT label: one table cell per line, text escaped."""
    rows = []
    for i, line in enumerate(lines):
        text = html.escape(line, quote=True)
        if i == 0 and bold_first:
            text = f"<B>{text}</B>"
        rows.append(f"<TR><TD>{text}</TD></TR>")
    return (
        '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">'
        + "".join(rows)
        + "</TABLE>>"
    )


class Graph:
    """A drawn graph: DOT text in :attr:`source`, rendered by :meth:`render`."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return f"<wengert.viz.Graph: {self.source.count(' -> ')} edges>"

    def pipe(self, format: str = "svg") -> bytes:
        """Run Graphviz ``dot`` on the source and return the rendered bytes."""
        format = format.lower()
        if format not in _FORMATS:
            raise ValueError(f"unsupported format {format!r}; use one of {', '.join(_FORMATS)}")
        if format == "dot":
            return self.source.encode("utf-8")
        dot = shutil.which("dot")
        if dot is None:
            raise RuntimeError(_INSTALL_HINT)
        proc = subprocess.run(
            [dot, f"-T{format}"],
            input=self.source.encode("utf-8"),
            capture_output=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise RuntimeError(f"Graphviz dot failed (exit {proc.returncode}): {err}")
        return proc.stdout

    def render(self, path: str | os.PathLike[str], format: str | None = None) -> Path:
        """Write the picture to ``path`` and return it as a ``Path``.

        ``format`` (``svg``, ``png``, ``pdf``, or ``dot`` for the DOT text) defaults to the
        file extension. The file is replaced atomically, so a failure leaves no partial file.
        Raises ``RuntimeError`` when Graphviz is not installed.
        """
        path = Path(path)
        if format is None:
            format = path.suffix.lstrip(".").lower() or "svg"
            if format == "gv":
                format = "dot"
        data = self.pipe(format)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        while True:
            tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
            try:
                # 0o666 minus the umask: the permissions a plain open() would give.
                fd = os.open(tmp, flags, 0o666)
                break
            except FileExistsError:
                continue
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path

    def _repr_svg_(self) -> str | None:
        """SVG for Jupyter; None (so Jupyter shows text) when Graphviz is unavailable."""
        try:
            return self.pipe("svg").decode("utf-8")
        except (RuntimeError, OSError, subprocess.SubprocessError):
            return None


def draw_graph(
    root: Any,
    rankdir: str = "LR",
    show_grad: bool = True,
    label: Callable[[Any, bool], list[str]] = node_label_lines,
) -> Graph:
    """Draw the computation graph that ends at ``root``.

    Each value node shows the lines returned by ``label(node, show_grad)`` (by default its
    name, value and grad, numbers with ``:.4g``); each node with an ``op`` gets an ellipse
    with the op symbol, fed by its parents in order. ``rankdir`` is the Graphviz layout
    direction: ``LR`` (left to right), ``RL``, ``TB`` or ``BT``.
    """
    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(_RANKDIRS)}, got {rankdir!r}")
    if hasattr(root, "_node") and hasattr(root, "_trace"):  # a Tensor: draw its recorded graph
        root = _tensor_view(root)
        if label is node_label_lines:
            label = _tensor_label
    nodes = _topological_order(root)
    ids = {id(n): f"v{i}" for i, n in enumerate(nodes)}

    out = [
        "digraph wengert {",
        f"  rankdir={rankdir};",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [arrowsize=0.7, color="#555555"];',
    ]
    for node in nodes:
        nid = ids[id(node)]
        op = getattr(node, "op", None)
        lines = label(node, show_grad)
        has_name = bool(getattr(node, "name", None))
        # Inputs and constants (no op) are tinted to tell them from computed values.
        fill = "#dbe9f6" if op is None else "#ffffff"
        out.append(
            f'  {nid} [shape=plain, style=filled, fillcolor="{fill}", '
            f"label={_html_label(lines, bold_first=has_name)}];"
        )
        if op is None:
            continue
        name = _op_name(op)
        symbol = OP_SYMBOLS.get(name, name)
        out.append(
            f"  {nid}_op [shape=ellipse, margin=0.05, width=0.3, height=0.3, "
            f'style=filled, fillcolor="#fff2cc", label={_dot_string(symbol)}];'
        )
        for parent in getattr(node, "parents", ()) or ():
            if id(parent) not in ids:
                raise ValueError(f"parent of {nid} is missing from the topological order of the root")
            out.append(f"  {ids[id(parent)]} -> {nid}_op;")
        out.append(f"  {nid}_op -> {nid};")
    out.append("}")
    return Graph("\n".join(out) + "\n")


class _TensorNode:
    """A recorded tensor operation seen as a node of the picture: op, parents, shape, value, grad."""

    __slots__ = ("grad", "name", "op", "parents", "value")


_FREED = object()  # a value the tape let go of after backward


def _recorded_parents(n: Any) -> tuple:
    """A recorded node's parents; after a backward that released it, the parents it had."""
    ps = n.parents
    return ps if ps is not None else getattr(n, "released", None) or ()


def _tensor_view(t: Any) -> _TensorNode:
    """The graph recorded for tensor `t`, as picture nodes (values where the tape kept them).

    After a backward without `retain_graph` the graph's structure, ops, shapes and the leaves' grads
    are still drawn; the intermediate values it freed show as freed.
    """
    if t._node is None or t._trace is None or not hasattr(t._node, "prim"):
        raise ValueError(
            "draw_graph: this tensor is not part of a recorded graph; compute it from tensors "
            "created with requires_grad=True"
        )
    # iterative depth-first order, each node after its parents (as core.graph.toposort, but also
    # through released nodes)
    order: list[Any] = []
    seen = {id(t._node)}
    stack = [(t._node, iter(_recorded_parents(t._node)))]
    while stack:
        node, it = stack[-1]
        for p in it:
            if id(p) not in seen:
                seen.add(id(p))
                stack.append((p, iter(_recorded_parents(p))))
                break
        else:
            stack.pop()
            order.append(node)
    views: dict[int, _TensorNode] = {}
    for n in order:
        v = _TensorNode()
        v.op = None if n.prim is None else n.prim.name
        v.parents = tuple(views[id(p)] for p in _recorded_parents(n))
        v.name = f"{tuple(n.shape)} {np.dtype(n.dtype).name}"
        freed = n.prim is not None and n.parents is None
        v.value = _FREED if freed else n.ans
        v.grad = n.grad
        views[id(n)] = v
        if n.args is not None:  # a saved argument is the value of that parent
            for p, i in zip(n.parents, n.argnums):
                if isinstance(n.args[i], (np.ndarray, np.generic)):
                    views[id(p)].value = n.args[i]
        elif freed:  # a released node's saved arguments are gone (a leaf's value lives in its tensor)
            for p in n.released:
                if views[id(p)].value is None and p.prim is not None:
                    views[id(p)].value = _FREED
    root = views[id(t._node)]
    root.value = np.asarray(t._value)
    return root


def _tensor_label(node: _TensorNode, show_grad: bool = True) -> list[str]:
    lines = [node.name]
    if node.value is _FREED:
        lines.append("value freed")
    elif node.value is not None:
        lines.append(f"value {format_number(node.value)}")
    if show_grad and node.op is None:
        lines.append(f"grad {format_number(node.grad)}")
    return lines
