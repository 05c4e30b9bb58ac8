"""`wengert train`: check the outputs, load the data, build the model, train, save."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, optim
from ..data import DataLoader
from ..data.datasets import load_dataset, standardize, subset
from ..train import confusion_matrix, evaluate, format_confusion, train
from .args import apply_model_defaults, learning_rate
from .errors import UsageError
from .models import MODELS
from .runs import PLOT_FILE, RunDir

__all__ = ["confusion_text", "load_data", "run_train"]


def check_data_args(dataset: str, data_dir: str | None) -> None:
    """Refuse --dataset/--data-dir combinations that cannot work, in the command's words."""
    if dataset == "mnist-bundled" and data_dir is not None:
        raise UsageError("--data-dir is for --dataset mnist or fashion-mnist, not mnist-bundled")
    if dataset == "mnist" and data_dir is None:
        raise UsageError(
            "--dataset mnist needs --data-dir DIR holding the four MNIST IDX files "
            "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
            "t10k-labels-idx1-ubyte, optionally .gz); or use --dataset mnist-bundled"
        )


def load_data(dataset: str, data_dir: str | None, limit: int | None):
    """The data set for a command (each split cut to `limit` samples)."""
    check_data_args(dataset, data_dir)
    x_train, y_train, x_test, y_test, classes = load_dataset(dataset, data_dir)
    x_train, y_train = subset(x_train, y_train, limit)
    x_test, y_test = subset(x_test, y_test, limit)
    return x_train, y_train, x_test, y_test, classes


def _optimizer(args: argparse.Namespace, params: list, lr: float) -> optim.Optimizer:
    if args.optimizer == "sgd":
        return optim.SGD(params, lr=lr, momentum=args.momentum, weight_decay=args.weight_decay)
    if args.optimizer == "adam":
        return optim.Adam(params, lr=lr, weight_decay=args.weight_decay)
    return optim.AdamW(params, lr=lr, weight_decay=args.weight_decay)


