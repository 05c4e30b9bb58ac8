"""The data sets `wengert train` knows by name, and the preprocessing it applies to them."""

from __future__ import annotations

import os

import numpy as np

from .mnist import load_fashion_mnist, load_mnist

__all__ = ["DATASETS", "FASHION_CLASSES", "load_dataset", "standardize", "subset"]

DATASETS = ("mnist-bundled", "mnist", "fashion-mnist")
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> Split:
    """(x_train, y_train, x_test, y_test, class names) of the data set `name` (one of `DATASETS`).

    mnist-bundled takes no `data_dir`; mnist needs one; fashion-mnist reads `data_dir` or the folder of
    Debian's dataset-fashion-mnist package.
    """
    if name == "mnist-bundled":
        if data_dir is not None:
            raise ValueError("a data directory is for mnist or fashion-mnist, not mnist-bundled")
        return (*load_mnist(), [str(i) for i in range(10)])
    if name == "mnist":
        if data_dir is None:
            raise ValueError(
                "mnist needs a data directory holding the four MNIST IDX files "
                "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                "t10k-labels-idx1-ubyte, optionally .gz); or use mnist-bundled"
            )
        return (*load_mnist(data_dir), [str(i) for i in range(10)])
    if name == "fashion-mnist":
        return (*load_fashion_mnist(data_dir), list(FASHION_CLASSES))
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def standardize(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    """(x - mean) / std as float32: zero-mean inputs keep sigmoid units out of saturation."""
    return ((x - np.float32(mean)) / np.float32(std)).astype(np.float32, copy=False)


def subset(x: np.ndarray, y: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """A random (fixed-seed) subset of n samples, in their original order; the splits are ordered by
    class, so the first n would not do."""
    if n is None or n >= len(x):
        return x, y
    idx = np.sort(np.random.default_rng(0).permutation(len(x))[:n])
    return x[idx], y[idx]
