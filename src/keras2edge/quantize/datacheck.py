"""Checks of calibration data against the model's inputs, one function per refusal.

Each raises a :class:`~keras2edge.errors.QuantizationError` whose message starts with ``where`` (the
file, or which batch of an in-memory source), names the model input and says what is accepted:

* :func:`check_dtype` — numbers only (float, int, uint, bool); text, objects, structured, complex
  and datetime arrays are refused (files are read with pickling off, always);
* :func:`check_shape` — the rank and every fixed dimension after the sample axis, both shapes named;
* :func:`check_finite` — NaN/Inf, with how many of each and in which samples;
* :func:`match_names` — a ``{key: array}`` source against the input names (unknown and missing keys).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np

from ..errors import QuantizationError

InputSpec = tuple[str, Sequence["int | None"]]
T = TypeVar("T")

_KIND = {"U": "text", "S": "bytes", "O": "Python objects", "V": "a structured/void array", "c": "complex",
         "M": "datetimes", "m": "timedeltas"}


def shape_text(shape: Sequence[int | None]) -> str:
    """A model input shape with its free (sample) dimensions as ``N``: ``(N, 8, 8, 1)``."""
    return "(" + ", ".join("N" if d is None or d == -1 else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def check_dtype(name: str, dtype: np.dtype, where: str) -> None:
    if dtype.kind not in "fiub":
        what = _KIND.get(dtype.kind, str(dtype))
        raise QuantizationError(f"{where}: input '{name}' holds {what} ({dtype}); calibration data must be "
                                "numeric arrays (float, int, uint or bool)")


def check_shape(name: str, shape: Sequence[int], spec: Sequence[int | None], where: str) -> None:
    """``shape`` (samples first) against the model input's ``spec`` (``None``/-1 = any size)."""
    shape = tuple(shape)
    ok = len(shape) == len(spec) and all(d is None or d == -1 or d == s for d, s in zip(spec[1:], shape[1:]))
    if ok:
        return
    hint = ""
    if len(shape) == len(spec) - 1 and all(d is None or d == -1 or d == s for d, s in zip(spec[1:], shape)):
        hint = " (one sample without the sample axis? add it: x[None])"
    raise QuantizationError(f"{where}: input '{name}' has shape {shape} but the model's input '{name}' is "
                            f"{shape_text(spec)}{hint}")


def check_finite(name: str, x: np.ndarray, where: str) -> np.ndarray:
    """``x`` (float) if every value is finite; else a refusal counting NaN and Inf."""
    if not np.isfinite(x).all():
        nan, inf = int(np.isnan(x).sum()), int(np.isinf(x).sum())
        raise QuantizationError(f"{where}: input '{name}' holds {nan} NaN and {inf} Inf values; calibration data "
                                "must be finite")
    return x


def match_names(data: Mapping[str, T], names: Sequence[str], where: str) -> dict[str, T]:
    """``{input name: value}`` from ``data`` keyed by input names (or one key for a one-input model)."""
    if len(data) == 1 and len(names) == 1 and names[0] not in data:
        return {names[0]: next(iter(data.values()))}
    missing = [n for n in names if n not in data]
    extra = [k for k in data if k not in names]
    if missing or extra:
        parts = ([f"unknown {extra}"] if extra else []) + ([f"missing {missing}"] if missing else [])
        raise QuantizationError(f"{where}: holds inputs {sorted(map(str, data))} ({', '.join(parts)}); the model's "
                                f"inputs are {list(names)}")
    return {n: data[n] for n in names}


def same_count(counts: Mapping[str, int], where: str) -> int:
    """The one sample count of all inputs, or a refusal naming each input's count."""
    if len(set(counts.values())) > 1:
        each = ", ".join(f"'{k}': {v}" for k, v in counts.items())
        raise QuantizationError(f"{where}: the inputs hold different numbers of samples ({each})")
    return next(iter(counts.values()))
