"""The `wengert` command: train a classifier on MNIST-like data, and evaluate a saved one.

    wengert train                      # the default MLP on the bundled digits
    wengert train --model cnn          # a small convolutional network: 98.25% on them
    wengert train --hidden 256 --activation relu --optimizer adam --dataset fashion-mnist
    wengert predict runs/<timestamp>/model.safetensors
    mpiexec -n 4 wengert train --distributed   # data-parallel over MPI (pip install "wengert[mpi]")

`python -m wengert` is the same command. The parts: `args` (the parser and its checks), `models` (what
--model builds), `runs` (the run folder), `train_command` and `predict_command`. `main` is the one error
boundary: a user's mistake is one line on stderr with exit code 2 (usage) or 1 (anything else), never a
traceback unless --debug.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from .. import threads
from ..data.datasets import DATASETS, load_dataset
from ..io import FormatError
from ..train import TrainingDiverged
from .args import DEFAULTS, LEARNING_RATES, build_parser
from .errors import CLIError, UsageError
from .predict_command import run_predict
from .train_command import run_train

__all__ = [
    "DATASETS",
    "DEFAULTS",
    "LEARNING_RATES",
    "CLIError",
    "UsageError",
    "build_parser",
    "load_dataset",
    "main",
    "run_predict",
    "run_train",
]

# Errors that mean "the input or the environment is wrong", reported as one line.
_USER_ERRORS = (CLIError, OSError, FormatError, TrainingDiverged, ValueError, ImportError)


def _message(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return f"{e.filename}: {e.strerror}"
    text = str(e)
    return text if text else type(e).__name__


def _train_distributed(args) -> int:
    """`wengert train --distributed` on this rank; returns the exit status.

    A failure on one rank ends every rank (MPI_Abort): a plain non-zero exit would leave the others
    waiting in the next Allreduce.
    """
    from .. import distributed as dist

    try:
        dist.init()
    except ImportError as e:
        print(f"wengert train: error: --distributed: {e}", file=sys.stderr)
        return 1
    many = dist.size() > 1
    try:
        run_train(
            args,
            rank=dist.rank(),
            world_size=dist.size(),
            sync_grads=dist.allreduce_gradients,
            reduce=dist.allreduce,
            broadcast=dist.broadcast_parameters,
        )
    except _USER_ERRORS as e:
        if args.debug:
            raise
        code = 2 if isinstance(e, UsageError) else 1
        if many:
            dist.abort(code, f"wengert train: error: {_message(e)}")
        print(f"wengert train: error: {_message(e)}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        if many:
            dist.abort(130, "wengert train: interrupted")
        print("wengert train: interrupted; nothing saved", file=sys.stderr)
        return 130
    return 0


def _quiet_broken_pipe() -> int:
    """stdout was closed by the reader (`wengert predict ... | head`): stop quietly, as Unix tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141  # 128 + SIGPIPE, what a shell reports for a tool ended by a closed pipe


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `wengert` command with `argv` (default: sys.argv[1:]); returns the exit status."""
    args = build_parser().parse_args(argv)  # usage errors: argparse prints them and exits with 2
    try:
        if args.command == "train":
            n = threads.DEFAULT_TRAIN_THREADS if args.threads is None else args.threads
            with threads.blas_threads(n, required=args.threads is not None):
                if args.distributed:
                    return _train_distributed(args)
                run_train(args)
        else:
            run_predict(args)
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        saved = " (nothing saved)" if args.command == "train" else ""
        print(f"wengert {args.command}: interrupted{saved}", file=sys.stderr)
        return 130
    except _USER_ERRORS as e:
        if args.debug:
            raise
        print(f"wengert {args.command}: error: {_message(e)}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    except Exception as e:  # a bug in wengert: say so in one line; --debug shows where
        if args.debug:
            raise
        print(
            f"wengert {args.command}: internal error: {type(e).__name__}: {e} "
            "(run again with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1
    return 0
