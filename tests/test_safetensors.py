"""safetensors through wengert.save/wengert.load: the reference file written by PyTorch's tools, round
trips, files exchanged with the `safetensors` package and PyTorch (optional), and malformed files."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch_reference as ref
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wengert as W
from wengert import nn
from wengert.io import FormatError, load, load_metadata, save

EXPECTED = {  # the contents of tests/data/reference.safetensors, as numpy reads them
    "layer.weight": np.arange(12, dtype=np.float32).reshape(3, 4) / 4,
    "layer.bias": np.arange(3, dtype=np.float64) - 1,
    "ids": np.array([5, -3], dtype=np.int64),
    "small_ids": np.array([7, -8, 9], dtype=np.int32),
    "mask": np.array([True, False, True]),
    "half": np.array([0.5, -2.0], dtype=np.float16),
    "bf16": np.array([1.0, -0.5, 3.0, 256.0], dtype=np.float32),  # bfloat16 widens to float32
    "bytes": np.array([0, 255], dtype=np.uint8),
    "empty": np.zeros((0, 2), dtype=np.float32),
}


def _same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for k, v in want.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
        np.testing.assert_array_equal(got[k], v, err_msg=k)


def test_reads_the_reference_file_written_by_pytorch_tools():
    _same(load(ref.SAFETENSORS_PATH), EXPECTED)
    assert load_metadata(ref.SAFETENSORS_PATH) == ref.SAFETENSORS_METADATA


def test_round_trip_keeps_dtypes_order_and_metadata(tmp_path: Path):
    state = {k: v for k, v in EXPECTED.items() if k != "bf16"}
    state["u64"] = np.array([2**63 + 5], dtype=np.uint64)
    state["scalar"] = np.array(3.25)
    state["fortran"] = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    p = tmp_path / "x.safetensors"
    save(state, p, metadata={"epochs": 3, "note": "héllo", "sizes": [784, 10]})
    got = load(p)
    assert list(got) == list(state)
    _same(got, state)
    assert load_metadata(p) == {"epochs": 3, "note": "héllo", "sizes": [784, 10]}
    assert p.read_bytes()[8 + struct.unpack("<Q", p.read_bytes()[:8])[0] :][:4] == b"\x00\x00\x00\x00"


def test_model_state_dict_round_trip(tmp_path: Path):
    m = nn.MLP([5, 4, 3], seed=0)
    p = tmp_path / "m.safetensors"
    W.save(m.state_dict(), p)
    m2 = nn.MLP([5, 4, 3], seed=1)
    m2.load_state_dict(W.load(p))
    x = np.ones((2, 5), np.float32)
    np.testing.assert_array_equal(m(x).numpy(), m2(x).numpy())


def test_content_decides_the_format_not_the_name(tmp_path: Path):
    save({"a": np.ones(2)}, tmp_path / "x.safetensors")
    (tmp_path / "renamed.bin").write_bytes((tmp_path / "x.safetensors").read_bytes())
    _same(load(tmp_path / "renamed.bin"), {"a": np.ones(2)})
    save({"a": np.ones(2)}, tmp_path / "native")
    (tmp_path / "native.safetensors.bak").write_bytes((tmp_path / "native").read_bytes())
    _same(load(tmp_path / "native.safetensors.bak"), {"a": np.ones(2)})


@pytest.mark.parametrize(
    "state, match",
    [
        ({"nested": {"a": np.ones(2)}}, "flat dict of arrays"),
        ({"lr": 0.1}, "flat dict of arrays"),
        ({"c": np.ones(2, np.complex64)}, "complex64"),
        ({"__metadata__": np.ones(2)}, "names must be str"),
    ],
)
def test_unsupported_values_raise_before_writing(tmp_path: Path, state, match):
    p = tmp_path / "x.safetensors"
    save({"old": np.zeros(1)}, p)
    with pytest.raises(TypeError, match=match):
        save(state, p)
    _same(load(p), {"old": np.zeros(1)})
    assert [f.name for f in tmp_path.iterdir()] == ["x.safetensors"]  # no temporary left behind


# --- exchanged with the safetensors package and PyTorch (optional) --------------------------------


def test_safetensors_package_reads_ours_and_we_read_its():
    st_numpy = pytest.importorskip("safetensors.numpy")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        state = {k: v for k, v in EXPECTED.items() if k != "bf16"}
        save(state, f"{d}/ours.safetensors", metadata={"k": "v"})
        _same(st_numpy.load_file(f"{d}/ours.safetensors"), state)
        st_numpy.save_file(state, f"{d}/theirs.safetensors", metadata={"k": "v"})
        _same(load(f"{d}/theirs.safetensors"), state)
        assert load_metadata(f"{d}/theirs.safetensors") == {"k": "v"}


def test_pytorch_reads_ours_and_we_read_pytorchs(tmp_path: Path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    st_torch.save_file(ref.safetensors_reference(torch), tmp_path / "t.safetensors")
    _same(load(tmp_path / "t.safetensors"), EXPECTED)
    ours = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    save(ours.state_dict(), tmp_path / "w.safetensors")
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    theirs.load_state_dict(st_torch.load_file(tmp_path / "w.safetensors"))
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(theirs(torch.from_numpy(x)).detach().numpy(), ours(x).numpy(), rtol=1e-6)


# --- malformed files ------------------------------------------------------------------------------


def _file(header: dict | bytes, data: bytes = b"", declared: int | None = None) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(text) if declared is None else declared
    return struct.pack("<Q", n) + text + data


F32x2 = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
MALFORMED = {
    "short": (b"\x01\x00", "shorter than the 8-byte header length"),
    "huge declared header": (_file(F32x2, b"\0" * 8, declared=2**60), "corrupt header: it declares"),
    "header past the end": (_file(F32x2, b"", declared=10_000), "corrupt header"),
    "not json": (_file(b"{not json", b""), "not a JSON object"),
    "not an object": (_file(b'["a"]'), "not a JSON object"),
    "duplicate keys": (_file(b'{"a": {}, "a": {}}'), "duplicate key 'a'"),
    "bad metadata": (_file({"__metadata__": {"k": 1}}), "__metadata__ must map strings to strings"),
    "missing field": (_file({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8), "needs exactly dtype"),
    "unknown dtype": (
        _file({"a": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, b"\0" * 2),
        "dtype 'F8_E4M3', which wengert cannot read",
    ),
    "negative shape": (
        _file({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8),
        "shape",
    ),
    "shape and offsets disagree": (
        _file({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
        "needs 12 bytes",
    ),
    "huge declared tensor": (
        _file({"a": {"dtype": "F64", "shape": [2**40, 2**20], "data_offsets": [0, 8]}}, b"\0" * 8),
        "wrong offsets",
    ),
    "huge tensor with matching offsets": (
        _file({"a": {"dtype": "U8", "shape": [2**40], "data_offsets": [0, 2**40]}}, b"\0" * 8),
        "truncated data: the tensors need 1099511627776 bytes",
    ),
    "gap": (
        _file(
            {
                "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
            },
            b"\0" * 12,
        ),
        "gap of 4 bytes",
    ),
    "overlap": (
        _file(
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
            },
            b"\0" * 8,
        ),
        "overlaps",
    ),
    "truncated data": (_file(F32x2, b"\0" * 5), "truncated data"),
    "trailing bytes": (_file(F32x2, b"\0" * 12), "4 bytes of data after the last tensor"),
    "reversed offsets": (
        _file({"a": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}}),
        "wrong offsets",
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_files_give_a_clear_error(tmp_path: Path, name: str):
    data, match = MALFORMED[name]
    p = tmp_path / "bad.safetensors"
    p.write_bytes(data)
    with pytest.raises(FormatError, match=match) as e:
        load(p)
    assert str(p) in str(e.value)


def test_bit_flip_in_data_of_a_wengert_file_is_detected(tmp_path: Path):
    p = tmp_path / "x.safetensors"
    save({"w": np.arange(20, dtype=np.float32)}, p)
    raw = bytearray(p.read_bytes())
    raw[-7] ^= 0x10
    p.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match="checksum mismatch"):
        load(p)


_FUZZ = {
    "w": np.arange(12, dtype=np.float32).reshape(3, 4),
    "b": np.array([True, False]),
    "i": np.arange(3),
}


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory) -> bytes:
    p = tmp_path_factory.mktemp("fuzz") / "valid.safetensors"
    save(_FUZZ, p, metadata={"epochs": 2})
    return p.read_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_truncate_and_flip(tmp_path: Path, valid_bytes: bytes, data) -> None:
    raw = bytearray(valid_bytes)
    n = len(raw)
    mode = data.draw(st.sampled_from(["truncate", "flip", "flips", "byte", "header length"]))
    if mode == "truncate":
        raw = raw[: data.draw(st.integers(0, n - 1))]
    elif mode == "flip":
        raw[data.draw(st.integers(0, n - 1))] ^= 1 << data.draw(st.integers(0, 7))
    elif mode == "flips":
        for i in data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=8)):
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
    elif mode == "byte":
        raw[data.draw(st.integers(0, n - 1))] = data.draw(st.integers(0, 255))
    else:
        raw[:8] = struct.pack("<Q", data.draw(st.integers(0, 2**64 - 1)))
    p = tmp_path / "fuzzed.safetensors"
    p.write_bytes(bytes(raw))
    try:
        got = load(p)
    except FormatError:
        return
    # What survives the checks covers the data buffer exactly (a header change that keeps the file
    # valid can rename or retype tensors, never read past or skip data); while wengert's checksum
    # entry is intact, the values are exactly the ones written.
    assert isinstance(got, dict) and all(isinstance(v, np.ndarray) for v in got.values())
    data_bytes = b"".join(v.tobytes() for v in _FUZZ.values())
    assert sum(v.nbytes for v in got.values()) == len(data_bytes)
    if _checksum_entry(valid_bytes) in raw:
        assert b"".join(v.tobytes() for v in got.values()) == data_bytes


def _checksum_entry(data: bytes) -> bytes:
    start = data.index(b'"wengert.crc32"')
    return data[start : data.index(b"}", start)]
