"""A plain training loop for classifiers, and the metrics around it.

`train(model, optimizer, loader, epochs, ...)` is a function, not a framework: every step is
forward, loss, backward, optional gradient hook, optimizer step. A data-parallel wrapper hooks in
without changing it: pass a sharded `DataLoader`, `sync_grads` (average the gradients across workers
after backward), `reduce` (sum the per-epoch metric counters across workers) and `verbose=False` on
every rank but the first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .nn.losses import cross_entropy
from .nn.module import Module
from .optim import LRScheduler, Optimizer
from .tensor import Tensor, as_tensor, no_grad

__all__ = [
    "TrainingDiverged",
    "confusion_matrix",
    "evaluate",
    "format_confusion",
    "predict",
    "train",
    "train_epoch",
]

LossFn = Callable[[Tensor, np.ndarray], Tensor]


class TrainingDiverged(FloatingPointError):
    """The training loss became nan or infinite: the weights are no longer worth keeping."""


def _progress_bar(total: int, desc: str, enabled: bool):
    """A tqdm bar over `total` batches, or None when disabled or tqdm is not installed."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True)


def train_epoch(
    model: Module,
    optimizer: Optimizer,
    loader: Iterable[tuple[np.ndarray, np.ndarray]],
    loss_fn: LossFn = cross_entropy,
    *,
    sync_grads: Callable[[list[Tensor]], None] | None = None,
    bar: Any = None,
) -> np.ndarray:
    """One pass over `loader`; returns the counters [sum of losses, correct predictions, samples].

    `sync_grads(params)` runs after each backward and before the optimizer step (a data-parallel
    wrapper averages gradients there). `bar` is an optional tqdm bar advanced once per batch.
    """
    model.train()
    params = list(model.parameters())
    loss_sum = 0.0
    correct = 0
    seen = 0
    for i, (xb, yb) in enumerate(loader):
        logits = model(as_tensor(xb))
        loss = loss_fn(logits, yb)
        optimizer.zero_grad()
        loss.backward()
        if sync_grads is not None:
            sync_grads(params)
        optimizer.step()
        n = len(yb)
        loss_sum += float(loss.item()) * n
        correct += int(np.count_nonzero(logits.numpy().argmax(axis=-1) == yb))
        seen += n
        if bar is not None:
            bar.update(1)
            if i % 20 == 0:
                bar.set_postfix(
                    loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.2%}", refresh=False
                )
    return np.array([loss_sum, correct, seen], dtype=np.float64)


def predict(model: Module, x: np.ndarray, batch_size: int = 2000) -> np.ndarray:
    """The predicted class (argmax of the outputs) of each row of `x`, in evaluation mode."""
    was_training = model.training
    model.eval()
    out = []
    with no_grad():
        for i in range(0, len(x), batch_size):
            out.append(model(as_tensor(x[i : i + batch_size])).numpy().argmax(axis=-1))
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def evaluate(
    model: Module, x: np.ndarray, y: np.ndarray, batch_size: int = 2000
) -> tuple[float, np.ndarray]:
    """(accuracy, predictions) of `model` on inputs `x` with integer labels `y`."""
    pred = predict(model, x, batch_size)
    acc = float(np.mean(pred == y)) if len(y) else float("nan")
    return acc, pred


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """counts[i, j] = how many samples of true class i were predicted as class j."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def format_confusion(cm: np.ndarray, labels: Sequence[str] | None = None) -> str:
    """The confusion matrix as a text table: rows are true classes, columns predictions, with each
    class's recall (correct / total of that class) in the last column."""
    k = len(cm)
    labels = [str(i) for i in range(k)] if labels is None else [str(s) for s in labels]
    w = max(len(str(int(cm.max()))) if cm.size else 1, *(len(s) for s in labels), 4)
    lw = max(len("true\\pred"), *(len(s) for s in labels))
    head = "true\\pred".ljust(lw) + " " + " ".join(s.rjust(w) for s in labels) + "  recall"
    lines = [head, "-" * len(head)]
    for i in range(k):
        total = cm[i].sum()
        recall = f"{cm[i, i] / total:7.1%}" if total else "      -"
        row = " ".join(str(int(c)).rjust(w) for c in cm[i])
        lines.append(labels[i].ljust(lw) + " " + row + " " + recall)
    return "\n".join(lines)


def train(
    model: Module,
    optimizer: Optimizer,
    loader: Iterable[tuple[np.ndarray, np.ndarray]],
    epochs: int,
    *,
    loss_fn: LossFn = cross_entropy,
    scheduler: LRScheduler | None = None,
    test_data: tuple[np.ndarray, np.ndarray] | None = None,
    sync_grads: Callable[[list[Tensor]], None] | None = None,
    reduce: Callable[[np.ndarray], np.ndarray] | None = None,
    verbose: bool = True,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict[str, float]]:
    """Train `model` for `epochs` passes over `loader`; returns one record per epoch.

    Each record holds "epoch", "loss" (mean training loss), "accuracy" (training accuracy, measured
    on the fly while the weights change), "test_accuracy" (when `test_data` is given), "lr" and
    "seconds". `scheduler.step()` runs after each epoch. With `verbose`, a tqdm progress bar (when
    installed and `progress`) shows the running loss and accuracy, and one line per epoch is
    logged. For data-parallel training: `sync_grads(params)` after each backward, `reduce(counters)`
    to sum [loss sum, correct, samples] over the workers.
    """
    history: list[dict[str, float]] = []
    nbatches = len(loader) if hasattr(loader, "__len__") else None
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        lr = float(optimizer.param_groups[0]["lr"])
        bar = _progress_bar(nbatches or 0, f"epoch {epoch}/{epochs}", verbose and progress)
        try:
            counts = train_epoch(model, optimizer, loader, loss_fn, sync_grads=sync_grads, bar=bar)
        finally:
            if bar is not None:
                bar.close()
        if reduce is not None:
            counts = reduce(counts)
        loss_sum, correct, seen = (float(c) for c in counts)
        record = {
            "epoch": epoch,
            "loss": loss_sum / max(seen, 1),
            "accuracy": correct / max(seen, 1),
            "lr": lr,
        }
        if not np.isfinite(record["loss"]):
            raise TrainingDiverged(
                f"training diverged: the mean loss of epoch {epoch} is {record['loss']}; "
                f"try a smaller learning rate (it was {lr:g})"
            )
        if test_data is not None:
            record["test_accuracy"] = evaluate(model, *test_data)[0]
        if scheduler is not None:
            scheduler.step()
        record["seconds"] = time.perf_counter() - t0
        history.append(record)
        if verbose:
            test = f"  test acc {record['test_accuracy']:.2%}" if test_data is not None else ""
            log(
                f"epoch {epoch:>{len(str(epochs))}}/{epochs}  loss {record['loss']:.4f}  "
                f"train acc {record['accuracy']:.2%}{test}  lr {lr:.4g}  ({record['seconds']:.1f} s)"
            )
    return history
