"""Exact 256-entry lookup tables for TFLM's int8 unary ops, and the pieces of int8 SOFTMAX.

Each builder evaluates TFLite Micro's own integer algorithm (``fixed_point`` + ``gemmlowp``) on all
256 int8 inputs, so an int8 kernel becomes ``table[q + 128]`` (``lookup``) and is bit-identical to
TFLM by construction. What maps to what (TFLM = github tensorflow/tflite-micro):

* ``logistic_table``   ← ``micro/kernels/logistic_common.cc`` + ``reference/integer_ops/logistic.h``
* ``tanh_table``       ← ``micro/kernels/tanh.cc`` + ``reference/integer_ops/tanh.h``
* ``hard_swish_table`` ← ``micro/kernels/hard_swish_common.cc`` + ``reference/hard_swish.h``
* ``requantize_table`` ← QUANTIZE int8→int8: ``micro/kernels/quantize_common.cc`` + ``reference/requantize.h``
* ``relu_table`` / ``relu6_table`` ← ``micro/kernels/activations_common.cc`` (ReluQuantized, Relu6Quantized)
* ``leaky_relu_table`` ← ``micro/kernels/leaky_relu_common.cc`` + ``reference/leaky_relu.h``
* ``dequantize_table`` ← DEQUANTIZE int8→float32: ``reference/dequantize.h`` (a float32 table)
* ``quantize_float``   ← QUANTIZE float32→int8: ``reference/quantize.h`` AffineQuantize (not a table)
* ``softmax_params`` / ``softmax_exp_table`` / ``softmax_reciprocal`` / ``softmax_int8``
                       ← ``micro/kernels/softmax_common.cc`` + ``reference/softmax.h`` (gemmlowp fixed-point
                         exp and reciprocal; GetReciprocal in ``kernels/internal/common.h``)

Where LiteRT differs these follow TFLM. LiteRT's LOGISTIC/TANH build a float32 LUT of
f(s_in·(q − z_in)) / s_out instead and honour any TANH output qparams, whereas TFLM's kernels assume
the fixed ones (LOGISTIC 1/256, −128; TANH 1/128, 0) without checking the scale, so these builders
take the input qparams only. The two differ (tests/runtime/test_int8_tables.py): by one at
near-ties, and wherever |q − z_in| ≥ TFLM's radius ``floor(15·2^27 / 2^L)``, which TFLM saturates
to −128/127 although the radius is up to 2× too small for coarse input scales (s_in ≥ 8 gives
radius 0: TFLM maps q = z_in to −128). LiteRT's RELU and LEAKY_RELU form their multipliers in
float32 where this TFLM build uses double, and so do its HARD_SWISH multipliers. The tables
reproduce TFLM, quirks included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import gemmlowp
from .errors import RuntimeModelError
from .fixed_point import (
    INT32_MAX,
    REAL_MULTIPLIERS,
    downscale_multiplier_int16,
    mbqm,
    mbqm_greater_than_one,
    quantize_multiplier,
    quantize_multiplier_greater_than_one,
    quantize_scalar,
    rdbpot,
    rdbpot_int16,
    real_multiplier_requantize,
    round_half_away,
    saturating_left_shift_int16,
    sdhm_int16,
    srdhm,
    srdhm_int16,
    wrap_int16,
    wrap_int32,
)

INT8_VALUES = np.arange(-128, 128, dtype=np.int64)  # table index i holds the result for q = i - 128


def lookup(table: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Apply a 256-entry table to int8 data: ``table[q + 128]`` (one ``take``)."""
    return np.take(table, q.astype(np.int16) + 128)


def _int8(v: np.ndarray) -> np.ndarray:
    return np.clip(v, -128, 127).astype(np.int8)


# ---------------------------------------------------------------------------------------------
# LOGISTIC and TANH: input rescaled to Q4.27, gemmlowp function, output Q0.31 shifted to 8 bits

_INPUT_INTEGER_BITS = 4


@dataclass(frozen=True)
class SigmoidParams:
    """What TFLM's LOGISTIC/TANH prepare computes from the input's (scale, zero_point)."""

    zero_point: int
    multiplier: int  # M of s_in · 2^27 (frexp + round half-away, **no** 2^31 → 2^30 fix-up)
    left_shift: int  # the frexp exponent, passed to MBQM as its shift
    radius: int  # |q − z| at or beyond which the output saturates to −128 / 127


