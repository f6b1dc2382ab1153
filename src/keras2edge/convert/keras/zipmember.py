"""A ``.keras`` archive member as a seekable file, read in place (HDF5 weights never copied into memory).

Keras stores ``model.weights.h5`` uncompressed (``ZIP_STORED``), so its bytes are one contiguous
range of the archive; :func:`open_member` returns a read-only file object over that range, which
h5py reads like any file. Its CRC-32 is checked first by streaming the member once, so a damaged
archive is refused as ``zipfile.ZipFile.read`` would refuse it. A compressed or encrypted member
(or a stored one whose two sizes disagree) is read into memory instead (``io.BytesIO``).
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from typing import BinaryIO

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")   # signature ... file name length, extra field length
_LOCAL_MAGIC = b"PK\x03\x04"
_CHUNK = 1 << 20


class MemberFile(io.RawIOBase):
    """Read-only, seekable view of ``size`` bytes of ``path`` starting at ``start``."""

    def __init__(self, path: str, start: int, size: int) -> None:
        super().__init__()
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._start, self._size, self._pos = start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = max(0, min(len(buffer), self._size - self._pos))
        if n == 0:
            return 0
        self._f.seek(self._start + self._pos)
        got = self._f.readinto(memoryview(buffer)[:n])
        self._pos += got or 0
        return got or 0

    def close(self) -> None:
        self._f.close()
        super().close()


def _data_offset(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> int | None:
    """Where the member's bytes start in the archive (None if the local header is not sound)."""
    fp = z.fp
    if fp is None:
        return None
    fp.seek(info.header_offset)
    header = fp.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        return None
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != _LOCAL_MAGIC:
        return None
    return info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10]


def open_member(z: zipfile.ZipFile, path: str, name: str) -> BinaryIO:
    """Member ``name`` of the archive ``z`` (opened from ``path``) as a seekable binary file.

    Raises:
        zipfile.BadZipFile: the member's CRC-32 does not match (a damaged archive).
    """
    info = z.getinfo(name)
    with z.open(info) as member:     # ZipExtFile checks the CRC-32 once the whole member is read
        stored = info.compress_type == zipfile.ZIP_STORED and info.compress_size == info.file_size
        if not stored or info.flag_bits & 0x1:
            return io.BytesIO(member.read())
        while member.read(_CHUNK):
            pass
    start = _data_offset(z, info)
    if start is None:
        raise zipfile.BadZipFile(f"bad local file header for member {name!r}")
    return io.BufferedReader(MemberFile(path, start, info.file_size))
