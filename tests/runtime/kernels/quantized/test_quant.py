"""QUANTIZE and DEQUANTIZE against TFLite Micro, element for element.

* int → int QUANTIZE (runtime/kernels/quantized/quant.py): every TFLM input/output pair, fed every
  value of an 8- or 16-bit input (random values incl. the extremes for int32 inputs), random scales
  from 1e-4 to 10 and zero points, plus the "same scale" cases (a pure zero-point shift, and the
  int8 ↔ uint8 shift by 128 that TFLM runs as a byte XOR). The runtime must also equal the plain
  integer ``requantize_int``, which checks the table fast path.
* float → int8 / int16 QUANTIZE and DEQUANTIZE (runtime/kernels/quant.py): random values and values
  at every rounding tie; DEQUANTIZE of every int8 / uint8 / int16 value. Where x / scale is beyond
  the int32 range TFLM's ``int32(roundf(x / s))`` is undefined (x86: INT32_MIN, so the output is the
  type's minimum even for a huge positive x); this runtime saturates instead (asserted).

LiteRT BUILTIN_REF differences asserted here: it has no int8 → int32 QUANTIZE, it refuses int16 →
int16 QUANTIZE and int16 DEQUANTIZE with a non-zero zero point, and for a per-channel DEQUANTIZE it
applies each channel's scale where TFLM applies the first scale to every channel, and it runs a
per-channel float → int8 QUANTIZE that TFLM refuses (the runtime follows the file's per-channel
meaning, as LiteRT does).
"""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.runtime import Interpreter
from keras2edge.runtime import fixed_point as fp
from keras2edge.runtime import int8_tables as tables
from keras2edge.runtime.errors import RuntimeModelError
from keras2edge.runtime.kernels.quantized.quant import REQUANTIZE_PAIRS, requantize_int

from ....tflm import tflm
from ...int8_bench import T, one_op_model, run_litert_ref, run_tflm

PAIRS = [(i, o) for i, outs in REQUANTIZE_PAIRS.items() for o in outs]


def _all_values(dtype: str, rng: np.random.Generator) -> np.ndarray:
    info = np.iinfo(dtype)
    if np.dtype(dtype).itemsize <= 2:
        return np.arange(info.min, info.max + 1).astype(dtype)
    edges = np.array([info.min, info.min + 1, -1, 0, 1, info.max - 1, info.max], dtype)
    return np.concatenate([edges, rng.integers(info.min, info.max, 3000, endpoint=True).astype(dtype),
                           rng.integers(-70000, 70000, 3000).astype(dtype)])


def _zp(dtype: str, rng: np.random.Generator) -> int:
    info = np.iinfo(dtype)
    return int(rng.integers(max(info.min, -40000), min(info.max, 40000), endpoint=True))


def _requant_cases(i: str, o: str, rng: np.random.Generator) -> list[tuple[float, int, float, int]]:
    cases = []
    for k in range(6):
        si = float(np.float32(np.exp(rng.uniform(np.log(1e-4), np.log(10)))))
        so = float(np.float32(si * np.exp(rng.uniform(-3, 3)))) if k < 4 else si  # k ≥ 4: same scale
        cases.append((si, _zp(i, rng), so, _zp(o, rng)))
    if {i, o} == {"int8", "uint8"}:  # TFLM's XOR fast path: same scale, zero points 128 apart
        zi = int(rng.integers(-128, 0)) if i == "int8" else int(rng.integers(0, 128))
        cases.append((0.05, zi, 0.05, zi + 128 if o == "uint8" else zi - 128))
    return cases


