"""runtime/kernels/quantized/activation.py against TFLite Micro, element for element.

Every case is a one-op quantized ``.tflite`` (``int8_bench.one_op_model``) run in
``keras2edge.runtime.Interpreter`` and in TFLite Micro (the golden oracle), compared with
``np.array_equal``; inputs hold every value of their dtype (all 256 int8 values, all 65536 int16
values) laid out in random shapes, so each case checks the whole table. LiteRT's reference kernels
(BUILTIN_REF) are run too and must give the same bytes, except where a difference is documented
(docs/int8-findings.md and the kernel module's docstring); there the LiteRT output is checked
against the rule LiteRT follows instead:

* LOGISTIC / TANH int8: LiteRT's float LUT differs at near-ties and where TFLM saturates early
  (``tests/runtime/test_int8_tables._sigmoid_litert_differences``);
* RELU, LEAKY_RELU, HARD_SWISH int8: LiteRT's multipliers are float32;
* RELU6 with output parameters other than the input's: TFLM clamps the raw input, LiteRT requantizes;
* RELU_N1_TO_1: TFLM has no kernel; LiteRT is the oracle;
* PRELU whose input itself broadcasts: TFLM runs it, LiteRT refuses it;
* SOFTMAX int8 rows whose sum of exps reaches 512: TFLM and LiteRT abort the process (checked in a
  child process); we return the formulas' value and log a warning.
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import textwrap
from collections.abc import Sequence

import numpy as np
import pytest

from keras2edge.runtime import Interpreter
from keras2edge.runtime import fixed_point as fp
from keras2edge.runtime import int8_tables as tables
from keras2edge.runtime.errors import RuntimeModelError
from keras2edge.runtime.kernels.quantized import activation as act

from ...int8_bench import ALL_INT8, T, one_op_model, run_litert_ref, run_tflm
from ...test_int8_tables import (
    _hard_swish_litert,
    _leaky_relu_litert,
    _relu_litert,
    _sigmoid_litert_differences,
)

RNG = np.random.default_rng(2026)
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


# ------------------------------------------------------------------------------------------------ helpers


def _scale(lo: float = 1e-3, hi: float = 8.0) -> float:
    return float(np.float32(np.exp(RNG.uniform(np.log(lo), np.log(hi)))))


def _zp() -> int:
    return int(RNG.choice([-128, 127, 0, int(RNG.integers(-128, 128)), int(RNG.integers(-128, 128))]))


def _shape(min_size: int) -> tuple[int, ...]:
    """A random shape of rank 1–4 with at least ``min_size`` elements."""
    rank = int(RNG.integers(1, 5))
    dims = [int(RNG.integers(1, 9)) for _ in range(rank - 1)]
    last = -(-min_size // max(1, int(np.prod(dims)))) + int(RNG.integers(0, 5))
    return (*dims, last)


def _every_value(shape: tuple[int, ...], values: np.ndarray) -> np.ndarray:
    """An array of ``shape`` holding every element of ``values`` (shuffled, then repeated)."""
    return np.resize(RNG.permutation(values), shape).astype(values.dtype)


def ours(model: bytes, feeds: Sequence[np.ndarray]) -> np.ndarray:
    it = Interpreter(model)
    return np.asarray(it.run(list(feeds) if len(feeds) > 1 else feeds[0]))


def _check(name: str, model: bytes, feeds: Sequence[np.ndarray], litert_rule: np.ndarray | None = None,
           litert_may_differ: np.ndarray | None = None, litert: bool = True) -> np.ndarray:
    """ours == TFLM exactly; LiteRT == ours, or == ``litert_rule`` where given, or differs only where
    ``litert_may_differ`` (a bool array of the output's shape) allows (not run if ``litert`` is
    False). Returns our output."""
    got = ours(model, feeds)
    micro = run_tflm(model, feeds)[0]
    assert got.dtype == micro.dtype and got.shape == micro.shape, name
    bad = got != micro
    assert not bad.any(), f"{name}: TFLM differs in {int(bad.sum())} elements, e.g. in {feeds[0][bad][:6]} " \
                          f"-> ours {got[bad][:6]} vs TFLM {micro[bad][:6]}"
    if not litert:
        return got
    ref = run_litert_ref(model, feeds)[0]
    want = got if litert_rule is None else litert_rule
    off = ref != want
    if litert_may_differ is not None:
        off &= ~litert_may_differ
    assert not off.any(), f"{name}: LiteRT BUILTIN_REF differs from its documented rule in {int(off.sum())} elements"
    return got


def _unary(op: str, x: T, out: T, options: dict | None = None) -> bytes:
    return one_op_model(op, [x], [out], options)


# ------------------------------------------------------------------------------------------------ int8 unary


def _lookup(table_by_q: np.ndarray, x: np.ndarray) -> np.ndarray:
    return table_by_q[x.astype(np.int64) + 128]


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
def test_logistic_tanh_int8(op: str) -> None:
    build = tables.logistic_table if op == "LOGISTIC" else tables.tanh_table
    out = T((), scale=1 / 256, zero_point=-128) if op == "LOGISTIC" else T((), scale=1 / 128, zero_point=0)
    cases = [(_scale(), _zp()) for _ in range(22)] + [(4.0, 3), (8.0, -7), (2.0 ** -4, 0), (2.0 ** -5, -128)]
    litert_differences = 0
    for s_in, z_in in cases:
        shape = _shape(256)
        x = _every_value(shape, ALL_INT8)
        model = _unary(op, T(shape, scale=s_in, zero_point=z_in), T(shape, scale=out.scale, zero_point=out.zero_point))
        may = _lookup(_sigmoid_litert_differences(op, s_in, z_in, build(s_in, z_in)), x)
        got = _check(f"{op} s={s_in} z={z_in}", model, [x], litert_may_differ=may)
        litert_differences += int(np.count_nonzero(run_litert_ref(model, [x])[0] != got))
    assert litert_differences > 0  # the coarse scales above (4, 8) hit TFLM's early saturation


def test_hard_swish_int8() -> None:
    cases = [(_scale(), _zp(), _scale(), _zp()) for _ in range(30)]
    cases = [(si, zi, so, zo) for si, zi, so, zo in cases if si / so < 100] + [(0.05, 0, 0.03, -100), (8.0, 5, 0.1, 0)]
    assert len(cases) >= 20
    for si, zi, so, zo in cases:
        shape = _shape(256)
        x = _every_value(shape, ALL_INT8)
        model = _unary("HARD_SWISH", T(shape, scale=si, zero_point=zi), T(shape, scale=so, zero_point=zo))
        _check(f"HARD_SWISH {si},{zi}->{so},{zo}", model, [x], litert_rule=_lookup(_hard_swish_litert(si, zi, so, zo), x))


def test_hard_swish_tiny_output_multiplier_int16_rounding() -> None:
    # s_in / s_out so small that the output exponent is <= -16: gemmlowp's int16 RoundingDivideByPOT
    # then has an all-ones int16 mask and returns 1 for x >= 0, -1 for x < 0 (TFLM: 126 for z_out 127)
    assert fp.rdbpot_int16([5, 0, -5, -40000 // 2], [16, 20, 16, 31]).tolist() == [1, 1, -1, -1]
    assert fp.rdbpot_int16([5, -6], [1, 2]).tolist() == fp.rdbpot([5, -6], [1, 2]).tolist()
    si, so = 0.003082163631916046, 2.200786828994751
    x = ALL_INT8.copy()
    model = _unary("HARD_SWISH", T((256,), scale=si, zero_point=0), T((256,), scale=so, zero_point=127))
    got = _check("HARD_SWISH tiny multiplier", model, [x], litert_rule=_lookup(_hard_swish_litert(si, 0, so, 127), x))
    assert set(got.tolist()) == {126, 127}  # 127 + (±1 or 0): never 0 as int32 rounding would give


def test_relu_int8() -> None:
    for si, zi, so, zo in [(_scale(), _zp(), _scale(), _zp()) for _ in range(22)] + [(0.25, 0, 1.0, 0), (0.5, -1, 1.0, 3)]:
        shape = _shape(256)
        x = _every_value(shape, ALL_INT8)
        model = _unary("RELU", T(shape, scale=si, zero_point=zi), T(shape, scale=so, zero_point=zo))
        _check(f"RELU {si},{zi}->{so},{zo}", model, [x], litert_rule=_lookup(_relu_litert(si, zi, so, zo), x))


def test_relu6_int8() -> None:
    for s, z in [(_scale(1e-3, 1.0), _zp()) for _ in range(20)] + [(0.048, 0), (6 / 255, -128), (8.0, 0), (0.01, 100)]:
        shape = _shape(256)
        x = _every_value(shape, ALL_INT8)
        model = _unary("RELU6", T(shape, scale=s, zero_point=z), T(shape, scale=s, zero_point=z))
        _check(f"RELU6 {s},{z}", model, [x])


def test_relu6_ignores_output_qparams_unlike_litert() -> None:
    # TFLM clamps the raw q to [z_in, q(6)] whatever the output says; LiteRT requantizes to the output
    x = ALL_INT8.copy()
    model = _unary("RELU6", T((256,), scale=0.1, zero_point=0), T((256,), scale=6 / 255, zero_point=-128))
    got = _check("RELU6 0.1 -> 6/255", model, [x],
                 litert_rule=_lookup(act.table_of(act.relu_fn(0.1, 0, 6 / 255, -128, -128, 127, 0.0, 6.0, float32=True),
                                                  "int8")[np.arange(-128, 128) % 256], x))
    assert got.tolist() == np.clip(x, 0, 60).tolist()  # 6 / 0.1 = 60


@pytest.mark.parametrize("negative", [False, True])
def test_leaky_relu_int8(negative: bool) -> None:
    cases = [(_scale(), _zp(), _scale(), _zp(), float(np.float32(RNG.uniform(0.01, 0.9)))) for _ in range(14)]
    cases += [(0.25, 0, 1.0, 0, 0.25), (0.5, 10, 1.0, 0, 0.5), (0.5, 10, 1.0, 0, 1.0), (0.1, 3, 0.07, -5, 0.3)]
    for si, zi, so, zo, alpha in cases:
        alpha = -alpha if negative else alpha
        shape = _shape(256)
        x = _every_value(shape, ALL_INT8)
        model = _unary("LEAKY_RELU", T(shape, scale=si, zero_point=zi), T(shape, scale=so, zero_point=zo), {"alpha": alpha})
        rule = None if negative else _lookup(_leaky_relu_litert(si, zi, so, zo, alpha), x)
        _check(f"LEAKY_RELU {si},{zi}->{so},{zo} alpha {alpha}", model, [x], litert_rule=rule)


def test_leaky_relu_negative_alpha_is_negated_outside_mbqm() -> None:
    # alpha = -0.25, s_in / s_out = 0.25: q = -119 -> 119 · 0.0625 = 7.4375. TFLM negates outside MBQM:
    # -MBQM(-119, 2^30, -3) = -rdbpot(srdhm(-119, 2^30) = -59 (-59.5 half-up), 3) = -(-7) = 7.
    # Passing M = -2^30 into MBQM instead would give srdhm = 60 (59.5 half-up), rdbpot(60, 3) = 8.
    fn = act.leaky_relu_fn(0.25, 0, 1.0, 0, -0.25)
    assert int(fn(np.array([-119]))[0]) == 7
    assert int(tables.leaky_relu_table(0.25, 0, 1.0, 0, -0.25)[-119 + 128]) == 7
    assert int(fp.mbqm(-119, -(1 << 30), -3)[()]) == 8  # the rule TFLM does not follow


def test_relu_n1_to_1_follows_litert() -> None:
    # TFLite Micro has no RELU_N1_TO_1 kernel; LiteRT's reference kernel (float32 multiplier) is the oracle.
    cases = [(_scale(1e-3, 0.1), _zp(), _scale(1e-3, 0.1), _zp()) for _ in range(15)] + [(0.25, 0, 1.0, 0), (0.01, 3, 0.01, 3)]
    for si, zi, so, zo in cases:
        shape = _shape(256)
        x = _every_value(shape, ALL_INT8)
        model = _unary("RELU_N1_TO_1", T(shape, scale=si, zero_point=zi), T(shape, scale=so, zero_point=zo))
        got, ref = ours(model, [x]), run_litert_ref(model, [x])[0]
        assert np.array_equal(got, ref), f"RELU_N1_TO_1 {si},{zi}->{so},{zo}: LiteRT differs"
    with pytest.raises(RuntimeError):
        run_tflm(model, [x])


# ------------------------------------------------------------------------------------------------ int16 unary


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
def test_logistic_tanh_int16(op: str) -> None:
    # power-of-two scales take TFLM's "POT" path (multiplier 3 << shift); others the doubling loop
    scales = [2.0 ** -12, 2.0 ** -11, 2.0 ** -10, 2.0 ** -9, 1 / 3000, 1.0, 5.0] + [_scale(1e-5, 1.0) for _ in range(5)]
    for s in scales:
        shape = _shape(65536)
        x = _every_value(shape, ALL_INT16)
        model = _unary(op, T(shape, np.int16, scale=s), T(shape, np.int16, scale=2.0 ** -15))
        _check(f"{op} int16 s={s}", model, [x])


def test_sigmoid16_params() -> None:
    assert act.sigmoid16_params(2.0 ** -12, (0,)) == (0, 0)  # POT: eval multiplies by 3
    assert act.sigmoid16_params(2.0 ** -11, (0, 1)) == (0, 1)  # TANH also takes shift 1
    assert act.sigmoid16_params(2.0 ** -11, (0,))[0] == 3 * 8192  # LOGISTIC does not: 2^-11·12288·2^13
    assert act.checked_log2(2.0 ** -15) == (True, -15) and act.checked_log2(1e-4)[0] is False


def _relu_family_litert_int16(op: str, si: float, so: float, alpha: float) -> np.ndarray:
    """LiteRT's reference int16 RELU / LEAKY_RELU: TFLM's formulas with float32 multipliers (as in
    int8), indexed by q + 32768; RELU6 is the same as TFLM's."""
    q = ALL_INT16.astype(np.int64)
    if op == "RELU":
        return act.relu_fn(si, 0, so, 0, -32768, 32767, float32=True)(q)
    f_in, f_out = np.float32(si), np.float32(so)
    (mi, ei) = fp.quantize_multiplier(float(f_in / f_out))
    (ma, ea) = fp.quantize_multiplier(float(f_in * np.float32(alpha) / f_out))
    return np.clip(np.where(q >= 0, fp.mbqm(q, mi, ei), fp.mbqm(q, ma, ea)), -32768, 32767)


