"""int8 SOFTMAX from the pieces in ``int8_tables`` (params, exp table, reciprocal) against TFLite
Micro and LiteRT BUILTIN_REF (both run gemmlowp's fixed-point reference; no difference documented).

Rows are at most 511 long: a row whose sum of exps reaches 512.0 (e.g. 512 equal values) makes
both oracles abort the process (gemmlowp's ``assert(exponent <= 31)`` in RoundingDivideByPOT, the
final shift being num_bits_over_unit + 23 > 31); ``softmax_int8`` computes a value there instead.
"""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.runtime import int8_tables as tables
from keras2edge.runtime.errors import RuntimeModelError
from keras2edge.runtime.fixed_point import INT32_MAX

from .int8_bench import T, one_op_model, run_litert_ref, run_tflm

RNG = np.random.default_rng(31)
OUT = dict(scale=1 / 256, zero_point=-128)

CASES = ([(float(np.float32(s)), 1.0, d) for s, d in zip(np.exp(RNG.uniform(np.log(1e-3), np.log(0.5), 12)),
                                                          [1, 2, 3, 5, 10, 16, 37, 100, 7, 64, 4, 511])]
         + [(0.1, 1.0, 10), (0.1, 0.5, 10), (0.05, 2.0, 20), (1 / 16, 1.0, 8), (0.5, 1.0, 300)])


@pytest.mark.parametrize("scale,beta,depth", CASES)
def test_softmax_matches_tflm(scale: float, beta: float, depth: int) -> None:
    rows = 16
    x = RNG.integers(-128, 128, (rows, depth)).astype(np.int8)
    x[0] = 127  # all equal
    x[1, :] = -128
    x[1, 0] = 127  # everything else far below the max: beyond diff_min when the scale allows
    x[2] = RNG.integers(120, 128, depth)  # close values
    zp = int(RNG.integers(-128, 128))
    model = one_op_model("SOFTMAX", [T((rows, depth), scale=scale, zero_point=zp)], [T((rows, depth), **OUT)],
                         options={"beta": beta}, version=2)
    want = tables.softmax_int8(x, tables.softmax_params(beta, scale))
    micro = run_tflm(model, [x])[0]
    assert np.array_equal(micro, want), f"TFLM differs in {np.count_nonzero(micro != want)} elements"
    assert np.array_equal(run_litert_ref(model, [x])[0], want)


def test_softmax_params_and_cutoff() -> None:
    # §3.10: s_in = 0.1 (as float32) -> real = 0.1·2^26 -> (M, L) with L = 23, diff_min = -floor(31·2^26 / 2^23) = -248
    p = tables.softmax_params(1.0, 0.1)
    assert (p.left_shift, p.diff_min) == (23, -248)
    table = tables.softmax_exp_table(p)
    assert table[0] == INT32_MAX and np.all(table[249:] == 0)  # exp(0) = 1; zero below diff_min
    exact = np.exp(-np.arange(249) * float(np.float32(0.1))) * 2 ** 31
    assert np.max(np.abs(table[:249] - exact)) < 2 ** 31 * 1e-6  # gemmlowp's exp is accurate to ~1e-7
    assert np.all(np.diff(table[:249]) <= 0)  # exp decreasing in |d|
    # a row with one element 255 below the max: that element is exactly -128
    assert tables.softmax_int8(np.array([[127, -128]], np.int8), p).tolist() == [[127, -128]]
    recip, bits = tables.softmax_reciprocal(np.array([1 << 19, 3 << 19]))  # sums 1.0 and 3.0 in Q12.19
    assert bits.tolist() == [0, 1]
    assert abs(int(recip[1]) / 2 ** 31 - 2 / 3) < 1e-8  # 1/3 = (2/3)·2^-1


def test_softmax_rejects_other_output_qparams() -> None:
    with pytest.raises(RuntimeModelError, match="1/256"):
        tables.softmax_params(1.0, 0.1, output_scale=1 / 255)
    with pytest.raises(RuntimeModelError, match="> 1"):
        tables.softmax_params(1.0, 1e-9)  # beta·s_in·2^26 < 1: TFLM's CHECK fails too
