"""Layout tests: the NHWC graph is converted to NCHW as a whole (Transposes only at inputs/outputs)."""

from __future__ import annotations

import numpy as np
import pytest
from .helpers import count_ops
from tests.onnxrt import run_onnx

from keras2edge.convert.onnx import to_onnx
from keras2edge.ir import DType, Graph
from keras2edge.ir.evaluate import evaluate
from tests.ir_graphs import assert_close, chain

RNG = np.random.default_rng(7)


def w(*shape: int) -> np.ndarray:
    return (RNG.standard_normal(shape) * 0.3).astype(np.float32)


def check(g: Graph, batch: int = 2, **kw: bool) -> None:
    """Emit, run in onnxruntime and compare every output with the IR evaluation."""
    g.verify()
    feeds = {v.name: RNG.standard_normal((batch,) + tuple(v.shape[1:])).astype(np.float32) for v in g.inputs}
    want = evaluate(g, feeds)
    got = run_onnx(to_onnx(g, **kw), feeds, nchw_inputs=kw.get("nchw_inputs", False),
                   nchw_outputs=kw.get("nchw_outputs", False))
    for name, ref in want.items():
        assert_close(got[name], ref, name, rtol=1e-4)


def mobilenet_block() -> Graph:
    g = Graph("mbv2_block")
    x = g.add_input("input_1", DType.FLOAT32, (None, 16, 16, 3))
    y = chain(g, "Conv2D", [x, g.add_const("k1", w(3, 3, 3, 8)), g.add_const("b1", w(8))], "conv1",
              strides=(2, 2), padding="same")
    y = chain(g, "BatchNorm", [y, g.add_const("m", w(8)), g.add_const("v", np.abs(w(8)) + 0.5),
                               g.add_const("g", w(8)), g.add_const("be", w(8))], "bn1")
    r = chain(g, "Relu6", [y], "relu1")
    d = chain(g, "DepthwiseConv2D", [r, g.add_const("dk", w(1, 3, 3, 8)), g.add_const("db", w(8))], "dw1",
              padding="same")
    a = chain(g, "Add", [d, r], "add1")
    p = chain(g, "Mean", [a], "gap", axes=(1, 2))
    f = chain(g, "FullyConnected", [p, g.add_const("fk", w(8, 5)), g.add_const("fb", w(5))], "dense")
    g.outputs = [chain(g, "Softmax", [f], "softmax")]
    return g


def test_mobilenet_block_has_one_transpose_at_the_input() -> None:
    g = mobilenet_block()
    m = to_onnx(g)
    assert count_ops(m, "Transpose") == 1
    first = next(n for n in m.graph.node if n.op_type == "Transpose")
    assert list(first.input) == ["input_1"]
    assert count_ops(m, "BatchNormalization") == 1
    check(g)


def test_mobilenet_block_nchw_inputs_has_no_transpose() -> None:
    g = mobilenet_block()
    m = to_onnx(g, nchw_inputs=True)
    assert count_ops(m, "Transpose") == 0
    dims = [d.dim_value or d.dim_param for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 16, 16]
    check(g, nchw_inputs=True)


def vgg_like() -> Graph:
    g = Graph("vgg")
    x = g.add_input("image", DType.FLOAT32, (None, 12, 10, 3))
    y = chain(g, "Conv2D", [x, g.add_const("k1", w(3, 3, 3, 4)), g.add_const("b1", w(4))], "block1_conv1",
              padding="same")
    y = chain(g, "Relu", [y], "block1_relu")
    y = chain(g, "MaxPool2D", [y], "block1_pool", pool_size=(2, 2), strides=(2, 2))
    y = chain(g, "Conv2D", [y, g.add_const("k2", w(3, 3, 4, 6)), g.add_const("b2", w(6))], "block2_conv1",
              padding="same")
    y = chain(g, "Reshape", [y], "flatten", shape=(-1, 6 * 5 * 6))
    y = chain(g, "FullyConnected", [y, g.add_const("fk1", w(180, 16)), g.add_const("fb1", w(16))], "fc1")
    y = chain(g, "Relu", [y], "fc1_relu")
    g.outputs = [chain(g, "FullyConnected", [y, g.add_const("fk2", w(16, 3))], "predictions")]
    return g