def sigmoid_params(input_scale: float, input_zero_point: int) -> SigmoidParams:
    """LOGISTIC/TANH int8 prepare (TFLM ``logistic_common.cc``, ``tanh.cc``), in double:
    ``real = double(s_in) · 2^27``; ``(q, L) = frexp(real)``; ``M = int32(round_half_away(q · 2^31))``
    (TFLM skips QuantizeMultiplier's 2^31 fix-up here; a float32 scale never needs it);
    ``radius = floor(15 · 2^27 / 2^L)`` (CalculateInputRadius)."""
    real = float(np.float32(input_scale)) * float(1 << (31 - _INPUT_INTEGER_BITS))
    if not (math.isfinite(real) and real > 0):
        raise RuntimeModelError(f"LOGISTIC/TANH input scale {input_scale!r} must be finite and > 0")
    q, shift = math.frexp(real)
    multiplier = int(round_half_away(q * float(1 << 31)))
    radius = math.floor(((1 << _INPUT_INTEGER_BITS) - 1) * float(1 << (31 - _INPUT_INTEGER_BITS)) / math.ldexp(1.0, shift))
    return SigmoidParams(int(input_zero_point), multiplier, shift, min(radius, INT32_MAX))


def _sigmoid_table(params: SigmoidParams, fn, out_shift: int, out_offset: int) -> np.ndarray:
    d = INT8_VALUES - params.zero_point
    x = mbqm(d, params.multiplier, params.left_shift)  # Q4.27
    inside = rdbpot(fn(x, _INPUT_INTEGER_BITS), out_shift) + out_offset
    y = np.where(d <= -params.radius, -128, np.where(d >= params.radius, 127, inside))
    return _int8(y)


def logistic_table(input_scale: float, input_zero_point: int) -> np.ndarray:
    """int8 LOGISTIC: ``clamp(rdbpot(logistic(mbqm(q − z_in, M, L)), 23) − 128)`` (output 1/256, −128),
    −128 / 127 beyond the input radius. rdbpot rounds half-away; MBQM is the double-rounding one."""
    return _sigmoid_table(sigmoid_params(input_scale, input_zero_point), gemmlowp.logistic, 31 - 8, -128)


def tanh_table(input_scale: float, input_zero_point: int) -> np.ndarray:
    """int8 TANH: ``clamp(rdbpot(tanh(mbqm(q − z_in, M, L)), 24))`` (output 1/128, 0), −128 / 127
    beyond the input radius. rdbpot rounds half-away; MBQM is the double-rounding one."""
    return _sigmoid_table(sigmoid_params(input_scale, input_zero_point), gemmlowp.tanh, 31 - 7, 0)


# ---------------------------------------------------------------------------------------------
# HARD_SWISH: int16 fixed point

@dataclass(frozen=True)
class HardSwishParams:
    """TFLM HardSwishParams (int16 multipliers, exponents as QuantizeMultiplier's shift)."""

    input_zero_point: int
    output_zero_point: int
    output_multiplier: int  # int16
    output_exponent: int  # ≤ 0
    reluish_multiplier: int  # int16
    reluish_exponent: int


def hard_swish_real_multipliers(input_scale: float, output_scale: float) -> tuple[float, float]:
    """HARD_SWISH's two real multipliers, double in the tflite-micro build we test:
    ``hires = double(s_in) / 128``; output ``hires / double(s_out)``; reluish ``hires / (3 / 32768)``.
    TFLM's older ``hard_swish_common.cc`` (and int8-arithmetic.md §3.12) compute them in float32, as
    LiteRT's reference kernel still does; ``tests/runtime/test_int8_tables.py`` finds scales
    where the two differ and TFLM follows this one."""
    hires = float(np.float32(input_scale)) / 128.0
    return hires / float(np.float32(output_scale)), hires / (3.0 / 32768.0)


