"""Tell what kind of file a path holds from its first bytes, never from its extension."""

from __future__ import annotations

import enum
import os

from ...errors import ModelFormatError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"


class FileKind(str, enum.Enum):
    HDF5 = "HDF5"
    ZIP = "zip archive"
    JSON = "JSON"
    TFLITE = "TFLite flatbuffer"
    NPY = "NumPy .npy"
    UNKNOWN = "unknown"


def sniff(path: str) -> FileKind:
    """The container kind of ``path`` (HDF5 magic may sit at 0, 512, 1024, ... after a user block)."""
    if not os.path.exists(path):
        raise ModelFormatError(f"{path!r}: no such file")
    if os.path.isdir(path):
        raise ModelFormatError(
            f"{path!r} is a directory; expected a Keras .h5/.hdf5, .keras or .json file "
            "(TensorFlow SavedModel directories are not supported: save with model.save('m.keras'))")
    with open(path, "rb") as f:
        head = f.read(4096)
        if not head:
            raise ModelFormatError(f"{path!r} is empty; expected a Keras model file")
        if head.startswith(HDF5_MAGIC):
            return FileKind.HDF5
        size = os.path.getsize(path)
        offset = 512
        while offset + 8 <= min(size, 1 << 20):
            f.seek(offset)
            if f.read(8) == HDF5_MAGIC:
                return FileKind.HDF5
            offset *= 2
    if head.startswith(ZIP_MAGIC):
        return FileKind.ZIP
    if head[4:8] == b"TFL3":
        return FileKind.TFLITE
    if head.startswith(b"\x93NUMPY"):
        return FileKind.NPY
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"{", b"["):
        return FileKind.JSON
    return FileKind.UNKNOWN


def describe_bytes(path: str) -> str:
    """A short printable view of the first bytes, for error messages."""
    with open(path, "rb") as f:
        head = f.read(16)
    return " ".join(f"{b:02x}" for b in head)
