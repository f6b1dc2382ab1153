"""runtime/kernels/quantized/dense.py against TFLite Micro, element for element.

Every case is a one-op quantized ``.tflite`` run in ``keras2edge.runtime.Interpreter`` and in TFLite
Micro (``run_tflm``, the golden oracle) and compared with ``np.array_equal``. LiteRT BUILTIN_REF runs
the same models: it must equal TFLM on BATCH_MATMUL and on 16x8 FULLY_CONNECTED, and on int8
FULLY_CONNECTED it must equal its documented single rounding ``round_half_away(double(acc) * real)``
(int8-arithmetic.md §3.2), which differs from TFLM by one at (and near) ties.

Also here: the float GEMM fast paths equal a plain int64 path, int32 accumulator wrap-around as in
TFLM, the precision of BATCH_MATMUL's multiplier, and the bad-quantization errors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from keras2edge.runtime import Interpreter
from keras2edge.runtime import fixed_point as fp
from keras2edge.runtime.errors import RuntimeModelError
from keras2edge.runtime.kernels.quantized import dense
from keras2edge.runtime.schema import ENUMS

from ...int8_bench import T, one_op_model, run_litert_ref, run_tflm

ACT = ENUMS["ActivationFunctionType"]
ACTS = [ACT["NONE"], ACT["RELU"], ACT["RELU6"], ACT["RELU_N1_TO_1"]]
I16 = (-32768, 32768)


def _f32(v: float) -> float:
    return float(np.float32(v))


def _scale(rng: np.random.Generator, lo: float = 1e-3, hi: float = 0.5) -> float:
    return _f32(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _run(model: bytes, feeds: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(ours, TFLM) for a one-output model; asserts they are equal."""
    ours = Interpreter(model).run(list(feeds))
    micro = run_tflm(model, feeds)[0]
    assert ours.shape == micro.shape and ours.dtype == micro.dtype, (ours.shape, micro.shape, ours.dtype, micro.dtype)
    bad = ours != micro
    assert not bad.any(), f"{np.count_nonzero(bad)} of {bad.size} elements differ from TFLM: " \
                          f"ours {ours[bad][:8].tolist()} vs TFLM {micro[bad][:8].tolist()}"
    return ours, micro


# ---------------------------------------------------------------------------------------------
# FULLY_CONNECTED: a random case, the TFLM model of it, and LiteRT's


