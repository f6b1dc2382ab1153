"""convert/rawbytes.py: an array's C-order little-endian bytes, whole or in slices (never a whole copy
of a transposed view)."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.convert.rawbytes import raw_bytes, raw_chunks

W = np.arange(6 * 5 * 4, dtype=np.float32).reshape(6, 5, 4)


@pytest.mark.parametrize("a", [
    W, W.transpose(2, 0, 1), W.astype(">f4").transpose(1, 2, 0), W[::2], np.float32(3.0) * np.ones(()),
    np.zeros((0, 3), np.int64).T, np.array([True, False]),
], ids=["contiguous", "transposed", "big-endian", "strided", "rank0", "empty", "bool"])
def test_chunks_concatenate_to_the_c_order_little_endian_bytes(a: np.ndarray) -> None:
    want = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
    assert raw_bytes(a).tobytes() == want
    chunks = list(raw_chunks(a, chunk_bytes=24))
    assert b"".join(c.tobytes() for c in chunks) == want
    assert all(c.dtype == np.uint8 and c.ndim == 1 and not c.flags.writeable for c in chunks)


def test_a_view_is_copied_slice_by_slice_and_a_contiguous_array_not_at_all() -> None:
    t = W.transpose(2, 0, 1)                                  # (4, 6, 5): a row is 120 bytes
    assert [c.size for c in raw_chunks(t, chunk_bytes=250)] == [240, 240]
    (whole,) = raw_chunks(W, chunk_bytes=16)
    assert np.shares_memory(whole, W)
