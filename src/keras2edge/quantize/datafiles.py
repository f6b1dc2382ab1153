"""Calibration data files: ``.npy``, ``.npz`` and folders of them, streamed in bounded memory.

``open_path(path, inputs, limits)`` checks every file's headers up front (nothing is allocated from a
header before it is checked: the header parser is :mod:`keras2edge.npyio`'s) and returns one
:class:`NpyPart` / :class:`NpzPart` per file; their ``chunks(n)`` read at most ``n`` samples at a time:

* ``.npy`` (one input, samples on axis 0) — memory-mapped; the declared data size must equal what the
  file holds (a huge declared shape or a truncated file is refused before anything is mapped or
  read), and each chunk's pages are released after it is copied out, so resident memory stays about
  one chunk whatever the file's size;
* ``.npz`` (keys = input names, or one key for a one-input model) — each member is read sequentially
  from the zip stream (stored or deflated, as ``np.savez``/``np.savez_compressed`` write it), a chunk
  at a time; a member whose data ends early is refused when the stream ends;
* a folder — its ``.npy``/``.npz`` files in sorted name order (hidden files skipped); any other entry is
  refused. A folder of images is read by :mod:`.images` instead (``data.CalibrationData`` routes it).

Fortran-ordered arrays (rare: ``np.save`` of a transposed array) are read correctly but a chunk then
touches the whole array.
"""

from __future__ import annotations

import math
import mmap
import os
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import ModelFormatError, QuantizationError, UnsafeContentError
from ..npyio import _header as read_npy_header  # the hardened .npy header parser (nothing allocated)
from ..npyio import _most_bytes, read_into
from ..runtime.errors import LimitExceededError
from ..runtime.limits import Limits
from .datacheck import InputSpec, check_dtype, check_shape, match_names, same_count

SUFFIXES = (".npy", ".npz")
_FAULT_AROUND = 1 << 20  # more than the kernel's fault-around window
Chunk = tuple[dict[str, np.ndarray], str]


@dataclass(frozen=True)
class ArrayHeader:
    """One ``.npy`` array as its header declares it (checked), and where its data starts."""

    dtype: np.dtype
    shape: tuple[int, ...]
    fortran: bool
    offset: int

    @property
    def row_items(self) -> int:
        return math.prod(self.shape[1:])

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _header(f: IO[bytes], what: str) -> ArrayHeader:
    try:
        start = f.tell()
        dtype, shape, fortran = read_npy_header(f, what)
        return ArrayHeader(dtype, shape, fortran, f.tell() - start)
    except (ModelFormatError, UnsafeContentError) as e:
        raise QuantizationError(str(e)) from None


def _check(name: str, h: ArrayHeader, spec: Sequence[int | None], where: str, limits: Limits,
           batch_size: int) -> None:
    check_dtype(name, h.dtype, where)
    if not h.shape:
        raise QuantizationError(f"{where}: input '{name}' is a scalar; calibration data has samples on axis 0")
    check_shape(name, h.shape, spec, where)
    try:  # a chunk is read as its own dtype, then converted to float32
        limits.check(min(batch_size, h.shape[0]) * h.row_items * max(h.dtype.itemsize, 4),
                     f"{where}: a batch of {batch_size} samples of input '{name}'")
    except LimitExceededError as e:
        raise QuantizationError(str(e)) from None


def _spans(n: int, size: int) -> Iterator[tuple[int, int]]:
    for s in range(0, n, size):
        yield s, min(n, s + size)


