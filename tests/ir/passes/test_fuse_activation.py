"""FuseActivationPass / UnfuseActivationPass: each fusing op, every decline, the round trip, and the
TFLite lowering that runs the fusion on a copy (the caller's graph is never changed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from keras2edge.convert.onnx import to_onnx
from keras2edge.convert.tflite import tflite_bytes
from keras2edge.convert.tflite.lowering import lower
from keras2edge.ir import DType, Graph, QuantParams, Value
from keras2edge.ir.evaluate import evaluate
from keras2edge.ir.passes import FoldBatchNormPass, FuseActivationPass, UnfuseActivationPass
from keras2edge.runtime import Interpreter

from tests.onnxrt import run_onnx
from tests.ir_graphs import ops

from tests.ir.helpers import check_pass, random_feeds

RNG = np.random.default_rng(3)

# op -> (input shape, extra constant inputs' shapes, attrs): every op whose spec has `activation`.
FUSING: dict[str, tuple[tuple[int | None, ...], list[tuple[int, ...]], dict[str, Any]]] = {
    "Conv2D": ((None, 5, 5, 3), [(3, 3, 3, 4), (4,)], {"padding": "same"}),
    "DepthwiseConv2D": ((None, 5, 5, 3), [(1, 3, 3, 6), (6,)], {}),
    "FullyConnected": ((None, 5), [(5, 4), (4,)], {}),
    "BatchNorm": ((None, 4), [(4,), (4,)], {}),
    "Add": ((None, 4), [(4,)], {}),
    "Sub": ((None, 4), [(4,)], {}),
    "Mul": ((None, 4), [(4,)], {}),
    "Div": ((None, 4), [(4,)], {}),
    "MaxPool2D": ((None, 4, 4, 2), [], {"pool_size": (2, 2), "strides": (2, 2)}),
    "AveragePool2D": ((None, 4, 4, 2), [], {"pool_size": (2, 2), "strides": (1, 1), "padding": "same"}),
}
ACTS = {"Relu": "relu", "Relu6": "relu6", "ReluN1To1": "relu_n1_to_1"}


def chain(op: str, act: str, out_of_producer: bool = False) -> tuple[Graph, Any, Any]:
    """x -> op -> act -> Tanh (output); the producer's output also an output when asked."""
    shape, consts, attrs = FUSING[op]
    g = Graph(op)
    x = g.add_input("x", DType.FLOAT32, shape)
    ins: list[Value] = [x]
    for k, s in enumerate(consts):
        data = RNG.uniform(0.5, 2.0, s) if op in ("BatchNorm", "Div") else RNG.standard_normal(s) * 3
        ins.append(g.add_const(f"c{k}", data))
    node = g.add_node(op, ins, attrs, origin=("layer", op))
    a = g.add_node(act, [node.output], origin=("act", act))
    g.outputs.append(g.add_node("Tanh", [a.output], origin=("tanh", "Tanh")).output)
    if out_of_producer:
        g.outputs.append(node.output)
    return g, node, a


@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("op", list(FUSING))
def test_fuses_each_clamp_into_each_op(op: str, act: str) -> None:
    g, node, a = chain(op, act)
    name = a.output.name
    check_pass(g, FuseActivationPass())
    assert ops(g) == [op, "Tanh"]
    assert node.attrs["activation"] == ACTS[act]
    assert node.output.name == name            # the fused output has the activation's name
    assert node.origin is not None and node.origin.layer == "layer"


def graph_with(op: str, act: str = "Relu6") -> Graph:
    return chain(op, act)[0]


def test_declines_graph_output_and_second_use() -> None:
    g, node, _ = chain("Conv2D", "Relu", out_of_producer=True)
    check_pass(g, FuseActivationPass(), changed=False)
    g, node, a = chain("Add", "Relu")
    g.outputs.append(g.add_node("Neg", [node.output]).output)     # a second consumer
    check_pass(g, FuseActivationPass(), changed=False)
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (None, 3))
    add = g.add_node("Add", [x, x])
    g.outputs.append(g.add_node("Mul", [add.output, add.output]).output)  # one consumer, used twice
    check_pass(g, FuseActivationPass(), changed=False)


