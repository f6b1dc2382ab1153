"""The quantization contract of an IR value: ``QuantParams`` (affine, per-tensor or per-channel).

real = scale[c] * (q - zero_point[c]), where c indexes ``axis`` of the value for per-channel
parameters and is 0 for per-tensor ones. The TFLite quantization spec (shared/docs/int8-arithmetic.md
§1) fixes what a valid set is, and ``QuantParams`` holds every rule that does not depend on the op:

- ``scale``: float32, 1-D, finite and > 0; ``zero_point``: int64, 1-D, the same length;
- per-tensor (``axis`` None): exactly one scale and zero point;
- per-channel (``axis`` an int >= 0): one per channel of ``axis`` (checked against the value's
  shape by ``verify``), and all zero points 0 (per-channel is only for symmetric weights);
- the zero points lie in the quantized dtype's range (int8 [-128, 127], uint8 [0, 255]); int16,
  int32 and int64 values are symmetric (zero point 0: 16x8 activations, int8 biases, 16x8 biases).

A float value may carry parameters too: the quantization planned for it (what calibration chose,
before the value is lowered to integers). ``qtype`` then names the integer type it will have;
on an integer value ``qtype`` is that value's own dtype (or left None).

Which scale an op's output must have (Logistic 1/256, -128, same in and out for pooling, ...) is
the op's quantization rule, not part of this contract.

Instances are immutable (their arrays are read-only copies), compare by value and hash, so they
can be dict keys and be compared with ``==``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import QuantizationError
from .dtypes import DType

if TYPE_CHECKING:
    from .value import Value

#: Quantized element types and the range of their stored values.
QUANT_RANGES: dict[DType, tuple[int, int]] = {
    DType.INT8: (-128, 127), DType.UINT8: (0, 255), DType.INT16: (-32768, 32767),
    DType.INT32: (-(2**31), 2**31 - 1), DType.INT64: (-(2**63), 2**63 - 1)}
#: Types whose zero point must be 0 (16x8 activations, int32 biases, int64 biases of 16x8 ops).
SYMMETRIC_TYPES = frozenset({DType.INT16, DType.INT32, DType.INT64})


def _vector(values: Any, what: str) -> np.ndarray:
    """``values`` as a 1-D NumPy array of numbers (a scalar becomes one element)."""
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as e:
        raise QuantizationError(f"quantization {what} {values!r} is not a list of numbers ({e})") from None
    if arr.ndim > 1 or arr.dtype.kind not in "iuf":
        raise QuantizationError(f"quantization {what} must be a number or a 1-D list of numbers, got "
                                f"{arr.dtype} of shape {arr.shape}")
    return arr.reshape(-1)


def _read_only(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr)  # a copy: the caller's array may change later
    arr.flags.writeable = False
    return arr


def _scales(values: Any) -> np.ndarray:
    return _read_only(_vector(values, "scale").astype(np.float32))


def _zero_points(values: Any) -> np.ndarray:
    arr = _vector(values, "zero point")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        raise QuantizationError(f"quantization zero points must be integers, got {arr.tolist()[:8]}")
    if arr.size and (arr.min() < -(2**31) or arr.max() > 2**31 - 1):
        raise QuantizationError(f"quantization zero points {arr.tolist()[:8]} outside the int32 range")
    return _read_only(arr.astype(np.int64))


class QuantParams:
    """Affine quantization of one value: ``scale``/``zero_point`` per tensor or per ``axis`` channel.

    Built from scalars, lists or arrays; raises QuantizationError on any rule of the module docstring
    that does not need the value's shape or dtype (those are checked by ``verify``).
    """

    __slots__ = ("scale", "zero_point", "axis", "qtype")
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None
    qtype: DType | None

    def __init__(self, scale: Any, zero_point: Any, axis: int | None = None, qtype: DType | None = None) -> None:
        s, z = _scales(scale), _zero_points(zero_point)
        if s.size == 0 or s.size != z.size:
            raise QuantizationError(f"quantization needs one zero point per scale and at least one: got "
                                    f"{s.size} scales and {z.size} zero points")
        if not (np.all(np.isfinite(s)) and np.all(s > 0)):
            raise QuantizationError(f"quantization scales must be finite and positive, got {s.tolist()[:8]}")
        if axis is not None and (isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or axis < 0):
            raise QuantizationError(f"quantization axis must be a non-negative int or None, got {axis!r}")
        if axis is None and s.size != 1:
            raise QuantizationError(f"per-tensor quantization (no axis) has one scale, got {s.size}")
        object.__setattr__(self, "scale", s)
        object.__setattr__(self, "zero_point", z)
        if qtype is not None and qtype not in QUANT_RANGES:
            raise QuantizationError(f"quantization type {qtype!r} is not one of {[t.value for t in QUANT_RANGES]}")
        object.__setattr__(self, "axis", None if axis is None else int(axis))
        object.__setattr__(self, "qtype", qtype)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("QuantParams is immutable")

    @classmethod
    def per_tensor(cls, scale: float, zero_point: int, qtype: DType | None = None) -> QuantParams:
        return cls([scale], [zero_point], None, qtype)

    @classmethod
    def per_channel(cls, scales: Sequence[float] | np.ndarray, axis: int, qtype: DType | None = None) -> QuantParams:
        """Symmetric per-channel parameters (zero points 0), as for int8 weights."""
        return cls(scales, np.zeros(len(scales), dtype=np.int64), axis, qtype)

    @property
    def per_axis(self) -> bool:
        return self.axis is not None

    @property
    def channels(self) -> int:
        return int(self.scale.size)

    def _key(self) -> tuple[int | None, DType | None, bytes, bytes]:
        return (self.axis, self.qtype, self.scale.tobytes(), self.zero_point.tobytes())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, QuantParams) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        if self.axis is None:
            return f"QuantParams(scale={float(self.scale[0])!r}, zero_point={int(self.zero_point[0])})"
        return f"QuantParams(axis={self.axis}, channels={self.channels})"

    def verify(self, shape: Sequence[int | None], dtype: DType, where: str) -> None:
        """Check the parameters against the value they describe (``where`` names it); raise
        QuantizationError naming the value and the broken rule."""
        if dtype.is_float:
            if self.qtype is None:
                raise QuantizationError(f"{where}: a {dtype.value} value with quantization parameters must say "
                                        f"which integer type they plan (qtype: {[t.value for t in QUANT_RANGES]})")
            qtype = self.qtype
        elif dtype in QUANT_RANGES and self.qtype in (None, dtype):
            qtype = dtype
        else:
            planned = f" planned as {self.qtype.value}" if self.qtype is not None else ""
            raise QuantizationError(f"{where}: a {dtype.value} value cannot carry quantization parameters{planned} "
                                    f"(quantized types: {', '.join(t.value for t in QUANT_RANGES)})")
        if self.axis is not None:
            if self.axis >= len(shape):
                raise QuantizationError(f"{where}: quantization axis {self.axis} out of range for rank {len(shape)}")
            dim = shape[self.axis]
            if dim is not None and dim != self.channels:
                raise QuantizationError(f"{where}: {self.channels} per-channel scales for {dim} channels on axis "
                                        f"{self.axis}")
            if np.any(self.zero_point != 0):
                raise QuantizationError(f"{where}: per-channel quantization must be symmetric (zero points 0)")
        lo, hi = QUANT_RANGES[qtype]
        if np.any(self.zero_point < lo) or np.any(self.zero_point > hi):
            raise QuantizationError(f"{where}: zero point {self.zero_point.tolist()[:8]} outside the {qtype.value} "
                                    f"range [{lo}, {hi}]")
        if qtype in SYMMETRIC_TYPES and np.any(self.zero_point != 0):
            raise QuantizationError(f"{where}: {qtype.value} values are symmetric (zero point 0), got "
                                    f"{self.zero_point.tolist()[:8]}")


def outside_qdq(values: Iterable[Value], outputs: Iterable[Value]) -> list[str]:
    """Names of quantized values that the float emitters cannot write: a value carrying quantization
    must be made by a Quantize (or be a graph input or a constant: quantized weights) and be read only
    by Dequantize nodes (or be a graph output), so every integer tensor sits between a Quantize and a
    Dequantize."""
    out_ids = {id(v) for v in outputs}
    bad = []
    for v in values:
        if v.quant is None:
            continue
        made_ok = v.producer is None or v.producer.op == "Quantize"
        read_ok = all(node.op == "Dequantize" for node, _ in v.uses) or (not v.uses and id(v) in out_ids)
        if not (made_ok and read_ok):
            bad.append(v.name)
    return bad
