"""Bad requests get a clear QuantizationError (naming the input, the option and what is supported);
the CLI prints one line, exits 1 and leaves no output file. The CLI's success path writes QDQ ONNX
that onnxruntime runs."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

import keras2edge
from keras2edge.cli import main
from keras2edge.errors import QuantizationError

from ..corpus import FIXTURES
from ..onnxrt import ort_session
from .cases import load_case, rel_l2

CNN = FIXTURES / "k3" / "cnn2d.keras"


@pytest.fixture(scope="module")
def case():
    return load_case("k3-cnn2d")


@pytest.mark.parametrize("kwargs, words", [
    ({"scheme": "int4"}, ["unknown quantization scheme 'int4'", "int8"]),
    ({"method": "median"}, ["unknown calibration method 'median'", "minmax"]),
    ({"io": "int32"}, ["unknown io type 'int32'", "float", "uint8", "int16"]),
    ({"batch_size": 0}, ["batch size"]),
])
def test_bad_options(case, kwargs: dict, words: list[str]) -> None:
    with pytest.raises(QuantizationError) as ei:
        keras2edge.quantize(case.graph, calibration=case.calibration, **kwargs)
    for w in words:
        assert w in str(ei.value)


def test_shape_mismatch_names_the_input_and_both_shapes(case) -> None:
    bad = np.zeros((4, 12, 11, 3), np.float32)
    with pytest.raises(QuantizationError) as ei:
        keras2edge.quantize(case.graph, calibration=bad)
    msg = str(ei.value)
    assert "'image'" in msg and "(4, 12, 11, 3)" in msg and "(N, 12, 12, 3)" in msg


def test_wrong_input_names_and_nan(case) -> None:
    with pytest.raises(QuantizationError, match="missing"):
        keras2edge.quantize(case.graph, calibration={"img": case.feeds["image"]} | {"other": case.feeds["image"]})
    x = case.feeds["image"].copy()
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(QuantizationError, match="NaN"):
        keras2edge.quantize(case.graph, calibration=x)


def test_quantizing_a_quantized_graph_is_refused(case) -> None:
    q = keras2edge.quantize(case.graph, calibration=case.calibration)
    with pytest.raises(QuantizationError, match="already quantized"):
        keras2edge.quantize(q, calibration=case.calibration)


def test_input_graph_from_a_path(tmp_path, case) -> None:
    q = keras2edge.quantize(CNN, calibration=case.calibration)
    q.verify()
    assert [v.name for v in q.outputs] == case.output_names


def _run(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_cli_writes_qdq_onnx(tmp_path, case) -> None:
    cal = tmp_path / "cal.npz"
    np.savez(cal, **case.calibration)
    out = tmp_path / "q.onnx"
    r = _run(["quantize", str(CNN), "-o", str(out), "--calibration", str(cal), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["scheme"] == "int8" and info["io"] == "float" and info["int8_weights"] > 0
    sess = ort_session(str(out))
    got = sess.run(None, case.feeds)
    names = [o.name for o in sess.get_outputs()]
    assert names == case.output_names
    for g, w in zip(got, case.want):
        assert rel_l2(g, w) <= 0.08


@pytest.mark.parametrize("extra, words", [
    (["--scheme", "int4"], ["unknown quantization scheme 'int4'"]),
    (["--calibration-method", "median"], ["unknown calibration method"]),
    (["--calibration", "BAD_SHAPE"], ["'image'", "(2, 5)"]),
])
def test_cli_errors_one_line_exit_1_no_file(tmp_path, case, extra: list[str], words: list[str]) -> None:
    good = tmp_path / "cal.npy"
    np.save(good, case.feeds["image"])
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 5), np.float32))
    out = tmp_path / "q.onnx"
    args = ["quantize", str(CNN), "-o", str(out), "--calibration", str(good)]
    extra = [str(bad) if e == "BAD_SHAPE" else e for e in extra]
    r = _run(args + extra)
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    for w in words:
        assert w in lines[0]
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["bad.npy", "cal.npy"]


def test_cli_checks_options_before_reading_anything(tmp_path) -> None:
    """An unknown scheme is reported even when the model and the data do not exist yet."""
    r = _run(["quantize", str(tmp_path / "missing.h5"), "-o", str(tmp_path / "q.onnx"),
              "--calibration", str(tmp_path / "missing.npy"), "--scheme", "int4"])
    assert r.exit_code == 1 and "unknown quantization scheme 'int4'" in r.stderr
    assert os.listdir(tmp_path) == []


def test_a_model_the_runtime_cannot_run_is_refused_clearly() -> None:
    """Calibration runs the float .tflite: a Conv2D whose kernel is a graph input has no TFLite
    form, and the error says why calibration needs one, naming the Keras layer."""
    from keras2edge.ir.dtypes import DType
    from keras2edge.ir.graph import Graph

    g = Graph("dynamic_kernel")
    x = g.add_input("x", DType.FLOAT32, (None, 5, 5, 2))
    w = g.add_input("w", DType.FLOAT32, (3, 3, 2, 4))
    g.outputs = [g.op("Conv2D", [x, w], ("conv", "Conv2D"), strides=(1, 1), dilations=(1, 1), padding="same")]
    g.verify()
    cal = {"x": np.zeros((2, 5, 5, 2), np.float32), "w": np.zeros((2, 3, 3, 2, 4), np.float32)}
    with pytest.raises(QuantizationError) as ei:
        keras2edge.quantize(g, calibration=cal)
    msg = str(ei.value)
    assert "calibration runs the float model as .tflite" in msg and "conv (Conv2D)" in msg


@pytest.mark.parametrize("scheme,key", [("dynamic", "int8_weights"), ("float16", "float16_weights")])
def test_cli_weight_only_schemes_need_no_calibration(tmp_path, scheme: str, key: str) -> None:
    """dynamic / float16 store the weights only: no --calibration; the trained digits MLP (its 64×64
    weights are above the 1,024-element threshold) runs in onnxruntime with Keras's test predictions;
    int8 without --calibration is one clear line, exit 1, nothing written."""
    trained = FIXTURES / "trained"
    mlp = trained / "digits_mlp.keras"
    out = tmp_path / f"q_{scheme}.onnx"
    r = _run(["quantize", str(mlp), "-o", str(out), "--scheme", scheme, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[key] > 0
    x = np.load(trained / "digits.npz")["x_test"].astype(np.float32)
    want = np.load(trained / "keras_outputs.npz")["digits_mlp"]
    sess = ort_session(str(out))
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x})
    assert rel_l2(got, want) <= 0.02
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.99
    r = CliRunner().invoke(main, ["quantize", str(mlp), "-o", str(tmp_path / "i8.onnx")])
    assert r.exit_code == 1 and "needs calibration data" in r.output
    assert not (tmp_path / "i8.onnx").exists()
