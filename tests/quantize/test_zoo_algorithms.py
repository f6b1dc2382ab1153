"""keras2edge's int8 of the random-weight zoo against its two anchors (issue 11, zoo-marked: needs
TensorFlow and litert-quantizer, the ``zoo`` extra).

Every tool gets the same model (``make_converter_models.zoo_model``: random weights, seed 1234,
randomised BatchNorm statistics, logits), the same 8 calibration samples (the converter files'
own: ``make_quantized_models``, uniform in the input range, seed 1234) and the same 16 evaluation
inputs (uniform, seed 2). Error = relative L2 of the int8 output against Keras' float output,
||q - f|| / ||f|| over all 16 samples; top-1 agreement = argmax equal to Keras' argmax.

* TFLite converter: the zoo's full-int8 files (``tests/runtime/zoo_int8.py``; int8 input/output),
  run in keras2edge.runtime (bit-identical to TFLite Micro on them: tests/runtime);
* LiteRT Quantizer: recipe ``static_wi8_ai8`` on the converter's float file of the batch-1 model,
  run in LiteRT's reference kernels (its files of the MobileNetV3 models have int8 input and output:
  real values are quantized and dequantized with their parameters);
* keras2edge: ``keras2edge.quantize(model.keras, calibration=...)`` with the default algorithms
  (bias correction on), run in keras2edge.runtime.

Measured (relative L2: TFLite converter / LiteRT Quantizer / keras2edge defaults): MobileNetV2 0.0116 /
0.0118 / 0.0091; MobileNetV3Small 0.0175 / 0.0168 / 0.0096; MobileNetV3Large 0.0192 / 0.0189 / 0.0107;
EfficientNetB0 0.0223 / 0.0225 / 0.0134; ResNet50 0.0132 / 0.0129 / 0.0099. MobileNetV3Small top-1
agreement with Keras: 0% / 0% / 87.5% on the 16 inputs, 92.2% on 64 (93.75% with CLE too); per-tensor
MobileNetV2 with CLE and bias correction 0.0091 against 0.0091 per channel (plain: 0.0131 / 0.0118).

Held here: every model's error at or below both anchors'; MobileNetV3Small's top-1 agreement with
float >= 90% over 64 inputs (both anchors: 0% on the 16); per-tensor MobileNetV2 with CLE and bias
correction within 2x the per-channel error.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.tflite import tflite_bytes
from keras2edge.runtime import Interpreter

from ..litert import litert
from ..runtime.zoo_int8 import ZOO_INT8, zoo_int8_file

pytestmark = pytest.mark.zoo

EVAL_SAMPLES = 16
ROWS: dict[str, dict[str, float]] = {}


class _Model:
    """One zoo model: its .keras file, calibration and evaluation inputs, Keras' float outputs."""

    def __init__(self, name: str, folder: Path) -> None:
        import keras

        from ..runtime import make_converter_models as base
        from ..runtime import make_quantized_models as mq

        _, (lo, hi) = base.ZOO[name]
        model = base.zoo_model(name)
        self.path = folder / f"{name}.keras"
        model.save(self.path)
        shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        self.calibration = np.concatenate([b[0] for b in mq._calibration([shape], lo, hi, base.SEED)()])
        self.x = np.random.default_rng(2).uniform(lo, hi, (EVAL_SAMPLES, *shape)).astype(np.float32)
        self.want = np.asarray(model(self.x, training=False), np.float32)
        ins = keras.Input(batch_shape=(1, *shape))
        fixed = keras.Model(ins, model(ins))
        self.float_tflite = base._convert(fixed)
        keras.backend.clear_session()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, _Model]:
    return {}


def _model(models: dict[str, _Model], name: str, tmp_path_factory: pytest.TempPathFactory) -> _Model:
    if name not in models:
        models[name] = _Model(name, tmp_path_factory.mktemp(name))
    return models[name]


def _rel(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.linalg.norm(got.astype(np.float64) - want) / np.linalg.norm(want.astype(np.float64)))


def _run_int8_io(data: bytes, x: np.ndarray) -> np.ndarray:
    """Run a file with int8 input/output in keras2edge.runtime: real inputs quantized, outputs dequantized."""
    it = Interpreter(data)
    d_in, d_out = it.get_input_details()[0], it.get_output_details()[0]
    (s_in, z_in), (s_out, z_out) = d_in["quantization"], d_out["quantization"]
    outs = []
    for k in range(len(x)):
        xq = np.clip(np.round(x[k:k + 1] / s_in) + z_in, -128, 127).astype(np.int8)
        outs.append((np.asarray(it.run(xq), np.float64) - z_out) * s_out)
    return np.concatenate(outs)


def _litert_real(data: bytes, x: np.ndarray) -> np.ndarray:
    """Run in LiteRT's reference kernels with real values: an integer input quantized, an integer
    output dequantized, each with its tensor's own parameters."""
    from ai_edge_litert.interpreter import Interpreter as LInterpreter

    it = LInterpreter(model_content=data)  # LiteRT Quantizer keeps buffers outside the flatbuffer
    d_in, d_out = it.get_input_details()[0], it.get_output_details()[0]
    dt = np.dtype(d_in["dtype"])
    if dt.kind != "f":
        s, z = d_in["quantization"]
        x = np.clip(np.round(x / s) + z, np.iinfo(dt).min, np.iinfo(dt).max).astype(dt)
    y = litert(data, [x])[0]
    if y.dtype.kind == "f":
        return y
    s, z = d_out["quantization"]
    return (y.astype(np.float64) - z) * s


