"""gemmlowp's int32 fixed-point exp, logistic, tanh and reciprocal, vectorized over NumPy int64 arrays.

A literal port of GL ``fixedpoint/fixedpoint.h`` (github google/gemmlowp), the functions TFLM's
int8 LOGISTIC, TANH and SOFTMAX reference kernels call. A fixed-point value ``FixedPoint<int32, k>``
is its raw int32 here, with k integer bits (value = raw / 2^(31 − k)); every multiplication is
``srdhm`` (half-up), every "Rescale"/power-of-two multiply is ``saturating_rounding_multiply_by_pot``
(saturating left shift, half-away right shift), additions wrap in int32 as the C++ does. Results
are bit-identical to the C++ for every int32 input.

* ``exp_on_negative_values(a, k)``            ← exp_on_negative_values<int32, k>, result Q0.31
* ``one_over_one_plus_x_for_x_in_0_1(a)``     ← same name (Newton–Raphson, 3 iterations)
* ``one_minus_x_over_one_plus_x_for_x_in_0_1(a)``
* ``logistic(a, k)`` / ``tanh(a, k)``         ← logistic / tanh on FixedPoint<int32, k>, result Q0.31
"""

from __future__ import annotations

import numpy as np

from .fixed_point import (
    INT32_MAX,
    IntArray,
    rdbpot,
    rounding_half_sum,
    saturating_rounding_multiply_by_pot,
    srdhm,
    wrap_int32,
)

# Q0.31 constants of GL (raw int32 values written in the header next to their real values).
_EXP_MINUS_ONE_EIGHTH = 1895147668  # exp(-1/8)
_ONE_THIRD = 715827883  # 1/3
# exp(-2^e) for e = -2 .. 4, the barrel shifter of exp_on_negative_values
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
               (3, 720401), (4, 242))
# Q2.29 constants of the Newton–Raphson reciprocal
_48_OVER_17 = 1515870810
_NEG_32_OVER_17 = -1010580540
_ONE_Q2 = 1 << 29  # FixedPoint<int32, 2>::One()
_ONE_Q0 = INT32_MAX  # FixedPoint<int32, 0>::One()


def _i64(x: IntArray) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: IntArray) -> np.ndarray:
    """exp(a) for a in [−1/4, 0), Q0.31 in and out: 4th-order Taylor polynomial around −1/8."""
    x = wrap_int32(_i64(a) + (1 << 28))  # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rdbpot(x4, 2)
    poly = rdbpot(wrap_int32(srdhm(wrap_int32(x4_over_4 + x3), _ONE_THIRD) + x2), 1)
    return wrap_int32(_EXP_MINUS_ONE_EIGHTH + srdhm(_EXP_MINUS_ONE_EIGHTH, wrap_int32(x + poly)))


def exp_on_negative_values(a: IntArray, integer_bits: int) -> np.ndarray:
    """exp(a) for a ≤ 0 given in Q(integer_bits).(31 − integer_bits); result Q0.31 (exp(0) = INT32_MAX)."""
    a = _i64(a)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = wrap_int32((a & (one_quarter - 1)) - one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = wrap_int32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = (remainder >> (fractional_bits + exponent)) & 1
            result = np.where(bit != 0, srdhm(result, multiplier), result)
    if integer_bits > 5:
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)  # below -32: exp is 0
    return np.where(a == 0, _ONE_Q0, result)


def _newton_reciprocal(half_denominator: np.ndarray) -> np.ndarray:
    """The shared Newton–Raphson loop: x ≈ 1/half_denominator in Q2.29, start 48/17 − 32/17·d."""
    x = wrap_int32(_48_OVER_17 + srdhm(half_denominator, _NEG_32_OVER_17))
    for _ in range(3):
        one_minus = wrap_int32(_ONE_Q2 - srdhm(half_denominator, x))
        x = wrap_int32(x + saturating_rounding_multiply_by_pot(srdhm(x, one_minus), 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a: IntArray) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out."""
    x = _newton_reciprocal(rounding_half_sum(a, _ONE_Q0))
    return saturating_rounding_multiply_by_pot(x, 1)  # Rescale<0>(ExactMulByPot<-1>(x)): Q1 -> Q0


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: IntArray) -> np.ndarray:
    """(1 − a) / (1 + a) for a in [0, 1), Q0.31 in and out."""
    x = _newton_reciprocal(rounding_half_sum(a, _ONE_Q0))
    return saturating_rounding_multiply_by_pot(wrap_int32(x - _ONE_Q2), 2)


def logistic(a: IntArray, integer_bits: int) -> np.ndarray:
    """1 / (1 + exp(−a)), a in Q(integer_bits), result Q0.31; 0 → 2^30 (one half)."""
    a = _i64(a)
    positive = a > 0
    abs_a = np.where(positive, a, wrap_int32(-a))
    if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap_int32(-abs_a), integer_bits))
    if_negative = wrap_int32(_ONE_Q0 - if_positive)
    return np.where(a == 0, 1 << 30, np.where(positive, if_positive, if_negative))


def tanh(a: IntArray, integer_bits: int) -> np.ndarray:
    """tanh(a), a in Q(integer_bits), result Q0.31: (1 − e)/(1 + e) with e = exp(−2|a|)."""
    a = _i64(a)
    negative = a < 0
    n = np.where(negative, a, wrap_int32(-a))  # −|a|
    # ExactMulByPot<1>: the same raw value read with one more integer bit, i.e. 2·n
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(negative, wrap_int32(-t), t))
