"""Range observers: what calibration keeps of the values a tensor took, and the range it quantizes.

An observer sees each calibration batch of one tensor (``update``) and finally gives the real range
``(lo, hi)`` to quantize it with (``range``; ``lo ≤ 0 ≤ hi`` is the caller's job, per the TFLite spec).
Observers are made by name from :data:`OBSERVERS` (the ``--calibration-method`` values), each in
bounded memory whatever the number of batches:

* ``minmax`` — the smallest and largest value seen (TFLite converter and LiteRT Quantizer default);
* ``percentile`` — the ``percentile``-th percentile of ``|x|`` (``tails=False``, default 99.99: the
  range is ``(max(min, -c), min(max, c))``) or of each tail (``tails=True``: the ``100 - p`` and ``p``
  percentiles), read from a streaming histogram (:mod:`.histogram`), within one bin of the exact value;
* ``mse`` — the clip minimizing the quantize-dequantize MSE over the histogram (:func:`.clipping.mse_clip`);
* ``entropy`` — TensorRT's KL-divergence threshold (:func:`.clipping.kl_clip`: 2048 bins, 128 levels).

The clipping observers clip by a magnitude ``c`` and keep the tensor's own extent on each side, so a
one-sided tensor (ReLU) keeps ``lo = 0``. Non-finite values are not observed; they are counted
(``nonfinite``) so the caller can report them. Weights use :func:`weight_clip_mse` (per channel).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from ..errors import QuantizationError
from .clipping import KL_BINS, clipped_range, kl_clip, mse_clip, weight_clip_mse
from .histogram import DEFAULT_BINS, Histogram

__all__ = ["OBSERVERS", "EntropyObserver", "HistogramObserver", "MinMaxObserver", "MseObserver", "Observer",
           "PercentileObserver", "make_observer", "weight_clip_mse"]

_NOTHING = "no calibration values were observed for this tensor"


class Observer(Protocol):
    """Collects one tensor's statistics over calibration batches."""

    def update(self, x: np.ndarray) -> None:
        """Take one batch of the tensor's values (any shape; float)."""

    def range(self) -> tuple[float, float]:
        """The real range to quantize with, ``lo ≤ hi``; a QuantizationError if nothing was seen."""


class MinMaxObserver:
    """The smallest and largest finite value seen."""

    def __init__(self) -> None:
        self.lo = np.inf
        self.hi = -np.inf
        self.nonfinite = 0

    def update(self, x: np.ndarray) -> None:
        v = np.asarray(x)
        if not v.size:
            return
        lo, hi = float(np.min(v)), float(np.max(v))
        if not (np.isfinite(lo) and np.isfinite(hi)):  # rare: filter only then
            finite = np.isfinite(v)
            self.nonfinite += int(v.size - np.count_nonzero(finite))
            v = v[finite]
            if not v.size:
                return
            lo, hi = float(np.min(v)), float(np.max(v))
        self.lo = min(self.lo, lo)
        self.hi = max(self.hi, hi)

    def range(self) -> tuple[float, float]:
        if self.lo > self.hi:
            raise QuantizationError(_NOTHING)
        return self.lo, self.hi


class HistogramObserver:
    """Base of the histogram observers: ``update`` fills a :class:`Histogram`; subclasses pick the clip."""

    def __init__(self, bins: int = DEFAULT_BINS) -> None:
        self.hist = Histogram(bins)

    @property
    def nonfinite(self) -> int:
        return self.hist.nonfinite

    def update(self, x: np.ndarray) -> None:
        self.hist.update(x)

    def clip(self) -> float:
        """The clip magnitude ``c`` (subclasses)."""
        raise NotImplementedError

    def range(self) -> tuple[float, float]:
        if not self.hist.total:
            raise QuantizationError(_NOTHING)
        lo, hi = clipped_range(self.clip(), self.hist.lo, self.hist.hi)
        # a tensor that never reaches 0 keeps its own extent on that side (the caller widens to 0)
        lo = self.hist.lo if self.hist.lo > 0 else lo
        hi = self.hist.hi if self.hist.hi < 0 else hi
        return lo, max(lo, hi)


class PercentileObserver(HistogramObserver):
    """The ``percentile``-th percentile of ``|x|`` (or of each tail with ``tails=True``)."""

    def __init__(self, percentile: float = 99.99, tails: bool = False, bins: int = DEFAULT_BINS) -> None:
        if not 0 < percentile <= 100:
            raise QuantizationError(f"percentile observer: the percentile must be in (0, 100], not {percentile}")
        super().__init__(bins)
        self.percentile = percentile
        self.tails = tails

    def clip(self) -> float:
        return self.hist.percentile(self.percentile, magnitude=True)

    def range(self) -> tuple[float, float]:
        if self.tails and self.hist.total:
            lo = self.hist.percentile(100.0 - self.percentile)
            hi = self.hist.percentile(self.percentile)
            return lo, max(lo, hi)
        return super().range()


class MseObserver(HistogramObserver):
    """The clip minimizing the ``bits``-bit quantization MSE (asymmetric grid unless ``symmetric``)."""

    def __init__(self, bits: int = 8, symmetric: bool = False, bins: int = DEFAULT_BINS) -> None:
        super().__init__(bins)
        self.bits = bits
        self.symmetric = symmetric

    def clip(self) -> float:
        return mse_clip(self.hist, self.bits, self.symmetric)


class EntropyObserver(HistogramObserver):
    """TensorRT's entropy (KL) threshold: 2048 ``|x|`` bins, 128 levels (int8)."""

    def __init__(self, bins: int = DEFAULT_BINS, levels: int = 128) -> None:
        if not 2 <= levels < KL_BINS:
            raise QuantizationError(f"entropy observer: levels must be in [2, {KL_BINS}) (128 for int8), not {levels}")
        super().__init__(bins)
        self.levels = levels

    def clip(self) -> float:
        return kl_clip(self.hist, levels=self.levels)


#: ``--calibration-method`` name -> observer factory (keyword options: see each class).
OBSERVERS: dict[str, Callable[..., Observer]] = {
    "minmax": MinMaxObserver,
    "percentile": PercentileObserver,
    "mse": MseObserver,
    "entropy": EntropyObserver,
}


def make_observer(method: str, **options: Any) -> Observer:
    """A fresh observer for ``method`` (a key of :data:`OBSERVERS`), with the class's keyword options."""
    try:
        factory = OBSERVERS[method]
    except KeyError:
        raise QuantizationError(f"unknown calibration method {method!r}; supported: "
                                f"{', '.join(sorted(OBSERVERS))}") from None
    try:
        return factory(**options)
    except TypeError as e:
        raise QuantizationError(f"calibration method {method!r}: {e}") from None
