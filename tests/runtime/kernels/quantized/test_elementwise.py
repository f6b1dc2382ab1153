"""runtime/kernels/quantized/elementwise.py against TFLite Micro, element for element.

Every case is a one-op quantized model run in ``keras2edge.runtime.Interpreter`` and in TFLite Micro
(``run_tflm``, the golden oracle), compared with ``np.array_equal``; the runtime's answer must also
equal the plain integer pipeline (``add_sub_int`` / ``mul_int``), which checks the table fast path
against the arithmetic it stands for. Cases: random shapes with broadcasting (ranks 0 to 7, rank-0
and single-element constants), scales from 1e-4 to 10, zero points across the range, every fused
activation; every (q1, q2) pair of int8 at once ([256, 1] against [1, 256]); every int16 value at
exact rounding ties; int16 with and without zero points; SQUARED_DIFFERENCE; the six comparisons
(int8 → bool) on every pair and broadcasting; SELECT_V2 on int8 and int16; ABS on every int8 and
int16 value; DIV on every pair (zero divisors and TFLM's undefined shifts included); RSQRT on
every valid int8 value.

LiteRT BUILTIN_REF, the second oracle, agrees on ADD, SUB, MAXIMUM, MINIMUM, int8
SQUARED_DIFFERENCE (it has no int16 one), the comparisons and SELECT_V2; its ABS divides the scales
in float32 where the tflite-micro wheel uses double, and so do its DIV, which also refuses a
zero divisor, and its RSQRT (asserted as its own rules); its int8 MUL forms
the multiplier in float32 (asserted as its own rule, ``_mul_float32``), and it refuses int16 ADD/SUB
with non-zero zero points, which TFLite Micro runs (asserted too).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from keras2edge.runtime import Interpreter
from keras2edge.runtime import fixed_point as fp
from keras2edge.convert.tflite.writer import write_model
from keras2edge.runtime.errors import RuntimeModelError
from keras2edge.runtime.model import Quantization
from keras2edge.runtime.kernels.quantized.elementwise import (AddParams, abs_int, add_params, add_sub_int, div_int,
                                                              mul_int, rdbpot_x86, rsqrt_int, squared_difference_int,
                                                              squared_difference_params)

from ....tflm import tflm
from ...helpers import GraphBuilder
from ...int8_bench import ALL_INT8, T, distinguishing_scales, one_op_model, run_litert_ref, run_tflm

ACT = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}
SHAPE_PAIRS = [  # (input 1, input 2): equal, broadcast both ways, ranks 1-7, scalars and size-1 tensors
    ((2, 3, 4), (2, 3, 4)), ((1, 5, 5, 8), (1, 1, 1, 8)), ((1, 1, 1, 8), (1, 5, 5, 8)), ((4, 1), (1, 6)),
    ((7,), (3, 1)), ((2, 3, 1, 5), (3, 4, 1)), ((1,), (3, 4)), ((3, 4), (1,)), ((2, 1, 3, 1, 4), (1, 3, 1, 5, 1)),
    ((2, 1, 3, 1, 4, 1), (1, 2, 1, 2, 1, 3)), ((1, 2, 1, 2, 1, 3, 1), (2, 1, 2, 1, 2, 1, 2)), ((6, 5), (6, 5)),
    ((), (2, 3)), ((2, 3), ()), ((1, 16, 16, 3), (1, 16, 16, 3)),
]


def _scale(rng: np.random.Generator, lo: float = 1e-4, hi: float = 10.0) -> float:
    return float(np.float32(np.exp(rng.uniform(np.log(lo), np.log(hi)))))


def _inputs(rng: np.random.Generator, shapes, dtype) -> tuple[list[bool], list[np.ndarray], list[np.ndarray]]:
    """Random values; which inputs are constants (every rank-0 one, which TFLM cannot be fed, and
    some others), the graph-input feeds, and all values."""
    info = np.iinfo(dtype)
    values = [rng.integers(info.min, info.max, size=s, endpoint=True).astype(dtype) for s in shapes]
    consts = [v.ndim == 0 or rng.random() < 0.15 for v in values]
    feeds = [v for v, c in zip(values, consts) if not c]
    return consts, feeds, values


def _model(op: str, dtype, shapes, q, consts, values, act: int) -> bytes:
    (s1, z1), (s2, z2), (so, zo) = q
    out = np.broadcast_shapes(*shapes)
    ins = [T(shapes[k], dtype, s, z, data=values[k] if consts[k] else None) for k, (s, z) in enumerate(q[:2])]
    options = {"fused_activation_function": act} if op in ("ADD", "SUB", "MUL", "DIV") else {}
    if op == "ADD":
        options["pot_scale_int16"] = False
    return one_op_model(op, ins, [T(out, dtype, so, zo)], options)


def _plain(op: str, dtype, q, values, act: int) -> np.ndarray:
    """The plain integer pipeline of TFLM for this case."""
    (s1, z1), (s2, z2), (so, zo) = q
    info = np.iinfo(dtype)
    lo, hi = fp.activation_range(act, so, zo, int(info.min), int(info.max))
    a, b = values
    if op in ("ADD", "SUB"):
        p = add_params(op, s1, z1, s2, z2, so, zo, lo, hi, 20 if dtype == np.int8 else 15)
        return add_sub_int(a, b, p, 1 if op == "ADD" else -1)
    if op == "MUL":
        m, s = fp.quantize_multiplier(fp.REAL_MULTIPLIERS["MUL"](s1, s2, so))
        return mul_int(a, b, z1, z2, m, s, zo, lo, hi)
    if op == "DIV":
        return div_int(a, b, z1, z2, *fp.quantize_multiplier(fp.REAL_MULTIPLIERS["DIV"](s1, s2, so)), zo, lo, hi)
    if op == "SQUARED_DIFFERENCE":
        shift = 7 if dtype == np.int8 else 0
        return squared_difference_int(a, b, squared_difference_params(s1, z1, s2, z2, so, zo, lo, hi, shift))
    return (np.maximum if op == "MAXIMUM" else np.minimum)(a, b)


def _qparams(rng: np.random.Generator, op: str, dtype) -> tuple[tuple[float, int], ...]:
    """Random (scale, zp) of the two inputs and the output, within what TFLM accepts without aborting
    (ADD/SUB: output multiplier < 1; int16 MUL: zero points 0)."""
    info = np.iinfo(dtype)
    zero = dtype == np.int16 and (op in ("MUL", "SQUARED_DIFFERENCE") or rng.random() < 0.5)
    zps = [0, 0, 0] if zero else [int(z) for z in rng.integers(max(info.min, -30000), min(info.max, 30000), 3,
                                                                 endpoint=True)]
    s1, s2 = _scale(rng), _scale(rng)
    so = _scale(rng)
    if op in ("ADD", "SUB"):
        floor = 2 * max(s1, s2) / (1 << (20 if dtype == np.int8 else 15)) * 1.01
        if so <= floor or rng.random() < 0.5:  # also keep some outputs in a realistic range
            so = float(np.float32(max(s1, s2) * np.exp(rng.uniform(-1.5, 1.5))))
    elif op == "MUL" and rng.random() < 0.5:
        so = float(np.float32(s1 * s2 * 128 * np.exp(rng.uniform(-2, 2))))
    elif op == "DIV":
        so = float(np.float32(s1 / s2 * np.exp(rng.uniform(-3, 3))))
    elif op == "SQUARED_DIFFERENCE" and rng.random() < 0.7:
        so = float(np.float32(max(s1, s2) ** 2 * 256 * np.exp(rng.uniform(-2, 2))))
    if op in ("MAXIMUM", "MINIMUM") and rng.random() < 0.5:
        s2, so, zps = s1, s1, [zps[0]] * 3  # the usual case: shared quantization
    return (s1, zps[0]), (s2, zps[1]), (so, zps[2])


def _check_random(op: str, dtype, n: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    litert_checked = 0
    for k in range(n):
        shapes = SHAPE_PAIRS[k % len(SHAPE_PAIRS)]
        act = int(rng.choice(list(ACT.values()))) if op in ("ADD", "SUB", "MUL", "DIV") else 0
        q = _qparams(rng, op, dtype)
        consts, feeds, values = _inputs(rng, shapes, dtype)
        model = _model(op, dtype, shapes, q, consts, values, act)
        micro = run_tflm(model, feeds)[0]
        ours = Interpreter(model).run(feeds if len(feeds) != 1 else feeds[0])
        what = f"{op} {np.dtype(dtype)} case {k}: shapes {shapes}, q {q}, act {act}"
        assert ours.dtype == micro.dtype and ours.shape == micro.shape, what
        assert np.array_equal(ours, micro), f"{what}: TFLM differs in {np.count_nonzero(ours != micro)} elements"
        assert np.array_equal(ours, _plain(op, dtype, q, values, act)), f"{what}: the plain integer path differs"
        if op == "SQUARED_DIFFERENCE" and dtype == np.int16:  # LiteRT has no int16 SQUARED_DIFFERENCE
            with pytest.raises(Exception, match="only supports FLOAT32 and INT32"):
                run_litert_ref(model, feeds)
        elif op not in ("MUL", "DIV") and (dtype == np.int8 or all(z == 0 for _, z in q)):
            assert np.array_equal(run_litert_ref(model, feeds)[0], micro), f"{what}: LiteRT BUILTIN_REF differs"
            litert_checked += 1
    return litert_checked


@pytest.mark.parametrize("op, dtype, n", [
    ("ADD", np.int8, 45), ("SUB", np.int8, 45), ("MUL", np.int8, 45), ("MAXIMUM", np.int8, 15),
    ("MINIMUM", np.int8, 15), ("ADD", np.int16, 20), ("SUB", np.int16, 20), ("MUL", np.int16, 20),
    ("MAXIMUM", np.int16, 8), ("MINIMUM", np.int16, 8), ("SQUARED_DIFFERENCE", np.int8, 20), ("DIV", np.int8, 20),
    ("SQUARED_DIFFERENCE", np.int16, 10),
])
def test_random_cases_are_bit_exact_with_tflm(op: str, dtype, n: int) -> None:
    _check_random(op, dtype, n, seed=sum(map(ord, op)) + np.dtype(dtype).itemsize)


# Every (q1, q2) pair: x1 [256, 1] against x2 [1, 256]. Parameter sets include exact ties
# (scales in ratios 1:2:4 make MBQM round at exactly .5), extreme zero points, a MUL multiplier > 1
# whose left shift wraps int32, and each activation.
PAIR_CASES = [
    ("ADD", (0.02, -3), (0.05, 4), (0.06, 1), "NONE"),
    ("ADD", (0.25, 0), (0.5, 0), (1.0, 0), "NONE"),
    ("ADD", (0.1, -128), (0.1, 127), (0.2, -128), "RELU"),
    ("ADD", (1e-4, 17), (9.5, -60), (7.0, 3), "RELU6"),
    ("SUB", (0.25, 0), (0.5, 0), (1.0, 0), "NONE"),
    ("SUB", (0.037, 12), (0.011, -100), (0.05, -20), "RELU_N1_TO_1"),
    ("SUB", (3.0, 127), (0.003, -128), (2.5, 0), "RELU"),
    ("MUL", (0.25, 0), (0.5, 0), (0.5, 0), "NONE"),
    ("MUL", (0.05, -7), (0.2, 90), (0.001, 5), "NONE"),  # real multiplier 10: left shift 4, int32 wrap
    ("MUL", (1.5, 100), (2.0, -128), (1e-4, 0), "RELU6"),  # 30000: shift 15, wraps often
    ("MUL", (0.004, 0), (0.008, 3), (0.03, -128), "RELU"),
    ("SQUARED_DIFFERENCE", (0.25, 0), (0.5, 0), (0.5, -128), "NONE"),
    ("SQUARED_DIFFERENCE", (0.02, 17), (0.07, -90), (1e-4, 0), "NONE"),  # output multiplier > 1: wraps
    ("SQUARED_DIFFERENCE", (3.0, -128), (0.01, 127), (30.0, -100), "NONE"),
]


@pytest.mark.parametrize("op, q1, q2, qo, act", PAIR_CASES)
def test_every_int8_pair(op: str, q1, q2, qo, act: str) -> None:
    a, b = ALL_INT8.reshape(256, 1), ALL_INT8.reshape(1, 256)
    q = (q1, q2, qo)
    model = _model(op, np.int8, [(256, 1), (1, 256)], q, [False, False], [a, b], ACT[act])
    micro = run_tflm(model, [a, b])[0]
    ours = Interpreter(model).run([a, b])
    assert np.array_equal(ours, micro), f"{op} {q} {act}: TFLM differs in {np.count_nonzero(ours != micro)} pairs"
    q32 = [(float(np.float32(s)), z) for s, z in q]
    assert np.array_equal(ours, _plain(op, np.int8, q32, [a, b], ACT[act]))


def test_add_worked_example() -> None:
    """int8-arithmetic.md §3.6: s1 = .02, z1 = −3, s2 = .05, z2 = 4, s_out = .06, z_out = 1; q1 = 50,
    q2 = −20 → −1 (float answer −1.33): a = 55574528 → 11114906, b = −25165824 → −12582912,
    r = −1468006, y = −2 + 1."""
    p = add_params("ADD", 0.02, -3, 0.05, 4, 0.06, 1, -128, 127, 20)
    assert (p.m2, p.e2) == (1 << 30, 0) and p.eo == -19
    assert add_sub_int(np.int8([50]), np.int8([-20]), p, 1).tolist() == [-1]


def _mul_float32(s1: float, s2: float, so: float) -> float:
    """LiteRT BUILTIN_REF's MUL multiplier: all in float32 (tests/runtime/test_binary_multipliers.py)."""
    return float(np.float32(s1) * np.float32(s2) / np.float32(so))


