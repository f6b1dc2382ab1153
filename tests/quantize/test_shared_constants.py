"""A float constant read by several nodes (an unrolled LSTM/GRU step's recurrent kernel) is quantized
once: one integer (or float16) constant and one Dequantize in the QDQ graph (quantize/qdq.py; the
weight-only schemes in quantize/weights_only.py), hence one buffer in the ``.tflite`` and one
initializer in the ONNX file. The int8 file's integers are TFLite Micro's (keras2edge.runtime run
against it). The TFLite writer writes one QuantizationParameters table per parameter set (the
STEPS Tanh outputs' fixed 1/128 share one), read alike by the ``tflite`` package and LiteRT; the ONNX
writer one initializer per scale and zero point content.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx.numpy_helper import to_array as onnx_array

import keras2edge
from keras2edge.convert.onnx import to_onnx
from keras2edge.convert.tflite import tflite_bytes, to_tflite
from keras2edge.ir.dtypes import DType
from keras2edge.ir.graph import Graph
from keras2edge.quantize import QuantizeOptions, quantize_graph
from keras2edge.runtime import Interpreter
from keras2edge.runtime.model import Model
from keras2edge.runtime.schema import ENUMS

from ..litert import litert
from ..tflm import tflm

STEPS = 4
TFL_TYPES = ENUMS["TensorType"]
RNG = np.random.default_rng(11)
W = (RNG.standard_normal((8, 8)) * 0.4).astype(np.float32)


def _chain() -> Graph:
    """x -> FC(W) -> tanh -> FC(W) -> tanh ... STEPS times: W read by STEPS FullyConnected nodes."""
    g = Graph("shared")
    h = g.add_input("x", DType.FLOAT32, (None, 8))
    w = g.add_const("cell/recurrent_kernel", W)
    for k in range(STEPS):
        y = g.add_node("FullyConnected", [h, w, None], origin=("cell", "SimpleRNN"), name=f"step{k}").output
        h = g.add_node("Tanh", [y], origin=("cell", "SimpleRNN"), name=f"tanh{k}").output
    g.outputs.append(h)
    g.verify()
    assert len(w.uses) == STEPS
    return g


def _calibration() -> np.ndarray:
    return RNG.uniform(-1, 1, (32, 8)).astype(np.float32)


def _tensors_of(model: Model, dtype: int, shape: tuple[int, ...]) -> list[int]:
    """Buffer indices of the constant tensors of ``dtype`` and ``shape`` in ``model``."""
    return [t.buffer for t in model.subgraphs[0].tensors
            if t.type == dtype and tuple(t.shape) == shape and t.buffer and len(model.buffers[t.buffer])]


@pytest.mark.parametrize("scheme", ["int8", "int16x8", "dynamic", "float16"])
def test_constant_used_by_n_nodes_is_stored_once(scheme: str) -> None:
    g = _chain()
    calibration = _calibration() if scheme in ("int8", "int16x8") else None
    # 64 weights: below the converter's 1024-element threshold, which 0 lifts
    q = quantize_graph(g, QuantizeOptions(scheme=scheme, calibration=calibration, min_weight_elements=0))
    stored = DType.FLOAT16 if scheme == "float16" else DType.INT8
    consts = [c for c in q.constants() if c.name.startswith("cell/recurrent_kernel")]
    assert [c.dtype for c in consts] == [stored], [(c.name, c.dtype) for c in consts]
    (c,) = consts
    (dq,) = [n for n, _ in c.uses]
    assert dq.op == "Dequantize"
    assert sorted(n.name for n, _ in dq.output.uses) == [f"step{k}" for k in range(STEPS)]

    model = to_tflite(q)
    ttype = TFL_TYPES["FLOAT16" if scheme == "float16" else "INT8"]
    buffers = _tensors_of(model, ttype, (8, 8))
    assert len(buffers) == 1, buffers
    float_w = _tensors_of(model, TFL_TYPES["FLOAT32"], (8, 8))
    assert float_w == [], "the float kernel is still stored"

    proto = to_onnx(q)
    np_type = {DType.INT8: 3, DType.FLOAT16: 10}[stored]  # onnx.TensorProto INT8, FLOAT16
    inits = [i.name for i in proto.graph.initializer if i.data_type == np_type and tuple(i.dims) in ((8, 8),)]
    assert len(inits) == 1, inits
    # Scales and zero points too: an activation's QuantizeLinear and DequantizeLinear share one pair.
    contents = [(i.data_type, tuple(i.dims), onnx_array(i).tobytes()) for i in proto.graph.initializer]
    assert len(contents) == len(set(contents)), [i.name for i in proto.graph.initializer]


def test_shared_int8_constant_runs_as_tflm() -> None:
    """The shared-constant int8 file: keras2edge.runtime gives TFLite Micro's integers."""
    q = keras2edge.quantize(_chain(), calibration=_calibration(), io="int8")
    model_bytes = tflite_bytes(q)
    it = Interpreter(model_bytes)
    d_in, d_out = it.get_input_details()[0], it.get_output_details()[0]
    x = _calibration()[:8]
    (s_in,), (z_in,) = d_in["quantization_parameters"]["scales"], d_in["quantization_parameters"]["zero_points"]
    xq = np.clip(np.round(x / s_in) + z_in, -128, 127).astype(np.int8)
    for k in range(len(xq)):
        ours = np.asarray(it.run(xq[k:k + 1]))
        np.testing.assert_array_equal(ours, tflm(model_bytes, [xq[k:k + 1]])[0].reshape(ours.shape))
    assert d_out["dtype"] == np.int8


def test_equal_quantization_parameters_share_one_table() -> None:
    """Tensors with equal quantization point at one QuantizationParameters table (the PyPI ``tflite``
    parser's view), and LiteRT's reference kernels give keras2edge.runtime's integers on that file."""
    import tflite

    data = tflite_bytes(keras2edge.quantize(_chain(), calibration=_calibration(), io="int8"))
    sg = tflite.Model.GetRootAsModel(data, 0).Subgraphs(0)
    tables: dict[tuple[object, ...], set[int]] = {}
    users: dict[tuple[object, ...], int] = {}
    for i in range(sg.TensorsLength()):
        qt = sg.Tensors(i).Quantization()
        if qt is None or qt.ScaleLength() == 0:
            continue
        key = (qt.ScaleAsNumpy().tobytes(), qt.ZeroPointAsNumpy().tobytes(), qt.QuantizedDimension())
        tables.setdefault(key, set()).add(qt._tab.Pos)
        users[key] = users.get(key, 0) + 1
    assert all(len(pos) == 1 for pos in tables.values()), tables
    tanh = (np.float32([1 / 128]).tobytes(), np.int64([0]).tobytes(), 0)
    assert users[tanh] == STEPS, users  # every Tanh output (the last one is the model's int8 output)
    it = Interpreter(data)
    x = np.random.default_rng(3).integers(-128, 128, (1, 8)).astype(np.int8)
    np.testing.assert_array_equal(np.asarray(it.run(x)), litert(data, [x])[0])
