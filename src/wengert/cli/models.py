"""The models `wengert train --model NAME` can build, and how `wengert predict` rebuilds one from the
settings stored in its file.

Each entry says how to build a model from the command's arguments (returning the model and the settings
that define its architecture, stored with its weights) and how to rebuild it from those settings.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import nn

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


MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec(
        "a multilayer perceptron (--hidden, --activation) with a softmax output",
        _build_mlp,
        _rebuild_mlp,
        _describe_mlp,
    ),
}


def spec_of(meta: dict[str, Any]) -> tuple[str, ModelSpec]:
    """The name and entry of the model a saved file's metadata describes (files written before
    --model existed hold an MLP)."""
    name = meta.get("model", "mlp")
    if name not in MODELS:
        raise KeyError(name)
    return name, MODELS[name]
