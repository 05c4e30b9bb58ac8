"""The arguments of the `wengert` command: the parser, the defaults, and checks of every number where it
is parsed (so that a bad value is refused before any work starts)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from .. import __version__, nn, threads
from ..data.datasets import DATASETS
from .models import MODELS

__all__ = ["DEFAULTS", "LEARNING_RATES", "apply_model_defaults", "build_parser", "learning_rate"]

# Defaults of `wengert train`: one sigmoid hidden layer, softmax output with categorical cross-entropy,
# SGD with momentum and a cosine schedule on standardised pixels, chosen on a validation split
# (6,000/2,000) of the bundled training digits. On the 2,000 held-out test digits it scores
# 96.2-96.5% over seeds 0-4; standardising the pixels is worth about +0.5% to sigmoid units.
DEFAULTS: dict[str, Any] = dict(
    model="mlp",
    hidden=[256],
    activation="sigmoid",
    optimizer="sgd",
    lr=None,  # per optimizer: LEARNING_RATES
    momentum=0.9,
    weight_decay=0.0,
    epochs=20,
    batch_size=16,
    schedule="cosine",
    normalize="standard",
    seed=0,
    dataset="mnist-bundled",
)
LEARNING_RATES = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3}
#: Settings whose default depends on --model: the parser leaves them None, `apply_model_defaults`
#: fills in the model's own (ModelSpec.defaults) or else DEFAULTS.
MODEL_DEPENDENT = ("optimizer", "momentum", "schedule", "normalize", "epochs", "batch_size")


def apply_model_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the settings left unset (None) with the chosen model's defaults, in place. The model's
    learning rate applies only with the model's own optimizer."""
    own = MODELS[args.model].defaults if args.model in MODELS else {}
    for name in MODEL_DEPENDENT:
        if getattr(args, name, None) is None:
            setattr(args, name, own.get(name, DEFAULTS[name]))
    if args.lr is None and "lr" in own and args.optimizer == own.get("optimizer"):
        args.lr = own["lr"]
    return args


def _model_default(name: str) -> str:
    """'(default: X; cnn: Y)' for the help of a setting that depends on --model."""
    others = "; ".join(
        f"{k}: {v.defaults[name]}" for k, v in sorted(MODELS.items()) if name in v.defaults
    )
    return f"(default: {DEFAULTS[name]}" + (f"; {others}" if others else "") + ")"


def learning_rate(args: argparse.Namespace) -> float:
    """The learning rate a run uses: --lr, or the optimizer's default."""
    return args.lr if args.lr is not None else LEARNING_RATES[args.optimizer]


def _number(
    kind: Callable[[str], Any], low: float, high: float = math.inf, *, open_low=False, open_high=True
) -> Callable[[str], Any]:
    """An argparse type: a finite number of `kind` in the interval from `low` to `high`."""
    lo = "(" if open_low else "["
    hi = ")" if open_high or high == math.inf else "]"
    span = f"{lo}{low:g}, {'inf' if high == math.inf else f'{high:g}'}{hi}"

    def parse(text: str) -> Any:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        too_low = v <= low if open_low else v < low
        too_high = v >= high if open_high else v > high
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be in {span}, got {text}")
        return v

    parse.__name__ = kind.__name__
    return parse


def _positive_int(text: str) -> int:
    return _number(int, 0, open_low=True)(text)


