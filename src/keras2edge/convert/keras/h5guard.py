"""Check an HDF5 file before anything in it is read, and read its datasets within the limits.

A Keras file is one self-contained HDF5 file of groups, hard links and datasets stored in it.
The HDF5 library can make a file pull bytes from elsewhere; each such feature is refused by
``check_h5_file`` (one bounded walk over the whole file, run right after opening it and before
any lookup that could follow a link), using only the link table and the dataset creation
property lists, so no target is ever opened:

- an external link (``h5py.ExternalLink``): would open another HDF5 file -> refused;
- a soft link: Keras never writes one; refused rather than resolved (no loops, no dangling links);
- a user-defined link class -> refused;
- a dataset with external raw storage (``create_dataset(..., external=[...])``): its bytes live
  in another file, e.g. ``/etc/passwd`` -> refused;
- a virtual dataset (layout H5D_VIRTUAL): its sources are other files (a missing one reads as
  zeros) -> refused;
- a filter that is not built into HDF5/h5py: HDF5 would load it as a plugin (a shared library
  from outside the file) -> refused.

It also bounds what the file may make us allocate: at most ``MAX_H5_OBJECTS`` links and a depth of
``MAX_H5_DEPTH`` groups (hard-linked group cycles are visited once), every dataset's declared size
within ``Limits``, and no dataset with unwritten storage (a 22 KB file can declare a 2 GB chunked
dataset that was never written; reading it would allocate 2 GB of fill values).

``check_global_heaps`` runs on the raw bytes before HDF5 opens the file: a global heap collection
(where variable-length strings such as ``model_config`` live) with an empty free-space object
makes HDF5 2.0 loop forever when it reads the collection, so such a file is refused first.

``WeightReader.read`` then reads one dataset as a numeric array, checking the object is a
dataset, its dtype is a real number type, and that the running total of weight bytes stays
within the limit.
"""

from __future__ import annotations

import contextlib
import math
import os
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import h5py
import numpy as np

from ...errors import ModelFormatError, UnsafeContentError
from ...runtime.limits import Limits
from .jsontext import MAX_CONFIG_BYTES

#: Links visited in one file (a real Keras file with optimizer state has a few thousand to ~20,000).
MAX_H5_OBJECTS = 100_000
#: Nesting depth of groups (Keras 3 nests sub-layers a handful of levels deep).
MAX_H5_DEPTH = 64
#: Size of any one attribute (``model_config``, a JSON config, is the largest Keras writes).
MAX_ATTR_BYTES = MAX_CONFIG_BYTES

#: Filters built into HDF5 or registered by h5py itself (never loaded as plugins).
BUILTIN_FILTERS = {
    h5py.h5z.FILTER_DEFLATE: "deflate", h5py.h5z.FILTER_SHUFFLE: "shuffle",
    h5py.h5z.FILTER_FLETCHER32: "fletcher32", h5py.h5z.FILTER_SZIP: "szip",
    h5py.h5z.FILTER_NBIT: "nbit", h5py.h5z.FILTER_SCALEOFFSET: "scaleoffset", 32000: "lzf",
}
#: Told what the walk is about to read next ("attribute 'model_config' of '/'").
Progress = Callable[[str], None]
#: dtype kinds a weight may have: float, signed/unsigned int, bool.
NUMERIC_KINDS = "fiub"


def _name(raw: bytes | str) -> str:
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw


def _join(path: str, name: str) -> str:
    return f"{path.rstrip('/')}/{name}"


def declared_bytes(shape: tuple[int, ...] | None, itemsize: int) -> int:
    """Bytes a dataset of ``shape`` takes once read (0 for a null dataspace)."""
    return 0 if shape is None else math.prod(shape) * itemsize


def _check_link(gid: Any, raw: bytes, path: str, where: str) -> None:
    kind = gid.links.get_info(raw).type
    if kind == h5py.h5l.TYPE_HARD:
        return
    if kind == h5py.h5l.TYPE_EXTERNAL:
        target_file, target = gid.links.get_val(raw)
        raise UnsafeContentError(
            f"{where}: {path!r} is an external link to {_name(target)!r} in {_name(target_file)!r}; keras2edge "
            "never opens other files named by a model (Keras never writes external links)")
    if kind == h5py.h5l.TYPE_SOFT:
        raise UnsafeContentError(
            f"{where}: {path!r} is a soft link to {_name(gid.links.get_val(raw))!r}; Keras files hold only "
            "groups and datasets, so soft links are refused")
    raise UnsafeContentError(f"{where}: {path!r} is a user-defined HDF5 link (class {kind}); refused")


