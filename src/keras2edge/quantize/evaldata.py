"""Eval data (``--eval PATH`` / ``eval_data=``): model inputs, optionally with labels, as batches.

The inputs are read exactly as calibration data (:class:`~keras2edge.quantize.data.CalibrationData`:
checked against the model's inputs, streamed in bounded memory); labels ride along:

* an ``.npz`` file: the input arrays (keys = input names, or one key) plus, optionally, ``labels`` or
  ``y`` — class ids (one per sample, integers) or one-hot / score rows (their argmax is the class);
* a dict of arrays with the same optional ``labels``/``y`` key; an array, an iterable of batches, a
  ``.npy`` or a folder: unlabelled.

Unlabelled data measures top-1 *agreement* with the float model; labelled data top-1 *accuracy*.
Labels are small (one integer per sample) and read whole; their count must equal the samples'.
Every refusal is a QuantizationError naming the file or the key.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import ModelFormatError, QuantizationError
from ..npyio import _most_bytes, _read_array
from ..runtime.limits import Limits, resolve
from .data import CalibrationData, InputSpec, Source

#: Keys that hold labels in an eval ``.npz`` or dict (the first present is used).
LABEL_KEYS = ("labels", "y")


def _label_key(keys: Sequence[str], inputs: Sequence[InputSpec]) -> str | None:
    names = {n for n, _ in inputs}
    return next((k for k in LABEL_KEYS if k in keys and k not in names), None)


def _classes(y: np.ndarray, where: str) -> np.ndarray:
    """Labels as class ids: integers as they are (1-D), rows of scores / one-hot by argmax (2-D)."""
    if y.ndim == 2:
        if y.dtype.kind not in "biuf":
            raise QuantizationError(f"{where}: labels of dtype {y.dtype} are not numbers")
        return np.argmax(y, axis=1)
    if y.ndim != 1 or y.dtype.kind not in "biu":
        raise QuantizationError(f"{where}: labels must be class ids (1-D integers) or one-hot rows (2-D), got "
                                f"{y.dtype} {list(y.shape)}")
    return y.astype(np.int64)


def _npz_labels(path: Path, inputs: Sequence[InputSpec], limits: Limits) -> tuple[str | None, np.ndarray | None]:
    where = f"eval data '{path}'"
    try:
        with zipfile.ZipFile(path) as z:
            members = {i.filename[:-4]: i for i in z.infolist() if i.filename.endswith(".npy")}
            key = _label_key(list(members), inputs)
            if key is None:
                return None, None
            info = members[key]
            with z.open(info) as f:
                y = _read_array(f, f"{where}: array {key!r}", limits, _most_bytes(info, str(path)))
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError) as e:
        raise QuantizationError(f"{where}: not a readable .npz archive ({e})") from None
    except ModelFormatError as e:
        raise QuantizationError(str(e)) from None
    return key, _classes(y, f"{where}: array {key!r}")


class EvalData:
    """Eval batches ``(inputs, labels or None)`` for a model's inputs (see the module).

    Args:
        source: as calibration data; an ``.npz`` path or a dict may add ``labels``/``y``.
        inputs: the model inputs as ``(name, shape)``.
        batch_size: samples per batch.
        limits: memory limits for reading.

    Raises:
        QuantizationError: inputs that do not fit the model (naming the input and both shapes), labels
            that are not class ids, or labels whose count differs from the samples'.
    """

    def __init__(self, source: Source, inputs: Sequence[InputSpec], batch_size: int = 32, *,
                 limits: Limits | None = None) -> None:
        self.where = f"eval data '{source}'" if isinstance(source, (str, os.PathLike)) else "eval data"
        lim = resolve(limits)
        self.labels: np.ndarray | None = None
        ignore: tuple[str, ...] = ()
        if isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() == ".npz" and Path(source).is_file():
            key, self.labels = _npz_labels(Path(source), inputs, lim)
            ignore = (key,) if key else ()
        elif isinstance(source, Mapping):
            key = _label_key([str(k) for k in source], inputs)
            if key is not None:
                self.labels = _classes(np.asarray(source[key]), f"{self.where}: key {key!r}")
                source = {k: v for k, v in source.items() if k != key}
        self.data = self._wrap(lambda: CalibrationData(source, inputs, batch_size, limits=limits, ignore=ignore,
                                                           warn_below=0))
        if self.labels is not None and self.data.count is not None and len(self.labels) != self.data.count:
            raise QuantizationError(f"{self.where}: {len(self.labels)} labels for {self.data.count} samples")

    def _wrap(self, fn):  # type: ignore[no-untyped-def]
        """Run ``fn``, naming eval data (not calibration data) in its QuantizationError."""
        try:
            return fn()
        except QuantizationError as e:
            raise QuantizationError(str(e).replace("calibration data", "eval data")) from None

    @property
    def count(self) -> int | None:
        """Number of samples when known up front."""
        return self.data.count

    @property
    def labelled(self) -> bool:
        """Whether labels came with the inputs."""
        return self.labels is not None

    def __iter__(self) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray | None]]:
        it = iter(self.data)
        start = 0
        while True:
            batch = self._wrap(lambda: next(it, None))
            if batch is None:
                return
            n = next(iter(batch.values())).shape[0]
            y = None if self.labels is None else self.labels[start:start + n]
            start += n
            yield batch, y


__all__ = ["LABEL_KEYS", "EvalData"]
