"""Saving and loading state dicts without pickle.

File format (version 1)
-----------------------
A zip archive (members stored uncompressed) holding:

* ``arrays/<i>.npy`` -- one standard ``.npy`` file per array leaf;
* ``wengert.json`` -- a UTF-8 JSON header (written last) of the form::

      {"format": "wengert.state", "version": 1, "metadata": {...}, "tree": NODE}

  where ``NODE`` is one of ``{"t": "dict", "items": [[key, NODE], ...]}``,
  ``{"t": "list" | "tuple", "items": [NODE, ...]}``, ``{"t": "none"}``,
  ``{"t": "bool" | "int" | "str", "v": ...}``, ``{"t": "float", "v": float.hex(x)}`` (exact,
  including inf and nan), and ``{"t": "array" | "scalar", "file": ..., "dtype": ...,
  "shape": [...], "sha256": ...}`` (``scalar`` marks a numpy scalar such as ``np.float32(1)``).

A path ending in ``.safetensors`` is written in the safetensors format instead (a flat dict of arrays,
see :mod:`wengert.safetensors_format`); :func:`load` recognises either format by the file's content.

Every member carries the zip CRC-32 and each array's ``.npy`` bytes carry a SHA-256 in the
header, so truncation and bit flips are detected. Arrays are read with ``allow_pickle=False``
and only numeric and bool dtypes are accepted: loading a file never runs code. Every problem
with a file's content raises :class:`FormatError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import secrets
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.lib.format as npformat

from . import safetensors_format

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "FormatError", "load", "load_metadata", "save"]

FORMAT_NAME = "wengert.state"
FORMAT_VERSION = 1
_HEADER = "wengert.json"
_ARRAY_KINDS = "biufc"  # bool, signed, unsigned, float, complex
_MAX_HEADER_BYTES = 256 * 1024 * 1024
_NPY_HEADER_SLACK = 1 << 17  # an .npy header is at most ~64 KiB; allow generous room


class FormatError(ValueError):
    """Raised by :func:`load` when a file is not a valid, intact wengert state file."""


# --------------------------------------------------------------------------- encoding


class _Encoder:
    """Turns a state dict into a JSON-able tree plus a list of (member name, array)."""

    def __init__(self, allow_arrays: bool = True) -> None:
        self.allow_arrays = allow_arrays
        self.arrays: list[tuple[str, np.ndarray]] = []

    def encode(self, obj: Any, where: str) -> dict[str, Any]:
        """Return the JSON node for ``obj`` found at key path ``where``."""
        if isinstance(obj, dict):
            items = []
            for key, value in obj.items():
                if not isinstance(key, str):
                    raise TypeError(
                        f"save: dict keys must be str, got {type(key).__name__} {key!r} at '{where}'"
                    )
                items.append([key, self.encode(value, f"{where}/{key}" if where else key)])
            return {"t": "dict", "items": items}
        if isinstance(obj, list | tuple):
            kind = "list" if isinstance(obj, list) else "tuple"
            return {
                "t": kind,
                "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)],
            }
        if obj is None:
            return {"t": "none"}
        # Before the Python scalar checks: np.float64 is a float subclass but should round-trip
        # as a numpy scalar. Non-numeric numpy scalars (np.str_) fall through to str.
        if isinstance(obj, np.generic) and obj.dtype.kind in _ARRAY_KINDS:
            return self._array(np.asarray(obj), where, "scalar")
        if isinstance(obj, bool):
            return {"t": "bool", "v": obj}
        if isinstance(obj, int):
            return {"t": "int", "v": int(obj)}
        if isinstance(obj, float):
            return {"t": "float", "v": float(obj).hex()}
        if isinstance(obj, str):
            return {"t": "str", "v": str(obj)}
        if isinstance(obj, np.ndarray):
            return self._array(obj, where, "array")
        if callable(getattr(obj, "numpy", None)):
            # wengert Tensors (and similar) expose their data through .numpy().
            return self._array(np.asarray(obj.numpy()), where, "array")
        if hasattr(obj, "__array__"):
            return self._array(np.asarray(obj), where, "array")
        raise TypeError(f"save: unsupported value of type {type(obj).__name__} at '{where}'")

    def _array(self, arr: np.ndarray, where: str, kind: str) -> dict[str, Any]:
        if not self.allow_arrays:
            raise TypeError(f"save: metadata cannot hold arrays (at '{where}')")
        if arr.dtype.kind not in _ARRAY_KINDS or arr.dtype.fields is not None:
            raise TypeError(
                f"save: array dtype {arr.dtype} at '{where}' is not supported "
                "(only bool and numeric dtypes)"
            )
        name = f"arrays/{len(self.arrays)}.npy"
        self.arrays.append((name, arr))
        return {"t": kind, "file": name, "dtype": arr.dtype.str, "shape": list(arr.shape)}


class _HashingWriter:
    """File-like wrapper that feeds everything written through it into a SHA-256."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.fh.write(data)


