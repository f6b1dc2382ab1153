"""The trained fixtures of ``tests/fixtures/trained/`` (made by ``tests/fixtures/make_trained.py`` with
real Keras on scikit-learn's 8×8 digits) and the anchors the quantizer is measured against.

Float: each trained ``.keras`` converts with keras2edge; its ``.tflite`` run in keras2edge.runtime and
its ONNX run in onnxruntime reproduce Keras' test accuracy exactly, Keras' predicted labels on at
least 99.7% of the 360 test samples (measured: all of them, every model, both backends) and Keras'
softmax outputs within the fixtures' tolerance (measured: at most 1.6e-6 of the peak). The LSTM and
GRU are unrolled into builtin ops (no loop, no sequence op), so their float files are plain graphs.

Anchors: the manifest records, per model, what the TFLite converter (full int8) and LiteRT Quantizer
(static int8, on the converter's float file and on keras2edge's) made of it: a test accuracy in
LiteRT's reference kernels and TFLite Micro, or the failure (the converter segfaults on the LSTM and
GRU; LiteRT Quantizer cannot calibrate the converter's float LSTM/GRU files, but quantizes keras2edge's
unrolled ones). The committed anchor files are re-run here in TFLite Micro and in
keras2edge.runtime, which must reproduce the recorded predictions exactly.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from tflite_micro.python.tflite_micro import runtime as tflm_runtime

import keras2edge
from keras2edge.runtime import Interpreter

from ..onnxrt import ort_session
from ..tolerances import KERAS_FIXTURES, scaled_error

TRAINED = Path(__file__).resolve().parents[1] / "fixtures" / "trained"
MANIFEST = json.loads((TRAINED / "manifest.json").read_text())
MODELS = sorted(MANIFEST["models"])
TOOLS = ("tflite_converter", "litert_quantizer", "litert_quantizer_k2e_float")
MIN_AGREEMENT = 0.997
RECURRENT = {"digits_lstm": "LSTM", "digits_gru": "GRU"}


def _data() -> dict[str, np.ndarray]:
    with np.load(TRAINED / "digits.npz") as z:
        return {k: z[k] for k in z.files}


def _sha(pred: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(pred, dtype=np.int64).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    return _data()


@pytest.fixture(scope="module")
def keras_outputs() -> dict[str, np.ndarray]:
    with np.load(TRAINED / "keras_outputs.npz") as z:
        return {k: z[k] for k in z.files}


def test_split_and_manifest(data: dict[str, np.ndarray]) -> None:
    """The split is what the manifest says (disjoint sizes, every class in each part), and each
    model's recorded predictions give its recorded accuracy."""
    split = MANIFEST["split"]
    assert data["x_calib"].shape == (split["calibration"], 8, 8) and data["x_test"].shape == (split["test"], 8, 8)
    assert split["test"] >= 360 and split["calibration"] == 200
    assert split["train"] + split["calibration"] + split["test"] == 1797
    for y in (data["y_calib"], data["y_test"]):
        assert sorted(set(y.tolist())) == list(range(10))
    assert MODELS == ["digits_cnn", "digits_gru", "digits_lstm", "digits_mlp"]
    for name, e in MANIFEST["models"].items():
        pred = np.array(e["keras_predictions"])
        assert _sha(pred) == e["keras_predictions_sha256"], name
        assert float(np.mean(pred == data["y_test"])) == e["keras_test_accuracy"], name
        assert e["keras_test_accuracy"] >= 0.95, f"{name} is not trained: {e['keras_test_accuracy']}"
    assert sum(p.stat().st_size for p in TRAINED.rglob("*") if p.is_file()) < 1_000_000


@pytest.mark.parametrize("name", MODELS)
def test_float_conversion_reproduces_keras(name: str, data: dict[str, np.ndarray],
                                           keras_outputs: dict[str, np.ndarray], tmp_path: Path) -> None:
    e = MANIFEST["models"][name]
    graph = keras2edge.load(TRAINED / e["file"])
    tfl, onx = tmp_path / f"{name}.tflite", tmp_path / f"{name}.onnx"
    keras2edge.save(graph, tfl)
    keras2edge.save(graph, onx)
    x = data["x_test"].reshape((-1, *e["input_shape"]))
    keras_pred = np.array(e["keras_predictions"])

    sess = ort_session(str(onx))
    outs = {"keras2edge.runtime": Interpreter(str(tfl)).run(x),
            "onnxruntime": sess.run(None, {sess.get_inputs()[0].name: x})[0]}
    for backend, y in outs.items():
        pred = np.asarray(y).argmax(-1)
        assert float(np.mean(pred == data["y_test"])) == e["keras_test_accuracy"], backend
        assert np.mean(pred == keras_pred) >= MIN_AGREEMENT, backend
        assert scaled_error(y, keras_outputs[name]) <= KERAS_FIXTURES, backend


