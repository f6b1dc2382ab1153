"""What every quantized kernel shares: a tensor's quantization read and checked once, the integer
range of a dtype, a fused activation's integer clamp, and the requantization step.

* :func:`qparams` -- a TensorSpec's ``Quantization`` -> :class:`QParams` (float32 scales, int64 zero
  points, the quantized axis or None for per-tensor), refusing missing, non-finite or non-positive
  scales, zero points outside the dtype, and per-axis lists that do not match the axis length;
* :func:`per_tensor` -- the same for a tensor TFLite Micro reads per tensor only: ``(scale, zp)``;
* :func:`int_range` -- ``[qmin, qmax]`` of int8 / uint8 / int16 / int32;
* :func:`activation_clamp` -- the op's fused activation as integer bounds of its output
  (``fixed_point.activation_range``: TFLM CalculateActivationRangeQuantized);
* :func:`requantize` -- int32 accumulators -> ``clamp(zp + MBQM(acc, M, shift))`` written into an
  int8 / int16 output (TFLM's double-rounding MultiplyByQuantizedMultiplier, per tensor or per
  channel along the last axis). This is the hot path of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED
  and TRANSPOSE_CONV; its plain integer form is ``fixed_point.mbqm``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import fixed_point as fp
from ..base import OpContext, TensorSpec

#: The integer dtypes a quantized tensor may have, and their ranges.
INT_RANGES: dict[str, tuple[int, int]] = {
    "int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "int32": (fp.INT32_MIN, fp.INT32_MAX),
}


@dataclass(frozen=True)
class QParams:
    """One tensor's quantization: real = scale * (q - zero_point)."""

    scale: np.ndarray  # float32, shape (n,)
    zero_point: np.ndarray  # int64, shape (n,)
    axis: int | None  # the quantized dimension when per-axis (n > 1); None per tensor

    @property
    def per_tensor(self) -> bool:
        return self.axis is None

    @property
    def s(self) -> float:
        """The scale of a per-tensor quantization (as the file's float32 value, widened exactly)."""
        return float(self.scale[0])

    @property
    def zp(self) -> int:
        """The zero point of a per-tensor quantization."""
        return int(self.zero_point[0])


def int_range(ctx: OpContext, t: TensorSpec) -> tuple[int, int]:
    """``[qmin, qmax]`` of tensor ``t``'s integer dtype."""
    r = INT_RANGES.get(t.dtype.name)
    if r is None:
        raise ctx.fail(f"tensor '{t.name}' is {t.dtype}; a quantized tensor must be int8, uint8, int16 or int32")
    return r


def qparams(ctx: OpContext, t: TensorSpec) -> QParams:
    """Tensor ``t``'s quantization, checked: present, finite positive scales, zero points inside the
    dtype's range, and per-axis lists as long as the quantized dimension."""
    q = t.quantization
    if q is None or len(q.scale) == 0:
        raise ctx.fail(f"tensor '{t.name}' ({t.dtype}) has no quantization parameters (scale, zero point); "
                       "a quantized op needs them")
    scale = np.asarray(q.scale, np.float32).reshape(-1)
    zp = np.asarray(q.zero_point, np.int64).reshape(-1)
    if zp.size == 0:
        zp = np.zeros(scale.shape, np.int64)
    if not np.all(np.isfinite(scale)) or not np.all(scale > 0):
        raise ctx.fail(f"tensor '{t.name}' has scale {scale[:4].tolist()}; scales must be finite and > 0")
    lo, hi = int_range(ctx, t)
    if zp.size not in (1, scale.size) or np.any(zp < lo) or np.any(zp > hi):
        raise ctx.fail(f"tensor '{t.name}' has zero point {zp[:4].tolist()}; it must be one value or one per "
                       f"scale, within [{lo}, {hi}] for {t.dtype}")
    if scale.size == 1:
        return QParams(scale, zp[:1], None)
    axis = int(q.quantized_dimension)
    if not 0 <= axis < t.rank or t.shape[axis] != scale.size:
        raise ctx.fail(f"tensor '{t.name}' {list(t.shape)} has {scale.size} scales for quantized_dimension "
                       f"{axis}; per-axis quantization needs one scale per element of that dimension")
    return QParams(scale, np.broadcast_to(zp, scale.shape).copy(), axis)


def per_tensor(ctx: OpContext, t: TensorSpec) -> tuple[float, int]:
    """``(scale, zero_point)`` of a tensor the kernel reads per tensor (activations, biases of int8 ops)."""
    p = qparams(ctx, t)
    if not p.per_tensor:
        raise ctx.fail(f"tensor '{t.name}' is quantized per axis ({p.scale.size} scales on dimension {p.axis}); "
                       "this op reads it per tensor, as TFLite Micro does")
    return p.s, p.zp


def activation_clamp(ctx: OpContext, out: TensorSpec, key: str = "fused_activation_function") -> tuple[int, int]:
    """The op's fused activation as ``[lo, hi]`` bounds of its quantized output (TFLM
    CalculateActivationRangeQuantized; TANH and SIGN_BIT act as NONE, as in TFLM's int8 kernels)."""
    scale, zp = per_tensor(ctx, out)
    lo, hi = int_range(ctx, out)
    return fp.activation_range(int(ctx.opt(key, 0)), scale, zp, lo, hi)


def requantize(acc: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int, zero_point: int,
               lo: int, hi: int, out: np.ndarray) -> None:
    """``out = clamp(zero_point + MBQM(acc, M, shift), lo, hi)`` (TFLM's double rounding: half-up at
    bit 31, then half-away at the final shift). ``acc`` holds int32 values (any integer dtype);
    ``multiplier``/``shift`` are scalars or arrays broadcasting against ``acc`` (per-channel: one per
    element of the last axis). ``out`` may be any integer dtype that holds ``[lo, hi]``."""
    v = fp.mbqm(acc, multiplier, shift)
    v += zero_point
    np.clip(v, lo, hi, out=v)
    np.copyto(out, v, casting="unsafe")