def hard_swish_params(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
                      real_multipliers: tuple[float, float] | None = None) -> HardSwishParams:
    """HARD_SWISH int8 prepare: the real multipliers (``hard_swish_real_multipliers`` unless given)
    each through QuantizeMultiplier then DownScaleInt32ToInt16Multiplier (half-up). TFLM rejects an
    output exponent > 0 (s_in / s_out ≥ 128); so does this function."""
    out_real, rel_real = real_multipliers or hard_swish_real_multipliers(input_scale, output_scale)
    out_m, out_e = quantize_multiplier(out_real)
    rel_m, rel_e = quantize_multiplier(rel_real)
    if out_e > 0:
        raise RuntimeModelError(f"HARD_SWISH: input scale {input_scale!r} / output scale {output_scale!r} must be "
                                "below 128 (TFLite Micro rejects a larger ratio)")
    return HardSwishParams(int(input_zero_point), int(output_zero_point), int(downscale_multiplier_int16(out_m)),
                           out_e, int(downscale_multiplier_int16(rel_m)), rel_e)


def hard_swish_table(input_scale: float, input_zero_point: int, output_scale: float,
                     output_zero_point: int) -> np.ndarray:
    """int8 HARD_SWISH (``hard_swish_params`` + ``hard_swish_lut``)."""
    return hard_swish_lut(hard_swish_params(input_scale, input_zero_point, output_scale, output_zero_point))


def hard_swish_lut(p: HardSwishParams) -> np.ndarray:
    """TFLM's int16 HARD_SWISH pipeline on every int8 input: ``v = (q − z_in)·128``; the pre-shift
    output ``srdhm16(v, M_out)`` (half-up); the "reluish" factor ``v`` rescaled to [−1, 1] (saturating
    left shifts around ``srdhm16``, or ``rdbpot`` half-away) and mapped to [0, 1] with
    ``(r + 2^15) >> 1``; their product by ``sdhm16`` (**truncating**, not rounding); ``rdbpot_int16`` by
    −exponent (half-away; ±1 for exponents ≥ 16, TFLM's int16 mask wrap); ``+ z_out`` wrapping in int16 as the C++ does; clamp to int8."""
    v = wrap_int16((INT8_VALUES - p.input_zero_point) * 128)
    preshift = srdhm_int16(v, p.output_multiplier)
    r = v
    if p.reluish_exponent > 0:
        r = saturating_left_shift_int16(r, p.reluish_exponent - 1)
    r = srdhm_int16(r, p.reluish_multiplier)
    if p.reluish_exponent > 0:
        r = saturating_left_shift_int16(r, 1)
    if p.reluish_exponent < 0:
        r = rdbpot_int16(r, -p.reluish_exponent)
    r = (r + (1 << 15)) >> 1
    out = rdbpot_int16(sdhm_int16(r, preshift), -p.output_exponent)
    return _int8(wrap_int16(out + p.output_zero_point))


# ---------------------------------------------------------------------------------------------
# QUANTIZE / DEQUANTIZE


def requantize_table(input_scale: float, input_zero_point: int, output_scale: float,
                     output_zero_point: int, *, single_rounding: bool = False) -> np.ndarray:
    """QUANTIZE int8→int8: ``clamp(mbqm(q − z_in, M, s) + z_out)`` with (M, s) from
    ``double(s_in) / double(s_out)``; MBQM double rounding (half-up then half-away) unless
    ``single_rounding``."""
    m, s = quantize_multiplier(real_multiplier_requantize(input_scale, output_scale), single_rounding=single_rounding)
    return _int8(mbqm(INT8_VALUES - int(input_zero_point), m, s, single_rounding=single_rounding)
                 + int(output_zero_point))


def relu_table(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int) -> np.ndarray:
    """Standalone int8 RELU (TFLM ``micro/kernels/activations_common.cc``): ``clamp(mbqm(q − z_in, M, s)
    + z_out, max(−128, z_out + roundf(0 / s_out)), 127)`` with (M, s) from the double ``s_in / s_out``
    (``REAL_MULTIPLIERS["RELU"]``; LiteRT's reference RELU divides in float32)."""
    m, s = quantize_multiplier(REAL_MULTIPLIERS["RELU"](input_scale, output_scale))
    low = max(-128, quantize_scalar(0.0, output_scale, output_zero_point))
    return np.clip(mbqm(INT8_VALUES - int(input_zero_point), m, s) + int(output_zero_point), low, 127).astype(np.int8)


