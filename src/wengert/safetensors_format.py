"""The safetensors format: a reader and writer of the published layout, in numpy alone.

Layout (https://huggingface.co/docs/safetensors): an 8-byte little-endian unsigned header length N;
N bytes of UTF-8 JSON ``{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
"__metadata__": {str: str}}`` (padded with spaces); then the byte buffer, in which every tensor's
little-endian, C-ordered bytes sit at [begin, end) and which the tensors cover exactly, without holes
or overlaps.

wengert reads and writes this layout itself rather than through the `safetensors` package: numpy stays
the only dependency, every malformed file gets an error that says what is wrong (the package's numpy
API reports most problems as one generic error, and cannot read bfloat16 at all), and the checks
below run before any array is allocated. A file is JSON plus raw numbers: loading never runs code.

Files that wengert writes also carry the CRC-32 of their byte buffer in the metadata
(``"wengert.crc32"``, the zip format's check: fast, and sure to catch a flipped bit), which other
readers ignore and `load_file` checks, so a flipped bit in a
wengert-written file is caught; files from other tools have no checksum to check. bfloat16 tensors
(``BF16``, common in Hugging Face checkpoints) load exactly as float32, since numpy has no bfloat16.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import zlib
from typing import Any

import numpy as np

__all__ = ["SUFFIX", "load_file", "load_metadata", "looks_like_safetensors", "save_file"]

SUFFIX = ".safetensors"
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the reference implementation's limit
_CHECKSUM_KEY = "wengert.crc32"
_JSON_KEY = "wengert.json"  # the metadata keys whose values wengert stored as JSON text

_DTYPES = {  # safetensors code -> numpy dtype (little-endian)
    "BOOL": np.dtype("?"),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F64": np.dtype("<f8"),
}
_CODES = {dt.newbyteorder("=") if dt.itemsize > 1 else dt: code for code, dt in _DTYPES.items()}
_BF16 = "BF16"


def _error(path: str, what: str):
    from .io import FormatError

    return FormatError(f"{path}: {what}")


def looks_like_safetensors(head: bytes) -> bool:
    """Whether a file starting with `head` (at least 9 bytes) has a safetensors header."""
    return len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] >= 2


# --------------------------------------------------------------------------- writing


def _as_array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        arr = value
    elif callable(getattr(value, "numpy", None)) and not isinstance(value, (int, float, bool)):
        arr = np.asarray(value.numpy())  # wengert tensors (and PyTorch CPU tensors)
    elif hasattr(value, "__array__") or isinstance(value, np.generic):
        arr = np.asarray(value)
    else:
        raise TypeError(
            f"save: a safetensors file holds a flat dict of arrays, but {name!r} is a "
            f"{type(value).__name__}; save nested state (an optimizer's, say) in wengert's own format "
            "(any file name not ending in .safetensors)"
        )
    key = arr.dtype.newbyteorder("=") if arr.dtype.itemsize > 1 else arr.dtype
    if key not in _CODES:
        raise TypeError(f"save: {name!r} has dtype {arr.dtype}, which safetensors cannot hold")
    return arr


def _metadata_strings(metadata: dict | None) -> dict[str, str]:
    """safetensors metadata holds strings: other values are stored as their JSON text, and the keys
    so stored are listed under "wengert.json", so that `load_metadata` gives back what was saved."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise TypeError(f"save: metadata must be a dict, got {type(metadata).__name__}")
    out = {}
    for k, v in metadata.items():
        if not isinstance(k, str):
            raise TypeError(f"save: metadata keys must be str, got {k!r}")
        if k in (_CHECKSUM_KEY, _JSON_KEY):
            raise ValueError(f"save: the metadata key {k!r} is reserved")
        try:
            out[k] = v if isinstance(v, str) else json.dumps(v, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TypeError(f"save: metadata value for {k!r} is not JSON-serialisable: {e}") from None
    encoded = [k for k, v in metadata.items() if not isinstance(v, str)]
    if encoded:
        out[_JSON_KEY] = json.dumps(encoded)
    return out


def save_file(
    tensors: dict[str, Any], path: str | os.PathLike[str], metadata: dict | None = None
) -> None:
    """Write `tensors` (str -> array or tensor) and `metadata` to `path` as safetensors, atomically.

    Non-string metadata values are stored as JSON text (safetensors metadata holds strings only).
    """
    from .io import fsync_dir, open_temp

    if not isinstance(tensors, dict):
        raise TypeError(f"save: expected a dict of arrays, got {type(tensors).__name__}")
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise TypeError(f"save: tensor names must be str other than '__metadata__', got {name!r}")
        arr = _as_array(name, value)
        arrays[name] = arr if arr.flags.c_contiguous else arr.copy(order="C")  # keeps 0-d as 0-d
    meta = _metadata_strings(metadata)
    header: dict[str, Any] = {}
    offset = 0
    crc = 0
    chunks = []
    for name, arr in arrays.items():
        code = _CODES[arr.dtype.newbyteorder("=") if arr.dtype.itemsize > 1 else arr.dtype]
        data = arr.astype(_DTYPES[code], copy=False)  # little-endian bytes on any machine
        header[name] = {
            "dtype": code,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + data.nbytes],
        }
        offset += data.nbytes
        crc = zlib.crc32(memoryview(data).cast("B") if data.nbytes else b"", crc)
        chunks.append(data)
    header["__metadata__"] = {**meta, _CHECKSUM_KEY: f"{crc:08x}"}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)  # the byte buffer starts 8-byte aligned

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp, fd = open_temp(directory, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(struct.pack("<Q", len(text)))
            fh.write(text)
            for data in chunks:
                if data.nbytes:
                    fh.write(memoryview(data).cast("B"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


# --------------------------------------------------------------------------- reading


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _read_header(path: str, fh) -> tuple[dict[str, Any], dict[str, str], int, int]:
    """The checked header: (entries, metadata, start of the byte buffer, its length)."""
    size = os.fstat(fh.fileno()).st_size
    head = fh.read(8)
    if len(head) < 8:
        raise _error(
            path, f"not a safetensors file: {size} bytes, shorter than the 8-byte header length"
        )
    n = struct.unpack("<Q", head)[0]
    if n > MAX_HEADER_BYTES or 8 + n > size:
        raise _error(
            path,
            f"corrupt header: it declares {n} bytes of header, the file has {size - 8} after its length",
        )
    raw = fh.read(n)
    try:
        text = raw.decode("utf-8")
        if not text.startswith("{"):
            raise ValueError("the header does not start with '{'")
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise _error(path, f"corrupt header: not a JSON object ({e})") from None
    if not isinstance(header, dict):
        raise _error(path, "corrupt header: not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise _error(path, "corrupt header: __metadata__ must map strings to strings")
    return header, meta, 8 + n, size - 8 - n


def _check_entries(
    path: str, header: dict[str, Any], buffer_len: int
) -> list[tuple[str, str, tuple, int, int]]:
    """Validate every entry against the byte buffer before anything is allocated."""
    entries = []
    for name, e in header.items():
        if not (isinstance(e, dict) and set(e) == {"dtype", "shape", "data_offsets"}):
            raise _error(
                path, f"corrupt header: entry {name!r} needs exactly dtype, shape and data_offsets"
            )
        code, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if code not in _DTYPES and code != _BF16:
            raise _error(
                path,
                f"tensor {name!r} has dtype {code!r}, which wengert cannot read (not a numpy type; "
                "readable: " + ", ".join([*_DTYPES, _BF16]) + ")",
            )
        if not (isinstance(shape, list) and all(type(s) is int and 0 <= s < 2**62 for s in shape)):
            raise _error(path, f"corrupt header: tensor {name!r} has shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(type(o) is int for o in offs)):
            raise _error(path, f"corrupt header: tensor {name!r} has data_offsets {offs!r}")
        begin, end = offs
        itemsize = 2 if code == _BF16 else _DTYPES[code].itemsize
        nbytes = math.prod(shape) * itemsize
        if not 0 <= begin <= end or end - begin != nbytes:
            raise _error(
                path,
                f"wrong offsets: tensor {name!r} of dtype {code} and shape {tuple(shape)} needs "
                f"{nbytes} bytes, its data_offsets {offs} give {end - begin}",
            )
        entries.append((name, code, tuple(shape), begin, end))
    pos = 0
    for name, _, _, begin, end in sorted(entries, key=lambda t: (t[3], t[4])):
        if begin != pos:
            what = (
                "overlaps the one before"
                if begin < pos
                else f"leaves a gap of {begin - pos} bytes before it"
            )
            raise _error(path, f"wrong offsets: tensor {name!r} at {begin} {what}")
        pos = end
    if pos != buffer_len:
        if pos > buffer_len:
            raise _error(
                path,
                f"truncated data: the tensors need {pos} bytes of data, the file holds {buffer_len}",
            )
        raise _error(path, f"wrong offsets: {buffer_len - pos} bytes of data after the last tensor")
    return entries


def load_file(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a safetensors file into {name: numpy array}, in the order of the data.

    Raises `wengert.io.FormatError` for a malformed file (corrupt header, wrong offsets, truncated data,
    sizes the file does not hold, a checksum that does not match); nothing is returned in that case.
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        header, meta, start, buffer_len = _read_header(path, fh)
        entries = _check_entries(path, header, buffer_len)
        out: dict[str, np.ndarray] = {}
        crc = 0
        for name, code, shape, begin, end in sorted(entries, key=lambda t: (t[3], t[4])):
            dt = np.dtype("<u2") if code == _BF16 else _DTYPES[code]
            try:
                arr = np.empty(shape, dtype=dt)
            except (ValueError, MemoryError) as e:  # an empty tensor with absurd dimensions, say
                raise _error(path, f"tensor {name!r} of shape {shape} cannot be made ({e})") from None
            fh.seek(start + begin)
            view = memoryview(arr).cast("B") if arr.nbytes else memoryview(b"")
            if arr.nbytes and fh.readinto(view) != end - begin:
                raise _error(path, f"truncated data: tensor {name!r} ends past the end of the file")
            crc = zlib.crc32(view, crc)
            if code == _BF16:  # bfloat16 is the top half of a float32: widen exactly
                arr = (arr.astype(np.uint32) << 16).view(np.float32)
            out[name] = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    expected = meta.get(_CHECKSUM_KEY)
    if expected is not None and f"{crc:08x}" != expected:
        raise _error(path, "checksum mismatch: the tensor data is corrupted")
    return out


def load_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The `__metadata__` of a safetensors file: strings, except the values wengert stored as JSON
    text, which come back as they were saved (wengert's own bookkeeping keys are left out)."""
    path = os.fspath(path)
    with open(path, "rb") as fh:
        _, meta, _, _ = _read_header(path, fh)
    try:
        encoded = json.loads(meta.get(_JSON_KEY, "[]"))
        out: dict[str, Any] = {k: v for k, v in meta.items() if k not in (_CHECKSUM_KEY, _JSON_KEY)}
        for k in encoded:
            if k in out:
                out[k] = json.loads(out[k])
    except (ValueError, TypeError, RecursionError) as e:
        raise _error(path, f"corrupt header: metadata stored as JSON does not parse ({e})") from None
    return out
