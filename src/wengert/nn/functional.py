"""The functional forms of the layers and the losses (PyTorch's `torch.nn.functional`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops import linear, log_softmax, relu, sigmoid, softmax, softplus, tanh
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
    "linear",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "relu",
    "sigmoid",
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