def _zipinfo(name: str) -> zipfile.ZipInfo:
    """Member entry with a fixed timestamp, so equal state dicts give identical files."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16  # rw-r--r-- when unpacked with unzip
    return info


def open_temp(directory: str, base: str) -> tuple[str, int]:
    """Create a new temporary file next to the target; return its path and fd."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            # Mode 0o666 minus the umask, the same permissions a plain open() would give.
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue


def fsync_dir(directory: str) -> None:
    """Flush the directory entry after a rename (POSIX; a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(obj: dict[str, Any], path: str | os.PathLike[str], metadata: dict | None = None) -> None:
    """Write the state dict ``obj`` to exactly ``path`` (no extension is added), atomically.

    ``obj`` is a dict with str keys, possibly nested; its leaves may be numpy arrays (bool or
    numeric dtypes), numpy scalars, objects with ``.numpy()`` or ``__array__`` (stored as
    arrays), ``int``, ``float``, ``bool``, ``str``, ``None``, or lists/tuples of such values.
    ``metadata`` is an optional dict of the same kinds minus arrays, kept in the header and
    returned by :func:`load_metadata`.

    The file is written to a temporary file in the same directory, flushed and fsynced, then
    renamed over ``path``: a failed save leaves any previous file untouched and no debris.
    Unsupported values raise ``TypeError`` before anything is written.

    A path ending in ``.safetensors`` gets the safetensors format (PyTorch's, JAX's and Hugging Face's
    format for weights): ``obj`` must then be a flat dict of str -> array or tensor, and metadata values
    are stored as strings (non-strings as their JSON text).
    """
    if os.fspath(path).endswith(safetensors_format.SUFFIX):
        return safetensors_format.save_file(obj, path, metadata)
    if not isinstance(obj, dict):
        raise TypeError(f"save: expected a dict (state dict), got {type(obj).__name__}")
    encoder = _Encoder()
    tree = encoder.encode(obj, "")
    meta_tree = _Encoder(allow_arrays=False).encode(metadata if metadata is not None else {}, "")
    if meta_tree["t"] != "dict":
        raise TypeError(f"save: metadata must be a dict, got {type(metadata).__name__}")
    header: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "metadata": meta_tree,
        "tree": tree,
    }

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp, fd = open_temp(directory, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                digests: dict[str, str] = {}
                for name, arr in encoder.arrays:
                    big = arr.nbytes > 2**31 - _NPY_HEADER_SLACK
                    with zf.open(_zipinfo(name), "w", force_zip64=big) as member:
                        writer = _HashingWriter(member)
                        npformat.write_array(writer, arr, allow_pickle=False)
                    digests[name] = writer.sha.hexdigest()
                _add_digests(tree, digests)
                zf.writestr(_zipinfo(_HEADER), json.dumps(header, allow_nan=False, ensure_ascii=False))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def _add_digests(node: dict[str, Any], digests: dict[str, str]) -> None:
    """Store each array member's SHA-256 into its tree node."""
    kind = node["t"]
    if kind in ("array", "scalar"):
        node["sha256"] = digests[node["file"]]
    elif kind == "dict":
        for _, child in node["items"]:
            _add_digests(child, digests)
    elif kind in ("list", "tuple"):
        for child in node["items"]:
            _add_digests(child, digests)


# --------------------------------------------------------------------------- decoding

_SIGNATURES = [
    (b"\x89PNG", "a PNG image"),
    (b"\x93NUMPY", "a numpy .npy file"),
    (b"\x1f\x8b", "a gzip file"),
    (b"%PDF", "a PDF file"),
    (b"\x80", "probably a Python pickle (refused: pickles can run code)"),
]


def _describe_foreign(head: bytes) -> str:
    """Guess what kind of file starts with ``head``, for error messages."""
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            return what
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "an unrecognised binary file"
    return "a text file"


