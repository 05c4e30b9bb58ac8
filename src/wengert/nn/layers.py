"""Layers: `Linear`, activations, `Dropout`, `Sequential` and the multi-layer perceptron `MLP`."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .. import ops
from ..tensor import Tensor
from . import init as _init
from .functional import dropout, embedding
from .module import Module, Parameter

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "Dropout",
    "Embedding",
    "Flatten",
    "GELU",
    "Identity",
    "LeakyReLU",
    "Linear",
    "ModuleDict",
    "ModuleList",
    "ReLU",
    "Sequential",
    "SiLU",
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
    """exp(x) / sum(exp(x)) along `axis` (PyTorch's `dim`)."""

    def __init__(self, axis: int = -1, *, dim: int | None = None) -> None:
        super().__init__()
        self.axis = axis if dim is None else dim

    def forward(self, x: Any) -> Tensor:
        return ops.softmax(x, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Identity(Module):
    """Returns its input."""

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Merge the axes start_dim..end_dim into one: by default (n, d1, d2, ...) to (n, d1 * d2 * ...)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x: Any) -> Tensor:
        return ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class GELU(Module):
    """x Phi(x), Phi the standard normal CDF; approximate="tanh" for the tanh approximation."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return ops.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x sigmoid(x) (also called swish), elementwise."""

    def forward(self, x: Any) -> Tensor:
        return ops.silu(x)


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> Tensor:
        return ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Embedding(Module):
    """A lookup table: row i of `weight` (num_embeddings, embedding_dim) for each integer index i.

    `weight` starts N(0, 1) as in PyTorch. With `padding_idx`, that row starts at zero and receives no
    gradient.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        seed: _init.Seed = None,
    ) -> None:
        super().__init__()
        if num_embeddings < 1 or embedding_dim < 1:
            raise ValueError(
                f"Embedding: sizes must be positive, got ({num_embeddings}, {embedding_dim})"
            )
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx {padding_idx} is outside [0, {num_embeddings})"
                )
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = padding_idx
        w = _init.normal((self.num_embeddings, self.embedding_dim), seed=_init.rng(seed))
        if padding_idx is not None:
            w[padding_idx] = 0.0
        self.weight = Parameter(w)

    def forward(self, indices: Any) -> Tensor:
        return embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


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


class ModuleList(Module):
    """A list of modules, each registered under its position ("0", "1", ...) like PyTorch's."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _items(self) -> list[Module]:
        return list(self.children())

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        items = self._items()
        items.insert(index, module)
        self._reset(items)

    def _reset(self, items: list[Module]) -> None:
        for name in list(self._module_names):
            delattr(self, name)
        for m in items:
            self.append(m)

    def __getitem__(self, i: int | slice) -> Any:
        items = self._items()
        return ModuleList(items[i]) if isinstance(i, slice) else items[i]

    def __setitem__(self, i: int, module: Module) -> None:
        items = self._items()
        items[i] = module
        self._reset(items)

    def __delitem__(self, i: int | slice) -> None:
        items = self._items()
        del items[i]
        self._reset(items)

    def __len__(self) -> int:
        return len(self._module_names)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._items())


class ModuleDict(Module):
    """A dict of modules, each registered under its key like PyTorch's."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for k, m in pairs:
            self[k] = m

    def __getitem__(self, key: str) -> Module:
        if key not in self._module_names:
            raise KeyError(key)
        return self.__dict__[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not key.isidentifier():
            raise KeyError(f"ModuleDict: keys must be identifiers (attribute names), got {key!r}")
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        self[key]
        delattr(self, key)

    def pop(self, key: str) -> Module:
        m = self[key]
        delattr(self, key)
        return m

    def __contains__(self, key: object) -> bool:
        return key in self._module_names

    def __len__(self) -> int:
        return len(self._module_names)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._module_names))

    def keys(self) -> list[str]:
        return list(self._module_names)

    def values(self) -> list[Module]:
        return [self.__dict__[k] for k in self._module_names]

    def items(self) -> list[tuple[str, Module]]:
        return [(k, self.__dict__[k]) for k in self._module_names]


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
# (GELU, SiLU and LeakyReLU are layers too; MLP's choices stay the paper's three)


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
