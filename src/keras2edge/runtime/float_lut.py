"""LiteRT's float-built lookup tables for int8 / int16 unary ops TFLite Micro lacks (EXP, LOG, GELU),
reproduced in float32 exactly as LiteRT's reference kernels build them; and TFLite Micro's int8 ELU
table (``micro/kernels/elu.cc`` PopulateLookupTable: the same float32 steps as LUTPopulateInt8, with
``x < 0 ? expf(x) − 1 : x``).

What maps to what (LiteRT = github google-ai-edge/LiteRT, ``tflite/kernels/internal/common.h``):

* :func:`lut_int8` ← ``detail::LUTPopulateInt8``: for every q, ``x = s_in·(q − z_in)`` (float32),
  ``y = round_half_away(f(x)·(1/s_out))`` (float32, ``1/s_out`` rounded once), ``q' = int32(y + z_out)``
  (float32 sum, then the C cast), clamped to the dtype; an ``expf`` overflowing to +inf ends at the
  dtype's maximum (the undefined C cast saturates in the wheel's compiled code).
* :func:`lut_int16_513` ← ``detail::LUTPopulateInt16<float>``: 512 samples of f over
  ``[input_min, input_max]`` (float32 ``input_min + i·step``), each biased by half the error of the
  linear interpolation at the segment's midpoint, plus f(input_max): 513 int16 entries.
* :func:`lut_int16_table` ← ``LUTLookup(int16, lut)``: the interpolated lookup of every int16 input
  (``index = 256 + (v >> 7)``, an int16 ``slope`` (wrapping), ``delta = (slope·(v & 127) + 64) >> 7``,
  the int16 sum wrapping), as a 65,536-entry table
  indexed by the raw uint16 bits, so eval is one ``np.take``.

Float32 semantics: every ``+ − · /`` is a NumPy float32 operation (IEEE, round to nearest, one
rounding each: x86-64 SSE, no FMA contraction, as in the LiteRT 2.3.0 wheel); ``roundf`` is
half-away-from-zero; ``sqrtf`` is IEEE (exact rounding). The transcendental functions ``expf``,
``logf``, ``erfcf`` and ``tanhf`` are *the C library's*: LiteRT's tables call the system libm, whose
results are not always correctly rounded (glibc 2.36: erfcf differs from the correctly rounded value
on ~19% of float32 inputs, tanhf ~9%, logf ~0.4%, expf ~0.07%), and a one-ulp change of f(x)
moves an int16 table entry now and then (6 of 250 random int16 GELU tables had one element off).
So, where ``ctypes`` finds the C math library, the transforms call those same functions (one call
per table sample: 256 or 1,539 per table, built once); elsewhere they fall back to the float64
value rounded once to float32 (correctly rounded), and tables may then differ from LiteRT-on-glibc
by one at rare elements (LiteRT itself is then as platform-dependent).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

F32 = np.float32
#: A float32 transform: float32 array in, float32 array out.
Transform = Callable[[np.ndarray], np.ndarray]



def roundf(v: np.ndarray) -> np.ndarray:
    """C ``roundf``: half away from zero, float32 in and out (exact: no new rounding)."""
    v = np.asarray(v, F32)
    a = np.abs(v)
    r = np.floor(a)
    with np.errstate(invalid="ignore"):  # inf − inf: an infinite r stays r
        r = np.where(a - r >= F32(0.5), r + F32(1), r).astype(F32)  # a − floor(a) is exact in float32
    return np.copysign(r, v).astype(F32)


def saturate_int32(v: np.ndarray) -> np.ndarray:
    """C ``static_cast<int32_t>(float)`` as the LiteRT 2.3.0 wheel's LUTPopulateInt8 behaves: truncation
    toward zero, and saturation where the value is outside int32 (+inf from an overflowing ``expf``
    ends at the dtype's maximum; the conversion is undefined C++ there, and the wheel's compiled
    code clamps, as measured in the tests). The transforms never give NaN here. int64 result."""
    v = np.clip(np.asarray(v, np.float64), -2.0 ** 31, 2.0 ** 31 - 1)
    return np.trunc(v).astype(np.int64)


def lut_int8(transform: Transform, input_scale: float, input_zero_point: int, output_scale: float,
             output_zero_point: int, dtype: str = "int8") -> np.ndarray:
    """LUTPopulateInt8 for int8 (or uint8): a 256-entry table indexed by the raw byte (int8 −1 is
    entry 255), the order of an ``np.take`` on ``x.view(uint8)``."""
    info = np.iinfo(dtype)
    q = np.arange(info.min, info.max + 1, dtype=np.int64)
    inverse = F32(1) / F32(output_scale)
    x = F32(input_scale) * (q - input_zero_point).astype(F32)
    with np.errstate(invalid="ignore", over="ignore"):
        y = roundf(np.asarray(transform(x), F32) * inverse)
        quantized = saturate_int32(y + F32(output_zero_point))
    table = np.clip(quantized, info.min, info.max).astype(dtype)
    return np.roll(table, 128) if info.min < 0 else table


def _clamp_int16(v: np.ndarray) -> np.ndarray:
    """``static_cast<int16_t>(std::min(std::max(v, −32768.f), 32767.f))``: C++'s max/min keep a NaN
    (``inf − inf`` in the bias of a segment where f overflows), whose x86 conversion gives 0."""
    v = np.asarray(v, F32)
    c = np.where(v < F32(-32768), F32(-32768), v)  # std::max(v, lo) = (v < lo) ? lo : v
    c = np.where(F32(32767) < c, F32(32767), c)  # std::min(c, hi) = (hi < c) ? hi : c
    return np.where(np.isnan(c), F32(0), c).astype(np.int16)


def lut_int16_513(transform: Transform, input_scale: float, input_zero_point: int, output_scale: float,
                  output_zero_point: int) -> np.ndarray:
    """LUTPopulateInt16<float>: the 513-entry interpolation table (see module docstring). The output
    zero point enters only through ``output_max − output_min`` (it cancels), as in LiteRT."""
    si, so = F32(input_scale), F32(output_scale)
    input_min = si * F32(-32768 - input_zero_point)
    input_max = si * F32(32767 - input_zero_point)
    output_min = so * F32(-32768 - output_zero_point)
    output_max = so * F32(32767 - output_zero_point)
    step = (input_max - input_min) / F32(512)
    half_step = step / F32(2)
    inv = F32(65536) / (output_max - output_min)
    i = np.arange(512, dtype=F32)
    x = input_min + i * step
    with np.errstate(invalid="ignore", over="ignore"):
        val = np.asarray(transform(x), F32)
        mid = np.asarray(transform(x + half_step), F32)
        nxt = np.asarray(transform(input_min + (i + F32(1)) * step), F32)
        sample = roundf(val * inv)
        interp = roundf((nxt * inv + roundf(val * inv)) / F32(2))
        midpoint = roundf(mid * inv)
        bias = roundf((interp - midpoint) / F32(2))
        last = roundf(np.asarray(transform(np.array([input_max], F32)), F32) * inv)
        return np.concatenate([_clamp_int16(sample - bias), _clamp_int16(last)])


def lut_int16_table(lut: np.ndarray) -> np.ndarray:
    """LUTLookup of every int16 value through a 513-entry ``lut``: 65,536 int16 entries indexed by the
    raw uint16 bits (entry 65535 is v = −1)."""
    v = np.arange(1 << 16, dtype=np.uint16).view(np.int16).astype(np.int64)
    idx = 256 + (v >> 7)
    base = lut.astype(np.int64)[idx]
    slope = (lut.astype(np.int64)[idx + 1] - base).astype(np.int16).astype(np.int64)  # int16_t slope: wraps
    delta = (slope * (v & 0x7F) + 64) >> 7
    return (base + delta).astype(np.int16)  # the C cast to int16 wraps


# ---------------------------------------------------------------------------------------------
# The transforms (float32 in, float32 out), as LiteRT's kernels write them


def _f32_of_f64(fn: Callable[[np.ndarray], np.ndarray]) -> Transform:
    """The correctly rounded float32 function: float64 value rounded once (the fallback)."""
    def t(x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return np.asarray(fn(np.asarray(x, np.float64)), np.float64).astype(F32)
    return t


@lru_cache(maxsize=1)
def _libm() -> ctypes.CDLL | None:
    """The C math library (the one LiteRT's kernels call), or None where ctypes cannot load it."""
    name = ctypes.util.find_library("m")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def _c_f32(name: str, fallback: Callable[[np.ndarray], np.ndarray]) -> Transform:
    """``name`` (a ``float f(float)`` of the C math library) elementwise, else ``fallback`` correctly
    rounded (see the module docstring)."""
    rounded = _f32_of_f64(fallback)

    def t(x: np.ndarray) -> np.ndarray:
        lib = _libm()
        fn = getattr(lib, name, None) if lib is not None else None
        if fn is None:
            return rounded(x)
        fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
        a = np.asarray(x, F32)
        flat = a.ravel().tolist()
        return np.fromiter((fn(v) for v in flat), F32, len(flat)).reshape(a.shape)
    return t


#: ``std::exp(float)`` (``tflite/kernels/exp.cc``).
exp_f32 = _c_f32("expf", np.exp)
_log_f32 = _c_f32("logf", np.log)
_tanh_f32 = _c_f32("tanhf", np.tanh)
_erfc_f32 = _c_f32("erfcf", np.vectorize(math.erfc, otypes=[np.float64]))


def log_transform(output_min: float) -> Transform:
    """``tflite/kernels/elementwise.cc`` LogLUTPrepare: ``x ≤ 0 → output_min``, else ``logf(x)``."""
    def t(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, F32)
        return np.where(x <= F32(0), F32(output_min), _log_f32(np.where(x > 0, x, F32(1)))).astype(F32)
    return t


SQRT1_2_NEG = F32(-0.70710678118654752440)  # static_cast<float>(-M_SQRT1_2)
SQRT_2_OVER_PI = F32(1.12837916709551257390 * 0.70710678118654752440)  # kSqrt2dPi, a float constexpr


def gelu_f32(x: np.ndarray) -> np.ndarray:
    """``reference/gelu.h`` GeluTransform: ``(0.5f·x)·erfcf(x·(float)(−M_SQRT1_2))``."""
    x = np.asarray(x, F32)
    return ((F32(0.5) * x) * _erfc_f32(x * SQRT1_2_NEG)).astype(F32)


def gelu_approximate_f32(x: np.ndarray) -> np.ndarray:
    """``reference/gelu.h`` GeluTransformApproximate:
    ``(0.5f·x)·(1 + tanhf(kSqrt2dPi·(x + ((0.044715f·x)·x)·x)))``."""
    x = np.asarray(x, F32)
    inner = x + ((F32(0.044715) * x) * x) * x
    return ((F32(0.5) * x) * (F32(1) + _tanh_f32(SQRT_2_OVER_PI * inner))).astype(F32)


# ---------------------------------------------------------------------------------------------
# The tables of each op, built once per distinct quantization


def elu_f32(x: np.ndarray) -> np.ndarray:
    """TFLM ``micro/kernels/elu.cc``: ``value < 0.0f ? std::exp(value) - 1.0f : value`` (float32)."""
    x = np.asarray(x, F32)
    return np.where(x < F32(0), exp_f32(np.minimum(x, F32(0))) - F32(1), x).astype(F32)


def _transform(kind: str, dtype: str, output_scale: float, output_zero_point: int) -> Transform:
    if kind == "ELU":
        return elu_f32
    if kind == "EXP":
        return exp_f32
    if kind == "LOG":  # output_min = float((qmin − z_out)) · s_out
        qmin = -128 if dtype == "int8" else -32768
        return log_transform(float(F32(qmin - output_zero_point) * F32(output_scale)))
    if kind == "GELU":
        return gelu_f32
    if kind == "GELU_APPROXIMATE":
        return gelu_approximate_f32
    raise KeyError(kind)


_CACHE: dict[tuple, np.ndarray] = {}


def op_table(kind: str, dtype: str, input_scale: float, input_zero_point: int, output_scale: float,
             output_zero_point: int) -> np.ndarray:
    """The read-only lookup table of op ``kind`` (EXP, LOG, GELU, GELU_APPROXIMATE; ELU int8 only) for an
    int8 (256 entries) or int16 (65,536 entries, from the 513-entry LUT) input, indexed by the raw
    unsigned bits of the input; memoized per (op, dtype, float32 scales, zero points)."""
    key = (kind, dtype, float(F32(input_scale)), int(input_zero_point), float(F32(output_scale)),
           int(output_zero_point))
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    fn = _transform(kind, dtype, output_scale, output_zero_point)
    if dtype == "int8":
        table = lut_int8(fn, input_scale, input_zero_point, output_scale, output_zero_point)
    else:
        table = lut_int16_table(lut_int16_513(fn, input_scale, input_zero_point, output_scale, output_zero_point))
    table.flags.writeable = False
    if len(_CACHE) > 256:
        _CACHE.clear()
    _CACHE[key] = table
    return table


#: Within this fraction of a float32 ulp of a rounding midpoint, the float64 exp does not decide
#: which float32 the C library's expf returns (glibc's expf is within 0.502 ulp: 0.002 before rounding;
#: measured: its 881 not correctly rounded results of 1.5M random inputs lie within 0.0016 ulp of one).
_NEAR_TIE = 0.0025


def expf_array(x: np.ndarray) -> np.ndarray:
    """C ``expf`` on a whole float32 array, fast: NumPy's float64 ``exp`` rounded once to float32, and
    only the elements within ``_NEAR_TIE`` ulp of a float32 rounding midpoint (about 0.5 %: the 29
    float64 mantissa bits that rounding drops say how near), or below float32's normal range,
    recomputed one by one by :data:`exp_f32` (the C library's ``expf``, or the correctly rounded value
    where ctypes finds none)."""
    a = np.asarray(x, F32)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        e64 = np.exp(a.astype(np.float64))
    low = e64.reshape(-1).view(np.int32)[int(not np.little_endian)::2]  # the low 32 mantissa bits
    dropped = (low & np.int32((1 << 29) - 1)) - np.int32(1 << 28)
    near = (np.abs(dropped) < np.int32(_NEAR_TIE * (1 << 29))).reshape(a.shape)
    near |= e64 < 2.0 ** -126  # float32 subnormals drop more bits
    with np.errstate(over="ignore"):
        r = e64.astype(F32)  # beyond float32: inf, as expf
    idx = np.flatnonzero(near & np.isfinite(e64))
    if idx.size:
        r.reshape(-1)[idx] = exp_f32(a.reshape(-1)[idx])
    return r