class _Reader:
    """Validates the header of an open archive and decodes its tree."""

    def __init__(self, zf: zipfile.ZipFile, path: str, file_size: int) -> None:
        self.zf = zf
        self.path = path
        self.file_size = file_size
        self.used: set[str] = set()

    def fail(self, what: str) -> FormatError:
        return FormatError(f"{self.path}: {what}")

    def header(self) -> dict[str, Any]:
        """Read, parse and check the JSON header."""
        try:
            info = self.zf.getinfo(_HEADER)
        except KeyError:
            raise self.fail(
                f"not a wengert state file (zip archive without a '{_HEADER}' header; "
                "a plain numpy .npz or another zip?)"
            ) from None
        self._check_member_size(info, _MAX_HEADER_BYTES)
        raw = self.zf.read(info)  # zipfile verifies the CRC-32 here
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise self.fail(f"header is not valid JSON ({exc})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
            raise self.fail(f"header does not declare format '{FORMAT_NAME}'")
        version = header.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise self.fail(f"bad format version {version!r}")
        if version > FORMAT_VERSION:
            raise self.fail(
                f"format version {version} is newer than this wengert supports "
                f"({FORMAT_VERSION}); upgrade wengert"
            )
        if version < 1:
            raise self.fail(f"bad format version {version}")
        for key in ("tree", "metadata"):
            node = header.get(key)
            if not isinstance(node, dict) or node.get("t") != "dict":
                raise self.fail(f"header '{key}' is not a dict node")
        return header

    def _check_member_size(self, info: zipfile.ZipInfo, limit: int) -> None:
        # Bound sizes before reading so corrupt sizes cannot cause huge allocations.
        if info.file_size > limit or info.compress_size > self.file_size:
            raise self.fail(f"member '{info.filename}' has an implausible size {info.file_size}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise self.fail(f"member '{info.filename}' uses unsupported compression")

    def decode(self, node: Any, where: str, allow_arrays: bool = True) -> Any:
        """Rebuild the Python value described by JSON ``node``."""
        if not isinstance(node, dict) or not isinstance(node.get("t"), str):
            raise self.fail(f"malformed tree node at '{where}'")
        kind = node["t"]
        if kind == "dict":
            items = node.get("items")
            if not isinstance(items, list):
                raise self.fail(f"malformed dict node at '{where}'")
            out: dict[str, Any] = {}
            for item in items:
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                    raise self.fail(f"malformed dict item at '{where}'")
                key = item[0]
                if key in out:
                    raise self.fail(f"duplicate key {key!r} at '{where}'")
                out[key] = self.decode(item[1], f"{where}/{key}" if where else key, allow_arrays)
            return out
        if kind in ("list", "tuple"):
            items = node.get("items")
            if not isinstance(items, list):
                raise self.fail(f"malformed {kind} node at '{where}'")
            values = [self.decode(v, f"{where}[{i}]", allow_arrays) for i, v in enumerate(items)]
            return values if kind == "list" else tuple(values)
        if kind == "none":
            return None
        if kind in ("bool", "int", "str", "float"):
            return self._scalar(kind, node.get("v"), where)
        if kind in ("array", "scalar") and allow_arrays:
            arr = self._array(node, where)
            return arr[()] if kind == "scalar" else arr
        raise self.fail(f"unknown node type {kind!r} at '{where}'")

    def _scalar(self, kind: str, v: Any, where: str) -> Any:
        expected: dict[str, Callable[[Any], bool]] = {
            "bool": lambda x: isinstance(x, bool),
            "int": lambda x: isinstance(x, int) and not isinstance(x, bool),
            "str": lambda x: isinstance(x, str),
            "float": lambda x: isinstance(x, str),
        }
        if not expected[kind](v):
            raise self.fail(f"malformed {kind} value at '{where}'")
        if kind == "float":
            try:
                return float.fromhex(v)
            except (ValueError, OverflowError):
                raise self.fail(f"malformed float value at '{where}'") from None
        return v

    def _array(self, node: dict[str, Any], where: str) -> np.ndarray:
        name, dtype_str = node.get("file"), node.get("dtype")
        shape, digest = node.get("shape"), node.get("sha256")
        if not (
            isinstance(name, str)
            and isinstance(dtype_str, str)
            and isinstance(digest, str)
            and isinstance(shape, list)
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)
        ):
            raise self.fail(f"malformed array node at '{where}'")
        if name in self.used:
            raise self.fail(f"array member '{name}' referenced twice")
        self.used.add(name)
        try:
            dtype = np.dtype(dtype_str)
        except (TypeError, ValueError):
            raise self.fail(f"bad dtype {dtype_str!r} at '{where}'") from None
        if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None:
            raise self.fail(f"refused dtype {dtype_str!r} at '{where}' (only bool and numeric)")
        nbytes = math.prod(shape) * dtype.itemsize
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            raise self.fail(f"array member '{name}' for '{where}' is missing") from None
        self._check_member_size(info, nbytes + _NPY_HEADER_SLACK)
        data = self.zf.read(info)  # verifies the CRC-32
        if hashlib.sha256(data).hexdigest() != digest:
            raise self.fail(f"checksum mismatch for '{where}' ({name}): the file is corrupted")
        return self._parse_npy(data, dtype, tuple(shape), where)

    def _parse_npy(self, data: bytes, dtype: np.dtype, shape: tuple[int, ...], where: str) -> np.ndarray:
        bio = io.BytesIO(data)
        try:
            version = npformat.read_magic(bio)
            if version == (1, 0):
                got_shape, fortran, got_dtype = npformat.read_array_header_1_0(bio)
            elif version in ((2, 0), (3, 0)):
                got_shape, fortran, got_dtype = npformat.read_array_header_2_0(bio)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except ValueError as exc:
            raise self.fail(f"bad .npy data for '{where}' ({exc})") from None
        # The .npy header must agree with the JSON header and the byte count exactly.
        if got_dtype != dtype or tuple(got_shape) != shape:
            raise self.fail(f".npy header for '{where}' disagrees with the file header")
        if len(data) - bio.tell() != math.prod(shape) * dtype.itemsize:
            raise self.fail(f"array data for '{where}' has the wrong length")
        flat = np.frombuffer(data, dtype=dtype, offset=bio.tell())
        arr = flat.reshape(shape, order="F" if fortran else "C")
        return arr.copy(order="K")  # writable, independent of the file buffer


def _open_checked(path: str, fh: Any) -> tuple[zipfile.ZipFile, int]:
    """Check the leading bytes and open ``fh`` as a zip archive."""
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        raise FormatError(f"{path}: empty file, not a wengert state file")
    head = fh.read(16)
    fh.seek(0)
    if not head.startswith(b"PK\x03\x04"):
        raise FormatError(f"{path}: not a wengert state file ({_describe_foreign(head)})")
    try:
        return zipfile.ZipFile(fh, "r"), size
    except zipfile.BadZipFile as exc:
        raise FormatError(f"{path}: truncated or corrupt archive ({exc})") from None


def _is_safetensors(path: str) -> bool:
    with open(path, "rb") as fh:  # a missing file raises FileNotFoundError as usual
        head = fh.read(16)
    if head.startswith(b"PK\x03\x04"):
        return False
    return path.endswith(safetensors_format.SUFFIX) or safetensors_format.looks_like_safetensors(head)


def _read(path: str | os.PathLike[str], want_tree: bool) -> Any:
    path = os.fspath(path)
    if _is_safetensors(path):
        read = safetensors_format.load_file if want_tree else safetensors_format.load_metadata
        try:
            return read(path)
        except (FormatError, OSError):
            raise
        except Exception as exc:  # anything else a hostile file could provoke is still a format error
            raise FormatError(f"{path}: corrupt safetensors file ({type(exc).__name__}: {exc})") from exc
    with open(path, "rb") as fh:
        try:
            zf, size = _open_checked(path, fh)
            with zf:
                reader = _Reader(zf, path, size)
                header = reader.header()
                if not want_tree:
                    return reader.decode(header["metadata"], "<metadata>", allow_arrays=False)
                return reader.decode(header["tree"], "")
        except FormatError:
            raise
        except Exception as exc:
            # zipfile/struct/zlib report corruption with many exception types; unify them.
            raise FormatError(
                f"{path}: truncated or corrupt file ({type(exc).__name__}: {exc})"
            ) from exc


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a state dict written by :func:`save` and return it with numpy arrays as leaves.

    A safetensors file (written by wengert, PyTorch, JAX or Hugging Face tools) gives a flat dict of
    numpy arrays; bfloat16 tensors come back as float32.

    Lists, tuples, Python scalars and numpy scalars come back as they were saved. Raises
    :class:`FormatError` (a ``ValueError``) naming ``path`` for any file that is not an intact
    wengert state file: truncated, corrupted, empty, or foreign (PNG, text, plain ``.npz``,
    pickle...). Nothing in the file is ever unpickled or executed.
    """
    return _read(path, want_tree=True)


def load_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the ``metadata`` dict given to :func:`save`, reading only the file's header (for a
    safetensors file, its ``__metadata__`` strings)."""
    return _read(path, want_tree=False)
