"""runtime/kernels/quantized/reduce.py against TFLite Micro, element for element.

Random one-op MEAN / SUM (int8, int16) and REDUCE_MAX / REDUCE_MIN (int8; int16 against LiteRT) models (ranks 1 to 4,
axes subsets with negative and repeated entries, keep_dims, scales, zero points, equal and different
input/output quantization) run in ``keras2edge.runtime.Interpreter`` and in TFLite Micro, compared
with ``np.array_equal``. LiteRT BUILTIN_REF is compared too, with the differences found here
asserted rather than hidden (see ``test_litert_reference_differences``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from keras2edge.runtime import Interpreter
from keras2edge.runtime import fixed_point as fp
from keras2edge.runtime.errors import RuntimeModelError
from keras2edge.runtime.kernels.quantized.reduce import mean_multiplier

from ...int8_bench import T, one_op_model, run_litert_ref, run_tflm


def _run(model: bytes, feeds: Sequence[np.ndarray]) -> np.ndarray:
    """Ours, asserted equal to TFLM."""
    ours = Interpreter(model).run(list(feeds))
    micro = run_tflm(model, feeds)[0]
    assert ours.shape == micro.shape and ours.dtype == micro.dtype, (ours.shape, micro.shape)
    bad = ours != micro
    assert not bad.any(), f"{np.count_nonzero(bad)} of {bad.size} differ from TFLM: " \
                          f"{ours[bad][:8].tolist()} vs {micro[bad][:8].tolist()}"
    return ours


def _out_shape(shape: tuple[int, ...], axes: Sequence[int], keep: bool) -> tuple[int, ...]:
    red = {a % len(shape) for a in axes}
    return tuple(1 if i in red else d for i, d in enumerate(shape)) if keep else \
        tuple(d for i, d in enumerate(shape) if i not in red)


def _model(op: str, x_shape: tuple[int, ...], dtype: type, axes: Sequence[int], keep: bool,
           in_q: tuple[float, int], out_q: tuple[float, int]) -> bytes:
    return one_op_model(op, [T(x_shape, dtype, scale=in_q[0], zero_point=in_q[1]),
                             T((len(axes),), np.int32, data=np.asarray(axes, np.int32))],
                        [T(_out_shape(x_shape, axes, keep), dtype, scale=out_q[0], zero_point=out_q[1])],
                        {"keep_dims": keep})


def _random_case(seed: int, op: str, dtype: type) -> tuple[bytes, np.ndarray, dict]:
    rng = np.random.default_rng(seed)
    int16 = dtype == np.int16
    rank = int(rng.integers(1, 5))
    shape = tuple(int(d) for d in rng.integers(1, 8, rank))
    if seed % 6 == 0 and rank == 4:  # GlobalAveragePooling2D: MEAN over [1, 2]
        axes = [1, 2]
    else:
        chosen = rng.permutation(rank)[: int(rng.integers(1, rank + 1))]
        axes = [int(a) - rank if rng.integers(2) else int(a) for a in chosen]  # negative axes too
        if rng.integers(4) == 0:
            axes.append(axes[0] + rank if axes[0] < 0 else axes[0] - rank)  # the same axis twice
    keep = bool(rng.integers(2))
    s_in = float(np.float32(np.exp(rng.uniform(np.log(1e-3), np.log(0.5)))))
    z_in = int(rng.integers(-128, 128))
    minmax = op in ("REDUCE_MAX", "REDUCE_MIN")
    if minmax or seed % 5 == 0:  # equal quantization (required by min/max; MEAN has no special path)
        s_out, z_out = s_in, z_in
    else:
        s_out = float(np.float32(s_in * np.exp(rng.uniform(-1.5, 3.0 if op == "SUM" else 1.5))))
        z_out = int(rng.integers(-128, 128))
    if int16:
        z_in, z_out = (0, 0) if seed % 2 else (z_in * 50, z_out * 50)
    lo, hi = (-32768, 32768) if int16 else (-128, 128)
    x = rng.integers(lo, hi, shape).astype(dtype)
    info = dict(axes=axes, keep=keep, s_in=s_in, z_in=z_in, s_out=s_out, z_out=z_out)
    return _model(op, shape, dtype, axes, keep, (s_in, z_in), (s_out, z_out)), x, info


@pytest.mark.parametrize("seed", range(60))
def test_mean_int8_matches_tflm(seed: int) -> None:
    model, x, _ = _random_case(seed, "MEAN", np.int8)
    _run(model, [x])


@pytest.mark.parametrize("seed", range(30))
def test_sum_int8_matches_tflm(seed: int) -> None:
    model, x, _ = _random_case(100 + seed, "SUM", np.int8)
    _run(model, [x])


@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize("op", ["MEAN", "SUM"])
def test_mean_and_sum_int16_match_tflm(op: str, seed: int) -> None:
    model, x, _ = _random_case(200 + seed, op, np.int16)
    _run(model, [x])


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("op", ["REDUCE_MAX", "REDUCE_MIN"])
def test_reduce_max_min_int8_match_tflm(op: str, seed: int) -> None:
    model, x, _ = _random_case(300 + seed, op, np.int8)
    ours = _run(model, [x])
    assert np.array_equal(run_litert_ref(model, [x])[0], ours)


def test_global_average_pool_7x7x1280() -> None:
    """MobileNetV2's head: MEAN over [1, 2] of Nx7x7x1280, keep_dims and not, with the input's
    quantization and others (TFLM's 4-D axes-{1, 2} case has no separate integer path)."""
    x = np.random.default_rng(5).integers(-128, 128, (2, 7, 7, 1280)).astype(np.int8)
    for keep in (True, False):
        for axes in ([1, 2], [2, 1]):
            for out_q in ((0.0118, -128), (0.0235, -128), (0.0235, 5)):  # equal quantization: no special path
                _run(_model("MEAN", x.shape, np.int8, axes, keep, (0.0235, -128), out_q), [x])


def test_mean_multiplier_worked_example() -> None:
    """int8-arithmetic.md §3.9: s_in/s_out = 0.05/0.03 -> (1789569707, 1); N = 49 -> k = 5,
    M' = 1789569707 * 32 // 49 = 1168698584, s' = -4."""
    assert fp.quantize_multiplier(0.05 / 0.03) == (1789569707, 1)
    assert mean_multiplier(1789569707, 1, 49) == (1168698584, -4)
    assert mean_multiplier(1 << 30, -31, 1000) == ((1 << 30) // 1000, -31)  # k clamped to 31 + s = 0
    assert mean_multiplier(1 << 30, 5, 1 << 40)[1] == 5 - 32  # k clamped to 32


def test_int32_sum_wraps_like_tflm() -> None:
    """int16 SUM of 70 000 values of 32767 overflows TFLM's int32 accumulator (2.29e9 > 2^31); both
    wrap it to -2001277296, which requantizes (multiplier 0.5) and clamps to -32768. (With multiplier
    1.0, (M, s) = (2^30, 1), MBQM's x << 1 wraps once more and the result is +32767: also TFLM's.)"""
    x = np.full((1, 70000), 32767, np.int16)
    assert _run(_model("SUM", x.shape, np.int16, [1], False, (0.5, 0), (1.0, 0)), [x]).tolist() == [-32768]
    assert _run(_model("SUM", x.shape, np.int16, [1], False, (1.0, 0), (1.0, 0)), [x]).tolist() == [32767]
    _run(_model("MEAN", x.shape, np.int16, [1], True, (1.0, 0), (1.0, 0)), [x])


def test_litert_reference_differences() -> None:
    """LiteRT BUILTIN_REF (ai-edge-litert 2.3.0) on the random cases: MEAN int8 equals TFLM on every
    case; SUM int8 does not follow TFLM (nor LiteRT's current source, which shares TFLM's
    QuantizedMeanOrSum): it differs on most outputs, by up to a few hundred LSB, with equal and
    with different quantization alike. The runtime follows TFLM; this pins the difference."""
    mean_same = sum_differs = 0
    for seed in range(30):
        model, x, _ = _random_case(seed, "MEAN", np.int8)
        mean_same += bool(np.array_equal(run_litert_ref(model, [x])[0], _run(model, [x])))
        model, x, _ = _random_case(seed, "SUM", np.int8)
        sum_differs += not np.array_equal(run_litert_ref(model, [x])[0], _run(model, [x]))
    assert mean_same == 30 and sum_differs >= 25


@pytest.mark.parametrize("op, dtype, in_q, out_q, match", [
    ("REDUCE_MAX", np.int8, (0.5, 1), (0.25, 1), "exactly the same quantization"),
    ("REDUCE_MIN", np.int8, (0.5, 1), (0.5, 2), "exactly the same quantization"),
    ("REDUCE_MAX", np.int8, (0.5, 1), (0.5 + 1e-7, 1), "exactly the same quantization"),
    ("MEAN", np.int8, (None, 0), (0.5, 0), "'in0'.*no quantization"),
    ("SUM", np.int8, (0.5, 0), (None, 0), "no quantization"),
    ("MEAN", np.int16, ([0.5, 0.5, 0.5], 0), (0.5, 0), "'in0'.*per axis"),
])
def test_reduce_bad_quantization(op: str, dtype: type, in_q: tuple, out_q: tuple, match: str) -> None:
    model = one_op_model(op, [T((2, 3), dtype, scale=in_q[0], zero_point=in_q[1], axis=1),
                              T((1,), np.int32, data=np.array([1], np.int32))],
                         [T((2,), dtype, scale=out_q[0], zero_point=out_q[1])], {"keep_dims": False})
    with pytest.raises(RuntimeModelError, match=match) as e:
        Interpreter(model).run(np.zeros((2, 3), dtype))
    assert op in str(e.value)


@pytest.mark.parametrize("seed", range(24))
@pytest.mark.parametrize("op", ["REDUCE_MAX", "REDUCE_MIN"])
def test_reduce_max_min_int16_match_litert_ref(op: str, seed: int) -> None:
    """TFLM has no int16 REDUCE_MAX / REDUCE_MIN (it refuses the model at invoke); LiteRT BUILTIN_REF
    has: the raw max / min, equal quantization, zero points 0."""
    model, x, info = _random_case(400 + 2 * seed + 1, op, np.int16)  # odd seeds: zero points 0
    assert info["z_in"] == 0
    ours = Interpreter(model).run(x)
    want = run_litert_ref(model, [x])[0]
    assert ours.dtype == want.dtype == np.int16 and ours.shape == want.shape and np.array_equal(ours, want)
    if seed == 0:
        with pytest.raises(RuntimeError):
            run_tflm(model, [x])


@pytest.mark.parametrize("in_q, out_q, match", [
    ((0.5, 3), (0.5, 3), r"int16 REDUCE_MAX needs zero point 0 on 'in0'"),
    ((0.5, 0), (0.25, 0), "exactly the same quantization"),
    ((None, 0), (0.5, 0), "'in0'.*no quantization"),
])
def test_int16_reduce_max_refusals(in_q: tuple, out_q: tuple, match: str) -> None:
    model = _model("REDUCE_MAX", (2, 3), np.int16, [1], False, in_q, out_q)
    with pytest.raises(RuntimeModelError, match=match) as e:
        Interpreter(model)
    assert "REDUCE_MAX" in str(e.value)
    if in_q[0] is not None:
        with pytest.raises(RuntimeError):
            run_litert_ref(model, [np.zeros((2, 3), np.int16)])


def test_axes_must_be_constant_int32() -> None:
    model = one_op_model("MEAN", [T((2, 3), np.int8, scale=0.5), T((1,), np.int32)], [T((2,), np.int8, scale=0.5)],
                         {"keep_dims": False})
    with pytest.raises(RuntimeModelError, match="'in1'.*constant") as e:
        Interpreter(model).run([np.zeros((2, 3), np.int8), np.array([1], np.int32)])
    assert "MEAN" in str(e.value)
