"""The paper's MNIST classifier on tensors, exactly as the paper states it.

Andrews, Hu and Ye classify digits with y = sigmoid(W2 · sigmoid(W1 · x)), a softmax over y and
the categorical cross-entropy against one-hot targets, trained by plain stochastic gradient descent
on the raw pixels (scaled to [0, 1]). `PaperClassifier` is that network (each layer with its bias,
as the paper's neurons have) and `softmax_cross_entropy` that loss; `paper_loss` takes integer
labels and one-hot encodes them, for `wengert.train.train`.

The sigmoid after W2 keeps y in (0, 1), so the softmax never grows confident (the loss cannot fall
below -log(e / (e + 9)) ≈ 1.46 for ten classes) and learning is slower than with free logits; the
default model of `wengert train` (`nn.MLP`, logits straight into the softmax) differs for that reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import ops
from ..tensor import Tensor, as_tensor
from . import init as _init
from .layers import Linear, Sequential, Sigmoid

__all__ = ["PaperClassifier", "paper_loss", "softmax_cross_entropy"]


class PaperClassifier(Sequential):
    """y = sigmoid(W2 · sigmoid(W1 · x + b1) + b2), the paper's classifier; `sizes` is (inputs,
    hidden, classes).

    Its output lies in (0, 1); the paper puts a softmax and the categorical cross-entropy on top
    (`softmax_cross_entropy`). Weights start Glorot-uniform, biases at zero; `seed` reproduces them.
    """

    def __init__(self, sizes: Sequence[int] = (784, 256, 10), seed: _init.Seed = None) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) != 3 or min(sizes) < 1:
            raise ValueError(
                f"PaperClassifier: sizes must be (inputs, hidden, classes), all positive, got {sizes}"
            )
        rng = _init.rng(seed)
        n_in, hidden, classes = sizes
        super().__init__(
            Linear(n_in, hidden, init="xavier", seed=rng),
            Sigmoid(),
            Linear(hidden, classes, init="xavier", seed=rng),
            Sigmoid(),
        )
        object.__setattr__(self, "sizes", sizes)

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}"


def softmax_cross_entropy(y: Any, targets: Any) -> Tensor:
    """Mean over the batch of -Σₖ targetₖ · log softmax(y)ₖ: the categorical cross-entropy of the
    softmax of `y` (batch, classes) against `targets` of the same shape (one-hot rows)."""
    y = as_tensor(y)
    t = np.asarray(targets.numpy() if isinstance(targets, Tensor) else targets)
    if t.shape != tuple(y.shape):
        raise ValueError(
            f"softmax_cross_entropy: targets of shape {t.shape} do not match outputs of shape "
            f"{tuple(y.shape)}; one-hot encode the labels (wengert.one_hot)"
        )
    t = t.astype(y.numpy().dtype, copy=False)
    return as_tensor(-ops.mean(ops.sum(ops.log_softmax(y, axis=-1) * t, axis=-1)))


def paper_loss(y: Any, labels: Any) -> Tensor:
    """`softmax_cross_entropy` against the one-hot encoding of integer `labels` (the form
    `wengert.train.train` passes its loss)."""
    y = as_tensor(y)
    return softmax_cross_entropy(y, np.eye(y.shape[-1], dtype=y.numpy().dtype)[np.asarray(labels)])
