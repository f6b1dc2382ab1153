"""FULLY_CONNECTED with K = 1 as a pure requantization probe of MultiplyByQuantizedMultiplier.

Input [256, 1] holds every int8 value, weights [C, 1], so output [b, c] is
``clamp(MBQM(w_c·(q_b − z_in) + bias_c, M_c, s_c) + z_out)``: one invoke checks C multipliers on
256 accumulators each. Per-channel models use random multipliers and exact power-of-two ones
(ties everywhere); per-tensor models check the multiplier's precision: double throughout, not the
float32 product s_in·s_w that int8-arithmetic.md §2.7 describes.

TFLM must equal ``fixed_point`` exactly. LiteRT BUILTIN_REF's int8 FULLY_CONNECTED is the documented
exception (int8-arithmetic.md §3.2): it rounds ``double(acc) · (double(s_in)·double(s_w)/double(s_out))``
half-away in one step, so it must equal that model exactly, and differs from TFLM by one — at
exact ties, and also wherever MBQM's first rounding (SRDHM) leaves an exact tie for its second
(RDBPOT): in the random models below about 0.5 % of the elements, not only at ties of the real value.
"""

from __future__ import annotations

import numpy as np

from keras2edge.runtime import fixed_point as fp
from keras2edge.runtime.schema import ENUMS

from .int8_bench import ALL_INT8, T, distinguishing_scales, one_op_model, run_litert_ref, run_tflm

ACT = ENUMS["ActivationFunctionType"]  # fused activation codes
RNG = np.random.default_rng(7)
C = 64
INPUT = ALL_INT8.reshape(256, 1)


def _model(s_in: float, z_in: int, w: np.ndarray, s_w: np.ndarray, bias: np.ndarray | None, s_out: float,
           z_out: int, activation: int = ACT["NONE"]) -> bytes:
    s_w = np.asarray(s_w, np.float32)
    axis_scales = s_w if s_w.size > 1 else s_w[0]
    inputs = [T((256, 1), scale=s_in, zero_point=z_in),
              T((C, 1), np.int8, scale=axis_scales, zero_point=0, data=w.reshape(C, 1)),
              None if bias is None else T((C,), np.int32, scale=np.float32(s_in) * s_w if s_w.size > 1
                                          else float(np.float32(s_in) * s_w[0]), zero_point=0, data=bias)]
    return one_op_model("FULLY_CONNECTED", inputs, [T((256, C), scale=s_out, zero_point=z_out)],
                        options={"fused_activation_function": activation}, version=4)


def _expected(s_in: float, z_in: int, w: np.ndarray, s_w: np.ndarray, bias: np.ndarray | None, s_out: float,
              z_out: int, activation: int = ACT["NONE"]) -> tuple[np.ndarray, np.ndarray]:
    """(TFLM: MBQM on the op's multipliers, LiteRT BUILTIN_REF: one half-away rounding in double)."""
    acc = w.astype(np.int64)[None, :] * (INPUT.astype(np.int64) - z_in)
    if bias is not None:
        acc = acc + bias.astype(np.int64)[None, :]
    real = np.broadcast_to(fp.REAL_MULTIPLIERS["FULLY_CONNECTED"](s_in, s_w, s_out), (C,))
    m, s = fp.quantize_multiplier(np.asarray(real))
    lo, hi = fp.activation_range(activation, s_out, z_out)
    micro = np.clip(fp.mbqm(acc, m[None, :], s[None, :]) + z_out, lo, hi).astype(np.int8)
    eff = float(np.float32(s_in)) * np.asarray(s_w, np.float32).astype(np.float64) / float(np.float32(s_out))
    litert = np.clip(fp.round_half_away(acc.astype(np.float64) * eff[None, :]) + z_out, lo, hi).astype(np.int8)
    return micro, litert


def _probe(case: tuple) -> int:
    """Run one model in both runtimes; returns the number of TFLM/LiteRT differences (all ±1)."""
    model = _model(*case)
    micro_want, litert_want = _expected(*case)
    micro = run_tflm(model, [INPUT])[0]
    assert np.array_equal(micro, micro_want), f"TFLM differs in {np.count_nonzero(micro != micro_want)} elements"
    litert = run_litert_ref(model, [INPUT])[0]
    assert np.array_equal(litert, litert_want), f"LiteRT differs in {np.count_nonzero(litert != litert_want)} elements"
    diff = micro.astype(np.int16) - litert
    assert np.all(np.abs(diff) <= 1)
    return int(np.count_nonzero(diff))


