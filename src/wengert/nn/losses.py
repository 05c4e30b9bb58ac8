"""Loss functions, composed of wengert's differentiable operations (no derivative rules of their own).

Each takes `reduction`: "mean" (the default), "sum", or "none" (the per-element losses).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..core.trace import is_abstract, raw
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


def _check_reduction(reduction: str, who: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"{who}: reduction must be one of {', '.join(map(repr, _REDUCTIONS))}, got {reduction!r}"
        )


def _class_weights(weight: Any, classes: int, who: str) -> np.ndarray | None:
    if weight is None:
        return None
    w = np.asarray(raw(weight))
    if w.shape != (classes,):
        raise ValueError(
            f"{who}: weight must have one entry per class, shape ({classes},), got {w.shape}"
        )
    return w


def _labels_kept(labels: Any, ignore_index: int, classes: int, shape: tuple, who: str):
    """(labels with the ignored ones set to class 0, which samples count: a 0/1 mask or None)."""
    name = "logits" if who == "cross_entropy" else "input"
    y = raw(labels)
    if is_abstract(y) or ops.is_batched(labels):  # values unknown here: select on them
        labels = ops.check_labels(labels, classes, who, shape, name)
        keep = ops.not_equal(labels, ignore_index)
        return ops.where(keep, labels, 0), keep
    y = np.asarray(y)
    if y.dtype.kind not in "iu" or not (y == ignore_index).any():
        return ops.check_labels(y, classes, who, shape, name), None
    keep = y != ignore_index
    return ops.check_labels(np.where(keep, y, 0), classes, who, shape, name), keep


def _nll(log_probs, labels, reduction, weight, ignore_index, who, smoothing=0.0) -> Tensor:
    """PyTorch's weighted negative log-likelihood with ignored labels, and the label-smoothing term."""
    _check_reduction(reduction, who)
    shape = np.shape(log_probs)
    if len(shape) < 1:
        raise ValueError(f"{who}: the scores need a class axis (the last one), got shape {shape}")
    classes = shape[-1]
    w = _class_weights(weight, classes, who)
    y, keep = _labels_kept(labels, ignore_index, classes, shape, who)
    dtype = np.result_type(raw(log_probs))
    hot = ops.one_hot(y, classes, dtype=dtype)
    # the weight of each sample: its class's weight (1 without weights), 0 when its label is ignored
    wy = None if w is None else ops.sum(hot * w.astype(dtype), axis=-1)
    if keep is not None:
        k = keep.astype(dtype) if type(keep) is np.ndarray else ops.astype(keep, dtype)
        wy = k if wy is None else wy * k
    nll = -ops.sum(log_probs * hot, axis=-1)
    if wy is not None:
        nll = nll * wy
    loss = nll
    if smoothing:
        uniform = -ops.sum(log_probs if w is None else log_probs * w.astype(dtype), axis=-1)
        if keep is not None:
            uniform = uniform * k
        loss = nll * (1.0 - smoothing) + uniform * (smoothing / classes)
    if reduction == "none":
        return as_tensor(loss)
    if reduction == "sum":
        return as_tensor(ops.sum(loss))
    # the mean over the samples that count, each counted with its weight (as PyTorch does)
    return as_tensor(ops.sum(loss) / (ops.sum(wy) if wy is not None else int(np.prod(shape[:-1]))))


def cross_entropy(
    logits: Any,
    labels: Any,
    reduction: str = "mean",
    *,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy -log softmax(logits)[label] of logits (..., classes) against integer labels
    (...): the categorical cross-entropy of a softmax output, fused into one stable primitive.

    PyTorch's options: `weight` (one per class: each sample's loss is multiplied by its class's
    weight, and the mean divides by the sum of those weights), `ignore_index` (samples with that label
    add nothing, to the sum or to the mean's count) and `label_smoothing` ε (the target is
    (1 - ε) one_hot(label) + ε / classes). Without them it is the one fused primitive. (Inside jit or
    vmap the labels' values are unknown when the function is traced: there the default ignore_index
    is not looked for, pass it explicitly to have labels ignored.)
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    plain = weight is None and label_smoothing == 0.0
    if plain:  # and no label to ignore: the fused primitive
        y = raw(labels)
        if is_abstract(y) or ops.is_batched(labels):
            plain = ignore_index == -100
        else:
            plain = not (np.asarray(y) == ignore_index).any()
    if plain:
        return as_tensor(ops.cross_entropy(logits, labels, reduction=reduction))
    if len(np.shape(logits)) < 1:
        return as_tensor(ops.cross_entropy(logits, labels, reduction=reduction))  # its clear error
    logp = ops.log_softmax(logits, axis=-1)
    return _nll(logp, labels, reduction, weight, ignore_index, "cross_entropy", label_smoothing)


def nll_loss(
    log_probs: Any,
    labels: Any,
    reduction: str = "mean",
    *,
    weight: Any = None,
    ignore_index: int = -100,
) -> Tensor:
    """Negative log-likelihood -log_probs[..., label] of log-probabilities (..., classes) (for instance
    from `log_softmax`) against integer labels (...), with PyTorch's `weight` and `ignore_index`
    (see `cross_entropy`)."""
    return _nll(log_probs, labels, reduction, weight, ignore_index, "nll_loss")


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
    """`cross_entropy(logits, labels)`: logits (n, classes) against integer class labels (n,), with
    PyTorch's `weight`, `ignore_index` and `label_smoothing`."""

    def __init__(
        self,
        weight: Any = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        if isinstance(weight, str) and weight in _REDUCTIONS:  # CrossEntropyLoss("sum")
            weight, reduction = None, weight
        super().__init__(reduction)
        self.weight = None if weight is None else np.asarray(raw(weight))
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Any, target: Any) -> Tensor:
        return cross_entropy(
            input,
            target,
            self.reduction,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_Loss):
    """`nll_loss(log_probs, labels)`: log-probabilities (n, classes) against integer labels (n,), with
    PyTorch's `weight` and `ignore_index`."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        if isinstance(weight, str) and weight in _REDUCTIONS:  # NLLLoss("sum")
            weight, reduction = None, weight
        super().__init__(reduction)
        self.weight = None if weight is None else np.asarray(raw(weight))
        self.ignore_index = ignore_index

    def forward(self, input: Any, target: Any) -> Tensor:
        return nll_loss(
            input, target, self.reduction, weight=self.weight, ignore_index=self.ignore_index
        )


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