@pytest.mark.parametrize("op", ["RELU", "RELU6", "LEAKY_RELU"])
def test_relu_family_int16(op: str) -> None:
    for _ in range(6):
        si, so = _scale(1e-5, 1e-1), _scale(1e-5, 1e-1)
        if op == "RELU6":
            so = si
        shape = _shape(65536)
        x = _every_value(shape, ALL_INT16)
        alpha = float(np.float32(RNG.uniform(0.01, 0.9)))
        options = {"alpha": alpha} if op == "LEAKY_RELU" else None
        model = _unary(op, T(shape, np.int16, scale=si), T(shape, np.int16, scale=so), options)
        rule = None if op == "RELU6" else _relu_family_litert_int16(op, si, so, alpha)[x.astype(np.int64) + 32768]
        _check(f"{op} int16 {si}->{so} {options}", model, [x], litert_rule=rule)


# ------------------------------------------------------------------------------------------------ PRELU

PRELU_SHAPES = [((1, 6, 5, 16), (16,)), ((1, 6, 5, 16), (1, 1, 16)), ((2, 4, 3, 8), (4, 3, 8)), ((3, 33), (1,)),
                ((1, 7, 9, 3), (1, 7, 9, 3)), ((4, 5, 6), (5, 1)), ((2, 3, 4, 5), (1, 1, 1, 5)), ((300,), (300,)),
                ((1, 16), (3, 1))]  # the last: the input broadcasts too


