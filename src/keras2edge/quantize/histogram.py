"""A streaming histogram of one tensor's values: fixed bin count, a range that grows by exact re-binning.

The histogram observers (``percentile``, ``mse``, ``entropy``) keep this and nothing else of the
values they see, so memory is bounded whatever the calibration set's size (as TensorRT's and
PyTorch's HistogramObserver do). Layout:

* ``2·B`` bins of width ``w = R / B`` over ``[-R, R)``, anchored at 0: bin ``k`` (``-B ≤ k < B``)
  holds the values in ``[k·w, (k+1)·w)``;
* ``R`` is always a power of two strictly above the largest ``|x|`` seen. When a batch goes past it,
  ``R`` doubles (as often as needed) and bins merge pairwise: ``floor(x / 2w) = floor(floor(x / w) / 2)``,
  so the re-binning is exact, not an interpolation;
* hence the histogram after any sequence of batches equals the histogram of all the values at once:
  batch order and batch size change nothing (only ``max|x|`` fixes ``R``).

The resolution is ``w = R / B`` with ``max|x| < R ≤ 2·max|x|``: at least ``B / 2`` bins cover the
largest magnitude. Non-finite values are not binned; they are counted in ``nonfinite``.
"""

from __future__ import annotations

import math

import numpy as np

#: Bins per side (the histogram has twice as many).
DEFAULT_BINS = 4096
#: Values binned at a time (bounds the temporaries whatever the tensor's size).
CHUNK = 1 << 20


def _pow2_above(m: float) -> float:
    """The smallest power of two strictly greater than ``m`` (> 0)."""
    mant, exp = math.frexp(m)  # m = mant · 2**exp, 0.5 ≤ mant < 1, so 2**(exp-1) ≤ m < 2**exp
    return math.ldexp(1.0, exp)


class Histogram:
    """Counts of a tensor's finite values in ``2·bins`` bins over ``[-R, R)`` (see the module)."""

    def __init__(self, bins: int = DEFAULT_BINS) -> None:
        if bins < 16 or bins & (bins - 1):
            raise ValueError(f"histogram bins per side must be a power of two ≥ 16, not {bins}")
        self.bins = bins
        self.counts = np.zeros(2 * bins, np.float64)  # float64 counts are exact up to 2**53 values
        self.R = 0.0       # 0 until a non-zero value is seen (zeros then sit in bin 0 whatever R)
        self.lo = math.inf
        self.hi = -math.inf
        self.total = 0
        self.nonfinite = 0

    @property
    def width(self) -> float:
        """Bin width ``R / bins`` (0 while only zeros were seen)."""
        return self.R / self.bins

    def update(self, x: np.ndarray) -> None:
        """Add the values of ``x`` (any shape), a slice of at most ``CHUNK`` values at a time."""
        a = np.asarray(x)
        # float32 (and float16) values are binned in float32, anything else in float64: the scaling by
        # a power of two and the floor are exact in either, so the bins do not depend on the dtype.
        v = a.reshape(-1).astype(np.float32 if a.dtype.kind == "f" and a.dtype.itemsize <= 4 else np.float64,
                                 copy=False)
        for start in range(0, v.size, CHUNK):
            self._add(v[start:start + CHUNK])

    def _add(self, v: np.ndarray) -> None:
        lo, hi = float(v.min()), float(v.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            finite = np.isfinite(v)
            self.nonfinite += int(v.size - np.count_nonzero(finite))
            v = v[finite]
            if not v.size:
                return
            lo, hi = float(v.min()), float(v.max())
        self.lo, self.hi = min(self.lo, lo), max(self.hi, hi)
        m = max(-lo, hi)
        if m >= self.R and m > 0:
            self._grow(_pow2_above(m))
        if self.R:
            # x · (B / R) is exact: B / R is a power of two and |x| < R. floor gives the bin, -B..B-1.
            scale = self.bins / self.R
            if v.dtype == np.float32 and not 2.0 ** -120 < scale < 2.0 ** 120:  # outside float32's exponents
                v = v.astype(np.float64)
            idx = np.floor(v * v.dtype.type(scale)).astype(np.intp)
            idx += self.bins
            self.counts += np.bincount(idx, minlength=2 * self.bins)
        else:  # only zeros so far
            self.counts[self.bins] += v.size
        self.total += int(v.size)

    def _grow(self, R: float) -> None:
        """Re-bin to range ``R`` (a power of two ≥ the current one): merge groups of ``R / self.R`` bins."""
        if self.R and self.counts.any():
            factor = R / self.R  # a power of two
            k = np.arange(-self.bins, self.bins, dtype=np.float64)
            new = (np.floor(k / factor) + self.bins).astype(np.int64)  # exact: factor is a power of two
            self.counts = np.bincount(new, weights=self.counts, minlength=2 * self.bins)
        self.R = R

    # ---- views used by the range searches -------------------------------------------------------

    def edges(self) -> np.ndarray:
        """The ``2·bins + 1`` bin edges, ``-R .. R``."""
        return np.arange(-self.bins, self.bins + 1, dtype=np.float64) * self.width

    def magnitude(self) -> tuple[np.ndarray, float]:
        """``(counts, width)``: the histogram of ``|x|``, ``bins`` bins over ``[0, R)``.

        Folding is exact: bin ``-k-1`` (``[-(k+1)w, -kw)``) holds the ``|x|`` in ``(kw, (k+1)w]``,
        which is bin ``k`` of ``|x|`` up to the bin's boundary point.
        """
        neg = self.counts[: self.bins][::-1]
        pos = self.counts[self.bins:]
        return neg + pos, self.width

    def percentile(self, q: float, *, magnitude: bool = False) -> float:
        """The ``q``-th percentile (0..100) of the values (of ``|x|`` if ``magnitude``), linear within a bin:
        within one bin width of the exact percentile of the values seen."""
        if magnitude:
            counts, w = self.magnitude()
            edges = np.arange(self.bins + 1, dtype=np.float64) * w
            lo, hi = 0.0, max(-self.lo, self.hi)
        else:
            counts, edges, lo, hi = self.counts, self.edges(), self.lo, self.hi
        cum = np.concatenate([[0.0], np.cumsum(counts)])
        target = q / 100.0 * cum[-1]
        i = int(np.searchsorted(cum, target, side="left"))  # cum[i-1] < target ≤ cum[i]
        if i == 0:
            return float(np.clip(edges[0], lo, hi))
        i = min(i, len(counts))
        inside = counts[i - 1]
        frac = (target - cum[i - 1]) / inside if inside else 1.0
        value = edges[i - 1] + frac * (edges[i] - edges[i - 1])
        return float(np.clip(value, lo, hi))
