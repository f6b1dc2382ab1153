"""keras2edge's 16x8 quantization (``scheme="int16x8"``: int16 activations, int8 weights, int64 biases) of
the trained digits models (tests/fixtures/trained), calibrated on the 200-sample calibration split.

Each ``.tflite`` is held to every oracle: TFLite Micro allocates and runs it (arena from
``keras2edge.check_tflm``) and keras2edge.runtime gives TFLite Micro's outputs bit for bit on all 360
test samples; LiteRT's reference kernels run it to the same top-1; the QDQ ONNX (int16 QuantizeLinear,
opset 21; int64 biases written as float) runs in onnxruntime. Measured (minmax ranges): top-1 equals
Keras's float accuracy on every model in all three backends (MLP, LSTM, GRU 96.94%, CNN 98.33%; int8:
CNN 98.06%); the relative L2 error of the probabilities against Keras's is 6.8e-3 (MLP), 8.6e-3 (CNN),
4.3e-3 (LSTM), 7.4e-3 (GRU) in keras2edge.runtime and at most 8.6e-3 in onnxruntime, against 1.1e-2,
1.1e-2, 2.0e-2, 2.5e-2 for int8 (the weights stay int8). So 16x8 is held to within 0.1 point of float
accuracy (less than one test sample).

:func:`run_oracles` is shared with the mixed-precision tests (test_mixed_trained.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tflite_micro.python.tflite_micro import runtime as tflm_runtime

import keras2edge
from keras2edge.quantize.int8 import summary
from keras2edge.runtime import Interpreter

from ..onnxrt import ort_session
from .test_trained_fixtures import MANIFEST, MODELS, TRAINED, _data, _quantize

#: 16x8 top-1 may fall at most this far below Keras's float accuracy (0.1 point: under one of 360 samples).
MAX_DROP_16X8 = 0.001
#: Relative L2 error of the 16x8 probabilities against Keras's (measured at most 8.6e-3).
MAX_REL_L2_16X8 = 0.015


@dataclass
class OracleRun:
    """What one quantized model did on the 360 test samples in each backend."""

    ops: list[tuple[str, str]]           # (builtin, dtype) of each operator, keras2edge.runtime's view
    ours: np.ndarray                     # keras2edge.runtime outputs (real values), bit-identical to TFLite Micro's
    litert: np.ndarray                   # LiteRT reference kernels
    onnx: np.ndarray                     # onnxruntime on the QDQ ONNX
    accuracy: dict[str, float]
    rel_l2: dict[str, float]             # against Keras's recorded probabilities
    info: dict[str, Any]                 # keras2edge.quantize.int8.summary of the graph


def _keras_outputs(name: str) -> np.ndarray:
    with np.load(TRAINED / "keras_outputs.npz") as z:
        return z[name]


def _real(y: np.ndarray, detail: dict) -> np.ndarray:
    """An output in real values (an integer output dequantized with its parameters)."""
    if np.dtype(detail["dtype"]).kind == "f":
        return np.asarray(y, np.float32)
    scale, zero = detail["quantization"]
    return (np.asarray(y, np.float64) - zero) * scale


def run_oracles(name: str, tmp_path: Path, **options: Any) -> OracleRun:
    """Quantize trained model ``name`` with ``options`` (keras2edge.quantize keywords), write ``.tflite``
    and ``.onnx``, and run both in every backend; asserts that TFLite Micro runs the file and that
    keras2edge.runtime's integers (or floats) equal TFLite Micro's on every test sample."""
    from ai_edge_litert.interpreter import Interpreter as LiteRT
    from ai_edge_litert.interpreter import OpResolverType

    data = _data()
    e = MANIFEST["models"][name]
    shape = tuple(e["input_shape"])
    q = keras2edge.quantize(TRAINED / e["file"], calibration=data["x_calib"].reshape((-1, *shape)), **options)
    tfl, onx = tmp_path / f"{name}.tflite", tmp_path / f"{name}.onnx"
    keras2edge.save(q, tfl)
    keras2edge.save(q, onx)
    blob = tfl.read_bytes()
    report = keras2edge.check_tflm(tfl)
    assert report.runs, [(f.op, f.reason) for f in report.findings]
    ours = Interpreter(blob)
    micro = tflm_runtime.Interpreter.from_bytes(blob, arena_size=report.arena.arena_bytes)
    lite = LiteRT(model_content=blob, num_threads=1, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    lite.allocate_tensors()
    d_in, d_out = ours.get_input_details()[0], ours.get_output_details()[0]
    l_in, l_out = lite.get_input_details()[0], lite.get_output_details()[0]
    x = data["x_test"].reshape((-1, *shape))
    got, lit = [], []
    for k in range(len(x)):
        xq = _quantize(x[k:k + 1], d_in)
        y = np.asarray(ours.run(xq))
        micro.set_input(xq, 0)
        micro.invoke()
        np.testing.assert_array_equal(y, np.array(micro.get_output(0)).reshape(y.shape), err_msg=f"sample {k}")
        lite.set_tensor(l_in["index"], xq)
        lite.invoke()
        got.append(_real(y, d_out)[0])
        lit.append(_real(lite.get_tensor(l_out["index"]), l_out)[0])
    sess = ort_session(str(onx))
    onnx_in = _quantize(x, d_in)  # integer io: the same integers as the .tflite's input
    onnx_out = np.asarray(sess.run(None, {sess.get_inputs()[0].name: onnx_in})[0])
    if onnx_out.dtype.kind != "f":  # integer io: the ONNX output carries the same parameters
        onnx_out = _real(onnx_out, d_out)
    keras = _keras_outputs(name)
    outs = {"keras2edge.runtime": np.array(got), "litert": np.array(lit), "onnxruntime": onnx_out}
    return OracleRun(
        ops=[(op.name, op.dtype) for op in ours.ops], ours=outs["keras2edge.runtime"], litert=outs["litert"],
        onnx=onnx_out,
        accuracy={k: float(np.mean(v.argmax(-1) == data["y_test"])) for k, v in outs.items()},
        rel_l2={k: float(np.linalg.norm(v - keras) / np.linalg.norm(keras)) for k, v in outs.items()},
        info=summary(q))


@pytest.mark.parametrize("name", MODELS)
def test_int16x8_in_every_backend(name: str, tmp_path: Path) -> None:
    run = run_oracles(name, tmp_path, scheme="int16x8")
    weight_ops = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    assert {dt for op, dt in run.ops if op in weight_ops} == {"int16"}, run.ops
    assert {dt for op, dt in run.ops if op not in ("QUANTIZE",)} == {"int16"}, run.ops  # no op left float
    assert run.info["kept_float"] == [] and run.info["int16_layers"], run.info
    keras_acc = MANIFEST["models"][name]["keras_test_accuracy"]
    for backend, acc in run.accuracy.items():
        assert acc >= keras_acc - MAX_DROP_16X8, (backend, acc, keras_acc)
    for backend, err in run.rel_l2.items():
        assert err <= MAX_REL_L2_16X8, (backend, err)


def test_int16x8_is_closer_to_float_than_int8(tmp_path: Path) -> None:
    """The point of 16x8: on the LSTM (the model with the most requantizations), the 16x8 file's error
    against Keras is well below the int8 file's (measured 4.3e-3 against 2.0e-2)."""
    wide = run_oracles("digits_lstm", tmp_path, scheme="int16x8")
    narrow = run_oracles("digits_lstm", tmp_path, scheme="int8")
    assert wide.rel_l2["keras2edge.runtime"] < 0.6 * narrow.rel_l2["keras2edge.runtime"], (wide.rel_l2, narrow.rel_l2)


def test_int16_io(tmp_path: Path) -> None:
    """``io="int16"``: the 16x8 model's input and output are the int16 tensors themselves (symmetric,
    zero point 0), still bit-identical in TFLite Micro and as accurate."""
    run = run_oracles("digits_mlp", tmp_path, scheme="int16x8", io="int16")
    assert "QUANTIZE" not in {op for op, _ in run.ops} and "DEQUANTIZE" not in {op for op, _ in run.ops}
    keras_acc = MANIFEST["models"]["digits_mlp"]["keras_test_accuracy"]
    assert run.accuracy["keras2edge.runtime"] >= keras_acc - MAX_DROP_16X8
