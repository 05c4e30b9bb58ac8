"""The three figures of the paper "Automatic Differentiation" (Andrews, Hu, Ye), drawn by wengert.

Figure 1: the graph of a = (x + y)**z - w at w, x, y, z = 2, 3, 4, 2 after reverse accumulation,
          every node with its value and grad (a = 47, da/dx = 14, da/dz = 49 ln 7).
Figure 2: one neuron with two inputs, a sigmoid and a mean-squared-error loss, after a training step:
          the weights have moved once by SGD, the grads were reset, and the graph of the next forward
          and backward pass shows this step's grads only.
Figure 3: a handwritten 5 from the MNIST digits bundled with wengert.

The graphs are written as DOT text and, when Graphviz's `dot` is installed, as PNG; the digit as PNG
with matplotlib (the `plot` extra), else as a PGM image.

Run: python examples/paper_figures.py [--out docs]
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout

import numpy as np

from wengert import Node
from wengert.data import load_mnist
from wengert.nn.scalar import SGD, Neuron, mse_loss
from wengert.viz import Graph, draw_graph


def save_graph(graph: Graph, out: Path, stem: str) -> list[Path]:
    """The DOT text, and a PNG when Graphviz is installed."""
    paths = [graph.render(out / f"{stem}.dot")]
    if shutil.which("dot"):
        paths.append(graph.render(out / f"{stem}.png"))
    return paths


def figure1() -> tuple[Graph, Node]:
    """a = (x + y)**z - w after reverse accumulation."""
    w, x, y, z = (Node(v, name=n) for v, n in zip((2.0, 3.0, 4.0, 2.0), "wxyz"))
    a = (x + y) ** z - w
    a.name = "a"
    a.backward()
    assert (a.value, x.grad, y.grad, w.grad) == (47.0, 14.0, 14.0, -1.0)
    assert math.isclose(z.grad, 49 * math.log(7), rel_tol=1e-15)
    return draw_graph(a), a


def figure2(lr: float = 0.5) -> tuple[Graph, Node, Neuron]:
    """A two-input sigmoid neuron with an MSE loss, drawn after one SGD step and the next backward."""
    neuron = Neuron(2, activation="sigmoid", init="paper", seed=3)
    x = [Node(0.5, name="x1"), Node(-1.0, name="x2")]
    target = Node(1.0, name="target")
    opt = SGD(neuron.parameters(), lr=lr)
    loss = None
    for step in range(2):  # step 0 trains; step 1 is drawn, its grads its own
        out = neuron(x)
        out.name = "sigmoid(w·x + b)"
        loss = (out - target) ** 2  # the mean squared error of one output
        loss.name = "MSE loss"
        assert loss.value == mse_loss(out, target.value).value
        loss.zero_grad()  # the paper resets every grad of the graph (inputs too) before each step
        loss.backward()
        if step == 0:
            opt.step()
    return draw_graph(loss), loss, neuron


def figure3(out: Path) -> Path:
    """The first 5 of the bundled test digits, as an image."""
    _, _, x_test, y_test = load_mnist()
    digit = x_test[np.flatnonzero(y_test == 5)[0]].reshape(28, 28)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # a plain PGM needs nothing installed
        path = out / "paper_figure3.pgm"
        pixels = np.round(255 * (1 - digit)).astype(int)  # dark ink on white, as printed
        rows = "\n".join(" ".join(map(str, r)) for r in pixels)
        path.write_text(f"P2\n28 28\n255\n{rows}\n")
        return path
    fig, ax = plt.subplots(figsize=(2.4, 2.4), dpi=100)
    ax.imshow(digit, cmap="gray_r", vmin=0, vmax=1)
    ax.set_title("MNIST: a 5", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    path = out / "paper_figure3.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description="Draw the paper's Figures 1, 2 and 3.")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="output folder (default: docs)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    g1, a = figure1()
    written += save_graph(g1, args.out, "paper_figure1")
    print(f"Figure 1: a = {a.value:g}; {', '.join(map(str, written))}")

    g2, loss, neuron = figure2()
    paths = save_graph(g2, args.out, "paper_figure2")
    written += paths
    grads = ", ".join(f"{p.name} {p.grad:.4g}" for p in neuron.parameters())
    print(f"Figure 2: loss {loss.value:.4g}, grads {grads}; {', '.join(map(str, paths))}")

    path = figure3(args.out)
    written.append(path)
    print(f"Figure 3: {path}")
    return written


if __name__ == "__main__":
    main()
