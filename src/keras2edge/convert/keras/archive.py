"""Read members of a ``.keras`` zip archive by the bytes they actually hold, never by what they declare.

- ``validate_zip``: every member before anything is read: no duplicate names, no absolute paths,
  ``..`` or drive letters, no encrypted members, only stored or deflated members (what Keras writes; bzip2/lzma
  decompress without a bound in ``zipfile``), declared sizes within the limit.
- ``read_member``: a member into memory, decompressed in bounded steps, stopping as soon as more
  than the cap has come out (a header can declare 8 KB for a 1.9 GB member).
- ``spool_member``: a member into an anonymous temporary file (``model.weights.h5``: h5py then
  reads it from disk, so the weights are never held twice in memory), under the same rule.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
import zlib
from typing import IO

from ...errors import LimitExceededError, ModelFormatError, UnsafeContentError
from ...runtime.limits import Limits

#: Bytes decompressed per step.
CHUNK = 1 << 20
#: Compression methods Keras writes.
ALLOWED_COMPRESSION = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
#: General-purpose flag bits of an encrypted member (bit 0) or of strong encryption (bit 6).
ENCRYPTED_FLAGS = 0x01 | 0x40


def validate_zip(z: zipfile.ZipFile, path: str, limits: Limits) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by name, refusing unsafe or oversized ones (see the module docstring)."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in z.infolist():
        name = info.filename
        if name in members:
            raise UnsafeContentError(f"{path!r}: the archive has two members named {name!r}; refusing it "
                                     "(a duplicate member can hide malicious content)")
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
            raise UnsafeContentError(f"{path!r}: archive member {name!r} escapes the archive; refusing it")
        if info.flag_bits & ENCRYPTED_FLAGS:
            raise ModelFormatError(f"{path!r}: archive member {name!r} is encrypted; Keras never encrypts members")
        if info.compress_type not in ALLOWED_COMPRESSION:
            raise ModelFormatError(f"{path!r}: archive member {name!r} uses compression method {info.compress_type};"
                                   f" supported: {', '.join(ALLOWED_COMPRESSION.values())} (what Keras writes)")
        limits.check(info.file_size, f"{path!r}: archive member {name!r}")
        members[name] = info
    return members


def _copy(z: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, where: str, sink: IO[bytes]) -> int:
    """Decompress ``info`` into ``sink`` chunk by chunk; stop past ``cap`` actual bytes."""
    total = 0
    try:
        with z.open(info) as fh:
            while True:
                chunk = fh.read(CHUNK)
                if not chunk:
                    return total
                total += len(chunk)
                if total > cap:
                    raise LimitExceededError(
                        f"{where} holds more than {cap} bytes when decompressed (its header declares "
                        f"{info.file_size}); refusing it")
                sink.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as e:
        raise ModelFormatError(f"{where}: broken or truncated archive member ({e})") from None


def read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, where: str) -> bytes:
    """The member's bytes, at most ``cap`` of them (LimitExceededError beyond)."""
    buf = io.BytesIO()
    _copy(z, info, cap, where, buf)
    return buf.getvalue()


def spool_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, where: str) -> IO[bytes]:
    """The member copied into an anonymous temporary file (removed when closed), within the limit."""
    tmp = tempfile.TemporaryFile()
    try:
        _copy(z, info, limits.max_memory, where, tmp)
        tmp.seek(0)
    except BaseException:
        tmp.close()
        raise
    return tmp
