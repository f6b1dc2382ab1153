"""Clipping searches: a histogram (or a weight array) -> the clip that quantizes it best.

* :func:`mse_clip` — the clip magnitude ``c`` whose range ``(max(lo, -c), min(hi, c))`` minimizes the
  expected quantize-dequantize squared error over a :class:`~.histogram.Histogram` (the ``mse``
  observer). The error is evaluated at ``SUBPOINTS`` evenly spaced points per occupied bin (the
  histogram merged to ``MSE_BINS`` bins), each carrying an equal share of the bin's count, on the grid the range gets (asymmetric: ``2**bits - 1``
  steps from ``lo`` to ``hi``, zero point rounded, as TFLite's activations; symmetric: ``±(2**(bits-1) - 1)``
  steps of ``max(|lo|, |hi|)``). Search: a coarse grid of ``c`` in ``(0, max|x|]``, then a finer one
  around the best coarse candidate.
* :func:`kl_clip` — the entropy calibration of TensorRT (Migacz, "8-bit Inference with TensorRT",
  GTC 2017; the legacy ``IInt8EntropyCalibrator``), as NVIDIA's pytorch-quantization computes it: the
  ``|x|`` histogram in 2048 bins over ``[0, max|x|]``, its first bin (``|x|`` near 0) replaced by the
  second; for each ``i`` in ``[L, 2048]``, ``P`` = the first ``i`` bins with the rest (outliers) added
  to bin ``i - 1``; ``Q`` = those ``i`` bins (without outliers) merged into ``L`` levels (groups of
  ``i // L`` bins, the last group taking the remainder), each level's count spread evenly over the bins
  where ``P`` is non-zero; the threshold is the bin edge ``m · bin width`` for the ``i = m`` that
  minimizes ``KL(P ‖ Q)`` (``m = 2048``: no clip). ``L`` = 128 levels (TensorRT's symmetric int8) for a
  tensor with values of both signs, 256 for a one-sided one (a ReLU output: TFLite's asymmetric int8
  puts all 256 levels on ``[0, c]``, pytorch-quantization's ``unsigned``). Why the first bin goes: a
  ReLU output's exact zeros (often most of the tensor) sit there, are exact on every grid, and as a
  spike inside ``Q``'s first merged level they made every wide ``i`` look bad: the clip fell to a
  fraction of the range (digits CNN: 1.1 of 6 after a ReLU6; 68.6% top-1 against 98.1% with min/max).
  Variant: ``Q``'s zero bins under a non-zero ``P`` are smoothed by mixing ``Q`` with ``ε = 1e-4`` of
  the uniform distribution over ``P``'s support (TensorRT does not publish its handling; MXNet's port
  smooths similarly).
* :func:`weight_clip_mse` — per-channel symmetric clip of a weight array minimizing the int
  quantize-dequantize MSE (grid search over clip ratios of each channel's ``max|w|``), on the TFLite
  weight grid (symmetric, ``±(2**(bits-1) - 1)``, zero point 0).

Rounding is half away from zero (TFLite's ``std::round``), in every search.
"""

from __future__ import annotations

import numpy as np

from .histogram import Histogram

SUBPOINTS = 4
MSE_BINS = 2048
KL_BINS = 2048
KL_LEVELS = 128
KL_EPS = 1e-4