def _litert_quantizer(float_tflite: bytes, calibration: np.ndarray, folder: Path) -> bytes:
    from ai_edge_litert.interpreter import Interpreter as LInterpreter
    from litert_quantizer import quantizer, recipe

    path = folder / "float.tflite"
    path.write_bytes(float_tflite)
    name = LInterpreter(model_path=str(path)).get_signature_list()["serving_default"]["inputs"][0]
    qt = quantizer.Quantizer(str(path))
    qt.load_quantization_recipe(recipe.static_wi8_ai8())
    with contextlib.redirect_stdout(io.StringIO()):
        cal = qt.calibrate({"serving_default": [{name: calibration[k:k + 1]} for k in range(len(calibration))]})
        return bytes(qt.quantize(cal, enable_progress_report=False).quantized_model)


def _ours(m: _Model, **options: object) -> np.ndarray:
    q = keras2edge.quantize(m.path, calibration=m.calibration, **options)
    it = Interpreter(tflite_bytes(q))
    return np.concatenate([np.asarray(it.run(m.x[k:k + 1])) for k in range(len(m.x))])


@pytest.mark.parametrize("name", ZOO_INT8)
def test_no_worse_than_the_anchors(name: str, int8_zoo_dir: Path, models: dict[str, _Model],
                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    m = _model(models, name, tmp_path_factory)
    conv = _run_int8_io(zoo_int8_file(name, int8_zoo_dir).read_bytes(), m.x)
    lq_bytes = _litert_quantizer(m.float_tflite, m.calibration, tmp_path_factory.mktemp(f"{name}-lq"))
    lq = np.concatenate([_litert_real(lq_bytes, m.x[k:k + 1]) for k in range(len(m.x))])
    ours = _ours(m)
    row = {tool: _rel(y, m.want) for tool, y in (("tflite_converter", conv), ("litert_quantizer", lq),
                                                  ("keras2edge", ours))}
    top1 = {tool: float(np.mean(y.argmax(-1) == m.want.argmax(-1)))
            for tool, y in (("tflite_converter", conv), ("litert_quantizer", lq), ("keras2edge", ours))}
    ROWS[name] = {**row, **{f"top1_{k}": v for k, v in top1.items()}}
    print(name, ROWS[name])
    assert row["keras2edge"] <= row["tflite_converter"], row
    assert row["keras2edge"] <= row["litert_quantizer"], row


def test_mobilenet_v3_small_top1(models: dict[str, _Model], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Top-1 agreement with Keras over 64 inputs (uniform, seed 2; the first 16 are the inputs above):
    the logits barely depend on the input (||f - mean f|| / ||f|| ~ 2e-7) and the top two are one int8
    output step apart, so agreement measures the quantized network's output noise; 64 inputs keep the
    estimate's own noise down (16 inputs: one flip is 6 points)."""
    import keras

    from ..runtime import make_converter_models as base

    m = _model(models, "MobileNetV3Small", tmp_path_factory)
    _, (lo, hi) = base.ZOO["MobileNetV3Small"]
    x = np.random.default_rng(2).uniform(lo, hi, (64, *m.x.shape[1:])).astype(np.float32)
    want = np.asarray(keras.models.load_model(m.path)(x, training=False))
    q = keras2edge.quantize(m.path, calibration=m.calibration)
    it = Interpreter(tflite_bytes(q))
    got = np.concatenate([np.asarray(it.run(x[k:k + 1])) for k in range(len(x))])
    agreement = float(np.mean(got.argmax(-1) == want.argmax(-1)))
    line = str(q.metadata["quantization_algorithms"])
    print("MobileNetV3Small top-1 agreement", agreement, line)
    assert agreement >= 0.9, agreement
    # The report names the layers that needed help: bias correction's largest mean errors, logits among them.
    assert "bias_correction: " in line and "(largest, in output steps: " in line and "logits " in line, line


def test_per_tensor_mobilenet_v2(models: dict[str, _Model], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Per-tensor weights with CLE and bias correction: within 2x the per-channel error (defaults)."""
    m = _model(models, "MobileNetV2", tmp_path_factory)
    per_channel = _rel(_ours(m), m.want)
    per_tensor = _rel(_ours(m, per_tensor=True, cle=True, bias_correction=True), m.want)
    print("MobileNetV2 per-channel", per_channel, "per-tensor cle+bc", per_tensor)
    assert per_tensor <= 2 * per_channel, (per_tensor, per_channel)


def test_high_bias_absorption_mobilenet_v2(models: dict[str, _Model], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Per-tensor MobileNetV2 with CLE (bias correction off, to see absorption alone): high-bias
    absorption moves the ReLU6-never-clipped part of 17 depthwise/conv biases into the next layer.
    Measured: 0.0134 -> 0.0125 with CLE through ReLU6 (15 pairs; with bias correction too: 0.00909 ->
    0.00899)."""
    m = _model(models, "MobileNetV2", tmp_path_factory)
    err = {}
    for on in (False, True):
        q = keras2edge.quantize(m.path, calibration=m.calibration, per_tensor=True, cle=True, bias_correction=False,
                                high_bias_absorption=on)
        it = Interpreter(tflite_bytes(q))
        err[on] = _rel(np.concatenate([np.asarray(it.run(m.x[k:k + 1])) for k in range(len(m.x))]), m.want)
        assert ("high-bias absorption: " in q.metadata["quantization_algorithms"]) == on
    print("MobileNetV2 per-tensor CLE, without / with high-bias absorption", err)
    assert err[True] < err[False], err
