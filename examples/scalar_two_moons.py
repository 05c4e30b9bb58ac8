"""Train the paper's scalar MLP (every weight a `wengert.Node`) on two moons or XOR.

Mean squared error against targets +-1, plain full-batch gradient descent; prints the loss and
accuracy as it goes and stops when the data is fitted. Run:

    python examples/scalar_two_moons.py                 # two moons, 100 points
    python examples/scalar_two_moons.py --data xor      # the four XOR points
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout

from wengert.nn.scalar import MLP, SGD, mse_loss


def two_moons(n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n points on two interleaved half circles with Gaussian noise; labels -1 and +1."""
    rng = np.random.default_rng(seed)
    n_top = n // 2
    t_top = np.pi * rng.random(n_top)
    t_bot = np.pi * rng.random(n - n_top)
    top = np.stack([np.cos(t_top), np.sin(t_top)], axis=1)
    bottom = np.stack([1.0 - np.cos(t_bot), 0.5 - np.sin(t_bot)], axis=1)
    x = np.concatenate([top, bottom]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([-np.ones(n_top), np.ones(n - n_top)])
    # centre and scale, as one would for any network
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x, y


def xor() -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return x, np.array([-1.0, 1.0, 1.0, -1.0])


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data", choices=("moons", "xor"), default="moons")
    parser.add_argument("--points", type=int, default=100, help="two-moons sample size")
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=300, help="at most this many full-batch steps")
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--target", type=float, default=None, help="stop at this accuracy")
    args = parser.parse_args(argv)

    if args.data == "xor":
        x, y = xor()
        sizes, target = [2, 8, 1], 1.0
    else:
        x, y = two_moons(args.points, args.noise, args.seed)
        sizes, target = [2, 16, 16, 1], 1.0
    target = args.target if args.target is not None else target

    # tanh on the output too: bounded outputs keep plain gradient descent stable at a large step
    model = MLP(sizes, activation="tanh", final_activation="tanh", seed=args.seed)
    opt = SGD(model.parameters(), lr=args.lr)
    print(f"{args.data}: {len(x)} points, {model}, {len(model.parameters())} parameters")

    rows = x.tolist()
    start = time.perf_counter()
    acc = 0.0
    for epoch in range(1, args.epochs + 1):
        preds = [model(row)[0] for row in rows]
        loss = mse_loss(preds, y.tolist())
        acc = float(np.mean(np.sign([p.value for p in preds]) == y))
        if epoch == 1 or epoch % 25 == 0 or acc >= target:
            print(f"epoch {epoch:4d}  loss {loss.value:.4f}  accuracy {acc:6.1%}")
        if acc >= target:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    elapsed = time.perf_counter() - start
    verdict = "fitted" if acc >= target else "stopped"
    print(f"{verdict} after {epoch} epochs in {elapsed:.1f} s: accuracy {acc:.1%}")
    return acc


if __name__ == "__main__":
    main()
