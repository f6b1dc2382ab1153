"""The int8 parameters obey the TFLite quantization spec (shared/docs/int8-arithmetic.md §1), checked
against independent values: the float weights, the calibration data and Keras's recorded outputs.

Per-channel weights: int8 in [-127, 127], zero point 0, axis = the op spec's output axis, scale
max|w[c]| / 127; biases int32 with scale float32(s_in * s_w[c]), zero point 0; fixed outputs;
equal-scale ops keep their input's parameters; activations asymmetric from the range widened to 0;
degenerate ranges; ``--io`` int8/uint8.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.tflite.lowering import lower
from keras2edge.ir.dtypes import DType
from keras2edge.ir.graph import Graph
from keras2edge.ir.ops import op_spec
from keras2edge.ir.ops.core import QuantRule
from keras2edge.ir.quant import outside_qdq
from keras2edge.quantize.calibrate import calibrate

from ..onnxrt import run_graph_onnx
from .cases import load_case, rel_l2


def _dq_const(v):
    """(integer constant, its params) behind a Dequantize of a constant."""
    assert v.producer is not None and v.producer.op == "Dequantize", v
    c = v.producer.inputs[0]
    assert c.is_const
    return c, c.quant


def _quant_of(v) -> object:
    """The parameters a node's float output was quantized with (its Quantize reader)."""
    qs = [n for n, _ in v.uses if n.op == "Quantize"]
    assert len(qs) == 1, f"{v.name} is read by {[n.op for n, _ in v.uses]}"
    return qs[0].attrs["quant"]


@pytest.mark.parametrize("name", ["k3-cnn2d", "k2-cnn2d", "k3-mbv3_block", "k3-mlp", "k3-attention"])
@pytest.mark.parametrize("per_tensor", [False, True])
def test_weights_biases_fixed_and_same_scale(name: str, per_tensor: bool) -> None:
    case = load_case(name)
    floats = {n.name: n for n in lower(case.graph).nodes}
    q = keras2edge.quantize(case.graph, calibration=case.calibration, per_tensor=per_tensor, bias_correction=False,
                            cle=False)
    seen = {"weights": 0, "bias": 0, "fixed": 0, "same": 0}
    for n in q.nodes:
        spec = op_spec(n.op)
        if spec.quant == QuantRule.PER_CHANNEL_WEIGHTS and n.inputs[1].producer is not None:
            w, wp = _dq_const(n.inputs[1])
            w_float = floats[n.name].inputs[spec.weights.input].const
            axis = spec.weights.out_axis
            assert w.dtype == DType.INT8 and wp.qtype == DType.INT8
            assert np.all(wp.zero_point == 0)
            assert w.const.min() >= -127 and w.const.max() <= 127
            if per_tensor:
                assert wp.axis is None
                want = np.float32(np.abs(w_float).max() / 127)
            else:
                assert wp.axis == axis and wp.channels == w_float.shape[axis]
                want = (np.moveaxis(np.abs(w_float), axis, 0).reshape(w_float.shape[axis], -1).max(1) / 127
                        ).astype(np.float32)
            np.testing.assert_allclose(wp.scale, np.where(want > 0, want, 1), rtol=1e-6)
            shape = [1] * w_float.ndim
            if wp.axis is not None:
                shape[axis] = -1
            s = wp.scale.reshape(shape).astype(np.float64)
            assert np.all(np.abs(w.const * s - w_float) <= s / 2 * (1 + 1e-5))
            seen["weights"] += 1
            if len(n.inputs) > 2 and n.inputs[2] is not None:
                b, bp = _dq_const(n.inputs[2])
                s_in = n.inputs[0].producer.attrs["quant"].scale[0]
                assert b.dtype == DType.INT32 and np.all(bp.zero_point == 0)
                np.testing.assert_array_equal(bp.scale, (np.float32(s_in) * wp.scale).astype(np.float32))
                b_float = floats[n.name].inputs[2].const
                assert np.all(np.abs(b.const * bp.scale.astype(np.float64) - b_float) <= bp.scale / 2 * (1 + 1e-5))
                seen["bias"] += 1
        if spec.quant == QuantRule.FIXED_OUTPUT:
            p = _quant_of(n.outputs[0])
            assert (float(p.scale[0]), int(p.zero_point[0])) == (np.float32(spec.fixed_output[0]),
                                                                 spec.fixed_output[1])
            seen["fixed"] += 1
        if spec.quant == QuantRule.SAME_SCALE:
            ins = [v for v in n.inputs if v is not None and v.dtype == DType.FLOAT32 and not v.is_const]
            if len(ins) == 1:
                assert _quant_of(n.outputs[0]) == ins[0].producer.attrs["quant"], n.where()
                seen["same"] += 1
    assert seen["weights"]
    if name.endswith("cnn2d"):
        assert seen["bias"] and seen["fixed"] and seen["same"], seen