@pytest.mark.parametrize("x_shape, a_shape", PRELU_SHAPES)
def test_prelu_int8(x_shape: tuple, a_shape: tuple) -> None:
    for const in (True, False):
        si, zi, sa, za, so, zo = _scale(1e-3, 1.0), _zp(), _scale(1e-3, 0.5), _zp(), _scale(1e-3, 1.0), _zp()
        x = _every_value(x_shape, ALL_INT8)
        alpha = RNG.integers(-128, 128, a_shape).astype(np.int8)
        a_spec = T(a_shape, scale=sa, zero_point=za, data=alpha if const else None)
        model = one_op_model("PRELU", [T(x_shape, scale=si, zero_point=zi), a_spec],
                             [T(np.broadcast_shapes(x_shape, a_shape), scale=so, zero_point=zo)])
        feeds = [x] if const else [x, alpha]
        out_shape = np.broadcast_shapes(x_shape, a_shape)
        _check(f"PRELU {x_shape} {a_shape} const={const}", model, feeds, litert=out_shape == x_shape)
        if out_shape != x_shape:  # TFLM broadcasts the input too; LiteRT's PRELU refuses that
            with pytest.raises(RuntimeError, match="HaveSameShapes"):
                run_litert_ref(model, feeds)


def test_prelu_int16() -> None:
    for x_shape, a_shape in PRELU_SHAPES[:4]:
        x = RNG.integers(-32768, 32768, x_shape).astype(np.int16)
        alpha = RNG.integers(-128, 128, a_shape).astype(np.int8)
        model = one_op_model("PRELU", [T(x_shape, np.int16, scale=_scale(1e-5, 1e-2)),
                                       T(a_shape, scale=_scale(1e-3, 0.5), zero_point=_zp(), data=alpha)],
                             [T(x_shape, np.int16, scale=_scale(1e-5, 1e-2))])
        _check(f"PRELU int16 {x_shape} {a_shape}", model, [x])