def test_flatten_into_dense_permutes_weights_instead_of_transposing() -> None:
    g = vgg_like()
    m = to_onnx(g)
    assert count_ops(m, "Transpose") == 1
    reshape = next(n for n in m.graph.node if n.op_type == "Reshape")
    conv2 = next(n for n in m.graph.node if n.name == "block2_conv1/Conv2D")
    assert reshape.input[0] == conv2.output[0]  # flattens the NCHW conv output directly
    check(g, batch=3)


def test_flatten_shared_by_two_dense_layers() -> None:
    g = Graph("two_heads")
    x = g.add_input("x", DType.FLOAT32, (None, 6, 6, 2))
    y = chain(g, "Conv2D", [x, g.add_const("k", w(3, 3, 2, 4))], "conv", padding="same")
    f = chain(g, "Reshape", [y], "flatten", shape=(-1, 144))
    a = chain(g, "FullyConnected", [f, g.add_const("ka", w(144, 3))], "head_a")
    b = chain(g, "FullyConnected", [f, g.add_const("kb", w(144, 2)), g.add_const("bb", w(2))], "head_b")
    g.outputs = [a, b]
    assert count_ops(to_onnx(g), "Transpose") == 1
    check(g)


def test_flatten_also_used_elsewhere_falls_back_to_nhwc() -> None:
    g = Graph("flat_out")
    x = g.add_input("x", DType.FLOAT32, (None, 6, 6, 2))
    y = chain(g, "Conv2D", [x, g.add_const("k", w(3, 3, 2, 4))], "conv", padding="same")
    f = chain(g, "Reshape", [y], "flatten", shape=(-1, 144))
    a = chain(g, "FullyConnected", [f, g.add_const("ka", w(144, 3))], "head_a")
    g.outputs = [a, f]
    assert count_ops(to_onnx(g), "Transpose") == 2
    check(g)


def conv_net() -> Graph:
    g = Graph("fcn")
    x = g.add_input("x", DType.FLOAT32, (None, 9, 11, 3))
    y = chain(g, "Conv2D", [x, g.add_const("k1", w(3, 3, 3, 8)), g.add_const("b1", w(8))], "conv1",
              padding="same", strides=(2, 2))
    y = chain(g, "LeakyRelu", [y], "lrelu", alpha=0.1)
    s = chain(g, "Conv2D", [y, g.add_const("k2", w(1, 1, 8, 8))], "conv2")
    y = chain(g, "Add", [y, s], "skip")
    y = chain(g, "Mul", [y, g.add_const("scale", w(8))], "scale")
    y = chain(g, "Pad", [y], "pad", pads=((0, 0), (1, 1), (0, 1), (0, 0)))
    y = chain(g, "StridedSlice", [y], "crop", begin=(0, 1, 0, 0), end=(None, None, -1, None), strides=(1, 1, 1, 1))
    u = chain(g, "ResizeBilinear", [y], "up", size=(10, 12), half_pixel_centers=True)
    c = chain(g, "Concatenation", [u, chain(g, "AveragePool2D", [u], "pool", pool_size=(3, 3), strides=(1, 1),
                                            padding="same")], "concat", axis=-1)
    y = chain(g, "TransposeConv2D", [c, g.add_const("tk", w(3, 3, 4, 16)), g.add_const("tb", w(4))], "deconv",
              strides=(2, 2), output_size=(20, 24), pad_before=(0, 0))
    g.outputs = [chain(g, "Softmax", [y], "probs")]
    return g


def test_conv_net_with_rank4_output_has_two_transposes() -> None:
    g = conv_net()
    m = to_onnx(g)
    assert count_ops(m, "Transpose") == 2
    assert m.graph.output[0].name == "probs/Softmax"
    check(g)


def test_nchw_inputs_and_outputs_have_no_transpose() -> None:
    g = conv_net()
    m = to_onnx(g, nchw_inputs=True, nchw_outputs=True)
    assert count_ops(m, "Transpose") == 0
    check(g, nchw_inputs=True, nchw_outputs=True)