def _schedule(args: argparse.Namespace, opt: optim.Optimizer) -> optim.LRScheduler | None:
    if args.schedule == "cosine":
        return optim.CosineAnnealingLR(opt, T_max=args.epochs)
    if args.schedule == "step":  # a tenth of the rate after a half and after three quarters
        return optim.StepLR(opt, step_size=max(1, args.epochs // 2), gamma=0.1)
    return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def run_train(
    args: argparse.Namespace,
    *,
    rank: int = 0,
    world_size: int = 1,
    sync_grads: Callable[[list], None] | None = None,
    reduce: Callable[[np.ndarray], np.ndarray] | None = None,
    broadcast: Callable[[list], None] | None = None,
    out: Callable[[str], None] = print,
) -> dict[str, Any]:
    """`wengert train` with parsed `args`; returns the saved metadata.

    For data-parallel training every rank calls this with its `rank`, the `world_size`, a
    `sync_grads` that averages gradients, a `reduce` that sums arrays across ranks and a `broadcast`
    that copies rank 0's parameters to every rank: each rank then trains on batch_size / world_size
    samples of every batch (its shard of each epoch), so the global batch is the same as in one process,
    and only rank 0 prints and writes files.
    """
    root = rank == 0
    apply_model_defaults(args)
    check_model_args(args)
    if args.batch_size % world_size:
        raise UsageError(
            f"--batch-size {args.batch_size} does not split evenly over {world_size} ranks; "
            f"use a multiple of {world_size}"
        )
    run = RunDir.prepare(args.out, args.overwrite) if root else None
    try:
        meta, model, history, acc, pred, y_test, classes = _fit(
            args, root, rank, world_size, sync_grads, reduce, broadcast, out
        )
    except BaseException:
        if run is not None:
            run.discard()
        raise
    if run is None:
        return meta
    say = out if not args.quiet else (lambda s: None)
    model_path = run.save_model(model.state_dict(), meta)
    run.save_history(meta, history)
    say(f"trained in {meta['train_seconds']:.1f} s")
    out(f"test accuracy: {acc:.2%} ({int(np.sum(pred == y_test))}/{len(y_test)})")
    say("confusion matrix (rows: true class, columns: predicted):")
    say(confusion_text(y_test, pred, classes))
    if not args.no_plot:
        title = f"{MODELS[args.model].describe(meta['architecture'])} on {args.dataset}"
        try:
            from ..plots import plot_history

            plot_history(history, run.path / PLOT_FILE, title)
            say(f"training curve: {run.path / PLOT_FILE}")
        except ImportError as e:
            say(f"no training-curve plot: {e}")
        except (OSError, ValueError) as e:  # the model is saved; a failed plot costs only the picture
            say(f"no training-curve plot: {e}")
    out(f"model saved to {model_path}")
    return meta


def _fit(args, root, rank, world_size, sync_grads, reduce, broadcast, out):
    say = out if root and not args.quiet else (lambda s: None)
    rank_batch = args.batch_size // world_size
    x_train, y_train, x_test, y_test, classes = load_data(args.dataset, args.data_dir, args.limit)
    mean, std = 0.0, 1.0
    if args.normalize == "standard":
        mean, std = float(x_train.mean()), float(x_train.std())
        x_train, x_test = standardize(x_train, mean, std), standardize(x_test, mean, std)
    spec = MODELS[args.model]
    model, arch = spec.build(args, x_train.shape[1], len(classes))
    if broadcast is not None:
        broadcast(list(model.parameters()))  # same seed everywhere, but rank 0's weights are the truth
    lr = learning_rate(args)
    opt = _optimizer(args, list(model.parameters()), lr)
    schedule = _schedule(args, opt)
    shard = (rank, world_size) if world_size > 1 else None
    loader = DataLoader(x_train, y_train, rank_batch, shuffle=True, seed=args.seed, shard=shard)
    say(
        f"{spec.describe(arch)} on {args.dataset}: "
        f"{len(x_train):,} training, {len(x_test):,} test images; {args.optimizer} lr {lr:g}"
        + (f" momentum {args.momentum:g}" if args.optimizer == "sgd" else "")
        + f", {args.schedule} schedule, batch {args.batch_size}, {_plural(args.epochs, 'epoch')}, "
        f"seed {args.seed}"
        + (", standardised pixels" if args.normalize == "standard" else "")
        + (f"; {world_size} ranks, {rank_batch} samples each per batch" if world_size > 1 else "")
    )
    t0 = time.perf_counter()
    history = train(
        model,
        opt,
        loader,
        args.epochs,
        loss_fn=spec.loss,
        scheduler=schedule,
        test_data=(x_test, y_test),
        sync_grads=sync_grads,
        reduce=reduce,
        verbose=root and not args.quiet,
        progress=sys.stderr.isatty(),
        log=say,
    )
    seconds = time.perf_counter() - t0
    acc, pred = evaluate(model, x_test, y_test)
    meta: dict[str, Any] = {
        "kind": "mlp-classifier" if args.model == "mlp" else "classifier",
        "model": args.model,
        "architecture": arch,
        **arch,  # the MLP's sizes and activation at the top level, as files before --model had them
        "dataset": args.dataset,
        "data_dir": None if args.data_dir is None else str(Path(args.data_dir).resolve()),
        "classes": classes,
        "input_mean": mean,
        "input_std": std,
        "test_accuracy": acc,
        "train_seconds": seconds,
        "training": {
            "optimizer": args.optimizer,
            "lr": lr,
            "momentum": args.momentum,
            "weight_decay": args.weight_decay,
            "schedule": args.schedule,
            "normalize": args.normalize,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "limit": args.limit,
            "world_size": world_size,
        },
        "wengert_version": __version__,
    }
    return meta, model, history, acc, pred, y_test, classes


def confusion_text(y: np.ndarray, pred: np.ndarray, classes: Sequence[str]) -> str:
    """The confusion matrix as text, with a legend when the class names are long."""
    cm = confusion_matrix(y, pred, len(classes))
    if max(len(c) for c in classes) <= 5:
        return format_confusion(cm, classes)
    legend = ", ".join(f"{i}: {c}" for i, c in enumerate(classes))
    return format_confusion(cm) + f"\n(classes {legend})"


def check_model_args(args: argparse.Namespace) -> None:
    """Refuse settings that do not fit together, before any work."""
    if args.model not in MODELS:  # argparse's choices catch this on the command line
        raise UsageError(f"unknown model {args.model!r}; choose one of {', '.join(sorted(MODELS))}")
    if args.model == "paper" and len(args.hidden) != 1:
        raise UsageError(
            f"--model paper has one hidden layer; got --hidden {' '.join(map(str, args.hidden))}"
        )
    if args.out is not None and not str(args.out).strip():
        raise UsageError("--out is empty; give a folder")
    check_data_args(args.dataset, args.data_dir)
