"""Datasets and batching: IDX files, MNIST / Fashion-MNIST, and a numpy ``DataLoader``."""

from .datasets import DATASETS, load_dataset, standardize, subset
from .idx import load_idx, save_idx
from .loader import DataLoader, one_hot
from .mnist import FASHION_MNIST_DIR, load_fashion_mnist, load_mnist

__all__ = [
    "DATASETS",
    "FASHION_MNIST_DIR",
    "DataLoader",
    "load_dataset",
    "load_fashion_mnist",
    "load_idx",
    "load_mnist",
    "one_hot",
    "save_idx",
    "standardize",
    "subset",
]
