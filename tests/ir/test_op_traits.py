"""The per-op facts on ``OpSpec`` (ir/ops/): typed attributes and allowed dtypes hold on every node of
every imported fixture model and every op case; weight axes, channel flow, int8 rules and MACs are
what the formats define (checked against hand-computed values and the TFLite kernels' constants)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import keras2edge
from keras2edge.errors import GraphError
from keras2edge.ir import OPS, DType, Graph
from keras2edge.ir.cost import node_macs
from keras2edge.ir.ops import ChannelFlow, Family, QuantRule, op_spec, ops_where

from ..corpus import FIXTURES
from ..ir_graphs import build_case
from ..op_cases import CASES

MANIFEST = [e for e in json.loads((FIXTURES / "manifest.json").read_text()) if e["expect"] == "convert"]


def _problems(graph: Graph) -> list[str]:
    out = []
    for node in graph.nodes:
        spec = op_spec(node.op)
        out += [f"{node.where()}: {p}" for p in spec.attr_problems(node.attrs) + spec.dtype_problems(node.inputs)]
    return out


@pytest.mark.parametrize("entry", MANIFEST[::2], ids=lambda e: f"{e['era']}-{e['model']}-{e['format']}")
def test_fixture_graphs_fit_the_declared_attributes_and_dtypes(entry: dict) -> None:
    """As imported and after the cleanup passes (which add their own nodes)."""
    weights = FIXTURES / entry["weights"] if entry.get("weights") else None
    for cleanup in (False, True):
        graph = keras2edge.load(FIXTURES / entry["file"], weights=weights, cleanup=cleanup)
        assert graph.nodes
        assert not _problems(graph)


def test_op_cases_fit_the_declared_attributes_and_dtypes() -> None:
    bad = []
    for case in CASES:
        graph, _ = build_case(case)
        bad += [f"{case.name}: {p}" for p in _problems(graph)]
    assert not bad, bad


def test_attribute_types_are_checked() -> None:
    spec = op_spec("Conv2D")
    assert spec.attr_problems({"padding": "same", "strides": (2, 2)}) == []
    assert spec.attr_problems({"padding": "full"}) == ["attribute 'padding' must be one of ('same', 'valid'), got 'full'"]
    assert "must be" in spec.attr_problems({"strides": "2"})[0]
    assert spec.attrs.items() >= {"strides": (1, 1), "dilations": (1, 1), "padding": "valid"}.items()


def test_every_op_has_a_family_and_dtypes_for_each_input() -> None:
    for name, spec in OPS.items():
        assert isinstance(spec.family, Family), name
        assert len(spec.dtypes) == len(spec.inputs), name


# IR weight layouts: Conv2D HWIO, DepthwiseConv2D (1, KH, KW, Cin*M) with channel c*M + m (no input-channel
# axis: channel k reads input channel k // M), TransposeConv2D (KH, KW, Cout, Cin), FullyConnected (K, N).
WEIGHT_AXES = {"Conv2D": (3, 2), "DepthwiseConv2D": (3, None), "TransposeConv2D": (2, 3), "FullyConnected": (1, 0)}


def test_weight_axes_are_the_keras_layouts() -> None:
    got = {n: (s.weights.out_axis, s.weights.in_axis) for n, s in OPS.items() if s.weights is not None}
    assert got == WEIGHT_AXES
    assert all(OPS[n].weights.input == 1 and OPS[n].quant == QuantRule.PER_CHANNEL_WEIGHTS for n in got)


def test_weight_axes_give_the_output_channels_the_op_computes() -> None:
    """Zeroing the weights of output channel k along ``out_axis`` zeroes exactly output channel k."""
    rng = np.random.default_rng(0)
    cases = {"Conv2D": ((1, 5, 5, 4), (3, 3, 4, 6)), "DepthwiseConv2D": ((1, 5, 5, 3), (1, 3, 3, 6)),
             "TransposeConv2D": ((1, 3, 3, 4), (3, 3, 5, 4)), "FullyConnected": ((2, 7), (7, 3))}
    for op, (xs, ws) in cases.items():
        spec = op_spec(op)
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        attrs = dict(spec.attrs)
        if op == "TransposeConv2D":
            attrs["output_size"] = (7, 7)
        axis = spec.weights.out_axis
        channels = w.shape[axis]
        k = channels - 1
        w_cut = w.copy()
        np.moveaxis(w_cut, axis, -1)[..., k] = 0
        y = spec.evaluate([x, w_cut], attrs)[0]
        assert y.shape[-1] == channels, op
        assert np.all(y[..., k] == 0) and np.all(np.abs(y[..., :k]).sum(axis=tuple(range(y.ndim - 1))) > 0), op


def test_fixed_int8_outputs_are_the_tflite_kernels() -> None:
    """docs/int8-arithmetic.md §1: LOGISTIC and SOFTMAX 1/256, -128; TANH 1/128, 0; LOG_SOFTMAX 16/256, 127."""
    fixed = {n: s.fixed_output for n, s in OPS.items() if s.quant == QuantRule.FIXED_OUTPUT}
    assert fixed == {"Logistic": (0.00390625, -128), "Softmax": (0.00390625, -128), "Tanh": (0.0078125, 0),
                     "LogSoftmax": (0.0625, 127)}
    assert all(s.fixed_output is None for s in OPS.values() if s.quant != QuantRule.FIXED_OUTPUT)


def test_clamps() -> None:
    assert {n: s.clamp for n, s in OPS.items() if s.clamp} == {"Relu6": (0, 6), "ReluN1To1": (-1, 1),
                                                                "Relu0To1": (0, 1)}
    x = np.linspace(-8, 8, 33, dtype=np.float32)
    for op, (lo, hi) in {"Relu6": (0, 6), "ReluN1To1": (-1, 1), "Relu0To1": (0, 1)}.items():
        np.testing.assert_array_equal(op_spec(op).evaluate([x], {})[0], np.minimum(np.maximum(x, lo), hi))


def test_same_scale_ops_include_the_data_movement_and_pools() -> None:
    """Ops the TFLite kernels require to keep the input's scale (docs/int8-arithmetic.md §1)."""
    required = {"AveragePool2D", "MaxPool2D", "Concatenation", "Pad", "Reshape", "ResizeBilinear",
                "ResizeNearestNeighbor", "Transpose", "Squeeze", "StridedSlice", "Gather", "Maximum", "Minimum"}
    assert required <= ops_where(quant=QuantRule.SAME_SCALE)