def test_activation_params_from_data_and_keras_outputs() -> None:
    """Graph input: params from the calibration data's own min/max; graph outputs: from Keras's
    recorded outputs when calibrating on exactly the recorded inputs (the runtime's float outputs
    match Keras to ~1e-6); scale = (hi - lo) / 255 with 0 in the range, zp = -128 - lo / scale."""
    case = load_case("k3-cnn2d")
    q = keras2edge.quantize(case.graph, calibration=case.feeds)
    x = case.feeds["image"]
    p = _quant_of(q.inputs[0])
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    assert float(p.scale[0]) == np.float32((hi - lo) / 255)
    assert int(p.zero_point[0]) == int(np.clip(np.round(-128 - lo / ((hi - lo) / 255)), -128, 127))
    checked = 0
    for out, want in zip(q.outputs, case.want):
        qn = out.producer.inputs[0].producer  # output <- Dequantize <- Quantize
        assert qn.op == "Quantize"
        p = qn.attrs["quant"]
        if op_spec(qn.inputs[0].producer.op).quant not in (QuantRule.OWN_SCALE, QuantRule.PER_CHANNEL_WEIGHTS):
            continue  # fixed or equal-scale outputs: checked above
        checked += 1
        lo, hi = min(float(want.min()), 0.0), max(float(want.max()), 0.0)
        np.testing.assert_allclose(float(p.scale[0]), (hi - lo) / 255, rtol=1e-4)
        assert abs(int(p.zero_point[0]) - (-128 - lo / ((hi - lo) / 255))) <= 0.5 + 1e-3
    assert checked >= 3


def test_calibration_ranges_are_the_runtime_s_and_match_keras() -> None:
    """calibrate() observes the emitted .tflite in the runtime: the ranges of the graph outputs
    equal Keras's recorded outputs' min/max (calibrating on the recorded inputs)."""
    case = load_case("k3-merge")
    cal = calibrate(case.graph, case.feeds)
    assert cal.samples == next(iter(case.feeds.values())).shape[0]
    for out, want in zip(cal.graph.outputs, case.want):
        lo, hi = cal.ranges[out.name]
        np.testing.assert_allclose([lo, hi], [want.min(), want.max()], rtol=1e-5, atol=1e-6)


def test_fused_activation_is_calibrated_after_the_activation() -> None:
    """A Conv2D with a fused ReLU: its output range starts at 0, so its zero point is -128."""
    case = load_case("k3-cnn2d")
    q = keras2edge.quantize(case.graph, calibration=case.calibration)
    fused = [n for n in q.nodes if n.op in ("Conv2D", "DepthwiseConv2D", "FullyConnected")
             and n.attrs.get("activation") in ("relu", "relu6")]
    assert fused
    for n in fused:
        assert int(_quant_of(n.outputs[0]).zero_point[0]) == -128, n.where()


def _tiny_graph() -> Graph:
    """x (N, 4) -> FullyConnected (output channel 1 all zeros) -> Logistic."""
    g = Graph("tiny")
    x = g.add_input("x", DType.FLOAT32, (None, 4))
    w = np.array([[1, 0, -2], [0.5, 0, 1], [0.25, 0, 0], [-1, 0, 3]], np.float32)
    y = g.op("FullyConnected", [x, g.add_const("w", w), g.add_const("b", np.array([0.5, 2.0, 0], np.float32))],
             ("dense", "Dense"))
    g.outputs = [g.op("Logistic", [y], ("dense", "Dense"))]
    g.verify()
    return g


def test_degenerate_ranges() -> None:
    """All-zero inputs (range [0, 0]) and an all-zero weight channel: finite, positive scales (1),
    a graph that verifies, and onnxruntime's output equals the float model's."""
    g = _tiny_graph()
    zeros = np.zeros((8, 4), np.float32)
    q = keras2edge.quantize(g, calibration=zeros)
    q.verify()
    assert outside_qdq(q.values(), q.outputs) == []
    fc = next(n for n in q.nodes if n.op == "FullyConnected")
    _, wp = _dq_const(fc.inputs[1])
    assert wp.scale[1] == 1.0 and np.all(np.isfinite(wp.scale)) and np.all(wp.scale > 0)
    assert float(fc.inputs[0].producer.attrs["quant"].scale[0]) == 1.0
    (got,) = run_graph_onnx(q, {"x": zeros[:2]})
    (want,) = run_graph_onnx(g, {"x": zeros[:2]})
    np.testing.assert_allclose(got, want, atol=1 / 256)