def _check_dataset(did: Any, path: str, where: str, limits: Limits) -> None:
    plist = did.get_create_plist()
    layout = plist.get_layout()
    if layout == h5py.h5d.VIRTUAL:
        sources = sorted({_name(plist.get_virtual_filename(i)) for i in range(plist.get_virtual_count())})
        raise UnsafeContentError(
            f"{where}: dataset {path!r} is a virtual dataset reading from {sources}; keras2edge never reads "
            "other files named by a model (Keras writes plain datasets)")
    if plist.get_external_count() > 0:
        target = _name(plist.get_external(0)[0])
        raise UnsafeContentError(
            f"{where}: dataset {path!r} has external raw storage {target!r}; keras2edge never reads other files "
            "named by a model (Keras writes plain datasets)")
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        if code not in BUILTIN_FILTERS:
            raise UnsafeContentError(
                f"{where}: dataset {path!r} uses HDF5 filter {code}, which is not built in and would be loaded "
                f"as a plugin from outside the file; supported filters: {sorted(BUILTIN_FILTERS.values())}")
    dtype = did.dtype
    nbytes = declared_bytes(did.shape, dtype.itemsize)
    limits.check(nbytes, f"{where}: dataset {path!r} (shape {did.shape}, {dtype})")
    if nbytes and layout == h5py.h5d.CHUNKED:
        chunks = plist.get_chunk()
        expected = math.prod(-(-n // c) for n, c in zip(did.shape, chunks))
        if did.get_num_chunks() < expected:
            raise ModelFormatError(
                f"{where}: dataset {path!r} declares shape {did.shape} but only {did.get_num_chunks()} of its "
                f"{expected} chunks were ever written; a Keras weight is always written whole")
    elif nbytes and layout == h5py.h5d.CONTIGUOUS and did.get_storage_size() < nbytes:
        raise ModelFormatError(
            f"{where}: dataset {path!r} declares {nbytes} bytes but stores {did.get_storage_size()}; a Keras "
            "weight is always written whole")


class _Location:
    """What ``h5py.AttributeManager`` needs of an object: its low-level id."""

    def __init__(self, oid: Any) -> None:
        self.id = oid


def _check_attrs(oid: Any, path: str, where: str, progress: Progress) -> None:
    """Check each attribute's declared size, then decode its value as the importers later do
    (``attrs[name]``), so a corrupt one fails here, in the probe (``h5probe``), first."""
    manager = h5py.AttributeManager(_Location(oid))
    for i in range(h5py.h5a.get_num_attrs(oid)):
        aid = h5py.h5a.open(oid, index=i)
        name = aid.name
        size = declared_bytes(aid.shape, aid.dtype.itemsize)
        if size > MAX_ATTR_BYTES:
            raise ModelFormatError(f"{where}: attribute {_name(name)!r} of {path!r} is {size} bytes "
                                   f"(at most {MAX_ATTR_BYTES} expected in a Keras file)")
        progress(f"attribute {_name(name)!r} of {path!r}")
        manager[name]


GCOL = b"GCOL"
#: Bytes of a global heap collection header and of an object header (8-byte lengths).
GCOL_HEADER = 16
GCOL_OBJECT_HEADER = 16
#: Objects walked in one collection (a collection holds at most 65,535), and bytes scanned per read.
MAX_HEAP_OBJECTS = 1 << 16
SCAN_CHUNK = 1 << 20


def check_global_heaps(read_at: Callable[[int, int], bytes], size: int, where: str) -> None:
    """Walk every global heap collection of a file of ``size`` bytes (``read_at(offset, n)`` reads it)
    as HDF5 does, and refuse one whose objects do not advance (an index-0 object of size 0: HDF5
    never gets past it). The file is scanned in chunks, so memory stays flat whatever its size."""
    for pos in _signatures(read_at, size, GCOL):
        head = read_at(pos, GCOL_HEADER)
        if len(head) < GCOL_HEADER or head[4] != 1:
            continue
        p, end = pos + GCOL_HEADER, min(pos + int.from_bytes(head[8:16], "little"), size)
        for _ in range(MAX_HEAP_OBJECTS):
            if p + GCOL_OBJECT_HEADER > end:
                break
            obj = read_at(p, GCOL_OBJECT_HEADER)
            index, obj_size = int.from_bytes(obj[:2], "little"), int.from_bytes(obj[8:16], "little")
            step = GCOL_OBJECT_HEADER + -(-obj_size // 8) * 8 if index else obj_size
            if step == 0:
                raise ModelFormatError(f"{where}: corrupt HDF5 global heap at offset {pos} (an empty free-space "
                                       "object, on which the HDF5 library would loop forever)")
            p += step


def _signatures(read_at: Callable[[int, int], bytes], size: int, sig: bytes) -> Iterator[int]:
    """Offsets of ``sig`` in the file, read in chunks that overlap by ``len(sig) - 1`` bytes."""
    offset = 0
    while offset < size:
        chunk = read_at(offset, SCAN_CHUNK + len(sig) - 1)
        hit = chunk.find(sig)
        while hit >= 0:
            yield offset + hit
            hit = chunk.find(sig, hit + 1)
        offset += SCAN_CHUNK


def scan_raw_h5(path_or_file: str | IO[bytes], where: str) -> None:
    """``check_global_heaps`` over a file given by path or as an open (real) file."""
    with contextlib.ExitStack() as stack:
        fh = path_or_file if not isinstance(path_or_file, str) else stack.enter_context(open(path_or_file, "rb"))
        fd = fh.fileno()
        check_global_heaps(lambda offset, n: os.pread(fd, n, offset), os.fstat(fd).st_size, where)


def _quiet(what: str) -> None:
    """The default ``Progress``: report nothing."""


def check_h5_file(f: h5py.File, where: str, limits: Limits, progress: Progress = _quiet) -> None:
    """Walk the whole file once; raise UnsafeContentError / ModelFormatError / LimitExceededError
    for anything that reads outside it or declares more than the limits (see the module docstring).
    Every attribute is decoded once; ``progress`` is told each object and attribute before HDF5 reads
    it (so ``h5probe`` can name the one on which libhdf5 crashed or hung)."""
    seen: set[tuple[Any, int]] = set()
    count = 0
    stack: list[tuple[Any, str, int]] = [(f.id, "/", 0)]
    _check_attrs(f.id, "/", where, progress)
    while stack:
        gid, path, depth = stack.pop()
        if depth > MAX_H5_DEPTH:
            raise ModelFormatError(f"{where}: groups nested deeper than {MAX_H5_DEPTH} levels at {path!r}")
        for raw in list(gid):
            count += 1
            if count > MAX_H5_OBJECTS:
                raise ModelFormatError(f"{where}: more than {MAX_H5_OBJECTS} HDF5 objects; not a Keras file")
            child = _join(path, _name(raw))
            _check_link(gid, raw, child, where)
            progress(f"object {child!r}")
            oid = h5py.h5o.open(gid, raw)
            info = h5py.h5o.get_info(oid)
            key = (info.fileno, info.addr)
            if key in seen:
                continue  # a group or dataset hard-linked twice (or a cycle): checked once
            seen.add(key)
            _check_attrs(oid, child, where, progress)
            if isinstance(oid, h5py.h5g.GroupID):
                stack.append((oid, child, depth + 1))
            elif isinstance(oid, h5py.h5d.DatasetID):
                progress(f"the storage of dataset {child!r}")
                _check_dataset(oid, child, where, limits)


class WeightReader:
    """Reads weight datasets of one model, within ``limits`` for each array and for their total."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0

    def read(self, obj: Any, where: str) -> np.ndarray:
        """The dataset ``obj`` as a NumPy array; ``where`` names the file and the dataset path."""
        if not isinstance(obj, h5py.Dataset):
            raise ModelFormatError(f"{where}: expected a dataset (a weight array), found a {type(obj).__name__}")
        dtype = obj.dtype
        if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise ModelFormatError(f"{where}: a weight of dtype {dtype}; expected a float, integer or bool array")
        nbytes = declared_bytes(obj.shape, dtype.itemsize)
        self.total += nbytes
        self.limits.check(self.total, f"{where}: the weights read so far")
        try:
            return np.asarray(obj[()])
        except OSError as e:
            raise ModelFormatError(f"{where}: cannot read the dataset (corrupt file?): {e}") from None


def raised_by_h5py(exc: BaseException) -> bool:
    """True if ``exc`` came out of h5py/HDF5 itself: how a corrupt file shows (as OSError, KeyError,
    RuntimeError, ValueError... depending on the HDF5 call), as opposed to a bug of ours."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and "h5py" in Path(frames[-1].filename).parts


def as_group(obj: Any, where: str) -> h5py.Group:
    """``obj`` if it is a group, else a ModelFormatError naming what was found."""
    if not isinstance(obj, h5py.Group):
        raise ModelFormatError(f"{where}: expected a group, found a {type(obj).__name__}")
    return obj
