"""The functional forms of the layers and the losses (PyTorch's `torch.nn.functional`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..core.trace import raw
from ..ops import gelu, leaky_relu, linear, log_softmax, relu, sigmoid, silu, softmax, softplus, tanh
from ..tensor import Tensor
from . import init as _init
from .conv import adaptive_avg_pool2d, avg_pool2d, conv1d, conv2d, max_pool2d
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse_loss,
    nll_loss,
)
from .norm import batch_norm, layer_norm

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "conv1d",
    "conv2d",
    "layer_norm",
    "max_pool2d",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "dropout",
    "embedding",
    "gelu",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "relu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "tanh",
]


def dropout(x: Any, p: float = 0.5, training: bool = True, seed: _init.Seed = None) -> Tensor:
    """Inverted dropout: zero each element with probability `p` and scale the rest by 1 / (1 - p)
    when `training`; `x` unchanged otherwise."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    dtype = x.dtype if isinstance(x, (Tensor, np.ndarray)) else np.float32
    keep = _init.rng(seed).random(np.shape(x), dtype=np.float32) >= p
    return x * (keep.astype(dtype) * np.asarray(1.0 / (1.0 - p), dtype=dtype))


def embedding(indices: Any, weight: Any, padding_idx: int | None = None) -> Tensor:
    """Rows of `weight` (num_embeddings, dim) picked by integer `indices` (any shape): the result has
    shape indices.shape + (dim,). Rows picked at `padding_idx` pass no gradient to the table."""
    idx = np.asarray(raw(indices))
    n = np.shape(raw(weight))[0]
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(
            f"embedding: indices must be in [0, {n}) for a table of {n} rows, got values from "
            f"{idx.min()} to {idx.max()}"
        )
    rows = weight[idx]
    if padding_idx is None:
        return rows
    keep = (idx != padding_idx % n)[..., None]
    return ops.where(keep, rows, ops.stop_gradient(weight)[idx])
