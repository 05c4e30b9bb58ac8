"""The tutorial notebooks in docs/notebooks run, and print today what their stored outputs say.

Each notebook is executed afresh (nbclient, a python3 kernel with this checkout's sources first); every
code cell must run without error and its text outputs must equal the stored ones, so the tutorial
cannot drift from the library. Rich outputs (pictures) depend on what is installed and are not compared.

To store fresh outputs after changing a notebook: python tests/test_notebooks.py
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))
TIMEOUT = 300  # seconds per cell


def execute(path: Path):
    """The notebook at `path`, executed in a fresh kernel that imports wengert from this checkout."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    src = str(ROOT / "src")
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = src + (os.pathsep + old if old else "")
    try:
        NotebookClient(
            nb, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
        ).execute()
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    return nb


def text_outputs(nb) -> list[str]:
    """Per code cell, its printed text and plain-text results joined (a kernel may split a stream
    anywhere), with object addresses masked."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        texts = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                texts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                texts.append(out.get("data", {}).get("text/plain", ""))
            elif out.output_type == "error":
                texts.append(f"{out.ename}: {out.evalue}")
        cells.append(re.sub(r"0x[0-9a-f]+", "0x...", "".join(texts)))
    return cells


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_matches_its_stored_outputs(path: Path):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    stored = text_outputs(__import__("nbformat").read(path, as_version=4))
    assert any(stored), f"{path.name} has no stored outputs: run python tests/test_notebooks.py"
    fresh = text_outputs(execute(path))
    for i, (want, got) in enumerate(zip(stored, fresh)):
        assert got == want, f"{path.name}, code cell {i}: the output changed"
    assert len(stored) == len(fresh)


def test_there_are_notebooks_for_the_paper_and_the_transforms():
    assert {p.stem for p in NOTEBOOKS} >= {"paper", "transforms"}


if __name__ == "__main__":  # store fresh outputs
    import nbformat

    for path in [Path(p) for p in sys.argv[1:]] or NOTEBOOKS:
        nbformat.write(execute(path), path)
        print(f"executed and stored: {path}")
