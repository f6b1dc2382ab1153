"""keras2edge.quantio and ``run_tflite(raw=...)``: quantized models take real values and return float32
(or, raw, their integers), with the arithmetic of the model's own QUANTIZE/DEQUANTIZE ops.

Oracles: TFLite Micro on the same bytes (int8, int16; it has no float -> uint8 QUANTIZE), a one-op
QUANTIZE / DEQUANTIZE model run in TFLite Micro and in keras2edge.runtime, and the arithmetic written
out in NumPy (``tests/int8_io_models.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keras2edge import RuntimeModelError, run_tflite
from keras2edge.convert.tflite.writer import write_model
from keras2edge.quantio import IOConversion, RunOutputs
from keras2edge.runtime import Interpreter
from keras2edge.runtime.model import Quantization
from keras2edge.runtime.reader import load_model

from .int8_io_models import IOModel, expected, io_model, q_to_real, real_to_q
from .runtime.helpers import GraphBuilder
from .runtime.int8_bench import T, one_op_model
from .tflm import tflm, tflm_unsupported

DTYPES = [np.int8, np.uint8, np.int16]
ZP = {np.int8: (-3, 5), np.uint8: (120, 130), np.int16: (0, 0)}


def _model(tmp_path: Path, dtype: type, **kw: object) -> tuple[IOModel, Path]:
    zin, zout = ZP[dtype]
    m = io_model(dtype, in_q=(0.05, zin), out_q=(0.1, zout), **kw)  # type: ignore[arg-type]
    p = tmp_path / f"m_{np.dtype(dtype).name}.tflite"
    p.write_bytes(m.data)
    return m, p


def _real_values(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """Random reals, a quarter of them exact rounding ties (k + 0.5) * scale, and some far out of range."""
    x = rng.uniform(-400, 400, shape) * scale
    ties = rng.random(shape) < 0.25
    x[ties] = (rng.integers(-300, 300, shape) + 0.5)[ties] * scale
    x.flat[:2] = (1e9, -1e9)
    return x.astype(np.float32)


@pytest.mark.parametrize("dtype", [np.int8, np.int16])
def test_quantize_matches_the_quantize_op_in_tflm(dtype: type) -> None:
    """The float -> integer conversion of ``run`` is TFLM's QUANTIZE on every element, ties included
    (values beyond int32 are left out: the C++ cast is undefined there, and we saturate)."""
    from keras2edge.runtime.kernels.quant import affine_quantize

    rng = np.random.default_rng(1)
    for k in range(12):
        scale = float(np.float32(np.exp(rng.uniform(-9, 1))))
        zp = 0 if dtype == np.int16 else int(rng.integers(-128, 128))
        x = _real_values(rng, (3, 64), scale)[:, 2:] * np.float32(rng.choice([1, 0.3]))
        model = one_op_model("QUANTIZE", [T(x.shape, np.float32)], [T(x.shape, dtype, scale, zp)])
        want = tflm(model, [x])[0]
        got = affine_quantize(x, np.float32(scale), np.int64(zp), dtype)
        assert np.array_equal(got, want), (k, scale, zp)
        assert np.array_equal(Interpreter(model).run(x), want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dequantize_matches_the_dequantize_op(dtype: type) -> None:
    from keras2edge.runtime.kernels.quant import affine_dequantize

    info = np.iinfo(dtype)
    q = np.arange(info.min, info.max + 1, max(1, (info.max - info.min) // 4000), dtype=dtype).reshape(1, -1)
    for scale, zp in [(0.05, ZP[dtype][0]), (3.7e-5, ZP[dtype][1]), (11.0, 0)]:
        model = one_op_model("DEQUANTIZE", [T(q.shape, dtype, scale, zp)], [T(q.shape, np.float32)])
        got = affine_dequantize(q, np.float32(scale), np.int64(zp))
        assert np.array_equal(got, q_to_real(q, scale, zp))
        assert np.array_equal(got, Interpreter(model).run(q))
        if dtype != np.uint8:
            assert np.array_equal(got, tflm(model, [q])[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_run_takes_real_values_and_returns_float32(tmp_path: Path, dtype: type) -> None:
    m, p = _model(tmp_path, dtype, shape=(2, 3, 8), float_input=True, float_output=True)
    rng = np.random.default_rng(2)
    x = _real_values(rng, m.shape, m.in_scale)
    y = rng.uniform(-3, 3, m.shape).astype(np.float32)
    outs = run_tflite(p, {"x": x, "y": y})
    assert isinstance(outs, RunOutputs) and list(outs) == ["out", "f"]
    xq = real_to_q(x, m.in_scale, m.in_zp, m.dtype)
    want = expected(m, xq, y)
    assert outs["out"].dtype == np.float32
    assert np.array_equal(outs["out"], q_to_real(want["out"], m.out_scale, m.out_zp))
    assert np.array_equal(outs["f"], want["f"])
    if dtype != np.uint8:  # TFLM, fed the integers the conversion made, computes the same integers
        golden = tflm(m.data, [xq, y])
        assert np.array_equal(golden[0], want["out"]) and np.array_equal(golden[1], want["f"])
    name = np.dtype(dtype).name
    assert outs.conversions == [
        IOConversion("x", "input", "quantize", name, "float32", float(np.float32(0.05)), m.in_zp),
        IOConversion("y", "input", "none", "float32", "float32"),
        IOConversion("out", "output", "dequantize", name, "float32", float(np.float32(0.1)), m.out_zp),
        IOConversion("f", "output", "none", "float32", "float32"),
    ]
    assert outs.conversions[0].describe() == f"input 'x': float32 -> {name}, quantized (scale 0.05, zero point {m.in_zp})"


@pytest.mark.parametrize("dtype", DTYPES)
def test_raw_passes_the_integers(tmp_path: Path, dtype: type) -> None:
    m, p = _model(tmp_path, dtype, shape=(1, 40))
    info = np.iinfo(dtype)
    xq = np.random.default_rng(3).integers(info.min, info.max, m.shape, endpoint=True).astype(dtype)
    outs = run_tflite(p, xq, raw=True)
    want = expected(m, xq)["out"]
    assert outs["out"].dtype == dtype and np.array_equal(outs["out"], want)
    if dtype != np.uint8:
        assert np.array_equal(tflm(m.data, [xq])[0], want)
    assert [c.action for c in outs.conversions] == ["raw", "raw"]
    # real values give the same result once quantized by hand
    reals = q_to_real(xq, m.in_scale, m.in_zp)
    assert np.array_equal(run_tflite(p, reals)["out"], q_to_real(want, m.out_scale, m.out_zp))


def test_refusals_name_the_input_and_what_to_do(tmp_path: Path) -> None:
    m, p = _model(tmp_path, np.int8)
    x8 = np.zeros(m.shape, np.int8)
    with pytest.raises(RuntimeModelError, match=r"input 'x' is int8, quantized with scale 0.05 and zero point -3.*"
                                                r"could be either.*--raw"):
        run_tflite(p, x8)
    with pytest.raises(RuntimeModelError, match=r"raw mode takes the int8 tensor as is, got float32: drop --raw"):
        run_tflite(p, x8.astype(np.float32), raw=True)
    with pytest.raises(RuntimeModelError, match=r"raw mode takes the int8 tensor as is, got int16: give an int8"):
        run_tflite(p, x8.astype(np.int16), raw=True)
    with pytest.raises(RuntimeModelError, match=r"takes real values \(a float array\), got complex64"):
        run_tflite(p, x8.astype(np.complex64))
    with pytest.raises(RuntimeModelError, match=str(p)):  # the file is named, as for every runtime error
        run_tflite(p, x8)


def test_integers_of_another_dtype_are_real_values(tmp_path: Path) -> None:
    """uint8 pixels (or Python ints) fed to an int8 input are real values: quantized like floats."""
    m, p = _model(tmp_path, np.int8)
    pixels = np.arange(6, dtype=np.uint8).reshape(m.shape)
    outs = run_tflite(p, pixels)
    assert outs.conversions[0].action == "quantize" and outs.conversions[0].user_dtype == "uint8"
    assert np.array_equal(outs["out"], run_tflite(p, pixels.astype(np.float32))["out"])
    assert np.array_equal(run_tflite(p, [[0, 1, 2, 3, 4, 5]])["out"], outs["out"])


def test_float_model_is_untouched(tmp_path: Path) -> None:
    """No conversion on a float model, raw or not (the corpus's hello_world_float)."""
    from .corpus import corpus

    path = corpus("tflite-micro/hello_world_float.tflite")
    x = np.array([[0.5]], np.float32)
    a, b = run_tflite(path, x), run_tflite(path, x, raw=True)
    assert {c.action for c in a.conversions + b.conversions} == {"none"}
    assert np.array_equal(a[next(iter(a))], Interpreter(path).run(x))
    assert np.array_equal(a[next(iter(a))], b[next(iter(b))])


def test_per_channel_input(tmp_path: Path) -> None:
    """A per-channel quantized input is quantized channel by channel (as a per-channel QUANTIZE:
    scale[c], zero_point[c] along the quantized dimension)."""
    g = GraphBuilder()
    x = g.input("x", (2, 3), np.int8)
    scales, zps = np.array([0.05, 0.5, 0.01], np.float32), np.array([-3, 0, 7], np.int64)
    g.tensors[x].quantization = Quantization(scales, zps, 1)
    f = g.op("DEQUANTIZE", [x], shapes=[(2, 3)])
    g.output(f)
    p = tmp_path / "pc.tflite"
    p.write_bytes(write_model(g.model()))
    reals = np.array([[0.1, 0.75, -0.025], [-7.0, 100.0, 0.005]], np.float32)
    outs = run_tflite(p, reals, raw=False)
    q = np.stack([real_to_q(reals[:, c], float(scales[c]), int(zps[c]), np.dtype(np.int8)) for c in range(3)], 1)
    assert np.array_equal(run_tflite(p, q, raw=True)[next(iter(outs))], outs[next(iter(outs))])
    c = outs.conversions[0]
    assert (c.action, c.axis, c.zero_point) == ("quantize", 1, [-3, 0, 7])
    assert "axis 1" in c.describe()


def test_unusable_scale_is_refused(tmp_path: Path) -> None:
    m = io_model(np.int8, in_q=(0.0, 0))
    p = tmp_path / "zero.tflite"
    p.write_bytes(m.data)
    with pytest.raises(RuntimeModelError, match=r"input 'x': quantization scale \[0.0\] is not a positive finite"):
        run_tflite(p, np.zeros(m.shape, np.float32))


def test_inputs_by_tensor_name_and_list(tmp_path: Path) -> None:
    m, p = _model(tmp_path, np.int8, float_input=True)
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(m.shape)
    y = np.ones(m.shape, np.float32)
    a = run_tflite(p, [x, y])
    b = run_tflite(p, {"y": y, "x": x})
    assert np.array_equal(a["out"], b["out"])
    assert [c.action for c in a.conversions] == [c.action for c in b.conversions] == ["quantize", "none", "dequantize"]
    with pytest.raises(RuntimeModelError, match="unknown input name"):
        run_tflite(p, {"x": x, "z": y})


def test_corpus_int8_model_end_to_end() -> None:
    """hello_world_int8 (TFLite Micro's own example) through run_tflite, real values in and out, against
    TFLM fed the same quantized input."""
    from .corpus import corpus

    path = corpus("tflite-micro/hello_world_int8.tflite")
    d = Interpreter(path).get_input_details()[0]
    (s_in, z_in), (s_out, z_out) = d["quantization"], Interpreter(path).get_output_details()[0]["quantization"]
    data = Path(path).read_bytes()
    for x in np.linspace(0, 2 * np.pi, 25, dtype=np.float32):
        xq = real_to_q(np.array([[x]]), s_in, z_in, np.dtype(np.int8))
        outs = run_tflite(path, np.array([[x]], np.float32))
        assert np.array_equal(next(iter(outs.values())), q_to_real(tflm(data, [xq])[0], s_out, z_out))


FIXTURES = Path(__file__).parent / "fixtures" / "tflite_runtime"


def _integer_io_files() -> list[str]:
    """The full-integer converter fixtures whose inputs are all integers (some 16x8 files keep a float
    input and quantize it with a QUANTIZE op: nothing for ``run`` to convert there)."""
    names = sorted(p.name for p in FIXTURES.glob("*.int8.tflite")) + sorted(p.name for p in FIXTURES.glob("*.16x8.tflite"))
    return [n for n in names
            if all(np.dtype(d["dtype"]).kind in "iu" for d in Interpreter(FIXTURES / n).get_input_details())]


def test_float_input_converter_files_pass_their_input_through() -> None:
    """A 16x8 file with a float input: ``run`` leaves the input alone and the model's QUANTIZE op does it."""
    names = sorted(p.name for p in FIXTURES.glob("*.16x8.tflite"))
    float_in = [n for n in names if n not in _integer_io_files()]
    assert float_in, "no 16x8 fixture keeps a float input; the integer-io test covers all of them"
    for n in float_in:
        it = Interpreter(FIXTURES / n)
        feeds = {d["name"]: np.random.default_rng(1).uniform(-1, 1, tuple(d["shape"])).astype(np.float32)
                 for d in it.get_input_details()}
        outs = run_tflite(FIXTURES / n, feeds)
        assert [c.action for c in outs.conversions if c.role == "input"] == ["none"] * len(feeds), n
        raw = it.run(feeds if len(feeds) > 1 else next(iter(feeds.values())))
        want = list(raw.values()) if isinstance(raw, dict) else [raw]
        for (oname, got), d, w in zip(outs.items(), it.get_output_details(), want):
            s, z = d["quantization"]
            exp = q_to_real(w, s, z) if np.dtype(w.dtype).kind in "iu" else w
            assert np.array_equal(got, exp), (n, oname)


@pytest.mark.parametrize("name", _integer_io_files())
def test_converter_files_with_integer_io(name: str) -> None:
    """The TFLite converter's full-integer files (int8 or int16 input and output): real values in, the
    model's own quantization applied, dequantized out, equal to TFLite Micro run on the integers; where
    TFLite Micro lacks an op of the file (TILE, GELU...), equal to keras2edge.runtime run on the integers
    (``--raw``), whose bit-exactness tests/runtime/test_quantized_converter_models.py checks against LiteRT."""
    path = FIXTURES / name
    it = Interpreter(path)
    data = path.read_bytes()
    rng = np.random.default_rng(5)
    feeds_q, feeds_real = [], {}
    for d in it.get_input_details():
        dt, (s, z) = np.dtype(d["dtype"]), d["quantization"]
        info = np.iinfo(dt)
        q = rng.integers(max(info.min, z - 60), min(info.max, z + 60), tuple(d["shape"]), endpoint=True).astype(dt)
        feeds_q.append(q)
        feeds_real[d["name"]] = q_to_real(q, s, z)  # reals on the grid: quantizing them gives q back
    if tflm_unsupported(load_model(data)):
        raw = it.run(feeds_q if len(feeds_q) > 1 else feeds_q[0])
        golden = list(raw.values()) if isinstance(raw, dict) else [raw]
    else:
        golden = tflm(data, feeds_q)
    outs = run_tflite(path, feeds_real)
    assert [c.action for c in outs.conversions if c.role == "input"] == ["quantize"] * len(feeds_q)
    for (oname, got), d, want in zip(outs.items(), it.get_output_details(), golden):
        s, z = d["quantization"]
        assert np.array_equal(got, q_to_real(want, s, z)), oname
