"""The thread count of the OpenBLAS that NumPy loaded, read and set through the library itself (ctypes).

NumPy's float32 GEMMs (the float CONV_2D and FULLY_CONNECTED kernels, and the exact-integer GEMMs of
the int8 kernels) run in OpenBLAS, which by default starts one thread per core and lets idle threads
spin. Code that calls many GEMMs between single-threaded NumPy work (calibration runs the model
hundreds of times, a few samples at a time) can set one thread for a while with
:func:`blas_threads` and restore the previous count afterwards.

Only OpenBLAS builds exporting ``[scipy_]openblas_{get,set}_num_threads[64_]`` (NumPy's wheels) are
handled; with another BLAS, or where the library cannot be found (not Linux), nothing is changed.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager

#: Symbol suffixes of the OpenBLAS builds NumPy wheels ship (scipy-openblas, 64-bit ints) or link.
_PREFIXES = ("scipy_openblas", "openblas")
_SUFFIXES = ("64_", "")


def _library() -> tuple[object, object] | None:
    """(getter, setter) of the loaded OpenBLAS, or None."""
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({ln.split()[-1] for ln in f if "openblas" in ln.lower() and "/" in ln})
    except OSError:
        return None
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype = ctypes.c_int
                    put.argtypes = [ctypes.c_int]
                    put.restype = None
                    return get, put
    return None


def get_blas_threads() -> int | None:
    """The thread count the loaded OpenBLAS will use; None when it cannot be told."""
    found = _library()
    return None if found is None else int(found[0]())  # type: ignore[operator]


@contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` OpenBLAS threads (at most its current count), then restore that count."""
    found = _library()
    if found is None:
        yield
        return
    get, put = found
    before = int(get())  # type: ignore[operator]
    if n >= before:
        yield
        return
    put(n)  # type: ignore[operator]
    try:
        yield
    finally:
        put(before)  # type: ignore[operator]


__all__ = ["blas_threads", "get_blas_threads"]