@pytest.mark.parametrize("i, o", PAIRS)
def test_requantize_is_bit_exact_with_tflm(i: str, o: str) -> None:
    rng = np.random.default_rng(sum(map(ord, i + o)))
    x = _all_values(i, rng)
    for si, zi, so, zo in _requant_cases(i, o, rng):
        model = one_op_model("QUANTIZE", [T(x.shape, np.dtype(i), si, zi)], [T(x.shape, np.dtype(o), so, zo)])
        micro = tflm(model, [x], 1, arena=4 << 20)[0]
        ours = Interpreter(model).run(x)
        what = f"QUANTIZE {i} ({si}, {zi}) -> {o} ({so}, {zo})"
        assert ours.dtype == micro.dtype and np.array_equal(ours, micro), \
            f"{what}: TFLM differs at {x[ours != micro][:5]}: {micro[ours != micro][:5]} vs {ours[ours != micro][:5]}"
        m, s = fp.quantize_multiplier(fp.real_multiplier_requantize(si, so))
        assert np.array_equal(ours, requantize_int(x, zi, m, s, zo, o)), f"{what}: the plain integer path differs"
        if si == so and i != "int32":  # (an int32 input wraps: q − z_in and 2·(q − z_in) in int32)
            assert (m, s) == (1 << 30, 1)
            lo, hi = np.iinfo(o).min, np.iinfo(o).max
            assert np.array_equal(ours, np.clip(x.astype(np.int64) - zi + zo, lo, hi)), f"{what}: not a zp shift"
        _check_litert(model, x, ours, i, o, zi, zo)


def _check_litert(model: bytes, x: np.ndarray, ours: np.ndarray, i: str, o: str, zi: int, zo: int) -> None:
    if (i, o) == ("int8", "int32"):
        with pytest.raises(Exception, match="kTfLiteUInt8"):
            run_litert_ref(model, [x])
    elif (i, o) == ("int16", "int16") and (zi, zo) != (0, 0):
        with pytest.raises(Exception, match="zero_point != 0"):
            run_litert_ref(model, [x])
    else:
        assert np.array_equal(run_litert_ref(model, [x])[0], ours), f"{i} -> {o}: LiteRT BUILTIN_REF differs"


@pytest.mark.parametrize("i, o, message", [
    ("uint8", "uint8", "QUANTIZE uint8 -> uint8"),
    ("uint8", "int16", "not a requantization TFLite Micro supports"),
    ("int16", "uint8", "int16 -> int8, int16, int32"),
    ("int32", "int32", "int32 -> int8, int16"),
])
def test_unsupported_pairs_are_refused(i: str, o: str, message: str) -> None:
    model = one_op_model("QUANTIZE", [T((4,), np.dtype(i), 0.1, 0)], [T((4,), np.dtype(o), 0.2, 0)])
    with pytest.raises(RuntimeModelError, match=message) as e:
        Interpreter(model)
    assert "op #0 QUANTIZE" in str(e.value)


@pytest.mark.parametrize("inp, out, message", [
    (T((4, 3), np.int8, 0.1, 0), T((4, 3), np.int8, [0.1, 0.2, 0.3], 0, axis=1), "quantized per axis"),
    (T((4, 3), np.int8, [0.1, 0.2, 0.3], 0, axis=1), T((4, 3), np.int8, 0.1, 0), "quantized per axis"),
    (T((4, 3), np.int8, None), T((4, 3), np.int8, 0.1, 0), "'in0' .* has no quantization parameters"),
    (T((4, 3), np.int16, 0.1, 0), T((4, 3), np.int8, None), "has no quantization parameters"),
    (T((4, 3), np.int8, 0.1, 0), T((4, 3), np.int8, 0.0, 0), "finite and > 0"),
])
def test_bad_quantization_is_refused(inp: T, out: T, message: str) -> None:
    model = one_op_model("QUANTIZE", [inp], [out])
    with pytest.raises(RuntimeModelError, match=message) as e:
        Interpreter(model)
    assert "op #0 QUANTIZE" in str(e.value)


# ---------------------------------------------------------------------------------------------
# float32 -> int8 / int16 QUANTIZE and DEQUANTIZE (runtime/kernels/quant.py)


