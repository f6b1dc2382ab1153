"""FoldBatchNormPass: folding into each producer op, the Mul+Add fallback, and the declines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from keras2edge.ir import DType, Graph, Node, Value
from keras2edge.ir.passes import FoldBatchNormPass

from tests.ir_graphs import ops

from tests.ir.helpers import check_pass

RNG = np.random.default_rng(7)

# (op, input shape, weight shape, attrs): one entry per producer the pass folds into.
PRODUCERS: dict[str, tuple[str, tuple[int | None, ...], tuple[int, ...], dict[str, Any]]] = {
    "conv": ("Conv2D", (None, 5, 5, 3), (3, 3, 3, 4), {"padding": "same"}),
    "conv_grouped": ("Conv2D", (1, 5, 5, 4), (3, 3, 2, 6), {"strides": (2, 2)}),
    "depthwise": ("DepthwiseConv2D", (1, 5, 5, 3), (1, 3, 3, 6), {"padding": "same"}),
    "transpose_conv": ("TransposeConv2D", (1, 3, 3, 2), (3, 3, 4, 2), {"strides": (2, 2), "output_size": (6, 6)}),
    "dense": ("FullyConnected", (None, 5), (5, 4), {}),
    "dense_3d": ("FullyConnected", (2, 3, 5), (5, 4), {}),
}


def channels_of(op: str, w_shape: tuple[int, ...]) -> int:
    return w_shape[2] if op == "TransposeConv2D" else w_shape[-1]


def add_bn(g: Graph, x: Value, gamma: bool = True, beta: bool = True, name: str = "bn",
           param_shape: tuple[int, ...] | None = None) -> Node:
    c = x.shape[-1]
    assert c is not None
    shape = param_shape or (c,)
    mean = g.add_const(f"{name}/mean", RNG.standard_normal(shape))
    var = g.add_const(f"{name}/var", RNG.uniform(0.5, 2.0, shape))
    gam = g.add_const(f"{name}/gamma", RNG.uniform(0.5, 1.5, shape)) if gamma else None
    bet = g.add_const(f"{name}/beta", RNG.standard_normal(shape)) if beta else None
    return g.add_node("BatchNorm", [x, mean, var, gam, bet], {"epsilon": 1e-3}, origin=(name, "BatchNormalization"))


def producer_graph(key: str, bias: bool, gamma: bool = True, beta: bool = True) -> tuple[Graph, Node, Node]:
    op, x_shape, w_shape, attrs = PRODUCERS[key]
    g = Graph(key)
    x = g.add_input("x", DType.FLOAT32, x_shape)
    w = g.add_const("conv/kernel", RNG.standard_normal(w_shape))
    ins = [x, w] + ([g.add_const("conv/bias", RNG.standard_normal(channels_of(op, w_shape)))] if bias else [])
    conv = g.add_node(op, ins, attrs, origin=("conv", op))
    bn = add_bn(g, conv.output, gamma, beta)
    relu = g.add_node("Relu", [bn.output], origin=("relu", "ReLU"))
    g.outputs.append(relu.output)
    return g, conv, bn


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("key", list(PRODUCERS))
def test_folds_into_producer(key: str, bias: bool) -> None:
    g, conv, bn = producer_graph(key, bias)
    w_before = conv.inputs[1]
    assert w_before is not None and w_before.const is not None
    w_data = w_before.const.copy()
    check_pass(g, FoldBatchNormPass())
    assert ops(g) == [conv.op, "Relu"]
    assert g.nodes[0] is conv and conv.origin is not None and conv.origin.layer == "conv"
    new_w, new_b = conv.inputs[1], conv.inputs[2]
    assert new_w is not w_before and new_w is not None and new_w.is_const
    assert new_b is not None and new_b.is_const and new_b.shape == (channels_of(conv.op, new_w.shape),)
    np.testing.assert_array_equal(w_before.const, w_data)  # the old constant is untouched


@pytest.mark.parametrize("gamma,beta", [(False, False), (True, False), (False, True)])
def test_folds_without_gamma_or_beta(gamma: bool, beta: bool) -> None:
    g, conv, _ = producer_graph("conv", bias=True, gamma=gamma, beta=beta)
    check_pass(g, FoldBatchNormPass())
    assert ops(g) == ["Conv2D", "Relu"]


def test_folds_broadcast_shaped_params() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (1, 4, 4, 3))
    conv = g.add_node("Conv2D", [x, g.add_const("w", RNG.standard_normal((1, 1, 3, 4)))])
    bn = add_bn(g, conv.output, param_shape=(1, 1, 1, 4))
    g.outputs.append(bn.output)
    check_pass(g, FoldBatchNormPass())
    assert ops(g) == ["Conv2D"]


def test_folded_graph_output_keeps_its_name() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (None, 5))
    fc = g.add_node("FullyConnected", [x, g.add_const("w", RNG.standard_normal((5, 3)))], origin=("dense", "Dense"))
    bn = add_bn(g, fc.output)
    g.outputs.append(bn.output)
    name = bn.output.name
    check_pass(g, FoldBatchNormPass())
    assert ops(g) == ["FullyConnected"]
    assert g.outputs == [fc.output] and fc.output.name == name


def expect_mul_add(g: Graph, bn_layer: str = "bn") -> tuple[Node, Node]:
    mul, add = (n for n in g.nodes if n.op in ("Mul", "Add"))
    assert mul.op == "Mul" and add.op == "Add" and add.inputs[0] is mul.output
    assert mul.origin is not None and mul.origin.layer == bn_layer and mul.origin == add.origin
    assert mul.inputs[1] is not None and mul.inputs[1].is_const
    assert add.inputs[1] is not None and add.inputs[1].is_const
    assert "BatchNorm" not in ops(g)
    return mul, add


def test_conv_output_with_two_uses_becomes_mul_add() -> None:
    g, conv, bn = producer_graph("conv", bias=True)
    other = g.add_node("Tanh", [conv.output])
    g.outputs.append(other.output)
    w, b = conv.inputs[1], conv.inputs[2]
    check_pass(g, FoldBatchNormPass())
    assert ops(g) == ["Conv2D", "Mul", "Add", "Relu", "Tanh"]
    mul, _ = expect_mul_add(g)
    assert conv.inputs[1] is w and conv.inputs[2] is b  # the conv is untouched
    assert mul.inputs[1].shape == (4,)  # type: ignore[union-attr]


def test_conv_output_that_is_a_graph_output_becomes_mul_add() -> None:
    g, conv, bn = producer_graph("depthwise", bias=False)
    g.outputs.append(conv.output)
    check_pass(g, FoldBatchNormPass())
    expect_mul_add(g)
    assert len(conv.inputs) == 2


def test_non_constant_weights_become_mul_add() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (2, 5))
    w = g.add_input("w", DType.FLOAT32, (5, 3))
    fc = g.add_node("FullyConnected", [x, w])
    bn = add_bn(g, fc.output)
    g.outputs.append(bn.output)
    name = bn.output.name
    check_pass(g, FoldBatchNormPass())
    _, add = expect_mul_add(g)
    assert g.outputs == [add.output] and add.output.name == name


def test_bn_on_graph_input_becomes_mul_add_and_keeps_output_name() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (None, 4, 4, 3))
    bn = add_bn(g, x)
    g.outputs.append(bn.output)
    check_pass(g, FoldBatchNormPass())
    _, add = expect_mul_add(g)
    assert [v.name for v in g.outputs] == ["bn/BatchNorm"] and g.outputs[0] is add.output


def test_shared_weights_are_never_mutated() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (1, 4, 4, 3))
    w = g.add_const("shared/kernel", RNG.standard_normal((1, 1, 3, 3)))
    b = g.add_const("shared/bias", RNG.standard_normal(3))
    data_w, data_b = w.const.copy(), b.const.copy()  # type: ignore[union-attr]
    a = g.add_node("Conv2D", [x, w, b])
    bn = add_bn(g, a.output, name="bn_a")
    plain = g.add_node("Conv2D", [bn.output, w, b])
    c = g.add_node("Conv2D", [plain.output, w, b])
    bn_c = add_bn(g, c.output, name="bn_c")
    g.outputs.append(bn_c.output)
    check_pass(g, FoldBatchNormPass())
    assert ops(g) == ["Conv2D"] * 3
    assert plain.inputs[1] is w and plain.inputs[2] is b
    assert a.inputs[1] is not w and c.inputs[1] is not w and a.inputs[1] is not c.inputs[1]
    np.testing.assert_array_equal(w.const, data_w)
    np.testing.assert_array_equal(b.const, data_b)


def test_declines_non_constant_statistics() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (2, 3))
    mean = g.add_input("mean", DType.FLOAT32, (3,))
    bn = g.add_node("BatchNorm", [x, mean, g.add_const("var", np.ones(3)), None, None])
    g.outputs.append(bn.output)
    check_pass(g, FoldBatchNormPass(), changed=False)
    assert ops(g) == ["BatchNorm"]
