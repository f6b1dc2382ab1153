"""TFLite Micro's integer requantization arithmetic, vectorized over NumPy int64 arrays.

What maps to what (TFLM = github tensorflow/tflite-micro, GL = github google/gemmlowp):

* ``srdhm`` / ``srdhm_int16``      ← GL ``fixedpoint/fixedpoint.h`` SaturatingRoundingDoublingHighMul
* ``sdhm_int16``                   ← TFLM ``reference/hard_swish.h`` SaturatingDoublingHighMul
* ``rdbpot``, ``rdbpot_int16``     ← GL RoundingDivideByPOT (int32; int16, whose mask wraps for exponents ≥ 16)
* ``saturating_left_shift_int16``  ← TFLM ``reference/hard_swish.h`` SaturatingLeftShift
* ``mbqm`` (both roundings), ``mbqm_smaller_than_one_exp``, ``mbqm_greater_than_one``,
  ``mbqm_int64``                   ← TFLM ``kernels/internal/common.{h,cc}`` MultiplyByQuantizedMultiplier*
* ``quantize_multiplier`` (+ ``…_smaller_than_one_exp`` / ``…_greater_than_one``),
  ``downscale_multiplier_int16``   ← TFLM ``kernels/internal/quantization_util.cc``, ``common.h``
* ``round_half_away``              ← TFLM ``kernels/internal/cppmath.h`` TfLiteRound (``std::round``)
* ``activation_range``             ← TFLM ``kernels/kernel_util.cc`` CalculateActivationRangeQuantized
* ``REAL_MULTIPLIERS``             ← how each op forms its real multiplier (float32 vs double), from
  the TFLM ``micro/kernels/*_common.cc`` prepare functions, as the tflite-micro build we test
  does it: double for CONV/FC (per-tensor too), MUL, ADD, SUB, DIV, ABS, RSQRT, RELU and LEAKY_RELU (and
  HARD_SWISH, in ``int8_tables``), where int8-arithmetic.md §2.7 says float32 for per-tensor FC,
  SUB, RELU and HARD_SWISH (older sources; the tests tell them apart)

Every integer function takes int32 *values* (any integer dtype, broadcast against each other, shifts
included, so per-channel multipliers and shifts are plain arrays) and returns int64 arrays holding
the int32 (or int16) result the C++ code produces, bit for bit, for every input in the documented
domain — the saturating corners (``INT32_MIN * INT32_MIN``) and the int32 wrap of ``x << left_shift``
included. Intermediate products use int64, which is exact: the largest is ``|x·M| < 2^62``.

Rounding names used below: *half-up* = ties toward +inf, *half-away* = ties away from zero,
*truncate* = toward zero (C integer division), *floor* = toward -inf (arithmetic shift).

The default requantization is TFLM's "double rounding" (the ``TFLITE_SINGLE_ROUNDING`` macro is not
defined in TFLM's build nor in either pip runtime); the single-rounding variant is kept for builds
that define it. Where LiteRT differs (its reference FULLY_CONNECTED rounds ``double(acc) * scale``
half-away; its optimized kernels and XNNPACK round differently again) this module follows TFLM.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import RuntimeModelError
from .schema import enum_name

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
INT16_MIN = -(1 << 15)
INT16_MAX = (1 << 15) - 1

IntArray = Any  # an integer array-like (np.ndarray, int, list); results are np.ndarray[int64]


def _i64(x: IntArray) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def wrap_int32(x: IntArray) -> np.ndarray:
    """Two's-complement wrap of int64 values to int32 (what an overflowing C ``int32_t`` does on
    every TFLM target)."""
    x = _i64(x)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def wrap_int16(x: IntArray) -> np.ndarray:
    """Two's-complement wrap of int64 values to int16 (C's conversion of an ``int`` to ``int16_t``)."""
    x = _i64(x)
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


# ---------------------------------------------------------------------------------------------
# Primitives (gemmlowp)


def srdhm(a: IntArray, b: IntArray) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul on int32: ``round(a·b / 2^31)``, ties **half-up**.

    GL writes it as "add the nudge 2^30 (1 − 2^30 for a negative product), then divide by 2^31
    truncating", which equals ``floor((a·b + 2^30) / 2^31)``: an int64 product and an arithmetic
    shift. The one saturating case ``a = b = INT32_MIN`` returns INT32_MAX. (ARM VQRDMULH.)
    """
    a, b = _i64(a), _i64(b)
    r = (a * b + (1 << 30)) >> 31
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, r)


