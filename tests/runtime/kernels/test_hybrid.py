"""runtime/kernels/hybrid.py: dynamic-range kernels (float32 activations, int8 constant weights) against
LiteRT's reference kernels (``BUILTIN_REF``; TFLite Micro has no hybrid kernels).

Each case is a one-op ``.tflite`` (float32 input without quantization, int8 constant weights with one
scale or one per output channel, float32 bias) run in ``keras2edge.runtime.Interpreter`` and in LiteRT.
The kernels reproduce LiteRT's input quantization and integer accumulation exactly, so the outputs are
compared **bit for bit** (and, as the brief's bound, within ``rel_err`` 1e-5). Random cases cover
shapes, strides, paddings, dilations, groups, depth multipliers, activations, per-tensor / per-channel /
equal per-channel scales, both FULLY_CONNECTED input-quantization options, inputs of one sign (zero
point at the end of the range) and all-zero rows; a few cases pin the arithmetic (the half-away
rounding, the float32 ``rmax - rmin`` of the asymmetric scale, the float64 GEMM path).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from keras2edge.runtime import Interpreter
from keras2edge.runtime.codes import ACT_NONE, ACT_RELU, ACT_RELU6, ACT_RELU_N1_TO_1, ACT_SIGN_BIT, ACT_TANH
from keras2edge.runtime.errors import RuntimeModelError
from keras2edge.runtime.kernels import hybrid
from keras2edge.runtime.kernels.base import conv_out_size

from ...corpus import FIXTURES
from ...litert import litert
from ...tolerances import rel_err
from ..int8_bench import T, one_op_model, run_litert_ref

TOL = 1e-5
CLAMPS = [ACT_NONE, ACT_RELU, ACT_RELU6, ACT_RELU_N1_TO_1]


def _input(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Float inputs of varied magnitude and offset; sometimes of one sign, sometimes with a zero row."""
    x = rng.normal(0, 1, shape) * np.exp(rng.uniform(-3, 3)) + rng.normal() * rng.uniform(0, 2)
    kind = rng.integers(0, 6)
    if kind == 0:
        x = np.abs(x)
    elif kind == 1:
        x = -np.abs(x)
    elif kind == 2 and shape[0] > 1:
        x[0] = 0
    return x.astype(np.float32)


def _scales(rng: np.random.Generator, n: int, mode: str) -> np.ndarray:
    if mode == "tensor":
        return np.float32([np.exp(rng.uniform(-7, -2))])
    if mode == "equal":
        return np.full(n, np.exp(rng.uniform(-7, -2)), np.float32)
    return np.exp(rng.uniform(-7, -2, n)).astype(np.float32)


def _weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    hi = int(rng.choice([127, 127, 40, 3]))
    return rng.integers(-hi, hi + 1, shape).astype(np.int8)


