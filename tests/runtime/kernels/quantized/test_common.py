"""runtime/kernels/quantized/common.py: quantization parameters are checked before a kernel uses them,
and the requantization step equals fixed_point.mbqm plus zero point and clamp."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.runtime import fixed_point as fp
from keras2edge.runtime.errors import RuntimeModelError
from keras2edge.runtime.kernels.base import OpContext, TensorSpec
from keras2edge.runtime.kernels.quantized.common import (
    Requantizer,
    Requantizer32,
    activation_clamp,
    per_tensor,
    qparams,
    requantize,
)
from keras2edge.runtime.model import Quantization


def _spec(shape, dtype="int8", scale=(0.5,), zp=(0,), axis=0) -> TensorSpec:
    q = None if scale is None else Quantization(np.asarray(scale, np.float32), np.asarray(zp, np.int64), axis)
    return TensorSpec(0, "t", tuple(shape), np.dtype(dtype), None, q)


def _ctx(out: TensorSpec, act: int = 0) -> OpContext:
    return OpContext(3, "CONV_2D", 1, {"fused_activation_function": act}, [out], [out])


def test_per_tensor_and_per_axis() -> None:
    t = _spec((4, 3), scale=(0.25,), zp=(-3,))
    assert per_tensor(_ctx(t), t) == (0.25, -3)
    w = _spec((3, 2), scale=(0.1, 0.2, 0.3), zp=(0,), axis=0)
    p = qparams(_ctx(w), w)
    assert p.axis == 0 and p.zero_point.tolist() == [0, 0, 0] and p.scale.dtype == np.float32
    with pytest.raises(RuntimeModelError, match="per axis"):
        per_tensor(_ctx(w), w)


@pytest.mark.parametrize("kw, message", [
    ({"scale": None}, "no quantization parameters"),
    ({"scale": (0.0,)}, "finite and > 0"),
    ({"scale": (float("nan"),)}, "finite and > 0"),
    ({"zp": (128,)}, r"within \[-128, 127\]"),
    ({"dtype": "uint8", "zp": (-1,)}, r"within \[0, 255\]"),
    ({"scale": (0.1, 0.2), "axis": 1}, "quantized_dimension 1"),
    ({"dtype": "float32"}, "must be int8"),
])
def test_bad_quantization_is_refused_with_the_tensor_named(kw, message) -> None:
    t = _spec((3, 4), **kw)
    with pytest.raises(RuntimeModelError, match=message) as e:
        qparams(_ctx(t), t)
    assert "op #3 CONV_2D" in str(e.value) and "'t'" in str(e.value)


def test_activation_clamp_is_tflm_calculate_activation_range() -> None:
    t = _spec((1,), scale=(0.05,), zp=(-20,))
    assert activation_clamp(_ctx(t, 0), t) == (-128, 127)
    assert activation_clamp(_ctx(t, 1), t) == (-20, 127)  # RELU: q(0) = zp
    assert activation_clamp(_ctx(t, 3), t) == (-20, 100)  # RELU6: zp + round(6 / 0.05) = 100


def test_requantize_is_mbqm_plus_zero_point_clamped() -> None:
    rng = np.random.default_rng(0)
    acc = rng.integers(-(1 << 24), 1 << 24, size=(5, 7)).astype(np.int32)
    m, s = fp.quantize_multiplier(rng.uniform(1e-5, 0.9, size=7))
    out = np.empty(acc.shape, np.int8)
    requantize(acc, m, s, -5, -100, 127, out)
    ref = np.clip(fp.mbqm(acc, m, s) - 5, -100, 127)
    assert np.array_equal(out, ref)


def _near_ties(rng, m, s, bias, rows: int) -> np.ndarray:
    """Accumulators whose real value (acc + bias)·M·2^(s − 31) lies on or next to a half-integer (the
    inputs where a float path must hand over to the integer one), for every channel."""
    real = np.ldexp(m.astype(np.float64), (s - 31).astype(np.int32))
    half = rng.integers(-140, 140, size=(rows, m.size)) + 0.5
    acc = np.rint(half / real - bias) + rng.integers(-2, 3, size=(rows, m.size))
    return acc


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("per_channel", [True, False])
def test_requantizer32_equals_the_integer_path(relu: bool, per_channel: bool) -> None:
    """Requantizer32 (float32, bias folded, near-ties recomputed) == Requantizer.plain (fixed_point.mbqm),
    blocked and unblocked, on random accumulators within the declared bound and on near-ties."""
    rng = np.random.default_rng(11 + 2 * relu + per_channel)
    built = 0
    for trial in range(40):
        c = int(rng.integers(1, 300))
        rows = int(rng.integers(1, 1500)) if trial % 4 else 700  # some calls span several blocks
        real = rng.uniform(2e-4, 3e-2, size=c if per_channel else 1)
        m, s = fp.quantize_multiplier(np.broadcast_to(real, (c,)) if per_channel else real)
        zp = int(rng.integers(-128, 128))
        lo, hi = (zp, min(127, zp + int(rng.integers(1, 255)))) if relu else (-128, 127)
        bound = float(rng.choice([300.0, 3e4, 3e5]))
        bias = rng.integers(-30000, 30000, size=c)
        exact = Requantizer(m, s, zp, lo, hi)
        r32 = Requantizer32.build(exact, bias, bound, c)
        if r32 is None:
            continue
        built += 1
        acc = rng.integers(-bound, bound, size=(rows, c), endpoint=True).astype(np.float64)
        ties = np.clip(_near_ties(rng, m, s, bias, rows), -bound, bound)
        for a in (acc, ties):
            for dt in (np.float32, np.float64):
                if dt == np.float32 and bound >= 1 << 24:
                    continue
                got, ref = np.empty(a.shape, np.int8), np.empty(a.shape, np.int8)
                exact.plain(a, ref, bias)
                work = [np.empty(min(a.size, Requantizer32.BLOCK) + c, np.float32) for _ in range(2 + 2 * (trial % 2))]
                r32(a.astype(dt), got, work)
                assert np.array_equal(got, ref), (trial, c, rows, zp, lo, hi)
    assert built >= 20


def test_requantizer32_declines_what_it_cannot_prove() -> None:
    m, s = fp.quantize_multiplier(np.array([0.01, 0.02]))
    assert Requantizer32.build(Requantizer(m, s, 0, -128, 127), None, 1e3, 2) is not None
    # the accumulator bound does not widen the error band (only elements near the clamp matter) ...
    r = Requantizer32.build(Requantizer(m, s, 0, -128, 127), None, 1e9, 2)
    assert r is not None and 0.5 - float(r.edge) < 2.0 ** -13
    # ... a bias so large that the relative float32 error of a far-out element could reach a bound does
    assert Requantizer32.build(Requantizer(m, s, 0, -128, 127), np.array([2.0 ** 29, 0]), 1e3, 2) is None
    # int16 outputs, and a multiplier above one (left shift, TFLM's int32 wrap)
    assert Requantizer32.build(Requantizer(m, s, 0, -32768, 32767), None, 1e3, 2) is None
    m2, s2 = fp.quantize_multiplier(np.array([3.0, 0.5]))
    assert Requantizer32.build(Requantizer(m2, s2, 0, -128, 127), None, 1e3, 2) is None


@pytest.mark.parametrize("relu", [True, False])
def test_requantizer32_far_out_and_boundary_accumulators(relu: bool) -> None:
    """The error band depends on the clamp, not on the accumulator bound: float64 accumulators up to
    2^31 (TFLM's int32 accumulator; far beyond the clamp), and accumulators whose real value sweeps the clamp bounds ± 2 in
    steps of one accumulator unit, equal the integer path."""
    rng = np.random.default_rng(5 + relu)
    for trial in range(12):
        c = int(rng.integers(1, 40))
        real = rng.uniform(1e-4, 3e-2, size=c)
        m, s = fp.quantize_multiplier(real)
        zp = int(rng.integers(-128, 128))
        lo, hi = (zp, min(127, zp + int(rng.integers(1, 255)))) if relu else (-128, 127)
        bias = rng.integers(-3000, 3000, size=c)
        exact = Requantizer(m, s, zp, lo, hi)
        r32 = Requantizer32.build(exact, bias, 2.0 ** 31, c)
        assert r32 is not None
        mreal = np.ldexp(m.astype(np.float64), (s - 31).astype(np.int32))
        far = rng.integers(-(1 << 31) + 4000, (1 << 31) - 4000, size=(300, c)).astype(np.float64)
        edges = []
        for b in (lo - zp, hi - zp):  # sweep y = (acc + bias)·m around each bound, one acc step at a time
            start = np.floor((b - 2) / mreal - bias)
            edges.append(start + np.arange(int(4 / mreal.min()) + 2)[:, None])
        for a in (far, *edges):
            got, ref = np.empty(a.shape, np.int8), np.empty(a.shape, np.int8)
            exact.plain(a, ref, bias)
            r32(a, got, [np.empty(min(a.size, Requantizer32.BLOCK) + c, np.float32) for _ in range(2)])
            assert np.array_equal(got, ref), (trial, relu)


def test_requantizer32_fix_path_equals_fixed_point_mbqm() -> None:
    """The near-tie recompute (MBQM written out on per-channel constants) == fixed_point.mbqm, per
    channel and per tensor, accumulators over the whole int32 range (wrapping) and beyond."""
    rng = np.random.default_rng(3)
    for per_channel in (True, False):
        c = 37
        m, s = fp.quantize_multiplier(rng.uniform(1e-6, 0.05, size=c if per_channel else 1))
        bias = rng.integers(-(1 << 16), 1 << 16, size=c)
        exact = Requantizer(m, s, -7, -128, 127)
        r32 = Requantizer32.build(exact, bias, 1e4, c)
        assert r32 is not None
        out = np.zeros((400, c), np.int8)
        flat = np.arange(out.size)
        acc = rng.integers(-(1 << 32), 1 << 32, size=out.size).astype(np.float64)
        acc[:200] = rng.integers(-3000, 3000, size=200)
        r32._fix_values(flat, acc, out)
        ch = flat % c
        want = np.clip(fp.mbqm(acc.astype(np.int64) + bias[ch], m[ch] if per_channel else m[0],
                               s[ch] if per_channel else s[0]) - 7, -128, 127)
        assert np.array_equal(out.reshape(-1), want)


@pytest.mark.parametrize("n", [1, 1000, (1 << 16) - 1, 1 << 16, (1 << 16) + 1, 3 * (1 << 16) + 17])
def test_take_in_chunks_equals_fancy_indexing(n: int) -> None:
    """common.take: chunked np.take (mode "clip", indices in range) == table[idx], for sizes around the
    chunk, contiguous and strided, 256- and 65536-entry tables."""
    from keras2edge.runtime.kernels.quantized.common import take

    rng = np.random.default_rng(n)
    for size, idt, tdt in ((256, np.uint8, np.int8), (1 << 16, np.uint16, np.uint16)):
        table = rng.integers(0, 100, size).astype(tdt)
        idx = rng.integers(0, size, n).astype(idt)
        out = np.empty(n, tdt)
        take(table, idx, out)
        assert np.array_equal(out, table[idx])
        strided = np.empty(2 * n, tdt)[::2]
        take(table, idx, strided)
        assert np.array_equal(strided, table[idx])


@pytest.mark.parametrize("rows,c", [(1, 16), (7, 3), (4096, 16), (2730, 24), (1000, 47), (682, 96)])
def test_tile_rows_equals_broadcast(rows: int, c: int) -> None:
    from keras2edge.runtime.kernels.quantized.common import _tile_rows

    row = np.random.default_rng(c).standard_normal(c).astype(np.float32)
    full = np.full((rows, c), np.nan, np.float32)
    _tile_rows(full, row)
    assert np.array_equal(full, np.broadcast_to(row, (rows, c)))