@pytest.mark.parametrize("name", sorted(RECURRENT))
def test_recurrent_models_are_unrolled(name: str, tmp_path: Path) -> None:
    """keras2edge's float LSTM/GRU is the recurrence unrolled over the 8 rows: builtin ops only."""
    graph = keras2edge.load(TRAINED / MANIFEST["models"][name]["file"])
    origins = {n.origin.cls for n in graph.nodes if n.origin}
    assert RECURRENT[name] in origins
    path = tmp_path / f"{name}.tflite"
    keras2edge.save(graph, path)
    ops = {op.name for op in Interpreter(str(path)).ops}
    assert not ops & {"WHILE", "UNIDIRECTIONAL_SEQUENCE_LSTM", "UNIDIRECTIONAL_SEQUENCE_RNN", "CALL_ONCE"}, ops
    assert {"FULLY_CONNECTED", "LOGISTIC", "TANH", "MUL", "ADD"} <= ops, ops


@pytest.mark.parametrize("name", MODELS)
def test_manifest_records_every_anchor(name: str) -> None:
    """Each tool has either an accuracy in both oracles or the failure, never nothing."""
    anchors = MANIFEST["models"][name]["anchors"]
    assert set(anchors) == set(TOOLS)
    for tool in TOOLS:
        a = anchors[tool]
        assert a["how"], tool
        if "error" in a:
            assert a["error"].strip() and "file" not in a, (name, tool)
            continue
        assert (TRAINED / a["file"]).is_file() and a["bytes"] == (TRAINED / a["file"]).stat().st_size
        for engine in ("litert_ref", "tflm"):
            assert 0.0 <= a[engine]["accuracy"] <= 1.0 and len(a[engine]["predictions_sha256"]) == 64, (tool, engine)


def test_recorded_anchor_facts() -> None:
    """The facts the benchmark and the issue quote: every tool quantizes the MLP and the CNN within
    0.5 points of Keras; on the LSTM/GRU the converter crashes and LiteRT Quantizer fails on the
    converter's float file, while on keras2edge's unrolled float file it loses more than 0.5 points."""
    for name in ("digits_mlp", "digits_cnn"):
        e = MANIFEST["models"][name]
        for tool in TOOLS:
            assert e["keras_test_accuracy"] - e["anchors"][tool]["tflm"]["accuracy"] <= 0.005, (name, tool)
    for name in RECURRENT:
        e = MANIFEST["models"][name]
        anchors = e["anchors"]
        assert "signal" in anchors["tflite_converter"]["error"], anchors["tflite_converter"]
        assert "error" in anchors["litert_quantizer"], anchors["litert_quantizer"]
        assert e["keras_test_accuracy"] - anchors["litert_quantizer_k2e_float"]["tflm"]["accuracy"] > 0.005, name


ANCHOR_FILES = [(n, t) for n in MODELS for t in TOOLS if "file" in MANIFEST["models"][n]["anchors"][t]]


@pytest.mark.parametrize(("name", "tool"), ANCHOR_FILES)
def test_anchor_files_reproduce_their_recorded_predictions(name: str, tool: str, data: dict[str, np.ndarray]) -> None:
    """TFLite Micro (the bit-exact oracle) and keras2edge.runtime give the recorded predictions of
    each committed anchor file, and keras2edge.runtime's integer outputs equal TFLite Micro's."""
    e = MANIFEST["models"][name]
    a = e["anchors"][tool]
    blob = (TRAINED / a["file"]).read_bytes()
    it = Interpreter(blob)
    d_in = it.get_input_details()[0]
    x = data["x_test"].reshape((-1, *e["input_shape"]))
    micro_it = tflm_runtime.Interpreter.from_bytes(blob, arena_size=1 << 20)
    ours, micro = [], []
    for k in range(len(x)):
        q = _quantize(x[k:k + 1], d_in)
        y_ours = np.asarray(it.run(q))
        micro_it.set_input(q, 0)
        micro_it.invoke()
        y_micro = np.array(micro_it.get_output(0))
        np.testing.assert_array_equal(y_ours, y_micro.reshape(y_ours.shape), err_msg=f"{name} {tool} sample {k}")
        ours.append(y_ours.argmax(-1))
        micro.append(y_micro.argmax(-1))
    assert _sha(np.concatenate(micro)) == a["tflm"]["predictions_sha256"]
    assert _sha(np.concatenate(ours)) == a["tflm"]["predictions_sha256"]


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """``x`` in the input's dtype: float as is, integers with the input's scale and zero point."""
    dt = np.dtype(detail["dtype"])
    if dt.kind == "f":
        return x.astype(dt)
    scale, zero = detail["quantization"]
    info = np.iinfo(dt)
    return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dt)
