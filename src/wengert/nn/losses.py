"""Loss functions, composed of wengert's differentiable operations (no derivative rules of their own).

Each takes `reduction`: "mean" (the default), "sum", or "none" (the per-element losses).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..core.trace import raw
from ..tensor import Tensor, as_tensor
from .module import Module

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "L1Loss",
    "MSELoss",
    "NLLLoss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "l1_loss",
    "mse_loss",
    "nll_loss",
]

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Any, reduction: str, who: str) -> Tensor:
    # as_tensor: plain numpy inputs give a (constant) Tensor too, so every loss returns a Tensor
    if reduction == "mean":
        return as_tensor(ops.mean(loss))
    if reduction == "sum":
        return as_tensor(ops.sum(loss))
    if reduction == "none":
        return as_tensor(loss)
    raise ValueError(
        f"{who}: reduction must be one of {', '.join(map(repr, _REDUCTIONS))}, got {reduction!r}"
    )


def _same_shape(a: Any, b: Any, who: str, names: tuple[str, str]) -> None:
    sa, sb = np.shape(a), np.shape(b)  # a box's own shape (one example inside vmap)
    if sa != sb:
        raise ValueError(
            f"{who}: {names[0]} of shape {sa} and {names[1]} of shape {sb} must have the same shape"
        )


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Squared error (input - target)**2, averaged (or summed) over all elements."""
    _same_shape(input, target, "mse_loss", ("input", "target"))
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Absolute error |input - target|, averaged (or summed) over all elements."""
    _same_shape(input, target, "l1_loss", ("input", "target"))
    return _reduce(ops.abs(input - target), reduction, "l1_loss")


def cross_entropy(logits: Any, labels: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy -log softmax(logits)[label] of logits (..., classes) against integer labels
    (...): the categorical cross-entropy of a softmax output, fused into one stable primitive."""
    return as_tensor(ops.cross_entropy(logits, labels, reduction=reduction))


def nll_loss(log_probs: Any, labels: Any, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood -log_probs[..., label] of log-probabilities (..., classes) (for instance
    from `log_softmax`) against integer labels (...)."""
    shape = np.shape(log_probs)
    if len(shape) < 1:
        raise ValueError("nll_loss: log_probs needs a class axis (the last one)")
    y = ops.check_labels(labels, shape[-1], "nll_loss", shape, name="input")
    picked = ops.sum(
        log_probs * ops.one_hot(y, shape[-1], dtype=np.result_type(raw(log_probs))), axis=-1
    )
    return _reduce(-picked, reduction, "nll_loss")


def binary_cross_entropy(probs: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """-(t log p + (1 - t) log(1 - p)) for probabilities p in [0, 1] and targets t.

    Each log is clamped at -100 as in PyTorch, so p = 0 or 1 gives a finite loss and gradient.
    """
    _same_shape(probs, targets, "binary_cross_entropy", ("probs", "targets"))
    p = np.asarray(raw(probs))
    if p.size and not (np.all(p >= 0) and np.all(p <= 1)):
        raise ValueError(
            "binary_cross_entropy: probs must lie in [0, 1] (got values from "
            f"{np.nanmin(p):.4g} to {np.nanmax(p):.4g}); for raw scores use "
            "binary_cross_entropy_with_logits"
        )
    with np.errstate(divide="ignore"):  # log(0) = -inf, then clamped
        log_p = ops.clip(ops.log(probs), -100.0, None)
        log_q = ops.clip(ops.log(1.0 - probs), -100.0, None)
    loss = -(targets * log_p + (1.0 - targets) * log_q)
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(logits: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """binary_cross_entropy(sigmoid(x), t) computed stably from the logits x as softplus(x) - t x
    (finite for any x; its gradient is sigmoid(x) - t)."""
    _same_shape(logits, targets, "binary_cross_entropy_with_logits", ("logits", "targets"))
    loss = ops.softplus(logits) - targets * logits
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


# --- the losses as modules (PyTorch's nn.CrossEntropyLoss, ...): `loss_fn = CrossEntropyLoss()` ----


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"{type(self).__name__}: reduction must be one of "
                f"{', '.join(map(repr, _REDUCTIONS))}, got {reduction!r}"
            )
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """`cross_entropy(logits, labels)`: logits (n, classes) against integer class labels (n,)."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return cross_entropy(input, target, self.reduction)


class NLLLoss(_Loss):
    """`nll_loss(log_probs, labels)`: log-probabilities (n, classes) against integer labels (n,)."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return nll_loss(input, target, self.reduction)


class MSELoss(_Loss):
    """`mse_loss(input, target)`: the squared error."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """`l1_loss(input, target)`: the absolute error."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return l1_loss(input, target, self.reduction)


class BCELoss(_Loss):
    """`binary_cross_entropy(probs, targets)`."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return binary_cross_entropy(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """`binary_cross_entropy_with_logits(logits, targets)`."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return binary_cross_entropy_with_logits(input, target, self.reduction)