def _random_case(per_channel: bool, s_out: float | None = None, z_out: int | None = None) -> tuple:
    s_in = float(np.float32(np.exp(RNG.uniform(np.log(1e-3), np.log(0.5)))))
    if s_out is None:
        s_out = float(np.float32(np.exp(RNG.uniform(np.log(1e-3), np.log(0.5)))))
    z_in = int(RNG.integers(-128, 128))
    if z_out is None:
        z_out = int(RNG.integers(-128, 128))
    w = RNG.integers(-127, 128, C)
    w[w == 0] = 1
    bias = RNG.integers(-(1 << 12), 1 << 12, C).astype(np.int32)
    span = np.abs(w) * 255 + np.abs(bias)  # the accumulator's range; aim the outputs at about ±127
    if per_channel:
        real = 127 / span * np.exp(RNG.uniform(np.log(0.3), np.log(3.0), C))
        s_w = (real * s_out / s_in).astype(np.float32)
    else:
        s_w = np.float32([127 / np.median(span) * s_out / s_in])
    return s_in, z_in, w, s_w, bias, s_out, z_out


def test_random_multipliers_per_channel() -> None:
    for _ in range(10):
        _probe(_random_case(per_channel=True))


def test_random_multipliers_per_tensor() -> None:
    for _ in range(10):
        _probe(_random_case(per_channel=False))


def test_exact_ties_show_the_documented_litert_difference() -> None:
    # power-of-two scales: real multipliers k/2^n exactly, so w·(q − z) lands on .5 often
    ratios = np.array([0.25, 0.5, 0.75, 0.375, 0.125, 1.5, 0.625, 2.0 ** -5, 3 * 2.0 ** -6, 0.875, 1.25, 0.0625,
                       5 * 2.0 ** -7, 7 * 2.0 ** -8, 2.0 ** -7, 0.3125] * 4)
    s_in, s_out = 2.0 ** -3, 2.0 ** -2
    differences = 0
    for z_in, z_out, weights, bias in ((0, 0, np.ones(C, np.int64), None),
                                       (-5, 3, np.ones(C, np.int64), np.zeros(C, np.int32)),
                                       (17, -20, RNG.choice([-3, -1, 1, 3, 5], C), RNG.integers(-64, 64, C).astype(np.int32))):
        differences += _probe((s_in, z_in, weights, (ratios * s_out / s_in).astype(np.float32), bias, s_out, z_out))
    differences += _probe((s_in, 0, np.ones(C, np.int64), np.float32([0.25 * s_out / s_in]), None, s_out, 0))
    assert differences > 0  # MBQM's double rounding vs LiteRT's single half-away rounding at ties


def test_per_tensor_product_is_double() -> None:
    # int8-arithmetic.md §2.7 says per-tensor FC forms float32(s_in · s_w) before dividing in double.
    # Search weight/output scales where that rule and the all-double one give different outputs:
    # TFLM follows the double one (so does LiteRT's reference FC, its documented one-rounding model).
    s_in = float(np.float32(0.37))
    f32 = lambda s_w, s_out: (np.float32(s_in) * s_w).astype(np.float64) / s_out.astype(np.float64)  # noqa: E731
    f64 = lambda s_w, s_out: s_in * s_w.astype(np.float64) / s_out.astype(np.float64)  # noqa: E731
    for s_w, s_out in distinguishing_scales(f64, f32, np.arange(256), 6, seed=11):
        case = (s_in, -128, np.ones(C, np.int64), np.float32([s_w]), None, s_out, -128)
        _probe(case)
        micro = _expected(*case)[0]
        m32, e32 = fp.quantize_multiplier(f32(np.float32([s_w]), np.float32([s_out])))
        float32_rule = np.clip(fp.mbqm(INPUT.astype(np.int64) + 128, m32[0], e32[0]) - 128, -128, 127)
        assert not np.array_equal(micro, np.broadcast_to(float32_rule, micro.shape))  # the case separates the rules


def test_fused_activation_ranges() -> None:
    # CalculateActivationRangeQuantized: RELU, RELU6 and RELU_N1_TO_1 clamp bounds from the output
    # qparams (float32 division, half-away); output scales chosen so 6, 1 and 0 fall inside the range.
    ranges = {ACT["RELU"]: (0.01, 0.06, -60, 10), ACT["RELU6"]: (0.06, 0.1, -100, 0),
              ACT["RELU_N1_TO_1"]: (0.01, 0.02, -20, 10)}  # output scale and zero point ranges
    for activation, (s_lo, s_hi, z_lo, z_hi) in ranges.items():
        for _ in range(4):
            s_out = float(np.float32(np.exp(RNG.uniform(np.log(s_lo), np.log(s_hi)))))
            case = _random_case(True, s_out, int(RNG.integers(z_lo, z_hi))) + (activation,)
            lo, hi = fp.activation_range(activation, s_out, case[6])
            assert -128 < lo and (hi < 127 or activation == ACT["RELU"])
            micro = _expected(*case)[0]
            assert np.any(micro == lo) and np.any(micro == hi)  # both bounds are hit
            _probe(case)
    # 6 / 0.48 = 12.5 exactly in float32: RELU6's upper bound rounds half-away to zp + 13
    _probe((2.0 ** -3, 0, np.ones(C, np.int64), np.full(C, 0.48 * 2 ** 3 * 0.75, np.float32), None, 0.48, 0,
            ACT["RELU6"]))