@pytest.mark.parametrize("dtype", [np.int8, np.int16])
def test_quantize_float_is_bit_exact_with_tflm(dtype) -> None:
    """float32 / float32 division, roundf half-away (ties both signs), + zp, clamp."""
    rng = np.random.default_rng(11 + np.dtype(dtype).itemsize)
    info = np.iinfo(dtype)
    for _ in range(8):
        scale = np.float32(np.exp(rng.uniform(np.log(1e-4), np.log(10))))
        zp = 0 if dtype == np.int16 and rng.random() < 0.5 else _zp(np.dtype(dtype).name, rng)
        k = rng.integers(-40000, 40000, 2000).astype(np.float32)
        ties = ((k + np.float32(0.5)) * scale).astype(np.float32)  # exact ties where the product is exact
        wide = (rng.standard_normal(2000) * scale * (info.max - info.min) / 4).astype(np.float32)
        x = np.concatenate([ties, wide, np.float32([0, -0.0, 1e6, -1e6, scale / 2, -scale / 2])])
        model = one_op_model("QUANTIZE", [T(x.shape, np.float32)], [T(x.shape, dtype, float(scale), zp)])
        micro, ours = run_tflm(model, [x])[0], Interpreter(model).run(x)
        beyond = np.abs(x.astype(np.float64) / scale) >= 2.0 ** 31  # int32(roundf(x / s)) is undefined in C++
        assert np.array_equal(ours[~beyond], micro[~beyond]), \
            f"QUANTIZE float -> {np.dtype(dtype)} ({scale}, {zp}): TFLM differs at {x[ours != micro][:5]}"
        # there x86 gives INT32_MIN, so TFLM (and LiteRT) output the minimum; this runtime saturates
        assert np.all(micro[beyond] == info.min)
        assert np.array_equal(ours[beyond], np.where(x[beyond] > 0, info.max, info.min))
        assert np.array_equal(run_litert_ref(model, [x])[0], micro)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16])
def test_dequantize_is_bit_exact_with_tflm(dtype) -> None:
    """float32(double(s)·(q − z)) for every input value."""
    rng = np.random.default_rng(21 + np.dtype(dtype).itemsize)
    info = np.iinfo(dtype)
    x = np.arange(info.min, info.max + 1).astype(dtype)
    for _ in range(6):
        scale = float(np.float32(np.exp(rng.uniform(np.log(1e-4), np.log(10)))))
        zp = _zp(np.dtype(dtype).name, rng)
        model = one_op_model("DEQUANTIZE", [T(x.shape, dtype, scale, zp)], [T(x.shape, np.float32)], version=2)
        micro, ours = tflm(model, [x], 1, arena=4 << 20)[0], Interpreter(model).run(x)
        assert ours.dtype == np.float32 and np.array_equal(ours, micro), f"DEQUANTIZE {scale}, {zp}: TFLM differs"
        if dtype == np.int16 and zp != 0:
            with pytest.raises(Exception, match="zero_point != 0"):  # LiteRT: int16 DEQUANTIZE needs zp 0
                run_litert_ref(model, [x])
        else:
            assert np.array_equal(run_litert_ref(model, [x])[0], micro)


def test_dequantize_per_channel_follows_the_file_not_tflm() -> None:
    """TFLM applies the first scale and zero point to every channel of a per-channel DEQUANTIZE;
    LiteRT (and this runtime) apply each channel's own: ``float32(scale[c]·(q − zp[c]))``."""
    scales = [0.1, 0.25, 2.0]
    x = np.arange(-128, 127, dtype=np.int8)[:255].reshape(85, 3)
    model = one_op_model("DEQUANTIZE", [T(x.shape, np.int8, scales, 0, axis=1)], [T(x.shape, np.float32)], version=2)
    ours = Interpreter(model).run(x)
    want = (np.float32(scales) * x.astype(np.float32)).astype(np.float32)
    assert np.array_equal(ours, want)
    assert np.array_equal(run_litert_ref(model, [x])[0], want)
    micro = run_tflm(model, [x])[0]
    assert np.array_equal(micro, (np.float64(np.float32(0.1)) * x).astype(np.float32))  # first scale only
    assert not np.array_equal(micro, ours)


def test_quantize_float_per_channel_follows_litert_tflm_refuses() -> None:
    """A per-channel float → int8 QUANTIZE: TFLM refuses it in prepare (one output scale only);
    this runtime computes each channel with its own scale and zero point, as LiteRT does."""
    x = np.random.default_rng(71).uniform(-3, 3, (40, 3)).astype(np.float32)
    out = T(x.shape, np.int8, [0.1, 0.02, 0.05], [0, 3, -4], axis=1)
    model = one_op_model("QUANTIZE", [T(x.shape, np.float32)], [out])
    ours = Interpreter(model).run(x)
    assert np.array_equal(ours, run_litert_ref(model, [x])[0])
    for c, (s, z) in enumerate([(0.1, 0), (0.02, 3), (0.05, -4)]):
        assert np.array_equal(ours[:, c], tables.quantize_float(x[:, c], s, z))
    with pytest.raises(RuntimeError, match="allocate"):
        run_tflm(model, [x])