def test_prelu_table_path_equals_plain_integer_path() -> None:
    # the (alpha, 256) table is the plain integer PRELU evaluated on every input byte; check the
    # eval (index arithmetic, broadcasting) against prelu_reference on random data
    x_shape, a_shape = (2, 5, 7, 16), (1, 16)
    alpha = RNG.integers(-128, 128, a_shape).astype(np.int8)
    x = RNG.integers(-128, 128, x_shape).astype(np.int8)
    si, zi, sa, za, so, zo = 0.05, 3, 0.01, -7, 0.04, -10
    model = one_op_model("PRELU", [T(x_shape, scale=si, zero_point=zi), T(a_shape, scale=sa, zero_point=za, data=alpha)],
                         [T(x_shape, scale=so, zero_point=zo)])
    m1, s1 = fp.quantize_multiplier(float(np.float32(si)) / float(np.float32(so)))
    m2, s2 = fp.quantize_multiplier(float(np.float32(si)) * float(np.float32(sa)) / float(np.float32(so)))
    params = act.PreluParams(zi, za, zo, m1, s1, m2, s2)
    assert params == act.PreluParams.of((si, zi), (sa, za), (so, zo))
    plain = act.prelu_reference(x, alpha, params, -128, 127)
    assert np.array_equal(ours(model, [x]), plain)


# ------------------------------------------------------------------------------------------------ SOFTMAX


def _softmax_rows(shape: tuple[int, ...], scale: float, beta: float) -> np.ndarray:
    """Random int8 rows (some all-equal, some with one far-away maximum) whose sums of exps stay
    below 512, so TFLite Micro does not abort on them."""
    x = RNG.integers(-128, 128, shape).astype(np.int8)
    flat = x.reshape(-1, shape[-1])
    if flat.shape[0] > 2 and shape[-1] < 512:
        flat[0] = RNG.integers(-128, 128)
        flat[1] = -128
        flat[1, 0] = 127
    p = tables.softmax_params(beta, scale)
    exps = fp.rdbpot(tables.softmax_exp_table(p), 12)
    while True:
        k = flat.max(axis=-1, keepdims=True).astype(np.int64) - flat
        heavy = exps[k].sum(axis=-1) >= (512 << 19)
        if not heavy.any():
            return x
        flat[heavy] = RNG.integers(-128, 128, (int(heavy.sum()), shape[-1]))  # coarse scales: re-draw


SOFTMAX_DEPTHS = [1, 2, 3, 7, 10, 16, 64, 100, 255, 256, 511, 512, 700, 1000]


@pytest.mark.parametrize("depth", SOFTMAX_DEPTHS)
def test_softmax_int8(depth: int) -> None:
    for lead in [(), (3,), (2, 2), (1, 2, 3)][: 4 if depth <= 256 else 2]:
        scale = _scale(1e-2, 1.0) if depth < 512 else _scale(0.1, 1.0)
        beta = float(np.float32(RNG.choice([1.0, 0.5, 2.0, RNG.uniform(0.1, 3.0)])))
        shape = (*lead, depth)
        x = _softmax_rows(shape, scale, beta)
        model = one_op_model("SOFTMAX", [T(shape, scale=scale, zero_point=_zp())], [T(shape, scale=1 / 256, zero_point=-128)],
                             {"beta": beta}, version=2)
        got = _check(f"SOFTMAX {shape} s={scale} beta={beta}", model, [x])
        assert np.array_equal(got, tables.softmax_int8(x, tables.softmax_params(beta, scale)))