def _round(x: np.ndarray) -> np.ndarray:
    """Round half away from zero (std::round)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def clipped_range(c: float, lo: float, hi: float) -> tuple[float, float]:
    """The range a clip magnitude ``c`` gives a tensor whose values span ``[lo, hi]`` (0 kept inside)."""
    return min(max(lo, -c), 0.0), max(min(hi, c), 0.0)


def qdq(x: np.ndarray, lo: float, hi: float, bits: int = 8, symmetric: bool = False) -> np.ndarray:
    """``x`` quantized to the integer grid of range ``[lo, hi]`` (``lo ≤ 0 ≤ hi``) and back to real."""
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        scale = max(-lo, hi) / qmax
        if scale <= 0:
            return np.zeros_like(x)
        return np.clip(_round(x / scale), -qmax, qmax) * scale
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    scale = (hi - lo) / (qmax - qmin)
    if scale <= 0:
        return np.zeros_like(x)
    zp = float(np.clip(_round(np.float64(qmin - lo / scale)), qmin, qmax))
    return (np.clip(_round(x / scale) + zp, qmin, qmax) - zp) * scale


def _points(hist: Histogram, bins: int = MSE_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation points (``SUBPOINTS`` per occupied bin, inside ``[lo, hi]``) and their weights, the
    histogram first merged (exactly: aligned groups) to at most ``bins`` bins."""
    merge = max(1, len(hist.counts) // bins)
    counts = hist.counts.reshape(-1, merge).sum(axis=1)
    w = hist.width * merge
    occupied = np.flatnonzero(counts)
    left = (occupied - len(counts) // 2).astype(np.float64) * w
    offsets = (np.arange(SUBPOINTS) + 0.5) / SUBPOINTS * w
    pts = np.clip((left[:, None] + offsets[None, :]).ravel(), hist.lo, hist.hi)
    weights = np.repeat(counts[occupied] / SUBPOINTS, SUBPOINTS)
    return pts, weights


def mse_clip(hist: Histogram, bits: int = 8, symmetric: bool = False, candidates: int = 64) -> float:
    """The clip magnitude minimizing the expected quantization MSE over ``hist`` (see the module)."""
    top = max(-hist.lo, hist.hi)
    if not hist.total or top <= 0:
        return 0.0
    pts, weights = _points(hist)

    def error(c: float) -> float:
        lo, hi = clipped_range(c, hist.lo, hist.hi)
        d = qdq(pts, lo, hi, bits, symmetric) - pts
        return float(np.dot(weights, d * d))

    coarse = np.linspace(top / candidates, top, candidates)
    errs = [error(c) for c in coarse]
    best = int(np.argmin(errs))
    step = top / candidates
    fine = np.linspace(max(coarse[best] - step, step / candidates), min(coarse[best] + step, top), candidates)
    fine_errs = [error(c) for c in fine]
    j = int(np.argmin(fine_errs))
    return float(fine[j]) if fine_errs[j] < errs[best] else float(coarse[best])


def magnitude_bins(hist: Histogram, bins: int = KL_BINS) -> tuple[np.ndarray, float]:
    """``(counts, width)``: the ``|x|`` histogram re-binned to ``bins`` bins over ``[0, max|x|]``
    (counts spread uniformly inside each source bin; the total is kept)."""
    counts, w = hist.magnitude()
    top = max(-hist.lo, hist.hi)
    cum = np.concatenate([[0.0], np.cumsum(counts)])
    fine_edges = np.arange(len(counts) + 1, dtype=np.float64) * w
    new_edges = np.linspace(0.0, top, bins + 1)
    c = np.interp(new_edges, fine_edges, cum)
    c[-1] = cum[-1]
    return np.diff(c), top / bins


def kl_divergences(h: np.ndarray, levels: int = KL_LEVELS, *, last: bool = False) -> np.ndarray:
    """``KL(P_i ‖ Q_i)`` for ``i = levels .. len(h) - 1`` (TensorRT's candidates; see the module), and
    ``i = len(h)`` (no clip) too when ``last``."""
    n = len(h)
    stop = n + 1 if last else n
    out = np.full(stop - levels, np.inf)
    suffix = np.concatenate([np.cumsum(h[::-1])[::-1], [0.0]])  # suffix[i] = sum(h[i:])
    for i in range(levels, stop):
        p = h[:i].copy()
        p[i - 1] += suffix[i]
        total = p.sum()
        if total <= 0:
            continue
        support = p > 0
        g = i // levels
        starts = np.arange(levels) * g
        group = np.minimum(np.arange(i) // g, levels - 1)
        qsum = np.add.reduceat(h[:i], starts)  # the last group runs to i: the remainder included
        nz = np.add.reduceat(support.astype(np.float64), starts)
        per = np.divide(qsum, nz, out=np.zeros(levels), where=nz > 0)
        q = np.where(support, per[group], 0.0)
        p = p / total
        qt = q.sum()
        q = q / qt if qt > 0 else q
        q = (1.0 - KL_EPS) * q + KL_EPS * support / support.sum()
        ps = p[support]
        out[i - levels] = float(np.sum(ps * np.log(ps / q[support])))
    return out


def kl_clip(hist: Histogram, bins: int = KL_BINS, levels: int = KL_LEVELS) -> float:
    """TensorRT's entropy threshold for ``hist`` (a clip magnitude; see the module): ``levels`` for a
    tensor of both signs, twice as many for a one-sided one."""
    top = max(-hist.lo, hist.hi)
    if not hist.total or top <= 0:
        return 0.0
    h, width = magnitude_bins(hist, bins)
    h[0] = h[1]  # the spike of exact zeros (ReLU outputs) is no information about the clip
    if hist.lo >= 0 or hist.hi <= 0:
        levels = min(2 * levels, bins)
    kl = kl_divergences(h, levels, last=True)
    if not np.isfinite(kl).any():
        return top
    m = int(np.argmin(kl)) + levels
    return float(min(m * width, top))


def weight_clip_mse(w: np.ndarray, axis: int | None, bits: int = 8, ratios: int = 100) -> np.ndarray:
    """Per-channel clip magnitudes ``c`` (each channel quantized over ``[-c, c]``) minimizing the
    symmetric ``bits``-bit quantize-dequantize MSE of ``w``.

    ``axis`` is the output-channel axis (the op spec's weight axis); ``None`` gives one clip for the
    whole tensor (shape ``(1,)``). Grid search: ``ratios`` clip ratios in ``(0, 1]`` of each
    channel's ``max|w|``, then a finer grid around each channel's best. An all-zero channel clips at 0.
    """
    a = np.asarray(w)
    exact = a.reshape(1, -1) if axis is None else np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1)
    amax = np.abs(exact).max(axis=1).astype(np.float64) if exact.size else np.zeros(exact.shape[0])
    rows = exact.astype(np.float32)  # float32 work arrays: the search's cost is memory traffic
    qmax = 2 ** (bits - 1) - 1
    safe = np.where(amax > 0, amax, 1.0)
    t = np.empty_like(rows)
    half = np.empty_like(rows)

    def errors(r: np.ndarray) -> np.ndarray:  # r: (C,) ratios -> (C,) squared errors
        scale = (r * safe / qmax).astype(np.float32)[:, None]
        np.divide(rows, scale, out=t)
        np.copysign(np.float32(0.5), t, out=half)
        np.add(t, half, out=t)
        np.trunc(t, out=t)  # round half away from zero
        np.clip(t, -qmax, qmax, out=t)
        np.multiply(t, scale, out=t)
        np.subtract(t, rows, out=t)
        return np.einsum("ij,ij->i", t, t, dtype=np.float64)

    grid = np.linspace(1.0 / ratios, 1.0, ratios)
    errs = np.stack([errors(np.full(len(rows), r)) for r in grid])  # (ratios, C)
    best = grid[np.argmin(errs, axis=0)]
    best_err = errs.min(axis=0)
    step, center = 1.0 / ratios, best
    for f in np.linspace(-1.0, 1.0, 21):
        r = np.clip(center + f * step, step / 10, 1.0)
        e = errors(r)
        better = e < best_err
        best = np.where(better, r, best)
        best_err = np.where(better, e, best_err)
    return np.where(amax > 0, np.minimum(best * amax, amax), 0.0)