class NpyPart:
    """One ``.npy`` file: the samples of the single model input, memory-mapped."""

    def __init__(self, path: Path, inputs: Sequence[InputSpec], limits: Limits, batch_size: int,
                 ignore: Sequence[str] = ()) -> None:
        self.path = path
        where = f"calibration data '{path}'"
        if len(inputs) != 1:
            raise QuantizationError(f"{where}: a .npy file holds one input but the model has {len(inputs)} "
                                    f"({', '.join(n for n, _ in inputs)}); use an .npz keyed by input name")
        self.name, spec = inputs[0]
        with open(path, "rb") as f:
            self.header = h = _header(f, where)
            size = os.fstat(f.fileno()).st_size
        _check(self.name, h, spec, where, limits, batch_size)
        held = size - h.offset
        if h.nbytes != held:
            state = "truncated" if h.nbytes > held else "longer than its header says"
            raise QuantizationError(f"{where}: {state}: the header declares {h.dtype} {list(h.shape)} "
                                    f"({h.nbytes} bytes) but {held} bytes follow it")
        self.count = h.shape[0]

    def chunks(self, size: int) -> Iterator[Chunk]:
        h = self.header
        if not self.count:
            return
        row = h.row_items * h.dtype.itemsize
        with open(self.path, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            for s, e in _spans(self.count, size):
                if h.fortran:
                    view = np.ndarray(h.shape, h.dtype, buffer=mm, offset=h.offset, order="F")[s:e]
                    first, length = h.offset, h.nbytes
                else:
                    view = np.frombuffer(mm, h.dtype, count=(e - s) * h.row_items, offset=h.offset + s * row)
                    view = view.reshape((e - s, *h.shape[1:]))
                    first, length = h.offset + s * row, (e - s) * row
                x = view.astype(np.float32)  # a copy: the mapped pages can go
                del view
                _release(mm, first, length)
                yield {self.name: x}, f"calibration data '{self.path}' samples {s}..{e - 1}"
        finally:
            try:
                mm.close()
            except BufferError:  # a view outlived us (an exception's traceback): the GC closes the map
                pass


def _release(mm: mmap.mmap, start: int, length: int) -> None:
    """Drop the mapped pages of ``[start, start + length)`` from this process (they stay in the page
    cache): resident memory stays one chunk, not the whole file read so far."""
    if not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED") or length <= 0:
        return
    # A page fault maps the cached pages around it too (Linux "fault-around", 64 KiB by default), some
    # of them before ``start`` and released already: release from a little earlier than ``start``.
    back = max(0, start - _FAULT_AROUND)
    lo = back - back % mmap.PAGESIZE
    try:
        mm.madvise(mmap.MADV_DONTNEED, lo, min(len(mm), start + length) - lo)
    except (OSError, ValueError):
        pass


class NpzPart:
    """One ``.npz`` archive: a member per model input, each read sequentially from the zip stream."""

    def __init__(self, path: Path, inputs: Sequence[InputSpec], limits: Limits, batch_size: int,
                 ignore: Sequence[str] = ()) -> None:
        self.path = path
        where = f"calibration data '{path}'"
        names = [n for n, _ in inputs]
        specs = dict(inputs)
        try:
            with zipfile.ZipFile(path) as z:
                members = {}
                for info in z.infolist():
                    if info.is_dir() or not info.filename.endswith(".npy"):
                        raise QuantizationError(f"{where}: member {info.filename!r} is not an array NAME.npy "
                                                "(an .npz holds one NAME.npy per input, as np.savez writes)")
                    if info.filename[:-4] not in ignore:
                        members[info.filename[:-4]] = info
                self.members = match_names(members, names, where)
                self.headers: dict[str, ArrayHeader] = {}
                for name, info in self.members.items():
                    what = f"{where}: array {info.filename[:-4]!r}"
                    try:
                        bound = _most_bytes(info, str(path))
                    except ModelFormatError as e:
                        raise QuantizationError(str(e)) from None
                    with z.open(info) as f:
                        h = _header(f, what)
                    _check(name, h, specs[name], what, limits, batch_size)
                    if h.nbytes > bound - h.offset:
                        raise QuantizationError(f"{what}: truncated: the header declares {h.dtype} {list(h.shape)} "
                                                f"({h.nbytes} bytes) but the member holds at most "
                                                f"{max(bound - h.offset, 0)} bytes")
                    self.headers[name] = h
        except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError) as e:
            raise QuantizationError(f"{where}: not a readable .npz archive ({e})") from None
        self.count = same_count({n: h.shape[0] for n, h in self.headers.items()}, where)

    def chunks(self, size: int) -> Iterator[Chunk]:
        if not self.count:
            return
        where = f"calibration data '{self.path}'"
        try:
            with zipfile.ZipFile(self.path) as z:
                streams = {n: z.open(info) for n, info in self.members.items()}
                try:
                    for f in streams.values():
                        read_npy_header(f, where)  # checked in __init__; skip it
                    whole = {n: self._whole(n, streams[n]) for n, h in self.headers.items() if h.fortran}
                    for s, e in _spans(self.count, size):
                        out = {}
                        for n, h in self.headers.items():
                            x = whole[n][s:e] if n in whole else self._read(streams[n], h, e - s, n)
                            out[n] = x.astype(np.float32, copy=False)
                        yield out, f"{where} samples {s}..{e - 1}"
                    for n, f in streams.items():  # reading to the end also checks the member's CRC
                        if f.read(1):
                            raise QuantizationError(f"{where}: array '{self.members[n].filename[:-4]}' holds more "
                                                    "data than its header declares")
                finally:
                    for f in streams.values():
                        f.close()
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise QuantizationError(f"{where}: the archive is damaged ({e})") from None

    def _read(self, f: IO[bytes], h: ArrayHeader, rows: int, name: str) -> np.ndarray:
        arr = np.empty(rows * h.row_items, h.dtype)
        if read_into(f, arr) < arr.nbytes:
            raise QuantizationError(f"calibration data '{self.path}': array '{name}' is truncated: its header "
                                    f"declares {h.dtype} {list(h.shape)} but the data ends early")
        return arr.reshape((rows, *h.shape[1:]))

    def _whole(self, name: str, f: IO[bytes]) -> np.ndarray:
        h = self.headers[name]
        flat = self._read(f, ArrayHeader(h.dtype, (math.prod(h.shape),), False, h.offset), math.prod(h.shape), name)
        return flat.reshape(h.shape, order="F")