def test_litert_mul_uses_a_float32_multiplier() -> None:
    """LiteRT's int8 MUL equals the MUL pipeline with its float32 multiplier; on scales where that
    multiplier quantizes differently from TFLM's double one, TFLM follows ours and LiteRT differs."""
    a, b = ALL_INT8.reshape(256, 1), ALL_INT8.reshape(1, 256)
    rng = np.random.default_rng(77)
    z1, z2, zo = -5, 9, 3
    for _ in range(3000):
        s1, s2 = _scale(rng, 1e-3, 0.5), _scale(rng, 1e-3, 0.5)
        so = float(np.float32(s1 * s2 * 200 * np.exp(rng.uniform(-0.7, 0.7))))
        (m32, e32), (m64, e64) = (fp.quantize_multiplier(r) for r in (_mul_float32(s1, s2, so),
                                                                        fp.real_multiplier_mul(s1, s2, so)))
        if (m32, e32) != (m64, e64) and not np.array_equal(mul_int(a, b, z1, z2, m32, e32, zo, -128, 127),
                                                           mul_int(a, b, z1, z2, m64, e64, zo, -128, 127)):
            break
    else:
        pytest.fail("no scales separating float32 and double MUL multipliers found")
    model = _model("MUL", np.int8, [(256, 1), (1, 256)], ((s1, z1), (s2, z2), (so, zo)), [False, False], [a, b], 0)
    ours, micro, ref = Interpreter(model).run([a, b]), run_tflm(model, [a, b])[0], run_litert_ref(model, [a, b])[0]
    assert np.array_equal(ours, micro)
    assert np.array_equal(ref, mul_int(a, b, z1, z2, m32, e32, zo, -128, 127))
    assert not np.array_equal(ref, micro), "these scales tell LiteRT's float32 multiplier from TFLM's double one"


