"""Arbitrary-precision Python references of the fixed-point primitives, written from the spec
(int8-arithmetic.md §2; gemmlowp ``fixedpoint.h`` and TFLM ``common.cc`` as described there), one
Python int at a time: exact rationals, explicit rounding rules, no NumPy and nothing shared with
``keras2edge.runtime.fixed_point``."""

from __future__ import annotations

import math
from fractions import Fraction

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


def trunc_div(n: int, d: int) -> int:
    """C integer division (toward zero)."""
    q = abs(n) // abs(d)
    return q if (n >= 0) == (d > 0) else -q


def round_half_up(r: Fraction) -> int:
    """Nearest integer, ties toward +inf."""
    return math.floor(r + Fraction(1, 2))


def round_half_away(r: Fraction) -> int:
    """Nearest integer, ties away from zero."""
    a = abs(r)
    n = math.floor(a + Fraction(1, 2))
    return n if r >= 0 else -n


def wrap32(v: int) -> int:
    return (v + 2 ** 31) % 2 ** 32 - 2 ** 31


def srdhm(a: int, b: int) -> int:
    """GL: add the nudge 2^30 (1 − 2^30 for a negative product), divide by 2^31 truncating;
    INT32_MIN·INT32_MIN saturates."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = 2 ** 30 if ab >= 0 else 1 - 2 ** 30
    return trunc_div(ab + nudge, 2 ** 31)


def srdhm16(a: int, b: int) -> int:
    if a == b == -(2 ** 15):
        return 2 ** 15 - 1
    ab = a * b
    nudge = 2 ** 14 if ab >= 0 else 1 - 2 ** 14
    return trunc_div(ab + nudge, 2 ** 15)


def rdbpot(x: int, e: int) -> int:
    """round(x / 2^e), ties away from zero."""
    return round_half_away(Fraction(x, 2 ** e))


def mbqm(x: int, m: int, s: int) -> int:
    """Double rounding: half-up at bit 31 (SRDHM) of the int32-wrapped x·2^left, then half-away."""
    left, right = max(s, 0), max(-s, 0)
    return rdbpot(srdhm(wrap32(x * 2 ** left), m), right)


def mbqm_single(x: int, m: int, s: int) -> int:
    """TFLITE_SINGLE_ROUNDING: round(x·M / 2^(31 − s)), ties toward +inf."""
    return round_half_up(Fraction(x * m, 2 ** (31 - s)))


def mbqm_int64(x: int, m: int, s: int) -> int:
    """int64 overload: M reduced to 16 bits (half-up, 0x7FFF at the top), then round(x·M16 / 2^(15 − s)) half-up."""
    m16 = 0x7FFF if m >= 0x7FFF0000 else round_half_up(Fraction(m, 2 ** 16))
    return round_half_up(Fraction(x * m16, 2 ** (15 - s)))


def quantize_multiplier(d: float, single_rounding: bool = False) -> tuple[int, int]:
    """§2.6, with frexp done on the exact rational value of the double."""
    if d == 0:
        return 0, 0
    r = Fraction(d)
    s = 0
    while abs(r) >= 1:
        r /= 2
        s += 1
    while abs(r) < Fraction(1, 2):
        r *= 2
        s -= 1
    m = round_half_away(r * 2 ** 31)
    if m == 2 ** 31:
        m, s = 2 ** 30, s + 1
    if s < -31:
        m, s = 0, 0
    if single_rounding and s > 30:
        m, s = 2 ** 31 - 1, 30
    return m, s
