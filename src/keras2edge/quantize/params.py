"""int8 quantization parameters from ranges and weights, as the TFLite converter chooses them
(shared/docs/int8-arithmetic.md §1):

* activation (observed range) -> asymmetric per-tensor int8: the range widened to include 0,
  scale = (hi - lo) / 255, zero point = qmin - lo / scale rounded and clamped to [-128, 127];
* weight array -> symmetric int8 per output channel (or one scale with ``per_tensor``):
  scale[c] = max|w[c]| / 127, values round(w / scale) in [-127, 127], zero point 0;
* bias -> int32, scale = s_in * s_w[c] (float32 product), zero point 0.

16x8 (int16 activations, int8 weights; the TFLite 16x8 spec): activation -> symmetric int16,
scale = max(|lo|, |hi|) / 32767, zero point 0; bias -> int64 with the same scale rule; a constant
operand of an int16 op -> symmetric int16 from its own max |c|.

Degenerate ranges (an all-zero tensor, a constant-zero weight channel) get scale 1: any scale
represents 0 exactly, and 1 never divides by zero nor overflows a requantization multiplier.
"""

from __future__ import annotations

import numpy as np

from ..ir.dtypes import DType
from ..ir.ops.quant import round_half_away
from ..ir.quant import QUANT_RANGES, QuantParams

QMIN, QMAX = QUANT_RANGES[DType.INT8]
#: int16 activations are symmetric in [-32767, 32767] (zero point 0).
Q16MAX = QUANT_RANGES[DType.INT16][1]
#: int8 weights avoid -128 (symmetric range, TFLite quantization spec).
WMAX = 127
#: The scale of a range or channel that holds only zeros.
DEGENERATE_SCALE = 1.0


def activation_params(lo: float, hi: float, qtype: DType = DType.INT8) -> QuantParams:
    """Asymmetric per-tensor int8 parameters for the real range [lo, hi] (widened to include 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / (QMAX - QMIN)
    if not np.isfinite(scale) or np.float32(scale) <= 0:
        return QuantParams.per_tensor(DEGENERATE_SCALE, 0, qtype)
    zp_real = QMIN - lo / scale
    zp = int(np.clip(round_half_away(np.float64(zp_real)), QMIN, QMAX))
    return QuantParams.per_tensor(scale, zp, qtype)


def activation_params16(lo: float, hi: float) -> QuantParams:
    """Symmetric int16 parameters for the real range [lo, hi]: scale max(|lo|, |hi|) / 32767, zero point 0."""
    m = max(abs(float(lo)), abs(float(hi)))
    scale = m / Q16MAX
    if not np.isfinite(scale) or np.float32(scale) <= 0:
        return QuantParams.per_tensor(DEGENERATE_SCALE, 0, DType.INT16)
    return QuantParams.per_tensor(scale, 0, DType.INT16)


def fixed_params(fixed: tuple[float, int], qtype: DType = DType.INT8) -> QuantParams:
    """The (scale, zero point) an op's kernels require, as parameters."""
    return QuantParams.per_tensor(fixed[0], fixed[1], qtype)


def weight_params(w: np.ndarray, axis: int, per_tensor: bool = False) -> QuantParams:
    """Symmetric int8 weight parameters: one scale per channel of ``axis`` (or one for all)."""
    a = np.abs(np.asarray(w, np.float64))
    if per_tensor:
        m = np.array([a.max() if a.size else 0.0])
    else:
        m = np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1).max(axis=1) if a.size else np.zeros(w.shape[axis])
    scales = (m / WMAX).astype(np.float32)
    scales[~(scales > 0) | ~np.isfinite(scales)] = DEGENERATE_SCALE
    if per_tensor:
        return QuantParams.per_tensor(float(scales[0]), 0, DType.INT8)
    return QuantParams.per_channel(scales, axis, DType.INT8)


def _broadcast(q: QuantParams, rank: int) -> np.ndarray:
    shape = [1] * rank
    if q.axis is not None:
        shape[q.axis] = -1
    return q.scale.astype(np.float32).reshape(shape)


def quantize_weight(w: np.ndarray, q: QuantParams) -> np.ndarray:
    """int8 weights: round(w / scale) (float32 division, ties away from zero) in [-127, 127]."""
    with np.errstate(divide="ignore", invalid="ignore"):
        v = round_half_away(np.asarray(w, np.float32) / _broadcast(q, np.ndim(w)))
    return np.clip(v, -WMAX, WMAX).astype(np.int8)


def bias_params(s_in: float, w: QuantParams, qtype: DType = DType.INT32) -> QuantParams:
    """int32 bias parameters: scale s_in * s_w[c] in float32, zero point 0 (per channel on axis 0
    when the weights are per channel, else one scale); ``qtype`` INT64 for 16x8 ops."""
    scales = (np.float32(s_in) * w.scale.astype(np.float32)).astype(np.float32)
    scales[~(scales > 0)] = np.float32(np.finfo(np.float32).tiny)
    if w.axis is None:
        return QuantParams.per_tensor(float(scales[0]), 0, qtype)
    return QuantParams.per_channel(scales, 0, qtype)


def quantize_bias(b: np.ndarray, q: QuantParams) -> np.ndarray:
    """int32 bias (int64 for 16x8: ``q.qtype``): round(b / scale) saturated to the type."""
    btype = q.qtype or DType.INT32
    lo, hi = QUANT_RANGES[btype]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        v = round_half_away(np.asarray(b, np.float64) / q.scale.astype(np.float64).reshape(-1))
    return np.clip(v, lo, hi).astype(btype.np)


def constant_params(c: np.ndarray) -> QuantParams:
    """Asymmetric per-tensor int8 parameters for a float constant operand (its own min/max)."""
    a = np.asarray(c, np.float64)
    return activation_params(float(a.min()) if a.size else 0.0, float(a.max()) if a.size else 0.0)


def constant_params16(c: np.ndarray) -> QuantParams:
    """Symmetric int16 parameters for a float constant operand of an int16 op (its own max |c|)."""
    a = np.asarray(c, np.float64)
    return activation_params16(float(a.min()) if a.size else 0.0, float(a.max()) if a.size else 0.0)


def quantize_constant(c: np.ndarray, q: QuantParams) -> np.ndarray:
    """A float constant quantized per tensor with ``q`` (the Quantize op's arithmetic)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        v = round_half_away(np.asarray(c, np.float32) / np.float32(q.scale[0])).astype(np.float64) + q.zero_point[0]
    lo, hi = QUANT_RANGES[q.qtype or DType.INT8]
    return np.clip(v, lo, hi).astype((q.qtype or DType.INT8).np)


__all__ = ["activation_params", "activation_params16", "bias_params", "constant_params", "constant_params16",
           "fixed_params", "quantize_bias",
           "quantize_constant", "quantize_weight", "weight_params"]
