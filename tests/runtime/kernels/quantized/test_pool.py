"""runtime/kernels/quantized/pool.py against TFLite Micro, element for element.

Random one-op AVERAGE_POOL_2D / MAX_POOL_2D models (int8 and int16; windows, strides, SAME/VALID
padding, batch, zero points, fused activations) run in ``keras2edge.runtime.Interpreter`` and in
TFLite Micro, compared with ``np.array_equal``; LiteRT BUILTIN_REF must give the same bytes (no
documented difference for pooling). Plus hand-computed rounding of the average and the
equal-quantization rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from keras2edge.runtime import Interpreter
from keras2edge.runtime.errors import RuntimeModelError
from keras2edge.runtime.kernels.quantized.pool import average_float, average_int
from keras2edge.runtime.schema import ENUMS

from ...int8_bench import T, one_op_model, run_litert_ref, run_tflm

ACT = ENUMS["ActivationFunctionType"]
ACTS = [ACT["NONE"], ACT["RELU"], ACT["RELU6"], ACT["RELU_N1_TO_1"]]
SAME, VALID = 0, 1


def _run(model: bytes, feeds: Sequence[np.ndarray]) -> np.ndarray:
    """Ours, asserted equal to TFLM and to LiteRT BUILTIN_REF."""
    ours = Interpreter(model).run(list(feeds))
    micro = run_tflm(model, feeds)[0]
    assert ours.shape == micro.shape and ours.dtype == micro.dtype
    bad = ours != micro
    assert not bad.any(), f"{np.count_nonzero(bad)} of {bad.size} differ from TFLM: " \
                          f"{ours[bad][:8].tolist()} vs {micro[bad][:8].tolist()}"
    assert np.array_equal(run_litert_ref(model, feeds)[0], ours)
    return ours


def _out_size(n: int, k: int, s: int, padding: int) -> int:
    return -(-n // s) if padding == SAME else (n - k + s) // s


def _model(op: str, x_shape: tuple[int, ...], dtype: type, scale: float, zp: int, k: tuple[int, int],
           s: tuple[int, int], padding: int, act: int, out_q: tuple[float, int] | None = None) -> bytes:
    n, h, w, c = x_shape
    out_shape = (n, _out_size(h, k[0], s[0], padding), _out_size(w, k[1], s[1], padding), c)
    so, zo = out_q or (scale, zp)
    return one_op_model(op, [T(x_shape, dtype, scale=scale, zero_point=zp)],
                        [T(out_shape, dtype, scale=so, zero_point=zo)],
                        {"filter_height": k[0], "filter_width": k[1], "stride_h": s[0], "stride_w": s[1],
                         "padding": padding, "fused_activation_function": act})


def _random_case(seed: int, op: str, dtype: type) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(seed)
    int16 = dtype == np.int16
    h, w = (int(v) for v in rng.integers(1, 12, 2))
    n, c = int(rng.integers(1, 4)), int(rng.integers(1, 9))
    padding = int(rng.integers(2))
    k = tuple(int(v) for v in rng.integers(1, 6, 2))
    if padding == VALID:
        k = (min(k[0], h), min(k[1], w))
    s = tuple(int(v) for v in rng.integers(1, 4, 2))
    if seed % 7 == 0:  # global pooling, as Keras GlobalAveragePooling2D lowers to when it is not MEAN
        k, s, padding = (h, w), (1, 1), VALID
    scale = float(np.float32(np.exp(rng.uniform(np.log(1e-3), np.log(0.5)))))
    zp = 0 if int16 else int(rng.integers(-128, 128))
    lo, hi = (-32768, 32768) if int16 else (-128, 128)
    if int16 and seed % 3 == 0:  # small values: activation bounds inside the data's range
        lo, hi = -200, 200
    x = rng.integers(lo, hi, (n, h, w, c)).astype(dtype)
    act = ACTS[int(rng.integers(len(ACTS)))]
    return _model(op, x.shape, dtype, scale, zp, k, s, padding, act), x  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(50))
@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
def test_pool_int8_matches_tflm(op: str, seed: int) -> None:
    model, x = _random_case(seed, op, np.int8)
    _run(model, [x])


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
def test_pool_int16_matches_tflm(op: str, seed: int) -> None:
    model, x = _random_case(1000 + seed, op, np.int16)
    _run(model, [x])


def test_average_rounds_half_away_on_raw_values() -> None:
    """int8-arithmetic.md §3.8 by hand, on raw q (the zero point, 100, is not removed): 2x2 windows,
    stride 2, VALID. Sums 7/4 -> 2 (1.75), -7/4 -> -2, 6/4 -> 2 (1.5, half away), -6/4 -> -2,
    -3/4 -> -1 ((-3 - 2) / 4 truncated), 2/4 -> 1 (0.5 away from zero)."""
    windows = [(2, 2, 2, 1), (-2, -2, -2, -1), (2, 2, 1, 1), (-2, -2, -1, -1), (-1, -1, -1, 0), (1, 1, 0, 0)]
    x = np.zeros((1, 2, 12, 1), np.int8)
    for i, (a, b, c, d) in enumerate(windows):
        x[0, :, 2 * i:2 * i + 2, 0] = [[a, b], [c, d]]
    model = _model("AVERAGE_POOL_2D", x.shape, np.int8, 0.1, 100, (2, 2), (2, 2), VALID, ACT["NONE"])
    assert _run(model, [x]).reshape(-1).tolist() == [2, -2, 2, -2, -1, 1]


def test_same_padding_divides_by_in_image_taps_only() -> None:
    """3x3 SAME on a 2x2 image of 10s: every window holds the 4 pixels (padding not counted) -> 10."""
    x = np.full((1, 2, 2, 1), 10, np.int8)
    model = _model("AVERAGE_POOL_2D", x.shape, np.int8, 0.1, 0, (3, 3), (1, 1), SAME, ACT["NONE"])
    assert _run(model, [x]).reshape(-1).tolist() == [10, 10, 10, 10]


def test_float_average_equals_the_integer_definition() -> None:
    """The eval path (float64 with a precomputed reciprocal) against TFLM's integer formula: every
    sum near 0 and near the extremes, and random sums, for many tap counts (ties included)."""
    rng = np.random.default_rng(4)
    for n in [1, 2, 3, 4, 7, 9, 16, 49, 100, 576, 4096, 65536, 1 << 20]:
        top, w = n * 32768, 3 * min(n, 1000)
        sums = np.concatenate([np.arange(-w, w + 1), np.arange(top - w, top + 1), np.arange(-top, -top + w),
                               rng.integers(-top, top + 1, 5000)]).astype(np.float64)
        out = np.empty_like(sums)
        average_float(sums, np.floor(n / 2) + 0.5, 1.0 / n, out)
        assert np.array_equal(out, average_int(sums.astype(np.int64), n)), n


@pytest.mark.parametrize("dtype, hw", [(np.int16, 30), (np.int8, 64)])
def test_large_global_average_uses_float64_sums(dtype: type, hw: int) -> None:
    """900 int16 taps (sums beyond 2^24: float64 accumulation) and 4096 int8 taps, extreme values."""
    rng = np.random.default_rng(8)
    info = np.iinfo(dtype)
    x = rng.choice(np.array([info.min, info.max, info.max - 1, 0], dtype), (2, hw, hw, 3))
    x[1] = info.max
    model = _model("AVERAGE_POOL_2D", x.shape, dtype, 0.01, 0, (hw, hw), (1, 1), VALID, ACT["NONE"])
    _run(model, [x])


def test_scale_difference_within_tflm_tolerance_is_accepted() -> None:
    """TFLM accepts |s_in - s_out| <= 1e-6 (float32 difference); the kernel ignores the difference."""
    x = np.random.default_rng(0).integers(-128, 128, (1, 4, 4, 2)).astype(np.int8)
    model = _model("MAX_POOL_2D", x.shape, np.int8, 0.5, 3, (2, 2), (2, 2), VALID, ACT["NONE"], (0.5 + 5e-7, 3))
    _run(model, [x])


@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("in_q, out_q, match", [
    ((0.5, 3), (0.25, 3), "must share their quantization"),
    ((0.5, 3), (0.5, 4), "must share their quantization"),
    ((0.5, 3), (0.5 + 1e-5, 3), "must share their quantization"),
    ((None, 0), (0.5, 0), "'in0'.*no quantization"),
    ((0.5, 0), (None, 0), "no quantization"),
    (([0.5, 0.5], 0), (0.5, 0), "'in0'.*per axis"),
])
def test_pool_bad_quantization(op: str, in_q: tuple, out_q: tuple, match: str) -> None:
    x_shape = (1, 4, 4, 2)
    q_in = dict(scale=in_q[0], zero_point=in_q[1], axis=3)
    model = one_op_model(op, [T(x_shape, np.int8, **q_in)],
                         [T((1, 2, 2, 2), np.int8, scale=out_q[0], zero_point=out_q[1])],
                         {"filter_height": 2, "filter_width": 2, "stride_h": 2, "stride_w": 2, "padding": VALID})
    with pytest.raises(RuntimeModelError, match=match) as e:
        Interpreter(model).run(np.zeros(x_shape, np.int8))
    assert op in str(e.value)
