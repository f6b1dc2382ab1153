"""Shared helpers of the quantization report and budget tests: the trained digits fixtures, a
deliberately broken MLP, and an independent top-1 measurement of a ``.tflite`` in TFLite Micro."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tflite_micro.python.tflite_micro import runtime as tflm_runtime

import keras2edge
from keras2edge.ir.graph import Graph

from .test_trained_fixtures import MANIFEST, TRAINED, _data

#: Pixels of the 8x8 digits that are 0 in every calibration and test sample (row-major index).
DEAD_PIXEL = 0


def shape(name: str) -> tuple[int, ...]:
    return tuple(MANIFEST["models"][name]["input_shape"])


def data() -> dict[str, np.ndarray]:
    return _data()


def load(name: str) -> Graph:
    return keras2edge.load(TRAINED / f"{name}.keras")


def broken_mlp() -> Graph:
    """The digits MLP with dense_1's weights from pixel 0 (0 in every sample: the float model computes
    exactly what Keras does on this data) set to 1000x the kernel's largest magnitude: per-channel int8
    then gives every other weight of each output channel a scale ~1000x too coarse (they round to 0)."""
    g = load("digits_mlp")
    w = next(v for v in g.constants() if v.name == "dense_1/kernel")
    k = w.const.copy()
    k[DEAD_PIXEL, :] = 1000.0 * float(np.abs(k).max())
    g.replace_const(w, k)
    return g


def tflm_top1(blob: bytes, x: np.ndarray) -> np.ndarray:
    """Top-1 class of every sample of ``x`` by TFLite Micro running ``blob`` one sample at a time
    (float inputs and outputs: the model's QUANTIZE/DEQUANTIZE do the conversion)."""
    return tflm_outputs(blob, x).argmax(axis=1)


def tflm_outputs(blob: bytes, x: np.ndarray) -> np.ndarray:
    """TFLite Micro's (float) outputs for every sample of ``x``."""
    it = tflm_runtime.Interpreter.from_bytes(blob, arena_size=max(len(blob) * 10, 1 << 20))
    dtype = it.get_input_details(0)["dtype"]
    out = []
    for k in range(len(x)):
        it.set_input(np.ascontiguousarray(x[k:k + 1], dtype=dtype), 0)
        it.invoke()
        out.append(np.array(it.get_output(0), np.float64).reshape(-1))
    return np.stack(out)


def loud_unit_mlp(bias: float = 3000.0) -> Graph:
    """The digits MLP with dense_1's unit 0 made constant and loud (bias ``bias``) and ignored by
    dense_2 (its row zeroed): the int8 range of dense_1's output is then ~``bias`` wide, every other
    unit rounds to 0 in int8 (int16 keeps them). The float function differs from Keras' (unit 0 is
    gone): measure its float accuracy with an oracle (:func:`ort_top1`)."""
    g = load("digits_mlp")
    consts = {v.name: v for v in g.constants()}
    b = consts["dense_1/bias"].const.copy()
    b[0] = bias
    g.replace_const(consts["dense_1/bias"], b)
    w = consts["dense_2/kernel"].const.copy()
    w[0, :] = 0.0
    g.replace_const(consts["dense_2/kernel"], w)
    return g


def ort_top1(g: Graph, x: np.ndarray, tmp: Path) -> np.ndarray:
    """Top-1 class of every sample by onnxruntime running the float graph's ONNX file."""
    from ..onnxrt import ort_session

    path = tmp / f"{g.name}.float.onnx"
    keras2edge.save(g, path)
    sess = ort_session(str(path))
    out = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]
    return np.argmax(out.reshape(len(x), -1), axis=1)
