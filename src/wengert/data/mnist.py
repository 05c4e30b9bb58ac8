"""MNIST and Fashion-MNIST loaders.

``load_mnist()`` with no path uses a 10,000-digit MNIST subset bundled with the package
(see ``README.md`` next to this file); with a directory it reads the four standard IDX files.
``load_fashion_mnist()`` with no path reads the files installed by Debian's
``dataset-fashion-mnist`` package.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np

from .idx import load_idx

__all__ = ["FASHION_MNIST_DIR", "load_fashion_mnist", "load_mnist"]

# Where Debian/Ubuntu's `dataset-fashion-mnist` package installs the IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

_STEMS = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _candidates(stem: str) -> list[str]:
    """File names accepted for ``stem``: the ``-idx`` and ``.idx`` spellings, plain or .gz."""
    dotted = stem.replace("-idx", ".idx")
    return [stem, stem + ".gz", dotted, dotted + ".gz"]


def _find(directory: Path, stem: str) -> Path | None:
    """Return the first existing file for ``stem`` in ``directory``, or None."""
    for name in _candidates(stem):
        p = directory / name
        if p.is_file():
            return p
    return None


def _prepare(images: np.ndarray, labels: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Flatten images to float32 (n, 784) in [0, 1] and labels to int64 (n,), checking shapes."""
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{where}: expected images of shape (n, 28, 28), got {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{where}: {len(images)} images but labels of shape {labels.shape}")
    x = images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)
    return x, labels.astype(np.int64)


def _load_idx_dir(directory: Path, hint: str = "") -> Split:
    """Load the four standard MNIST-layout IDX files from ``directory``."""
    if not directory.exists():
        raise FileNotFoundError(f"no such directory: {directory}{hint}")
    if not directory.is_dir():
        raise NotADirectoryError(f"not a directory: {directory} (give the folder holding the IDX files)")
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key, stem in _STEMS.items():
        p = _find(directory, stem)
        if p is None:
            missing.append(" or ".join(_candidates(stem)))
        else:
            found[key] = p
    if missing:
        looked = "\n  ".join(missing)
        raise FileNotFoundError(f"IDX files not found in {directory}; looked for:\n  {looked}{hint}")
    x_train, y_train = _prepare(
        load_idx(found["x_train"]), load_idx(found["y_train"]), str(found["x_train"])
    )
    x_test, y_test = _prepare(load_idx(found["x_test"]), load_idx(found["y_test"]), str(found["x_test"]))
    return x_train, y_train, x_test, y_test


def _load_bundled() -> Split:
    """Load the bundled 8,000/2,000 MNIST subset shipped as ``mnist_subset.npz``."""
    ref = resources.files(__package__).joinpath("mnist_subset.npz")
    with resources.as_file(ref) as p, np.load(p, allow_pickle=False) as z:
        x_train, y_train = _prepare(
            z["x_train"].reshape(-1, 28, 28), z["y_train"], "bundled MNIST subset"
        )
        x_test, y_test = _prepare(z["x_test"].reshape(-1, 28, 28), z["y_test"], "bundled MNIST subset")
    return x_train, y_train, x_test, y_test


def load_mnist(path: str | os.PathLike[str] | None = None) -> Split:
    """Return MNIST as ``(x_train, y_train, x_test, y_test)``.

    Images are float32 arrays of shape (n, 784) with pixels in [0, 1]; labels are int64 in
    0..9. With ``path=None`` this is the bundled subset of 10,000 real MNIST digits (8,000
    train, 2,000 test with 200 per class). With a directory it reads
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte`` (optionally ``.gz``, or spelt ``train-images.idx3-ubyte``).
    """
    if path is None:
        return _load_bundled()
    return _load_idx_dir(Path(path))


def load_fashion_mnist(path: str | os.PathLike[str] | None = None) -> Split:
    """Return Fashion-MNIST as ``(x_train, y_train, x_test, y_test)``, like :func:`load_mnist`.

    With ``path=None`` the files are read from ``/usr/share/datasets/fashion-mnist``, where
    Debian/Ubuntu's ``dataset-fashion-mnist`` package installs the full 60,000/10,000 set.
    """
    if path is not None:
        return _load_idx_dir(Path(path))
    hint = (
        "\nInstall them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu package "
        "dataset-fashion-mnist), or download Fashion-MNIST and pass its directory as `path` "
        "(`--data-dir` on the command line)."
    )
    return _load_idx_dir(FASHION_MNIST_DIR, hint)