@pytest.mark.parametrize("depth", [1, 5, 100, 1000])
def test_softmax_int8_to_int16(depth: int) -> None:
    for lead in [(), (4,)]:
        scale, beta = _scale(1e-2, 1.0), float(np.float32(RNG.uniform(0.2, 2.0)))
        shape = (*lead, depth)
        x = RNG.integers(-128, 128, shape).astype(np.int8)
        model = one_op_model("SOFTMAX", [T(shape, scale=scale, zero_point=_zp())],
                             [T(shape, np.int16, scale=1 / 65536, zero_point=-32768)], {"beta": beta}, version=2)
        _check(f"SOFTMAX int8->int16 {shape}", model, [x])


@pytest.mark.parametrize("depth", [1, 2, 10, 100, 1000])
def test_softmax_int16(depth: int) -> None:
    for lead in [(), (3,)]:
        scale, beta = _scale(1e-5, 1e-2), float(np.float32(RNG.choice([1.0, RNG.uniform(0.2, 2.0)])))
        shape = (*lead, depth)
        x = RNG.integers(-32768, 32768, shape).astype(np.int16)
        if x.size > 2:
            x.reshape(-1)[:2] = 32767
        model = one_op_model("SOFTMAX", [T(shape, np.int16, scale=scale)], [T(shape, np.int16, scale=1 / 32768)],
                             {"beta": beta}, version=2)
        _check(f"SOFTMAX int16 {shape} s={scale} beta={beta}", model, [x])


def test_softmax_int16_luts() -> None:
    exp_lut, recip_lut = act.softmax_int16_luts()
    assert exp_lut.size == recip_lut.size == 513
    assert exp_lut[-1] == 32767 and recip_lut[0] == 32767  # exp(0) = 1 = 1/(1+0) in Q0.15
    x = np.linspace(-10, 0, 513)
    assert np.max(np.abs(exp_lut / 32768 - np.exp(x))) < 1e-3
    assert act.lut_lookup_int16(np.array([32767]), exp_lut)[0] == 32762  # interpolated 7/8 of the way to 32767


SOFTMAX_ABORT_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    model, x = open(sys.argv[1], "rb").read(), np.full((1, 512), 5, np.int8)
    if sys.argv[2] == "tflm":
        from tflite_micro.python.tflite_micro import runtime
        it = runtime.Interpreter.from_bytes(model, arena_size=1 << 20)
        it.set_input(x, 0)
    else:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        it = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    print("returned")
