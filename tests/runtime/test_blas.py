"""runtime.blas: the loaded OpenBLAS's thread count is set for a block and restored after it."""

from __future__ import annotations

import numpy as np

from keras2edge.runtime.blas import blas_threads, get_blas_threads


def test_blas_threads_set_and_restored() -> None:
    np.ones((4, 4), np.float32) @ np.ones((4, 4), np.float32)  # BLAS loaded (NumPy loads it on import)
    before = get_blas_threads()
    assert before is None or before >= 1
    with blas_threads(1):
        assert get_blas_threads() == (None if before is None else 1)
    assert get_blas_threads() == before
    try:
        with blas_threads(1):
            raise KeyError("inside")
    except KeyError:
        pass
    assert get_blas_threads() == before  # restored when the block raises