def leaky_relu_values(q: np.ndarray, input_scale: float, input_zero_point: int, output_scale: float,
                      output_zero_point: int, alpha: float) -> np.ndarray:
    """LEAKY_RELU of int8 or int16 values ``q``, before the final clamp (TFLM
    ``micro/kernels/leaky_relu_common.cc`` + ``reference/leaky_relu.h`` QuantizeLeakyRelu): ``d = q − z_in``;
    ``z_out + mbqm(d, M_id, s_id)`` for d ≥ 0, else ``z_out ± mbqm(d, |M_alpha|, s_alpha)``: a negative alpha
    gives a negative M_alpha, which TFLM negates *outside* MBQM (its rounding is not odd-symmetric, so
    passing the negative M to MBQM is off by one at ties). Multipliers from
    ``REAL_MULTIPLIERS["LEAKY_RELU"]`` (double; LiteRT's reference kernel uses float32). MBQM double rounding."""
    identity, negative = REAL_MULTIPLIERS["LEAKY_RELU"](input_scale, output_scale, alpha)
    (m_id, s_id), (m_alpha, s_alpha) = quantize_multiplier(identity), quantize_multiplier(negative)
    sign = -1 if m_alpha < 0 else 1
    d = np.asarray(q, np.int64) - int(input_zero_point)
    return np.where(d >= 0, mbqm(d, m_id, s_id), sign * mbqm(d, abs(m_alpha), s_alpha)) + int(output_zero_point)


def leaky_relu_table(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
                     alpha: float) -> np.ndarray:
    """int8 LEAKY_RELU over every int8 input (:func:`leaky_relu_values`, clamped)."""
    return _int8(leaky_relu_values(INT8_VALUES, input_scale, input_zero_point, output_scale, output_zero_point,
                                   alpha))


def relu6_table(input_scale: float, input_zero_point: int) -> np.ndarray:
    """Standalone int8 RELU6 (TFLM ``micro/kernels/activations_common.cc`` Relu6Prepare): no
    requantization — the raw q clamped to [z_in, six] with ``six = clamp(roundf(6f / s_in) + z_in)``
    (FloatToQuantizedType: float32 division, half-away, clamped to int8, so prepare never fails)."""
    six = min(127, max(-128, quantize_scalar(6.0, input_scale, input_zero_point)))
    return np.clip(INT8_VALUES, int(input_zero_point), six).astype(np.int8)


def dequantize_table(scale: float, zero_point: int) -> np.ndarray:
    """DEQUANTIZE int8→float32: ``float32(double(s) · (q − z))`` — product in double, one rounding
    to float32 (round-to-nearest-even, the C++ conversion)."""
    return (float(np.float32(scale)) * (INT8_VALUES - int(zero_point)).astype(np.float64)).astype(np.float32)


def quantize_float(x: np.ndarray, scale: float, zero_point: int, qmin: int = -128, qmax: int = 127) -> np.ndarray:
    """QUANTIZE float32→int8: ``clamp(int32(round_half_away(float32(x) / float32(s))) + z)``, the
    division in float32 and roundf half-away. Where x/s is beyond int32 the C++ cast is undefined
    (x86 gives INT32_MIN, so TFLM outputs −128 for a huge positive value); here it saturates."""
    v = round_half_away(np.asarray(x, np.float32) / np.float32(scale)).astype(np.float64)
    v = np.clip(v, -(2.0 ** 31), 2.0 ** 31 - 1)
    return np.clip(v.astype(np.int64) + int(zero_point), qmin, qmax).astype(np.int8)


# ---------------------------------------------------------------------------------------------
# SOFTMAX int8 → int8 (output 1/256, −128): gemmlowp fixed-point exp, not a LUT, in TFLM

_DIFF_INTEGER_BITS = 5  # input differences in Q5.26
_ACCUM_INTEGER_BITS = 12  # sum of exps in Q12.19
SOFTMAX_OUTPUT_SCALE = np.float32(1.0 / 256.0)
SOFTMAX_OUTPUT_ZERO_POINT = -128


@dataclass(frozen=True)
class SoftmaxParams:
    multiplier: int  # M of min(beta · s_in · 2^26, 2^31 − 1), QuantizeMultiplierGreaterThanOne
    left_shift: int  # ≥ 0
    diff_min: int  # input differences below this give exactly −128


