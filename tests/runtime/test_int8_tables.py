"""The exact int8 tables of ``keras2edge.runtime.int8_tables`` against TFLite Micro, element for element.

Every case is a one-op int8 model fed all 256 int8 values (or, for float→int8 QUANTIZE, float
values around every rounding tie) and compared with ``np.array_equal``: TFLite Micro must equal the
table lookup exactly. LiteRT's reference kernels (BUILTIN_REF) must equal it too, except where a
difference is documented:

* LOGISTIC / TANH: LiteRT builds a float32 LUT of f(s_in·(q − z_in)) / s_out, TFLM evaluates
  gemmlowp fixed point. Found here (not in int8-arithmetic.md, which saw no difference on random
  scales): (1) at near-ties (exact value within 1e-3 LSB of k + ½) they may round to different
  sides, off by 1; (2) TFLM saturates every |q − z_in| ≥ radius = floor(15·2^27 / 2^L) to
  −128/127, a radius up to 2× too small when the input scale is coarse (s_in = 4: radius 1, so
  sigmoid(4) gives 127 instead of 123); for s_in ≥ 8 the radius is 0 and TFLM even maps
  q = z_in to −128 (sigmoid(0) = 0, tanh(0) = −1). LiteRT computes f there.
* RELU: TFLM (this tflite-micro build) forms s_in / s_out in double, LiteRT's reference RELU in
  float32 (int8-arithmetic.md §2.7 says float32 for TFLM: true of older TFLM sources only). The
  test searches scales where the two multipliers give different outputs and runs those.
* LEAKY_RELU: the same for both of its multipliers (identity and alpha), and HARD_SWISH for its
  two (output, reluish): double in TFLM, float32 in LiteRT (found here; int8-arithmetic.md §3.12
  gives float32 for TFLM).
* every other op here: no difference.
"""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.runtime import fixed_point as fp
from keras2edge.runtime import int8_tables as tables
from keras2edge.runtime.errors import RuntimeModelError

from .int8_bench import ALL_INT8, T, distinguishing_scales, one_op_model, run_litert_ref, run_tflm

RNG = np.random.default_rng(1010)
INT8_RANGE = ALL_INT8.astype(np.int64)


def _scales(n: int, lo: float, hi: float) -> list[float]:
    return [float(np.float32(v)) for v in np.exp(RNG.uniform(np.log(lo), np.log(hi), n))]


def _zps(n: int) -> list[int]:
    return [int(z) for z in RNG.integers(-128, 128, n)]


