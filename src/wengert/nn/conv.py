"""Convolution and pooling: the functional forms (`conv1d`, `conv2d`, `max_pool2d`, `avg_pool2d`,
`adaptive_avg_pool2d`) and the layers (`Conv1d`, `Conv2d`, `MaxPool2d`, `AvgPool2d`,
`AdaptiveAvgPool2d`), in PyTorch's layout (NCHW; weight (out_channels, in_channels // groups, *kernel)),
with PyTorch's argument and attribute names, so state dicts move between the two.

Convolution is the table's `conv` primitive: one matrix product per group over an im2col copy of the
padded input. Max pooling is the table's `max_pool` primitive (its VJP shares the cotangent among tied
maxima); average pooling is a sum of strided slices of the zero-padded input, one per kernel offset;
adaptive average pooling is two products with averaging matrices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import ops
from ..core import primitives as P
from ..core.trace import raw
from ..tensor import Tensor
from . import init as _init
from .module import Module, Parameter

__all__ = [
    "CNN",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "Conv1d",
    "Conv2d",
    "MaxPool2d",
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "conv1d",
    "conv2d",
    "max_pool2d",
]

IntOrTuple = int | Sequence[int]


def _tuple(value: Any, nd: int, what: str, name: str, minimum: int = 1) -> tuple[int, ...]:
    """An int or a sequence of `nd` ints, each >= minimum, as a tuple."""
    vals = (value,) * nd if isinstance(value, (int, np.integer)) else tuple(value)
    if len(vals) != nd or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals
    ):
        raise ValueError(f"{name}: {what} must be an int or {nd} ints, got {value!r}")
    if any(v < minimum for v in vals):
        raise ValueError(f"{name}: {what} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in vals)


def _batched(x: Any, nd: int, name: str) -> tuple[Any, bool]:
    """x with a batch axis: (C, *spatial) inputs are accepted as a batch of one, as in PyTorch."""
    xs = np.shape(raw(x))
    if len(xs) == nd + 1:
        return ops.reshape(x, (1, *xs)), True
    if len(xs) != nd + 2:
        raise ValueError(
            f"{name}: expected an input of shape (N, C, *spatial) with {nd} spatial axes, or "
            f"(C, *spatial), got shape {xs}"
        )
    return x, False


def _unbatched(y: Any, squeeze: bool) -> Any:
    return ops.reshape(y, np.shape(raw(y))[1:]) if squeeze else y


def _conv(
    x: Any,
    weight: Any,
    bias: Any,
    stride: IntOrTuple,
    padding: IntOrTuple | str,
    dilation: IntOrTuple,
    groups: int,
    nd: int,
    name: str,
) -> Tensor:
    x, squeeze = _batched(x, nd, name)
    xs, ws = np.shape(raw(x)), np.shape(raw(weight))
    if len(ws) != nd + 2:
        raise ValueError(
            f"{name}: weight must have shape (out_channels, in_channels / groups, *kernel) with "
            f"{nd} kernel axes, got shape {ws}"
        )
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    if xs[1] != ws[1] * groups or ws[0] % groups:
        raise ValueError(
            f"{name}: input of shape {xs} ({xs[1]} channels) does not fit weight of shape {ws} with "
            f"groups={groups} (needs in_channels = {ws[1]} * {groups} and out_channels divisible "
            f"by {groups})"
        )
    stride_ = _tuple(stride, nd, "stride", name)
    dilation_ = _tuple(dilation, nd, "dilation", name)
    kernel = ws[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0),) * nd
        elif padding == "same":
            if any(s != 1 for s in stride_):
                raise ValueError(f"{name}: padding='same' needs stride 1, got stride={stride!r}")
            total = [d * (k - 1) for d, k in zip(dilation_, kernel)]
            pads = tuple((t // 2, t - t // 2) for t in total)
        else:
            raise ValueError(
                f"{name}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}"
            )
    else:
        pads = tuple((p, p) for p in _tuple(padding, nd, "padding", name, minimum=0))
    out = [
        P.conv_out_size(s, k, m, p, d) for s, k, m, p, d in zip(xs[2:], kernel, stride_, pads, dilation_)
    ]
    if any(o < 1 for o in out):
        raise ValueError(
            f"{name}: the kernel {tuple(kernel)} (dilation {dilation_}) is larger than the padded "
            f"input {tuple(s + lo + hi for s, (lo, hi) in zip(xs[2:], pads))}"
        )
    y = P.conv(x, weight, stride=stride_, padding=pads, dilation=dilation_, groups=int(groups))
    if bias is not None:
        if np.shape(raw(bias)) != (ws[0],):
            raise ValueError(f"{name}: bias of shape {np.shape(raw(bias))}, expected ({ws[0]},)")
        y = y + ops.reshape(bias, (ws[0],) + (1,) * nd)
    return _unbatched(y, squeeze)


def conv1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple | str = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> Tensor:
    """1-D cross-correlation (what deep learning calls convolution) of `input` (N, C_in, L) with
    `weight` (C_out, C_in / groups, k), plus `bias` (C_out,): PyTorch's `conv1d`."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple | str = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> Tensor:
    """2-D cross-correlation of `input` (N, C_in, H, W) with `weight` (C_out, C_in / groups, kH, kW),
    plus `bias` (C_out,): PyTorch's `conv2d`. Padding is zeros: an int, a pair, 'valid' or 'same'."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


# --- pooling --------------------------------------------------------------------------------------


def _pool_args(kernel_size, stride, padding, dilation, name):
    kernel = _tuple(kernel_size, 2, "kernel_size", name)
    stride_ = kernel if stride is None or stride == () else _tuple(stride, 2, "stride", name)
    pad = _tuple(padding, 2, "padding", name, minimum=0)
    dil = _tuple(dilation, 2, "dilation", name)
    if any(2 * p > k for p, k in zip(pad, kernel)):
        raise ValueError(
            f"{name}: padding {pad} must be at most half of the kernel size {kernel}, as in PyTorch"
        )
    return kernel, stride_, pad, dil


def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    span = size + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= size + p:  # the last window must start inside the input or its left padding
        out -= 1
    return out


def max_pool2d(
    input: Any,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor:
    """The maximum of each kH x kW window of `input` (N, C, H, W) (stride defaults to the kernel size;
    padding counts as -inf): PyTorch's `max_pool2d`. Tied maxima share the gradient evenly, as in
    wengert's `max` (PyTorch gives it all to one of them)."""
    if return_indices:
        raise ValueError("max_pool2d: return_indices=True is not supported")
    x, squeeze = _batched(input, 2, "max_pool2d")
    kernel, stride_, pad, dil = _pool_args(kernel_size, stride, padding, dilation, "max_pool2d")
    h, w = np.shape(raw(x))[2:]
    out = [
        _pool_out(s, k, m, p, d, ceil_mode) for s, k, m, p, d in zip((h, w), kernel, stride_, pad, dil)
    ]
    if any(o < 1 for o in out):
        raise ValueError(
            f"max_pool2d: kernel {kernel} is larger than the padded input of shape {(h, w)}"
        )
    pads = []
    for size, o, k, m, p, d in zip((h, w), out, kernel, stride_, pad, dil):
        # ceil_mode: pad the high side so that the last (partial) window exists
        pads.append((p, max(p, (o - 1) * m + d * (k - 1) + 1 - size - p)))
    y = P.max_pool(x, kernel=kernel, stride=stride_, padding=tuple(pads), dilation=dil)
    return _unbatched(y, squeeze)


