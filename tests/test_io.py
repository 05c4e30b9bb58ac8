"""Tests for wengert.io: save/load of state dicts without pickle."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wengert.io as wio
from wengert.io import FormatError, load, load_metadata, save


def sample_state() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {
        "model": {
            "layer1": {
                "w": rng.normal(size=(4, 3)).astype(np.float32),
                "b": np.zeros(3, dtype=np.float64),
            },
            "mask": np.array([True, False, True]),
            "ids": np.arange(5, dtype=np.int64),
            "pixels": np.arange(6, dtype=np.uint8).reshape(2, 3),
            "scale": np.array(2.5),  # 0-d array
            "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
            "empty": np.zeros((0, 3), dtype=np.float32),
        },
        "optimizer": {
            "step": 12,
            "lr": 0.001,
            "betas": (0.9, 0.999),
            "nesterov": False,
            "name": "adam ünïcödé",
            "schedule": None,
            "moments": [np.ones(2, np.float32), np.full(2, 3.0, np.float32)],
            "history": [1, 2.5, True, None, "x"],
            "np_scalar": np.float32(1.5),
            "np_int": np.int64(7),
        },
        "specials": [float("inf"), float("-inf"), -0.0, 1e-310],
        "nan": float("nan"),
        "big_int": 2**80,
    }


def assert_same(a: Any, b: Any) -> None:
    """Deep equality that also checks types, dtypes and shapes (NaN equals NaN)."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for u, v in zip(a, b, strict=True):
            assert_same(u, v)
    elif isinstance(a, np.ndarray | np.generic):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, float) and a != a:
        assert b != b
    elif isinstance(a, float):
        assert a == b and np.signbit(a) == np.signbit(b)
    else:
        assert a == b


def test_round_trip(tmp_path: Path) -> None:
    state = sample_state()
    p = tmp_path / "ckpt.wg"
    save(state, p)
    got = load(p)
    assert_same(state, got)
    assert got["model"]["scale"].shape == ()
    assert got["model"]["layer1"]["w"].flags.writeable
    assert got["model"]["fortran"].flags.f_contiguous


def test_metadata_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "m"
    meta = {"epoch": 3, "note": "best", "acc": 0.97, "tags": ["a", "b"], "cfg": {"lr": 0.1}}
    save({"w": np.ones(2)}, p, metadata=meta)
    assert load_metadata(p) == meta
    assert load_metadata(tmp_path / "m") == meta
    save({"w": np.ones(2)}, p)
    assert load_metadata(p) == {}
    with pytest.raises(TypeError, match="metadata cannot hold arrays"):
        save({}, p, metadata={"a": np.ones(2)})


def test_objects_with_numpy_or_array_methods(tmp_path: Path) -> None:
    class FakeTensor:
        def __init__(self, data: np.ndarray) -> None:
            self.data = data

        def numpy(self) -> np.ndarray:
            return self.data

    class ArrayLike:
        def __array__(self, dtype=None, copy=None) -> np.ndarray:
            return np.arange(3, dtype=np.int32)

    p = tmp_path / "t"
    save({"t": FakeTensor(np.eye(2, dtype=np.float32)), "a": ArrayLike()}, p)
    got = load(p)
    np.testing.assert_array_equal(got["t"], np.eye(2))
    assert got["t"].dtype == np.float32 and got["a"].dtype == np.int32


def test_exact_path_no_extension_added(tmp_path: Path) -> None:
    for name in ("weights", "weights.npz", "weights.bin"):
        p = tmp_path / name
        save({"x": np.ones(1)}, str(p))
        assert p.is_file()
        assert_same(load(str(p)), {"x": np.ones(1)})
    assert sorted(os.listdir(tmp_path)) == ["weights", "weights.bin", "weights.npz"]


