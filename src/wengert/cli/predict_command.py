"""`wengert predict`: evaluate a model file written by `wengert train` on a data set."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import io
from ..data.datasets import standardize, subset
from ..train import evaluate
from .errors import CLIError
from .models import spec_of
from .runs import MODEL_FILE
from .train_command import confusion_text, load_data

__all__ = ["run_predict"]

KINDS = ("mlp-classifier", "classifier")


def _model_file(given: str) -> Path:
    path = Path(given)
    if path.is_dir():
        hint = f"; did you mean {path / MODEL_FILE}?" if (path / MODEL_FILE).is_file() else ""
        raise CLIError(f"{path} is a directory, not a model file{hint}")
    if not path.exists():
        raise CLIError(f"no such model file: {path}")
    return path


def run_predict(args: argparse.Namespace, out: Callable[[str], None] = print) -> float:
    """`wengert predict` with parsed `args`; returns the accuracy."""
    path = _model_file(args.model)
    meta = io.load_metadata(path)
    if meta.get("kind") not in KINDS:
        raise CLIError(f"{path} is a wengert file but not a model written by `wengert train`")
    try:
        _, spec = spec_of(meta)
    except KeyError as e:
        raise CLIError(f"{path} holds a model of kind {e.args[0]!r}, unknown to this wengert") from None
    arch = meta.get("architecture", meta)
    model = spec.rebuild(arch)
    state = io.load(path)
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError) as e:
        raise CLIError(f"{path}: its weights do not fit a {spec.describe(arch)}: {e}") from None
    dataset = args.dataset or meta["dataset"]
    data_dir = args.data_dir
    if data_dir is None and args.dataset is None:
        data_dir = meta.get("data_dir")
    x_train, y_train, x_test, y_test, classes = load_data(dataset, data_dir, None)
    x, y = (x_test, y_test) if args.split == "test" else (x_train, y_train)

    x, y = subset(x, y, args.limit)
    x = standardize(x, meta.get("input_mean", 0.0), meta.get("input_std", 1.0))
    n_in = arch["sizes"][0] if "sizes" in arch else None
    if n_in is not None and x.shape[1] != n_in:
        raise CLIError(f"the model takes {n_in} inputs but {dataset} has {x.shape[1]}")
    acc, pred = evaluate(model, x, y)
    if not args.quiet:
        out(f"model {path}: {spec.describe(arch)}, trained on {meta['dataset']}")
    out(f"accuracy on the {dataset} {args.split} split: {acc:.2%} ({int(np.sum(pred == y))}/{len(y)})")
    if not args.quiet:
        out("confusion matrix (rows: true class, columns: predicted):")
        out(confusion_text(y, pred, meta.get("classes") or classes))
    return acc
