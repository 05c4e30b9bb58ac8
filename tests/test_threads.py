"""wengert.threads: limiting numpy's BLAS threads, and `wengert train --threads`."""

from __future__ import annotations

import numpy as np
import pytest

from wengert import threads
from wengert.cli import main


def _blas_threads() -> int:
    info = threads.blas_info()
    if not info:
        pytest.skip("threadpoolctl is not installed or numpy's BLAS is not visible to it")
    return info[0]["num_threads"]


def test_blas_threads_limits_and_restores():
    before = _blas_threads()
    with threads.blas_threads(1):
        assert _blas_threads() == 1
        a = np.ones((64, 64))
        np.testing.assert_array_equal(a @ a, np.full((64, 64), 64.0))
    assert _blas_threads() == before


def test_blas_threads_none_changes_nothing():
    before = _blas_threads()
    with threads.blas_threads(None):
        assert _blas_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_blas_threads_needs_a_positive_integer(bad):
    with pytest.raises(ValueError, match="positive integer"), threads.blas_threads(bad):
        pass


def test_missing_threadpoolctl(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_threadpoolctl(name, *args, **kwargs):
        if name == "threadpoolctl":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_threadpoolctl)
    with pytest.raises(ImportError, match=r"wengert\[threads\]"), threads.blas_threads(1):
        pass
    with threads.blas_threads(1, required=False):  # optional: nothing changes, nothing fails
        pass
    assert threads.blas_info() == []


def test_train_threads_option(tmp_path, capsys):
    _blas_threads()
    before = _blas_threads()
    args = ["train", "--epochs", "1", "--hidden", "8", "--limit", "100", "--no-plot", "--quiet"]
    assert main([*args, "--threads", "1", "--out", str(tmp_path)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert _blas_threads() == before  # the limit ends with the command
    with pytest.raises(SystemExit):
        main(["train", "--threads", "0"])