def test_squeeze_excitation_stays_channels_first() -> None:
    g = Graph("se")
    x = g.add_input("x", DType.FLOAT32, (None, 8, 8, 3))
    y = chain(g, "Conv2D", [x, g.add_const("k", w(3, 3, 3, 6))], "conv", padding="same")
    s = chain(g, "Mean", [y], "se_pool", axes=(1, 2))
    s = chain(g, "FullyConnected", [s, g.add_const("k1", w(6, 2))], "se_reduce")
    s = chain(g, "Relu", [s], "se_relu")
    s = chain(g, "FullyConnected", [s, g.add_const("k2", w(2, 6))], "se_expand")
    s = chain(g, "Logistic", [s], "se_sigmoid")
    s = chain(g, "Reshape", [s], "se_reshape", shape=(-1, 1, 1, 6))
    y = chain(g, "Mul", [y, s], "se_excite")
    y = chain(g, "HardSwish", [y], "hswish")
    g.outputs = [chain(g, "Mean", [y], "gap", axes=(1, 2), keepdims=True)]
    m = to_onnx(g)
    # Input transpose; the (N, 1, 1, C) <-> (N, C, 1, 1) moves are Reshapes, not Transposes.
    assert count_ops(m, "Transpose") == 1
    check(g)


def test_transpose_to_nchw_is_absorbed() -> None:
    g = Graph("permute")
    x = g.add_input("x", DType.FLOAT32, (None, 5, 6, 3))
    y = chain(g, "Conv2D", [x, g.add_const("k", w(3, 3, 3, 4))], "conv")
    g.outputs = [chain(g, "Transpose", [y], "permute", perm=(0, 3, 1, 2))]
    m = to_onnx(g)
    assert count_ops(m, "Transpose") == 1
    check(g)


def test_reshape_after_conv_transposes_back() -> None:
    g = Graph("reshape")
    x = g.add_input("x", DType.FLOAT32, (None, 4, 4, 2))
    y = chain(g, "Conv2D", [x, g.add_const("k", w(1, 1, 2, 4))], "conv")
    y = chain(g, "Reshape", [y], "reshape", shape=(-1, 16, 4))
    g.outputs = [chain(g, "Softmax", [y], "softmax")]
    assert count_ops(to_onnx(g), "Transpose") == 2
    check(g)


def test_value_used_as_output_and_further() -> None:
    g = Graph("two_outputs")
    x = g.add_input("x", DType.FLOAT32, (None, 6, 6, 2))
    y = chain(g, "Conv2D", [x, g.add_const("k", w(3, 3, 2, 4))], "conv", padding="same")
    z = chain(g, "MaxPool2D", [y], "pool", pool_size=(2, 2), strides=(2, 2))
    g.outputs = [y, z]
    m = to_onnx(g)
    assert [o.name for o in m.graph.output] == [y.name, z.name]
    assert count_ops(m, "Transpose") == 3
    check(g)


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_layout_graphs_all_opsets(opset: int) -> None:
    for make in (mobilenet_block, vgg_like, conv_net):
        check(make(), opset=opset)  # type: ignore[arg-type]


def test_rescaling_before_conv_transposes_the_input_itself() -> None:
    """MobileNetV3-style Mul/Add on the input in front of the first conv: the one Transpose reads the
    graph input, so the elementwise chain already runs channels first."""
    import numpy as np
    import onnx

    from keras2edge.convert.onnx import to_onnx
    from keras2edge.ir import DType, Graph

    g = Graph()
    x = g.add_input("img", DType.FLOAT32, (None, 8, 8, 3))
    y = g.op("Mul", [x, g.add_const("s", np.float32(1 / 127.5))])
    y = g.op("Add", [y, g.add_const("o", np.float32(-1.0))])
    y = g.op("Conv2D", [y, g.add_const("w", np.ones((3, 3, 3, 4), np.float32))], padding="same")
    g.outputs = [g.op("Mean", [y], axes=(1, 2))]
    model = to_onnx(g)
    onnx.checker.check_model(model)
    transposes = [n for n in model.graph.node if n.op_type == "Transpose"]
    assert len(transposes) == 1 and transposes[0].input[0] == "img"
