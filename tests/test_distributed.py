"""Tests for wengert.distributed: data-parallel training over MPI.

The multi-rank tests start `mpiexec -n 2` subprocesses running scripts written into tmp_path; they are
skipped when mpi4py or an mpiexec is not installed (`pip install "wengert[mpi]"` provides both). The
single-process tests block the mpi4py import and run everywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from wengert import distributed as dist
from wengert import nn, optim
from wengert.data import DataLoader
from wengert.nn.losses import cross_entropy
from wengert.tensor import as_tensor

SRC = str(Path(__file__).resolve().parents[1] / "src")


# --- helpers -------------------------------------------------------------------------------------------


def _mpiexec_or_skip(n: int) -> list[str]:
    if not dist.is_available():
        pytest.skip('mpi4py is not installed (pip install "wengert[mpi]")')
    try:
        return dist.mpiexec_command(n)
    except FileNotFoundError:
        pytest.skip("no mpiexec found")


def _run_ranks(
    script: Path, *args: str, n: int = 2, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run `script` on `n` ranks; returns the finished process (stdout and stderr merged)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    # One BLAS thread per rank: the ranks already share the cores.
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [*_mpiexec_or_skip(n), sys.executable, str(script), *args]
    return subprocess.run(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )


@pytest.fixture
def no_mpi(monkeypatch):
    """wengert.distributed as it behaves where mpi4py is not installed and no launcher started us."""
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)
    for var in dist._LAUNCHER_SIZE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(dist, "_comm", dist._UNSET)
    monkeypatch.setattr(dist, "_MPI", None)
    return dist


# The training run shared by the 2-rank job and the single-process reference: `sync` is None for the
# reference, the DistributedDataParallel wrapper on the ranks.
TRAINING = textwrap.dedent(
    """
    import numpy as np
    from wengert import nn, optim
    from wengert.data import DataLoader
    from wengert.nn.losses import cross_entropy
    from wengert.tensor import as_tensor

    GLOBAL_BATCH, STEPS = 32, 20

    def data():
        rng = np.random.default_rng(7)
        x = rng.standard_normal((256, 12)).astype(np.float32)
        y = (x[:, :5].argmax(axis=1) + (x[:, 5] > 1)).astype(np.int64) % 5
        return x, y

    def run(model, rank=0, size=1, sync=None):
        x, y = data()
        shard = (rank, size) if size > 1 else None
        loader = DataLoader(x, y, GLOBAL_BATCH // size, shuffle=True, seed=3, shard=shard)
        opt = optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
        step = 0
        while step < STEPS:
            for xb, yb in loader:
                loss = cross_entropy(model(as_tensor(xb)), yb)
                opt.zero_grad()
                loss.backward()
                if sync is not None:
                    sync()
                opt.step()
                step += 1
                if step == STEPS:
                    break
        return {name: p.numpy().copy() for name, p in model.named_parameters()}
    """
)

WORKER = TRAINING + textwrap.dedent(
    """
    import sys
    from wengert import distributed as dist

    out = sys.argv[1]
    rank, size = dist.rank(), dist.size()
    assert size == 2, f"expected 2 ranks, got {size}: does mpiexec match the MPI of mpi4py?"
    # A different initialisation on each rank: the wrapper must broadcast rank 0's.
    model = dist.DistributedDataParallel(nn.MLP([12, 16, 5], "tanh", seed=rank))
    params = run(model, rank, size, sync=model.sync_gradients)
    np.savez(f"{out}/params_rank{rank}.npz", **params)
    """
)


# --- multi-rank tests ----------------------------------------------------------------------------------


def test_two_ranks_match_one_process(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    proc = _run_ranks(script, str(tmp_path))
    assert proc.returncode == 0, proc.stdout

    namespace: dict = {"__name__": "reference"}
    exec(compile(TRAINING, "training", "exec"), namespace)
    reference = namespace["run"](nn.MLP([12, 16, 5], "tanh", seed=0))
    initial = dict(nn.MLP([12, 16, 5], "tanh", seed=0).named_parameters())
    for r in range(2):
        with np.load(tmp_path / f"params_rank{r}.npz") as got:
            assert sorted(got.files) == sorted(reference)
            for name, want in reference.items():
                assert not np.allclose(want, initial[name].numpy())  # it did train
                np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-6, err_msg=name)


COLLECTIVES = textwrap.dedent(
    """
    import numpy as np
    from wengert import distributed as dist, nn
    from wengert.tensor import tensor

    comm = dist.init()
    rank, size = dist.rank(), dist.size()
    assert size == 2 and dist.is_main() == (rank == 0)

    class Counting:  # counts the Allreduce calls going through the real communicator
        def __init__(self, comm):
            self.comm, self.allreduces = comm, 0
        def Allreduce(self, *args, **kwargs):
            self.allreduces += 1
            return self.comm.Allreduce(*args, **kwargs)
        def __getattr__(self, name):
            return getattr(self.comm, name)

    counting = dist._comm = Counting(comm)

    def make():
        ps = [tensor(np.zeros(s, np.float32), requires_grad=True) for s in [(3, 4), (4,), (5,), (2, 2)]]
        ps.append(tensor(np.zeros(3), requires_grad=True))  # float64: a bucket of its own
        for i, p in enumerate(ps):
            if i == 2 and rank == 1:
                continue  # no gradient on rank 1 only: counts as zeros
            if i == 3:
                continue  # no gradient anywhere: stays None
            p.grad = np.full(p.shape, 10.0 * i + rank + 1)
        return ps

    # One bucket per dtype by default: two Allreduce calls for five tensors.
    ps = make()
    nbytes = dist.allreduce_gradients(ps)
    assert counting.allreduces == 2, counting.allreduces
    assert nbytes == (12 + 4 + 5 + 4 + 4) * 4 + (3 + 1) * 8, nbytes
    np.testing.assert_array_equal(ps[0].grad.numpy(), np.full((3, 4), 1.5, np.float32))
    np.testing.assert_array_equal(ps[1].grad.numpy(), np.full(4, 11.5, np.float32))
    np.testing.assert_array_equal(ps[2].grad.numpy(), np.full(5, 10.5, np.float32))  # (21 + 0) / 2
    assert ps[3].grad is None
    assert ps[4].grad.dtype == np.float64 and np.all(ps[4].grad.numpy() == 41.5)

    # Small buckets: more calls, same averages.
    counting.allreduces = 0
    qs = make()
    dist.allreduce_gradients(qs, bucket_bytes=32)
    assert counting.allreduces > 2, counting.allreduces
    for p, q in zip(ps, qs):
        assert (p.grad is None) == (q.grad is None)
        if p.grad is not None:
            np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())

    # Metrics and arrays.
    m = dist.allreduce_metrics({"loss": 1.0 + rank, "correct": 3 * rank}, op="mean")
    assert m == {"correct": 1.5, "loss": 1.5}, m
    assert dist.allreduce_metrics({"n": 5}, op="sum") == {"n": 10.0}
    np.testing.assert_array_equal(dist.allreduce(np.array([rank, -rank]), "max"), [1, 0])
    np.testing.assert_array_equal(dist.allreduce(np.array([1, 2]), "mean"), [1.0, 2.0])

    # Broadcast overwrites every rank's values with the root's.
    model = nn.MLP([3, 4, 2], seed=rank)
    dist.broadcast_parameters(model, root=1)
    want = nn.MLP([3, 4, 2], seed=1)
    for p, q in zip(model.parameters(), want.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    dist.barrier()
    print(f"rank {rank} ok", flush=True)
    """
)


def test_collectives_on_two_ranks(tmp_path):
    script = tmp_path / "collectives.py"
    script.write_text(COLLECTIVES)
    proc = _run_ranks(script)
    assert proc.returncode == 0, proc.stdout
    assert "rank 0 ok" in proc.stdout and "rank 1 ok" in proc.stdout


FAILING = textwrap.dedent(
    """
    import sys
    import numpy as np
    from mpi4py import MPI
    from wengert import distributed as dist  # under mpiexec, this alone arms the failure hook

    if sys.argv[1] == "late":
        dist.barrier()
    if MPI.COMM_WORLD.Get_rank() == 1:
        raise RuntimeError("deliberate failure")
    while True:  # rank 0 would wait here forever for rank 1
        dist.allreduce(np.ones(3))
    """
)


@pytest.mark.parametrize("when", ["early", "late"])
def test_failing_rank_ends_the_job(tmp_path, when):
    script = tmp_path / "failing.py"
    script.write_text(FAILING)
    start = time.monotonic()
    try:
        proc = _run_ranks(script, when, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("a failing rank left the job hanging for 30 s")
    assert proc.returncode != 0
    assert "rank 1 failed: RuntimeError: deliberate failure" in proc.stdout, proc.stdout
    assert time.monotonic() - start < 30


# --- one process, no MPI -------------------------------------------------------------------------------


def test_single_process_without_mpi(no_mpi):
    assert not dist.is_available()
    assert (dist.rank(), dist.size(), dist.is_main()) == (0, 1, True)
    dist.barrier()
    np.testing.assert_array_equal(dist.allreduce(np.array([1.0, 2.0]), "mean"), [1.0, 2.0])
    assert dist.allreduce_metrics({"loss": 0.5, "acc": 0.25}) == {"loss": 0.5, "acc": 0.25}

    # The wrapper is a pass-through and training matches the plain model step for step.
    model = dist.DistributedDataParallel(nn.MLP([4, 8, 3], seed=0))
    plain = nn.MLP([4, 8, 3], seed=0)
    assert list(model.parameters()) == list(model.module.parameters())
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 4)).astype(np.float32), rng.integers(0, 3, 16)
    for m in (model, plain):
        opt = optim.SGD(m.parameters(), lr=0.1)
        for xb, yb in DataLoader(x, y, 4):
            opt.zero_grad()
            cross_entropy(m(as_tensor(xb)), yb).backward()
            grads = [p.grad for p in m.parameters()]
            if m is model:
                assert model.sync_gradients() == 0
                # identity with one rank: the very arrays backward wrote
                for g, p in zip(grads, m.parameters()):
                    assert np.shares_memory(g.numpy(), p.grad.numpy())
            opt.step()
    for p, q in zip(model.parameters(), plain.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert model.state_dict().keys() == plain.state_dict().keys()
    with pytest.raises(SystemExit):
        dist.abort(3)


def test_mpi_requested_without_mpi4py(no_mpi, monkeypatch):
    with pytest.raises(ImportError, match=r'pip install "wengert\[mpi\]"'):
        dist.init()
    # Started by a launcher as one of several ranks: falling back to one process would be wrong.
    monkeypatch.setenv("PMI_SIZE", "4")
    with pytest.raises(ImportError, match=r"one of 4 MPI ranks.*wengert\[mpi\]"):
        dist.rank()
    with pytest.raises(ImportError, match=r"wengert\[mpi\]"):
        dist.DistributedDataParallel(nn.MLP([2, 2], seed=0))


def test_bad_arguments(no_mpi):
    with pytest.raises(ValueError, match="op must be one of"):
        dist.allreduce(np.ones(2), op="prod")
    with pytest.raises(ValueError, match="bucket_bytes"):
        dist.DistributedDataParallel(nn.MLP([2, 2], seed=0), bucket_bytes=0)
    with pytest.raises(TypeError, match="parameter tensors"):
        dist._unique_params([np.ones(2)])


# --- the `wengert train --distributed` command ---------------------------------------------------------


def test_cli_distributed_matches_one_process(tmp_path, capsys):
    from wengert import io
    from wengert.cli import DEFAULTS, main

    quick = ["--limit", "600", "--epochs", "2", "--no-plot", "--quiet"]
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [*_mpiexec_or_skip(2), sys.executable, "-m", "wengert", "train", "--distributed", *quick]
    proc = subprocess.run(
        [*cmd, "--out", str(tmp_path / "dist")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.count("test accuracy:") == 1, proc.stdout  # only rank 0 speaks
    assert main(["train", *quick, "--out", str(tmp_path / "single")]) == 0
    single = capsys.readouterr().out
    assert proc.stdout.splitlines()[0] == single.splitlines()[0]  # the same accuracy line
    got, want = (
        io.load(tmp_path / "dist" / "model.safetensors"),
        io.load(tmp_path / "single" / "model.safetensors"),
    )
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)
    meta = io.load_metadata(tmp_path / "dist" / "model.safetensors")
    assert meta["training"]["world_size"] == 2
    assert meta["training"]["batch_size"] == DEFAULTS["batch_size"]  # the global batch


def test_cli_distributed_error_ends_every_rank(tmp_path):
    script = tmp_path / "cli.py"
    script.write_text("from wengert.cli import main\nraise SystemExit(main())\n")
    start = time.monotonic()
    args = ["train", "--distributed", "--batch-size", "33", "--limit", "100"]
    proc = _run_ranks(script, *args, timeout=60)
    assert proc.returncode != 0
    assert "does not split evenly over 2 ranks" in proc.stdout, proc.stdout
    assert time.monotonic() - start < 60


def test_cli_distributed_without_mpi4py(no_mpi, capsys):
    from wengert.cli import main

    assert main(["train", "--distributed", "--limit", "100", "--epochs", "1"]) == 1
    assert 'pip install "wengert[mpi]"' in capsys.readouterr().err
