"""Error statistics of a quantized tensor against its float reference, accumulated batch by batch.

One :class:`ErrorStats` per compared tensor (float reference ``f``, dequantized quantized value ``q``,
both float64 while summing); its :meth:`~ErrorStats.result` is an :class:`ErrorMetrics`:

* ``sqnr_db`` — 10·log10(Σf² / Σ(q−f)²) over every element of every sample (``inf``: no error);
* ``cosine`` — Σf·q / √(Σf²·Σq²) over the same elements (1.0 when both are all zero);
* ``max_abs`` — max |q−f|;
* ``worst_channel_sqnr_db``, ``median_channel_sqnr_db`` — the lowest and the median SQNR of one
  channel (the last axis, NHWC) among channels with any signal: channels drowned by a wide shared range
  (one loud channel sets the scale, the others round to a few levels) hide in the tensor's SQNR, not
  here. A few near-silent channels at 0 dB are common and harmless (the worst); half of the channels
  drowned is not (the median);
* ``rmse`` — √(mean (q−f)²), and ``rmse_over_scale`` = rmse / the quantized tensor's scale, the number
  TFLite's QuantizationDebugger reports per layer (pure rounding error of a uniform quantizer gives
  1/√12 ≈ 0.289; clipping or error carried from earlier layers makes it larger). ``None`` for a tensor
  that is not quantized (a layer kept float).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: RMSE / scale of an ideal uniform quantizer's rounding error (1/sqrt(12)).
IDEAL_RMSE_OVER_SCALE = 1.0 / math.sqrt(12.0)


@dataclass(frozen=True)
class ErrorMetrics:
    """The error of one quantized tensor (see the module for each number)."""

    sqnr_db: float
    cosine: float
    max_abs: float
    rmse: float
    rmse_over_scale: float | None
    elements: int
    worst_channel_sqnr_db: float = math.inf
    median_channel_sqnr_db: float = math.inf
    channel_sqnr_db: tuple[float, ...] = ()  # every channel with signal (not in to_dict: can be long)

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-ready numbers (a non-finite SQNR, i.e. no error at all, becomes ``None``)."""
        return {"sqnr_db": _finite(self.sqnr_db), "cosine": self.cosine,
                "max_abs": self.max_abs, "rmse": self.rmse, "rmse_over_scale": self.rmse_over_scale,
                "elements": self.elements,
                "worst_channel_sqnr_db": _finite(self.worst_channel_sqnr_db),
                "median_channel_sqnr_db": _finite(self.median_channel_sqnr_db)}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _sqnr(signal: float, noise: float) -> float:
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


class ErrorStats:
    """Running sums for :class:`ErrorMetrics` of one tensor (``scale``: its quantization scale, or None)."""

    def __init__(self, scale: float | None = None) -> None:
        self.scale = scale
        self.ff = self.ee = self.fq = self.qq = 0.0
        self.max_abs = 0.0
        self.n = 0
        self.ch_ff: np.ndarray | None = None  # per channel (last axis) sums of f² and e²
        self.ch_ee: np.ndarray | None = None

    def update(self, ref: np.ndarray, got: np.ndarray) -> None:
        """Add one batch: ``ref`` the float model's value, ``got`` the quantized model's (dequantized)."""
        ref = np.asarray(ref)
        f = np.asarray(ref, np.float64).ravel()
        q = np.asarray(got, np.float64).ravel()
        if f.shape != q.shape:
            raise ValueError(f"compared tensors differ in size: {f.size} and {q.size} elements")
        e = q - f
        channels = ref.shape[-1] if ref.ndim > 1 and ref.shape[-1] else 1
        cf = np.einsum("ij,ij->j", f.reshape(-1, channels), f.reshape(-1, channels))
        ce = np.einsum("ij,ij->j", e.reshape(-1, channels), e.reshape(-1, channels))
        if self.ch_ff is None or self.ch_ff.shape != cf.shape:
            self.ch_ff, self.ch_ee = cf, ce
        else:
            self.ch_ff += cf
            self.ch_ee += ce  # type: ignore[operator]
        dot = np.einsum  # single-threaded sums (no BLAS thread start-up for these short reductions)
        self.ff += float(dot("i,i->", f, f))
        self.ee += float(dot("i,i->", e, e))
        self.fq += float(dot("i,i->", f, q))
        self.qq += float(dot("i,i->", q, q))
        if e.size:
            self.max_abs = max(self.max_abs, float(e.max()), -float(e.min()))
        self.n += f.size

    def result(self) -> ErrorMetrics:
        """The metrics of everything added so far."""
        sqnr = _sqnr(self.ff, self.ee)
        channels: list[float] = []
        if self.ch_ff is not None and self.ch_ee is not None:
            channels = [_sqnr(sig, noise) for sig, noise in zip(self.ch_ff.tolist(), self.ch_ee.tolist()) if sig > 0.0]
        worst = min(channels, default=math.inf)
        median = float(np.median(channels)) if channels else math.inf
        denom = math.sqrt(self.ff * self.qq)
        cosine = self.fq / denom if denom > 0 else (1.0 if self.ff == self.qq == 0.0 else 0.0)
        rmse = math.sqrt(self.ee / self.n) if self.n else 0.0
        ros = None if self.scale is None else rmse / self.scale
        return ErrorMetrics(sqnr, cosine, self.max_abs, rmse, ros, self.n, worst, median, tuple(channels))


__all__ = ["IDEAL_RMSE_OVER_SCALE", "ErrorMetrics", "ErrorStats"]
