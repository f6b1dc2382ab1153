"""Input arrays for ``run``: an ``.npy`` file (one array) or an ``.npz`` archive (arrays by input name).

Read without NumPy's loader, because ``np.load`` allocates what a header declares before reading
it and, for an ``.npz``, trusts the archive. Here, per array:

- the ``.npy`` header (magic, version 1-3, at most 64 KiB, parsed as a literal) is read first;
- a dtype holding Python objects (a pickled array) is refused (:class:`UnsafeContentError`);
- the declared shape must be non-negative integers and its byte size is checked against
  ``Limits.max_memory`` (:class:`LimitExceededError`), and so is the sum over an archive;
- the data is then read into one array of exactly that size, from a bounded stream: a file or
  member holding less (or more) than its header declares is refused, so a zip member whose
  declared size lies decompresses at most one byte past what the header asks for.

An ``.npz`` must be a zip of ``NAME.npy`` members with distinct names (that is what ``np.savez`` writes).
Any other problem is a :class:`ModelFormatError` naming the file and the array.
"""

from __future__ import annotations

import ast
import math
import os
import warnings
import zipfile
import zlib
from typing import IO

import numpy as np

from .errors import ModelFormatError, UnsafeContentError
from .runtime.limits import Limits, resolve

_MAGIC = b"\x93NUMPY"
_MAX_HEADER = 1 << 16
_MAX_MEMBERS = 4096
#: Bytes of the length field after the magic and version, per format version.
_LEN_BYTES = {1: 2, 2: 4, 3: 4}


def _read_exact(f: IO[bytes], n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ModelFormatError(f"{what}: truncated (expected {n} more bytes, found {len(data)})")
    return data


def _header(f: IO[bytes], what: str) -> tuple[np.dtype, tuple[int, ...], bool]:
    """(dtype, shape, fortran_order) from an ``.npy`` header, nothing allocated from it yet."""
    head = f.read(len(_MAGIC) + 2)
    if len(head) != len(_MAGIC) + 2 or not head.startswith(_MAGIC):
        raise ModelFormatError(f"{what}: not an .npy array (bad magic bytes)")
    major = head[len(_MAGIC)]
    if major not in _LEN_BYTES:
        raise ModelFormatError(f"{what}: .npy format version {major} is not supported (1, 2 or 3)")
    size = int.from_bytes(_read_exact(f, _LEN_BYTES[major], what), "little")
    if size > _MAX_HEADER:
        raise ModelFormatError(f"{what}: the .npy header declares {size} bytes (at most {_MAX_HEADER})")
    raw = _read_exact(f, size, what)
    try:
        with warnings.catch_warnings():  # a mangled header can hold an invalid escape: no warning for it
            warnings.simplefilter("ignore")
            meta = ast.literal_eval(raw.decode("utf-8" if major == 3 else "latin1"))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, UnicodeDecodeError):
        raise ModelFormatError(f"{what}: the .npy header is not a Python literal") from None
    if not isinstance(meta, dict) or set(meta) != {"descr", "fortran_order", "shape"}:
        raise ModelFormatError(f"{what}: the .npy header must hold exactly descr, fortran_order and shape")
    shape = meta["shape"]
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape):
        raise ModelFormatError(f"{what}: the .npy shape {shape!r} is not a tuple of non-negative integers")
    try:
        dtype = np.lib.format.descr_to_dtype(meta["descr"])
    except (TypeError, ValueError, KeyError, IndexError):
        raise ModelFormatError(f"{what}: the .npy dtype {meta['descr']!r} is not a NumPy dtype") from None
    if dtype.hasobject:
        raise UnsafeContentError(f"{what}: holds Python objects (a pickled {meta['descr']!r} array), which are "
                                 "never unpickled; save plain numeric arrays (np.save / np.savez)")
    return dtype, shape, bool(meta["fortran_order"])


def read_into(f: IO[bytes], arr: np.ndarray) -> int:
    """Fill ``arr`` (contiguous, any dtype) with the bytes ``f`` yields; the byte count read, below
    ``arr.nbytes`` when ``f`` ends early (the caller names the truncation)."""
    view = memoryview(arr.view(np.uint8).reshape(-1)) if arr.nbytes else memoryview(b"")
    got = 0
    while got < arr.nbytes:
        n = f.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got


