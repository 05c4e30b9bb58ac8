"""Reading and writing the IDX array format used by MNIST and Fashion-MNIST.

An IDX file starts with a 4-byte magic number ``00 00 TT NN`` (``TT`` the element type code,
``NN`` the number of dimensions), then ``NN`` big-endian uint32 sizes, then the elements in
row-major order, big-endian. Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["load_idx", "save_idx"]

# IDX type code -> big-endian numpy dtype.
_CODE_TO_DTYPE: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """Return the file's content, gunzipped when it starts with the gzip magic bytes."""
    raw = path.read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc


def load_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (plain or gzipped) and return its array in native byte order.

    Raises ``ValueError`` naming the file when the magic number is wrong, the type code is
    unknown, or the data size does not match the sizes in the header.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{path}: bad IDX magic number {data[:4].hex()} (expected 0000TTNN); not an IDX file"
        )
    code, ndim = data[2], data[3]
    if code not in _CODE_TO_DTYPE:
        known = ", ".join(f"0x{c:02X}" for c in _CODE_TO_DTYPE)
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X} (known: {known})")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(f"{path}: truncated IDX header ({ndim} dims need {header_len} bytes)")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _CODE_TO_DTYPE[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_len
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing data"
        raise ValueError(
            f"{path}: IDX file {what}: header shape {shape} of {dtype.name} needs "
            f"{expected} data bytes, found {actual}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    # Convert to native order; the copy also makes the array writable.
    return arr.astype(dtype.newbyteorder("="))


def save_idx(path: str | os.PathLike[str], array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzip it when ``compress`` is true.

    ``compress=None`` compresses when the path ends in ``.gz``. The dtype must be one IDX
    supports: uint8, int8, int16, int32, float32 or float64.
    """
    path = Path(path)
    arr = np.asarray(array)
    code = next((c for c, dt in _CODE_TO_DTYPE.items() if dt.newbyteorder("=") == arr.dtype), None)
    if code is None:
        raise ValueError(f"{path}: IDX cannot store dtype {arr.dtype}")
    if arr.ndim > 255:
        raise ValueError(f"{path}: IDX cannot store {arr.ndim} dimensions")
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(arr, dtype=_CODE_TO_DTYPE[code]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        # mtime=0 keeps the output byte-for-byte reproducible.
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
