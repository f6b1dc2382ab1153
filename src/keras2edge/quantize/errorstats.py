"""Error statistics of a quantized tensor against its float reference, accumulated batch by batch.

One :class:`ErrorStats` per compared tensor (float reference ``f``, dequantized quantized value ``q``,
both float64 while summing); its :meth:`~ErrorStats.result` is an :class:`ErrorMetrics`:

* ``sqnr_db`` — 10·log10(Σf² / Σ(q−f)²) over every element of every sample (``inf``: no error);
* ``cosine`` — Σf·q / √(Σf²·Σq²) over the same elements (1.0 when both are all zero);
* ``max_abs`` — max |q−f|;
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

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-ready numbers (a non-finite SQNR, i.e. no error at all, becomes ``None``)."""
        return {"sqnr_db": self.sqnr_db if math.isfinite(self.sqnr_db) else None, "cosine": self.cosine,
                "max_abs": self.max_abs, "rmse": self.rmse, "rmse_over_scale": self.rmse_over_scale,
                "elements": self.elements}


class ErrorStats:
    """Running sums for :class:`ErrorMetrics` of one tensor (``scale``: its quantization scale, or None)."""

    def __init__(self, scale: float | None = None) -> None:
        self.scale = scale
        self.ff = self.ee = self.fq = self.qq = 0.0
        self.max_abs = 0.0
        self.n = 0

    def update(self, ref: np.ndarray, got: np.ndarray) -> None:
        """Add one batch: ``ref`` the float model's value, ``got`` the quantized model's (dequantized)."""
        f = np.asarray(ref, np.float64).ravel()
        q = np.asarray(got, np.float64).ravel()
        if f.shape != q.shape:
            raise ValueError(f"compared tensors differ in size: {f.size} and {q.size} elements")
        e = q - f
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
        if self.ee == 0.0:
            sqnr = math.inf
        elif self.ff == 0.0:
            sqnr = -math.inf
        else:
            sqnr = 10.0 * math.log10(self.ff / self.ee)
        denom = math.sqrt(self.ff * self.qq)
        cosine = self.fq / denom if denom > 0 else (1.0 if self.ff == self.qq == 0.0 else 0.0)
        rmse = math.sqrt(self.ee / self.n) if self.n else 0.0
        ros = None if self.scale is None else rmse / self.scale
        return ErrorMetrics(sqnr, cosine, self.max_abs, rmse, ros, self.n)


__all__ = ["IDEAL_RMSE_OVER_SCALE", "ErrorMetrics", "ErrorStats"]
