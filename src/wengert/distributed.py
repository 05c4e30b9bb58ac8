"""Data-parallel training over MPI: every rank holds a full copy of the model, trains on its own shard of
each batch, and the ranks average their gradients after every backward pass.

    mpiexec -n 4 python train.py          # or: mpiexec -n 4 wengert train --distributed

    from wengert import distributed as dist
    model = dist.DistributedDataParallel(nn.MLP([784, 256, 10], seed=0))   # rank 0's weights everywhere
    loader = DataLoader(x, y, batch_size // dist.size(), shuffle=True, seed=0,
                        shard=(dist.rank(), dist.size()))
    ...
    loss.backward()
    model.sync_gradients()                # one Allreduce over all gradients
    opt.step()

MPI comes from mpi4py (`pip install "wengert[mpi]"`, which also installs MPICH and its `mpiexec`).
It is optional, and this module imports without it:

- a single process needs no MPI at all: without mpi4py, `rank()` is 0, `size()` is 1 and every collective
  is the identity, so the same script runs unchanged on one machine;
- where MPI is needed, an `ImportError` names the extra: when the process was started by an MPI launcher
  with more than one rank (found from the launcher's environment: `PMI_SIZE`, `OMPI_COMM_WORLD_SIZE`,
  `MV2_COMM_WORLD_SIZE`), so that N copies never train silently as N independent single processes; and
  when MPI is asked for explicitly with `init()`.

With mpi4py installed, MPI is started when this module is imported by a multi-rank launcher, and
otherwise on the first call that needs it. From then on, on runs with more than one rank, an exception
that escapes on any rank prints "rank N failed: ..." and aborts the whole job (`MPI_Abort`), so a failure
never leaves the other ranks waiting forever in a collective. Two exits escape that hook, and MPICH's
mpiexec then waits for the other ranks: `sys.exit(code)` (raise an exception or call `abort()` instead,
or launch with `mpiexec -n N python -m mpi4py script.py`, which aborts on it), and a failure before this
module is imported (import it first).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from .tensor import Tensor

__all__ = [
    "DEFAULT_BUCKET_BYTES",
    "MPI_EXTRA",
    "DistributedDataParallel",
    "abort",
    "allreduce",
    "allreduce_gradients",
    "allreduce_metrics",
    "barrier",
    "broadcast_parameters",
    "init",
    "is_available",
    "is_main",
    "mpiexec_command",
    "rank",
    "size",
]

MPI_EXTRA = 'pip install "wengert[mpi]"'
# Gradients are packed into buckets of at most this many bytes, one Allreduce each: large enough that
# an MLP's gradients travel in one message, small enough to bound the extra memory of the packed copy.
DEFAULT_BUCKET_BYTES = 64 * 2**20

# Environment variables in which MPI launchers announce the number of ranks (MPICH/Hydra, Intel MPI and
# Slurm's PMI; Open MPI; MVAPICH).
_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")

_ABORT_GRACE_SECONDS = 0.5

_UNSET: Any = object()
_comm: Any = _UNSET  # the world communicator, None when running without MPI, _UNSET before the first use
_MPI: Any = None  # the mpi4py.MPI module once imported


def _missing_mpi(reason: str) -> ImportError:
    return ImportError(
        f"{reason}, but mpi4py is not installed. Install the MPI extra with: {MPI_EXTRA} "
        "(mpi4py and the MPICH library with its mpiexec), or `pip install mpi4py` on a cluster with its "
        "own MPI"
    )


def _launcher_size() -> int:
    """The number of ranks an MPI launcher announced in the environment (1 when none did)."""
    for var in _LAUNCHER_SIZE_VARS:
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return 1


def _world(require: bool) -> Any:
    """The world communicator, starting MPI on first use; None for a single process without mpi4py.

    Raises ImportError (naming the extra) when mpi4py is missing and either `require` is set or a
    launcher started more than one rank.
    """
    global _comm, _MPI
    if _comm is _UNSET:
        try:
            from mpi4py import MPI
        except ImportError as e:
            n = _launcher_size()
            if require or n > 1:
                why = f"this process is one of {n} MPI ranks" if n > 1 else "MPI was requested"
                raise _missing_mpi(why) from e
            _comm = None
            return None
        _MPI = MPI
        _comm = MPI.COMM_WORLD
        if _comm.Get_size() > 1:
            _install_excepthook(_comm)
    elif _comm is None and require:
        # Fell back to one process earlier; an explicit request still needs the real thing.
        _comm = _UNSET
        return _world(require)
    return _comm


def _install_excepthook(comm: Any) -> None:
    """Make an uncaught exception on this rank abort every rank, naming this one."""
    previous = sys.excepthook
    me = comm.Get_rank()

    def hook(exc_type, exc, tb) -> None:
        try:
            previous(exc_type, exc, tb)
        except Exception:
            traceback.print_exception(exc_type, exc, tb)
        detail = "".join(traceback.format_exception_only(exc_type, exc)).strip()
        sys.stderr.write(f"rank {me} failed: {detail}\n")
        # MPI_Abort kills the other ranks, which may be blocked in a collective this rank never reaches.
        _abort(comm, 1)

    sys.excepthook = hook


def _abort(comm: Any, code: int) -> NoReturn:
    sys.stderr.flush()
    sys.stdout.flush()
    # The launcher forwards output through a pipe and tears the job down on MPI_Abort; without a pause
    # this rank's last words can be lost in that race.
    time.sleep(_ABORT_GRACE_SECONDS)
    comm.Abort(code)
    raise SystemExit(code)  # not reached: Abort ends the process


# --- who am I ---------------------------------------------------------------------------------------


def is_available() -> bool:
    """True when mpi4py can be imported (MPI itself is not started)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def init() -> Any:
    """Start MPI (if not yet) and return the world communicator (an `mpi4py.MPI.Comm`).

    This is the explicit request for MPI: it raises ImportError naming the extra when mpi4py is not
    installed, even for a single process.
    """
    return _world(require=True)