def srdhm_int16(a: IntArray, b: IntArray) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul on int16: ``round(a·b / 2^15)``, ties **half-up**;
    ``a = b = INT16_MIN`` saturates to INT16_MAX. (GL int16 specialisation.)"""
    a, b = _i64(a), _i64(b)
    r = (a * b + (1 << 14)) >> 15
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, r)


def sdhm_int16(a: IntArray, b: IntArray) -> np.ndarray:
    """SaturatingDoublingHighMul on int16 (ARM SQDMULH): ``a·b / 2^15`` **truncated** toward zero
    (no rounding), ``a = b = INT16_MIN`` saturating to INT16_MAX. Only HARD_SWISH uses it
    (TFLM ``reference/hard_swish.h``)."""
    a, b = _i64(a), _i64(b)
    p = a * b
    r = np.where(p >= 0, p >> 15, -((-p) >> 15))
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, r)


def rdbpot(x: IntArray, exponent: IntArray) -> np.ndarray:
    """RoundingDivideByPOT: ``round(x / 2^exponent)``, ties **half-away** from zero, 0 ≤ exponent ≤ 31.

    GL: ``(x >> e) + (remainder > threshold)`` with remainder = x & (2^e − 1) and threshold =
    (2^e − 1) >> 1, plus one for negative x. Same result for int32 and int16 values.
    """
    x, e = _i64(x), _i64(exponent)
    mask = (np.int64(1) << e) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + ((x & mask) > threshold)


def rdbpot_int16(x: IntArray, exponent: IntArray) -> np.ndarray:
    """GL RoundingDivideByPOT on **int16** values (TFLM ``reference/hard_swish.h`` calls it on
    int16_t): ``rdbpot`` for exponent ≤ 15, but for 16 ≤ exponent ≤ 31 the int16 mask
    ``int16(2^exponent − 1)`` is −1, so the result is 1 for x ≥ 0 and −1 for x < 0 (not 0)."""
    x, e = _i64(x), _i64(exponent)
    return np.where(e >= 16, np.where(x >= 0, 1, -1), rdbpot(x, np.minimum(e, 15)))


def saturating_left_shift_int16(x: IntArray, amount: IntArray) -> np.ndarray:
    """``clamp(x · 2^amount, INT16_MIN, INT16_MAX)`` (TFLM ``reference/hard_swish.h`` SaturatingLeftShift)."""
    return np.clip(_i64(x) << _i64(amount), INT16_MIN, INT16_MAX)


def saturating_rounding_multiply_by_pot(x: IntArray, exponent: int) -> np.ndarray:
    """GL SaturatingRoundingMultiplyByPOT<exponent> on int32: for exponent > 0 a left shift that
    saturates to INT32_MIN/INT32_MAX, for exponent < 0 ``rdbpot`` (half-away), 0 the identity."""
    x = _i64(x)
    if exponent > 0:
        threshold = (1 << (31 - exponent)) - 1
        return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))
    if exponent < 0:
        return rdbpot(x, -exponent)
    return x


def rounding_half_sum(a: IntArray, b: IntArray) -> np.ndarray:
    """GL RoundingHalfSum on int32: ``(a + b + sign(a + b)) / 2`` truncated, i.e. the average
    rounded **half-away** (sign taken as +1 for a zero sum)."""
    s = _i64(a) + _i64(b)
    s = s + np.where(s >= 0, 1, -1)
    return np.where(s >= 0, s >> 1, -((-s) >> 1))


# ---------------------------------------------------------------------------------------------
# MultiplyByQuantizedMultiplier (TFLM kernels/internal/common.{h,cc})


def mbqm(x: IntArray, multiplier: IntArray, shift: IntArray, *, single_rounding: bool = False) -> np.ndarray:
    """MultiplyByQuantizedMultiplier(int32 x, int32 M, int shift): ``x · M · 2^(shift − 31)``.

    Default (TFLM's build, ``TFLITE_SINGLE_ROUNDING`` undefined), **double rounding**:
    ``rdbpot(srdhm(wrap_int32(x · 2^max(shift, 0)), M), max(−shift, 0))`` — half-up at bit 31, then
    half-away at the final shift; the left shift wraps in int32 as the C code does on overflow.

    ``single_rounding=True`` (``TFLITE_SINGLE_ROUNDING=1``): one rounding, **half-up**:
    ``(x·M + 2^(30 − shift)) >> (31 − shift)`` in int64, for −31 ≤ shift ≤ 30 and M ≥ 0. The int64
    result is returned unwrapped (TFLM only DCHECKs that it fits int32).
    """
    x, m, s = _i64(x), _i64(multiplier), _i64(shift)
    if single_rounding:
        total = 31 - s
        return (x * m + (np.int64(1) << (total - 1))) >> total
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    return rdbpot(srdhm(wrap_int32(x << left), m), right)


def mbqm_smaller_than_one_exp(x: IntArray, multiplier: IntArray, left_shift: IntArray) -> np.ndarray:
    """MultiplyByQuantizedMultiplierSmallerThanOneExp (ADD/SUB), left_shift ≤ 0, double rounding:
    ``rdbpot(srdhm(x, M), −left_shift)`` (half-up, then half-away)."""
    return rdbpot(srdhm(x, multiplier), -_i64(left_shift))


def mbqm_greater_than_one(x: IntArray, multiplier: IntArray, left_shift: IntArray) -> np.ndarray:
    """MultiplyByQuantizedMultiplierGreaterThanOne (SOFTMAX), left_shift ≥ 0, double-rounding build:
    ``srdhm(wrap_int32(x · 2^left_shift), M)`` — one rounding, half-up. (A single-rounding build
    routes it through ``mbqm(..., single_rounding=True)``.)"""
    return srdhm(wrap_int32(_i64(x) << _i64(left_shift)), multiplier)


def mbqm_int64(x: IntArray, multiplier: IntArray, shift: IntArray) -> np.ndarray:
    """MultiplyByQuantizedMultiplier(int64 x, int32 M, int shift), the int16-activation overload,
    identical in both builds: M is first reduced to 16 bits, ``M16 = (M + 2^15) >> 16`` (0x7FFF
    when M ≥ 0x7FFF0000), then ``(x·M16 + 2^(14 − shift)) >> (15 − shift)``: one rounding,
    **half-up**. Domain: |x| < 2^47, −31 ≤ shift ≤ 7, M ≥ 0."""
    x, m, s = _i64(x), _i64(multiplier), _i64(shift)
    m16 = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - s
    return (x * m16 + (np.int64(1) << (total - 1))) >> total


# ---------------------------------------------------------------------------------------------
# Real multiplier -> (M, shift) (TFLM kernels/internal/quantization_util.cc)


def round_half_away(v: Any) -> np.ndarray:
    """TfLiteRound (``std::round``/``roundf``): nearest integer, ties **half-away** from zero, in the
    input's own float precision (float32 stays float32). ``np.round``/``np.rint`` round half-even
    and are wrong here; ``floor(v + 0.5)`` misrounds 0.49999997f. ``v − trunc(v)`` is exact."""
    v = np.asarray(v)
    if v.dtype.kind != "f":
        v = v.astype(np.float64)
    r = np.trunc(v)
    return r + np.copysign((np.abs(v - r) >= 0.5).astype(v.dtype), v)


def _scalar_or_array(*arrays: np.ndarray, scalar: bool) -> tuple:
    return tuple(int(a) for a in arrays) if scalar else arrays


def quantize_multiplier(real: Any, *, single_rounding: bool = False) -> tuple[Any, Any]:
    """QuantizeMultiplier(double) -> (int32 M, int shift) with ``real ≈ M · 2^(shift − 31)``.

    ``frexp`` gives q in [0.5, 1) and the exponent; ``M = round_half_away(q · 2^31)`` in double; an
    M that rounds up to 2^31 becomes 2^30 with shift + 1; shift < −31 flushes to (0, 0) (real below
    about 2^-32); 0 gives (0, 0). ``single_rounding=True`` also saturates shift > 30 to
    (2^31 − 1, 30), as TFLM does under ``TFLITE_SINGLE_ROUNDING``. Scalars give Python ints,
    arrays give int64 arrays (per-channel multipliers in one call).
    """
    d = np.asarray(real, dtype=np.float64)
    if not np.all(np.isfinite(d)):
        raise RuntimeModelError(f"quantization multiplier {real!r} is not finite; scales must be finite")
    q, shift = np.frexp(d)
    m = round_half_away(q * float(1 << 31)).astype(np.int64)
    shift = shift.astype(np.int64)
    up = m == (1 << 31)
    m = np.where(up, m // 2, m)
    shift = np.where(up, shift + 1, shift)
    tiny = shift < -31
    m = np.where(tiny, 0, m)
    shift = np.where(tiny, 0, shift)
    if single_rounding:
        big = shift > 30
        m = np.where(big, INT32_MAX, m)
        shift = np.where(big, 30, shift)
    return _scalar_or_array(m, shift, scalar=d.ndim == 0)


def quantize_multiplier_smaller_than_one_exp(real: float) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: ``quantize_multiplier`` for 0 < real < 1 (TFLM aborts in
    prepare otherwise; here a RuntimeModelError), shift ≤ 0."""
    if not 0.0 < real < 1.0:
        raise RuntimeModelError(f"real multiplier {real!r} must be in (0, 1) (TFLite's "
                                "QuantizeMultiplierSmallerThanOneExp); check the tensors' scales")
    return quantize_multiplier(real)


def quantize_multiplier_greater_than_one(real: float, *, single_rounding: bool = False) -> tuple[int, int]:
    """QuantizeMultiplierGreaterThanOne: ``quantize_multiplier`` for real > 1 (TFLM aborts in prepare
    otherwise; here a RuntimeModelError), shift ≥ 0."""
    if not real > 1.0:
        raise RuntimeModelError(f"real multiplier {real!r} must be > 1 (TFLite's "
                                "QuantizeMultiplierGreaterThanOne); check the tensors' scales")
    return quantize_multiplier(real, single_rounding=single_rounding)


def downscale_multiplier_int16(multiplier: IntArray) -> np.ndarray:
    """DownScaleInt32ToInt16Multiplier (TFLM ``kernels/internal/common.h``): ``(M + 2^15) >> 16``
    (half-up), 32767 when M ≥ INT32_MAX − 2^15."""
    m = _i64(multiplier)
    return np.where(m >= INT32_MAX - (1 << 15), INT16_MAX, (m + (1 << 15)) >> 16)


# ---------------------------------------------------------------------------------------------
# Fused activation -> integer clamp range (TFLM kernels/kernel_util.cc)

def quantize_scalar(value: float, scale: float, zero_point: int) -> int:
    """``zero_point + int32(round_half_away(float32(value) / float32(scale)))``: the float32 division
    and roundf of TFLM's activation-range helper (saturating where C++ would be undefined)."""
    q = round_half_away(np.float32(value) / np.float32(scale))
    return int(zero_point) + int(np.clip(q, INT32_MIN, INT32_MAX))


def activation_range(activation: int, scale: float, zero_point: int,
                     qmin: int = -128, qmax: int = 127) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: the integer clamp bounds of a fused activation (an
    ActivationFunctionType code, named through ``schema.ENUMS``) for an
    output quantized with (scale, zero_point) into [qmin, qmax]. RELU → [max(qmin, q(0)), qmax];
    RELU6 → [max(qmin, q(0)), min(qmax, q(6))]; RELU_N1_TO_1 → [max(qmin, q(−1)), min(qmax, q(1))];
    anything else (NONE, and TANH/SIGN_BIT, which TFLM's int8 kernels silently treat as NONE) →
    [qmin, qmax]. q() rounds half-away in float32 (``quantize_scalar``)."""
    def q(v: float) -> int:
        return quantize_scalar(v, scale, zero_point)

    name = enum_name("ActivationFunctionType", activation)
    if name == "RELU":
        return max(qmin, q(0.0)), qmax
    if name == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if name == "RELU_N1_TO_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    return qmin, qmax


# ---------------------------------------------------------------------------------------------
# How each op forms its real multiplier: float32 where TFLM computes in float, double elsewhere.
# Scales arrive as the file's float32 values; each function reproduces the C++ expression exactly.


def _f32(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def _f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def real_multiplier_per_channel(input_scale: float, weight_scales: Any, output_scale: float) -> np.ndarray:
    """CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV and FULLY_CONNECTED, per-channel or per-tensor
    weights alike: ``double(s_in) · double(s_w[c]) / double(s_out)`` — all in double
    (TFLM ``kernels/kernel_util.cc`` PopulateConvolutionQuantizationParams).

    int8-arithmetic.md §2.7 says per-tensor FULLY_CONNECTED multiplies ``s_in · s_w`` in float32
    first (GetQuantizedConvolutionMultipler); the tflite-micro build we test does not:
    ``tests/runtime/test_requant_probe.py`` finds scales where the two rules give different
    outputs and TFLM follows this one."""
    return _f64(input_scale) * _f64(weight_scales).reshape(-1) / _f64(output_scale)


def real_multiplier_mul(input1_scale: float, input2_scale: float, output_scale: float) -> float:
    """MUL: ``double(s1) · double(s2) / double(s_out)``, double (TFLM ``micro/kernels/mul_common.cc``);
    may exceed 1 (a left shift in MBQM). LiteRT's reference MUL computes it in float32 instead."""
    return float(_f64(input1_scale) * _f64(input2_scale) / _f64(output_scale))


def real_multiplier_requantize(input_scale: float, output_scale: float) -> float:
    """QUANTIZE int→int, MEAN/SUM and standalone RELU: ``double(s_in) / double(s_out)``, double
    (TFLM ``micro/kernels/quantize_common.cc``, ``micro/kernels/reduce_common.cc``,
    ``micro/kernels/activations_common.cc`` CalculateReluOpData). For RELU that is the tflite-micro
    build we test; older TFLM revisions and LiteRT's reference RELU divide in float32
    (int8-arithmetic.md §2.7 describes that older form; ``tests/runtime/test_int8_tables.py``
    finds scales that tell them apart)."""
    return float(_f64(input_scale) / _f64(output_scale))


def real_multipliers_leaky_relu(input_scale: float, output_scale: float, alpha: float) -> tuple[float, float]:
    """LEAKY_RELU's two multipliers (identity for q ≥ z_in, alpha below), double in the tflite-micro
    build we test: ``double(s_in) / double(s_out)`` and ``double(s_in) · double(alpha) / double(s_out)``
    (TFLM ``micro/kernels/leaky_relu_common.cc``; older sources and LiteRT's reference kernel
    compute both in float32 — ``tests/runtime/test_int8_tables.py`` tells them apart)."""
    s_in, s_out = float(_f64(input_scale)), float(_f64(output_scale))
    return s_in / s_out, s_in * float(np.float32(alpha)) / s_out


def real_multiplier_div(input1_scale: float, input2_scale: float, output_scale: float) -> float:
    """DIV: ``double(s1) / (double(s2) · double(s_out))``. TFLM's source (``micro/kernels/div.cc``)
    writes the expression in float32; the tflite-micro build we test evaluates it in double
    (tests/runtime/kernels/quantized/test_elementwise.py finds scales that tell them apart)."""
    return float(_f64(input1_scale) / (_f64(input2_scale) * _f64(output_scale)))


def real_multiplier_rsqrt(input_scale: float, output_scale: float) -> float:
    """RSQRT: ``1 / (sqrt(double(s_in)) · double(s_out))``, double. TFLM's source
    (``micro/kernels/elementwise.cc`` SetRsqrtOutputMultiplier) takes a float32 sqrt and product;
    see tests/runtime/kernels/quantized/test_elementwise.py for which one the wheel follows."""
    return float(1.0 / (np.sqrt(_f64(input_scale)) * _f64(output_scale)))


ADD_LEFT_SHIFT = 20  # int8 ADD/SUB (15 for int16)


def real_multipliers_add(input1_scale: float, input2_scale: float, output_scale: float,
                         left_shift: int = ADD_LEFT_SHIFT) -> tuple[float, float, float]:
    """ADD's and SUB's three real multipliers, double (TFLM ``micro/kernels/add_common.cc``,
    ``sub_common.cc``): ``twice_max = 2·max(s1, s2)``; ``s1/twice_max``, ``s2/twice_max``,
    ``twice_max/(2^left_shift·s_out)``. int8-arithmetic.md §3.6 says SUB evaluates these in float32;
    the tflite-micro build we test (and LiteRT's reference SUB) uses double
    (``tests/runtime/test_binary_multipliers.py`` tells the two apart)."""
    s1, s2, so = float(_f64(input1_scale)), float(_f64(input2_scale)), float(_f64(output_scale))
    twice_max = 2.0 * max(s1, s2)
    return s1 / twice_max, s2 / twice_max, twice_max / ((1 << left_shift) * so)


#: op -> the function computing its real multiplier(s) from the tensors' float32 scales. HARD_SWISH
#: (double), LOGISTIC/TANH (double, ``s_in · 2^27``, no 2^31 fix-up) and SOFTMAX (double, capped)
#: form theirs inside their table builders (``runtime/int8_tables.py``).
REAL_MULTIPLIERS: dict[str, Callable[..., Any]] = {
    "CONV_2D": real_multiplier_per_channel,
    "DEPTHWISE_CONV_2D": real_multiplier_per_channel,
    "TRANSPOSE_CONV": real_multiplier_per_channel,
    "FULLY_CONNECTED": real_multiplier_per_channel,
    "MUL": real_multiplier_mul,
    "DIV": real_multiplier_div,
    "RSQRT": real_multiplier_rsqrt,
    "ADD": real_multipliers_add,
    "SUB": real_multipliers_add,
    "QUANTIZE": real_multiplier_requantize,
    "MEAN": real_multiplier_requantize,
    "SUM": real_multiplier_requantize,
    "RELU": real_multiplier_requantize,
    "ABS": real_multiplier_requantize,  # the TFLM source divides in float32, the wheel we test in double
    "LEAKY_RELU": real_multipliers_leaky_relu,
}


def exact_real_multiplier(multiplier: int, shift: int) -> float:
    """The real value ``M · 2^(shift − 31)`` a (M, shift) pair stands for (for messages and tests)."""
    return math.ldexp(multiplier, shift - 31)
