"""Normalisation: `batch_norm` and `layer_norm` (functional), `BatchNorm1d`, `BatchNorm2d` and
`LayerNorm` (layers), with PyTorch's arguments, attributes, buffers and state-dict keys.

Both are composed of primitives (mean, subtraction, products, `sqrt`), so every derivative, of any
order, comes from the table. The running statistics of batch normalisation are updated in place,
outside the graph, as PyTorch does: the running mean with the batch mean, the running variance with
the unbiased batch variance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import ops
from ..core.trace import raw
from ..tensor import Tensor
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "batch_norm", "layer_norm"]


def _normalise(x: Any, axes: tuple[int, ...], eps: float) -> tuple[Any, Any, Any]:
    """(x - mean) / sqrt(var + eps) over `axes` (biased variance), with the mean and variance."""
    mean = ops.mean(x, axis=axes, keepdims=True)
    d = x - mean
    var = ops.mean(d * d, axis=axes, keepdims=True)
    return d * (1.0 / ops.sqrt(var + eps)), mean, var


def _affine(y: Any, weight: Any, bias: Any, shape: tuple[int, ...]) -> Any:
    if weight is not None:
        y = y * ops.reshape(weight, shape)
    if bias is not None:
        y = y + ops.reshape(bias, shape)
    return y


def batch_norm(
    input: Any,
    running_mean: Any = None,
    running_var: Any = None,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation of `input` (N, C) or (N, C, *spatial) over every axis but the channels:
    PyTorch's `batch_norm`.

    In training (or without running statistics) the batch's mean and biased variance normalise, and
    `running_mean`/`running_var` (arrays or tensors of shape (C,), updated in place) move towards the
    batch mean and unbiased variance by `momentum`. Otherwise the running statistics normalise.
    `weight` and `bias` (C,) scale and shift each channel.
    """
    xs = np.shape(raw(input))
    if len(xs) < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...), got shape {xs}")
    c = xs[1]
    for what, v in (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ):
        if v is not None and np.shape(raw(v)) != (c,):
            raise ValueError(
                f"batch_norm: {what} of shape {np.shape(raw(v))}, expected ({c},) for input {xs}"
            )
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    axes = (0, *range(2, len(xs)))
    shape = (1, c) + (1,) * (len(xs) - 2)
    if training or running_mean is None:
        n = math.prod(xs) // c
        if training and n <= 1:
            raise ValueError(
                "batch_norm: expected more than 1 value per channel when training, got input of "
                f"shape {xs}"
            )
        y, mean, var = _normalise(input, axes, eps)
        if training and running_mean is not None:
            m = 0.1 if momentum is None else float(momentum)
            rm, rv = np.asarray(raw(running_mean)), np.asarray(raw(running_var))
            bm = np.asarray(raw(mean)).reshape(c)
            bv = np.asarray(raw(var)).reshape(c) * (n / (n - 1))
            rm *= 1 - m
            rm += m * bm.astype(rm.dtype)
            rv *= 1 - m
            rv += m * bv.astype(rv.dtype)
    else:
        rm, rv = np.asarray(raw(running_mean)), np.asarray(raw(running_var))
        scale = (1.0 / np.sqrt(rv + eps)).astype(rm.dtype).reshape(shape)
        y = (input - rm.reshape(shape)) * scale
    return _affine(y, weight, bias, shape)


def layer_norm(
    input: Any,
    normalized_shape: int | Sequence[int],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer normalisation over the trailing axes `normalized_shape` (mean and biased variance per
    sample), then `weight` and `bias` of that shape: PyTorch's `layer_norm`."""
    shape = (
        (normalized_shape,)
        if isinstance(normalized_shape, (int, np.integer))
        else tuple(normalized_shape)
    )
    xs = np.shape(raw(input))
    k = len(shape)
    if k == 0 or xs[len(xs) - k :] != shape or len(xs) < k:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} does not match the trailing axes of input {xs}"
        )
    for what, v in (("weight", weight), ("bias", bias)):
        if v is not None and np.shape(raw(v)) != shape:
            raise ValueError(f"layer_norm: {what} of shape {np.shape(raw(v))}, expected {shape}")
    y, _, _ = _normalise(input, tuple(range(-k, 0)), eps)
    return _affine(y, weight, bias, shape)


class _BatchNorm(Module):
    expected_ndim: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if (
            isinstance(num_features, bool)
            or not isinstance(num_features, (int, np.integer))
            or num_features < 1
        ):
            raise ValueError(f"{name}: num_features must be a positive int, got {num_features!r}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=np.float32))
            self.bias = Parameter(np.zeros(self.num_features, dtype=np.float32))
        else:
            self.weight = self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=np.float32))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=np.float32))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            self.running_mean.numpy()[...] = 0
            self.running_var.numpy()[...] = 1
            self.num_batches_tracked.numpy()[...] = 0

    def forward(self, x: Any) -> Tensor:
        nd = len(np.shape(raw(x)))
        if nd not in self.expected_ndim:
            raise ValueError(
                f"{type(self).__name__}: expected a "
                f"{' or '.join(map(str, self.expected_ndim))}-d input, got shape {np.shape(raw(x))}"
            )
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.numpy()[...] += 1
            if momentum is None:  # a cumulative average of the batch statistics
                momentum = 1.0 / int(self.num_batches_tracked.item())
        # without running statistics the batch's own statistics normalise in evaluation mode too
        return batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training or not self.track_running_stats,
            momentum,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs per channel C (see `batch_norm`): weight, bias,
    and the buffers running_mean, running_var, num_batches_tracked, as in PyTorch."""

    expected_ndim = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs per channel C (see `batch_norm`): weight, bias, and
    the buffers running_mean, running_var, num_batches_tracked, as in PyTorch."""

    expected_ndim = (4,)


class LayerNorm(Module):
    """Layer normalisation over the trailing `normalized_shape` axes (see `layer_norm`), with weight
    (ones) and bias (zeros) of that shape when `elementwise_affine`."""

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        shape = (
            (normalized_shape,)
            if isinstance(normalized_shape, (int, np.integer))
            else tuple(normalized_shape)
        )
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps, self.elementwise_affine = float(eps), elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=np.float32))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=np.float32)) if bias else None
        else:
            self.weight = self.bias = None

    def forward(self, x: Any) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
