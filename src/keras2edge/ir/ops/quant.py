"""Quantization ops, the boundaries between float and integer values (TFLite Micro semantics,
shared/docs/int8-arithmetic.md §3.1):

- ``Quantize``: float -> int8/uint8/int16, q = clamp(round_half_away(float32(x) / float32(s)) + z)
  (the division in float32, ties away from zero as C++ ``std::round``, saturating where TFLite's
  int32 cast is undefined; NaN gives the type's lowest value, as TFLite Micro does on x86);
- ``Dequantize``: int8/uint8/int16/int32 -> float32, x = float32(float64(s) * (q - z)); also
  float16 -> float32 (exact), with no ``quant``: how float16 weights are stored (TFLite's float16
  mode writes a DEQUANTIZE of the float16 constant; ONNX a Cast).

The parameters are the ``quant`` attribute, a ``QuantParams`` whose ``qtype`` names the integer
type; per-channel parameters apply along their ``axis``. The specs' ``output_quant`` / ``input_quant``
traits say which value carries them: Graph.add_node copies a Quantize's parameters onto its output
value (``Value.quant``), and Graph.verify checks that a Quantize's output and a Dequantize's input
carry exactly the attribute's parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ShapeError
from ..dtypes import DType
from ..quant import QUANT_RANGES, QuantParams
from ..value import Value
from .core import REQUIRED, Attr, ChannelFlow, DTypes, Family, QuantRule, Shape, define, need, need_arrays

INTS = frozenset(QUANT_RANGES)


def _typed(q: Any) -> str | None:
    return None if q.qtype is not None else "needs its qtype (the integer type it quantizes to)"


QUANT_ATTR = Attr("quant", (QuantParams,), REQUIRED, _typed)
# Dequantize's: None for a float16 input (a plain widening to float32, nothing to scale).
DEQUANT_ATTR = Attr("quant", (QuantParams, type(None)), None, lambda q: None if q is None else _typed(q))


def round_half_away(v: np.ndarray) -> np.ndarray:
    """Round to nearest, ties away from zero (C++ ``std::round``), exactly: the fractional part
    ``v - trunc(v)`` is exact in binary floating point (``floor(v + 0.5)`` misrounds 0.49999997f)."""
    r = np.trunc(v)
    return r + np.sign(v) * (np.abs(v - r) >= 0.5)


def _along_axis(q: QuantParams, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero point shaped to broadcast against a value of ``rank`` (per channel on q.axis)."""
    shape = [1] * rank
    if q.axis is not None:
        shape[q.axis] = -1
    return q.scale.reshape(shape), q.zero_point.reshape(shape)


def _check_axis(op: str, q: QuantParams, x: Value) -> None:
    """Per-channel parameters fit ``x``: the axis exists and has one scale per channel."""
    if q.axis is None:
        return
    if q.axis >= x.rank:
        raise ShapeError(op, f"quantization axis {q.axis} out of range for rank {x.rank}", [x.shape])
    if x.shape[q.axis] is not None and x.shape[q.axis] != q.channels:
        raise ShapeError(op, f"{q.channels} per-channel scales for {x.shape[q.axis]} channels on axis {q.axis}",
                         [x.shape])


def _quantize_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    (x,) = need("Quantize", ins, 0)
    q: QuantParams = attrs["quant"]
    _check_axis("Quantize", q, x)
    return [(q.qtype or DType.INT8, x.shape)]


def _quantize_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    (x,) = need_arrays("Quantize", ins, 0)
    q: QuantParams = attrs["quant"]
    qtype = q.qtype or DType.INT8
    scale, zp = _along_axis(q, x.ndim)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        v = round_half_away(x.astype(np.float32) / scale).astype(np.float64) + zp
    lo, hi = QUANT_RANGES[qtype]
    v = np.where(np.isnan(v), lo, v)
    return [np.clip(v, lo, hi).astype(qtype.np)]


def _dequantize_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    (x,) = need("Dequantize", ins, 0)
    q: QuantParams | None = attrs["quant"]
    if (x.dtype == DType.FLOAT16) != (q is None):
        raise ShapeError("Dequantize", f"a {x.dtype.value} input needs "
                         + ("no quantization parameters (float16 widens exactly)" if q is not None
                            else "its quantization parameters (the quant attribute)"), [x.shape])
    if q is not None:
        _check_axis("Dequantize", q, x)
    return [(DType.FLOAT32, x.shape)]


def _dequantize_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    (x,) = need_arrays("Dequantize", ins, 0)
    if attrs["quant"] is None:  # float16 -> float32: exact
        return [x.astype(np.float32)]
    scale, zp = _along_axis(attrs["quant"], x.ndim)
    return [(scale.astype(np.float64) * (x.astype(np.int64) - zp)).astype(np.float32)]


def _attr_quant(attrs: dict[str, Any]) -> QuantParams | None:
    return attrs["quant"]


define("Quantize", Family.QUANT, ["x"], (QUANT_ATTR,), _quantize_infer, _quantize_eval,
       "float -> integer by the quant attribute (TFLM AffineQuantize: float32 division, ties away, saturate)",
       dtypes=[DTypes.FLOAT], channels=ChannelFlow.ELEMENTWISE, quant=QuantRule.BOUNDARY, output_quant=_attr_quant)
define("Dequantize", Family.QUANT, ["x"], (DEQUANT_ATTR,), _dequantize_infer, _dequantize_eval,
       "integer -> float32 by the quant attribute: float32(float64(scale) * (q - zero_point)); float16 -> "
       "float32 (no quant)",
       dtypes=[INTS | {DType.FLOAT16}], channels=ChannelFlow.ELEMENTWISE, quant=QuantRule.BOUNDARY, input_quant=_attr_quant)