def test_saving_is_deterministic(tmp_path: Path) -> None:
    save(sample_state(), tmp_path / "a")
    save(sample_state(), tmp_path / "b")
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_overwrite_replaces(tmp_path: Path) -> None:
    p = tmp_path / "f"
    save({"v": 1}, p)
    save({"v": 2}, p)
    assert load(p) == {"v": 2}
    assert os.listdir(tmp_path) == ["f"]


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"s": {1, 2}}, "unsupported value of type set at 's'"),
        ({"a": {"b": object()}}, "at 'a/b'"),
        ({"o": np.array([object()], dtype=object)}, "dtype object"),
        ({"u": np.array(["x"])}, "not supported"),
        ({1: np.ones(1)}, "keys must be str"),
        ({"l": [1, {2}]}, "at 'l\\[1\\]'"),
    ],
)
def test_unsupported_leaf_leaves_old_file(tmp_path: Path, bad: dict, match: str) -> None:
    p = tmp_path / "ckpt"
    save({"old": np.arange(3)}, p)
    before = p.read_bytes()
    with pytest.raises(TypeError, match=match):
        save(bad, p)
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt"]


def test_top_level_must_be_dict(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="expected a dict"):
        save([np.ones(1)], tmp_path / "x")  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("where", ["write_array", "fsync", "replace"])
def test_failure_midway_is_atomic(tmp_path: Path, monkeypatch, where: str) -> None:
    p = tmp_path / "ckpt"
    save({"old": np.arange(3)}, p)
    before = p.read_bytes()

    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full (simulated)")

    if where == "write_array":
        calls = {"n": 0}
        real = wio.npformat.write_array

        def write_some(fp: Any, arr: np.ndarray, **kw: Any) -> None:
            calls["n"] += 1
            if calls["n"] == 2:  # fail after the first array is already in the temp file
                raise OSError("disk full (simulated)")
            real(fp, arr, **kw)

        monkeypatch.setattr(wio.npformat, "write_array", write_some)
    elif where == "fsync":
        monkeypatch.setattr(wio.os, "fsync", boom)
    else:
        monkeypatch.setattr(wio.os, "replace", boom)
    with pytest.raises(OSError, match="simulated"):
        save({"a": np.ones(100), "b": np.zeros(100), "c": 1}, p)
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt"]
    monkeypatch.undo()
    assert_same(load(p), {"old": np.arange(3)})


def test_keyboard_interrupt_cleans_up(tmp_path: Path, monkeypatch) -> None:
    def interrupt(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(wio.npformat, "write_array", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save({"a": np.ones(3)}, tmp_path / "new")
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- bad files


def _valid_bytes(tmp_path: Path) -> bytes:
    p = tmp_path / "valid"
    save({"w": np.arange(20, dtype=np.float32), "n": {"k": 3, "s": "txt"}}, p)
    return p.read_bytes()


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        ("empty", b"", "empty file"),
        ("png", b"\x89PNG\r\n\x1a\n" + bytes(64), "PNG"),
        ("text", b"hello world\nthis is text\n", "text file"),
        ("npy", b"\x93NUMPY\x01\x00", "npy"),
        ("junk", bytes(range(256)) * 4, "not a wengert state file"),
    ],
)
def test_foreign_files(tmp_path: Path, name: str, data: bytes, match: str) -> None:
    p = _write(tmp_path, name, data)
    with pytest.raises(FormatError, match=match) as info:
        load(p)
    assert str(p) in str(info.value)


def test_plain_npz_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "plain.npz"
    np.savez(p, a=np.ones(3))
    with pytest.raises(FormatError, match="header"):
        load(p)
    p2 = tmp_path / "zipped.npz"
    np.savez_compressed(p2, a=np.ones(3))
    with pytest.raises(FormatError):
        load(p2)


class _Evil:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def test_pickle_file_is_refused_and_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    p = _write(tmp_path, "evil.pkl", pickle.dumps({"w": _Evil(str(marker))}))
    with pytest.raises(FormatError, match="pickle"):
        load(p)
    assert not marker.exists()