def _read_array(f: IO[bytes], what: str, limits: Limits, available: int) -> np.ndarray:
    """The array that follows, allocated only once ``available`` (an upper bound on the bytes the
    file or member can still yield) and the limit allow the size its header declares."""
    dtype, shape, fortran = _header(f, what)
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    limits.check(count * max(dtype.itemsize, 1), what)  # an empty dtype still counts its elements
    if nbytes > available:
        raise ModelFormatError(f"{what}: truncated: the header declares {dtype} {list(shape)} ({nbytes} bytes) "
                               f"but the file holds at most {available} bytes")
    arr = np.empty(count, dtype)
    got = read_into(f, arr)
    if got < arr.nbytes:
        raise ModelFormatError(f"{what}: truncated: the header declares {dtype} {list(shape)} "
                               f"({arr.nbytes} bytes) but only {got} bytes follow")
    if f.read(1):
        raise ModelFormatError(f"{what}: more data follows the {dtype} {list(shape)} array its header declares")
    return arr.reshape(shape, order="F" if fortran else "C")


def load_inputs(path: str | os.PathLike[str], *, limits: Limits | None = None) -> np.ndarray | dict[str, np.ndarray]:
    """An ``.npy`` array, or an ``.npz`` archive as {name: array}; nothing is ever unpickled.

    Raises:
        ModelFormatError: the file is not a readable .npy/.npz file, or an array is malformed.
        UnsafeContentError: an array holds Python objects.
        LimitExceededError: an array, or the sum of them, exceeds ``limits.max_memory``.
    """
    p = os.fspath(path)
    lim = resolve(limits)
    try:
        with open(p, "rb") as f:
            if f.read(len(_MAGIC)) == _MAGIC:
                f.seek(0)
                return _read_array(f, f"{p!r}", lim, os.fstat(f.fileno()).st_size)
        if not zipfile.is_zipfile(p):
            raise ModelFormatError(f"{p!r}: not an .npy array nor an .npz archive of arrays")
        return _read_npz(p, lim)
    except OSError as e:
        raise ModelFormatError(f"cannot read the input file {p!r}: {e.strerror or e}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError, EOFError,
            UnicodeDecodeError) as e:  # a corrupt member, stream or member name
        raise ModelFormatError(f"{p!r}: broken .npz archive ({e})") from None


#: Deflate cannot expand data more than about 1032:1; a member yields at most this much per stored byte.
_MAX_DEFLATE_RATIO = 1100


def _most_bytes(info: zipfile.ZipInfo, path: str) -> int:
    """An upper bound on what a member can decompress to, from its compressed size (never trusting
    the uncompressed size it declares, which zipfile checks only at the end of the stream)."""
    if info.compress_type == zipfile.ZIP_STORED:
        return info.compress_size
    if info.compress_type == zipfile.ZIP_DEFLATED:
        return info.compress_size * _MAX_DEFLATE_RATIO + 1024
    raise ModelFormatError(f"{path!r}: member {info.filename!r} is compressed with method {info.compress_type}; "
                               "an .npz of inputs is stored or deflated (np.savez / np.savez_compressed)")


def _read_npz(p: str, limits: Limits) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    total = 0
    with zipfile.ZipFile(p) as z:
        infos = z.infolist()
        if len(infos) > _MAX_MEMBERS:
            raise ModelFormatError(f"{p!r}: {len(infos)} members; an .npz of inputs holds at most {_MAX_MEMBERS}")
        for info in infos:
            name = info.filename[:-4] if info.filename.endswith(".npy") else None
            if not name or info.is_dir():
                raise ModelFormatError(f"{p!r}: member {info.filename!r} is not an array NAME.npy "
                                           "(an .npz of inputs holds one NAME.npy per input, as np.savez writes)")
            if info.flag_bits & 0x1:
                raise ModelFormatError(f"{p!r}: member {info.filename!r} is encrypted; an .npz of inputs is not")
            if name in out:
                raise ModelFormatError(f"{p!r}: the array {name!r} appears twice")
            with z.open(info) as f:
                arr = _read_array(f, f"{p!r}: array {name!r}", limits, _most_bytes(info, p))
            total += arr.nbytes
            limits.check(total, f"{p!r}: the arrays up to {name!r}")
            out[name] = arr
    return out