""")


def test_softmax_row_sum_512_tflm_aborts_we_compute(tmp_path, caplog) -> None:
    model = one_op_model("SOFTMAX", [T((1, 512), scale=0.1, zero_point=0)], [T((1, 512), scale=1 / 256, zero_point=-128)],
                         {"beta": 1.0}, version=2)
    path = tmp_path / "softmax512.tflite"
    path.write_bytes(model)
    for runtime in ("tflm", "litert"):  # both abort the process (gemmlowp / TFLITE_CHECK on the shift)
        child = subprocess.run([sys.executable, "-c", SOFTMAX_ABORT_CHILD, str(path), runtime], check=False,
                               capture_output=True, text=True, timeout=120)
        assert child.returncode != 0 and "returned" not in child.stdout, (runtime, child.stdout, child.stderr[-300:])
    x = np.full((1, 512), 5, np.int8)
    with caplog.at_level(logging.WARNING, logger="keras2edge.runtime"):
        got = ours(model, [x])
    assert got.tolist() == [[-128] * 512]  # 1/512 of 256 = 0.5 LSB: the formulas round it to 0
    assert "TFLite Micro aborts" in caplog.text
    y = np.full((1, 600), -128, np.int8)
    y[0, :300] = 127  # sum of exps 300: fine in TFLM too; no warning needed for that row
    assert np.array_equal(ours(one_op_model("SOFTMAX", [T((1, 600), scale=0.1, zero_point=0)],
                                            [T((1, 600), scale=1 / 256, zero_point=-128)], {"beta": 1.0}, version=2), [y]),
                          tables.softmax_int8(y, tables.softmax_params(1.0, 0.1)))


@pytest.mark.parametrize("depth", [1, 2, 5, 16, 100, 511, 1000])
def test_log_softmax_int8(depth: int) -> None:
    for lead in [(), (3,), (2, 2)]:
        scale = _scale(1e-3, 4.0)
        shape = (*lead, depth)
        x = RNG.integers(-128, 128, shape).astype(np.int8)
        x.reshape(-1, depth)[0] = RNG.integers(-128, 128)  # an all-equal row
        model = one_op_model("LOG_SOFTMAX", [T(shape, scale=scale, zero_point=_zp())],
                             [T(shape, scale=16 / 256, zero_point=127)])
        _check(f"LOG_SOFTMAX {shape} s={scale}", model, [x])


def test_log_x_for_x_ge_1() -> None:
    x = np.array([1 << 19, 2 << 19, 3 << 19, 1000 << 19, (1 << 31) - 1])  # Q12.19: 1, 2, 3, 1000, 4096
    got = act.log_x_for_x_ge_1(x, 12, 5) / 2.0 ** 26  # Q5.26
    assert np.max(np.abs(got - np.log([1, 2, 3, 1000, 4096]))) < 1e-6
    assert act.clz32(np.array([0, 1, (1 << 31) - 1, -5])).tolist() == [32, 31, 1, 0]


# ------------------------------------------------------------------------------------------------ errors

BAD = [
    ("LOGISTIC", [T((4,), scale=0.1)], [T((4,), scale=1 / 256, zero_point=0)], None, "zero point -128", "out"),
    ("LOGISTIC", [T((4,))], [T((4,), scale=1 / 256, zero_point=-128)], None, "no quantization parameters", "in0"),
    ("TANH", [T((4, 2), scale=(0.1, 0.2), axis=1)], [T((4, 2), scale=1 / 128)], None, "per axis", "in0"),
    ("TANH", [T((4,), np.int16, scale=2.0 ** -12, zero_point=1)], [T((4,), np.int16, scale=2.0 ** -15)], None,
     "zero point 0", "in0"),
    ("LOGISTIC", [T((4,), np.int16, scale=2.0 ** -12)], [T((4,), np.int16, scale=2.0 ** -14)], None, "1/32768", "out"),
    ("RELU", [T((4,), np.int16, scale=0.1)], [T((4,), np.int16, scale=0.1, zero_point=3)], None, "zero point 0", "out"),
    ("HARD_SWISH", [T((4,), scale=1.0)], [T((4,), scale=1 / 256)], None, "below 128", "in0"),
    ("SOFTMAX", [T((2, 4), scale=0.1)], [T((2, 4), scale=1 / 255, zero_point=-128)], {"beta": 1.0}, "1/256", "out"),
    ("SOFTMAX", [T((2, 4), scale=0.1)], [T((2, 4), scale=1 / 256, zero_point=0)], {"beta": 1.0}, "1/256", "out"),
    ("SOFTMAX", [T((2, 4), scale=1e-9)], [T((2, 4), scale=1 / 256, zero_point=-128)], {"beta": 1.0}, "too small", "in0"),
    ("SOFTMAX", [T((2, 4), scale=0.1)], [T((2, 4), np.int16, scale=1 / 32768, zero_point=0)], {"beta": 1.0},
     "1/65536", "out"),
    ("SOFTMAX", [T((2, 4), np.int16, scale=1e-3)], [T((2, 4), np.int16, scale=1 / 256)], {"beta": 1.0}, "1/32768", "out"),
    ("LOG_SOFTMAX", [T((2, 4), scale=0.1)], [T((2, 4), scale=1 / 16, zero_point=0)], None, "16/256", "out"),
    ("PRELU", [T((2, 4), scale=0.1), T((4,), np.int16, scale=0.1, data=np.ones(4, np.int16))], [T((2, 4), scale=0.1)],
     None, "int8 alpha", "const1"),
    ("PRELU", [T((2, 4), scale=0.1), T((4,), scale=[0.1] * 4, data=np.ones(4, np.int8))], [T((2, 4), scale=0.1)],
     None, "per axis", "const1"),
]


@pytest.mark.parametrize("op, ins, outs, options, message, tensor", BAD, ids=[f"{b[0]}-{b[4]}" for b in BAD])
def test_bad_quantization_is_refused_naming_op_and_tensor(op, ins, outs, options, message, tensor) -> None:
    model = one_op_model(op, ins, outs, options, version=2 if op == "SOFTMAX" else 1)
    with pytest.raises(RuntimeModelError, match=message) as e:
        Interpreter(model)
    name = f"{op.lower()}_0" if tensor == "out" else tensor
    assert op in str(e.value) and f"'{name}'" in str(e.value)


def test_tflm_refuses_what_we_refuse() -> None:
    # not run here: no quantization / per-axis (TFLM reads garbage or the first scale), a too-small
    # SOFTMAX beta (TFLM's CHECK aborts the process), an int16 alpha for int8 PRELU (TFLM reads its
    # bytes as int8) -- we refuse all of them
    for op, ins, outs, options, _, _ in [BAD[i] for i in (0, 3, 4, 5, 6, 7, 8, 10, 11, 12)]:
        model = one_op_model(op, ins, outs, options, version=2 if op == "SOFTMAX" else 1)
        feeds = [np.zeros(i.shape, i.dtype) for i in ins if i.data is None]
        with pytest.raises(RuntimeError):
            run_tflm(model, feeds)


def test_logistic_int8_output_scale_is_assumed_like_tflm() -> None:
    # TFLM checks only the zero point and computes in units of 1/256; LiteRT refuses another scale
    model = _unary("LOGISTIC", T((256,), scale=0.05, zero_point=0), T((256,), scale=1 / 128, zero_point=-128))
    got, micro = ours(model, [ALL_INT8]), run_tflm(model, [ALL_INT8])[0]
    assert np.array_equal(got, micro)
    with pytest.raises(RuntimeError):
        run_litert_ref(model, [ALL_INT8])


def test_tables_are_built_once_per_interpreter() -> None:
    model = one_op_model("LOGISTIC", [T((1, 4), scale=0.1)], [T((1, 4), scale=1 / 256, zero_point=-128)])
    it = Interpreter(model)
    first = dict(it._memo)
    assert list(first) == [(0, "lut")]
    it._get_plan(((3, 4),))  # a plan for another batch ...
    assert all(it._memo[k][1] is v[1] for k, v in first.items())  # ... reuses the table


# ------------------------------------------------------------------------------------------------
# GELU (int8 / int16): TFLite Micro has none; LiteRT BUILTIN_REF is the oracle


def _gelu_case(dtype, k: int, rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    int8 = dtype == np.int8
    lo, hi = (1e-3, 0.2) if int8 else (1e-5, 2e-3)
    si, so = (float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) for _ in range(2))
    zi, zo = (int(rng.integers(-128, 128)), int(rng.integers(-128, 128))) if int8 else \
        ((0, 0) if k % 3 else (int(rng.integers(-300, 300)), int(rng.integers(-300, 300))))
    info = np.iinfo(dtype)
    x = np.concatenate([np.linspace(info.min, info.max, 257).round(), rng.integers(info.min, int(info.max) + 1, 255)])
    shape = ((2, 256), (512,), (4, 8, 16))[k % 3]
    model = one_op_model("GELU", [T(shape, dtype, si, zi)], [T(shape, dtype, so, zo)], {"approximate": bool(k % 2)})
    return model, rng.permutation(x).astype(dtype).reshape(shape)


@pytest.mark.parametrize("dtype", [np.int8, np.int16])
def test_gelu_is_bit_exact_with_litert_ref(dtype) -> None:
    """24 random cases per dtype (exact and tanh-approximate forms; int16 also with zero points, which
    LiteRT's int16 table ignores on the input index and the output value alike)."""
    rng = np.random.default_rng(4242 + np.dtype(dtype).itemsize)
    for k in range(24):
        model, x = _gelu_case(dtype, k, rng)
        got = Interpreter(model).run(x)
        (want,) = run_litert_ref(model, [x])
        bad = np.flatnonzero(got != want)
        assert got.dtype == want.dtype and bad.size == 0, (k, bad.size, x.flat[bad[:4]], got.flat[bad[:4]],
                                                           want.flat[bad[:4]])


def test_gelu_every_int8_value() -> None:
    for approximate in (False, True):
        for si, zi, so, zo in [(0.05, 0, 0.03, -20), (0.5, -128, 0.4, -100), (1e-3, 127, 1e-3, 0)]:
            model = one_op_model("GELU", [T((256,), np.int8, si, zi)], [T((256,), np.int8, so, zo)],
                                 {"approximate": approximate})
            got = Interpreter(model).run(ALL_INT8)
            assert np.array_equal(got, run_litert_ref(model, [ALL_INT8])[0]), (approximate, si, zi, so, zo)


def test_gelu_refusals() -> None:
    for ins, out, message in [
        (T((4,), np.int8, None), T((4,), np.int8, 0.1, 0), "'in0' .* has no quantization"),
        (T((4,), np.int16, 0.1, 0), T((4,), np.int16, None), "has no quantization"),
        (T((2, 3), np.int8, [0.1, 0.2, 0.3], 0, axis=1), T((2, 3), np.int8, 0.1, 0), "'in0' is quantized per axis"),
        (T((4,), np.int8, 0.1, 0), T((4,), np.int16, 0.1, 0), "keeps the dtype"),
    ]:
        model = one_op_model("GELU", [ins], [out], {"approximate": False})
        with pytest.raises(RuntimeModelError, match=message) as e:
            Interpreter(model)
        assert "GELU" in str(e.value) and "op #0" in str(e.value)


@pytest.mark.parametrize("si, so, approximate", [(0.00035555227426501096, 2.243137038139418e-05, False),
                                                 (1.2277404212106931e-05, 2.3380906722705006e-05, True),
                                                 (0.00012083870512474974, 2.0461903372102325e-05, True)])
def test_gelu_int16_needs_the_c_librarys_erfcf_and_tanhf(si: float, so: float, approximate: bool,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """LiteRT's tables call the system libm, whose erfcf / tanhf are not correctly rounded (glibc):
    at these scales the correctly rounded transforms (the fallback of ``float_lut``) move one
    element of the int16 GELU; with the C library's functions the runtime is exact."""
    from keras2edge.runtime import float_lut as fl

    if fl._libm() is None:
        pytest.skip("no C math library reachable through ctypes")
    x = np.arange(-32768, 32768).astype(np.int16)
    model = one_op_model("GELU", [T(x.shape, np.int16, si, 0)], [T(x.shape, np.int16, so, 0)],
                         {"approximate": approximate})
    got = Interpreter(model).run(x)
    (want,) = run_litert_ref(model, [x])
    assert np.array_equal(got, want)
    fn = fl.gelu_approximate_f32 if approximate else fl.gelu_f32
    c_lut = fl.lut_int16_513(fn, si, 0, so, 0)
    fallback = fl._f32_of_f64(np.tanh if approximate else np.vectorize(math.erfc, otypes=[float]))
    monkeypatch.setattr(fl, "_tanh_f32" if approximate else "_erfc_f32", fallback)
    assert not np.array_equal(c_lut, fl.lut_int16_513(fn, si, 0, so, 0))


# ------------------------------------------------------------------------------------------------
# ELU (int8): TFLite Micro's float32 table; LiteRT 2.3 BUILTIN_REF has no ELU kernel


def test_elu_int8_every_value_bit_exact_with_tflm() -> None:
    """Every int8 input (in a random shape) at 40 random scale / zero-point pairs, coarse and fine
    (expf(x) − 1 saturating at −1, identity above 0 clamped at 127), against TFLite Micro."""
    rng = np.random.default_rng(11)
    pairs = [(0.6, 127, 1e-3, 0), (0.01, -128, 0.5, 5), (0.05, 10, 0.02, -128)]
    for _ in range(37):
        si, so = (float(np.exp(rng.uniform(np.log(1e-3), np.log(2.0)))) for _ in range(2))
        pairs.append((si, int(rng.integers(-128, 128)), so, int(rng.integers(-128, 128))))
    for si, zi, so, zo in pairs:
        shape = _shape(256)
        x = _every_value(shape, ALL_INT8)
        model = _unary("ELU", T(shape, scale=si, zero_point=zi), T(shape, scale=so, zero_point=zo))
        _check(f"ELU {si},{zi}->{so},{zo}", model, [x], litert=False)


def test_elu_int8_table_is_the_float32_rule() -> None:
    """One table written out: s_in = 0.1, z_in = 0, s_out = 0.05, z_out = −64; q = −20 → x = −2.0f,
    expf(−2) − 1 = −0.8646647f, ·(1/0.05f) = −17.293 → roundf −17, + (−64) = −81; q = 10 → x = 1.0f
    → 20 − 64 = −44; q = 127 → 12.7f → 254 − 64 = 190 → 127 (clamped)."""
    x = np.array([-20, 10, 127, 0], np.int8)
    model = _unary("ELU", T(x.shape, scale=0.1, zero_point=0), T(x.shape, scale=0.05, zero_point=-64))
    got = _check("ELU worked example", model, [x], litert=False)
    assert got.tolist() == [-81, -44, 127, -64]


def test_elu_litert_ref_has_no_kernel() -> None:
    """Why TFLite Micro is ELU's only oracle: LiteRT 2.3 BUILTIN_REF refuses the int8 ELU model."""
    model = _unary("ELU", T((4,), scale=0.1, zero_point=0), T((4,), scale=0.05, zero_point=0))
    with pytest.raises(Exception, match="ELU"):
        run_litert_ref(model, [np.zeros(4, np.int8)])


def test_elu_refuses_int16_and_per_axis() -> None:
    with pytest.raises(RuntimeModelError, match="ELU on int16"):
        Interpreter(_unary("ELU", T((4,), np.int16, 0.1, 0), T((4,), np.int16, 0.05, 0)))
    model = _unary("ELU", T((2, 2), scale=[0.1, 0.2], zero_point=[0, 0], axis=1), T((2, 2), scale=0.05))
    with pytest.raises(RuntimeModelError, match="ELU.*per axis"):
        Interpreter(model)


def test_relu_0_to_1_follows_litert() -> None:
    """TFLite Micro has no RELU_0_TO_1 kernel; LiteRT's reference kernel (QuantizedReluX(0, 1), float32
    multiplier) is the oracle: every int8 value at 20 scale / zero-point pairs, own RNG (the module's
    sequence stays as the earlier tests expect)."""
    rng = np.random.default_rng(12)
    cases = [(0.25, 0, 1 / 255, -128), (0.01, 3, 0.01, 3), (0.05, -128, 0.004, 127)]
    for _ in range(17):
        si, so = (float(np.float32(np.exp(rng.uniform(np.log(1e-3), np.log(0.1))))) for _ in range(2))
        cases.append((si, int(rng.integers(-128, 128)), so, int(rng.integers(-128, 128))))
    for si, zi, so, zo in cases:
        x = np.resize(rng.permutation(ALL_INT8), (3, 100)).astype(np.int8)
        model = _unary("RELU_0_TO_1", T(x.shape, scale=si, zero_point=zi), T(x.shape, scale=so, zero_point=zo))
        got, ref = ours(model, [x]), run_litert_ref(model, [x])[0]
        assert np.array_equal(got, ref), f"RELU_0_TO_1 {si},{zi}->{so},{zo}: LiteRT differs"
    with pytest.raises(RuntimeError):
        run_tflm(model, [x])


@pytest.mark.parametrize("op", ["LOGISTIC", "HARD_SWISH", "ELU"])
def test_large_int8_lut_ops_read_two_bytes_at_a_time_bit_exact(op: str) -> None:
    """Tensors of at least PAIR_LUT_MIN elements take the two-byte table (act.pair_table): every int8
    value at every byte position, against TFLite Micro; an odd element count keeps the one-byte path."""
    rng = np.random.default_rng(13)
    so = {"LOGISTIC": 1 / 256, "HARD_SWISH": 0.02, "ELU": 0.03}[op]
    zo = -128 if op == "LOGISTIC" else 5
    for shape in [(1, 64, 64, 32), (1, 65, 63, 33)]:
        n = int(np.prod(shape))
        assert n >= act.PAIR_LUT_MIN
        x = np.resize(rng.permutation(np.repeat(ALL_INT8, 2)), shape).astype(np.int8)
        model = _unary(op, T(shape, scale=0.05, zero_point=-3), T(shape, scale=so, zero_point=zo))
        _check(f"{op} {shape}", model, [x], litert=False)


def test_pair_table_maps_both_bytes() -> None:
    table = np.arange(256, dtype=np.int64).astype(np.uint8).view(np.int8)[::-1].copy()  # entry b -> 255 − b
    x = np.arange(-128, 128, dtype=np.int8).repeat(3)[: 766]
    got = np.take(act.pair_table(table), x.view(np.uint16)).view(np.int8)
    assert np.array_equal(got, np.take(table, x.view(np.uint8)))
