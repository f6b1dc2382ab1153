"""Calibration data: what the user gives, checked against the model's inputs, as batches.

``calibration_batches(source, inputs, batch_size)`` yields ``{input name: float32 array}`` batches
of at most ``batch_size`` samples. ``source`` may be:

* a NumPy array (one input; axis 0 is the sample axis);
* a dict ``{input name: array}`` (every input, the same number of samples);
* an iterable of either (batches as the caller made them);
* a path to a ``.npy`` (one input) or ``.npz`` (keys = input names, or a single key for a
  single-input model).

``inputs`` are the model inputs as ``(name, shape)`` with ``None`` (or -1) for the batch axis.
Mismatched shapes, NaN/Inf and empty data raise a QuantizationError naming the input and both shapes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..errors import QuantizationError

InputSpec = tuple[str, Sequence[int | None]]
Source = Union[np.ndarray, Mapping[str, np.ndarray], Iterable[Any], str, "os.PathLike[str]"]


def _as_dict(item: Any, inputs: Sequence[InputSpec], where: str) -> dict[str, np.ndarray]:
    names = [n for n, _ in inputs]
    if isinstance(item, Mapping):
        data = dict(item)
        if len(data) == 1 and len(names) == 1 and names[0] not in data:
            data = {names[0]: next(iter(data.values()))}
        missing = [n for n in names if n not in data]
        extra = [k for k in data if k not in names]
        if missing or extra:
            raise QuantizationError(f"{where}: calibration data has inputs {sorted(data)}, the model takes "
                                    f"{names}" + (f" (missing {missing})" if missing else ""))
    else:
        if len(names) != 1:
            raise QuantizationError(f"{where}: the model has {len(names)} inputs ({', '.join(names)}): give a "
                                    "dict or .npz keyed by input name")
        data = {names[0]: item}
    return {n: _check(n, np.asarray(data[n]), dict(inputs)[n], where) for n in names}


def _check(name: str, x: np.ndarray, shape: Sequence[int | None], where: str) -> np.ndarray:
    if x.dtype.kind not in "fiub":
        raise QuantizationError(f"{where}: calibration data for input '{name}' is {x.dtype}, not numbers")
    if x.ndim != len(shape) or any(d not in (None, -1) and d != s for d, s in zip(shape[1:], x.shape[1:])):
        want = "(" + ", ".join("N" if d in (None, -1) else str(d) for d in shape) + ")"
        raise QuantizationError(f"{where}: calibration data for input '{name}' has shape {x.shape}, the input "
                                f"is {want}")
    if x.shape[0] == 0:
        raise QuantizationError(f"{where}: calibration data for input '{name}' is empty")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise QuantizationError(f"{where}: calibration data for input '{name}' holds NaN or Inf")
    return x


def _load(path: Path) -> dict[str, np.ndarray] | np.ndarray:
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    raise QuantizationError(f"calibration data '{path}': expected a .npy or .npz file")


def calibration_batches(source: Source, inputs: Sequence[InputSpec], batch_size: int = 32
                        ) -> Iterator[dict[str, np.ndarray]]:
    """Batches ``{input name: float32 array}`` of at most ``batch_size`` samples (see the module)."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        items: Iterable[Any] = [_load(path)]
        where = f"calibration data '{path}'"
    elif isinstance(source, (np.ndarray, Mapping)):
        items, where = [source], "calibration data"
    else:
        items, where = source, "calibration data"
    seen = 0
    for item in items:
        batch = _as_dict(item, inputs, where)
        n = {x.shape[0] for x in batch.values()}
        if len(n) != 1:
            raise QuantizationError(f"{where}: inputs hold different sample counts {sorted(n)}")
        total = n.pop()
        for start in range(0, total, batch_size):
            seen += 1
            yield {k: v[start:start + batch_size] for k, v in batch.items()}
    if not seen:
        raise QuantizationError(f"{where}: no calibration samples")
