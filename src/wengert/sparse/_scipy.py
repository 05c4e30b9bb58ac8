"""scipy is optional (the `sparse` extra): import it here, once, with a message that names the extra."""

from __future__ import annotations


def require_scipy():
    """The scipy.sparse module, or an ImportError telling how to install it."""
    try:
        import scipy.sparse as sp
    except ImportError as e:  # pragma: no cover - exercised by a test that hides scipy
        raise ImportError(
            "wengert's sparse Jacobians and Hessians need scipy: install the extra with "
            "`pip install wengert[sparse]` (or `pip install scipy`)"
        ) from e
    return sp
