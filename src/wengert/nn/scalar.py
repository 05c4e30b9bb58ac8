"""The paper's neural network of scalar nodes: `Neuron`, `Layer`, `MLP`, with `mse_loss` and `SGD`.

Every weight and bias is a `wengert.Node`, so a forward pass records one graph node per multiplication
and addition, and `loss.backward()` fills in every parameter's `grad` by reverse accumulation. This is
the paper's construction: small and readable, and slow by design (one Python object per number). The
tensor layers in `wengert.nn` (`Linear`, `MLP`, ...) do the same work on numpy arrays.
"""

from __future__ import annotations

import itertools
import math
import operator
import random
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..scalar import Node

__all__ = ["ACTIVATIONS", "INITS", "MLP", "SGD", "Layer", "Neuron", "mse_loss"]

#: Activation name -> function on a Node ("linear" is the identity).
ACTIVATIONS: dict[str, Callable[[Node], Node]] = {
    "linear": lambda z: z,
    "relu": Node.relu,
    "sigmoid": Node.sigmoid,
    "tanh": Node.tanh,
}

Seed = int | np.random.Generator | random.Random | None
INITS = ("uniform", "paper")


def _activation(name: str) -> Callable[[Node], Node]:
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(k) for k in sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; valid activations are {valid}") from None


def _positive_int(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _python_rng(seed: Seed):
    """A `random.Random` for the paper's initialisation; the `random` module itself for None, so that
    `random.seed(...)` before building a network reproduces it, as in the paper's scripts."""
    if seed is None or seed is random:
        return random
    if isinstance(seed, random.Random):
        return seed
    if isinstance(seed, np.random.Generator):
        return random.Random(int(seed.integers(2**63)))
    return random.Random(seed)


class Neuron:
    """One neuron: activation(weights · x + bias) over scalar nodes.

    `init="uniform"` (the default) starts the weights uniform in [-1/sqrt(input_dim),
    1/sqrt(input_dim)] (the usual fan-in scaling, so sigmoid and tanh do not start saturated) and the
    bias at 0. `init="paper"` is the paper's: each weight `random.gauss(0, 1)`, the bias
    `random.random()`. `seed` is an int, a shared numpy `Generator` or `random.Random`, or None (numpy's
    or Python's global state).
    """

    def __init__(
        self, input_dim: int, activation: str = "relu", seed: Seed = None, init: str = "uniform"
    ) -> None:
        self.input_dim = _positive_int(input_dim, "Neuron: input_dim")
        self.activation = activation
        self._act = _activation(activation)
        if init == "paper":
            rng = _python_rng(seed)
            values = [rng.gauss(0.0, 1.0) for _ in range(self.input_dim)]
            bias = rng.random()
        elif init == "uniform":
            if isinstance(seed, random.Random):
                seed = seed.getrandbits(63)
            bound = 1.0 / math.sqrt(self.input_dim)
            values = np.random.default_rng(seed).uniform(-bound, bound, self.input_dim).tolist()
            bias = 0.0
        else:
            raise ValueError(f"Neuron: init must be one of {', '.join(map(repr, INITS))}, got {init!r}")
        self.weights = [Node(v, name=f"w{i}") for i, v in enumerate(values)]
        self.bias = Node(bias, name="b")

    @property
    def w(self) -> list[Node]:
        """The weights (another name for `weights`)."""
        return self.weights

    @property
    def b(self) -> Node:
        """The bias (another name for `bias`)."""
        return self.bias

    def __call__(self, x: Sequence[Node | float]) -> Node:
        """activation(sum_i w_i * x_i + b) for an input of `input_dim` nodes or numbers."""
        if len(x) != self.input_dim:
            raise ValueError(f"Neuron: expected an input of length {self.input_dim}, got {len(x)}")
        # b + w0*x0 + w1*x1 + ...: one mul and one add node per input, as in the paper
        return self._act(sum(map(operator.mul, self.weights, x), self.bias))

    def parameters(self) -> list[Node]:
        """The weights, then the bias."""
        return [*self.weights, self.bias]

    def zero_grad(self) -> None:
        """Set the grad of every parameter to 0."""
        for p in self.parameters():
            p.grad = 0.0

    def __repr__(self) -> str:
        return f"Neuron(input_dim={self.input_dim}, activation={self.activation!r})"


def _numpy_rng(seed: Seed) -> np.random.Generator:
    if isinstance(seed, random.Random):
        seed = seed.getrandbits(63)
    return np.random.default_rng(seed)


class Layer:
    """`output_dim` neurons reading the same input; calling it returns their outputs as a list."""

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        activation: str = "relu",
        seed: Seed = None,
        init: str = "uniform",
    ) -> None:
        self.input_dim = _positive_int(input_dim, "Layer: input_dim")
        self.output_dim = _positive_int(output_dim, "Layer: output_dim")
        self.activation = activation
        rng = _python_rng(seed) if init == "paper" else _numpy_rng(seed)
        self.neurons = [
            Neuron(input_dim, activation, seed=rng, init=init) for _ in range(self.output_dim)
        ]

    def __call__(self, x: Sequence[Node | float]) -> list[Node]:
        """The output of every neuron on input `x` (a list of `output_dim` nodes)."""
        return [n(x) for n in self.neurons]

    def parameters(self) -> list[Node]:
        """Every neuron's parameters, neuron by neuron."""
        return [p for n in self.neurons for p in n.parameters()]

    def zero_grad(self) -> None:
        """Set the grad of every parameter to 0."""
        for p in self.parameters():
            p.grad = 0.0

    def __repr__(self) -> str:
        return (
            f"Layer(input_dim={self.input_dim}, output_dim={self.output_dim}, "
            f"activation={self.activation!r})"
        )