def _run_both(model: bytes, feed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return run_tflm(model, [feed])[0], run_litert_ref(model, [feed])[0]


def _assert_table(name: str, model: bytes, table: np.ndarray, litert_may_differ: np.ndarray | None = None) -> int:
    """TFLM == table everywhere; LiteRT == table except where ``litert_may_differ`` (a bool mask
    over the 256 inputs) allows. Returns the number of LiteRT differences."""
    micro, ref = _run_both(model, ALL_INT8)
    want = tables.lookup(table, ALL_INT8)
    assert np.array_equal(micro, want), f"{name}: TFLM differs at q = {ALL_INT8[micro != want][:8].tolist()}: " \
                                        f"{micro[micro != want][:8].tolist()} vs table {want[micro != want][:8].tolist()}"
    allowed = np.zeros(256, bool) if litert_may_differ is None else litert_may_differ
    bad = (ref != want) & ~allowed
    assert not bad.any(), f"{name}: LiteRT BUILTIN_REF differs at q = {ALL_INT8[bad][:8].tolist()} " \
                          f"({ref[bad][:8].tolist()} vs {want[bad][:8].tolist()})"
    return int(np.count_nonzero(ref != want))


def _sigmoid_litert_differences(op: str, scale: float, zp: int, table: np.ndarray) -> np.ndarray:
    """Where LiteRT's float LUT may differ from TFLM (module docstring): near-ties, off by one,
    and inputs TFLM saturates at its radius."""
    d = ALL_INT8.astype(np.int64) - zp
    x = np.clip(float(np.float32(scale)) * d, -60.0, 60.0)  # f is flat beyond; avoids exp overflow
    exact = 256 / (1 + np.exp(-x)) - 128 if op == "LOGISTIC" else 128 * np.tanh(x)
    near_tie = (np.abs(exact - np.floor(exact) - 0.5) < 1e-3) & (np.abs(table.astype(np.int64) - np.round(exact)) <= 1)
    return near_tie | (np.abs(d) >= tables.sigmoid_params(scale, zp).radius)


# Input qparams: random scales over the range models use, plus powers of two (exact ties in the
# Q4.27 rescaling) and scales large enough that most inputs are beyond the saturation radius.
SIGMOID_CASES = (list(zip(_scales(40, 1e-3, 1.0), _zps(40)))
                 + [(2.0 ** -k, z) for k in (3, 4, 5, 7) for z in (-128, 0, 127)] + [(0.1, 0), (4.0, 3), (30.0, -7)])


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
def test_logistic_and_tanh_tables(op: str) -> None:
    out = (1 / 256, -128) if op == "LOGISTIC" else (1 / 128, 0)
    build = tables.logistic_table if op == "LOGISTIC" else tables.tanh_table
    differences = 0
    for scale, zp in SIGMOID_CASES:
        model = one_op_model(op, [T((256,), scale=scale, zero_point=zp)], [T((256,), scale=out[0], zero_point=out[1])])
        table = build(scale, zp)
        differences += _assert_table(f"{op} s={scale} z={zp}", model, table,
                                     _sigmoid_litert_differences(op, scale, zp, table))
    assert differences > 0  # the cases above include both kinds of documented difference


def test_sigmoid_radius_quirk() -> None:
    # s_in = 30: real = 30·2^27 = 0.9375·2^32 -> L = 32, radius = floor(15·2^27 / 2^32) = 0, so even
    # q = z_in is "beyond the radius": TFLM outputs -128 (sigmoid(0) = 0, tanh(0) = -1); so do we.
    assert tables.sigmoid_params(30.0, -7).radius == 0
    assert int(tables.logistic_table(30.0, -7)[-7 + 128]) == -128
    assert int(tables.tanh_table(30.0, -7)[-7 + 128]) == -128
    # s_in = 0.1: (M, L) = (1717986944, 24) for float32(0.1), radius = floor(15·2^27 / 2^24) = 120
    assert tables.sigmoid_params(0.1, 0) == tables.SigmoidParams(0, 1717986944, 24, 120)


HARD_SWISH_CASES = ([(si, zi, so, zo) for si, zi, so, zo in zip(_scales(60, 1e-3, 1.0), _zps(60), _scales(60, 1e-3, 1.0), _zps(60))
                     if si / so < 128]
                    + [(0.05, 0, 0.03, -100), (1 / 32, -128, 1 / 64, -128), (0.2, 10, 0.0025, 0), (0.01, -5, 0.5, 3)])


def _hard_swish_litert(si: float, zi: int, so: float, zo: int) -> np.ndarray:
    """LiteRT's reference HARD_SWISH: TFLM's pipeline with its multipliers in float32."""
    hires = np.float32(1.0 / 128.0) * np.float32(si)
    reals = (float(hires / np.float32(so)), float(hires / (np.float32(3.0) / np.float32(32768.0))))
    return tables.hard_swish_lut(tables.hard_swish_params(si, zi, so, zo, reals))


def _check_hard_swish(si: float, zi: int, so: float, zo: int) -> None:
    model = one_op_model("HARD_SWISH", [T((256,), scale=si, zero_point=zi)], [T((256,), scale=so, zero_point=zo)])
    micro, ref = _run_both(model, ALL_INT8)
    assert np.array_equal(micro, tables.hard_swish_table(si, zi, so, zo)), f"HARD_SWISH {si},{zi} -> {so},{zo}: TFLM"
    assert np.array_equal(ref, _hard_swish_litert(si, zi, so, zo)), f"HARD_SWISH {si},{zi} -> {so},{zo}: LiteRT"


def test_hard_swish_table() -> None:
    assert len(HARD_SWISH_CASES) > 40
    for case in HARD_SWISH_CASES:
        _check_hard_swish(*case)


def test_hard_swish_multipliers_are_double() -> None:
    # scales where double and float32 multipliers (TFLM's int16 ones after downscaling) differ ...
    s_in, s_out = (np.exp(RNG.uniform(np.log(1e-3), np.log(1.0), 100000)).astype(np.float32) for _ in range(2))
    s_in, s_out = s_in[s_in / s_out < 100], s_out[s_in / s_out < 100]
    hires = np.float32(1.0 / 128.0) * s_in

    def int16_pair(real: np.ndarray) -> np.ndarray:
        m, e = fp.quantize_multiplier(real)
        return np.stack([fp.downscale_multiplier_int16(m), e])

    f32 = np.concatenate([int16_pair((hires / s_out).astype(np.float64)),
                          int16_pair((hires / (np.float32(3.0) / np.float32(32768.0))).astype(np.float64))])
    f64 = np.concatenate([int16_pair(s_in.astype(np.float64) / 128 / s_out.astype(np.float64)),
                          int16_pair(s_in.astype(np.float64) / 128 / (3.0 / 32768.0))])
    separating = []
    for k in np.nonzero((f32 != f64).any(axis=0))[0]:
        si, so, zi, zo = float(s_in[k]), float(s_out[k]), *(int(v) for v in RNG.integers(-128, 128, 2))
        if not np.array_equal(tables.hard_swish_table(si, zi, so, zo), _hard_swish_litert(si, zi, so, zo)):
            separating.append((si, zi, so, zo))  # ... and give different tables
        if len(separating) == 5:
            break
    assert len(separating) == 5
    for case in separating:  # TFLM follows the double rule, LiteRT the float32 one
        _check_hard_swish(*case)


def test_hard_swish_rejects_what_tflm_rejects() -> None:
    model = one_op_model("HARD_SWISH", [T((4,), scale=1.0, zero_point=0)], [T((4,), scale=1 / 256, zero_point=0)])
    with pytest.raises(RuntimeError):
        run_tflm(model, [np.zeros(4, np.int8)])
    with pytest.raises(RuntimeModelError, match="below 128"):
        tables.hard_swish_params(1.0, 0, 1 / 256, 0)


# Requantization: random scale ratios over 2^±8, plus the exact ties of §6 (0.25, 0.5, 0.75, 1.5,
# 2) where MBQM's double rounding and a correctly rounded multiply disagree.
REQUANT_CASES = ([(si, zi, so, zo) for si, zi, so, zo in zip(_scales(50, 1e-3, 1.0), _zps(50), _scales(50, 1e-3, 1.0), _zps(50))]
                 + [(r, zi, 1.0, zo) for r in (0.25, 0.5, 0.75, 1.5, 2.0, 0.125, 1.0) for zi, zo in ((0, 0), (-1, 3), (127, -128))])


def test_requantize_table() -> None:
    for si, zi, so, zo in REQUANT_CASES:
        model = one_op_model("QUANTIZE", [T((256,), scale=si, zero_point=zi)], [T((256,), scale=so, zero_point=zo)])
        _assert_table(f"QUANTIZE {si},{zi} -> {so},{zo}", model, tables.requantize_table(si, zi, so, zo))


def test_requantize_multiplier_is_double() -> None:
    # scales where double(s_in)/double(s_out) and a float32 division give different tables: both
    # runtimes follow the double one (int8-arithmetic.md §2.7, confirmed)
    for si, so in distinguishing_scales(_f64_ratio, _f32_ratio, np.arange(256), 4, seed=21):
        model = one_op_model("QUANTIZE", [T((256,), scale=si, zero_point=-128)], [T((256,), scale=so, zero_point=-128)])
        table = tables.requantize_table(si, -128, so, -128)
        m, s = fp.quantize_multiplier(float(np.float32(si) / np.float32(so)))
        assert not np.array_equal(table, np.clip(fp.mbqm(INT8_RANGE + 128, m, s) - 128, -128, 127))
        _assert_table(f"QUANTIZE {si} -> {so}", model, table)


def test_requantize_ties_pin_double_rounding() -> None:
    # real multiplier 0.25, zero points 0: q = 1 -> 1 (0.25 rounded twice: 0.5 -> 1, then 0.5 -> 1),
    # q = 5 -> 2 (1.25 -> SRDHM 2.5 -> 3 -> RDBPOT 1.5 -> 2), q = -2 -> -1, q = -3 -> -1
    t = tables.requantize_table(0.25, 0, 1.0, 0)
    assert [int(t[q + 128]) for q in (1, 2, -2, -3, 5)] == [1, 1, -1, -1, 2]
    single = tables.requantize_table(0.25, 0, 1.0, 0, single_rounding=True)
    assert [int(single[q + 128]) for q in (1, 2, -2, -3, 5)] == [0, 1, 0, -1, 1]


def test_dequantize_table() -> None:
    for scale, zp in list(zip(_scales(40, 1e-4, 10.0), _zps(40))) + [(0.1, 0), (1 / 3, -128), (2.0 ** -20, 127)]:
        model = one_op_model("DEQUANTIZE", [T((256,), scale=scale, zero_point=zp)], [T((256,), np.float32)], version=2)
        micro, ref = _run_both(model, ALL_INT8)
        want = tables.lookup(tables.dequantize_table(scale, zp), ALL_INT8)
        assert micro.dtype == want.dtype == np.float32
        assert np.array_equal(micro, want), f"DEQUANTIZE {scale},{zp}: TFLM differs"
        assert np.array_equal(ref, want), f"DEQUANTIZE {scale},{zp}: LiteRT BUILTIN_REF differs"


def test_quantize_float_to_int8() -> None:
    k = np.arange(-140, 140, dtype=np.float32)
    for scale, zp in list(zip(_scales(30, 1e-3, 10.0), _zps(30))) + [(0.1, 0), (0.5, -3), (1 / 255, -128)]:
        s = np.float32(scale)
        ties = (k + np.float32(0.5)) * s  # float32 products landing on or next to every .5 of x/s
        x = np.concatenate([ties, np.nextafter(ties, np.float32(np.inf)), np.nextafter(ties, np.float32(-np.inf)),
                            k * s, RNG.uniform(-300 * scale, 300 * scale, 500).astype(np.float32),
                            np.float32([0.0, -0.0, 1e-30, -1e-30])]).astype(np.float32)
        model = one_op_model("QUANTIZE", [T((x.size,), np.float32)], [T((x.size,), scale=scale, zero_point=zp)])
        micro, ref = _run_both(model, x)
        want = tables.quantize_float(x, scale, zp)
        assert np.array_equal(micro, want), f"QUANTIZE float {scale},{zp}: TFLM differs at {x[micro != want][:5]}"
        assert np.array_equal(ref, want), f"QUANTIZE float {scale},{zp}: LiteRT BUILTIN_REF differs"
    # the §3.1 ties: 0.05 / 0.1 -> 0.5 -> 1 and -0.05 -> -1 (half-away, float32 division)
    assert tables.quantize_float(np.float32([0.05, -0.05, 0.15, -0.25]), 0.1, 0).tolist() == [1, -1, 2, -3]


def test_lookup_is_one_take() -> None:
    table = tables.requantize_table(0.5, 0, 1.0, 0)
    q = RNG.integers(-128, 128, (3, 5, 7)).astype(np.int8)
    assert np.array_equal(tables.lookup(table, q), table[q.astype(np.int64) + 128])


def _f64_ratio(s_in: np.ndarray, s_out: np.ndarray) -> np.ndarray:
    return s_in.astype(np.float64) / s_out.astype(np.float64)


def _f32_ratio(s_in: np.ndarray, s_out: np.ndarray) -> np.ndarray:
    return (s_in / s_out).astype(np.float64)


def _relu_litert(si: float, zi: int, so: float, zo: int) -> np.ndarray:
    """LiteRT's reference int8 RELU: TFLM's formula with the multiplier ``float32(s_in / s_out)``."""
    m, s = fp.quantize_multiplier(float(np.float32(si) / np.float32(so)))
    low = max(-128, fp.quantize_scalar(0.0, so, zo))
    return np.clip(fp.mbqm(ALL_INT8.astype(np.int64) - zi, m, s) + zo, low, 127).astype(np.int8)


def test_relu_table_and_its_multiplier_precision() -> None:
    tell_apart = distinguishing_scales(_f64_ratio, _f32_ratio, np.arange(256), 8, seed=3)
    cases = [(si, -128, so, -128) for si, so in tell_apart]
    cases += list(zip(_scales(20, 1e-3, 1.0), _zps(20), _scales(20, 1e-3, 1.0), _zps(20)))
    for si, zi, so, zo in cases:
        model = one_op_model("RELU", [T((256,), scale=si, zero_point=zi)], [T((256,), scale=so, zero_point=zo)])
        micro, ref = _run_both(model, ALL_INT8)
        want = tables.lookup(tables.relu_table(si, zi, so, zo), ALL_INT8)
        litert_rule = _relu_litert(si, zi, so, zo)
        assert np.array_equal(micro, want), f"RELU {si},{zi} -> {so},{zo}: TFLM differs"
        assert np.array_equal(ref, litert_rule), f"RELU {si},{zi} -> {so},{zo}: LiteRT BUILTIN_REF differs"
    for si, zi, so, zo in cases[:8]:  # the searched cases really separate the two rules
        assert not np.array_equal(tables.relu_table(si, zi, so, zo), _relu_litert(si, zi, so, zo))


def test_relu6_table() -> None:
    for scale, zp in list(zip(_scales(30, 1e-3, 1.0), _zps(30))) + [(6 / 254, -127), (0.048, 0), (1.0, -3), (0.01, 100)]:
        model = one_op_model("RELU6", [T((256,), scale=scale, zero_point=zp)], [T((256,), scale=scale, zero_point=zp)])
        _assert_table(f"RELU6 {scale},{zp}", model, tables.relu6_table(scale, zp))
    # 6 / 0.048 = 125 exactly -> six = 125 + zp, clamped to 127 for zp > 2
    assert tables.relu6_table(0.048, 0)[-1] == 125 and tables.relu6_table(0.048, 10)[-1] == 127


def _leaky_relu_litert(si: float, zi: int, so: float, zo: int, alpha: float) -> np.ndarray:
    """LiteRT's reference int8 LEAKY_RELU: TFLM's formula with both multipliers in float32."""
    f_in, f_out, f_alpha = np.float32(si), np.float32(so), np.float32(alpha)
    (mi, ei), (ma, ea) = fp.quantize_multiplier(float(f_in / f_out)), fp.quantize_multiplier(float(f_in * f_alpha / f_out))
    d = ALL_INT8.astype(np.int64) - zi
    return np.clip(np.where(d >= 0, fp.mbqm(d, mi, ei), fp.mbqm(d, ma, ea)) + zo, -128, 127).astype(np.int8)


def test_leaky_relu_table_and_its_multiplier_precision() -> None:
    alpha = float(np.float32(0.2))
    identity = distinguishing_scales(_f64_ratio, _f32_ratio, np.arange(256), 3, seed=5)
    negative = distinguishing_scales(lambda a, b: a.astype(np.float64) * alpha / b.astype(np.float64),
                                     lambda a, b: (a * np.float32(alpha) / b).astype(np.float64),
                                     -np.arange(256), 3, seed=6, window=(-255, 0))
    separating = [(si, -128, so, -128, alpha) for si, so in identity] + [(si, 127, so, 127, alpha) for si, so in negative]
    cases = separating + [(si, zi, so, zo, a) for si, zi, so, zo, a in zip(
        _scales(20, 1e-3, 1.0), _zps(20), _scales(20, 1e-3, 1.0), _zps(20), RNG.uniform(0.01, 0.5, 20))]
    for si, zi, so, zo, a in cases:
        model = one_op_model("LEAKY_RELU", [T((256,), scale=si, zero_point=zi)], [T((256,), scale=so, zero_point=zo)],
                             options={"alpha": float(a)})
        micro, ref = _run_both(model, ALL_INT8)
        want = tables.lookup(tables.leaky_relu_table(si, zi, so, zo, a), ALL_INT8)
        assert np.array_equal(micro, want), f"LEAKY_RELU {si},{zi} -> {so},{zo} alpha {a}: TFLM differs"
        assert np.array_equal(ref, _leaky_relu_litert(si, zi, so, zo, a)), f"LEAKY_RELU {si},{zi}: LiteRT differs"
    for case in separating:  # the searched cases really separate the two precisions
        assert not np.array_equal(tables.leaky_relu_table(*case), _leaky_relu_litert(*case))