@pytest.mark.parametrize("op", ["ADD", "SUB"])
def test_int16_add_sub_with_zero_points_litert_refuses(op: str) -> None:
    """TFLM's int16 ADD/SUB take any zero point (the general pipeline, left shift 15); LiteRT refuses."""
    rng = np.random.default_rng(5)
    x1 = rng.integers(-32768, 32768, (3, 50)).astype(np.int16)
    x2 = np.int16([[-32768], [0], [32767]])
    q = ((0.01, -32767), (0.02, 32767), (0.03, 1234))
    model = _model(op, np.int16, [(3, 50), (3, 1)], q, [False, False], [x1, x2], 0)
    ours = Interpreter(model).run([x1, x2])
    assert np.array_equal(ours, run_tflm(model, [x1, x2])[0])
    assert np.array_equal(ours, _plain(op, np.int16, [(float(np.float32(s)), z) for s, z in q], [x1, x2], 0))
    with pytest.raises(Exception, match="zero_point"):
        run_litert_ref(model, [x1, x2])


ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


@pytest.mark.parametrize("op, q, act", [
    ("ADD", ((1.0, 0), (1.0, 0), (2.0, 0)), "NONE"),  # (q1 + q2) / 2: a tie at every odd sum
    ("SUB", ((0.5, 0), (1.0, 0), (4.0, 0)), "NONE"),  # (q1/2 − q2) / 4 after rounding q1/2
    ("ADD", ((0.25, 7), (1.0, -9), (0.5, 3)), "RELU"),
    ("MUL", ((1.0, 0), (1.0, 0), (8.0, 0)), "NONE"),  # q1·q2 / 8: ties, both signs
    ("MUL", ((0.01, 0), (0.02, 0), (1e-6, 0)), "RELU6"),  # multiplier 200: left shift 8, int32 wrap
    ("SQUARED_DIFFERENCE", ((1.0, 0), (0.5, 0), (16.0, 0)), "NONE"),  # (round(q1/2) − round(q2/4))² / 4
])
def test_every_int16_value_at_exact_ties(op: str, q, act: str) -> None:
    """Every int16 value of input 1 against a few of input 2, with power-of-two scale ratios that
    make the final rounding hit exact ties (half-away from zero, after a half-up SRDHM)."""
    a = ALL_INT16.reshape(-1, 1)
    b = np.int16([[-32768, -3, -1, 0, 1, 2, 5, 32767]])
    model = _model(op, np.int16, [a.shape, b.shape], q, [False, False], [a, b], ACT[act])
    ours = Interpreter(model).run([a, b])
    assert np.array_equal(ours, tflm(model, [a, b], 1, arena=8 << 20)[0])
    assert np.array_equal(ours, _plain(op, np.int16, q, [a, b], ACT[act]))


def test_int16_add_ignores_pot_scale_int16_like_tflm() -> None:
    """AddOptions.pot_scale_int16 (true by default): TFLM ignores it and runs the general pipeline;
    LiteRT BUILTIN_REF takes its power-of-two path (saturating shifts, no MBQM), off by one at
    some elements, and refuses power-of-two scales where both inputs would need a shift."""
    rng = np.random.default_rng(12)
    a, b = (rng.integers(-32768, 32768, (4, 50)).astype(np.int16) for _ in range(2))
    q = ((2.0 ** -10, 0), (2.0 ** -11, 0), (2.0 ** -10, 0))
    model = one_op_model("ADD", [T((4, 50), np.int16, *q[0]), T((4, 50), np.int16, *q[1])],
                         [T((4, 50), np.int16, *q[2])], {"pot_scale_int16": True})
    ours, micro, ref = Interpreter(model).run([a, b]), run_tflm(model, [a, b])[0], run_litert_ref(model, [a, b])[0]
    assert np.array_equal(ours, micro) and np.array_equal(ours, _plain("ADD", np.int16, q, [a, b], 0))
    diff = np.abs(ref.astype(np.int64) - micro)
    assert 0 < np.count_nonzero(diff) and diff.max() == 1


# ---------------------------------------------------------------------------------------------
# DIV (int8)


def _div_float32(s1: float, s2: float, so: float) -> float:
    """DIV's multiplier as TFLM's source writes it: ``float32(s1 / (s2 · s_out))``."""
    return float(np.float32(s1) / (np.float32(s2) * np.float32(so)))


# Scales whose float32 and double DIV multipliers give different tables (found by a random search
# like ``tests/runtime/test_binary_multipliers.py``'s; test_div_every_int8_pair re-checks that they do).
DIV_SEPARATING = ((0.016701430082321167, -48), (0.28255751729011536, -10), (0.017449304461479187, -88))


