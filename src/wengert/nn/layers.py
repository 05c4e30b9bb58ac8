"""Layers: `Linear`, activations, `Dropout`, `Sequential` and the multi-layer perceptron `MLP`."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .. import ops
from ..tensor import Tensor
from . import init as _init
from .functional import dropout
from .module import Module, Parameter

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "Dropout",
    "Flatten",
    "Identity",
    "Linear",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
]


class Linear(Module):
    """y = x @ weight.T + bias, with weight of shape (out_features, in_features) as in PyTorch.

    `init` chooses the weight initialiser: "kaiming" (He normal, std sqrt(2 / in_features): for ReLU),
    "xavier" (Glorot uniform: for sigmoid and tanh) or "torch" (PyTorch's default: U(-k, k),
    k = 1 / sqrt(in_features), for the bias too). Other biases start at zero. `seed` is an int or a
    numpy Generator.
    """

    INITS = ("kaiming", "xavier", "torch")

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str = "kaiming",
        seed: _init.Seed = None,
    ) -> None:
        super().__init__()
        if init not in self.INITS:
            raise ValueError(f"Linear: unknown init {init!r}; choose one of {', '.join(self.INITS)}")
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear: sizes must be positive, got ({in_features}, {out_features})")
        self.in_features, self.out_features = int(in_features), int(out_features)
        rng = _init.rng(seed)
        shape = (self.out_features, self.in_features)
        k = 1.0 / np.sqrt(self.in_features)
        if init == "kaiming":
            w = _init.kaiming_normal(shape, seed=rng)
        elif init == "xavier":
            w = _init.xavier_uniform(shape, seed=rng)
        else:
            w = _init.uniform(shape, -k, k, seed=rng)
        self.weight = Parameter(w)
        if bias:
            b = _init.uniform((self.out_features,), -k, k, rng) if init == "torch" else None
            self.bias = Parameter(b if b is not None else _init.zeros((self.out_features,)))
        else:
            self.bias = None

    def forward(self, x: Any) -> Tensor:
        return ops.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        bias = self.bias is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={bias}"


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x: Any) -> Tensor:
        return ops.relu(x)


class Sigmoid(Module):
    """1 / (1 + exp(-x)), elementwise."""

    def forward(self, x: Any) -> Tensor:
        return ops.sigmoid(x)


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x: Any) -> Tensor:
        return ops.tanh(x)


class Softmax(Module):
    """exp(x) / sum(exp(x)) along `axis`."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Any) -> Tensor:
        return ops.softmax(x, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Identity(Module):
    """Returns its input."""

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Reshape (n, d1, d2, ...) to (n, d1 * d2 * ...)."""

    def forward(self, x: Any) -> Tensor:
        return ops.reshape(x, (np.shape(x)[0], -1))


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability `p` and scale the rest by
    1 / (1 - p), so the expected value is unchanged; the identity in evaluation mode."""

    def __init__(self, p: float = 0.5, seed: _init.Seed = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = float(p)
        # None: draw from wengert's generator at each call, so wengert.manual_seed governs it
        self.rng = None if seed is None else _init.rng(seed)

    def forward(self, x: Any) -> Any:
        return dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Sequential(Module):
    """Modules applied in order; the i-th is registered under the name str(i)."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def forward(self, x: Any) -> Any:
        for m in self.children():
            x = m(x)
        return x

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._module_names)

    def __iter__(self) -> Iterator[Module]:
        return self.children()

    def __getitem__(self, i: int) -> Module:
        mods = list(self.children())
        return mods[i]


#: Activation names accepted by `MLP` (and the CLI), with their layer classes.
ACTIVATIONS: dict[str, type[Module]] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


class MLP(Sequential):
    """A multi-layer perceptron: Linear layers of `sizes` (input, hidden..., output) with `activation`
    between them and none after the last, so the output is logits (pair it with `cross_entropy`).

    Weights are initialised for the activation: He normal for "relu", Glorot uniform for "sigmoid" and
    "tanh"; biases at zero. `seed` makes the initialisation reproducible.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", seed: _init.Seed = None) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"MLP: unknown activation {activation!r}; valid: {', '.join(sorted(ACTIVATIONS))}"
            )
        rng = _init.rng(seed)
        how = "kaiming" if activation == "relu" else "xavier"
        layers: list[Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            layers.append(Linear(a, b, init=how, seed=rng))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
        super().__init__(*layers)
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "activation", activation)

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, activation={self.activation!r}"