def rank() -> int:
    """This process's rank: 0..size()-1 (0 without MPI)."""
    comm = _world(require=False)
    return 0 if comm is None else comm.Get_rank()


def size() -> int:
    """The number of ranks in the job (1 without MPI)."""
    comm = _world(require=False)
    return 1 if comm is None else comm.Get_size()


def is_main() -> bool:
    """True on rank 0, the rank that prints progress and writes files."""
    return rank() == 0


def barrier() -> None:
    """Wait until every rank has called `barrier()` (nothing to wait for with one rank)."""
    comm = _world(require=False)
    if comm is not None and comm.Get_size() > 1:
        comm.Barrier()


def abort(code: int = 1, message: str | None = None) -> NoReturn:
    """End the whole job with exit status `code`, after printing `message` prefixed with this rank.

    With several ranks this is `MPI_Abort`, which also stops the ranks that are waiting in a collective
    (a plain `sys.exit` on one rank would leave them hanging); with one rank it raises SystemExit.
    """
    comm = _world(require=False)
    many = comm is not None and comm.Get_size() > 1
    if message is not None:
        prefix = f"rank {comm.Get_rank()}: " if many else ""
        sys.stderr.write(prefix + message + "\n")
    if many:
        _abort(comm, code)
    sys.stderr.flush()
    sys.stdout.flush()
    raise SystemExit(code)


