"""docs/primitives.md documents every primitive of the table, with its kind, its Taylor support and its
guarded rules as the code has them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wengert.core import primitives as P
from wengert.core.primitive import Elementwise, NonDiff, Primitive, Structural

DOC = Path(__file__).resolve().parents[1] / "docs" / "primitives.md"
ROW = re.compile(r"^\| `(\w+)` \|(.*)\|\s*$")
COLUMNS = ("kind", "arguments", "domain", "rule", "kinks", "taylor")


def documented() -> dict[str, dict[str, str]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            cells = [c.strip() for c in m.group(2).split("|")]
            if len(cells) == len(COLUMNS):
                rows[m.group(1)] = dict(zip(COLUMNS, cells))
    return rows


TABLE = {p.name: p for p in vars(P).values() if isinstance(p, Primitive)}


def kind(p: Primitive) -> str:
    if isinstance(p, NonDiff):
        return "piecewise-constant"
    return "elementwise" if isinstance(p, Elementwise) else "structural"


def has_taylor_rule(p: Primitive) -> bool:
    return isinstance(p, (Elementwise, NonDiff)) or p.taylor is not None


def test_every_primitive_is_documented():
    assert set(TABLE) - set(documented()) == set()


def test_no_documented_primitive_is_missing_from_the_table():
    assert set(documented()) - set(TABLE) == set()


@pytest.mark.parametrize("name", sorted(TABLE))
def test_row_states_kind_taylor_support_and_guard(name):
    p, row = TABLE[name], documented()[name]
    assert row["kind"] == kind(p)
    assert row["taylor"].startswith("yes" if has_taylor_rule(p) else "no")
    assert all(row[c] for c in COLUMNS)
    if isinstance(p, Elementwise):
        assert ("guarded" in row["kinks"]) == p.guard
    assert isinstance(p, (Elementwise, Structural, NonDiff))


# --- the README's code runs as printed -----------------------------------------------------------------

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_taste() -> str:
    """The first Python block after the README's "A taste" heading."""
    text = README.read_text(encoding="utf-8")
    after = text[text.index("## A taste") :]
    start = after.index("```python\n") + len("```python\n")
    return after[start : after.index("```", start)]


def test_readme_taste_runs_to_the_end_without_graphviz(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere on the PATH
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_taste(), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "47.0 14.0 95.3" in out  # the paper's numbers, printed by the snippet's first print
    assert "tensor([[2., 4.]," in out  # the tensor gradient
    assert "[-400. 1002. -400.]" in out  # the Rosenbrock Hessian's middle row
    assert out.splitlines()[-2] == "2.0"  # no perturbation confusion
    assert (tmp_path / "graph.dot").read_text().startswith("digraph")