def open_path(path: str | os.PathLike[str], inputs: Sequence[InputSpec], limits: Limits,
              batch_size: int, ignore: Sequence[str] = ()) -> list[NpyPart | NpzPart]:
    """The parts of a ``.npy``/``.npz`` file or a folder of them, every header checked; ``.npz``
    members named in ``ignore`` (an eval file's labels) are skipped."""
    p = Path(path)
    if p.is_dir():
        parts: list[NpyPart | NpzPart] = []
        for entry in sorted(p.iterdir(), key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            if entry.suffix.lower() not in SUFFIXES or not entry.is_file():
                raise QuantizationError(f"calibration folder '{p}': '{entry.name}' is not a .npy or .npz file "
                                        "(a calibration folder holds only those, or only .png/.jpg images)")
            parts.append(_open_file(entry, inputs, limits, batch_size, ignore))
        if not parts:
            raise QuantizationError(f"calibration folder '{p}' holds no .npy or .npz files")
        return parts
    if not p.exists():
        raise QuantizationError(f"calibration data '{p}' does not exist")
    return [_open_file(p, inputs, limits, batch_size, ignore)]


def _open_file(p: Path, inputs: Sequence[InputSpec], limits: Limits, batch_size: int,
               ignore: Sequence[str] = ()) -> NpyPart | NpzPart:
    suffix = p.suffix.lower()
    if suffix not in SUFFIXES:
        raise QuantizationError(f"calibration data '{p}': expected a .npy or .npz file, or a folder of them "
                                "(or a .png/.jpg image, or a folder of them)")
    try:
        return (NpyPart(p, inputs, limits, batch_size) if suffix == ".npy"
                else NpzPart(p, inputs, limits, batch_size, ignore))
    except OSError as e:
        raise QuantizationError(f"calibration data '{p}': cannot read it ({e.strerror or e})") from None