def mpiexec_command(n: int) -> list[str]:
    """The command prefix that starts `n` ranks on this machine: `[mpiexec, "-n", n, ...]`.

    Prefers the `mpiexec` installed beside the running Python (where the mpich wheel puts it, so that it
    matches the MPI library mpi4py loads), then the one on PATH. Raises FileNotFoundError when there is
    none.
    """
    found = None
    for name in ("mpiexec", "mpirun"):
        beside = Path(sys.executable).parent / name
        found = str(beside) if beside.is_file() else shutil.which(name)
        if found:
            break
    if found is None:
        raise FileNotFoundError(f"no mpiexec found beside {sys.executable} or on PATH; {MPI_EXTRA}")
    cmd = [found, "-n", str(int(n))]
    if _is_open_mpi(found):
        # Open MPI refuses root (containers, CI) and more ranks than cores unless told otherwise.
        cmd += ["--oversubscribe"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd += ["--allow-run-as-root"]
    return cmd


def _is_open_mpi(mpiexec: str) -> bool:
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "open mpi" in (out.stdout + out.stderr).lower()


# --- collectives ------------------------------------------------------------------------------------


def _unique_params(params: Iterable[Tensor] | Any) -> list[Tensor]:
    """The distinct tensors of `params` (a Module's parameters() when given a module), in order."""
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    seen: set[int] = set()
    out = []
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"expected parameter tensors, got {type(p).__name__}")
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def _buckets(params: list[Tensor], bucket_bytes: int) -> list[list[Tensor]]:
    """Split `params` into runs of one dtype whose values fit in `bucket_bytes` (a larger tensor gets a
    bucket of its own), preserving order within each dtype so every rank packs identically."""
    by_dtype: dict[np.dtype, list[Tensor]] = {}
    for p in params:
        by_dtype.setdefault(np.dtype(p.dtype), []).append(p)
    buckets: list[list[Tensor]] = []
    for group in by_dtype.values():
        current: list[Tensor] = []
        used = 0
        for p in group:
            nbytes = int(np.prod(p.shape)) * np.dtype(p.dtype).itemsize
            if current and used + nbytes > bucket_bytes:
                buckets.append(current)
                current, used = [], 0
            current.append(p)
            used += nbytes
        if current:
            buckets.append(current)
    return buckets


def broadcast_parameters(params: Iterable[Tensor] | Any, root: int = 0) -> None:
    """Overwrite, in place, the values of `params` (tensors or a Module) on every rank with `root`'s.

    One Bcast per dtype over a packed copy. Every rank must pass the same parameters in the same order.
    """
    comm = _world(require=False)
    if comm is None or comm.Get_size() == 1:
        return
    for bucket in _buckets(_unique_params(params), bucket_bytes=2**62):
        buf = np.concatenate([p.numpy().ravel() for p in bucket])
        comm.Bcast(buf, root=root)
        offset = 0
        for p in bucket:
            a = p.numpy()
            a[...] = buf[offset : offset + a.size].reshape(a.shape)
            offset += a.size


