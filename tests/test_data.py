"""Tests for wengert.data: IDX files, MNIST / Fashion-MNIST loaders, DataLoader, one_hot."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from wengert.data import (
    FASHION_MNIST_DIR,
    DataLoader,
    load_fashion_mnist,
    load_idx,
    load_mnist,
    one_hot,
    save_idx,
)

# ----------------------------------------------------------------------------- IDX


def write_raw_idx(path: Path, arr: np.ndarray, code: int, gz: bool = False) -> bytes:
    """Write an IDX file by hand (independently of save_idx) and return its bytes."""
    be = arr.astype(arr.dtype.newbyteorder(">"))
    payload = bytes([0, 0, code, arr.ndim])
    payload += np.asarray(arr.shape, dtype=">u4").tobytes() + be.tobytes()
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return payload


@pytest.mark.parametrize("gz", [False, True])
def test_idx_labels_1d(tmp_path: Path, gz: bool) -> None:
    labels = np.array([5, 0, 4, 1, 9, 2], dtype=np.uint8)
    p = tmp_path / ("labels.gz" if gz else "labels")
    write_raw_idx(p, labels, 0x08, gz=gz)
    got = load_idx(p)
    assert got.dtype == np.uint8 and got.shape == (6,)
    np.testing.assert_array_equal(got, labels)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_images_3d(tmp_path: Path, gz: bool) -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(3, 4, 5), dtype=np.uint8)
    p = tmp_path / "images"
    write_raw_idx(p, images, 0x08, gz=gz)
    np.testing.assert_array_equal(load_idx(p), images)


def test_idx_gzip_detected_by_magic_not_extension(tmp_path: Path) -> None:
    arr = np.arange(10, dtype=np.uint8)
    p = tmp_path / "no-extension-but-gzipped"
    write_raw_idx(p, arr, 0x08, gz=True)
    np.testing.assert_array_equal(load_idx(p), arr)


@pytest.mark.parametrize(
    ("dtype", "code"),
    [(np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)],
)
def test_idx_other_dtypes_big_endian(tmp_path: Path, dtype: type, code: int) -> None:
    arr = (np.arange(12).reshape(3, 4) - 5).astype(dtype) * 3
    p = tmp_path / "a.idx"
    write_raw_idx(p, arr, code)
    got = load_idx(p)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, arr)


@pytest.mark.parametrize("name", ["x.idx", "x.idx.gz"])
def test_save_idx_round_trip(tmp_path: Path, name: str) -> None:
    arr = np.random.default_rng(1).normal(size=(2, 3, 4)).astype(np.float32)
    save_idx(tmp_path / name, arr)
    got = load_idx(tmp_path / name)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, arr)
    is_gz = (tmp_path / name).read_bytes()[:2] == b"\x1f\x8b"
    assert is_gz == name.endswith(".gz")


def test_idx_bad_magic(tmp_path: Path) -> None:
    p = tmp_path / "bad"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    with pytest.raises(ValueError, match="bad IDX magic") as info:
        load_idx(p)
    assert str(p) in str(info.value)


def test_idx_unknown_dtype_code(tmp_path: Path) -> None:
    p = tmp_path / "code"
    p.write_bytes(bytes([0, 0, 0x07, 1]) + (3).to_bytes(4, "big") + bytes(3))
    with pytest.raises(ValueError, match="unknown IDX type code 0x07"):
        load_idx(p)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated(tmp_path: Path, gz: bool) -> None:
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    full = tmp_path / "full"
    payload = write_raw_idx(full, images, 0x08)
    cut = tmp_path / "cut"
    short = payload[:-100]
    cut.write_bytes(gzip.compress(short) if gz else short)
    with pytest.raises(ValueError, match="truncated") as info:
        load_idx(cut)
    assert str(cut) in str(info.value)
    # A header cut off inside the dimension sizes.
    (tmp_path / "hdr").write_bytes(payload[:9])
    with pytest.raises(ValueError, match="truncated IDX header"):
        load_idx(tmp_path / "hdr")


def test_idx_truncated_gzip_stream(tmp_path: Path) -> None:
    p = tmp_path / "x.gz"
    write_raw_idx(p, np.zeros((50, 28, 28), np.uint8), 0x08, gz=True)
    p.write_bytes(p.read_bytes()[:-30])
    with pytest.raises(ValueError, match="gzip"):
        load_idx(p)


# ----------------------------------------------------------------------------- MNIST


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return load_mnist()


def test_bundled_mnist_shapes_dtypes_ranges(mnist) -> None:
    x_train, y_train, x_test, y_test = mnist
    assert x_train.shape == (8000, 784) and x_test.shape == (2000, 784)
    assert y_train.shape == (8000,) and y_test.shape == (2000,)
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0
        # Pixels are the original 8-bit values divided by 255.
        np.testing.assert_allclose(x * 255, np.rint(x * 255), atol=1e-3)
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))


def test_bundled_mnist_split_disjoint_and_balanced(mnist) -> None:
    x_train, y_train, x_test, y_test = mnist
    train = {row.tobytes() for row in (x_train * 255).round().astype(np.uint8)}
    test = [row.tobytes() for row in (x_test * 255).round().astype(np.uint8)]
    assert len(train) == len(x_train) and len(set(test)) == len(test)
    assert not train.intersection(test)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), np.full(10, 200))
    assert np.bincount(y_train, minlength=10).min() > 600


def test_bundled_mnist_looks_like_digits(mnist) -> None:
    x_train = mnist[0]
    # MNIST digits are centred: the border is nearly empty and the centre is not.
    images = x_train.reshape(-1, 28, 28)
    assert images[:, :2, :].mean() < 0.01
    assert images[:, 10:18, 10:18].mean() > 0.2


def _write_fake_mnist(directory: Path, dotted: bool, gz: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (7, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 7, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3, dtype=np.uint8),
    }
    for stem, arr in arrays.items():
        name = stem.replace("-idx", ".idx") if dotted else stem
        write_raw_idx(directory / (name + (".gz" if gz else "")), arr, 0x08, gz=gz)
    return arrays


@pytest.mark.parametrize(("dotted", "gz"), [(False, False), (False, True), (True, False)])
def test_load_mnist_from_directory(tmp_path: Path, dotted: bool, gz: bool) -> None:
    arrays = _write_fake_mnist(tmp_path, dotted, gz)
    x_train, y_train, x_test, y_test = load_mnist(tmp_path)
    assert x_train.shape == (7, 784) and x_test.shape == (3, 784)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    np.testing.assert_allclose(
        x_train, arrays["train-images-idx3-ubyte"].reshape(7, 784) / 255, rtol=1e-6
    )
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])


def test_load_mnist_missing_files_lists_names(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path)
    msg = str(info.value)
    assert str(tmp_path) in msg
    for name in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte.gz", "train-images.idx3-ubyte"):
        assert name in msg


def test_load_mnist_label_count_mismatch(tmp_path: Path) -> None:
    _write_fake_mnist(tmp_path, dotted=False, gz=False)
    write_raw_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5, np.uint8), 0x08)
    with pytest.raises(ValueError, match="7 images"):
        load_mnist(tmp_path)


def test_fashion_mnist_from_path(tmp_path: Path) -> None:
    _write_fake_mnist(tmp_path, dotted=False, gz=True)
    assert load_fashion_mnist(tmp_path)[0].shape == (7, 784)


@pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian package dataset-fashion-mnist is not installed",
)
def test_fashion_mnist_debian_files() -> None:
    x_train, y_train, x_test, y_test = load_fashion_mnist()
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() >= 0.0 and x_train.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(y_train), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(y_test), np.full(10, 1000))


def test_fashion_mnist_missing_names_debian_package(tmp_path: Path, monkeypatch) -> None:
    import wengert.data.mnist as mnist_mod

    monkeypatch.setattr(mnist_mod, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist()


# ----------------------------------------------------------------------------- DataLoader


def _xy(n: int = 23) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return x, np.arange(n)


def _epoch(loader: DataLoader) -> np.ndarray:
    """Labels seen in one full epoch, in order (y is the sample index)."""
    batches = list(loader)
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)  # x and y stay paired
    return np.concatenate([yb for _, yb in batches]) if batches else np.array([], int)


@pytest.mark.parametrize("shuffle", [False, True])
def test_loader_covers_each_sample_once(shuffle: bool) -> None:
    x, y = _xy()
    loader = DataLoader(x, y, batch_size=5, shuffle=shuffle, seed=0)
    assert len(loader) == 5
    sizes = [len(yb) for _, yb in loader]
    assert sizes == [5, 5, 5, 5, 3]
    for _ in range(3):
        seen = _epoch(loader)
        assert sorted(seen.tolist()) == list(range(23))
    if not shuffle:
        np.testing.assert_array_equal(_epoch(loader), np.arange(23))


def test_loader_shuffle_deterministic_and_new_each_epoch() -> None:
    x, y = _xy(50)
    a = DataLoader(x, y, batch_size=8, shuffle=True, seed=42)
    b = DataLoader(x, y, batch_size=8, shuffle=True, seed=42)
    ea = [_epoch(a) for _ in range(3)]
    eb = [_epoch(b) for _ in range(3)]
    for u, v in zip(ea, eb, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(ea[0], ea[1]) and not np.array_equal(ea[1], ea[2])
    assert not np.array_equal(ea[0], np.arange(50))
    assert a.epoch == 3
    c = DataLoader(x, y, batch_size=8, shuffle=True, seed=43)
    assert not np.array_equal(_epoch(c), ea[0])
    # set_epoch reproduces a given epoch's order.
    a.set_epoch(1)
    np.testing.assert_array_equal(_epoch(a), ea[1])


def test_loader_epoch_advances_only_on_full_iteration() -> None:
    x, y = _xy(20)
    loader = DataLoader(x, y, batch_size=4, shuffle=True, seed=1)
    first = next(iter(loader))[1]
    assert loader.epoch == 0
    np.testing.assert_array_equal(next(iter(loader))[1], first)
    _epoch(loader)
    assert loader.epoch == 1


def test_loader_shuffle_without_seed_still_permutes() -> None:
    x, y = _xy(30)
    loader = DataLoader(x, y, batch_size=7, shuffle=True)
    assert sorted(_epoch(loader).tolist()) == list(range(30))


def test_loader_drop_last() -> None:
    x, y = _xy(23)
    loader = DataLoader(x, y, batch_size=5, drop_last=True, shuffle=True, seed=0)
    assert len(loader) == 4 and loader.num_samples == 20
    batches = list(loader)
    assert len(batches) == 4 and all(len(yb) == 5 for _, yb in batches)
    assert len(set(np.concatenate([yb for _, yb in batches]).tolist())) == 20


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize(("n", "size"), [(23, 4), (24, 3), (10, 10)])
def test_loader_shard_disjoint_equal_and_covering(shuffle: bool, n: int, size: int) -> None:
    x, y = _xy(n)
    loaders = [
        DataLoader(x, y, batch_size=2, shuffle=shuffle, seed=7, shard=(r, size)) for r in range(size)
    ]
    for epoch in range(3):
        parts = [_epoch(loader) for loader in loaders]
        assert {len(p) for p in parts} == {n // size}
        union = np.concatenate(parts)
        assert len(set(union.tolist())) == len(union) == (n // size) * size
        assert set(union.tolist()) <= set(range(n))
        if shuffle and epoch == 0:
            first = union
    if shuffle:
        # Later epochs give the ranks different samples than epoch 0.
        assert not np.array_equal(np.sort(first), np.sort(union)) or n % size == 0
    assert all(len(loader) == -(-(n // size) // 2) for loader in loaders)


def test_loader_shard_single_rank_is_whole_dataset() -> None:
    x, y = _xy(11)
    loader = DataLoader(x, y, batch_size=3, shard=(0, 1))
    np.testing.assert_array_equal(_epoch(loader), np.arange(11))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1, got 0"),
        ({"batch_size": -3}, ValueError, "got -3"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be an int, got 2.5"),
        ({"batch_size": True}, TypeError, "batch_size"),
        ({"shard": (3, 3)}, ValueError, "shard rank 3 out of range for size 3"),
        ({"shard": (-1, 3)}, ValueError, "shard rank must be >= 0, got -1"),
        ({"shard": (0, 0)}, ValueError, "shard size must be >= 1, got 0"),
        ({"shard": 2}, TypeError, "shard must be a \\(rank, size\\) pair, got 2"),
        ({"shard": (0, 2), "shuffle": True}, ValueError, "explicit seed"),
        ({"shard": (0, 50)}, ValueError, "cannot be split over 50"),
    ],
)
def test_loader_argument_validation(kwargs: dict, exc: type, match: str) -> None:
    x, y = _xy(10)
    with pytest.raises(exc, match=match):
        DataLoader(x, y, **kwargs)


def test_loader_length_mismatch() -> None:
    with pytest.raises(ValueError, match="len\\(x\\) = 5 but len\\(y\\) = 4"):
        DataLoader(np.zeros((5, 2)), np.zeros(4))


def test_one_hot() -> None:
    out = one_hot(np.array([0, 2, 1]), 3)
    np.testing.assert_array_equal(out, np.eye(3)[[0, 2, 1]])
    assert out.dtype == np.float32
    assert one_hot(np.array([[1, 0]]), 2).shape == (1, 2, 2)
    assert one_hot([], 4).shape == (0, 4)
    with pytest.raises(ValueError, match="label 5 out of range for num_classes=3"):
        one_hot([0, 5], 3)
    with pytest.raises(ValueError, match="label -1"):
        one_hot([-1], 3)
    with pytest.raises(TypeError, match="integers"):
        one_hot([0.5], 3)