def _add_data_args(p: argparse.ArgumentParser, default: str | None) -> None:
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default=default,
        help="mnist-bundled: the 8,000/2,000 digits shipped with wengert; mnist: the full set from "
        "--data-dir; fashion-mnist: from --data-dir or /usr/share/datasets/fashion-mnist"
        + (f" (default: {default})" if default else " (default: the model's)"),
    )
    p.add_argument(
        "--data-dir", metavar="PATH", help="directory with the IDX files of mnist/fashion-mnist"
    )
    p.add_argument(
        "--limit",
        type=_positive_int,
        metavar="N",
        help="use only N training and N test images (a fixed random subset): for quick trials",
    )


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="print only the final result")
    p.add_argument(
        "--debug", action="store_true", help="show the Python traceback of an error (for bug reports)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `wengert` command."""
    parser = argparse.ArgumentParser(
        prog="wengert", description="Train and evaluate classifiers with wengert's tensor engine."
    )
    parser.add_argument("--version", action="version", version=f"wengert {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    d = DEFAULTS
    t = sub.add_parser(
        "train",
        help="train a classifier",
        description="Train a classifier (softmax output, cross-entropy loss). The defaults: "
        "784 -> 256 sigmoid units -> 10, SGD with momentum 0.9 and a cosine learning-rate schedule, "
        "on the bundled MNIST digits with standardised pixels.",
    )
    t.add_argument(
        "--model",
        choices=sorted(MODELS),
        default=d["model"],
        help="; ".join(f"{k}: {v.help}" for k, v in sorted(MODELS.items())) + " (default: %(default)s)",
    )
    t.add_argument(
        "--hidden",
        type=_positive_int,
        nargs="+",
        default=d["hidden"],
        metavar="N",
        help="hidden layer sizes of the MLP (default: %(default)s)",
    )
    t.add_argument(
        "--activation",
        choices=sorted(nn.ACTIVATIONS),
        default=d["activation"],
        help="hidden activation of the MLP (default: %(default)s)",
    )
    t.add_argument(
        "--channels",
        type=_positive_int,
        nargs=2,
        default=[16, 32],
        metavar="C",
        help="channels of the CNN's two convolutions (default: %(default)s)",
    )
    t.add_argument(
        "--optimizer",
        choices=tuple(LEARNING_RATES),
        default=None,
        help=_model_default("optimizer"),
    )
    t.add_argument(
        "--lr",
        type=_number(float, 0, open_low=True),
        default=d["lr"],
        help="learning rate, a finite number > 0 (default: "
        + ", ".join(f"{k} {v:g}" for k, v in LEARNING_RATES.items())
        + "; cnn with adam 0.002; paper with sgd 6)",
    )
    t.add_argument(
        "--momentum",
        type=_number(float, 0, 1),
        default=None,
        help="SGD momentum in [0, 1) " + _model_default("momentum"),
    )
    t.add_argument(
        "--weight-decay",
        type=_number(float, 0),
        default=d["weight_decay"],
        help="L2 penalty >= 0, decoupled for adamw (default: %(default)s)",
    )
    t.add_argument(
        "--schedule",
        choices=("cosine", "step", "none"),
        default=None,
        help="learning-rate schedule over the epochs " + _model_default("schedule"),
    )
    t.add_argument(
        "--normalize",
        choices=("standard", "none"),
        default=None,
        help="standard: shift and scale the pixels by the training set's mean and standard deviation "
        "(stored with the model, applied again by predict) " + _model_default("normalize"),
    )
    t.add_argument("--epochs", type=_positive_int, default=None, help=_model_default("epochs"))
    t.add_argument("--batch-size", type=_positive_int, default=None, help=_model_default("batch_size"))
    t.add_argument(
        "--seed",
        type=_number(int, 0, 2**63, open_high=True),
        default=d["seed"],
        help="seed (>= 0) of the initial weights and the shuffling (default: %(default)s)",
    )
    _add_data_args(t, d["dataset"])
    t.add_argument(
        "--out",
        metavar="DIR",
        help="output directory, created if needed; an earlier run's folder is refused unless "
        "--overwrite (default: a new runs/<timestamp>)",
    )
    t.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the outputs of an earlier run in --out (its model, history and plot)",
    )
    t.add_argument("--no-plot", action="store_true", help="do not draw the training-curve PNG")
    t.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        metavar="N",
        help=f"threads of numpy's BLAS (default: {threads.DEFAULT_TRAIN_THREADS}, which does not slow "
        "down when other processes keep the cores busy; needs threadpoolctl, without it numpy's own "
        "default stays); results can differ in the last digits with the thread count",
    )
    _add_common(t)
    t.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel training over MPI: launch with `mpiexec -n N wengert train --distributed`; "
        "each rank trains on batch-size/N samples of every batch (the global batch stays --batch-size), "
        "the gradients are averaged after every backward pass and only rank 0 prints and writes files "
        '(needs pip install "wengert[mpi]")',
    )

    p = sub.add_parser("predict", help="evaluate a saved model on a data set")
    p.add_argument("model", metavar="MODEL", help="a model file written by `wengert train`")
    _add_data_args(p, None)
    p.add_argument("--split", choices=("test", "train"), default="test", help="which split to evaluate")
    _add_common(p)
    return parser