def allreduce_gradients(params: Iterable[Tensor] | Any, bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> int:
    """Replace each parameter's `.grad` by its average over the ranks; returns the bytes reduced per
    rank.

    The gradients are packed into contiguous buckets (one per dtype, split at `bucket_bytes`) and each
    bucket is summed with a single in-place Allreduce, so a step costs one call per bucket, not one per
    tensor. A rank whose parameter has no gradient (`.grad is None`) contributes zeros; a parameter with
    no gradient on any rank keeps `.grad = None`, as in a single process. The averaged gradients are
    fresh arrays (never the ones backward wrote). With one rank nothing changes and 0 is returned.
    """
    comm = _world(require=False)
    if comm is None or comm.Get_size() == 1:
        return 0
    if bucket_bytes <= 0:
        raise ValueError(f"bucket_bytes must be positive, got {bucket_bytes}")
    n = comm.Get_size()
    total = 0
    for bucket in _buckets(_unique_params(params), bucket_bytes):
        sizes = [int(np.prod(p.shape)) for p in bucket]
        nvalues = sum(sizes)
        # One flag slot per parameter after the values, summed with them: how many ranks had a gradient.
        buf = np.zeros(nvalues + len(bucket), dtype=bucket[0].dtype)
        offset = 0
        for i, (p, k) in enumerate(zip(bucket, sizes)):
            g = p.grad
            if g is not None:
                buf[offset : offset + k] = g.numpy().ravel()
                buf[nvalues + i] = 1
            offset += k
        comm.Allreduce(_MPI.IN_PLACE, buf, op=_MPI.SUM)
        total += buf.nbytes
        values = buf[:nvalues]
        values /= n
        offset = 0
        for i, (p, k) in enumerate(zip(bucket, sizes)):
            p.grad = values[offset : offset + k].reshape(p.shape) if buf[nvalues + i] else None
            offset += k
    return total


_OPS = ("sum", "mean", "max", "min")


def allreduce(x: Any, op: str = "sum") -> np.ndarray:
    """The elementwise `op` ("sum", "mean", "max" or "min") of array `x` over all ranks, as a new array
    on every rank (a copy of `x` with one rank; "mean" gives a float array)."""
    if op not in _OPS:
        raise ValueError(f"op must be one of {', '.join(map(repr, _OPS))}, got {op!r}")
    a = np.array(x, copy=True)
    if op == "mean" and a.dtype.kind not in "fc":
        a = a.astype(np.float64)
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    comm = _world(require=False)
    if comm is None or comm.Get_size() == 1:
        return a
    mpi_op = {"sum": _MPI.SUM, "mean": _MPI.SUM, "max": _MPI.MAX, "min": _MPI.MIN}[op]
    comm.Allreduce(_MPI.IN_PLACE, a, op=mpi_op)
    if op == "mean":
        a /= comm.Get_size()
    return a


def allreduce_metrics(metrics: Mapping[str, float], op: str = "mean") -> dict[str, float]:
    """`metrics` (name -> number) reduced over the ranks with `op` ("mean", "sum", "max", "min"), in one
    Allreduce of a float64 vector. Every rank must pass the same names."""
    names = sorted(metrics)
    values = allreduce(np.array([float(metrics[k]) for k in names], dtype=np.float64), op)
    return dict(zip(names, (float(v) for v in values)))


# --- the model wrapper ------------------------------------------------------------------------------


class DistributedDataParallel:
    """Wrap `module` for data-parallel training: every rank starts from rank `root`'s parameters, and
    `sync_gradients()` after each backward averages the gradients, so all ranks take the same optimizer
    step and their copies stay identical.

    Calling the wrapper calls the module; other attributes (`parameters()`, `state_dict()`, `train()`,
    ...) are the module's, so it drops into a training loop written for the module. With one rank (or no
    MPI) it is a transparent pass-through.

    With `train()`: `train(ddp, opt, sharded_loader, epochs, sync_grads=ddp.sync_gradients,
    reduce=distributed.allreduce, verbose=distributed.is_main())`.
    """

    def __init__(self, module: Any, root: int = 0, bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> None:
        self.module = module
        self.bucket_bytes = int(bucket_bytes)
        if self.bucket_bytes <= 0:
            raise ValueError(f"bucket_bytes must be positive, got {bucket_bytes}")
        self.rank = rank()
        self.size = size()
        broadcast_parameters(module.parameters(), root=root)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def sync_gradients(self, params: Iterable[Tensor] | None = None) -> int:
        """Average the gradients of `params` (default: all the module's parameters) over the ranks;
        returns the bytes reduced per rank (0 with one rank)."""
        return allreduce_gradients(
            self.module.parameters() if params is None else params, self.bucket_bytes
        )

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the wrapper lacks; guard "module" itself during unpickling/copying.
        if name == "module":
            raise AttributeError(name)
        return getattr(self.module, name)

    def __repr__(self) -> str:
        return f"DistributedDataParallel(rank={self.rank}, size={self.size}, module={self.module!r})"


# Under a multi-rank launcher, start MPI now so that the failure hook covers the whole script. A broken
# or missing mpi4py is reported by the first call that needs MPI, not by this import.
if _launcher_size() > 1:
    try:
        _world(require=False)
    except Exception:
        _comm = _UNSET