def _div_cases() -> list[tuple[tuple[float, int], ...]]:
    """Unit scales, random ones, and (last) scales separating float32 from double multipliers."""
    rng = np.random.default_rng(41)
    cases = [((1.0, 0), (1.0, 0), (1.0, 0))]
    for _ in range(7):
        s1, s2 = _scale(rng, 1e-3, 1.0), _scale(rng, 1e-3, 1.0)
        so = float(np.float32(s1 / s2 * np.exp(rng.uniform(-3, 3))))
        z1, z2, zo = (int(v) for v in rng.integers(-128, 128, 3))
        cases.append(((s1, z1), (s2, z2), (so, zo)))
    return cases + [DIV_SEPARATING]


def test_div_every_int8_pair() -> None:
    """Every (q1, q2) pair, zero divisors included; the last case separates the double multiplier of
    the tflite-micro wheel from the float32 one of its source."""
    a, b = ALL_INT8.reshape(256, 1), ALL_INT8.reshape(1, 256)
    for k, q in enumerate(_div_cases()):
        act = list(ACT.values())[k % 4]
        model = _model("DIV", np.int8, [(256, 1), (1, 256)], q, [False, False], [a, b], act)
        ours, micro = Interpreter(model).run([a, b]), run_tflm(model, [a, b])[0]
        assert np.array_equal(ours, micro), f"DIV {q}: TFLM differs in {np.count_nonzero(ours != micro)} pairs"
        assert np.array_equal(ours, _plain("DIV", np.int8, q, [a, b], act))
    (s1, z1), (s2, z2), (so, zo) = q
    m32 = fp.quantize_multiplier(_div_float32(s1, s2, so))
    assert m32 != fp.quantize_multiplier(fp.real_multiplier_div(s1, s2, so))
    assert not np.array_equal(ours, div_int(a, b, z1, z2, *m32, zo, *fp.activation_range(act, so, zo)))


def test_div_undefined_shifts_follow_the_x86_build() -> None:
    """Unit scales: −31 / −128 is 0.24, but TFLM's final shift exponent is 32 (undefined C++; x86
    shifts by 0 and the mask is all ones), so the x86 wheel outputs 127; 31 / −128 gives −128."""
    model = _model("DIV", np.int8, [(4,), (4,)], ((1.0, 0), (1.0, 0), (1.0, 0)), [False, False], [None, None], 0)
    a, b = np.int8([-31, 31, 100, 7]), np.int8([-128, -128, 7, 0])
    ours = Interpreter(model).run([a, b])
    assert ours.tolist()[:3] == [127, -128, 14] and np.array_equal(ours, run_tflm(model, [a, b])[0])


def test_litert_div_uses_float32_and_refuses_a_zero_divisor() -> None:
    """LiteRT BUILTIN_REF runs the same integer DIV with the float32 multiplier of the source (here
    1677721600 vs the wheel's 1677721638: 847 of 65,280 pairs differ) and refuses a zero divisor."""
    q = ((0.05, 3), (0.02, -9), (0.1, 1))
    a, b = ALL_INT8.reshape(256, 1), ALL_INT8[ALL_INT8 != -9].reshape(1, 255)
    model = _model("DIV", np.int8, [a.shape, b.shape], q, [False, False], [a, b], 0)
    ref, ours = run_litert_ref(model, [a, b])[0], Interpreter(model).run([a, b])
    assert np.array_equal(ours, run_tflm(model, [a, b])[0])
    assert np.array_equal(ref, div_int(a, b, 3, -9, *fp.quantize_multiplier(_div_float32(*(s for s, _ in q))), 1,
                                       -128, 127))
    assert not np.array_equal(ref, ours)
    with pytest.raises(Exception, match="zero_point"):
        run_litert_ref(model, [a, np.full_like(b, -9)])


def test_rdbpot_x86_is_rdbpot_in_the_defined_range() -> None:
    rng = np.random.default_rng(2)
    x, e = rng.integers(-(1 << 31), 1 << 31, 100_000), rng.integers(0, 32, 100_000)
    assert np.array_equal(rdbpot_x86(x, e), fp.rdbpot(x, e))
    assert rdbpot_x86(np.int64([5, -5, 5]), np.int64([32, 32, 33])).tolist() == [6, -5, 3]  # e mod 32, mask all ones


def test_div_multiplier_range_is_checked() -> None:
    _refused("DIV", [T((4,), np.int8, 10.0, 0), T((4,), np.int8, 1e-4, 0)], T((4,), np.int8, 1e-4, 0),
             r"real multiplier .* is outside .* undefined")


# ---------------------------------------------------------------------------------------------
# RSQRT (int8)

# (s_in, s_out) whose float32 multiplier (TFLM source, LiteRT) and double one (the wheel) give
# different outputs (found by a random search over the 255 positive inputs).
RSQRT_SEPARATING = [(0.0012816544622182846, 0.11254483461380005), (0.0015109666856005788, 0.13321030139923096)]


def _rsqrt_float32(si: float, so: float) -> float:
    return 1.0 / float(np.float32(np.sqrt(np.float32(si))) * np.float32(so))


def test_rsqrt_every_valid_int8_value() -> None:
    """Every input at or above the zero point (below it TFLM refuses to run), random scales and
    zero points, plus scales separating the wheel's double multiplier from LiteRT's float32 one."""
    rng = np.random.default_rng(51)
    cases = []
    for _ in range(10):
        si = _scale(rng, 1e-3, 1.0)
        so = float(np.float32(1 / np.sqrt(si) / 128 * np.exp(rng.uniform(-1.5, 1.5))))
        cases.append((si, int(rng.integers(-128, 100)), so, int(rng.integers(-128, 128))))
    cases += [(si, -128, so, -128) for si, so in RSQRT_SEPARATING]
    for si, zi, so, zo in cases:
        x = ALL_INT8[ALL_INT8 >= zi]
        model = one_op_model("RSQRT", [T(x.shape, np.int8, si, zi)], [T(x.shape, np.int8, so, zo)])
        ours, micro, ref = Interpreter(model).run(x), run_tflm(model, [x])[0], run_litert_ref(model, [x])[0]
        assert np.array_equal(ours, micro), f"RSQRT ({si}, {zi}) -> ({so}, {zo}): TFLM differs"
        assert np.array_equal(ours, rsqrt_int(x, zi, *fp.quantize_multiplier(fp.real_multiplier_rsqrt(si, so)), zo,
                                              -128, 127))
        assert np.array_equal(ref, rsqrt_int(x, zi, *fp.quantize_multiplier(_rsqrt_float32(si, so)), zo, -128, 127))
    assert not np.array_equal(ref, micro)