@pytest.mark.parametrize("act", ["Tanh", "Logistic", "Relu0To1", "HardSwish"])
def test_declines_other_activations(act: str) -> None:
    check_pass(graph_with("Conv2D", act), FuseActivationPass(), changed=False)


def test_declines_non_float32_ops_without_the_attribute_and_quantized_values() -> None:
    g = Graph()
    x = g.add_input("x", DType.INT32, (None, 3))
    d = g.add_node("Div", [x, g.add_const("two", np.full(3, 2, np.int32))])      # integer Div: FLOOR_DIV
    g.outputs.append(g.add_node("Relu", [d.output]).output)
    check_pass(g, FuseActivationPass(), changed=False)
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (1, 3, 3, 2))
    t = g.add_node("TransposeConv2D", [x, g.add_const("w", RNG.standard_normal((3, 3, 4, 2)))],
                   {"strides": (2, 2), "output_size": (6, 6)})
    g.outputs.append(g.add_node("Relu", [t.output]).output)      # TRANSPOSE_CONV is not fused
    check_pass(g, FuseActivationPass(), changed=False)
    g, node, _ = chain("Conv2D", "Relu")
    node.output.quant = QuantParams(np.ones(1, np.float32), np.zeros(1, np.int64))
    assert FuseActivationPass().run(g) is False


def test_declines_an_op_already_fused_and_bn_folding_respects_the_clamp() -> None:
    g, node, _ = chain("Conv2D", "Relu")
    FuseActivationPass().run(g)
    a2 = g.add_node("Relu6", [g.nodes[0].output], before=g.nodes[1])
    g.set_input(g.nodes[2], 0, a2.output)
    check_pass(g, FuseActivationPass(), changed=False)          # relu then relu6 stay two steps
    # a BatchNorm after a conv with a fused clamp cannot move into the conv's weights
    g, conv, _ = chain("Conv2D", "Relu")
    FuseActivationPass().run(g)
    y = conv.output
    c = y.shape[-1]
    bn = g.add_node("BatchNorm", [y] + [g.add_const(f"bn{k}", RNG.uniform(0.5, 2, c)) for k in range(4)],
                    before=g.nodes[1])
    g.set_input(g.nodes[2], 0, bn.output)
    check_pass(g, FoldBatchNormPass())
    assert ops(g) == ["Conv2D", "Mul", "Add", "Tanh"] and conv.attrs["activation"] == "relu"


@pytest.mark.parametrize("op", ["Conv2D", "FullyConnected", "MaxPool2D"])
def test_unfuse_inverts_fuse(op: str) -> None:
    g, node, a = chain(op, "Relu6")
    name = a.output.name
    FuseActivationPass().run(g)
    check_pass(g, UnfuseActivationPass())
    assert ops(g) == [op, "Relu6", "Tanh"] and node.attrs["activation"] == "none"
    assert g.nodes[1].output.name == name and g.nodes[1].origin == node.origin


def test_tflite_lowering_copies_and_is_idempotent() -> None:
    g, node, a = chain("Conv2D", "Relu6")
    before = repr(g)
    data = tflite_bytes(g)
    assert repr(g) == before                     # the caller's graph is not lowered in place
    low = lower(g)
    assert ops(low) == ["Conv2D", "Tanh"] and repr(g) == before
    assert low.nodes[0].inputs[1].const is node.inputs[1].const     # weights shared, not copied
    assert tflite_bytes(low) == data               # what the emitter writes is the lowered graph
    feeds = random_feeds(g)
    want = evaluate(g, feeds)
    got = Interpreter(data).run(feeds["x"])
    np.testing.assert_allclose(got, want[g.outputs[0].name], rtol=1e-5, atol=1e-5)


def test_onnx_emits_a_fused_graph_with_the_activation_as_its_own_op() -> None:
    g, _, _ = chain("Conv2D", "ReluN1To1")
    feeds = random_feeds(g)
    want = evaluate(g, feeds)[g.outputs[0].name]
    low = lower(g)
    before = repr(low)
    model = to_onnx(low)
    assert repr(low) == before
    assert [n.op_type for n in model.graph.node].count("Clip") == 1
    got = run_onnx(model, feeds)
    np.testing.assert_allclose(got[g.outputs[0].name], want, rtol=1e-5, atol=1e-5)