def avg_pool2d(
    input: Any,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """The mean of each kH x kW window of `input` (N, C, H, W) (stride defaults to the kernel size):
    PyTorch's `avg_pool2d`. Zero padding counts in the divisor unless `count_include_pad=False`."""
    if ceil_mode:
        raise ValueError("avg_pool2d: ceil_mode=True is not supported")
    x, squeeze = _batched(input, 2, "avg_pool2d")
    kernel, stride_, pad, _ = _pool_args(kernel_size, stride, padding, 1, "avg_pool2d")
    n, c, h, w = np.shape(raw(x))
    out = [_pool_out(s, k, m, p, 1, False) for s, k, m, p in zip((h, w), kernel, stride_, pad)]
    if any(o < 1 for o in out):
        raise ValueError(
            f"avg_pool2d: kernel {kernel} is larger than the padded input of shape {(h, w)}"
        )
    if divisor_override is not None and (not isinstance(divisor_override, int) or divisor_override < 1):
        raise ValueError(
            f"avg_pool2d: divisor_override must be a positive int, got {divisor_override!r}"
        )
    dt = np.result_type(raw(x))
    if not np.issubdtype(dt, np.floating):
        dt = np.dtype(np.float32)
    # the sum of each window, kernel offset by offset over strided slices of the zero-padded input
    xp = x
    if pad != (0, 0):
        xp = P.scatter_add(
            x,
            index=(Ellipsis, slice(pad[0], pad[0] + h), slice(pad[1], pad[1] + w)),
            new_shape=(n, c, h + 2 * pad[0], w + 2 * pad[1]),
        )
    total = None
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            sl = (
                slice(i, i + stride_[0] * (out[0] - 1) + 1, stride_[0]),
                slice(j, j + stride_[1] * (out[1] - 1) + 1, stride_[1]),
            )
            part = xp[(Ellipsis, *sl)]
            total = part if total is None else total + part
    if divisor_override is not None:
        divisor: Any = dt.type(divisor_override)
    elif count_include_pad or pad == (0, 0):
        divisor = dt.type(math.prod(kernel))
    else:  # the number of input (not padding) elements in each window
        ones = np.ones((1, 1, h, w), dtype=dt)
        k1 = np.ones((1, 1, *kernel), dtype=dt)
        divisor = P.conv(
            ones, k1, stride=stride_, padding=tuple((p, p) for p in pad), dilation=(1, 1), groups=1
        )[0, 0]
    return _unbatched(total / divisor, squeeze)


def _averaging_matrix(size: int, out: int, dtype) -> np.ndarray:
    """A (out, size) matrix whose row i averages PyTorch's adaptive bin [floor(i size / out),
    ceil((i + 1) size / out))."""
    a = np.zeros((out, size), dtype=dtype)
    for i in range(out):
        lo, hi = (i * size) // out, -(-((i + 1) * size) // out)
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a


def adaptive_avg_pool2d(input: Any, output_size: IntOrTuple | Sequence[int | None]) -> Tensor:
    """Average pooling to a fixed output size (oH, oW), with PyTorch's bins (an entry None keeps that
    axis's size): two products with averaging matrices, A_h @ x @ A_w^T."""
    x, squeeze = _batched(input, 2, "adaptive_avg_pool2d")
    h, w = np.shape(raw(x))[2:]
    sizes = (
        (output_size, output_size) if isinstance(output_size, (int, np.integer)) else tuple(output_size)
    )
    if len(sizes) != 2 or not all(
        s is None or (isinstance(s, (int, np.integer)) and s >= 1) for s in sizes
    ):
        raise ValueError(
            "adaptive_avg_pool2d: output_size must be a positive int or two (or None), got "
            f"{output_size!r}"
        )
    oh, ow = (h if sizes[0] is None else int(sizes[0])), (w if sizes[1] is None else int(sizes[1]))
    dt = np.result_type(raw(x))
    if not np.issubdtype(dt, np.floating):
        dt = np.dtype(np.float32)
    y = x
    if oh != h:
        y = ops.matmul(_averaging_matrix(h, oh, dt), y)
    if ow != w:
        y = ops.matmul(y, _averaging_matrix(w, ow, dt).T)
    return _unbatched(y, squeeze)


# --- layers ---------------------------------------------------------------------------------------


class _ConvNd(Module):
    """Shared by Conv1d and Conv2d: PyTorch's attributes, parameters and default initialisation."""

    nd = 2
    _fn = staticmethod(conv2d)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple | str = 0,
        dilation: IntOrTuple = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        seed: _init.Seed = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        nd = self.nd
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        for what, v in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("groups", groups),
        ):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: {what} must be a positive int, got {v!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                f"divisible by groups ({groups})"
            )
        self.in_channels, self.out_channels, self.groups = (
            int(in_channels),
            int(out_channels),
            int(groups),
        )
        self.kernel_size = _tuple(kernel_size, nd, "kernel_size", name)
        self.stride = _tuple(stride, nd, "stride", name)
        self.dilation = _tuple(dilation, nd, "dilation", name)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(
                    f"{name}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}"
                )
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' needs stride 1, got stride={stride!r}")
            self.padding: tuple[int, ...] | str = padding
        else:
            self.padding = _tuple(padding, nd, "padding", name, minimum=0)
        self.padding_mode = padding_mode
        # PyTorch's default: kaiming_uniform with a = sqrt(5), i.e. U(-k, k) with k = 1/sqrt(fan_in),
        # for the weight and the bias alike
        rng = _init.rng(seed)
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        k = 1.0 / math.sqrt(_init.fans(shape)[0])
        self.weight = Parameter(_init.uniform(shape, -k, k, rng))
        self.bias = Parameter(_init.uniform((self.out_channels,), -k, k, rng)) if bias else None

    def forward(self, x: Any) -> Tensor:
        return type(self)._fn(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        if self.padding != (0,) * self.nd:
            s += f", padding={self.padding!r}"
        if self.dilation != (1,) * self.nd:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    """1-D convolution layer on (N, C_in, L): weight (C_out, C_in / groups, k), bias (C_out,).
    Arguments, attributes, state-dict keys and default initialisation are PyTorch's."""

    nd = 1
    _fn = staticmethod(conv1d)


class Conv2d(_ConvNd):
    """2-D convolution layer on (N, C_in, H, W): weight (C_out, C_in / groups, kH, kW), bias (C_out,).
    Arguments, attributes, state-dict keys and default initialisation are PyTorch's."""

    nd = 2
    _fn = staticmethod(conv2d)


class MaxPool2d(Module):
    """Max pooling over kH x kW windows (see `max_pool2d`)."""

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        dilation: IntOrTuple = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        if return_indices:
            raise ValueError("MaxPool2d: return_indices=True is not supported")
        self.kernel_size, self.stride, self.padding = (
            kernel_size,
            stride if stride is not None else kernel_size,
            padding,
        )
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x: Any) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """Average pooling over kH x kW windows (see `avg_pool2d`)."""

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        if ceil_mode:
            raise ValueError("AvgPool2d: ceil_mode=True is not supported")
        self.kernel_size, self.stride, self.padding = (
            kernel_size,
            stride if stride is not None else kernel_size,
            padding,
        )
        self.ceil_mode, self.count_include_pad, self.divisor_override = (
            ceil_mode,
            count_include_pad,
            divisor_override,
        )

    def forward(self, x: Any) -> Tensor:
        return avg_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (see `adaptive_avg_pool2d`)."""

    def __init__(self, output_size: IntOrTuple | Sequence[int | None]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class CNN(Module):
    """A small convolutional classifier for square single-channel images (MNIST's 28 x 28): two
    blocks of 3 x 3 convolution (padding 1), ReLU and 2 x 2 max pooling, then one linear layer to the
    class logits. It accepts images of shape (N, C, H, W) or flattened to (N, C * H * W).

    Parameters are PyTorch's defaults (`Conv2d`, `Linear` with init="torch"); the state-dict keys are
    conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc.weight, fc.bias.
    """

    def __init__(
        self,
        channels: Sequence[int] = (16, 32),
        num_classes: int = 10,
        image_size: int = 28,
        in_channels: int = 1,
        seed: _init.Seed = None,
    ) -> None:
        super().__init__()
        from .layers import Linear

        c1, c2 = (int(c) for c in channels)
        if image_size < 4:
            raise ValueError(f"CNN: image_size must be at least 4, got {image_size}")
        rng = _init.rng(seed)
        self.image_size, self.in_channels = int(image_size), int(in_channels)
        self.channels = (c1, c2)
        self.conv1 = Conv2d(in_channels, c1, 3, padding=1, seed=rng)
        self.conv2 = Conv2d(c1, c2, 3, padding=1, seed=rng)
        side = image_size // 2 // 2
        self.fc = Linear(c2 * side * side, num_classes, init="torch", seed=rng)

    def forward(self, x: Any) -> Tensor:
        n = np.shape(raw(x))[0]
        if len(np.shape(raw(x))) == 2:
            x = ops.reshape(x, (n, self.in_channels, self.image_size, self.image_size))
        x = max_pool2d(ops.relu(self.conv1(x)), 2)
        x = max_pool2d(ops.relu(self.conv2(x)), 2)
        return self.fc(ops.reshape(x, (n, -1)))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, image_size={self.image_size}"
