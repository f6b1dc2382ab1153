"""Quantize / Dequantize in the IR (ir/ops/quant.py): the parameters mirrored on the values, the
float/integer boundary the emitters accept, constant folding, and emission limits per format.
Numerical agreement with onnxruntime, LiteRT and TFLite Micro is in the per-op cases (tests/op_cases.py)."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.convert.onnx import onnx_bytes
from keras2edge.convert.tflite import tflite_bytes
from keras2edge.errors import GraphError, UnsupportedOpError
from keras2edge.ir import DType, Graph, QuantParams
from keras2edge.ir.ops import OPS
from keras2edge.ir.passes import ConstantFoldPass
from keras2edge.runtime import Interpreter
from tests.onnxrt import ort_session

Q8 = QuantParams.per_tensor(0.1, -3, DType.INT8)


def _qdq(q: QuantParams = Q8) -> tuple[Graph, object, object]:
    g = Graph("qdq")
    x = g.add_input("x", DType.FLOAT32, (1, 4))
    qv = g.add_node("Quantize", [x], {"quant": q}).output
    y = g.add_node("Dequantize", [qv], {"quant": q}).output
    g.outputs = [y]
    return g, qv, y


def test_quantize_output_carries_the_attribute_and_verify_checks_the_mirror() -> None:
    g, qv, _ = _qdq()
    assert qv.dtype == DType.INT8 and qv.quant == Q8
    g.verify()
    qv.quant = QuantParams.per_tensor(0.2, -3, DType.INT8)
    with pytest.raises(GraphError, match="its output .* carries"):
        g.verify()


def test_quantize_needs_the_integer_type() -> None:
    g = Graph("q")
    x = g.add_input("x", DType.FLOAT32, (1, 4))
    g.outputs = [g.add_node("Quantize", [x], {"quant": QuantParams.per_tensor(0.1, 0)}).output]
    with pytest.raises(GraphError, match="needs its qtype"):
        g.verify()


def test_per_channel_axis_must_fit() -> None:
    g = Graph("q")
    x = g.add_input("x", DType.FLOAT32, (1, 4))
    with pytest.raises(GraphError, match="3 per-channel scales for 4 channels"):
        g.add_node("Quantize", [x], {"quant": QuantParams.per_channel([1, 2, 3], axis=1, qtype=DType.INT8)})


@pytest.mark.parametrize(("x", "want"), [
    (0.05, -2), (-0.05, -4), (0.15, -1), (0.25, 0), (-0.25, -6), (1e9, 127), (-1e9, -128), (np.nan, -128),
    (np.inf, 127), (-np.inf, -128), (12.5, 122)])
def test_quantize_rounds_ties_away_and_saturates(x: float, want: int) -> None:
    """TFLite Micro's AffineQuantize (int8-arithmetic.md §3.1): float32 division, ties away from zero."""
    got = OPS["Quantize"].evaluate([np.array([x], np.float32)], {"quant": Q8})[0]
    assert got.dtype == np.int8 and int(got[0]) == want


def test_dequantize_is_float64_product_rounded_to_float32() -> None:
    q = QuantParams.per_tensor(0.1, 5, DType.INT8)
    got = OPS["Dequantize"].evaluate([np.array([-128, 5, 127], np.int8)], {"quant": q})[0]
    want = (np.float64(np.float32(0.1)) * np.array([-133, 0, 122], np.float64)).astype(np.float32)
    assert got.dtype == np.float32 and np.array_equal(got, want)


def test_quantized_values_only_between_quantize_and_dequantize() -> None:
    g, qv, _ = _qdq()
    r = g.add_node("Relu", [qv]).output
    g.outputs.append(r)
    for emit in (onnx_bytes, tflite_bytes):
        with pytest.raises(UnsupportedOpError, match=r"1 quantized values are read by other ops \(first: 'Quantize'\)"):
            emit(g)


def test_constant_fold_quantizes_weights_but_keeps_their_dequantize() -> None:
    g = Graph("w")
    x = g.add_input("x", DType.FLOAT32, (1, 3))
    w = g.add_const("w", np.array([[0.5, -0.25], [1.0, 0.1], [-2.0, 0.05]], np.float32))
    wq = QuantParams.per_channel([2.0 / 127, 0.25 / 127], axis=1, qtype=DType.INT8)
    qw = g.add_node("Quantize", [w], {"quant": wq}).output
    dw = g.add_node("Dequantize", [qw], {"quant": wq}).output
    y = g.add_node("BatchMatMul", [x, dw]).output
    g.outputs = [y]
    ConstantFoldPass().run(g)
    assert [n.op for n in g.nodes] == ["Dequantize", "BatchMatMul"]
    folded = g.nodes[0].inputs[0]
    assert folded.is_const and folded.dtype == DType.INT8 and folded.quant == wq
    assert folded.const.tolist() == [[32, -127], [64, 51], [-127, 25]]
    g.verify()
    feeds = {"x": np.array([[1.0, 2.0, 3.0]], np.float32)}
    want = feeds["x"].astype(np.float64) @ (folded.const * wq.scale.astype(np.float64))
    tflite_out = Interpreter(tflite_bytes(g)).run(feeds)[0]
    np.testing.assert_allclose(tflite_out.reshape(want.shape), want, rtol=1e-6)
    # onnxruntime's QDQ fusion turns DequantizeLinear + MatMul into an integer matmul that quantizes x
    # on the fly (its own approximation), hence the looser bound.
    np.testing.assert_allclose(ort_session(onnx_bytes(g)).run(None, feeds)[0], want, rtol=0, atol=0.01 * np.abs(want).max())


def test_int16_needs_onnx_opset_21() -> None:
    g, _, _ = _qdq(QuantParams.per_tensor(0.001, 0, DType.INT16))
    with pytest.raises(UnsupportedOpError, match="QuantizeLinear on int16 needs opset 21 or newer"):
        onnx_bytes(g, opset=20)
    feeds = {"x": np.array([[0.0123, -1.5, 40.0, -0.0026]], np.float32)}
    got = ort_session(onnx_bytes(g, opset=21)).run(None, feeds)[0]
    q = np.array([[12, -1500, 32767, -3]])
    np.testing.assert_array_equal(got, (np.float64(np.float32(0.001)) * q).astype(np.float32))


def test_onnx_rounds_exact_ties_to_even() -> None:
    """The one documented difference (int8-arithmetic.md §5): QuantizeLinear rounds half to even,
    the IR and TFLite Micro half away from zero."""
    g, qv, _ = _qdq()
    g.outputs = [qv]
    x = np.array([[0.25, -0.25, 0.35, 0.0]], np.float32)  # x / 0.1 in float32: 2.5, -2.5, 3.5 (ties), 0
    onnx_q = ort_session(onnx_bytes(g)).run(None, {"x": x})[0]
    ir_q = OPS["Quantize"].evaluate([x], {"quant": Q8})[0]
    assert onnx_q.tolist() == [[-1, -5, 1, -3]] and ir_q.tolist() == [[0, -6, 1, -3]]


def test_tflite_refuses_a_per_channel_quantize() -> None:
    g = Graph("q")
    x = g.add_input("x", DType.FLOAT32, (1, 2))
    q = QuantParams.per_channel([0.1, 0.2], axis=1, qtype=DType.INT8)
    g.outputs = [g.add_node("Dequantize", [g.add_node("Quantize", [x], {"quant": q}).output], {"quant": q}).output]
    with pytest.raises(UnsupportedOpError, match="TFLite's QUANTIZE quantizes per tensor"):
        tflite_bytes(g)
