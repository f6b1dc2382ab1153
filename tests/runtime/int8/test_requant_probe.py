"""FULLY_CONNECTED with K = 1 as a pure requantization probe of MultiplyByQuantizedMultiplier.

Input [256, 1] holds every int8 value, weights [C, 1], so output [b, c] is
``clamp(MBQM(w_c·(q_b − z_in) + bias_c, M_c, s_c) + z_out)``: one invoke checks C multipliers on
256 accumulators each. Per-channel models use random multipliers and exact power-of-two ones
(ties everywhere); per-tensor models exercise the float32 product s_in·s_w of §2.7.

TFLM must equal ``fixed_point`` exactly. LiteRT BUILTIN_REF's int8 FULLY_CONNECTED is the documented
exception (int8-arithmetic.md §3.2): it rounds ``double(acc) · (double(s_in)·double(s_w)/double(s_out))``
half-away in one step, so it must equal that model exactly, and differs from TFLM by one — at
exact ties, and also wherever MBQM's first rounding (SRDHM) leaves an exact tie for its second
(RDBPOT): in the random models below about 0.5 % of the elements, not only at ties of the real value.
"""

from __future__ import annotations

import numpy as np

from keras2edge.runtime import fixed_point as fp

from .bench import ALL_INT8, T, one_op_model, run_litert_ref, run_tflm

RNG = np.random.default_rng(7)
C = 64
INPUT = ALL_INT8.reshape(256, 1)


def _model(s_in: float, z_in: int, w: np.ndarray, s_w: np.ndarray, bias: np.ndarray | None, s_out: float,
           z_out: int) -> bytes:
    s_w = np.asarray(s_w, np.float32)
    axis_scales = s_w if s_w.size > 1 else s_w[0]
    inputs = [T((256, 1), scale=s_in, zero_point=z_in),
              T((C, 1), np.int8, scale=axis_scales, zero_point=0, data=w.reshape(C, 1)),
              None if bias is None else T((C,), np.int32, scale=np.float32(s_in) * s_w if s_w.size > 1
                                          else float(np.float32(s_in) * s_w[0]), zero_point=0, data=bias)]
    return one_op_model("FULLY_CONNECTED", inputs, [T((256, C), scale=s_out, zero_point=z_out)], options={}, version=4)


def _expected(s_in: float, z_in: int, w: np.ndarray, s_w: np.ndarray, bias: np.ndarray | None, s_out: float,
              z_out: int) -> tuple[np.ndarray, np.ndarray]:
    """(TFLM: MBQM on the op's multipliers, LiteRT BUILTIN_REF: one half-away rounding in double)."""
    acc = w.astype(np.int64)[None, :] * (INPUT.astype(np.int64) - z_in)
    if bias is not None:
        acc = acc + bias.astype(np.int64)[None, :]
    real = np.broadcast_to(fp.real_multiplier_fully_connected(s_in, s_w, s_out), (C,))
    m, s = fp.quantize_multiplier(np.asarray(real))
    micro = np.clip(fp.mbqm(acc, m[None, :], s[None, :]) + z_out, -128, 127).astype(np.int8)
    eff = float(np.float32(s_in)) * np.asarray(s_w, np.float32).astype(np.float64) / float(np.float32(s_out))
    litert = np.clip(fp.round_half_away(acc.astype(np.float64) * eff[None, :]) + z_out, -128, 127).astype(np.int8)
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


def _random_case(per_channel: bool) -> tuple:
    s_in = float(np.float32(np.exp(RNG.uniform(np.log(1e-3), np.log(0.5)))))
    s_out = float(np.float32(np.exp(RNG.uniform(np.log(1e-3), np.log(0.5)))))
    z_in, z_out = (int(v) for v in RNG.integers(-128, 128, 2))
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


def test_random_multipliers_per_tensor_float32_product() -> None:
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