def test_kept_float_warns_naming_the_layer(caplog: pytest.LogCaptureFixture) -> None:
    case = load_case("k3-preprocess")
    with caplog.at_level(logging.WARNING, logger="keras2edge"):
        q = keras2edge.quantize(case.graph, calibration=case.calibration)
    kept = [n for n in q.nodes if op_spec(n.op).quant == QuantRule.FLOAT]
    assert kept
    text = caplog.text
    for n in kept:
        assert f"{n.origin.layer} ({n.origin.cls})" in text


@pytest.mark.parametrize("io", ["int8", "uint8"])
def test_integer_io(io: str) -> None:
    """--io int8/uint8: the input is the integer value (uint8: zero point + 128, same scale), the
    outputs the Quantize's integers; fed the quantized Keras inputs, onnxruntime's dequantized
    outputs stay close to Keras's."""
    case = load_case("k3-cnn2d")
    q8 = keras2edge.quantize(case.graph, calibration=case.calibration, io="int8")
    q = q8 if io == "int8" else keras2edge.quantize(case.graph, calibration=case.calibration, io=io)
    dt = DType.INT8 if io == "int8" else DType.UINT8
    (inp,) = q.inputs
    assert inp.dtype == dt and inp.name == "image"
    p8 = q8.inputs[0].quant
    assert inp.quant.scale[0] == p8.scale[0]
    assert int(inp.quant.zero_point[0]) == int(p8.zero_point[0]) + (128 if io == "uint8" else 0)
    assert all(v.dtype == dt for v in q.outputs)
    assert outside_qdq(q.values(), q.outputs) == []
    s, z = float(inp.quant.scale[0]), int(inp.quant.zero_point[0])
    lo, hi = (-128, 127) if io == "int8" else (0, 255)
    x = np.clip(np.round(case.feeds["image"] / s) + z, lo, hi).astype(dt.np)
    got = run_graph_onnx(q, {"image": x})
    for v, g_, w in zip(q.outputs, got, case.want):
        real = v.quant.scale[0] * (g_.astype(np.float64) - v.quant.zero_point[0])
        assert rel_l2(real, w) <= 0.08, v.name


@pytest.mark.parametrize("name", ["k3-merge", "k2-merge", "k3-rnn", "k3-attention", "k2-cnn2d"])
def test_equal_scale_ops_with_several_inputs_are_requantized(name: str) -> None:
    """Concatenation, Maximum, Minimum, Select: TFLite requires every input's parameters to equal
    the output's (int8-arithmetic.md §1): each input is a Dequantize of exactly the output's
    parameters, and inputs quantized otherwise get a requantize (Dequantize -> Quantize -> Dequantize)."""
    case = load_case(name)
    q = keras2edge.quantize(case.graph, calibration=case.calibration)
    checked = requantized = 0
    for n in q.nodes:
        if op_spec(n.op).quant != QuantRule.SAME_SCALE:
            continue
        ins = [v for v in n.inputs if v is not None and v.dtype == DType.FLOAT32]
        if len(ins) < 2:
            continue
        out = _quant_of(n.outputs[0])
        for v in ins:
            assert v.producer is not None and v.producer.op == "Dequantize", n.where()
            assert v.producer.attrs["quant"] == out, n.where()
            src = v.producer.inputs[0].producer
            if src is not None and src.op == "Quantize" and src.inputs[0].producer is not None \
                    and src.inputs[0].producer.op == "Dequantize":
                requantized += 1
        checked += 1
    assert checked and requantized


def test_values_computed_from_constants_are_quantized() -> None:
    """An op on constants only (folded by the runtime at prepare time, so never observed) still gets
    parameters: from its evaluated value. Here x + |c|: the Abs of a constant (an own-scale op)."""
    g = Graph("const_branch")
    x = g.add_input("x", DType.FLOAT32, (None, 3))
    t = g.op("Abs", [g.add_const("c", np.array([[0.5, -1.0, 2.0]], np.float32))], ("t", "Lambda"))
    g.outputs = [g.op("Add", [x, t], ("add", "Add"))]
    g.verify()
    xs = np.random.default_rng(1).uniform(-1, 1, (16, 3)).astype(np.float32)
    q = keras2edge.quantize(g, calibration=xs)
    add = next(n for n in q.nodes if n.op == "Add")
    assert all(v.producer is not None and v.producer.op == "Dequantize" for v in add.inputs)
    (got,) = run_graph_onnx(q, {"x": xs})
    (want,) = run_graph_onnx(g, {"x": xs})
    assert rel_l2(got, want) < 0.02