def _run_both(model: bytes, feeds: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    got = Interpreter(model).run(feeds[0] if len(feeds) == 1 else feeds)
    got = got if isinstance(got, np.ndarray) else next(iter(got.values()))
    want = run_litert_ref(model, feeds)[0]
    return got, want


def _assert_same(model: bytes, feeds: list[np.ndarray], what: str) -> None:
    got, want = _run_both(model, feeds)
    err = rel_err(got, want, same_dtype=True)
    assert err <= TOL, f"{what}: rel_err {err}"
    diff = np.flatnonzero(got != want)
    assert diff.size == 0, (f"{what}: {diff.size} of {got.size} elements differ, first {diff[:4].tolist()}: "
                            f"{got.flat[diff[:4]]} vs {want.flat[diff[:4]]}")


# ------------------------------------------------------------------------------ CONV_2D

def _conv_case(rng: np.random.Generator):
    while True:
        n, h, w = int(rng.integers(1, 3)), int(rng.integers(1, 11)), int(rng.integers(1, 11))
        groups = int(rng.choice([1, 1, 1, 2, 3]))
        cin_g, cout_g = int(rng.integers(1, 6)), int(rng.integers(1, 5))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        dh, dw = (1, 1) if rng.random() < 0.6 else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        padding = int(rng.integers(0, 2))
        if padding == 1 and ((kh - 1) * dh + 1 > h or (kw - 1) * dw + 1 > w):
            continue
        return n, h, w, groups, cin_g, cout_g, kh, kw, sh, sw, dh, dw, padding


def conv_model(rng: np.random.Generator, case, mode: str, act: int, bias: bool = True) -> tuple[bytes, list]:
    n, h, w, groups, cin_g, cout_g, kh, kw, sh, sw, dh, dw, padding = case
    cin, cout = cin_g * groups, cout_g * groups
    wt = _weights(rng, (cout, kh, kw, cin_g))
    # grouped: one scale per channel (LiteRT refuses one scale), equal ones run the per-channel path too
    scales = _scales(rng, cout, "channel" if groups > 1 and mode == "tensor" else mode)
    b = rng.normal(0, 1, cout).astype(np.float32)
    opts = {"padding": padding, "stride_h": sh, "stride_w": sw, "dilation_h_factor": dh, "dilation_w_factor": dw,
            "fused_activation_function": act}
    out = (n, conv_out_size(padding, h, kh, sh, dh), conv_out_size(padding, w, kw, sw, dw), cout)
    m = one_op_model("CONV_2D", [T((n, h, w, cin), np.float32), T(wt.shape, np.int8, scale=scales, data=wt),
                                 T((cout,), np.float32, data=b) if bias else None],
                     [T(out, np.float32)], opts)
    return m, [_input(rng, (n, h, w, cin))]


@pytest.mark.parametrize("mode", ["tensor", "channel", "equal"])
def test_conv_2d_matches_litert_bit_for_bit(mode: str) -> None:
    """per-tensor: EvalHybrid (symmetric); per-channel (and grouped): EvalHybridPerChannel (asymmetric);
    equal per-channel scales without groups: EvalHybrid with the first scale."""
    rng = np.random.default_rng({"tensor": 1, "channel": 2, "equal": 3}[mode])
    for i in range(30):
        case = _conv_case(rng)
        if mode == "tensor" and case[3] > 1:
            case = (case[0], case[1], case[2], 1) + case[4:]
        m, feeds = conv_model(rng, case, mode, CLAMPS[i % 4])
        _assert_same(m, feeds, f"CONV_2D {mode} case {i} {case}")


# ------------------------------------------------------------------------------ DEPTHWISE_CONV_2D

def test_depthwise_conv_2d_matches_litert_bit_for_bit() -> None:
    rng = np.random.default_rng(4)
    for i in range(40):
        n, h, w = int(rng.integers(1, 3)), int(rng.integers(1, 11)), int(rng.integers(1, 11))
        cin, mult = int(rng.integers(1, 7)), int(rng.choice([1, 1, 2, 3]))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        sh, sw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        dh, dw = (1, 1) if i % 3 else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        padding = 0 if (kh - 1) * dh + 1 > h or (kw - 1) * dw + 1 > w else int(rng.integers(0, 2))
        cout = cin * mult
        wt = _weights(rng, (1, kh, kw, cout))
        scales = _scales(rng, cout, "equal" if i % 5 == 0 else "channel")
        b = rng.normal(0, 1, cout).astype(np.float32)
        opts = {"padding": padding, "stride_h": sh, "stride_w": sw, "dilation_h_factor": dh,
                "dilation_w_factor": dw, "depth_multiplier": mult, "fused_activation_function": CLAMPS[i % 4]}
        out = (n, conv_out_size(padding, h, kh, sh, dh), conv_out_size(padding, w, kw, sw, dw), cout)
        m = one_op_model("DEPTHWISE_CONV_2D", [T((n, h, w, cin), np.float32),
                                               T(wt.shape, np.int8, scale=scales, axis=3, data=wt),
                                               T((cout,), np.float32, data=b)],
                         [T(out, np.float32)], opts)
        _assert_same(m, [_input(rng, (n, h, w, cin))], f"DEPTHWISE_CONV_2D case {i}")


# ------------------------------------------------------------------------------ FULLY_CONNECTED

def fc_model(rng: np.random.Generator, in_shape: tuple[int, ...], units: int, mode: str, asym: bool, act: int,
             keep: bool = False, bias: bool = True) -> bytes:
    k = in_shape[-1]
    wt = _weights(rng, (units, k))
    scales = _scales(rng, units, mode)
    out = in_shape[:-1] + (units,) if keep else (int(np.prod(in_shape)) // k, units)
    b = rng.normal(0, 1, units).astype(np.float32)
    return one_op_model("FULLY_CONNECTED", [T(in_shape, np.float32), T(wt.shape, np.int8, scale=scales, data=wt),
                                            T((units,), np.float32, data=b) if bias else None],
                        [T(out, np.float32)], {"asymmetric_quantize_inputs": asym, "keep_num_dims": keep,
                                               "fused_activation_function": act})


@pytest.mark.parametrize("asym", [False, True])
@pytest.mark.parametrize("mode", ["tensor", "channel", "equal"])
def test_fully_connected_matches_litert_bit_for_bit(mode: str, asym: bool) -> None:
    rng = np.random.default_rng(10 + 2 * ["tensor", "channel", "equal"].index(mode) + asym)
    for i in range(25):
        k, units = int(rng.integers(1, 300)), int(rng.integers(1, 40))
        lead = [(int(rng.integers(1, 5)),), (2, int(rng.integers(1, 4))), (1,)][i % 3]
        keep = i % 3 == 1
        m = fc_model(rng, lead + (k,), units, mode, asym, (CLAMPS + [ACT_TANH])[i % 5], keep, bias=i % 7 != 3)
        x = _input(rng, lead + (k,))
        if i % 5 == 0:
            _assert_same(m, [x], f"FULLY_CONNECTED {mode} asym={asym} case {i}")
        else:  # TANH: LiteRT's vectorized tanh is not libm's; within the float tolerance
            got, want = _run_both(m, [x])
            assert rel_err(got, want, same_dtype=True) <= TOL, (mode, asym, i)
            if i % 5 != 4:
                assert np.array_equal(got, want), (mode, asym, i)


def test_fully_connected_tanh_and_sign_bit() -> None:
    """ApplyActivationToVector: SIGN_BIT bit for bit; TANH within a few float32 ulps (LiteRT's
    vectorized tanh is not libm's), as the module docstring says."""
    rng = np.random.default_rng(15)
    for i in range(4):
        x = _input(rng, (4, 50))
        got, want = _run_both(fc_model(rng, (4, 50), 30, "channel", bool(i % 2), ACT_SIGN_BIT), [x])
        assert np.array_equal(got, want)
        got, want = _run_both(fc_model(rng, (4, 50), 30, "channel", bool(i % 2), ACT_TANH), [x])
        assert np.abs(got - want).max() <= 4e-7


# ------------------------------------------------------------------------------ BATCH_MATMUL

#: (LHS batch dims, RHS batch dims) that LiteRT's hybrid BATCH_MATMUL indexes correctly: after its
#: [..., 1, K, N] RHS squeeze (done without adj_x only), at most one batch dimension larger than 1 (see the next test).
BMM_BATCHES = [((), ()), ((2,), ()), ((3,), (3,)), ((1, 2), (1,)), ((2, 3), (2, 1)), ((4,), (1,))]


@pytest.mark.parametrize("asym", [False, True])
def test_batch_matmul_matches_litert_bit_for_bit(asym: bool) -> None:
    rng = np.random.default_rng(20 + asym)
    for i in range(24):
        m_, k, n_ = int(rng.integers(1, 6)), int(rng.integers(1, 200)), int(rng.integers(1, 12))
        adj_x, adj_y = bool(i & 1), bool(i & 2)
        a_batch, b_batch = BMM_BATCHES[(i >> 2) % len(BMM_BATCHES)]
        if adj_x and sum(d > 1 for d in a_batch) > 1:  # LiteRT squeezes the RHS only without adj_x
            a_batch, b_batch = (6,), ()
        a_shape = a_batch + ((k, m_) if adj_x else (m_, k))
        b_shape = b_batch + ((n_, k) if adj_y else (k, n_))
        wt = _weights(rng, b_shape)
        per_channel = i % 3 == 0
        scales = _scales(rng, n_, "channel" if per_channel else "tensor")
        axis = len(b_shape) - (2 if adj_y else 1)
        out_shape = tuple(np.broadcast_shapes(a_batch, b_batch)) + (m_, n_)
        model = one_op_model("BATCH_MATMUL", [T(a_shape, np.float32),
                                              T(b_shape, np.int8, scale=scales, axis=axis, data=wt)],
                             [T(out_shape, np.float32)], {"adj_x": adj_x, "adj_y": adj_y,
                                                          "asymmetric_quantize_inputs": asym})
        _assert_same(model, [_input(rng, a_shape)], f"BATCH_MATMUL asym={asym} case {i} {a_shape} x {b_shape}")


def test_batch_matmul_with_two_batch_dims_differs_from_litert_as_documented() -> None:
    """LiteRT 2.3's hybrid BATCH_MATMUL steps its per-row scaling-factor and zero-point pointers by M
    rows for every batch dimension (``ioff_ext = rhs_cols``), not by the rows of the whole inner block:
    with two batch dimensions larger than 1 it scales rows with another row's factors. keras2edge
    computes the product itself: equal, bit for bit, to LiteRT on the same data with the batch
    dimensions merged into one (which LiteRT indexes correctly), and unlike LiteRT on the 4-D file."""
    rng = np.random.default_rng(22)
    m_, k, n_ = 4, 20, 5
    a = _input(rng, (2, 3, m_, k)) + np.arange(6, dtype=np.float32).reshape(2, 3, 1, 1)
    wt = _weights(rng, (k, n_))
    scales = _scales(rng, 1, "tensor")

    def model(a_shape: tuple[int, ...]) -> bytes:
        return one_op_model("BATCH_MATMUL", [T(a_shape, np.float32), T(wt.shape, np.int8, scale=scales, data=wt)],
                            [T(a_shape[:-1] + (n_,), np.float32)], {"asymmetric_quantize_inputs": True})

    got = Interpreter(model(a.shape)).run(a)
    merged = run_litert_ref(model((6, m_, k)), [a.reshape(6, m_, k)])[0].reshape(got.shape)
    assert np.array_equal(got, merged)
    assert not np.allclose(run_litert_ref(model(a.shape), [a])[0], merged, rtol=1e-3)


# ------------------------------------------------------------------------------ arithmetic pins

def test_round_half_away_and_the_asymmetric_scale() -> None:
    y = np.float32([0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997, 126.5, 3.4999998])
    hybrid._round_half_away(y, np.empty_like(y))
    assert y.tolist() == [1, -1, 2, -2, 3, -3, 0, 0, 127, 3]
    # rmax - rmin is formed in float32 before the double division: 1e-8 - (-1.0) rounds to 1.0
    sf, zp, _ = hybrid.asymmetric_params(np.float32([-1.0]), np.float32([1e-8]))
    assert sf[0] == np.float32(1.0 / 255) and zp[0] == 127
    sf, zp, _ = hybrid.asymmetric_params(np.float32([0.0]), np.float32([0.0]))
    assert sf[0] == 1 and zp[0] == 0
    sf, inv = hybrid.symmetric_params(np.float32([0.0, -2.0]), np.float32([0.0, 1.0]))
    assert sf.tolist() == [1, np.float32(2) / np.float32(127)] and inv[0] == 0


def test_asymmetric_quantization_rounds_before_adding_the_zero_point() -> None:
    """The wheel computes zp + round(x * inv), not round(zp + x * inv) as the source reads: rows searched
    where the two disagree, run through an identity FULLY_CONNECTED (output = (q - zp) * sf)."""
    rng = np.random.default_rng(32)
    k, found = 64, []
    while len(found) < 8:
        x = (rng.normal(0, 1, (20000, k)) * np.exp(rng.uniform(-3, 3, (20000, 1)))
             + rng.normal(0, 2, (20000, 1))).astype(np.float32)
        _, zp, inv = hybrid.asymmetric_params(x.min(1), x.max(1))
        p = (x * inv[:, None]).astype(np.float32)
        source = (p + zp[:, None].astype(np.float32)).astype(np.float32)
        wheel = p.copy()
        hybrid._round_half_away(source, np.empty_like(source))
        hybrid._round_half_away(wheel, np.empty_like(wheel))
        wheel += zp[:, None]
        found += list(x[np.flatnonzero((np.clip(source, -128, 127) != np.clip(wheel, -128, 127)).any(1))])
    rows = np.array(found[:8])
    m = one_op_model("FULLY_CONNECTED", [T(rows.shape, np.float32),
                                         T((k, k), np.int8, scale=1.0, data=np.eye(k, dtype=np.int8)), None],
                     [T(rows.shape, np.float32)], {"asymmetric_quantize_inputs": True})
    _assert_same(m, [rows], "identity FC on rows where the rounding orders disagree")


def test_asymmetric_zero_point_comes_from_the_double_scale_of_the_float32_range() -> None:
    """Rows whose zero point sits near a half, where the rule (scale = double(float32 rmax - rmin) / 255,
    zero point from that double scale) and its neighbours (the exact double range; the float32 scale)
    round the zero point differently: bit-exact with LiteRT on all of them."""
    rng = np.random.default_rng(34)
    k = 16
    lo = -np.exp(rng.uniform(-3, 3, 20000))
    frac = rng.integers(1, 255, 20000) + 0.5 + rng.normal(0, 1e-6, 20000)
    lo, hi = lo.astype(np.float32), (-lo * (255 - frac) / frac).astype(np.float32)  # zp near -128 + frac
    _, zp, _ = hybrid.asymmetric_params(lo, hi)

    def zero_point(scale: np.ndarray) -> np.ndarray:  # ChooseQuantizationParams' smaller-error end
        lo64, hi64 = lo.astype(np.float64), hi.astype(np.float64)
        from_min = np.abs(lo64 / scale) + 128 < np.abs(hi64 / scale) + 127
        zpd = np.where(from_min, -128 - lo64 / scale, 127 - hi64 / scale)
        return np.clip(np.sign(zpd) * np.floor(np.abs(zpd) + 0.5), -128, 127)

    assert np.array_equal(zero_point((hi - lo).astype(np.float64) / 255), zp)
    exact = zero_point((hi.astype(np.float64) - lo) / 255)
    f32 = zero_point(((hi - lo).astype(np.float64) / 255).astype(np.float32).astype(np.float64))
    pick = np.flatnonzero((exact != zp) | (f32 != zp))[:16]
    assert pick.size >= 8
    rows = rng.uniform(lo[pick, None], hi[pick, None], (pick.size, k)).astype(np.float32)
    rows[:, 0], rows[:, 1] = lo[pick], hi[pick]
    m = one_op_model("FULLY_CONNECTED", [T(rows.shape, np.float32),
                                         T((k, k), np.int8, scale=1.0, data=np.eye(k, dtype=np.int8)), None],
                     [T(rows.shape, np.float32)], {"asymmetric_quantize_inputs": True})
    _assert_same(m, [rows], "identity FC on rows with a zero point near a half")


def test_wide_accumulators_split_the_depth() -> None:
    """K * 255 * 127 >= 2^24 (K = 700, full-range weights): the GEMM runs in exact float32 spans summed
    in float64; still bit-exact with LiteRT, and equal to the plain integer computation."""
    rng = np.random.default_rng(30)
    k, units = 700, 9
    wt = rng.integers(-127, 128, (units, k)).astype(np.int8)
    wt[0, 0] = 127
    assert hybrid.k_splits(k, 255, wt) == [(0, 518), (518, 700)] and hybrid.k_splits(k, 3, wt) == [(0, 700)]
    scales = _scales(rng, units, "channel")
    m = one_op_model("FULLY_CONNECTED", [T((3, k), np.float32), T(wt.shape, np.int8, scale=scales, data=wt), None],
                     [T((3, units), np.float32)], {"asymmetric_quantize_inputs": True})
    x = (np.abs(rng.normal(0, 1, (3, k))) + 3).astype(np.float32)  # one sign: |q - zp| up to 255
    _assert_same(m, [x], "FC K=700")
    # the plain integer path: q - zp in int64, one rounding to float32, then the scales
    lo, hi = x.min(1), x.max(1)
    sf, zp, inv = hybrid.asymmetric_params(lo, hi)
    y = (x * inv[:, None]).astype(np.float32)
    hybrid._round_half_away(y, np.empty_like(y))
    q = np.clip(y + zp[:, None], -128, 127).astype(np.int64) - zp[:, None]
    acc = (q @ wt.T.astype(np.int64)).astype(np.float32)
    want = acc * (sf[:, None] * scales[None, :]).astype(np.float32)
    assert np.array_equal(Interpreter(m).run(x), want)
    # and a conv whose K = 9 * 64 needs float64 for asymmetric inputs
    case = (1, 6, 6, 1, 64, 4, 3, 3, 1, 1, 1, 1, 0)
    cm, feeds = conv_model(rng, case, "channel", ACT_NONE)
    _assert_same(cm, feeds, "CONV_2D K=576 per channel")


def _conv_int64(x: np.ndarray, wt: np.ndarray, scales: np.ndarray, bias: np.ndarray, stride: int,
                padding: int, groups: int) -> np.ndarray:
    """The per-channel hybrid CONV_2D the plain way: asymmetric quantization with an independent
    half-away rounding (float64 floor; zp added after it, as the wheel does), int64 accumulation over
    the taps inside the image, the scales."""
    n, h, w, cin = x.shape
    cout, kh, kw, cin_g = wt.shape
    sf, zp, inv = hybrid.asymmetric_params(x.reshape(n, -1).min(1), x.reshape(n, -1).max(1))
    y64 = (x * inv[:, None, None, None]).astype(np.float32).astype(np.float64)
    zp4 = zp[:, None, None, None]
    q = np.clip(np.sign(y64) * np.floor(np.abs(y64) + 0.5) + zp4, -128, 127).astype(np.int64) - zp4
    oh, ow = conv_out_size(padding, h, kh, stride, 1), conv_out_size(padding, w, kw, stride, 1)
    pt = max((oh - 1) * stride + kh - h, 0) // 2
    pl = max((ow - 1) * stride + kw - w, 0) // 2
    qp = np.zeros((n, h + 2 * kh + stride * oh, w + 2 * kw + stride * ow, cin), np.int64)
    qp[:, pt:pt + h, pl:pl + w] = q  # outside the image: skipped taps (0 after the offset)
    acc = np.zeros((n, oh, ow, cout), np.int64)
    cout_g = cout // groups
    for g in range(groups):
        wg = wt[g * cout_g:(g + 1) * cout_g].astype(np.int64)
        for i in range(kh):
            for j in range(kw):
                patch = qp[:, i:i + stride * oh:stride, j:j + stride * ow:stride, g * cin_g:(g + 1) * cin_g]
                acc[..., g * cout_g:(g + 1) * cout_g] += patch @ wg[:, i, j, :].T
    out = (acc.astype(np.float32) * scales).astype(np.float32) * sf[:, None, None, None]
    return (out.astype(np.float32) + bias).astype(np.float32)


@pytest.mark.parametrize("cin, groups, k, spans", [(64, 1, 3, 2), (8, 2, 3, 1), (128, 2, 3, 2), (3, 1, 5, 1)])
def test_conv_2d_equals_the_plain_integer_path(cin: int, groups: int, k: int, spans: int) -> None:
    """Both GEMM paths (one exact float32 span; several spans summed in float64: 9 * 64 > 518) against
    int64 arithmetic, and against LiteRT."""
    rng = np.random.default_rng(33 + cin)
    n, h, w, cout, stride = 2, 7, 6, 6, 2
    wt = rng.integers(-127, 128, (cout, k, k, cin // groups)).astype(np.int8)
    wt.flat[0] = -127
    assert len(hybrid.k_splits(k * k * cin // groups, 255, wt)) == spans
    scales = _scales(rng, cout, "channel")
    bias = rng.normal(0, 1, cout).astype(np.float32)
    out = (n, conv_out_size(0, h, k, stride, 1), conv_out_size(0, w, k, stride, 1), cout)
    m = one_op_model("CONV_2D", [T((n, h, w, cin), np.float32), T(wt.shape, np.int8, scale=scales, data=wt),
                                 T((cout,), np.float32, data=bias)], [T(out, np.float32)],
                     {"padding": 0, "stride_h": stride, "stride_w": stride})
    x = _input(rng, (n, h, w, cin))
    got = Interpreter(m).run(x)
    assert np.array_equal(got, _conv_int64(x, wt, scales, bias, stride, 0, groups))
    _assert_same(m, [x], f"CONV_2D cin={cin} groups={groups}")


def test_all_zero_input_gives_the_bias() -> None:
    rng = np.random.default_rng(31)
    m = fc_model(rng, (2, 16), 5, "tensor", True, ACT_NONE)
    _assert_same(m, [np.zeros((2, 16), np.float32)], "zero FC")
    case = (1, 4, 4, 1, 3, 2, 3, 3, 1, 1, 1, 1, 0)
    cm, _ = conv_model(rng, case, "channel", ACT_RELU)
    _assert_same(cm, [np.zeros((1, 4, 4, 3), np.float32)], "zero CONV_2D")


# ------------------------------------------------------------------------------ bad quantization

def _bad(op: str, w: T, inputs_extra=(), opts=None, x_shape=(1, 4, 4, 2), out=(1, 4, 4, 3)) -> bytes:
    return one_op_model(op, [T(x_shape, np.float32), w, *inputs_extra], [T(out, np.float32)], opts or {})


@pytest.mark.parametrize("op, w, extra, opts, x_shape, out, message", [
    ("CONV_2D", T((3, 1, 1, 2), np.int8, data=np.ones((3, 1, 1, 2), np.int8)), (), None, (1, 4, 4, 2), (1, 4, 4, 3),
     "no quantization parameters"),
    ("CONV_2D", T((3, 1, 1, 2), np.int8, scale=0.1, zero_point=3, data=np.ones((3, 1, 1, 2), np.int8)), (), None,
     (1, 4, 4, 2), (1, 4, 4, 3), "non-zero zero points"),
    ("CONV_2D", T((3, 1, 1, 2), np.int8, scale=[0.1, 0.2], axis=3, data=np.ones((3, 1, 1, 2), np.int8)), (), None,
     (1, 4, 4, 2), (1, 4, 4, 3), "quantized_dimension 3"),
    ("CONV_2D", T((3, 1, 1, 2), np.int8, scale=0.1, data=np.ones((3, 1, 1, 2), np.int8)),
     (T((3,), np.int32, data=np.zeros(3, np.int32)),), None, (1, 4, 4, 2), (1, 4, 4, 3), "must be float32"),
    ("CONV_2D", T((4, 1, 1, 1), np.int8, scale=0.1, data=np.ones((4, 1, 1, 1), np.int8)), (), None,
     (1, 4, 4, 2), (1, 4, 4, 4), "grouped hybrid CONV_2D needs one filter scale per output channel"),
    ("DEPTHWISE_CONV_2D", T((1, 1, 1, 2), np.int8, scale=0.1, data=np.ones((1, 1, 1, 2), np.int8)), (),
     {"depth_multiplier": 1}, (1, 4, 4, 2), (1, 4, 4, 2), "one filter scale per output channel"),
    ("FULLY_CONNECTED", T((3, 8), np.int8, scale=[0.1, 0.2, 0.3], axis=1, data=np.ones((3, 8), np.int8)), (), None,
     (2, 8), (2, 3), "quantized_dimension 1"),
    ("FULLY_CONNECTED", T((3, 8), np.int8, scale=[0.1, 0.0, 0.3], data=np.ones((3, 8), np.int8)), (), None,
     (2, 8), (2, 3), "non-positive"),
    ("BATCH_MATMUL", T((8, 3), np.int8, scale=[0.1, 0.2, 0.3], axis=0, data=np.ones((8, 3), np.int8)), (), None,
     (2, 8), (2, 3), "quantized_dimension 0"),
])
def test_bad_weight_quantization_is_refused_naming_op_and_tensor(op, w, extra, opts, x_shape, out, message) -> None:
    m = _bad(op, w, extra, opts, x_shape, out)
    with pytest.raises(RuntimeModelError, match=message) as e:
        Interpreter(m).run(np.zeros(x_shape, np.float32))
    assert op in str(e.value) and "const1" in str(e.value)


def test_bias_fed_at_run_time() -> None:
    rng = np.random.default_rng(41)
    wt = _weights(rng, (5, 12))
    m = one_op_model("FULLY_CONNECTED", [T((3, 12), np.float32), T(wt.shape, np.int8, scale=0.02, data=wt),
                                         T((5,), np.float32)], [T((3, 5), np.float32)], {"asymmetric_quantize_inputs": True})
    _assert_same(m, [_input(rng, (3, 12)), rng.normal(0, 1, 5).astype(np.float32)], "FC with a graph-input bias")
    wc = _weights(rng, (4, 3, 3, 2))
    m = one_op_model("CONV_2D", [T((1, 5, 5, 2), np.float32), T(wc.shape, np.int8, scale=_scales(rng, 4, "channel"),
                                                                   data=wc), T((4,), np.float32)],
                     [T((1, 5, 5, 4), np.float32)], {"padding": 0, "stride_h": 1, "stride_w": 1})
    _assert_same(m, [_input(rng, (1, 5, 5, 2)), rng.normal(0, 1, 4).astype(np.float32)], "CONV_2D graph-input bias")


def test_a_non_float_output_is_refused() -> None:
    wt = np.ones((3, 8), np.int8)
    m = one_op_model("FULLY_CONNECTED", [T((2, 8), np.float32), T(wt.shape, np.int8, scale=0.1, data=wt), None],
                     [T((2, 3), np.int8, scale=0.1)])
    with pytest.raises(RuntimeModelError, match="must be float32") as e:
        Interpreter(m)
    assert "FULLY_CONNECTED" in str(e.value)


def test_non_constant_int8_weights_are_refused() -> None:
    m = one_op_model("FULLY_CONNECTED", [T((2, 8), np.float32), T((3, 8), np.int8, scale=0.1)],
                     [T((2, 3), np.float32)])
    with pytest.raises(RuntimeModelError, match="not a constant") as e:
        Interpreter(m)
    assert "FULLY_CONNECTED" in str(e.value)


# ------------------------------------------------------------------------------ float16 weights

def test_float16_dequantize_is_exact() -> None:
    """The converter's float16 mode: DEQUANTIZE of float16 constants (here a graph input) is a cast."""
    rng = np.random.default_rng(40)
    x = rng.normal(0, 100, (3, 17)).astype(np.float16)
    x.flat[:4] = [np.inf, -0.0, 6.1e-5, 65504]
    m = one_op_model("DEQUANTIZE", [T(x.shape, np.float16)], [T(x.shape, np.float32)])
    got = Interpreter(m).run(x)
    want = litert(m, [x])[0]
    assert got.dtype == np.float32 and np.array_equal(got, want) and np.array_equal(got, x.astype(np.float32))


# ------------------------------------------------------------------------------ converter files

@pytest.mark.parametrize("mode", ["dynamic", "f16"])
@pytest.mark.parametrize("name", ["mbv2_block", "pool_concat_tconv", "dense_seq", "conv1d", "resize"])
def test_converter_dynamic_range_and_float16_files_match_litert(name: str, mode: str) -> None:
    """The TFLite converter's dynamic-range files (hybrid kernels; mbv2_block's CONV_2D #9 has per-channel
    int8 weights) and float16 files (DEQUANTIZE of float16 weights), tests/runtime/make_quantized_models.py."""
    data = (FIXTURES / "tflite_runtime" / f"{name}.{mode}.tflite").read_bytes()
    it = Interpreter(data)
    rng = np.random.default_rng(50)
    for _ in range(2):
        feeds = [rng.uniform(-1, 1, d["shape"]).astype(d["dtype"]) for d in it.get_input_details()]
        got = it.run(feeds if len(feeds) > 1 else feeds[0])
        got = list(got.values()) if isinstance(got, dict) else [got]
        want = litert(data, feeds, fallback=True)
        for k, (g, w) in enumerate(zip(got, want)):
            assert rel_err(g, w, same_dtype=True) <= TOL, (name, k, rel_err(g, w, same_dtype=True))


# ------------------------------------------------------------------------------ speed

def test_speed_of_the_two_reference_layers() -> None:
    """FC 1280 -> 1000 and a 3x3 conv 56x56x64 -> 64 (per-channel weights), batch 1: the best of 5 runs
    in ms (measured with OPENBLAS_NUM_THREADS=1 on a quiet machine: about 0.11 ms and 3.8 ms; the
    float kernels 0.07 ms and 3.1 ms)."""
    rng = np.random.default_rng(60)
    fc = fc_model(rng, (1, 1280), 1000, "channel", False, ACT_NONE)
    conv = conv_model(rng, (1, 56, 56, 1, 64, 64, 3, 3, 1, 1, 1, 1, 0), "channel", ACT_RELU6)[0]
    for what, model, shape in (("FC 1280->1000", fc, (1, 1280)), ("conv 3x3 56x56x64->64", conv, (1, 56, 56, 64))):
        it = Interpreter(model)
        x = _input(rng, shape)
        it.run(x)
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            it.run(x)
            best = min(best, time.perf_counter() - t0)
        ms = best * 1e3
        print(f"hybrid {what}: {ms:.2f} ms")
        assert ms < 500
