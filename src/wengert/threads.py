"""How many threads numpy's BLAS uses for matrix products.

OpenBLAS (numpy's BLAS on most installs) starts one thread per core and lets them spin while they
wait for work. On an idle machine that is fast; when another process keeps a core busy, the spinning
threads take turns with it and a small matrix product can take ten times longer. For the matrices of a
small network one thread is as fast as several on an idle machine, and it does not collapse under
load, so `wengert train` uses one BLAS thread unless told otherwise (`--threads`).

Changing the thread count of a BLAS library that is already loaded needs threadpoolctl
(`pip install "wengert[threads]"`). Results can differ in the last digits with the number of threads:
a matrix product split differently adds its terms in a different order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["blas_info", "blas_threads"]

#: The thread count `wengert train` uses by default (measured: benchmarks/contention.py).
DEFAULT_TRAIN_THREADS = 1


def _threadpoolctl(required: bool):
    try:
        import threadpoolctl
    except ImportError:
        if required:
            raise ImportError(
                'setting the number of BLAS threads needs threadpoolctl: pip install "wengert[threads]"'
            ) from None
        return None
    return threadpoolctl


@contextlib.contextmanager
def blas_threads(n: int | None, required: bool = True) -> Iterator[None]:
    """Context manager: numpy's BLAS uses at most `n` threads inside it (None: leave it as it is).

    Without threadpoolctl installed this raises ImportError, or, with `required=False`, changes
    nothing.
    """
    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"blas_threads: the number of threads must be a positive integer, got {n!r}")
    tpc = _threadpoolctl(required)
    if tpc is None:
        yield
        return
    with tpc.threadpool_limits(limits=n, user_api="blas"):
        yield


def blas_info() -> list[dict[str, Any]]:
    """The BLAS libraries numpy has loaded, with their versions and thread counts (empty without
    threadpoolctl)."""
    import numpy  # noqa: F401  (the BLAS is visible once numpy is loaded)

    tpc = _threadpoolctl(required=False)
    if tpc is None:
        return []
    return [p for p in tpc.threadpool_info() if p.get("user_api") == "blas"]