def test_channel_flow_and_spatial_ops() -> None:
    assert ops_where(spatial=True) == {"Conv2D", "DepthwiseConv2D", "TransposeConv2D", "MaxPool2D",
                                       "AveragePool2D", "ResizeNearestNeighbor", "ResizeBilinear"}
    assert ops_where(channels=ChannelFlow.WEIGHTS) == set(WEIGHT_AXES)
    assert ops_where(channels=ChannelFlow.CONCAT) == {"Concatenation"}
    assert {"Reshape", "Transpose", "BatchMatMul"} <= ops_where(channels=ChannelFlow.BREAKS)
    elementwise = ops_where(channels=ChannelFlow.ELEMENTWISE)
    assert {"Add", "Relu", "PRelu", "BatchNorm", "Cast", "Select"} <= elementwise
    assert not elementwise & {"Softmax", "LogSoftmax", "Mean", "Reshape"}


def test_macs_hand_computed() -> None:
    g = Graph("macs")
    x = g.add_input("x", DType.FLOAT32, (None, 8, 8, 4))
    conv = g.add_node("Conv2D", [x, g.add_const("w", np.zeros((3, 3, 4, 6), np.float32))], {"padding": "same"})
    dw = g.add_node("DepthwiseConv2D", [conv.output, g.add_const("d", np.zeros((1, 3, 3, 12), np.float32))])
    tc = g.add_node("TransposeConv2D", [x, g.add_const("t", np.zeros((2, 2, 5, 4), np.float32))],
                    {"strides": (2, 2), "output_size": (16, 16)})
    fc = g.add_node("FullyConnected", [g.add_input("v", DType.FLOAT32, (None, 10)),
                                       g.add_const("f", np.zeros((10, 3), np.float32))])
    relu = g.add_node("Relu", [x])
    assert node_macs(conv) == 8 * 8 * 6 * (3 * 3 * 4)      # out pixels x channels x KH*KW*Cin
    assert node_macs(dw) == 6 * 6 * 12 * (3 * 3)            # valid: 6x6 out, 12 channels, KH*KW each
    assert node_macs(tc) == 8 * 8 * (2 * 2 * 5 * 4)         # every input pixel through the whole kernel
    assert node_macs(fc) == 3 * 10
    assert node_macs(relu) == 0


def test_verify_checks_attribute_types_and_dtypes() -> None:
    g = Graph("g")
    x = g.add_input("x", DType.FLOAT32, (None, 4, 4, 2))
    pool = g.add_node("MaxPool2D", [x], {"pool_size": 2, "strides": 2})
    g.outputs = [pool.output]
    g.verify()
    pool.attrs["padding"] = "full"
    with pytest.raises(GraphError, match=r"MaxPool2D.*attribute 'padding' must be one of"):
        g.verify()
    pool.attrs["padding"] = "valid"
    b = g.add_input("b", DType.BOOL, (None, 4, 4, 2))
    g.add_node("Relu6", [b])
    with pytest.raises(GraphError, match=r"input 0 \(x\) is bool; Relu6 takes float16, float32, int16"):
        g.verify()
