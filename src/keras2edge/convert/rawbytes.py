"""An array as the bytes both output formats store: C order, little-endian (ONNX ``raw_data``,
TFLite buffers), whole or in slices so that a transposed view is never copied whole."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: Size of the slices :func:`raw_chunks` copies a non-contiguous array in.
CHUNK_BYTES = 16 << 20


def _is_raw(a: np.ndarray) -> bool:
    return a.flags.c_contiguous and a.dtype.byteorder != ">"


def raw_bytes(a: np.ndarray) -> np.ndarray:
    """``a``'s C-order little-endian bytes as a read-only 1-D uint8 array (a view, no copy, when
    ``a`` is already laid out that way)."""
    c = np.ascontiguousarray(a)
    c = c.astype(c.dtype.newbyteorder("<"), copy=False)
    raw = c.reshape(-1).view(np.uint8)
    raw.flags.writeable = False
    return raw


def raw_chunks(a: np.ndarray, chunk_bytes: int = CHUNK_BYTES) -> Iterator[np.ndarray]:
    """The bytes of :func:`raw_bytes` as consecutive pieces: the array itself when it is already
    C-order little-endian, else copies of slices along axis 0 of about ``chunk_bytes`` each."""
    if a.ndim == 0 or a.shape[0] == 0 or _is_raw(a) or a.nbytes <= chunk_bytes:
        yield raw_bytes(a)
        return
    rows = max(1, chunk_bytes // max(1, a[0].nbytes))
    for start in range(0, a.shape[0], rows):
        yield raw_bytes(a[start:start + rows])
