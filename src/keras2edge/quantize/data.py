"""Calibration data: what the user gives, checked against the model's inputs, as batches.

:class:`CalibrationData` (and the generator form :func:`calibration_batches`) yields
``{input name: float32 array}`` batches of ``batch_size`` samples (the last may be smaller); samples
run on across files and caller batches. ``source`` may be:

* a NumPy array (one input; axis 0 is the sample axis);
* a dict ``{input name: array}`` (every input, the same number of samples);
* an iterable of batches, each an array, a dict, or (several inputs) a tuple in input order;
* a path to a ``.npy`` (one input), an ``.npz`` (keys = input names, or a single key for a
  single-input model), or a folder of them (sorted by name) — streamed in bounded memory
  (:mod:`.datafiles`);
* a path to a ``.png``/``.jpg`` image or a folder of them, or an :class:`~.images.ImageFolder` (path
  and preprocessing) — for a model with one NHWC image input (:mod:`.images`: decoded, RGB, resized
  to the input, ``pixel * scale + offset``), streamed a batch of images at a time.

``inputs`` are the model inputs as ``(name, shape)`` with ``None`` (or -1) for the batch axis.
Structure (names, shapes, dtypes, the total count, file headers) is checked when the object is made;
values (NaN/Inf) as each batch is read. Every refusal is a QuantizationError naming the file or the
batch, the input and both shapes (:mod:`.datacheck`). ``count`` is the number of samples when it is
known up front (arrays, lists, files), else ``None`` (a generator); ``num_batches`` likewise. Fewer than ``min_samples`` samples
are refused; fewer than :data:`WARN_BELOW` are logged as a warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, Union

import numpy as np

from ..errors import QuantizationError
from ..runtime.limits import Limits, resolve
from .datacheck import InputSpec, check_dtype, check_finite, check_shape, match_names, same_count
from .datafiles import Chunk, open_path
from .images import ImageFolder, holds_images, open_images

__all__ = ["WARN_BELOW", "CalibrationData", "InputSpec", "Source", "calibration_batches"]

log = logging.getLogger(__name__)

#: Fewer samples than this are accepted with a logged warning (ranges from a handful are unreliable).
WARN_BELOW = 16

Source = Union[np.ndarray, Mapping[str, np.ndarray], Iterable[Any], str, "os.PathLike[str]", "CalibrationData",
               ImageFolder]


class _Part(Protocol):
    count: int | None

    def chunks(self, size: int) -> Iterator[Chunk]: ...


def _arrays(item: Any, inputs: Sequence[InputSpec], where: str) -> dict[str, np.ndarray]:
    """One in-memory item (array, dict, or tuple in input order) as checked ``{input name: array}``."""
    names = [n for n, _ in inputs]
    if isinstance(item, Mapping):
        data = match_names(item, names, where)
    elif isinstance(item, (tuple, list)) and len(names) > 1:
        if len(item) != len(names):
            raise QuantizationError(f"{where}: holds {len(item)} arrays; the model has {len(names)} inputs "
                                    f"({', '.join(names)})")
        data = dict(zip(names, item))
    elif len(names) != 1:
        raise QuantizationError(f"{where}: the model has {len(names)} inputs ({', '.join(names)}): give a dict "
                                "(or an .npz) keyed by input name")
    else:
        data = {names[0]: item}
    out = {}
    for (name, spec) in inputs:
        try:
            x = np.asarray(data[name])
        except (ValueError, TypeError) as e:
            raise QuantizationError(f"{where}: input '{name}' is not an array ({e})") from None
        check_dtype(name, x.dtype, where)
        if x.ndim == 0:
            raise QuantizationError(f"{where}: input '{name}' is a scalar; calibration data has samples on axis 0")
        check_shape(name, x.shape, spec, where)
        out[name] = x
    return out


class _ArrayPart:
    """Arrays already in memory (checked): sliced into chunks."""

    def __init__(self, arrays: dict[str, np.ndarray], where: str) -> None:
        self.arrays = arrays
        self.where = where
        self.count: int | None = same_count({n: x.shape[0] for n, x in arrays.items()}, where)

    def chunks(self, size: int) -> Iterator[Chunk]:
        for s in range(0, self.count or 0, size):
            e = min(s + size, self.count or 0)
            yield {n: x[s:e] for n, x in self.arrays.items()}, f"{self.where} samples {s}..{e - 1}"


def _item_count(item: Any, names: Sequence[str]) -> int | None:
    first = item.get(names[0], next(iter(item.values()), None)) if isinstance(item, Mapping) else (
        item[0] if isinstance(item, (tuple, list)) and len(names) > 1 and item else item)
    return int(first.shape[0]) if isinstance(first, np.ndarray) and first.ndim else None


class _IterablePart:
    """Batches made by the caller, checked one by one (a one-shot iterator is read once only)."""

    def __init__(self, source: Iterable[Any], inputs: Sequence[InputSpec]) -> None:
        self.source = source
        self.inputs = inputs
        self.one_shot = iter(source) is source
        self.used = False
        self.count: int | None = None
        if isinstance(source, Sequence):
            counts = [_item_count(item, [n for n, _ in inputs]) for item in source]
            self.count = None if None in counts else sum(c for c in counts if c is not None)

    def chunks(self, size: int) -> Iterator[Chunk]:
        if self.one_shot and self.used:
            raise QuantizationError("calibration data is a one-shot iterator and was already read; pass a list, "
                                    "an array or a file to calibrate more than once")
        self.used = True
        for k, item in enumerate(self.source):
            where = f"calibration data batch {k}"
            yield from _ArrayPart(_arrays(item, self.inputs, where), where).chunks(size)


class CalibrationData:
    """Calibration samples for a model's inputs, iterated as batches (see the module).

    Args:
        source: arrays, a dict, an iterable of batches, or a ``.npy``/``.npz`` file or folder path.
        inputs: the model inputs as ``(name, shape)``, ``None``/-1 for free dimensions.
        batch_size: samples per batch (the last batch may be smaller).
        min_samples: fewer samples are refused.
        limits: memory limit for one batch (default: ``Limits.default()``).
        ignore: ``.npz`` members that are not inputs (an eval file's labels), skipped.
        warn_below: fewer samples are logged as unreliable for calibration (0: never; eval data).

    Raises:
        QuantizationError: the data does not fit the model's inputs (names, shapes, dtypes), is empty,
            has fewer than ``min_samples`` samples, or a file is unreadable, truncated or hostile.
    """

    def __init__(self, source: Source, inputs: Sequence[InputSpec], batch_size: int = 32, *,
                 min_samples: int = 1, limits: Limits | None = None, ignore: Sequence[str] = (),
                 warn_below: int = WARN_BELOW) -> None:
        if batch_size < 1:
            raise QuantizationError(f"calibration batch size must be at least 1, not {batch_size}")
        if not inputs:
            raise QuantizationError("calibration data: the model has no inputs")
        self.inputs = [(n, tuple(s)) for n, s in inputs]
        self.batch_size = batch_size
        self.min_samples = max(1, min_samples)
        self.warn_below = warn_below
        paths = (str, os.PathLike, ImageFolder)
        self.where = f"calibration data '{source}'" if isinstance(source, paths) else "calibration data"
        self.parts: list[_Part]
        if isinstance(source, CalibrationData):
            self.parts = list(source.parts)
        elif isinstance(source, ImageFolder) or (isinstance(source, (str, os.PathLike)) and holds_images(source)):
            self.parts = list(open_images(source, self.inputs))
        elif isinstance(source, (str, os.PathLike)):
            self.parts = list(open_path(source, self.inputs, resolve(limits), batch_size, ignore))
        elif isinstance(source, (np.ndarray, Mapping)):
            kind = "dict" if isinstance(source, Mapping) else "array"
            self.parts = [_ArrayPart(_arrays(source, self.inputs, f"calibration data ({kind})"),
                                     f"calibration data ({kind})")]
        elif isinstance(source, Iterable) and not isinstance(source, (bytes, bytearray)):
            self.parts = [_IterablePart(source, self.inputs)]
        else:
            raise QuantizationError(f"calibration data of type {type(source).__name__} is not supported: give an "
                                    "array, a dict of arrays, an iterable of batches, or a .npy/.npz file or folder")
        counts = [p.count for p in self.parts]
        self.count: int | None = None if None in counts else sum(c for c in counts if c is not None)
        if self.count is not None:
            self._check_count(self.count)

    @property
    def num_batches(self) -> int | None:
        """How many batches iterating yields (``None`` when ``count`` is unknown)."""
        return None if self.count is None else -(-self.count // self.batch_size)

    def _check_count(self, n: int) -> None:
        if n == 0:
            raise QuantizationError(f"{self.where}: empty (no samples)")
        if n < self.min_samples:
            raise QuantizationError(f"{self.where}: holds {n} samples; at least {self.min_samples} are needed "
                                    "(min_samples)")
        if n < self.warn_below:
            log.warning("%s: only %d calibration sample%s; ranges from fewer than %d samples are unreliable",
                        self.where, n, "" if n == 1 else "s", WARN_BELOW)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        bs = self.batch_size
        pending: list[dict[str, np.ndarray]] = []
        held = seen = 0
        for part in self.parts:
            for chunk, where in part.chunks(bs):
                chunk = {n: check_finite(n, x.astype(np.float32, copy=False), where) for n, x in chunk.items()}
                n = next(iter(chunk.values())).shape[0]
                if not n:
                    continue
                pending.append(chunk)
                held += n
                seen += n
                while held >= bs:
                    batch, rest = _split(pending, bs)
                    yield batch
                    pending, held = ([rest] if rest else []), held - bs
        if held:
            yield _split(pending, held)[0]
        if self.count is None:
            self._check_count(seen)

    def __repr__(self) -> str:
        return (f"CalibrationData({self.where}, inputs={[n for n, _ in self.inputs]}, count={self.count}, "
                f"batch_size={self.batch_size})")


def _split(pending: list[dict[str, np.ndarray]], n: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The first ``n`` samples of the pending chunks as one batch, and what is left (``{}`` if none)."""
    names = list(pending[0])
    whole = {k: pending[0][k] if len(pending) == 1 else np.concatenate([c[k] for c in pending]) for k in names}
    total = whole[names[0]].shape[0]
    return {k: v[:n] for k, v in whole.items()}, ({k: v[n:] for k, v in whole.items()} if total > n else {})


def calibration_batches(source: Source, inputs: Sequence[InputSpec], batch_size: int = 32, *,
                        min_samples: int = 1, limits: Limits | None = None) -> Iterator[dict[str, np.ndarray]]:
    """Batches ``{input name: float32 array}`` of ``batch_size`` samples (see the module and
    :class:`CalibrationData`, which also gives the sample ``count`` for a progress bar)."""
    return iter(CalibrationData(source, inputs, batch_size, min_samples=min_samples, limits=limits))
