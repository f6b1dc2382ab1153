"""runtime/kernels/quantized/conv.py against TFLite Micro, element for element.

Every case is a one-op quantized ``.tflite`` (``int8_bench.one_op_model``) with random shapes (batch 1..3,
H/W 1..12, channels 1..24, kernel 1..5, strides 1..3, dilations 1..2, SAME/VALID), random scales and
zero points over the whole range, per-tensor and per-channel filters, bias present or not and every
fused activation; run in ``keras2edge.runtime.Interpreter`` and in TFLite Micro and compared with
``np.array_equal``. LiteRT's reference kernels (BUILTIN_REF) are run on the int8 cases too: for these
three ops they equal TFLite Micro (no documented difference). The 16x8 cases cover int64 and int32
biases (CONV_2D), int16 biases (TRANSPOSE_CONV) and no bias. The float64 requantization fast path is
checked against ``fixed_point.mbqm`` on millions of accumulators, constructed near-ties and every shift
sign, and the fast kernels against the plain integer ones (``conv.PLAIN``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from keras2edge.runtime import Interpreter
from keras2edge.runtime import fixed_point as fp
from keras2edge.runtime.errors import RuntimeModelError
from keras2edge.runtime.kernels.quantized import conv as qconv
from keras2edge.runtime.kernels.quantized.common import (
    Requantizer,
    Requantizer32,
    requantize,
)

from ...int8_bench import T, one_op_model, run_litert_ref, run_tflm

ACTS = (0, 1, 2, 3)  # NONE, RELU, RELU_N1_TO_1, RELU6
Case = tuple[bytes, list[np.ndarray]]


def _out_size(padding: int, n: int, k: int, s: int, d: int) -> int:
    eff = (k - 1) * d + 1
    return -(-n // s) if padding == 0 else (n - eff) // s + 1


def _feed(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape).astype(dtype)


def _scales(rng: np.random.Generator, n: int, per_channel: bool) -> list[float] | float:
    s = np.exp(rng.uniform(np.log(2e-4), np.log(2e-2), n)).astype(np.float32)
    return s.tolist() if per_channel else float(s[0])


def _out_scale(rng: np.random.Generator, s_in: float, ws: Any, terms: int, int16: bool) -> float:
    """An output scale that puts most results inside the int range (some saturate)."""
    mean_ws = float(np.mean(ws))
    spread = (2e4 if int16 else 74.0) * 73.0 * np.sqrt(terms) / (8000.0 if int16 else 40.0)
    return float(np.float32(s_in * mean_ws * spread * np.exp(rng.uniform(-1.2, 1.2))))


def _qtensors(rng: np.random.Generator, x_shape, w_shape, axis: int, out_shape, terms: int, int16: bool,
              bias: str | None) -> tuple[T, T, T | None, T]:
    """Input, filter (per channel on ``axis`` or per tensor), bias of dtype ``bias`` (or None), output."""
    adt = np.int16 if int16 else np.int8
    s_in = float(np.float32(np.exp(rng.uniform(np.log(1e-3), np.log(0.2)))))
    zp_in, zp_out = (0, 0) if int16 else (int(rng.integers(-128, 128)), int(rng.integers(-128, 128)))
    nchan = w_shape[axis]
    per_channel = nchan > 1 and rng.random() < 0.7
    ws = _scales(rng, nchan, per_channel)
    wdata = rng.integers(-127, 128, w_shape).astype(np.int8)
    x = T(tuple(x_shape), adt, s_in, zp_in)
    w = T(tuple(w_shape), np.int8, ws, 0, axis, wdata)
    b = None
    if bias is not None:
        spread = np.sqrt(terms) * (1500 if not int16 else 3e5)
        bdt = np.dtype(bias)
        lim = np.iinfo(bdt).max
        bdata = np.clip(rng.normal(0, spread, nchan), -lim, lim).astype(bdt)
        b = T((nchan,), bdt, (s_in * np.broadcast_to(np.asarray(ws, np.float64), (nchan,))).tolist(), 0, 0, bdata)
    out = T(tuple(out_shape), adt, _out_scale(rng, s_in, ws, terms, int16), zp_out)
    return x, w, b, out


def conv_case(seed: int, int16: bool = False, bias: str | None | bool = True) -> tuple[Case, dict]:
    rng = np.random.default_rng(seed)
    while True:
        n, h, wd = int(rng.integers(1, 4)), int(rng.integers(1, 13)), int(rng.integers(1, 13))
        kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        sh, sw, dh, dw = (int(v) for v in rng.integers(1, 4, 2).tolist() + rng.integers(1, 3, 2).tolist())
        pad = int(rng.integers(0, 2))
        oh, ow = _out_size(pad, h, kh, sh, dh), _out_size(pad, wd, kw, sw, dw)
        if oh > 0 and ow > 0:
            break
    groups = int(rng.choice([1, 1, 1, 2, 3]))
    cin_g, cout_g = int(rng.integers(1, 9 if groups > 1 else 25)), int(rng.integers(1, 9 if groups > 1 else 25))
    cin, cout = cin_g * groups, cout_g * groups
    act = int(rng.choice(ACTS))
    bdt = _bias_dtype(rng, bias, "int64" if int16 else "int32")
    x, w, b, out = _qtensors(rng, (n, h, wd, cin), (cout, kh, kw, cin_g), 0, (n, oh, ow, cout), kh * kw * cin_g,
                             int16, bdt)
    opts = {"padding": pad, "stride_h": sh, "stride_w": sw, "dilation_h_factor": dh, "dilation_w_factor": dw,
                "fused_activation_function": act}
    model = one_op_model("CONV_2D", [x, w] + ([b] if b is not None else []), [out], opts)
    desc = {"op": "CONV_2D", "x": (n, h, wd, cin), "k": (kh, kw), "s": (sh, sw), "d": (dh, dw), "pad": pad, "groups": groups,
                "cout": cout, "act": act,
                "bias": bdt, "per_channel": not isinstance(w.scale, float)}
    return (model, [_feed(rng, x.shape, x.dtype)]), desc


def _bias_dtype(rng: np.random.Generator, bias: str | None | bool, default: str) -> str | None:
    if bias is True:
        return default if rng.random() < 0.75 else None
    return bias or None


def dw_case(seed: int, int16: bool = False, bias: str | None | bool = True) -> tuple[Case, dict]:
    rng = np.random.default_rng(seed)
    while True:
        n, h, wd = int(rng.integers(1, 4)), int(rng.integers(1, 13)), int(rng.integers(1, 13))
        kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        sh, sw, dh, dw = (int(v) for v in rng.integers(1, 4, 2).tolist() + rng.integers(1, 3, 2).tolist())
        pad = int(rng.integers(0, 2))
        oh, ow = _out_size(pad, h, kh, sh, dh), _out_size(pad, wd, kw, sw, dw)
        if oh > 0 and ow > 0:
            break
    mult = int(rng.choice([1, 1, 2, 3]))
    cin = int(rng.integers(1, 24 // mult + 1))
    cout = cin * mult
    act = int(rng.choice(ACTS))
    bdt = _bias_dtype(rng, bias, "int64" if int16 else "int32")
    x, w, b, out = _qtensors(rng, (n, h, wd, cin), (1, kh, kw, cout), 3, (n, oh, ow, cout), kh * kw, int16, bdt)
    opts = {"padding": pad, "stride_h": sh, "stride_w": sw, "dilation_h_factor": dh, "dilation_w_factor": dw,
                "depth_multiplier": mult, "fused_activation_function": act}
    model = one_op_model("DEPTHWISE_CONV_2D", [x, w] + ([b] if b is not None else []), [out], opts)
    desc = {"op": "DEPTHWISE_CONV_2D", "x": (n, h, wd, cin), "k": (kh, kw), "s": (sh, sw), "d": (dh, dw), "pad": pad, "mult": mult,
                "act": act, "bias": bdt}
    return (model, [_feed(rng, x.shape, x.dtype)]), desc


def tconv_case(seed: int, int16: bool = False, bias: str | None | bool = True) -> tuple[Case, dict]:
    rng = np.random.default_rng(seed)
    n, h, wd = int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(1, 9))
    kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    pad = int(rng.integers(0, 2))

    def size(i: int, k: int, s: int) -> int:  # an output size whose forward conv gives back i
        lo = (i - 1) * s + (1 if pad == 0 else k)
        return int(rng.integers(lo, lo + s))

    oh, ow = size(h, kh, sh), size(wd, kw, sw)
    cin, cout = int(rng.integers(1, 25)), int(rng.integers(1, 25))
    act = int(rng.choice(ACTS))
    bdt = _bias_dtype(rng, bias, "int64" if int16 else "int32")
    x, w, b, out = _qtensors(rng, (n, h, wd, cin), (cout, kh, kw, cin), 0, (n, oh, ow, cout), kh * kw * cin // 2 + 1,
                             int16, bdt)
    shape = T((4,), np.int32, data=np.array([n, oh, ow, cout], np.int32))
    opts = {"padding": pad, "stride_h": sh, "stride_w": sw, "fused_activation_function": act}
    model = one_op_model("TRANSPOSE_CONV", [shape, w, x] + ([b] if b is not None else []), [out], opts)
    desc = {"op": "TRANSPOSE_CONV", "x": (n, h, wd, cin), "out": (oh, ow, cout), "k": (kh, kw), "s": (sh, sw), "pad": pad,
                "act": act, "bias": bdt}
    return (model, [_feed(rng, x.shape, x.dtype)]), desc


def _run(case: Case) -> np.ndarray:
    model, feeds = case
    return np.asarray(Interpreter(model).run(feeds[0]))


def _assert_tflm(case: Case, desc: dict, litert: bool = True) -> np.ndarray:
    """Interpreter == TFLite Micro; and LiteRT BUILTIN_REF == TFLite Micro, except for a CONV_2D without
    bias, which LiteRT refuses for int8 (``tflite/kernels/conv.cc``: "has_bias was not true")."""
    model, feeds = case
    got = _run(case)
    want = run_tflm(model, feeds)[0]
    assert got.shape == want.shape, desc
    bad = got != want
    assert not bad.any(), f"{desc}: {int(bad.sum())} of {got.size} differ from TFLite Micro, e.g. " \
                          f"{got[bad][:6].tolist()} vs {want[bad][:6].tolist()}"
    if litert and (desc.get("bias") or desc.get("op") != "CONV_2D"):
        ref = run_litert_ref(model, feeds)[0]
        assert np.array_equal(ref, want), f"{desc}: LiteRT BUILTIN_REF differs from TFLite Micro"
    return got


MAKERS: dict[str, Callable[..., tuple[Case, dict]]] = {"CONV_2D": conv_case, "DEPTHWISE_CONV_2D": dw_case,
                                                       "TRANSPOSE_CONV": tconv_case}
INT8_CASES = ([("CONV_2D", s) for s in range(70)] + [("DEPTHWISE_CONV_2D", 1000 + s) for s in range(50)]
              + [("TRANSPOSE_CONV", 2000 + s) for s in range(40)])


@pytest.mark.parametrize("op, seed", INT8_CASES, ids=[f"{o}-{s}" for o, s in INT8_CASES])
def test_int8_matches_tflm(op: str, seed: int) -> None:
    _assert_tflm(*MAKERS[op](seed))


# 16x8: (op, seed, bias dtype or None)
INT16_CASES = ([("CONV_2D", 3000 + s, b) for s, b in enumerate(["int64", "int32", None] * 4)]
               + [("DEPTHWISE_CONV_2D", 3100 + s, b) for s, b in enumerate(["int64", None] * 5)]
               + [("TRANSPOSE_CONV", 3200 + s, b) for s, b in enumerate(["int64", "int16", None] * 3)])


@pytest.mark.parametrize("op, seed, bias", INT16_CASES, ids=[f"{o}-{s}-{b}" for o, s, b in INT16_CASES])
def test_16x8_matches_tflm(op: str, seed: int, bias: str | None) -> None:
    _assert_tflm(*MAKERS[op](seed, int16=True, bias=bias), litert=False)


def test_16x8_conv_without_bias_follows_quantized_bias_type() -> None:
    """No bias: TFLM accumulates in int32 (int32 MBQM) when ``quantized_bias_type`` is INT32, else in
    int64 (MBQM's int64 overload, 16-bit multiplier); the two round differently."""
    rng = np.random.default_rng(77)
    x, w, _, out = _qtensors(rng, (1, 8, 8, 16), (8, 3, 3, 16), 0, (1, 8, 8, 8), 144, True, None)
    feed = _feed(rng, x.shape, np.int16)
    results = []
    for bias_type in (2, 0):  # INT32, FLOAT32 (the default: int64 accumulation)
        model = one_op_model("CONV_2D", [x, w], [out], {"padding": 0, "stride_h": 1, "stride_w": 1,
                                                            "quantized_bias_type": bias_type})
        got = _run((model, [feed]))
        assert np.array_equal(got, run_tflm(model, [feed])[0])
        results.append(got)
    assert not np.array_equal(*results), "the two accumulators should round some elements differently"


def test_litert_refuses_int8_conv_without_bias() -> None:
    """The one LiteRT BUILTIN_REF difference found (documented in the kernel module): no bias, no model."""
    (model, feeds), desc = conv_case(7)
    assert desc["bias"] is None
    _assert_tflm((model, feeds), desc, litert=False)
    with pytest.raises(RuntimeError, match="has_bias"):
        run_litert_ref(model, feeds)


# ------------------------------------------------------------------------ fast path vs plain path

@pytest.mark.parametrize("op, seed", [("CONV_2D", 5), ("CONV_2D", 9), ("DEPTHWISE_CONV_2D", 1003),
                                      ("TRANSPOSE_CONV", 2001)])
def test_plain_integer_path_equals_fast_path(op: str, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    case, desc = MAKERS[op](seed)
    fast = _assert_tflm(case, desc, litert=False)
    monkeypatch.setattr(qconv, "PLAIN", True)
    assert np.array_equal(_run(case), fast), desc


@pytest.mark.parametrize("block", [8, 100])
def test_requantization_in_row_blocks(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path runs in blocks of whole rows (BLOCK elements; one row when a row is longer):
    small blocks on cases of every op, still equal to TFLite Micro."""
    monkeypatch.setattr(Requantizer, "BLOCK", block)
    monkeypatch.setattr(Requantizer32, "BLOCK", block)
    for op, seed in [("CONV_2D", 0), ("CONV_2D", 3), ("DEPTHWISE_CONV_2D", 1001), ("TRANSPOSE_CONV", 2002)]:
        _assert_tflm(*MAKERS[op](seed), litert=False)


def test_float64_accumulation_for_long_dot_products() -> None:
    """K = 3·3·64 = 576 > 513 products: float32 could round a partial sum, so the kernel uses float64."""
    rng = np.random.default_rng(8)
    x, w, b, out = _qtensors(rng, (1, 5, 5, 64), (7, 3, 3, 64), 0, (1, 5, 5, 7), 576, False, "int32")
    model = one_op_model("CONV_2D", [x, w, b], [out], {"padding": 0, "stride_h": 1, "stride_w": 1})
    feed = np.full(x.shape, 127 if x.zero_point < 0 else -128, np.int8)  # |x − z_in| as large as it gets
    _assert_tflm((model, [feed]), {"K": 576}, litert=False)


@pytest.mark.parametrize("wmax, ft", [(20, "float32"), (127, "float64")])
def test_accumulator_dtype_from_the_filter_bound(wmax: int, ft: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """K = 3·3·128 = 1152: float32 is still exact when Σ|w_c|·max|x − z_in| ≤ 2^24 (small weights),
    float64 otherwise; both equal TFLite Micro at the largest |x − z_in| and on random inputs."""
    rng = np.random.default_rng(9)
    x, w, b, out = _qtensors(rng, (1, 6, 6, 128), (5, 3, 3, 128), 0, (1, 6, 6, 5), 1152, False, "int32")
    wdata = rng.integers(-wmax, wmax + 1, w.shape).astype(np.int8)
    wdata[:, 0, 0, 0] = wmax  # the bound is reached
    w = T(w.shape, np.int8, w.scale, 0, 0, wdata)
    out = T(out.shape, np.int8, float(np.float32(out.scale * wmax / 64)), out.zero_point)
    model = one_op_model("CONV_2D", [x, w, b], [out], {"padding": 0, "stride_h": 1, "stride_w": 1})
    seen: list[str] = []
    prepare = qconv._ConvGemm.prepare
    monkeypatch.setattr(qconv._ConvGemm, "prepare", lambda self, dt, *a: (seen.append(np.dtype(dt).name), prepare(self, dt, *a)))
    for feed in (np.full(x.shape, 127 if x.zero_point < 0 else -128, np.int8), _feed(rng, x.shape, np.int8)):
        _assert_tflm((model, [feed]), {"wmax": wmax}, litert=False)
    assert set(seen) == {ft}


@pytest.mark.parametrize("block", [64, 1000, None])
def test_pointwise_conv_streams_gemm_and_requantization(block: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1x1 CONV_2D runs one GEMM per block of output pixels, each requantized at once (Requantizer32.
    stream; near-ties of every block fixed at the end): equal to TFLite Micro with blocks of a few
    rows (the last one partial), of many rows, and the default, with and without an activation."""
    if block is not None:
        monkeypatch.setattr(Requantizer32, "BLOCK", block)
    seen: list[int] = []
    prepare = qconv._ConvGemm.prepare
    monkeypatch.setattr(qconv._ConvGemm, "prepare",
                        lambda self, dt, rows=0, *rest: (seen.append(rows), prepare(self, dt, rows, *rest)))
    rng = np.random.default_rng(21 + (block or 0))
    for act, (h, w, cin, cout) in zip((0, 3, 1), ((9, 7, 16, 24), (13, 11, 8, 40), (5, 5, 33, 7))):
        x, wt, b, out = _qtensors(rng, (1, h, w, cin), (cout, 1, 1, cin), 0, (1, h, w, cout), cin, False, "int32")
        model = one_op_model("CONV_2D", [x, wt, b], [out], {"padding": 1, "stride_h": 1, "stride_w": 1,
                                                            "fused_activation_function": act})
        _assert_tflm((model, [_feed(rng, x.shape, np.int8)]), {"act": act, "shape": (h, w, cin, cout)})
    assert seen and all(r > 0 for r in seen), "every case should take the streamed path"


@pytest.mark.parametrize("block", [40, 200, 1000])
def test_depthwise_conv_streams_bands_of_rows(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """One image: DEPTHWISE_CONV_2D runs its taps and Requantizer32 band by band of output rows (each tap
    cut to the band; padding rows at the top and bottom bands): equal to TFLite Micro for bands of one
    to several rows, strides 1 to 3, dilation, SAME and VALID, depth multipliers 1 and 2."""
    monkeypatch.setattr(Requantizer32, "BLOCK", block)
    bands: list[int] = []
    prepare = qconv._DepthwiseTaps.prepare
    monkeypatch.setattr(qconv._DepthwiseTaps, "prepare",
                        lambda self, dt, rows=0: (prepare(self, dt, rows), bands.append(self.band_rows)))
    rng = np.random.default_rng(31 + block)
    cases = [((11, 9, 4), (3, 3), (1, 1), (1, 1), 0, 1), ((12, 10, 3), (3, 3), (2, 2), (1, 1), 0, 2),
             ((13, 7, 5), (5, 3), (3, 1), (1, 2), 1, 1), ((9, 9, 4), (3, 3), (1, 2), (2, 1), 0, 1)]
    for (h, w, cin), (kh, kw), (sh, sw), (dh, dw), pad, mult in cases:
        oh, ow = _out_size(pad, h, kh, sh, dh), _out_size(pad, w, kw, sw, dw)
        cout = cin * mult
        x, wt, b, out = _qtensors(rng, (1, h, w, cin), (1, kh, kw, cout), 3, (1, oh, ow, cout), kh * kw, False,
                                  "int32")
        opts = {"padding": pad, "stride_h": sh, "stride_w": sw, "dilation_h_factor": dh, "dilation_w_factor": dw,
                "depth_multiplier": mult, "fused_activation_function": int(rng.choice(ACTS))}
        model = one_op_model("DEPTHWISE_CONV_2D", [x, wt, b], [out], opts)
        _assert_tflm((model, [_feed(rng, x.shape, np.int8)]), {"case": (h, w, cin, sh, sw, pad, mult)}, litert=False)
    assert any(0 < r < 4 for r in bands), bands


def _near_tie_accumulators(rng: np.random.Generator, real: np.ndarray, n: int) -> np.ndarray:
    """Accumulators whose exact requantized value is within a few units of k + 1/2 (double-rounding
    and tie territory), and some exactly at the ties of power-of-two multipliers."""
    k = rng.integers(-400, 400, (n, real.size)) + 0.5
    acc = np.round(k / real) + rng.integers(-3, 4, (n, real.size))
    return np.clip(acc, fp.INT32_MIN, fp.INT32_MAX).astype(np.int64)


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_requantizer_fast_path_equals_mbqm(dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """3.2 M accumulators per dtype: uniform over the int32 range and near 0, constructed near-ties,
    power-of-two multipliers (exact ties), every shift sign (multipliers from 2^-31 to 2^10, including
    ones TFLM flushes to zero and left shifts whose int32 product wraps), bias on and off."""
    rng = np.random.default_rng(42 if dtype == "int8" else 43)
    lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
    recomputed = []
    fix = Requantizer._fix

    def counting_fix(self, acc, out, bias, flag):
        recomputed.append(int(flag.sum()))
        fix(self, acc, out, bias, flag)

    monkeypatch.setattr(Requantizer, "_fix", counting_fix)
    for trial in range(8):
        c = 16
        real = np.exp(rng.uniform(np.log(2.0 ** -33), np.log(2.0 ** 10), c))
        real[:6] = [0.25, 0.5, 1.0, 2.0 ** -12, 3.0, 0.75]
        mult, shift = fp.quantize_multiplier(real)
        assert (shift > 0).any() and (shift < 0).any() and (shift == 0).any()
        zp = int(rng.integers(lo, hi + 1)) if dtype == "int8" else 0
        rq = Requantizer(mult, shift, zp, lo, hi)
        acc = np.concatenate([
            rng.integers(fp.INT32_MIN, fp.INT32_MAX, (20000, c), endpoint=True),
            rng.integers(-(1 << 16), 1 << 16, (40000, c)),
            rng.integers(-300, 300, (20000, c)),
            _near_tie_accumulators(rng, real, 20000),
        ])
        bias = rng.integers(-(1 << 20), 1 << 20, c) if trial % 2 else None
        if bias is not None:
            acc = np.clip(acc, fp.INT32_MIN - bias.min(), fp.INT32_MAX - bias.max())
        acc = acc.astype(np.float32 if trial == 3 else np.int32 if trial < 4 else np.float64)
        if trial == 3:  # float32 accumulators hold exact integers only up to 2^24
            acc = np.clip(acc, -(1 << 24), 1 << 24)
        fast, plain = np.empty(acc.shape, dtype), np.empty(acc.shape, dtype)
        rq(acc, fast, bias)
        rq.plain(acc, plain, bias)
        bad = fast != plain
        assert not bad.any(), f"trial {trial}: {int(bad.sum())} differ, e.g. acc {acc[bad][:4]}"
    # the exact path did run: near-ties, exact ties (power-of-two multipliers) and possible int32 wraps
    # (|y| ≥ 2^29 in channels with a left shift: most uniform int32 accumulators there)
    assert sum(recomputed) > 0


def test_requantize_function_uses_the_fast_path_per_tensor_and_per_channel() -> None:
    rng = np.random.default_rng(5)
    acc = rng.integers(-(1 << 20), 1 << 20, (300, 9)).astype(np.int32)
    for m, s in [fp.quantize_multiplier(0.0037), fp.quantize_multiplier(rng.uniform(1e-4, 2.0, 9))]:
        out = np.empty(acc.shape, np.int8)
        requantize(acc, m, s, 7, -128, 100, out)
        assert np.array_equal(out, np.clip(fp.mbqm(acc, m, s) + 7, -128, 100))


# ------------------------------------------------------------------------------------- errors

def _conv_model(**kw: Any) -> tuple[bytes, np.ndarray]:
    spec = {"x": T((1, 4, 4, 3), np.int8, 0.1, 2), "w": T((2, 3, 3, 3), np.int8, [0.01, 0.02], 0, 0,
                                                        np.ones((2, 3, 3, 3), np.int8)),
                "b": T((2,), np.int32, [0.001, 0.002], 0, 0, np.array([5, -5], np.int32)),
                "out": T((1, 4, 4, 2), np.int8, 0.2, -1), "op": "CONV_2D", "opts": {"padding": 0, "stride_h": 1, "stride_w": 1}}
    spec.update(kw)
    ins = [spec["x"], spec["w"]] + ([spec["b"]] if spec["b"] is not None else [])
    model = one_op_model(spec["op"], ins, [spec["out"]], spec["opts"])
    return model, np.zeros(spec["x"].shape, spec["x"].dtype)


W_AXIS3 = T((1, 3, 3, 2), np.int8, [0.01, 0.02], 0, 3, np.ones((1, 3, 3, 2), np.int8))

ERROR_CASES = {
    "input without quantization": ({"x": T((1, 4, 4, 3), np.int8)}, "'in0'.*no quantization parameters"),
    "output without quantization": ({"out": T((1, 4, 4, 2), np.int8)}, "no quantization parameters"),
    "filter without quantization": ({"w": T((2, 3, 3, 3), np.int8, data=np.ones((2, 3, 3, 3), np.int8))},
                                    "'const1'.*no quantization parameters"),
    "per-axis input": ({"x": T((1, 4, 4, 3), np.int8, [0.1, 0.1, 0.1], 0, 3)}, "'in0' is quantized per axis"),
    "filter per axis on the wrong dimension": (
        {"w": T((2, 3, 3, 2), np.int8, [0.01, 0.02], 0, 3, np.ones((2, 3, 3, 2), np.int8)),
             "x": T((1, 4, 4, 2), np.int8, 0.1, 2)}, "per axis on dimension 3; CONV_2D needs"),
    "filter zero point": ({"w": T((2, 3, 3, 3), np.int8, [0.01, 0.02], [0, 3], 0, np.ones((2, 3, 3, 3), np.int8))},
                          "zero point"),
    "int64 bias on int8": ({"b": T((2,), np.int64, [0.001, 0.002], 0, 0, np.array([5, -5], np.int64))},
                           "int8 CONV_2D needs a int32 bias"),
    "bias length": ({"b": T((3,), np.int32, 0.001, 0, 0, np.array([5, -5, 1], np.int32))}, "3 values, expected 2"),
    "16x8 input zero point": ({"x": T((1, 4, 4, 3), np.int16, 0.1, 2), "out": T((1, 4, 4, 2), np.int16, 0.2, 0),
                                   "b": None}, "needs zero point 0"),
    "16x8 depthwise with int32 bias": (
        {"op": "DEPTHWISE_CONV_2D", "x": T((1, 4, 4, 2), np.int16, 0.1, 0), "w": W_AXIS3,
             "out": T((1, 4, 4, 2), np.int16, 0.2, 0), "opts": {"padding": 0, "stride_h": 1, "stride_w": 1, "depth_multiplier": 1}},
        "16x8 DEPTHWISE_CONV_2D needs a int64 bias"),
    "depthwise filter per axis on dimension 0": (
        {"op": "DEPTHWISE_CONV_2D", "x": T((1, 4, 4, 2), np.int8, 0.1, 0),
             "w": T((1, 3, 3, 2), np.int8, [0.01], 0, 0, np.ones((1, 3, 3, 2), np.int8)),
             "out": T((1, 4, 4, 2), np.int8, 0.2, 0), "b": None,
             "opts": {"padding": 0, "stride_h": 1, "stride_w": 1, "depth_multiplier": 1}}, None),
    "output dtype": ({"out": T((1, 4, 4, 2), np.int16, 0.2, 0)}, "output 'conv_2d_0' is int16, input 'in0' is int8"),
}


@pytest.mark.parametrize("name", list(ERROR_CASES))
def test_bad_quantization_is_refused(name: str) -> None:
    kw, message = ERROR_CASES[name]
    model, feed = _conv_model(**kw)
    if message is None:  # a valid model (per-tensor filter written with axis 0): runs and matches TFLM
        assert np.array_equal(_run((model, [feed])), run_tflm(model, [feed])[0])
        return
    with pytest.raises(RuntimeModelError, match=message) as e:
        Interpreter(model).run(feed)
    assert "op #0" in str(e.value) and kw.get("op", "CONV_2D") in str(e.value)


# ------------------------------------------------------------- hybrid (float input, int8 filter)

def hybrid_case(seed: int) -> tuple[Case, dict]:
    """A float32-input CONV_2D / DEPTHWISE_CONV_2D with an int8 filter (random geometry, per-channel
    or per-tensor scales, groups, depth multipliers), and a feed whose batch elements are signed,
    all non-negative or all zero (the quantizers' special cases)."""
    rng = np.random.default_rng(seed)
    op = "CONV_2D" if seed % 2 else "DEPTHWISE_CONV_2D"
    while True:
        n, h, wd = int(rng.integers(1, 4)), int(rng.integers(1, 11)), int(rng.integers(1, 11))
        kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        sh, sw, dh, dw = (int(v) for v in rng.integers(1, 3, 4))
        pad = int(rng.integers(0, 2))
        oh, ow = _out_size(pad, h, kh, sh, dh), _out_size(pad, wd, kw, sw, dw)
        if oh > 0 and ow > 0:
            break
    if op == "CONV_2D":
        groups = int(rng.choice([1, 1, 2]))
        cin, cout = groups * int(rng.integers(1, 9)), groups * int(rng.integers(1, 9))
        w_shape, axis, nchan = (cout, kh, kw, cin // groups), 0, cout
        per_channel = groups > 1 or rng.random() < 0.6  # LiteRT refuses a grouped one with one scale
    else:
        mult = int(rng.choice([1, 2]))
        cin = int(rng.integers(1, 9))
        cout = cin * mult
        w_shape, axis, nchan, per_channel = (1, kh, kw, cout), 3, cout, True  # LiteRT needs one scale per channel
    ws = _scales(rng, nchan, per_channel)
    x = T((n, h, wd, cin), np.float32)
    w = T(w_shape, np.int8, ws, 0, axis, rng.integers(-127, 128, w_shape).astype(np.int8))
    has_bias = op == "CONV_2D" or rng.random() < 0.7  # LiteRT's CONV_2D requires a bias
    b = T((nchan,), np.float32, data=rng.normal(0, 0.05, nchan).astype(np.float32)) if has_bias else None
    opts = {"padding": pad, "stride_h": sh, "stride_w": sw, "dilation_h_factor": dh, "dilation_w_factor": dw,
            "fused_activation_function": int(rng.choice(ACTS))}
    if op == "DEPTHWISE_CONV_2D":
        opts["depth_multiplier"] = mult
    model = one_op_model(op, [x, w] + ([b] if b is not None else []), [T((n, oh, ow, cout), np.float32)], opts)
    feed = rng.normal(rng.uniform(-1, 1), rng.uniform(0.1, 3), x.shape).astype(np.float32)
    kinds = rng.choice(["signed", "positive", "zero"], n, p=[0.7, 0.2, 0.1])
    feed[kinds == "positive"] = np.abs(feed[kinds == "positive"])
    feed[kinds == "zero"] = 0
    return (model, [feed]), {"op": op, "x": x.shape, "w": w_shape, "per_channel": per_channel, "opts": opts}


@pytest.mark.parametrize("seed", range(4000, 4040))
def test_hybrid_matches_litert_reference(seed: int) -> None:
    """LiteRT BUILTIN_REF (TFLite Micro refuses hybrid models) equals the runtime bit for bit."""
    (model, feeds), desc = hybrid_case(seed)
    got = _run((model, feeds))
    want = run_litert_ref(model, feeds)[0]
    assert got.dtype == np.float32 and got.shape == want.shape, desc
    assert np.array_equal(got, want), f"{desc}: max |diff| {np.abs(got - want).max()}"


@pytest.mark.parametrize("op", ["CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"])
def test_filter_and_bias_fed_at_run_time(op: str) -> None:
    """Filter and bias as graph inputs (not constants): transformed per call, same integers."""
    rng = np.random.default_rng(12)
    geometry = {"CONV_2D": ((2, 6, 5, 6), (4, 3, 3, 6), 0, (2, 6, 5, 4)),
                "DEPTHWISE_CONV_2D": ((2, 6, 5, 3), (1, 3, 3, 6), 3, (2, 6, 5, 6)),
                "TRANSPOSE_CONV": ((2, 3, 3, 6), (4, 3, 3, 6), 0, (2, 6, 5, 4))}[op]
    x, w, b, out = _qtensors(rng, geometry[0], geometry[1], geometry[2], geometry[3], 54, False, "int32")
    wv, bv = w.data, b.data
    w, b = T(w.shape, w.dtype, w.scale, 0, w.axis), T(b.shape, b.dtype, b.scale, 0, 0)
    opts = {"padding": 0, "stride_h": 2 if op == "TRANSPOSE_CONV" else 1, "stride_w": 2 if op == "TRANSPOSE_CONV" else 1}
    if op == "DEPTHWISE_CONV_2D":
        opts["depth_multiplier"] = 2
    if op == "TRANSPOSE_CONV":
        shape = T((4,), np.int32, data=np.array(out.shape, np.int32))
        ins, feeds = [shape, w, x, b], [wv, _feed(rng, x.shape, np.int8), bv]
    else:
        ins, feeds = [x, w, b], [_feed(rng, x.shape, np.int8), wv, bv]
    model = one_op_model(op, ins, [out], opts)
    got = np.asarray(Interpreter(model).run(feeds))
    assert np.array_equal(got, run_tflm(model, feeds)[0])


def test_requantizer_shapes_and_layouts() -> None:
    """1-D and 0-d accumulators, strided (non-contiguous) ones and outputs, work buffers too small
    for an unblocked call: all fall back correctly."""
    rng = np.random.default_rng(9)
    m, s = fp.quantize_multiplier(rng.uniform(1e-4, 0.1, 7))
    rq = Requantizer(m, s, -3, -128, 127)
    acc = rng.integers(-(1 << 20), 1 << 20, (40000, 14)).astype(np.int32)
    want = np.clip(fp.mbqm(acc[:, ::2], m, s) - 3, -128, 127)
    out = np.empty((40000, 14), np.int8)
    rq(acc[:, ::2], out[:, ::2], None, (np.empty(16), np.empty(16)))
    assert np.array_equal(out[:, ::2], want)
    one = Requantizer(m[:1], s[:1], 0, -128, 127)
    flat = acc.reshape(-1)[:100000]
    out1 = np.empty(flat.shape, np.int8)
    one(flat, out1)
    assert np.array_equal(out1, np.clip(fp.mbqm(flat, m[0], s[0]), -128, 127))
    out0 = np.empty((), np.int8)
    one(np.asarray(flat[5]), out0)
    assert out0 == out1[5]


def test_mobilenet_like_chain_in_one_model() -> None:
    """conv 3x3/2 → depthwise 3x3 → conv 1x1 → depthwise 3x3/2 (M = 2) → transpose conv, one model,
    batch 2: the kernels share the planned arena (scratch buffers hold the previous op's garbage)."""
    from keras2edge.convert.tflite.writer import write_model
    from keras2edge.runtime.model import Quantization

    from ...helpers import GraphBuilder

    rng = np.random.default_rng(21)
    g = GraphBuilder()

    def q(scale: Any, zp: int = 0, axis: int = 0) -> Quantization:
        s = np.atleast_1d(np.asarray(scale, np.float32))
        return Quantization(s, np.full(s.shape, zp, np.int64), axis)

    def layer(op: str, x: int, w_shape: tuple[int, ...], axis: int, out_shape: tuple[int, ...], opts: dict,
              s_in: float, s_out: float, zp_out: int, pre: list[int] | None = None) -> int:
        nchan = w_shape[axis]
        ws = np.exp(rng.uniform(-6, -4, nchan)).astype(np.float32)
        wi = g.const(rng.integers(-127, 128, w_shape).astype(np.int8))
        bi = g.const(rng.integers(-2000, 2000, nchan).astype(np.int32))
        g.tensors[wi].quantization = q(ws, 0, axis)
        g.tensors[bi].quantization = q(s_in * ws)
        ins = [*(pre or []), wi, x, bi] if op == "TRANSPOSE_CONV" else [x, wi, bi]
        y = g.op(op, ins, opts, dtype=np.int8, shapes=[out_shape])
        g.tensors[y].quantization = q(s_out, zp_out)
        return y

    x = g.input("x", (2, 16, 16, 3), np.int8, quant=(0.02, -5))
    same1 = {"padding": 0, "stride_h": 1, "stride_w": 1, "fused_activation_function": 3}
    same2 = {"padding": 0, "stride_h": 2, "stride_w": 2, "fused_activation_function": 3}
    a = layer("CONV_2D", x, (8, 3, 3, 3), 0, (2, 8, 8, 8), same2, 0.02, 0.03, -128)
    b = layer("DEPTHWISE_CONV_2D", a, (1, 3, 3, 8), 3, (2, 8, 8, 8), {**same1, "depth_multiplier": 1}, 0.03, 0.03, -128)
    c = layer("CONV_2D", b, (12, 1, 1, 8), 0, (2, 8, 8, 12), {**same1, "fused_activation_function": 0}, 0.03, 0.05, 3)
    d = layer("DEPTHWISE_CONV_2D", c, (1, 3, 3, 24), 3, (2, 4, 4, 24), {**same2, "depth_multiplier": 2},
              0.05, 0.04, -128)
    shape = g.const(np.array([2, 8, 8, 6], np.int32))
    e = layer("TRANSPOSE_CONV", d, (6, 3, 3, 24), 0, (2, 8, 8, 6), {"padding": 0, "stride_h": 2, "stride_w": 2},
              0.04, 0.1, 7, pre=[shape])
    g.output(e)
    model = write_model(g.model())
    feed = rng.integers(-128, 128, (2, 16, 16, 3)).astype(np.int8)
    got = np.asarray(Interpreter(model).run(feed))
    want = run_tflm(model, [feed])[0]
    assert len(np.unique(want)) > 20 and np.array_equal(got, want)


def test_requantizer_wide_output_range_takes_the_integer_path() -> None:
    """The float error bound holds for outputs within 2^16 of zero; an int32 clamp range is plain."""
    m, s = fp.quantize_multiplier(np.array([0.75, 0.3]))
    assert Requantizer(m, s, 0, -32768, 32767).fast
    rq = Requantizer(m, s, 0, fp.INT32_MIN, fp.INT32_MAX)
    assert not rq.fast
    acc = np.array([[fp.INT32_MAX, fp.INT32_MIN + 1], [12345677, -7]], np.int32)
    out = np.empty(acc.shape, np.int64)
    rq(acc, out)
    assert np.array_equal(out, fp.mbqm(acc, m, s))


@pytest.mark.parametrize("x_shape,w_shape,opts", [
    ((1, 9, 7, 1536), (8, 1, 1, 1536), {"padding": 1, "stride_h": 1, "stride_w": 1}),           # pointwise, streamed
    ((2, 6, 5, 256), (12, 3, 3, 256), {"padding": 0, "stride_h": 2, "stride_w": 1}),            # windows, SAME padding
    ((1, 4, 4, 640), (6, 2, 2, 640), {"padding": 1, "stride_h": 1, "stride_w": 1,
                                      "fused_activation_function": 1}),
])
def test_large_k_conv_splits_k_into_exact_float32_gemms(x_shape, w_shape, opts, monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """Filters whose Σ|w|·max|x − z_in| exceeds 2^24 (float32 no longer exact for one GEMM) run as
    float32 GEMMs over K ranges that each stay below it, summed in float64 (conv.k_split): equal to
    TFLite Micro and to the plain int64 path, with the extreme inputs that make the largest sums."""
    splits: list[int] = []
    real = qconv.k_split
    monkeypatch.setattr(qconv, "k_split", lambda w, d: (lambda r: (splits.append(len(r)), r)[1])(real(w, d)))
    rng = np.random.default_rng(sum(w_shape))
    k = int(np.prod(w_shape[1:]))
    x, w, b, out = _qtensors(rng, x_shape, w_shape, 0, (1,), k, False, "int32")
    w = T(w.shape, np.int8, w.scale, 0, 0, rng.choice([-127, 127, -90, 100], size=w_shape).astype(np.int8))
    oh = _out_size(opts["padding"], x_shape[1], w_shape[1], opts["stride_h"], 1)
    ow = _out_size(opts["padding"], x_shape[2], w_shape[2], opts["stride_w"], 1)
    out = T((x_shape[0], oh, ow, w_shape[0]), np.int8, out.scale, out.zero_point)
    model = one_op_model("CONV_2D", [x, w, b], [out], opts)
    feed = rng.choice([-128, 127], size=x_shape).astype(np.int8)
    got = _assert_tflm((model, [feed]), {"shape": x_shape})
    assert splits and all(n >= 2 for n in splits), splits
    assert np.unique(got).size > 8  # not a saturated output
    monkeypatch.setattr(qconv, "PLAIN", True)
    assert np.array_equal(_run((model, [feed])), got)
