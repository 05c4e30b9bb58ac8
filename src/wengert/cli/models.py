"""The models `wengert train --model NAME` can build, and how `wengert predict` rebuilds one from the
settings stored in its file.

Each entry says how to build a model from the command's arguments (returning the model and the settings
that define its architecture, stored with its weights) and how to rebuild it from those settings.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import nn
from .errors import UsageError

__all__ = ["MODELS", "ModelSpec", "spec_of"]


@dataclass(frozen=True)
class ModelSpec:
    """How to build, describe and rebuild one kind of classifier."""

    help: str
    #: (args, number of inputs, number of classes) -> (model, architecture settings)
    build: Callable[[argparse.Namespace, int, int], tuple[nn.Module, dict[str, Any]]]
    #: architecture settings -> a model with freshly initialised weights
    rebuild: Callable[[dict[str, Any]], nn.Module]
    #: architecture settings -> a short description such as "MLP 784-256-10 (sigmoid)"
    describe: Callable[[dict[str, Any]], str]
    #: training settings of this model where they differ from the command's defaults (optimizer,
    #: lr -- used with that optimizer only --, momentum, schedule, normalize, epochs, batch_size)
    defaults: dict[str, Any] = field(default_factory=dict)
    #: (outputs, integer labels) -> loss; softmax cross-entropy unless the model says otherwise
    loss: Callable[[Any, Any], Any] = nn.cross_entropy


def _build_mlp(args: argparse.Namespace, n_in: int, n_out: int) -> tuple[nn.Module, dict[str, Any]]:
    sizes = [n_in, *args.hidden, n_out]
    return nn.MLP(sizes, args.activation, seed=args.seed), {
        "sizes": sizes,
        "activation": args.activation,
    }


def _rebuild_mlp(arch: dict[str, Any]) -> nn.Module:
    return nn.MLP(arch["sizes"], arch["activation"])


def _describe_mlp(arch: dict[str, Any]) -> str:
    return f"MLP {'-'.join(map(str, arch['sizes']))} ({arch['activation']})"


def _build_cnn(args: argparse.Namespace, n_in: int, n_out: int) -> tuple[nn.Module, dict[str, Any]]:
    side = math.isqrt(n_in)
    if side * side != n_in:
        raise UsageError(f"--model cnn needs square single-channel images; the data have {n_in} inputs")
    arch = {"channels": list(args.channels), "image_size": side, "num_classes": n_out}
    return nn.CNN(args.channels, n_out, side, seed=args.seed), arch


def _rebuild_cnn(arch: dict[str, Any]) -> nn.Module:
    return nn.CNN(arch["channels"], arch["num_classes"], arch["image_size"])


def _describe_cnn(arch: dict[str, Any]) -> str:
    c1, c2 = arch["channels"]
    side = arch["image_size"]
    return f"CNN {side}x{side} -> conv3x3 {c1} -> pool -> conv3x3 {c2} -> pool -> {arch['num_classes']}"


def _build_paper(args: argparse.Namespace, n_in: int, n_out: int) -> tuple[nn.Module, dict[str, Any]]:
    sizes = [n_in, args.hidden[0], n_out]
    return nn.PaperClassifier(sizes, seed=args.seed), {"sizes": sizes}


def _rebuild_paper(arch: dict[str, Any]) -> nn.Module:
    return nn.PaperClassifier(arch["sizes"])


def _describe_paper(arch: dict[str, Any]) -> str:
    n_in, hidden, n_out = arch["sizes"]
    return f"the paper's sigmoid(W2 sigmoid(W1 x)) {n_in}-{hidden}-{n_out}"


MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec(
        "a multilayer perceptron (--hidden, --activation) with a softmax output",
        _build_mlp,
        _rebuild_mlp,
        _describe_mlp,
    ),
    # Adam, batch 64, 6 epochs with a cosine schedule: 98.25% on the 2,000 held-out bundled digits
    "cnn": ModelSpec(
        "two blocks of 3x3 convolution (--channels), ReLU and 2x2 max pooling, then a linear layer",
        _build_cnn,
        _rebuild_cnn,
        _describe_cnn,
        dict(optimizer="adam", lr=2e-3, epochs=6, batch_size=64),
    ),
    # the paper's classifier exactly: plain SGD (no momentum, no schedule) on raw pixels in [0, 1],
    # softmax and categorical cross-entropy on one-hot targets; lr 6 for the small gradients that
    # pass the output sigmoid
    "paper": ModelSpec(
        "the paper's network sigmoid(W2 sigmoid(W1 x)) (--hidden: one size), softmax and categorical "
        "cross-entropy on one-hot targets, plain SGD on raw pixels",
        _build_paper,
        _rebuild_paper,
        _describe_paper,
        dict(optimizer="sgd", lr=6.0, momentum=0.0, schedule="none", normalize="none"),
        loss=nn.paper_loss,
    ),
}


def spec_of(meta: dict[str, Any]) -> tuple[str, ModelSpec]:
    """The name and entry of the model a saved file's metadata describes (files written before
    --model existed hold an MLP)."""
    name = meta.get("model", "mlp")
    if name not in MODELS:
        raise KeyError(name)
    return name, MODELS[name]