def softmax_params(beta: float, input_scale: float, output_scale: float = float(SOFTMAX_OUTPUT_SCALE),
                   output_zero_point: int = SOFTMAX_OUTPUT_ZERO_POINT, *, single_rounding: bool = False) -> SoftmaxParams:
    """SOFTMAX int8 prepare (TFLM ``softmax_common.cc``; PreprocessSoftmaxScaling and
    CalculateInputRadius in ``quantization_util.cc``), in double:
    ``real = min(double(beta) · double(s_in) · 2^26, 2^31 − 1)`` (2^30 − 1 with single rounding);
    ``(M, L) = QuantizeMultiplierGreaterThanOne(real)``; ``diff_min = −floor(31 · 2^26 / 2^L)``.
    TFLM requires the output scale to be exactly float32(1/256) and zero point −128, and real > 1."""
    if np.float32(output_scale) != SOFTMAX_OUTPUT_SCALE or int(output_zero_point) != SOFTMAX_OUTPUT_ZERO_POINT:
        raise RuntimeModelError(f"SOFTMAX int8 output must have scale 1/256 and zero point -128 (TFLite Micro), "
                                f"got scale {output_scale!r}, zero point {output_zero_point}")
    cap = float((1 << 30) - 1) if single_rounding else float((1 << 31) - 1)
    real = min(float(np.float32(beta)) * float(np.float32(input_scale)) * float(1 << (31 - _DIFF_INTEGER_BITS)), cap)
    m, shift = quantize_multiplier_greater_than_one(real, single_rounding=single_rounding)
    radius = math.floor(((1 << _DIFF_INTEGER_BITS) - 1) * float(1 << (31 - _DIFF_INTEGER_BITS)) / math.ldexp(1.0, shift))
    return SoftmaxParams(m, shift, -radius)


def softmax_exp_table(params: SoftmaxParams) -> np.ndarray:
    """exp of every int8 difference d = q − max(row) ∈ [−255, 0], Q0.31 (index −d):
    ``exp_on_negative_values(mbqm_greater_than_one(d, M, L))`` (half-up), 0 where d < diff_min
    (those elements are skipped in the sum and output −128)."""
    d = -np.arange(256, dtype=np.int64)
    e = gemmlowp.exp_on_negative_values(mbqm_greater_than_one(d, params.multiplier, params.left_shift),
                                        _DIFF_INTEGER_BITS)
    return np.where(d >= params.diff_min, e, 0)


def softmax_reciprocal(sum_of_exps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GetReciprocal(sum, 12) (TFLM ``kernels/internal/common.h``) for a Q12.19 sum > 0:
    ``h = clz32(sum)``; ``recip = one_over_one_plus_x(wrap_int32((sum << h) − 2^31))`` (Q0.31);
    returns (recip, num_bits_over_unit = 12 − h)."""
    s = np.asarray(sum_of_exps, np.int64)
    h = 32 - np.frexp(s.astype(np.float64))[1].astype(np.int64)  # clz32 of a positive int32 (exact: s < 2^31)
    shifted = ((s << h) & 0xFFFFFFFF) - (1 << 31)
    return gemmlowp.one_over_one_plus_x_for_x_in_0_1(shifted), _ACCUM_INTEGER_BITS - h


def softmax_int8(q: np.ndarray, params: SoftmaxParams) -> np.ndarray:
    """int8 SOFTMAX over the last axis, TFLM's reference arithmetic: per row, the sum of
    ``rdbpot(exp, 12)`` (Q12.19) over differences ≥ diff_min, its reciprocal, then
    ``clamp(rdbpot(srdhm(recip, exp), num_bits_over_unit + 23) − 128)``; others −128.

    A row whose sum of exps reaches 512.0 (say 512 equal values) makes that final shift exceed 31:
    TFLM and LiteRT's reference kernel abort the process there (gemmlowp's assert); this function
    returns the int64 shift's result (the rounded quotient) instead."""
    q = np.asarray(q, np.int8)
    table = softmax_exp_table(params)
    d = q.astype(np.int64) - q.max(axis=-1, keepdims=True)
    e = table[-d]
    kept = d >= params.diff_min
    total = wrap_int32(np.where(kept, rdbpot(e, _ACCUM_INTEGER_BITS), 0).sum(axis=-1, keepdims=True))
    recip, bits = softmax_reciprocal(total)
    y = rdbpot(srdhm(recip, e), bits + 31 - 8) - 128
    return np.where(kept, np.clip(y, -128, 127), -128).astype(np.int8)