class MLP:
    """A multi-layer perceptron of `Layer`s: `sizes = [inputs, hidden..., outputs]`.

    Hidden layers use `activation`, the last layer `final_activation`. Calling it returns the last
    layer's outputs as a list (one node for a single output).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        final_activation: str = "linear",
        seed: Seed = None,
        init: str = "uniform",
    ) -> None:
        sizes = [_positive_int(s, "MLP: every size") for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs an input and an output size, got {sizes!r}")
        _activation(activation)
        _activation(final_activation)
        rng = _python_rng(seed) if init == "paper" else _numpy_rng(seed)
        self.sizes = sizes
        self.layers = [
            Layer(
                n_in, n_out, activation if i < len(sizes) - 2 else final_activation, seed=rng, init=init
            )
            for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes))
        ]

    def __call__(self, x: Sequence[Node | float]) -> list[Node]:
        """The network's outputs on input `x` (a list of `sizes[-1]` nodes)."""
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list[Node]:
        """Every layer's parameters, layer by layer."""
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self) -> None:
        """Set the grad of every parameter to 0."""
        for p in self.parameters():
            p.grad = 0.0

    def __repr__(self) -> str:
        acts = [layer.activation for layer in self.layers]
        return f"MLP(sizes={self.sizes}, activations={acts})"


def _flat(x) -> list:
    """Nodes and numbers of a (possibly nested) list or tuple, in order."""
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _flat(item)]
    return [x]


def mse_loss(preds: Node | float | Sequence, targets: Node | float | Sequence) -> Node:
    """Mean squared error mean_i (preds_i - targets_i)**2 as a Node.

    `preds` and `targets` are single values or (nested) lists of nodes and numbers with the same
    number of entries.
    """
    p, t = _flat(preds), _flat(targets)
    if len(p) != len(t):
        raise ValueError(f"mse_loss: {len(p)} predictions but {len(t)} targets")
    if not p:
        raise ValueError("mse_loss: no predictions")
    total = 0.0
    for pi, ti in zip(p, t):
        d = pi - ti
        total = total + d * d
    if not isinstance(total, Node):
        raise TypeError("mse_loss: neither predictions nor targets contain a Node")
    return total * (1.0 / len(p))


class SGD:
    """Plain gradient descent on Nodes: `step()` does value -= lr * grad for every parameter."""

    def __init__(self, params: Iterable[Node], lr: float = 0.01) -> None:
        self.params = list(params)
        for p in self.params:
            if not isinstance(p, Node):
                raise TypeError(f"SGD: parameters must be Nodes, got {type(p).__name__}")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ValueError(f"SGD: lr must be a positive number, got {lr!r}")
        self.lr = float(lr)

    def step(self) -> None:
        """Move every parameter against its gradient."""
        lr = self.lr
        for p in self.params:
            p.value -= lr * p.grad

    def zero_grad(self) -> None:
        """Set the grad of every parameter to 0."""
        for p in self.params:
            p.grad = 0.0

    def __repr__(self) -> str:
        return f"SGD({len(self.params)} parameters, lr={self.lr})"
