"""keras2edge.runtime.fixed_point against the arbitrary-precision reference (``reference.py``):
exhaustive over small domains, random and edge values over int32, both rounding variants; plus the
hand-computed cases of int8-arithmetic.md §2 that pin each rounding rule."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from keras2edge.runtime import fixed_point as fp
from keras2edge.runtime.schema import ENUMS
from keras2edge.runtime.errors import RuntimeModelError

from . import int8_reference as ref

ACT = ENUMS["ActivationFunctionType"]  # fused activation codes
RNG = np.random.default_rng(20261202)
EDGES = [fp.INT32_MIN, fp.INT32_MIN + 1, -(1 << 30), -3, -2, -1, 0, 1, 2, 3, 1 << 30, (1 << 30) + 1,
         fp.INT32_MAX - 1, fp.INT32_MAX]


def _int32(n: int) -> np.ndarray:
    return RNG.integers(fp.INT32_MIN, fp.INT32_MAX, n, endpoint=True)


def _check(got: np.ndarray, want: list[int], *args: np.ndarray) -> None:
    want_a = np.array(want, np.int64)
    bad = np.nonzero(np.asarray(got) != want_a)[0]
    assert bad.size == 0, f"{bad.size} mismatches, first at {[int(np.broadcast_to(a, got.shape)[bad[0]]) for a in args]}: " \
                          f"got {int(got[bad[0]])}, want {int(want_a[bad[0]])}"


# --- hand-computed cases (int8-arithmetic.md §2), each rounding rule pinned --------------------

def test_pinned_examples() -> None:
    # SRDHM rounds half-up: 3·2^30/2^31 = 1.5 -> 2, -1.5 -> -1 (not -2); 1000·0.6 = 600
    assert [int(fp.srdhm(3, 1 << 30)), int(fp.srdhm(-3, 1 << 30)), int(fp.srdhm(1000, 1288490189))] == [2, -1, 600]
    assert int(fp.srdhm(fp.INT32_MIN, fp.INT32_MIN)) == fp.INT32_MAX  # the one saturating case
    # RDBPOT rounds half-away: 2.5 -> 3, -2.5 -> -3, 1.5 -> 2, -1.5 -> -2, -1.75 -> -2
    assert [int(fp.rdbpot(x, e)) for x, e in [(5, 1), (-5, 1), (6, 2), (-6, 2), (-7, 2)]] == [3, -3, 2, -2, -2]
    # multiplier 0.25 = (2^30, -1): x = 1 -> SRDHM 0.5 -> 1, RDBPOT 0.5 -> 1 (double rounding gives 1, exact 0.25)
    assert [int(v) for v in fp.mbqm([1, 2, -2, -3, 5], 1 << 30, -1)] == [1, 1, -1, -1, 2]
    assert [int(v) for v in fp.mbqm([1, 2, -2, -3, 5], 1 << 30, -1, single_rounding=True)] == [0, 1, 0, -1, 1]
    # 0.3 -> (1288490189, -1): 1000 -> 300, -1000 -> -300
    assert [int(v) for v in fp.mbqm([1000, -1000], 1288490189, -1)] == [300, -300]
    assert fp.quantize_multiplier(0.5) == (1 << 30, 0)
    assert fp.quantize_multiplier(1.0) == (1 << 30, 1)
    assert fp.quantize_multiplier(2.5) == (1342177280, 2)
    assert fp.quantize_multiplier(0.3) == (1288490189, -1)
    assert fp.quantize_multiplier(0.99999999999) == (1 << 30, 1)  # rounds up to 2^31: the fix-up
    assert fp.quantize_multiplier(1e-10) == (0, 0)  # shift < -31 flushes to zero
    assert fp.quantize_multiplier(0.0) == (0, 0)
    assert fp.quantize_multiplier(2.0 ** 40, single_rounding=True) == (fp.INT32_MAX, 30)


# --- SRDHM / RDBPOT ------------------------------------------------------------------------------

def test_srdhm_exhaustive_small_and_random() -> None:
    a = np.repeat(np.arange(-1024, 1025), len(EDGES))
    b = np.tile(np.array(EDGES), 2049)
    a = np.concatenate([a, _int32(20000), np.repeat(EDGES, len(EDGES))])
    b = np.concatenate([b, _int32(20000), np.tile(EDGES, len(EDGES))])
    _check(fp.srdhm(a, b), [ref.srdhm(int(x), int(y)) for x, y in zip(a, b)], a, b)


def test_srdhm_int16() -> None:
    a = np.concatenate([np.arange(-32768, 32768, 37), [-32768, 32767, -1, 0, 1]])
    b = np.array([-32768, -16384, -3, -1, 0, 1, 3, 16384, 32767])
    aa, bb = np.repeat(a, b.size), np.tile(b, a.size)
    _check(fp.srdhm_int16(aa, bb), [ref.srdhm16(int(x), int(y)) for x, y in zip(aa, bb)], aa, bb)


def test_sdhm_int16_truncates() -> None:
    a = np.arange(-32768, 32768, 13)
    b = RNG.integers(-32768, 32768, a.size)
    want = [32767 if x == y == -32768 else ref.trunc_div(int(x) * int(y), 1 << 15) for x, y in zip(a, b)]
    _check(fp.sdhm_int16(a, b), want, a, b)
    assert int(fp.sdhm_int16(-3, 1 << 14)) == -1  # -1.5 truncates to -1


def test_rdbpot_exhaustive_small_and_random() -> None:
    x = np.repeat(np.arange(-1024, 1025), 13)
    e = np.tile(np.arange(13), 2049)
    x = np.concatenate([x, _int32(4000), np.repeat(EDGES, 32)])
    e = np.concatenate([e, RNG.integers(0, 32, 4000), np.tile(np.arange(32), len(EDGES))])
    _check(fp.rdbpot(x, e), [ref.rdbpot(int(v), int(k)) for v, k in zip(x, e)], x, e)


# --- MBQM, both variants, and the int64 overload ------------------------------------------------

def _mbqm_cases(shift_hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = 6000
    x = np.concatenate([_int32(n), RNG.integers(-70000, 70000, n)])
    m = np.concatenate([RNG.integers(1 << 30, fp.INT32_MAX, n, endpoint=True)] * 2)
    s = np.concatenate([RNG.integers(-31, shift_hi + 1, n), RNG.integers(-31, 1, n)])
    # exact ties: multiplier 2^30 (0.5 · 2^(s)) on every small x and right shifts 1..20
    tx, ts = np.meshgrid(np.arange(-64, 65), np.arange(-20, 0))
    x = np.concatenate([x, tx.ravel(), np.repeat(EDGES, 3)])
    m = np.concatenate([m, np.full(tx.size, 1 << 30), np.tile([0, 1 << 30, fp.INT32_MAX], len(EDGES))])
    s = np.concatenate([s, ts.ravel(), np.tile([-31, 0, 0], len(EDGES))])
    return x, m, s


def test_mbqm_double_rounding() -> None:
    x, m, s = _mbqm_cases(30)
    _check(fp.mbqm(x, m, s), [ref.mbqm(int(a), int(b), int(c)) for a, b, c in zip(x, m, s)], x, m, s)


def test_mbqm_single_rounding() -> None:
    x, m, s = _mbqm_cases(30)
    _check(fp.mbqm(x, m, s, single_rounding=True), [ref.mbqm_single(int(a), int(b), int(c)) for a, b, c in zip(x, m, s)],
           x, m, s)


def test_mbqm_variants_are_the_composition() -> None:
    x = np.concatenate([_int32(3000), np.arange(-300, 301)])
    m = RNG.integers(1 << 30, fp.INT32_MAX, x.size, endpoint=True)
    s_small = RNG.integers(-31, 1, x.size)
    _check(fp.mbqm_smaller_than_one_exp(x, m, s_small), [ref.rdbpot(ref.srdhm(int(a), int(b)), -int(c))
                                                         for a, b, c in zip(x, m, s_small)], x, m, s_small)
    s_big = RNG.integers(0, 31, x.size)
    _check(fp.mbqm_greater_than_one(x, m, s_big), [ref.srdhm(ref.wrap32(int(a) << int(c)), int(b))
                                                   for a, b, c in zip(x, m, s_big)], x, m, s_big)


def test_mbqm_int64_overload() -> None:
    n = 5000
    x = np.concatenate([RNG.integers(-(1 << 47), 1 << 47, n), np.arange(-200, 200), [-(1 << 47), (1 << 47) - 1]])
    m = np.concatenate([RNG.integers(0, fp.INT32_MAX, n, endpoint=True), np.full(400, 1 << 30), [0x7FFF0000, fp.INT32_MAX]])
    s = np.concatenate([RNG.integers(-31, 8, n), np.tile(np.arange(-20, 0), 20), [-31, -31]])
    _check(fp.mbqm_int64(x, m, s), [ref.mbqm_int64(int(a), int(b), int(c)) for a, b, c in zip(x, m, s)], x, m, s)


# --- QuantizeMultiplier, rounding helper, activation ranges ------------------------------------

@pytest.mark.parametrize("single_rounding", [False, True])
def test_quantize_multiplier(single_rounding: bool) -> None:
    d = np.concatenate([np.exp2(RNG.uniform(-40, 40, 3000)), [1 - 2.0 ** -33, 2.0 ** -31, 2.0 ** -32, 2.0 ** -33,
                                                             1.0, 0.5, 2.0 ** 31, 2.0 ** 35, 1e-300, 0.0]])
    m, s = fp.quantize_multiplier(d, single_rounding=single_rounding)
    want = [ref.quantize_multiplier(float(v), single_rounding) for v in d]
    assert [(int(a), int(b)) for a, b in zip(m, s)] == want
    per_value = [fp.quantize_multiplier(float(v), single_rounding=single_rounding) for v in d[:50]]
    assert per_value == want[:50]  # scalars give the same as the vectorized call


def test_quantize_multiplier_checks() -> None:
    with pytest.raises(RuntimeModelError, match="not finite"):
        fp.quantize_multiplier(float("inf"))
    with pytest.raises(RuntimeModelError, match=r"\(0, 1\)"):
        fp.quantize_multiplier_smaller_than_one_exp(1.5)
    with pytest.raises(RuntimeModelError, match="> 1"):
        fp.quantize_multiplier_greater_than_one(0.5)
    assert fp.quantize_multiplier_greater_than_one(2.5) == (1342177280, 2)


def test_downscale_multiplier_int16() -> None:
    m = np.concatenate([RNG.integers(0, fp.INT32_MAX, 2000, endpoint=True), [fp.INT32_MAX - (1 << 15) - 1,
                                                                            fp.INT32_MAX - (1 << 15), 0x7FFF8000]])
    want = [32767 if v >= fp.INT32_MAX - (1 << 15) else ref.round_half_up(Fraction(int(v), 1 << 16)) for v in m]
    _check(fp.downscale_multiplier_int16(m), want, m)


def test_round_half_away_float32_and_float64() -> None:
    k = np.arange(-300, 300)
    ties32 = (k + np.float32(0.5)).astype(np.float32)
    near = np.array([0.49999997, -0.49999997, 0.5, -0.5, 1.5, -1.5, 2.5, 8388607.5, -8388607.5], np.float32)
    rand = RNG.uniform(-1e6, 1e6, 3000).astype(np.float32)
    for v in (ties32, near, rand, rand.astype(np.float64) / 7):
        got = fp.round_half_away(v)
        assert got.dtype == v.dtype
        assert [int(g) for g in got] == [ref.round_half_away(Fraction(float(x))) for x in v]


def test_activation_range() -> None:
    # scale 0.05, zp -10: q(0) = -10, q(6) = -10 + 120 = 110, q(-1) = -30, q(1) = 10
    assert fp.activation_range(ACT["NONE"], 0.05, -10) == (-128, 127)
    assert fp.activation_range(ACT["RELU"], 0.05, -10) == (-10, 127)
    assert fp.activation_range(ACT["RELU6"], 0.05, -10) == (-10, 110)
    assert fp.activation_range(ACT["RELU_N1_TO_1"], 0.05, -10) == (-30, 10)
    assert fp.activation_range(4, 0.05, -10) == (-128, 127)  # TANH: silently NONE for int8
    # q(6) = 6/0.04 = 150 -> clamped to 127; RELU with zp -128 -> max(-128, -128)
    assert fp.activation_range(ACT["RELU6"], 0.04, 0) == (0, 127)
    # a tie in float32: 6 / 0.48 = 12.5 in float32 -> 13 (half-away), zp 0
    assert float(np.float32(6) / np.float32(0.48)) == 12.5
    assert fp.activation_range(ACT["RELU6"], 0.48, 0) == (0, 13)


def test_real_multiplier_precision() -> None:
    s_in, s_w, s_out = np.float32(0.0123), np.float32(0.00731), np.float32(0.0517)
    f64_product = float(s_in) * float(s_w) / float(s_out)
    assert float(np.float32(s_in * s_w)) / float(s_out) != f64_product  # float32 and double products differ here
    for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED"):  # double, per-tensor too
        assert fp.REAL_MULTIPLIERS[op](s_in, s_w, s_out).tolist() == [f64_product]
        assert fp.REAL_MULTIPLIERS[op](s_in, [s_w, s_w], s_out).tolist() == [f64_product] * 2
    for op in ("RELU", "QUANTIZE", "MEAN", "SUM"):
        assert fp.REAL_MULTIPLIERS[op](s_in, s_out) == float(s_in) / float(s_out)
    assert fp.REAL_MULTIPLIERS["MUL"](s_in, s_w, s_out) == f64_product
    # ADD and SUB in double (the larger input gives exactly 0.5)
    assert fp.REAL_MULTIPLIERS["ADD"](s_in, s_w, s_out) == fp.REAL_MULTIPLIERS["SUB"](s_in, s_w, s_out) == (
        0.5, float(s_w) / (2 * float(s_in)), 2 * float(s_in) / ((1 << 20) * float(s_out)))
    # §3.6's example, worked in double: 0.02/0.1 -> (1717986918, -2), 0.1/(2^20·0.06) -> (1789569707, -19)
    assert fp.quantize_multiplier(0.02 / 0.1) == (1717986918, -2)
    assert fp.quantize_multiplier(0.1 / ((1 << 20) * 0.06)) == (1789569707, -19)
