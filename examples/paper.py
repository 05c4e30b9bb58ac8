"""The worked examples of the paper "Automatic Differentiation" (Andrews, Hu, Ye), with wengert.

1. f(x) = a*x + b at x = 4 with a = 2, b = 5: the forward trace (value 13, derivative 2), by forward
   accumulation over the graph (Algorithm 1) and by dual numbers.
2. The graph a = (x + y)**z - w at w, x, y, z = 2, 3, 4, 2: value 47, and by reverse accumulation
   (Algorithm 2) x.grad = y.grad = 14, z.grad = 49 ln 7, w.grad = -1; forward accumulation agrees.
   Its picture is written as DOT (and SVG when Graphviz `dot` is installed) to --out.
3. A neuron and a layer of scalar nodes run on an input, with the gradients of their parameters.

Run: python examples/paper.py [--out DIR]
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout

from wengert import Dual, Node, derivative
from wengert.nn.scalar import Layer, Neuron
from wengert.viz import draw_graph


def heading(title: str) -> None:
    print(f"\n{title}\n{'=' * len(title)}")


def check(label: str, got: float, want: float) -> None:
    ok = math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-12)
    print(f"  {label:<28} {got:>12.6g}   expected {want:.6g}  {'ok' if ok else 'MISMATCH'}")
    if not ok:
        raise SystemExit(f"paper example mismatch: {label} = {got!r}, expected {want!r}")


def linear_example() -> None:
    heading("1. f(x) = a*x + b at x = 4, a = 2, b = 5")
    a, b, x = Node(2.0, name="a"), Node(5.0, name="b"), Node(4.0, name="x")
    v1 = a * x
    v1.name = "v1 = a*x"
    f = v1 + b
    f.name = "f = v1 + b"

    print("Forward accumulation over the graph (Algorithm 1), seeding dx/dx = 1:")
    tangent = f.forward_accumulate(x)
    print(f"  {'node':<12} {'op':<6} {'value':>8} {'d/dx':>8}")
    for node in f.topological_sort():
        print(f"  {node.name:<12} {node.op or 'input':<6} {node.value:>8.6g} {tangent[node]:>8.6g}")
    check("f(4)", f.value, 13.0)
    check("f'(4), forward over graph", tangent[f], 2.0)

    print("Dual numbers (value, derivative), seeding x = 4 + 1e:")
    xd = Dual(4.0, 1.0)
    ax = 2.0 * xd
    fd = ax + 5.0
    for label, d in (("x", xd), ("a*x", ax), ("a*x + b", fd)):
        print(f"  {label:<12} {d!r}")
    check("f'(4), dual numbers", fd.deriv, 2.0)
    check("f'(4), derivative(f)", derivative(lambda t: 2.0 * t + 5.0)(4.0), 2.0)


def paper_graph(out_dir: Path) -> None:
    heading("2. a = (x + y)**z - w at w, x, y, z = 2, 3, 4, 2")
    w, x, y, z = (Node(v, name=n) for v, n in zip((2.0, 3.0, 4.0, 2.0), "wxyz"))
    s = x + y
    s.name = "x + y"
    p = s**z
    p.name = "(x + y)**z"
    a = p - w
    a.name = "a"
    a.backward()

    print("Reverse accumulation (Algorithm 2): adjoints from the output back to the inputs")
    print(f"  {'node':<12} {'op':<6} {'value':>10} {'da/dnode':>12}")
    for node in reversed(a.topological_sort()):
        print(f"  {node.name:<12} {node.op or 'input':<6} {node.value:>10.6g} {node.grad:>12.6g}")
    check("a", a.value, 47.0)
    check("da/dx", x.grad, 14.0)
    check("da/dy", y.grad, 14.0)
    check("da/dz = 49 ln 7", z.grad, 49.0 * math.log(7.0))
    check("da/dw", w.grad, -1.0)

    print("Forward accumulation, one sweep per input, gives the same gradient:")
    for node in (w, x, y, z):
        check(f"da/d{node.name}, forward", a.forward_accumulate(node)[a], node.grad)

    out_dir.mkdir(parents=True, exist_ok=True)
    graph = draw_graph(a)
    dot_path = graph.render(out_dir / "paper_graph.dot")
    print(f"  graph picture (DOT): {dot_path}")
    if shutil.which("dot"):
        print(f"  graph picture (SVG): {graph.render(out_dir / 'paper_graph.svg')}")
    else:
        print("  (install Graphviz `dot` to render it as SVG)")


def neurons() -> None:
    heading("3. A neuron and a layer of scalar nodes")
    inputs = [1.0, -2.0, 3.0]
    neuron = Neuron(3, activation="relu", seed=2)  # a seed where the neuron is active
    out = neuron(inputs)
    out.backward()
    print(f"{neuron} on x = {inputs}")
    print(f"  weights {[round(p.value, 4) for p in neuron.w]}, bias {neuron.b.value:.4g}")
    print(f"  output relu(w . x + b) = {out.value:.6g}")
    print(f"  d out / d w = {[round(p.grad, 4) for p in neuron.w]}, d out / d b = {neuron.b.grad:.4g}")
    # d relu(w.x + b) / d w_i = x_i where the neuron is active, else 0
    expected = inputs if out.value > 0 else [0.0] * 3
    for i, (p, want) in enumerate(zip(neuron.w, expected)):
        check(f"d out / d w{i}", p.grad, want)

    layer = Layer(3, 2, activation="sigmoid", seed=1)
    outs = layer(inputs)
    total = outs[0] + outs[1]
    total.backward()
    print(f"{layer} on x = {inputs}")
    print(f"  outputs {[round(o.value, 6) for o in outs]}")
    for k, (n, o) in enumerate(zip(layer.neurons, outs)):
        # sigmoid' = s (1 - s): d o_k / d w_ki = s (1 - s) x_i
        ds = o.value * (1.0 - o.value)
        print(f"  neuron {k}: d sum / d w = {[round(p.grad, 6) for p in n.w]}")
        for i, p in enumerate(n.w):
            check(f"neuron {k}: d sum / d w{i}", p.grad, ds * inputs[i])
    print(f"  {len(layer.parameters())} parameters")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The paper's worked examples.")
    parser.add_argument("--out", type=Path, default=None, help="where to write the graph picture")
    args = parser.parse_args(argv)
    out_dir = args.out if args.out is not None else Path(tempfile.mkdtemp(prefix="wengert-paper-"))
    linear_example()
    paper_graph(out_dir)
    neurons()
    print("\nAll of the paper's values reproduced.")


if __name__ == "__main__":
    main()
