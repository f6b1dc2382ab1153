"""A QDQ ONNX file is no larger than the float ONNX file wherever the int8 ``.tflite`` is smaller
than the float ``.tflite`` (issue 11; convert/onnx/ops_quant.py says how): data movement (Split,
Squeeze, Reshape, Concatenation, ...) runs on the integers without a QuantizeLinear/DequantizeLinear
pair around it, a QDQ node is unnamed and its intermediate tensors have short names while the
dequantized tensor takes the Keras name the float file gives it, and each integer constant is read by
one DequantizeLinear per layout. That the files still run in onnxruntime with the outputs the tests
bound is tests/quantize/test_int8_fixtures.py, test_int16x8_fixtures.py and test_trained_fixtures.py.

Measured (bytes, ONNX float / int8 before -> after; the ``.tflite`` int8 is smaller than float in all):

==============  =====  ==============  ===============
model           float  int8            int16x8
==============  =====  ==============  ===============
digits_mlp      27482  13681 -> 9977   12150 -> 9617
digits_cnn      24076  24600 -> 15091  20913 -> 14592
digits_lstm     31443  68371 -> 26606  63879 -> 25316
digits_gru      27585  74816 -> 27416  68735 -> 25867
k3-cnn2d        19422  38556 -> 18803  32270 -> 17941
k2-cnn2d        19812  39723 -> 19338  33105 -> 18420
k3-mlp           9890  18475 -> 8159   16402 -> 7912
k3-bn_eps        4548   9537 -> 4387    8168 -> 4271
k3-embed         3800   7025 -> 3359    7365 -> 4423
==============  =====  ==============  ===============

The recurrent fixtures k2-rnn/k3-rnn (float 75893) went from 442450/445508 to 133244/133705 int8; their
int8 ``.tflite`` is larger than float too (131808 against 101392: many small activations).
"""

from __future__ import annotations

import collections

import numpy as np
import onnx
import pytest

import keras2edge
from keras2edge.convert.onnx import onnx_bytes
from keras2edge.convert.tflite import tflite_bytes

from .cases import load_case
from .test_trained_fixtures import TRAINED, _data

#: the fixtures whose int8 .tflite is smaller than their float .tflite (asserted below)
SMALLER_INT8 = ("k2-bn_eps", "k2-cnn2d", "k2-embed", "k2-mlp", "k2-mlp_k2seq", "k2-theano_conv", "k3-bn_eps",
                "k3-cnn2d", "k3-embed", "k3-mlp")
DIGITS = ("digits_mlp", "digits_cnn", "digits_lstm", "digits_gru")
QDQ = ("QuantizeLinear", "DequantizeLinear")


def _digits(name: str, scheme: str) -> tuple[keras2edge.Graph, keras2edge.Graph]:
    model = TRAINED / f"{name}.keras"
    g = keras2edge.load(model)
    calib = _data()["x_calib"].reshape((-1,) + tuple(g.inputs[0].shape[1:]))
    return g, keras2edge.quantize(g, scheme=scheme, calibration=calib)


def _sizes(g: keras2edge.Graph, q: keras2edge.Graph) -> tuple[int, int, int, int]:
    return len(tflite_bytes(g)), len(tflite_bytes(q)), len(onnx_bytes(g)), len(onnx_bytes(q))


@pytest.mark.parametrize("name", SMALLER_INT8)
def test_fixture_qdq_onnx_is_no_larger_than_float(name: str) -> None:
    case = load_case(name)
    q = keras2edge.quantize(case.graph, calibration=case.calibration)
    tfl_float, tfl_int8, onnx_float, onnx_int8 = _sizes(case.graph, q)
    assert tfl_int8 < tfl_float, (name, tfl_int8, tfl_float)
    assert onnx_int8 <= onnx_float, (name, onnx_int8, onnx_float)


@pytest.mark.parametrize("scheme", ["int8", "int16x8"])
@pytest.mark.parametrize("name", DIGITS)
def test_digits_qdq_onnx_is_no_larger_than_float(name: str, scheme: str) -> None:
    g, q = _digits(name, scheme)
    tfl_float, tfl_q, onnx_float, onnx_q = _sizes(g, q)
    assert tfl_q < tfl_float, (name, scheme, tfl_q, tfl_float)
    assert onnx_q <= onnx_float, (name, scheme, onnx_q, onnx_float)


def test_lstm_qdq_structure() -> None:
    """The digits LSTM's QDQ file: no DequantizeLinear feeds a data-movement op, each integer
    initializer is dequantized once, a QDQ node has no name, and the tensors the float file's ops write
    keep their names (a DequantizeLinear, or QuantizeLinear, writes the Keras-named tensor)."""
    g, q = _digits("digits_lstm", "int8")
    fm = onnx.ModelProto.FromString(onnx_bytes(g))
    qm = onnx.ModelProto.FromString(onnx_bytes(q))
    producer = {o: n for n in qm.graph.node for o in n.output}
    movers = [n for n in qm.graph.node if n.op_type in ("Split", "Squeeze", "Reshape", "Concat", "Unsqueeze")]
    assert movers
    for n in movers:
        src = producer.get(n.input[0])
        assert src is None or src.op_type != "DequantizeLinear", (n.name, n.input[0])
    inits = {i.name for i in qm.graph.initializer if i.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.INT32)
             and len(i.dims) >= 1 and np.prod(i.dims) > 1}
    reads = collections.Counter(n.input[0] for n in qm.graph.node if n.op_type == "DequantizeLinear")
    assert inits and all(reads[i] == 1 for i in inits), {i: reads[i] for i in inits}
    assert all(n.name == "" and n.doc_string == "" for n in qm.graph.node if n.op_type in QDQ)
    # Keras names: what the float file's Sigmoid/Tanh/Mul/Add nodes write, a DequantizeLinear writes
    # here (a QuantizeLinear where only a data-movement op reads the integers: the gates' Split).
    computed = {o for n in fm.graph.node if n.op_type in ("Sigmoid", "Tanh", "Mul", "Add") for o in n.output}
    by_qdq = {o: n.op_type for n in qm.graph.node if n.op_type in QDQ for o in n.output}
    assert computed and computed <= set(by_qdq), sorted(computed - set(by_qdq))[:5]
    assert "DequantizeLinear" in {by_qdq[o] for o in computed}
    # One QuantizeLinear per computed tensor, as many as the float file's computing ops write.
    quantize = sum(n.op_type == "QuantizeLinear" for n in qm.graph.node)
    assert quantize <= sum(n.op_type not in ("Split", "Squeeze", "Reshape", "Concat", "Unsqueeze", "Identity")
                           for n in fm.graph.node) + 1