def _fc_case(seed: int, dtype: type = np.int8) -> dict:
    rng = np.random.default_rng(seed)
    int16 = dtype == np.int16
    lead = tuple(int(d) for d in rng.integers(1, 4, rng.integers(1, 4)))  # input rank 2 to 4
    k = int(rng.choice([1, 3, 16, 37, 64, 200, 513]))
    units = int(rng.integers(1, 48))
    per_channel = bool(rng.integers(2))
    s_in, s_out = _scale(rng, 1e-4 if int16 else 1e-3), _scale(rng, 1e-3, 2.0)
    s_w = np.float32(np.exp(rng.uniform(np.log(1e-3), np.log(0.05), units if per_channel else 1)))
    if seed % 5 == 0:  # power-of-two scales: the multipliers are powers of two, accumulators hit exact ties
        s_in, s_out, s_w = 2.0 ** -int(rng.integers(3, 9)), 2.0 ** -int(rng.integers(0, 4)), np.float32([2.0 ** -6])
    z_in = 0 if int16 else int(rng.integers(-128, 128))
    z_out = 0 if int16 else int(rng.integers(-128, 128))
    w = rng.integers(-127, 128, (units, k)).astype(np.int8)
    if int16:
        bias_dtype = [np.int64, np.int32, None][seed % 3]
    else:
        bias_dtype = np.int32 if seed % 4 else None
    bias = None if bias_dtype is None else rng.integers(-(1 << 14), 1 << 14, units).astype(bias_dtype)
    keep = bool(rng.integers(2)) and len(lead) > 1
    x_shape = lead + (k,) if keep or rng.integers(2) else (int(np.prod(lead)), k)
    out_shape = x_shape[:-1] + (units,) if keep else (int(np.prod(x_shape)) // k, units)
    act = ACTS[int(rng.integers(len(ACTS)))]
    lo, hi = (-128, 128) if not int16 else I16
    return dict(x=rng.integers(lo, hi, x_shape).astype(dtype), s_in=s_in, z_in=z_in, w=w, s_w=s_w, bias=bias,
                s_out=s_out, z_out=z_out, keep=keep, out_shape=out_shape, act=act)


def _fc_model(c: dict) -> bytes:
    s_w = c["s_w"] if c["s_w"].size > 1 else float(c["s_w"][0])
    dt = c["x"].dtype.type
    inputs = [T(c["x"].shape, dt, scale=c["s_in"], zero_point=c["z_in"]),
              T(c["w"].shape, np.int8, scale=s_w, zero_point=0, data=c["w"]),
              None if c["bias"] is None else
              T(c["bias"].shape, c["bias"].dtype.type, scale=np.float32(c["s_in"]) * c["s_w"], data=c["bias"])]
    return one_op_model("FULLY_CONNECTED", inputs, [T(c["out_shape"], dt, scale=c["s_out"], zero_point=c["z_out"])],
                        {"fused_activation_function": c["act"], "keep_num_dims": c["keep"]}, version=4)


def _fc_acc(c: dict) -> np.ndarray:
    """The plain int64 accumulator sum_k w[c, k] (x[b, k] - z_in) + bias[c]."""
    x = c["x"].reshape(-1, c["w"].shape[1]).astype(np.int64) - c["z_in"]
    acc = x @ c["w"].astype(np.int64).T
    return acc if c["bias"] is None else acc + c["bias"].astype(np.int64)


def _fc_litert(c: dict) -> np.ndarray:
    """LiteRT BUILTIN_REF's int8 FC: one half-away rounding of double(acc) * s_in * s_w / s_out."""
    real = float(np.float32(c["s_in"])) * c["s_w"].astype(np.float64) / float(np.float32(c["s_out"]))
    dt = c["x"].dtype
    lo, hi = fp.activation_range(c["act"], c["s_out"], c["z_out"], int(np.iinfo(dt).min), int(np.iinfo(dt).max))
    y = fp.round_half_away(_fc_acc(c).astype(np.float64) * real) + c["z_out"]
    return np.clip(y, lo, hi).astype(dt).reshape(c["out_shape"])


FC_SEEDS = range(60)


@pytest.mark.parametrize("seed", FC_SEEDS)
def test_fully_connected_int8_matches_tflm(seed: int) -> None:
    c = _fc_case(seed)
    model = _fc_model(c)
    ours, _ = _run(model, [c["x"]])
    litert = run_litert_ref(model, [c["x"]])[0]
    assert np.array_equal(litert, _fc_litert(c))  # LiteRT's documented rounding, exactly
    assert np.all(np.abs(ours.astype(np.int16) - litert) <= 1)


def test_litert_fully_connected_differs_from_tflm_near_ties() -> None:
    """The documented difference, made certain. Real multiplier 2^-3 -> (M, s) = (2^30, -2): TFLM's
    SRDHM first rounds acc / 2 half-up, then RDBPOT rounds by 4 half-away; for acc = 8m + 3 the first
    step leaves the tie (4m + 2) / 4 = m + 1/2 and the result is m + 1, where LiteRT rounds
    (8m + 3) / 8 = m + 0.375 to m. Every other residue gives the same result in both."""
    c = _fc_case(5)
    c.update(s_in=2.0 ** -6, s_w=np.float32([2.0 ** -6]), s_out=2.0 ** -9, z_in=0, z_out=0, act=ACT["NONE"],
             bias=None)
    c["x"] = np.random.default_rng(0).integers(-3, 4, c["x"].shape).astype(np.int8)
    c["w"] = np.random.default_rng(1).integers(-3, 4, c["w"].shape).astype(np.int8)
    model = _fc_model(c)
    ours, _ = _run(model, [c["x"]])
    litert = run_litert_ref(model, [c["x"]])[0]
    assert np.array_equal(litert, _fc_litert(c))
    diff = ours.astype(np.int16) - litert
    acc = _fc_acc(c).reshape(ours.shape)
    assert np.count_nonzero(diff) > 0
    assert np.array_equal(diff != 0, (acc % 8 == 3) & (acc >= 0)) and np.all(diff[diff != 0] == 1)


@pytest.mark.parametrize("seed", range(24))
def test_fully_connected_16x8_matches_tflm(seed: int) -> None:
    """16x8 (seeds cycle through int64, int32 and no bias). LiteRT BUILTIN_REF rounds 16x8 FC like
    int8 (one half-away rounding in double) with an int64 bias or none; with an int32 bias its outputs
    do not follow from the bias at all (seen off by up to 65535; not explained here), so
    that case is compared with TFLM only."""
    c = _fc_case(1000 + seed, np.int16)
    model = _fc_model(c)
    ours, _ = _run(model, [c["x"]])
    if c["bias"] is None or c["bias"].dtype == np.int64:
        litert = run_litert_ref(model, [c["x"]])[0]
        assert np.array_equal(litert, _fc_litert(c))
        assert np.all(np.abs(ours.astype(np.int32) - litert) <= 1)


def test_16x8_bias_type_selects_the_accumulator() -> None:
    """int32 bias: int32 accumulator and the double-rounding MBQM; int64 bias or none: mbqm_int64
    (16-bit multiplier). The same model with an int32 and an int64 bias differs somewhere."""
    c = _fc_case(1003, np.int16)
    c["act"] = ACT["NONE"]
    c["bias"] = np.arange(c["w"].shape[0], dtype=np.int64) * 100
    out64, _ = _run(_fc_model(c), [c["x"]])
    c["bias"] = c["bias"].astype(np.int32)
    out32, _ = _run(_fc_model(c), [c["x"]])
    assert not np.array_equal(out32, out64)


def _int_reference(c: dict) -> np.ndarray:
    """FULLY_CONNECTED int8 in plain int64 NumPy: wrapped int32 acc, MBQM, zero point, clamp."""
    real = fp.REAL_MULTIPLIERS["FULLY_CONNECTED"](c["s_in"], c["s_w"], c["s_out"])
    m, s = fp.quantize_multiplier(np.asarray(real))
    lo, hi = fp.activation_range(c["act"], c["s_out"], c["z_out"])
    y = fp.mbqm(fp.wrap_int32(_fc_acc(c)), m, s) + c["z_out"]
    return np.clip(y, lo, hi).astype(np.int8).reshape(c["out_shape"])


@pytest.mark.parametrize("forced", ["float32", "float64", "int64"])
def test_gemm_paths_equal_the_integer_path(forced: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each GEMM dtype, forced, gives the plain integer result (the bound makes float32 exact here:
    K = 64, |x| <= 128, |w| <= 127 -> |partial sums| <= 64 * 128 * 127 < 2^24), and TFLM's."""
    monkeypatch.setattr(dense, "gemm_dtype", lambda bound: np.dtype(forced))
    rng = np.random.default_rng(3)
    for seed in (11, 12, 13, 14):
        c = _fc_case(seed)
        c["w"] = rng.integers(-127, 128, (c["w"].shape[0], 64)).astype(np.int8)
        c["x"] = rng.integers(-128, 128, c["x"].shape[:-1] + (64,)).astype(np.int8)
        if not c["keep"]:
            c["x"] = c["x"].reshape(-1, 64)
        model = _fc_model(c)
        assert np.array_equal(Interpreter(model).run(c["x"]), _int_reference(c))
    for seed in (3, 4):  # BATCH_MATMUL: K <= 100, so |partial sums| <= 100 * 255 * 255 < 2^24 too
        _run(*_bmm_case(seed))


def test_gemm_dtype_bounds() -> None:
    assert dense.gemm_dtype(1 << 24) == np.float32
    assert dense.gemm_dtype((1 << 24) + 1) == np.float64
    assert dense.gemm_dtype(1 << 53) == np.float64
    assert dense.gemm_dtype((1 << 53) + 1) == np.int64


def test_int32_accumulator_wraps_like_tflm() -> None:
    """A bias near INT32_MAX plus positive products overflows TFLM's int32 accumulator; both wrap."""
    c = _fc_case(21)
    units, k = c["w"].shape
    c.update(z_in=-128, s_in=2.0 ** -4, s_w=np.float32([2.0 ** -4]), s_out=2.0 ** 22, z_out=0, act=ACT["NONE"])
    c["w"] = np.full((units, k), 127, np.int8)
    c["x"] = np.full(c["x"].shape, 127, np.int8)
    c["bias"] = np.full(units, fp.INT32_MAX - 10, np.int32)
    assert (_fc_acc(c) > fp.INT32_MAX).all()
    ours, _ = _run(_fc_model(c), [c["x"]])
    assert np.array_equal(ours, _int_reference(c)) and (ours < 0).all()  # wrapped to a negative acc


def test_fully_connected_with_weights_and_bias_as_inputs() -> None:
    c = _fc_case(31)
    c["bias"] = np.arange(c["w"].shape[0], dtype=np.int32) - 7
    s_w = float(c["s_w"][0]) if c["s_w"].size == 1 else c["s_w"]
    model = one_op_model("FULLY_CONNECTED", [
        T(c["x"].shape, scale=c["s_in"], zero_point=c["z_in"]), T(c["w"].shape, scale=s_w),
        T(c["bias"].shape, np.int32, scale=np.float32(c["s_in"]) * c["s_w"])],
        [T(c["out_shape"], scale=c["s_out"], zero_point=c["z_out"])],
        {"fused_activation_function": c["act"], "keep_num_dims": c["keep"]}, version=4)
    ours, _ = _run(model, [c["x"], c["w"], c["bias"]])
    assert np.array_equal(ours, _int_reference(c))


# ---------------------------------------------------------------------------------------------
# BATCH_MATMUL


def _bmm_case(seed: int, dtype: type = np.int8) -> tuple[bytes, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    int16 = dtype == np.int16
    m, k, n = (int(v) for v in rng.integers(1, 9, 3))
    if seed % 3 == 0:
        k = int(rng.choice([32, 100]))
    rank_a, rank_b = (int(v) for v in rng.integers(2, 6, 2))
    batch = [int(v) for v in rng.integers(1, 4, 3)]
    ba = [d if rng.integers(3) else 1 for d in batch[3 - (rank_a - 2):]] if rank_a > 2 else []
    bb = [d if rng.integers(3) else 1 for d in batch[3 - (rank_b - 2):]] if rank_b > 2 else []
    adj_x, adj_y = bool(rng.integers(2)), bool(rng.integers(2))
    a_shape = tuple(ba) + ((k, m) if adj_x else (m, k))
    b_shape = tuple(bb) + ((n, k) if adj_y else (k, n))
    out_shape = tuple(np.broadcast_shapes(tuple(ba), tuple(bb))) + (m, n)
    lo, hi = I16 if int16 else (-128, 128)
    zs = [0, 0, 0] if int16 else [int(z) for z in rng.integers(-128, 128, 3)]
    s_a, s_b = _scale(rng, 1e-3, 0.1), _scale(rng, 1e-3, 0.1)
    s_out = _f32(s_a * s_b * np.exp(rng.uniform(0, 4)) * (2000 if int16 else 30))
    a = rng.integers(lo, hi, a_shape).astype(dtype)
    b = rng.integers(lo, hi, b_shape).astype(dtype)
    const_b = bool(seed % 2)
    model = one_op_model("BATCH_MATMUL", [T(a_shape, dtype, scale=s_a, zero_point=zs[0]),
                                          T(b_shape, dtype, scale=s_b, zero_point=zs[1], data=b if const_b else None)],
                         [T(out_shape, dtype, scale=s_out, zero_point=zs[2])], {"adj_x": adj_x, "adj_y": adj_y})
    return model, [a] if const_b else [a, b]


@pytest.mark.parametrize("seed", range(40))
def test_batch_matmul_int8_matches_tflm(seed: int) -> None:
    model, feeds = _bmm_case(seed)
    ours, _ = _run(model, feeds)
    assert np.array_equal(run_litert_ref(model, feeds)[0], ours)


@pytest.mark.parametrize("seed", range(12))
def test_batch_matmul_int16_matches_tflm(seed: int) -> None:
    model, feeds = _bmm_case(500 + seed, np.int16)
    ours, _ = _run(model, feeds)
    assert np.array_equal(run_litert_ref(model, feeds)[0], ours)


def _bmm_distinguishing_scales() -> tuple[float, float, float]:
    """(s_a, s_b, s_out) whose multiplier differs between double(s_a)*double(s_b) and the float32
    product TFLM's source writes (kernel_util.cc GetQuantizedConvolutionMultipler), visibly: some
    accumulator in [-255*127, 255*127] gives different MBQM results with an output inside int8."""
    rng = np.random.default_rng(99)
    acc = np.arange(-255 * 127, 255 * 127 + 1)
    while True:
        s_a, s_b, s_out = (np.float32(np.exp(rng.uniform(-7, -1))) for _ in range(3))
        s_out = np.float32(s_a * s_b * np.float32(np.exp(rng.uniform(4, 7))))
        r64 = float(s_a) * float(s_b) / float(s_out)
        r32 = float(np.float32(s_a * s_b)) / float(s_out)
        (m64, e64), (m32, e32) = fp.quantize_multiplier(r64), fp.quantize_multiplier(r32)
        if (m64, e64) == (m32, e32):
            continue
        d = (fp.mbqm(acc, m64, e64) != fp.mbqm(acc, m32, e32)) & (np.abs(fp.mbqm(acc, m64, e64)) < 100)
        if d.any():
            return float(s_a), float(s_b), float(s_out)


def test_batch_matmul_multiplier_is_double() -> None:
    """This tflite-micro build forms s_a * s_b in double (as docs/int8-findings.md found for FC), not
    in float32 as its source reads; ``dense`` uses REAL_MULTIPLIERS["FULLY_CONNECTED"]."""
    s_a, s_b, s_out = _bmm_distinguishing_scales()
    a = np.arange(-128, 128, dtype=np.int8).reshape(256, 1)  # K = 1: acc = a * b exactly
    b = np.arange(1, 128, dtype=np.int8).reshape(1, 127)
    model = one_op_model("BATCH_MATMUL", [T((256, 1), scale=s_a), T((1, 127), scale=s_b, data=b)],
                         [T((256, 127), scale=s_out)])
    ours, _ = _run(model, [a])
    m32, e32 = fp.quantize_multiplier(float(np.float32(np.float32(s_a) * np.float32(s_b))) / s_out)
    float32_rule = np.clip(fp.mbqm(a.astype(np.int64) * b, m32, e32), -128, 127)
    assert not np.array_equal(ours, float32_rule)


# ---------------------------------------------------------------------------------------------
# Bad quantization and types: RuntimeModelError naming the op and the tensor


def _fc_error(inputs: list, out: T, match: str) -> None:
    model = one_op_model("FULLY_CONNECTED", inputs, [out])
    with pytest.raises(RuntimeModelError, match=match) as e:
        Interpreter(model).run(np.zeros(inputs[0].shape, inputs[0].dtype))
    assert "FULLY_CONNECTED" in str(e.value)


W = np.ones((3, 4), np.int8)


@pytest.mark.parametrize("inputs, out, match", [
    ([T((2, 4)), T((3, 4), scale=0.1, data=W)], T((2, 3), scale=0.1), "'in0'.*no quantization"),
    ([T((2, 4), scale=0.1), T((3, 4), data=W)], T((2, 3), scale=0.1), "'const1'.*no quantization"),
    ([T((2, 4), scale=0.1), T((3, 4), scale=0.1, data=W)], T((2, 3)), "no quantization"),
    ([T((2, 4), scale=[0.1, 0.2], axis=0), T((3, 4), scale=0.1, data=W)], T((2, 3), scale=0.1), "'in0'.*per axis"),
    ([T((2, 4), scale=0.1), T((3, 4), scale=[0.1] * 4, axis=1, data=W)], T((2, 3), scale=0.1), "'const1'.*dimension 1"),
    ([T((2, 4), scale=0.1), T((3, 4), scale=0.1, zero_point=3, data=W)], T((2, 3), scale=0.1), "'const1'.*zero point"),
    ([T((2, 4), scale=0.1), T((3, 4), scale=0.1, data=W), T((3,), np.int64, scale=0.01, data=np.zeros(3))],
     T((2, 3), scale=0.1), "'const2'.*int32 bias"),
    ([T((2, 4), scale=0.1), T((3, 4), scale=0.1, data=W), T((3,), np.int32, scale=0.5, data=np.zeros(3))],
     T((2, 3), scale=0.1), "'const2'.*0.02"),
    ([T((2, 4), np.int16, scale=0.1), T((3, 4), scale=0.1, data=W), T((3,), np.int16, scale=0.01, data=np.zeros(3))],
     T((2, 3), np.int16, scale=0.1), "'const2'.*int64"),
    ([T((2, 4), scale=0.1), T((3, 4), scale=0.1, data=W)], T((2, 3), np.int16, scale=0.1), "output.*int8"),
])
def test_fully_connected_bad_quantization(inputs: list, out: T, match: str) -> None:
    _fc_error(inputs, out, match)


@pytest.mark.parametrize("a, b, out, match", [
    (T((2, 3), np.int16, scale=0.1, zero_point=1), T((3, 2), np.int16, scale=0.1), T((2, 2), np.int16, scale=0.1),
     "zero points 0"),
    (T((2, 3), scale=0.1), T((3, 2), scale=[0.1, 0.2], axis=1), T((2, 2), scale=0.1), "'in1'.*per axis"),
    (T((2, 3), scale=0.1), T((3, 2)), T((2, 2), scale=0.1), "'in1'.*no quantization"),
    (T((1, 1, 1, 1, 2, 3), scale=0.1), T((3, 2), scale=0.1), T((1, 1, 1, 1, 2, 2), scale=0.1), "ranks 2 to 5"),
])
def test_batch_matmul_bad_quantization(a: T, b: T, out: T, match: str) -> None:
    model = one_op_model("BATCH_MATMUL", [a, b], [out])
    with pytest.raises(RuntimeModelError, match=match) as e:
        Interpreter(model).run([np.zeros(a.shape, a.dtype), np.zeros(b.shape, b.dtype)])
    assert "BATCH_MATMUL" in str(e.value)


# ---------------------------------------------------------------------------------------------
# Hybrid FULLY_CONNECTED (float input, int8 weights): TFLM has no such kernel; LiteRT BUILTIN_REF is
# the oracle, bit for bit (float32 outputs compared with np.array_equal)


def _hybrid_case(seed: int, asymmetric: bool) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(seed)
    lead = tuple(int(d) for d in rng.integers(1, 4, rng.integers(1, 3)))
    k, units = int(rng.choice([1, 5, 64, 300])), int(rng.integers(1, 40))
    per_channel = bool(seed % 2)
    w = rng.integers(-127, 128, (units, k)).astype(np.int8)
    s_w = np.float32(rng.uniform(1e-3, 0.05, units if per_channel else 1))
    x = (rng.normal(rng.normal(0, 1), np.exp(rng.uniform(-3, 3)), lead + (k,))).astype(np.float32)
    if seed % 5 == 0:
        x.reshape(-1, k)[0] = 0  # an all-zero row: scale 1, q 0
    if seed % 7 == 0:
        x = np.abs(x)  # one-signed rows: the asymmetric zero point at an end
    bias = None if seed % 3 == 0 else rng.normal(0, 1, units).astype(np.float32)
    keep = bool(rng.integers(2)) and len(lead) > 1
    out_shape = lead + (units,) if keep else (int(np.prod(lead)), units)
    model = one_op_model("FULLY_CONNECTED", [
        T(x.shape, np.float32), T(w.shape, np.int8, scale=s_w if per_channel else float(s_w[0]), data=w),
        None if bias is None else T(bias.shape, np.float32, data=bias)], [T(out_shape, np.float32)],
        {"fused_activation_function": ACTS[seed % 4], "keep_num_dims": keep, "asymmetric_quantize_inputs": asymmetric},
        version=9)
    return model, x


@pytest.mark.parametrize("asymmetric", [False, True])
@pytest.mark.parametrize("seed", range(25))
def test_hybrid_fully_connected_matches_litert_reference(seed: int, asymmetric: bool) -> None:
    model, x = _hybrid_case(seed, asymmetric)
    ours = Interpreter(model).run(x)
    ref = run_litert_ref(model, [x])[0]
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    assert np.array_equal(ours, ref), f"{np.count_nonzero(ours != ref)} of {ours.size} differ"


def test_hybrid_weights_need_quantization() -> None:
    model = one_op_model("FULLY_CONNECTED", [T((2, 4), np.float32), T((3, 4), np.int8, data=W)], [T((2, 3), np.float32)])
    with pytest.raises(RuntimeModelError, match="FULLY_CONNECTED.*'const1'.*no quantization"):
        Interpreter(model).run(np.zeros((2, 4), np.float32))


def _hybrid_bmm_model(a_shape: tuple[int, ...], w: np.ndarray, s_w: np.ndarray, adj_x: bool, adj_y: bool,
                      asymmetric: bool) -> bytes:
    m, n = (a_shape[-1] if adj_x else a_shape[-2]), (w.shape[-2] if adj_y else w.shape[-1])
    out_shape = tuple(np.broadcast_shapes(a_shape[:-2], w.shape[:-2])) + (m, n)
    axis = w.ndim - 2 if adj_y else w.ndim - 1
    return one_op_model("BATCH_MATMUL", [T(a_shape, np.float32),
                                         T(w.shape, np.int8, scale=s_w if s_w.size > 1 else float(s_w[0]), axis=axis, data=w)],
                        [T(out_shape, np.float32)], {"adj_x": adj_x, "adj_y": adj_y, "asymmetric_quantize_inputs": asymmetric})


def _hybrid_bmm_case(seed: int) -> tuple[bytes, np.ndarray]:
    """At most one LHS batch dim above 1 (where LiteRT's reference indexes its row scales right)."""
    rng = np.random.default_rng(seed)
    m, k, n = (int(v) for v in rng.integers(1, 9, 3))
    k = 200 if seed % 3 == 0 else k
    ba = [(), (int(rng.integers(2, 4)),), (1, int(rng.integers(2, 4)))][seed % 3]
    bb = ba[len(ba) - int(rng.integers(0, len(ba) + 1)):]
    adj_x, adj_y = bool(rng.integers(2)), bool(rng.integers(2))
    a = rng.normal(rng.normal(0, 1), np.exp(rng.uniform(-2, 2)), ba + ((k, m) if adj_x else (m, k))).astype(np.float32)
    w = rng.integers(-127, 128, bb + ((n, k) if adj_y else (k, n))).astype(np.int8)
    s_w = np.float32(rng.uniform(1e-3, 0.05, n if seed % 2 else 1))
    return _hybrid_bmm_model(a.shape, w, s_w, adj_x, adj_y, bool(seed % 4 >= 2)), a


@pytest.mark.parametrize("seed", range(40))
def test_hybrid_batch_matmul_matches_litert_reference(seed: int) -> None:
    model, a = _hybrid_bmm_case(seed)
    ours, ref = Interpreter(model).run(a), run_litert_ref(model, [a])[0]
    assert ours.dtype == np.float32 and np.array_equal(ours, ref), f"{np.count_nonzero(ours != ref)} of {ours.size}"


def test_hybrid_batch_matmul_with_two_batch_dims_differs_from_litert() -> None:
    """LHS batch (2, 3): LiteRT's reference reads row scale (b0 + b1) * M + j for batch (b0, b1), not
    (3 b0 + b1) * M + j, so its results differ; ours equal each batch run as its own 2-D model,
    where LiteRT agrees with us."""
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (2, 3, 4, 16)).astype(np.float32)
    a *= np.exp(rng.uniform(-2, 2, (2, 3, 1, 1))).astype(np.float32)  # very different row scales per batch
    w = rng.integers(-127, 128, (16, 5)).astype(np.int8)
    s_w = np.float32([0.02])
    model = _hybrid_bmm_model(a.shape, w, s_w, False, False, False)
    ours = Interpreter(model).run(a)
    assert not np.array_equal(ours, run_litert_ref(model, [a])[0])
    for i in np.ndindex(2, 3):
        single = _hybrid_bmm_model((4, 16), w, s_w, False, False, False)
        ref = run_litert_ref(single, [a[i]])[0]
        assert np.array_equal(ours[i], ref) and np.array_equal(Interpreter(single).run(a[i]), ref)