def test_rsqrt_of_a_negative_value_is_an_error_at_run() -> None:
    model = one_op_model("RSQRT", [T((3,), np.int8, 0.01, 5)], [T((3,), np.int8, 0.1, 0)])
    it = Interpreter(model)
    assert it.run(np.int8([5, 6, 100]))[0] == 127  # 1/sqrt(0): the maximum, as TFLM
    with pytest.raises(RuntimeModelError, match="RSQRT .* below its zero point 5"):
        it.run(np.int8([5, 4, 100]))
    with pytest.raises(Exception):
        run_tflm(model, [np.int8([5, 4, 100])])


# ---------------------------------------------------------------------------------------------
# Comparisons (int8 -> bool) and SELECT_V2

COMPARISONS = ["EQUAL", "NOT_EQUAL", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL"]


def _comparison_qparams(rng: np.random.Generator) -> list[tuple[tuple[float, int], tuple[float, int]]]:
    """Shared quantization, exact power-of-two ratios, extreme zero points, random scales < 1."""
    fixed = [((0.1, 3), (0.1, 3)), ((0.25, 0), (0.5, 0)), ((0.5, -128), (1e-4, 127)), ((0.99, 127), (0.37, -128))]
    def side() -> tuple[float, int]:
        return _scale(rng, 1e-4, 0.999), int(rng.integers(-128, 128))
    rand = [(side(), side()) for _ in range(2)]
    return fixed + rand


@pytest.mark.parametrize("op", COMPARISONS)
def test_comparisons_every_int8_pair(op: str) -> None:
    """Both sides rescaled by their own scale (MBQM<1 of (q − z)·2^8) and compared: every pair."""
    a, b = ALL_INT8.reshape(256, 1), ALL_INT8.reshape(1, 256)
    rng = np.random.default_rng(sum(map(ord, op)))
    for q in _comparison_qparams(rng):
        model = one_op_model(op, [T((256, 1), np.int8, *q[0]), T((1, 256), np.int8, *q[1])], [T((256, 256), np.bool_)])
        ours, micro = Interpreter(model).run([a, b]), run_tflm(model, [a, b])[0]
        assert ours.dtype == np.bool_ and np.array_equal(ours, micro), f"{op} {q}: TFLM differs"
        assert np.array_equal(run_litert_ref(model, [a, b])[0], micro), f"{op} {q}: LiteRT BUILTIN_REF differs"
        if q[0] == q[1]:  # shared quantization: the raw integers compare
            assert np.array_equal(ours, getattr(np, op.lower())(a, b))


@pytest.mark.parametrize("op", COMPARISONS)
def test_comparisons_broadcast(op: str) -> None:
    rng = np.random.default_rng(3 + len(op))
    for k, shapes in enumerate(SHAPE_PAIRS[:8]):
        q = _comparison_qparams(rng)[k % 6]
        consts, feeds, values = _inputs(rng, shapes, np.int8)
        ins = [T(shapes[i], np.int8, *q[i], data=values[i] if consts[i] else None) for i in range(2)]
        model = one_op_model(op, ins, [T(np.broadcast_shapes(*shapes), np.bool_)])
        ours = Interpreter(model).run(feeds if len(feeds) != 1 else feeds[0])
        assert np.array_equal(ours, run_tflm(model, feeds)[0]), f"{op} {shapes} {q}"


def test_comparison_scale_must_be_below_one() -> None:
    """TFLM uses each input's scale as a multiplier < 1 and aborts otherwise (not run here)."""
    _refused("GREATER", [T((4,), np.int8, 1.5, 0), T((4,), np.int8, 0.5, 0)], T((4,), np.bool_),
             r"'in0' has scale 1.5.* abort")


@pytest.mark.parametrize("dtype", [np.int8, np.int16])
def test_select_v2(dtype) -> None:
    """SELECT_V2 copies raw integers (no quantization read), broadcasting condition, x and y."""
    rng = np.random.default_rng(9)
    info = np.iinfo(dtype)
    for shapes in [((3, 1, 4), (2, 4), (3, 2, 1)), ((5,), (5,), (5,)), ((1,), (2, 3), (2, 3)), ((2, 3), (1,), (3,))]:
        c = rng.random(shapes[0]) < 0.5
        x, y = (rng.integers(info.min, info.max, s, endpoint=True).astype(dtype) for s in shapes[1:])
        out = np.broadcast_shapes(*shapes)
        ins = [T(shapes[0], np.bool_), T(shapes[1], dtype, 0.1, 3), T(shapes[2], dtype, 0.2, -1)]
        model = one_op_model("SELECT_V2", ins, [T(out, dtype, 0.1, 3)])
        ours = Interpreter(model).run([c, x, y])
        assert np.array_equal(ours, run_tflm(model, [c, x, y])[0]) and np.array_equal(ours, np.where(c, x, y))
        assert np.array_equal(run_litert_ref(model, [c, x, y])[0], ours)


# ---------------------------------------------------------------------------------------------
# ABS


def _abs_plain(x: np.ndarray, si: float, zi: int, so: float, zo: int, real) -> np.ndarray:
    info = np.iinfo(x.dtype)
    m = None if np.float32(si) == np.float32(so) else fp.quantize_multiplier(float(real(si, so)))
    return abs_int(x, zi, zo, m, int(info.min), int(info.max))


def _abs_float32(si, so):
    """LiteRT's (and the TFLM source's) ABS multiplier: the float32 quotient (vectorized)."""
    return (np.asarray(si, np.float32) / np.asarray(so, np.float32)).astype(np.float64)


def _abs_double(si, so):
    """The wheel's ABS multiplier (``REAL_MULTIPLIERS["ABS"]``), vectorized."""
    return np.asarray(si, np.float32).astype(np.float64) / np.asarray(so, np.float32).astype(np.float64)


def test_abs_int8_every_value() -> None:
    """Random scales (a third of them equal: no rescale) and scales where the double multiplier of
    the tflite-micro wheel and the float32 one of its source (and of LiteRT) give different outputs."""
    rng = np.random.default_rng(31)
    cases = []
    for k in range(12):
        si = _scale(rng)
        so = si if k % 3 == 0 else float(np.float32(si * np.exp(rng.uniform(-2, 2))))
        cases.append((si, int(rng.integers(-128, 128)), so, int(rng.integers(-128, 128))))
    assert _abs_double(0.3, 0.7) == fp.REAL_MULTIPLIERS["ABS"](0.3, 0.7)
    double = fp.REAL_MULTIPLIERS["ABS"]
    cases += [(si, -128, so, -128) for si, so in distinguishing_scales(_abs_double, _abs_float32, np.arange(256), 3, 4)]
    for si, zi, so, zo in cases:
        model = one_op_model("ABS", [T((256,), np.int8, si, zi)], [T((256,), np.int8, so, zo)])
        ours = Interpreter(model).run(ALL_INT8)
        micro, ref = run_tflm(model, [ALL_INT8])[0], run_litert_ref(model, [ALL_INT8])[0]
        assert np.array_equal(ours, micro), f"ABS ({si}, {zi}) -> ({so}, {zo}): TFLM differs"
        assert np.array_equal(ours, _abs_plain(ALL_INT8, si, zi, so, zo, double))
        assert np.array_equal(ref, _abs_plain(ALL_INT8, si, zi, so, zo, _abs_float32)), "LiteRT: not its float32 rule"
    assert not np.array_equal(ref, micro)  # the last case separates the two rules


def test_abs_int16_every_value() -> None:
    x = np.arange(-32768, 32768).astype(np.int16)
    rng = np.random.default_rng(32)
    separated = 0
    for k in range(5):
        si = _scale(rng)
        so = si if k == 0 else float(np.float32(si * np.exp(rng.uniform(-2, 2))))
        model = one_op_model("ABS", [T(x.shape, np.int16, si, 0)], [T(x.shape, np.int16, so, 0)])
        ours = Interpreter(model).run(x)
        micro, ref = tflm(model, [x], 1, arena=4 << 20)[0], run_litert_ref(model, [x])[0]
        assert np.array_equal(ours, micro), f"ABS int16 {si} -> {so}: TFLM differs in {np.count_nonzero(ours != micro)}"
        assert np.array_equal(ours, _abs_plain(x, si, 0, so, 0, fp.REAL_MULTIPLIERS["ABS"]))
        assert np.array_equal(ref, _abs_plain(x, si, 0, so, 0, _abs_float32))
        separated += not np.array_equal(ref, micro)
    assert separated > 0
    raw = one_op_model("ABS", [T(x.shape, np.int16)], [T(x.shape, np.int16)])  # no quantization: plain abs
    ours = Interpreter(raw).run(x)
    assert np.array_equal(ours, tflm(raw, [x], 1, arena=4 << 20)[0]) and ours[0] == -32768


def test_abs_refusals() -> None:
    _refused("ABS", [T((4,), np.int16, 0.1, 3)], T((4,), np.int16, 0.1, 0),
             r"int16 ABS needs zero point 0 on 'in0' \(3\)")
    _refused("ABS", [T((4,), np.int8, None)], T((4,), np.int8, 0.1, 0), "'in0' .* has no quantization parameters")
    _refused("ABS", [T((4,), np.int8, 0.1, 0)], T((4,), np.int16, 0.1, 0), "ABS keeps the dtype")


@pytest.mark.parametrize("to", [np.int8, np.int16, np.int32, np.uint32, np.float32])
def test_cast_from_int8(to) -> None:
    """A static_cast of the raw integers (quantization ignored), uint32 wrapping."""
    model = one_op_model("CAST", [T((256,), np.int8, 0.1, 3)], [T((256,), to)])
    ours = Interpreter(model).run(ALL_INT8)
    assert ours.dtype == np.dtype(to) and np.array_equal(ours, run_tflm(model, [ALL_INT8])[0])
    assert np.array_equal(ours, ALL_INT8.astype(to)) and np.array_equal(run_litert_ref(model, [ALL_INT8])[0], ours)


# ---------------------------------------------------------------------------------------------
# Refusals: RuntimeModelError naming the op and the tensor


def _refused(op: str, ins: list[T], out: T, message: str, options: dict | None = None) -> None:
    model = one_op_model(op, ins, [out], options or {})
    with pytest.raises(RuntimeModelError, match=message) as e:
        Interpreter(model)
    assert f"{op}" in str(e.value) and "op #0" in str(e.value)


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
def test_missing_quantization_is_refused(op: str) -> None:
    _refused(op, [T((2, 3), np.int8, 0.1, 0), T((2, 3), np.int8, None)], T((2, 3), np.int8, 0.1, 0),
             r"'in1' \(int8\) has no quantization parameters")
    _refused(op, [T((2, 3), np.int8, 0.1, 0), T((2, 3), np.int8, 0.1, 0)], T((2, 3), np.int8, None),
             "has no quantization parameters")


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
def test_per_axis_activation_is_refused(op: str) -> None:
    _refused(op, [T((2, 3), np.int8, [0.1, 0.2, 0.3], 0, axis=1), T((2, 3), np.int8, 0.1, 0)],
             T((2, 3), np.int8, 0.1, 0), r"'in0' is quantized per axis \(3 scales on dimension 1\)")


def test_mixed_dtypes_are_refused() -> None:
    _refused("ADD", [T((2, 3), np.int8, 0.1, 0), T((2, 3), np.int16, 0.1, 0)], T((2, 3), np.int8, 0.1, 0),
             "must share one dtype")
    _refused("MAXIMUM", [T((2, 3), np.int8, 0.1, 0), T((2, 3), np.int8, 0.1, 0)], T((2, 3), np.int16, 0.1, 0),
             "must share one dtype")


@pytest.mark.parametrize("op", ["MUL", "SQUARED_DIFFERENCE"])
def test_int16_mul_needs_zero_points_zero(op: str) -> None:
    _refused(op, [T((4,), np.int16, 0.1, 3), T((4,), np.int16, 0.1, 0)], T((4,), np.int16, 0.1, -2),
             rf"int16 {op} needs zero point 0 .* non-zero: 'in0' \(3\), '{op.lower()}_0' \(-2\)")


@pytest.mark.parametrize("op, dtype", [("ADD", np.int8), ("SUB", np.int16)])
def test_add_output_multiplier_must_be_below_one(op: str, dtype) -> None:
    """An output scale below 2·max(s1, s2)/2^L makes the output multiplier ≥ 1: TFLM aborts the
    process in QuantizeMultiplierSmallerThanOneExp (not run here); this runtime refuses the model."""
    _refused(op, [T((4,), dtype, 1.0, 0), T((4,), dtype, 0.5, 0)], T((4,), dtype, 1e-7, 0),
             r"must be in \(0, 1\).*TFLite Micro aborts")


def test_cast_int8_to_an_unsupported_type_is_refused() -> None:
    _refused("CAST", [T((4,), np.int8, 0.1, 0)], T((4,), np.bool_), "casts int8 only to int8, int16")


def test_unbroadcastable_shapes_are_refused() -> None:
    _refused("ADD", [T((2, 3), np.int8, 0.1, 0), T((4, 3), np.int8, 0.1, 0)], T((2, 3), np.int8, 0.1, 0),
             "do not broadcast")


# ---------------------------------------------------------------------------------------------
# A graph of these ops (the planner's arena reuse and scratch buffers around them)


def test_a_graph_of_quantized_elementwise_ops() -> None:
    """float → QUANTIZE ×2 → ADD(RELU) → MUL → SUB(const) → QUANTIZE (requant) → MAXIMUM →
    SQUARED_DIFFERENCE → DIV → DEQUANTIZE, with broadcasting; every intermediate and the float
    output bit-exact with TFLM."""
    g = GraphBuilder()
    shape = (1, 8, 8, 16)
    x = g.input("x", shape)
    y = g.input("y", (1, 1, 1, 16))
    qp: dict[int, tuple[float, int]] = {}

    def op(name: str, ins: list, q: tuple[float, int], options: dict | None = None, out_shape=shape) -> int:
        t = g.op(name, ins, options, dtype=np.int8, shapes=[out_shape])
        qp[t] = q
        return t

    qx = op("QUANTIZE", [x], (0.05, -3))
    qy = op("QUANTIZE", [y], (0.03, 10), out_shape=(1, 1, 1, 16))
    a = op("ADD", [qx, qy], (0.06, -128), {"fused_activation_function": 1})
    m = op("MUL", [a, qx], (0.2, 5), {"fused_activation_function": 0})
    c = g.const(np.arange(16, dtype=np.int8).reshape(1, 1, 1, 16) - 8)
    qp[c] = (0.1, 0)
    s = op("SUB", [m, c], (0.25, -2), {"fused_activation_function": 0})
    r = op("QUANTIZE", [a], (0.25, -2))
    mx = op("MAXIMUM", [s, r], (0.25, -2))
    sd = op("SQUARED_DIFFERENCE", [mx, qx], (0.5, -128))
    dv = op("DIV", [sd, qx], (0.3, 0), {"fused_activation_function": 0})
    out = g.op("DEQUANTIZE", [dv], dtype=np.float32, shapes=[shape])
    for t, (scale, zp) in qp.items():
        g.tensors[t].quantization = Quantization(np.float32([scale]), np.int64([zp]), 0)
    g.output(out, a, sd)
    model = write_model(g.model())
    rng = np.random.default_rng(61)
    feeds = [rng.uniform(-6, 6, shape).astype(np.float32), rng.uniform(-3, 3, (1, 1, 1, 16)).astype(np.float32)]
    ours = list(Interpreter(model).run(feeds).values())
    micro = tflm(model, feeds, 3, arena=1 << 20)
    for o, w in zip(ours, micro):
        assert o.dtype == w.dtype and np.array_equal(o, w)


# ---------------------------------------------------------------------------------------------
# Speed


def test_add_int8_is_fast() -> None:
    """int8 ADD over 56×56×24 (75,264 elements): one table lookup per element; well under 5 ms."""
    shape = (1, 56, 56, 24)
    model = one_op_model("ADD", [T(shape, np.int8, 0.1, 3), T(shape, np.int8, 0.05, -7)],
                         [T(shape, np.int8, 0.2, 1)], {"fused_activation_function": 1})
    rng = np.random.default_rng(0)
    a, b = (rng.integers(-128, 128, shape).astype(np.int8) for _ in range(2))
    it = Interpreter(model)
    it.run([a, b])
    times = []
    for _ in range(20):
        t = time.perf_counter()
        it.run([a, b])
        times.append(time.perf_counter() - t)
    assert np.median(times) < 5e-3, f"int8 ADD 56x56x24 took {np.median(times) * 1e3:.2f} ms"
    p = add_params("ADD", 0.1, 3, 0.05, -7, 0.2, 1, fp.activation_range(1, 0.2, 1)[0], 127, 20)
    assert isinstance(p, AddParams)
    assert np.array_equal(it.run([a, b]), add_sub_int(a, b, p, 1))


# ---------------------------------------------------------------------------------------------
# EXP, LOG (int8 / int16): TFLite Micro has none; LiteRT BUILTIN_REF is the oracle


def _lut_case(op: str, dtype, k: int, rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    """Case k of a LiteRT-LUT op: random scales (int8: 1e-3..0.6, any zero points; int16: 1e-5..2e-2,
    zero points 0), a random shape, inputs covering the whole valid range (RSQRT: ≥ 0)."""
    hi_in = 0.6 if dtype == np.int8 else 2e-2
    lo_in = 1e-3 if dtype == np.int8 else 1e-5
    si, so = (float(np.exp(rng.uniform(np.log(lo_in), np.log(hi_in)))) for _ in range(2))
    zi, zo = (int(rng.integers(-128, 128)), int(rng.integers(-128, 128))) if dtype == np.int8 else (0, 0)
    shape = tuple(int(d) for d in rng.integers(1, 6, int(rng.integers(1, 5))))
    info = np.iinfo(dtype)
    lo = max(zi, info.min) if op == "RSQRT" else info.min
    x = np.concatenate([np.linspace(lo, info.max, 257).round(), rng.integers(lo, int(info.max) + 1, 300)])
    x = np.resize(rng.permutation(x), (int(np.prod(shape)) * (557 // int(np.prod(shape)) + 1),))
    shape = (x.size // int(np.prod(shape)), *shape)
    model = one_op_model(op, [T(shape, dtype, si, zi)], [T(shape, dtype, so, zo)])
    return model, x.astype(dtype).reshape(shape)


@pytest.mark.parametrize("op, dtype", [("EXP", np.int8), ("EXP", np.int16), ("LOG", np.int8), ("LOG", np.int16)])
def test_litert_lut_ops_are_bit_exact_with_litert_ref(op: str, dtype) -> None:
    rng = np.random.default_rng(hash((op, np.dtype(dtype).name)) % 2**32)
    for k in range(24):
        model, x = _lut_case(op, dtype, k, rng)
        got = Interpreter(model).run(x)
        (want,) = run_litert_ref(model, [x])
        assert got.dtype == want.dtype and got.shape == want.shape
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, f"{op} {np.dtype(dtype)} case {k}: {bad.size} differ, x={x.flat[bad[:4]]}: " \
                              f"{got.flat[bad[:4]]} vs {want.flat[bad[:4]]}"


@pytest.mark.parametrize("op", ["EXP", "LOG"])
def test_litert_lut_ops_every_int16_value(op: str) -> None:
    """Every int16 input at three scale pairs, incl. the overflow edge of EXP (int16 slope wrapping in
    LUTLookup, NaN segments)."""
    for si, so in RSQRT_INT16_SCALES:
        x = np.arange(-32768, 32768).astype(np.int16)
        model = one_op_model(op, [T(x.shape, np.int16, si, 0)], [T(x.shape, np.int16, so, 0)])
        got = Interpreter(model).run(x)
        (want,) = run_litert_ref(model, [x])
        assert np.array_equal(got, want), (op, si, so, np.flatnonzero(got != want)[:5])


RSQRT_INT16_SCALES = [(3.0517578e-05, 3.0517578e-05), (0.0075721125, 0.00031635451), (1e-4, 2e-3)]


def test_rsqrt_every_int16_value_follows_tflm() -> None:
    """int16 RSQRT: every non-negative input at three scale pairs equals TFLite Micro's (the wheel runs
    RsqrtEvalQuantized on int16); LiteRT's float-built table differs on many values (asserted, so a
    LiteRT that starts to agree shows up)."""
    litert_differs = 0
    for si, so in RSQRT_INT16_SCALES + [(1e-3, 7e-4)]:
        x = np.arange(0, 32768).astype(np.int16)
        model = one_op_model("RSQRT", [T(x.shape, np.int16, si, 0)], [T(x.shape, np.int16, so, 0)])
        got = Interpreter(model).run(x)
        (micro,) = tflm(model, [x])
        assert np.array_equal(got, micro), (si, so, np.flatnonzero(got != micro)[:5])
        (ref,) = run_litert_ref(model, [x])
        litert_differs += int(np.count_nonzero(ref != micro))
    assert litert_differs > 10_000


@pytest.mark.parametrize("op", ["EXP", "LOG"])
def test_litert_lut_ops_every_int8_value(op: str) -> None:
    """Every int8 input, coarse scales included (EXP overflowing float32: saturates to 127 in LiteRT)."""
    x = ALL_INT8.copy()
    for si, zi, so, zo in [(0.4, -63, 0.18, -11), (0.05, 10, 0.02, -128), (0.6, 127, 1e-3, 0), (0.01, -128, 0.5, 5)]:
        model = one_op_model(op, [T(x.shape, np.int8, si, zi)], [T(x.shape, np.int8, so, zo)])
        got = Interpreter(model).run(x)
        (want,) = run_litert_ref(model, [x])
        assert np.array_equal(got, want), (op, si, zi, so, zo, np.flatnonzero(got != want)[:5])


def test_rsqrt_int16_negative_input_is_an_error_at_run() -> None:
    model = one_op_model("RSQRT", [T((3,), np.int16, 1e-3, 0)], [T((3,), np.int16, 1e-3, 0)])
    it = Interpreter(model)
    with pytest.raises(RuntimeModelError, match="RSQRT .* below its zero point 0"):
        it.run(np.array([1, -1, 3], np.int16))
    with pytest.raises(RuntimeError, match="Rsqrt is only defined for positive values"):
        run_litert_ref(model, [np.array([1, -1, 3], np.int16)])


@pytest.mark.parametrize("op", ["EXP", "LOG", "RSQRT"])
def test_litert_lut_ops_refusals(op: str) -> None:
    _refused(op, [T((2, 3), np.int16, 1e-3, 0)], T((2, 3), np.int16, None), "has no quantization parameters")
    _refused(op, [T((2, 3), np.int16, 1e-3, 4)], T((2, 3), np.int16, 1e-3, 0),
             rf"int16 {op} needs zero point 0 on 'in0' \(4\)")
    _refused(op, [T((2, 3), np.int16, [1e-3, 2e-3, 3e-3], 0, axis=1)], T((2, 3), np.int16, 1e-3, 0),
             r"'in0' is quantized per axis")
    _refused(op, [T((2, 3), np.int16, 1e-3, 0)], T((2, 3), np.int8, 1e-3, 0), f"{op} keeps the dtype")
    if op != "RSQRT":
        _refused(op, [T((2, 3), np.int8, 1e-3, 0)], T((2, 3), np.int8, None), "has no quantization parameters")


# ---------------------------------------------------------------------------------------------
# NEG (int8 / int16): TFLite Micro has none; LiteRT BUILTIN_REF is the oracle (raw integer negation)


@pytest.mark.parametrize("dtype", [np.int8, np.int16])
def test_neg_is_bit_exact_with_litert_ref(dtype) -> None:
    """Every value of the dtype (int16: all 65,536) in random shapes and quantizations, the minimum
    included (it wraps to itself in LiteRT's C++ and here)."""
    rng = np.random.default_rng(7 if dtype == np.int8 else 8)
    info = np.iinfo(dtype)
    values = np.arange(info.min, int(info.max) + 1).astype(dtype)
    for k in range(6):
        s = float(np.exp(rng.uniform(np.log(1e-3), np.log(1.0))))
        zi = int(rng.integers(-128, 128)) if dtype == np.int8 else 0
        shape = (int(rng.integers(1, 5)), -(-values.size // 4) + k)
        x = np.resize(rng.permutation(values), shape).astype(dtype)
        model = one_op_model("NEG", [T(shape, dtype, s, zi)], [T(shape, dtype, s, -zi if k % 2 else zi)])
        got = Interpreter(model).run(x)
        (want,) = run_litert_ref(model, [x])
        assert got.dtype == want.dtype and np.array_equal(got, want), (np.dtype(dtype), k)
        assert got[x == info.min].tolist() == [info.min] * int(np.sum(x == info.min))


def test_neg_int8_worked_example_and_warning(caplog) -> None:
    """s_in = s_out = 0.1, z_in = 3, z_out = −3: q = 13 (1.0) → −13 (real −1.0), q = −128 → −128 (C++'s
    int8 wrap). With z_out = −1 instead of −3 the integers are the same but no longer the negated
    value: prepare logs a warning naming the op and both tensors."""
    x = np.array([13, -128, 3, 127], np.int8)
    good = one_op_model("NEG", [T(x.shape, np.int8, 0.1, 3)], [T(x.shape, np.int8, 0.1, -3)])
    with caplog.at_level("WARNING", logger="keras2edge.runtime"):
        assert Interpreter(good).run(x).tolist() == [-13, -128, -3, -127]
    assert not caplog.records
    bad = one_op_model("NEG", [T(x.shape, np.int8, 0.1, 3)], [T(x.shape, np.int8, 0.1, -1)])
    with caplog.at_level("WARNING", logger="keras2edge.runtime"):
        assert Interpreter(bad).run(x).tolist() == [-13, -128, -3, -127]
    assert any("op #0 NEG" in r.getMessage() and "opposite zero points" in r.getMessage() for r in caplog.records)
    assert run_litert_ref(bad, [x])[0].tolist() == [-13, -128, -3, -127]


def test_neg_int8_tflm_has_no_kernel_and_dtype_mismatch_is_refused() -> None:
    x = np.zeros(4, np.int8)
    model = one_op_model("NEG", [T((4,), np.int8, 0.1, 0)], [T((4,), np.int8, 0.1, 0)])
    with pytest.raises(Exception):  # TFLM: "Type INT8 (9) not supported", invoke fails
        run_tflm(model, [x])
    mixed = one_op_model("NEG", [T((4,), np.int8, 0.1, 0)], [T((4,), np.int16, 0.1, 0)])
    with pytest.raises(RuntimeModelError, match="NEG keeps the dtype"):
        Interpreter(mixed)