def test_object_array_inside_archive_is_refused(tmp_path: Path) -> None:
    """A hand-made archive whose .npy member holds a pickled object array."""
    marker = tmp_path / "pwned"
    p = tmp_path / "ckpt"
    save({"w": np.zeros(2)}, p)
    bio = io.BytesIO()
    np.save(bio, np.array([_Evil(str(marker))], dtype=object), allow_pickle=True)
    evil = bio.getvalue()
    import hashlib
    import json

    with zipfile.ZipFile(p) as zf:
        header = json.loads(zf.read("wengert.json"))
    node = header["tree"]["items"][0][1]
    node["dtype"], node["shape"] = "|O", [1]
    node["sha256"] = hashlib.sha256(evil).hexdigest()
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("arrays/0.npy", evil)
        zf.writestr("wengert.json", json.dumps(header))
    with pytest.raises(FormatError, match="refused dtype"):
        load(p)
    # Even with the header claiming a numeric dtype, the .npy header disagrees.
    node["dtype"] = "<f8"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("arrays/0.npy", evil)
        zf.writestr("wengert.json", json.dumps(header))
    with pytest.raises(FormatError):
        load(p)
    assert not marker.exists()


def test_newer_version_and_wrong_format(tmp_path: Path) -> None:
    import json

    for patch, match in (({"version": 99}, "newer"), ({"format": "other"}, "format")):
        header = {"format": "wengert.state", "version": 1, "metadata": {"t": "dict", "items": []}}
        header["tree"] = {"t": "dict", "items": []}
        header.update(patch)
        p = tmp_path / "h"
        with zipfile.ZipFile(p, "w") as zf:
            zf.writestr("wengert.json", json.dumps(header))
        with pytest.raises(FormatError, match=match):
            load(p)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
def test_truncated(tmp_path: Path, keep: float) -> None:
    data = _valid_bytes(tmp_path)
    p = _write(tmp_path, "cut", data[: int(len(data) * keep)])
    with pytest.raises(FormatError):
        load(p)
    p = _write(tmp_path, "cut1", data[:-1])
    with pytest.raises(FormatError):
        load(p)


def test_bit_flip_in_array_data_detected(tmp_path: Path) -> None:
    data = bytearray(_valid_bytes(tmp_path))
    # Find the float data of "w" (arange(20) as float32) and flip one bit in it.
    pos = bytes(data).index(np.arange(20, dtype=np.float32).tobytes()) + 17
    data[pos] ^= 0x04
    p = _write(tmp_path, "flipped", bytes(data))
    with pytest.raises(FormatError):
        load(p)


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope")


def test_format_error_is_value_error() -> None:
    assert issubclass(FormatError, ValueError)


_FUZZ_STATE = {
    "w": np.arange(12, dtype=np.float32).reshape(3, 4),
    "b": np.array([True, False]),
    "cfg": {"lr": 0.5, "name": "net", "sizes": [3, 4]},
}


@pytest.fixture(scope="module")
def valid_file_bytes(tmp_path_factory) -> bytes:
    p = tmp_path_factory.mktemp("fuzz") / "valid"
    save(_FUZZ_STATE, p)
    return p.read_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_truncate_and_flip(tmp_path: Path, valid_file_bytes: bytes, data) -> None:
    raw = bytearray(valid_file_bytes)
    n = len(raw)
    mode = data.draw(st.sampled_from(["truncate", "flip", "flips", "byte"]))
    if mode == "truncate":
        raw = raw[: data.draw(st.integers(0, n - 1))]
    elif mode == "flip":
        i = data.draw(st.integers(0, n - 1))
        raw[i] ^= 1 << data.draw(st.integers(0, 7))
    elif mode == "flips":
        for i in data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=8)):
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
    else:
        raw[data.draw(st.integers(0, n - 1))] = data.draw(st.integers(0, 255))
    p = tmp_path / "fuzzed"
    p.write_bytes(bytes(raw))
    try:
        got = load(p)
    except FormatError:
        return
    # A change the format does not depend on (e.g. a zip timestamp) must give the same result.
    assert_same(_FUZZ_STATE, got)
