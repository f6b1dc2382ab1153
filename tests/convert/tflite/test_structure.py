"""Structure of emitted files: fused activations, folded BatchNorm, buffers, opcodes, versions,
shape signatures, metadata, signature names, naming; the save/bytes API and its errors. Values are
compared with onnxruntime on the same graph emitted as ONNX (never the IR's own evaluator)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.tflite import save_tflite, tflite_bytes, to_tflite, write_model
from keras2edge.convert.tflite.emitter import SIGNATURE_KEY
from keras2edge.errors import UnsupportedOpError
from keras2edge.ir import DType, Graph
from keras2edge.ir.passes import optimize
from keras2edge.ir.value import QuantParams
from keras2edge.runtime.codes import ACT_NONE, ACT_RELU, ACT_RELU6, ACT_RELU_N1_TO_1
from keras2edge.runtime.schema import op_code, op_name

from ...onnxrt import run_graph_onnx
from ...ir_graphs import assert_close, build_case, chain
from ...litert import litert, litert_signature
from ...op_cases import CASES
from ...tflm import op_names

RNG = np.random.default_rng(7)


def _w(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _conv_graph(act: str | None = "Relu6", bn: bool = True) -> Graph:
    g = Graph("convnet")
    x = g.add_input("image", DType.FLOAT32, (None, 8, 8, 3))
    y = chain(g, "Conv2D", [x, g.add_const("conv/kernel", _w(3, 3, 3, 4)), g.add_const("conv/bias", _w(4))],
              "conv", padding="same")
    if bn:
        y = chain(g, "BatchNorm", [y, g.add_const("bn/mean", _w(4)), g.add_const("bn/var", np.abs(_w(4)) + 0.5),
                                   g.add_const("bn/gamma", _w(4)), g.add_const("bn/beta", _w(4))], "bn")
    if act:
        y = chain(g, act, [y], "act")
    g.outputs = [y]
    return g


def _options(model, name: str) -> list[dict]:
    sg = model.subgraphs[0]
    return [op.options for op, n in zip(sg.operators, op_names(model)) if n == name]


def test_conv_bn_relu6_is_one_fused_conv() -> None:
    g = optimize(_conv_graph("Relu6"))
    model = to_tflite(g)
    assert op_names(model) == ["CONV_2D"]
    (opts,) = _options(model, "CONV_2D")
    assert opts["fused_activation_function"] == ACT_RELU6
    sg = model.subgraphs[0]
    out = sg.tensors[sg.outputs[0]]
    assert out.name == g.outputs[0].name
    x = RNG.standard_normal((3, 8, 8, 3)).astype(np.float32)
    assert_close(litert(write_model(model), [x])[0], run_graph_onnx(g, {"image": x})[0])


def test_zero_biases_are_not_shared() -> None:
    g = Graph("two_convs")
    x = g.add_input("x", DType.FLOAT32, (None, 5, 5, 2))
    y = chain(g, "Conv2D", [x, g.add_const("k1", _w(1, 1, 2, 2))], "c1")
    g.outputs = [chain(g, "Conv2D", [y, g.add_const("k2", _w(1, 1, 2, 2))], "c2")]
    model = to_tflite(g)
    sg = model.subgraphs[0]
    b1, b2 = (sg.operators[k].inputs[2] for k in range(2))
    assert b1 != b2 and sg.tensors[b1].buffer != sg.tensors[b2].buffer
    assert not model.tensor_data(0, b1).any()


def test_standalone_batchnorm_is_mul_add() -> None:
    g = Graph("bn")
    x = g.add_input("x", DType.FLOAT32, (None, 4, 3))
    y = chain(g, "BatchNorm", [x, g.add_const("m", _w(3)), g.add_const("v", np.abs(_w(3)) + 0.5)], "bn")
    g.outputs = [y]
    assert op_names(to_tflite(g)) == ["MUL", "ADD"]
    assert op_names(to_tflite(optimize(g))) == ["MUL", "ADD"]  # the cleanup does the same


@pytest.mark.parametrize("act, code", [("Relu", ACT_RELU), ("Relu6", ACT_RELU6), ("ReluN1To1", ACT_RELU_N1_TO_1)])
def test_fused_activation_codes(act: str, code: int) -> None:
    model = to_tflite(_conv_graph(act, bn=False))
    assert op_names(model) == ["CONV_2D"]
    assert _options(model, "CONV_2D")[0]["fused_activation_function"] == code


@pytest.mark.parametrize("producer", ["FullyConnected", "Add", "Sub", "Mul", "Div", "MaxPool2D", "AveragePool2D",
                                      "DepthwiseConv2D"])
def test_fusing_producers(producer: str) -> None:
    g = Graph("fuse")
    x = g.add_input("x", DType.FLOAT32, (None, 4, 4, 2))
    if producer == "FullyConnected":
        y = chain(g, producer, [x, g.add_const("w", _w(2, 5))], "p")
    elif producer in ("MaxPool2D", "AveragePool2D"):
        y = chain(g, producer, [x], "p", pool_size=(2, 2), strides=(1, 1))
    elif producer == "DepthwiseConv2D":
        y = chain(g, producer, [x, g.add_const("w", _w(1, 3, 3, 2))], "p", padding="same")
    else:
        y = chain(g, producer, [x, g.add_const("c", np.abs(_w(2)) + 0.5)], "p")
    y = chain(g, "Relu", [y], "relu")
    g.outputs = [y]
    model = to_tflite(g)
    names = op_names(model)
    assert len(names) == 1 and "RELU" not in names
    assert model.subgraphs[0].operators[0].options["fused_activation_function"] == ACT_RELU
    xv = RNG.standard_normal((2, 4, 4, 2)).astype(np.float32)
    assert_close(litert(write_model(model), [xv])[0], run_graph_onnx(g, {"x": xv})[0])


def test_activation_not_fused_when_output_needed_twice_or_tanh() -> None:
    # The conv output is a graph output as well: the Relu stays.
    g = _conv_graph("Relu", bn=False)
    g.outputs = [g.nodes[0].output, g.outputs[0]]
    assert op_names(to_tflite(g)) == ["CONV_2D", "RELU"]
    # Two consumers of the conv output.
    g = _conv_graph("Relu", bn=False)
    extra = chain(g, "Tanh", [g.nodes[0].output], "tanh")
    g.outputs = [g.outputs[0], extra]
    assert sorted(op_names(to_tflite(g))) == ["CONV_2D", "RELU", "TANH"]
    # Tanh is never fused (the converter does not: it is not a clamp).
    model = to_tflite(_conv_graph("Tanh", bn=False))
    assert op_names(model) == ["CONV_2D", "TANH"]
    assert _options(model, "CONV_2D")[0]["fused_activation_function"] == ACT_NONE
    # Concatenation keeps a separate Relu (the converter has no such fusion).
    g = Graph("cat")
    x = g.add_input("x", DType.FLOAT32, (None, 3))
    g.outputs = [chain(g, "Relu", [chain(g, "Concatenation", [x, x], "cat", axis=-1)], "relu")]
    assert op_names(to_tflite(g)) == ["CONCATENATION", "RELU"]


def test_buffers_opcodes_names_and_signatures() -> None:
    g = Graph("two")
    a = g.add_input("left", DType.FLOAT32, (None, 6))
    b = g.add_input("right", DType.FLOAT32, (None, 6))
    h1 = chain(g, "Relu", [chain(g, "FullyConnected", [a, g.add_const("d1/kernel", _w(6, 4))], "d1")], "d1_relu")
    h2 = chain(g, "Relu", [chain(g, "FullyConnected", [b, g.add_const("d2/kernel", _w(6, 4)),
                                                       g.add_const("d2/bias", _w(4))], "d2")], "d2_relu")
    s = chain(g, "Add", [h1, h2], "sum")
    p = chain(g, "Softmax", [s], "probs")
    g.outputs = [p, s]
    model = to_tflite(g)
    sg = model.subgraphs[0]
    assert model.buffers[0].size == 0
    # One OperatorCode per builtin, referenced by index; codes are BuiltinOperator codes.
    names = op_names(model)
    assert names == ["FULLY_CONNECTED", "FULLY_CONNECTED", "ADD", "SOFTMAX"]
    assert [c.builtin_code for c in model.operator_codes] == [op_code(n) for n in ("FULLY_CONNECTED", "ADD", "SOFTMAX")]
    # Versions: FC without bias is written with input -1 (version 1, as the converter does).
    assert [c.version for c in model.operator_codes] == [1, 1, 1]
    assert sg.operators[0].inputs[2] == -1
    # Constants in their own buffers, activations in buffer 0; tensor names are IR names.
    for t in sg.tensors:
        const = t.buffer != 0
        assert const == (t.name in ("d1/kernel", "d2/kernel", "d2/bias"))
    by_name = {t.name: t for t in sg.tensors}
    assert {"left", "right", h1.name, h2.name, s.name, p.name} <= set(by_name)
    assert by_name["d1/kernel"].shape == (4, 6)  # (K, N) -> (N, K)
    np.testing.assert_array_equal(model.tensor_data(0, list(by_name).index("d1/kernel")), g.nodes[0].inputs[1].const.T)
    # Shapes: batch 1, signature -1; weights without signature.
    assert by_name[s.name].shape == (1, 4) and by_name[s.name].shape_signature == (-1, 4)
    assert by_name["d1/kernel"].shape_signature is None
    assert all(t.has_rank for t in sg.tensors)
    # Signature: Keras input names and output layer names.
    (sig,) = model.signature_defs
    assert sig.signature_key == SIGNATURE_KEY and sig.subgraph_index == 0
    assert sig.inputs == [("left", sg.inputs[0]), ("right", sg.inputs[1])]
    assert sig.outputs == [(p.name, sg.outputs[0]), (s.name, sg.outputs[1])]
    # Metadata min_runtime_version: a 16-byte NUL-padded string; description names keras2edge.
    (md,) = model.metadata
    assert md.name == "min_runtime_version"
    raw = bytes(model.buffers[md.buffer])
    assert len(raw) == 16 and raw.rstrip(b"\0") == b"1.5.0"  # FULLY_CONNECTED, ADD, SOFTMAX 1: all 1.5.0
    assert model.description == f"keras2edge {keras2edge.__version__}"
    # The signature runner works by Keras names.
    data = write_model(model)
    xa, xb = (RNG.standard_normal((2, 6)).astype(np.float32) for _ in range(2))
    got = litert_signature(data, {"left": xa, "right": xb})
    want = dict(zip([v.name for v in g.outputs], run_graph_onnx(g, {"left": xa, "right": xb})))
    assert sorted(got) == sorted([p.name, s.name])
    for k in got:
        assert_close(got[k], want[k])


def test_min_runtime_version_follows_the_newest_op() -> None:
    # FULLY_CONNECTED 5 (keep_num_dims) is 2.0.0.
    g = Graph("m")
    x = g.add_input("x", DType.FLOAT32, (None, 5, 3))
    g.outputs = [chain(g, "Softmax", [chain(g, "FullyConnected", [x, g.add_const("w", _w(3, 2)),
                                                                 g.add_const("b", _w(2))], "fc")], "sm")]
    model = to_tflite(g)
    assert bytes(model.buffers[model.metadata[0].buffer]).rstrip(b"\0") == b"2.0.0"
    # GELU (2.9.0) raises it.
    g.outputs = [chain(g, "Gelu", [g.outputs[0]], "gelu")]
    model = to_tflite(g)
    assert bytes(model.buffers[model.metadata[0].buffer]).rstrip(b"\0") == b"2.9.0"


# Versions the official converter writes for float ops (op_version.cc), checked on emitted files.
VERSION_CASES = {
    "Conv2D/groups": ("CONV_2D", 6),
    "Conv2D/valid": ("CONV_2D", 1),
    "DepthwiseConv2D/dilation": ("DEPTHWISE_CONV_2D", 2),
    "DepthwiseConv2D": ("DEPTHWISE_CONV_2D", 1),
    "FullyConnected/rank3": ("FULLY_CONNECTED", 5),
    "FullyConnected/no_bias": ("FULLY_CONNECTED", 1),
    "TransposeConv2D/same_k3_s2": ("TRANSPOSE_CONV", 3),
    "TransposeConv2D/same_k4_s2_no_bias": ("TRANSPOSE_CONV", 1),
    "ResizeBilinear/half_pixel/up": ("RESIZE_BILINEAR", 3),
    "ResizeBilinear/align_corners/up": ("RESIZE_BILINEAR", 1),
    "ResizeNearestNeighbor/align_corners/up": ("RESIZE_NEAREST_NEIGHBOR", 3),
    "ResizeNearestNeighbor/x2": ("RESIZE_NEAREST_NEIGHBOR", 1),
    "FloorDiv": ("FLOOR_DIV", 2),
    "FloorDiv/int": ("FLOOR_DIV", 1),
    "Sub/rank5_broadcast": ("SUB", 3),
    "Transpose/rank5": ("TRANSPOSE", 4),
    "Abs/int": ("ABS", 5),
    "Sign/int": ("SIGN", 2),
    "Gather/embedding": ("GATHER", 1),
    "Concatenation/bool": ("CONCATENATION", 1),
    "Split/bool": ("STRIDED_SLICE", 3),
}


@pytest.mark.parametrize("name", sorted(VERSION_CASES))
def test_op_versions(name: str) -> None:
    (c,) = [c for c in CASES if c.name == name]
    g, _ = build_case(c)
    model = to_tflite(g)
    op, version = VERSION_CASES[name]
    codes = {op_name(oc.builtin_code): oc.version for oc in model.operator_codes}
    assert codes[op] == version


def test_transpose_conv_input_order_and_layouts() -> None:
    (c,) = [c for c in CASES if c.name == "TransposeConv2D/same_k3_s2"]
    g, _ = build_case(c)
    model = to_tflite(g)
    sg = model.subgraphs[0]
    (op,) = [o for o, n in zip(sg.operators, op_names(model)) if n == "TRANSPOSE_CONV"]
    shape_t, w_t, x_t, b_t = (sg.tensors[i] for i in op.inputs)
    assert shape_t.type == 2 and shape_t.shape == (4,)  # INT32 output_shape first
    assert w_t.shape == (4, 3, 3, 3)  # OHWI
    assert x_t.name == "in0" and b_t.shape == (4,)
    assert op.options["padding"] == 0


def test_dynamic_transpose_conv_output_shape_is_computed() -> None:
    (c,) = [c for c in CASES if c.name == "TransposeConv2D/valid_k3_s2"]
    g, _ = build_case(c)
    assert op_names(to_tflite(g)) == ["SHAPE", "STRIDED_SLICE", "CONCATENATION", "TRANSPOSE_CONV"]
    g.inputs[0].shape = (2,) + g.inputs[0].shape[1:]  # a static batch needs no shape plumbing
    for n in g.nodes:
        n.outputs[0].shape = (2,) + n.outputs[0].shape[1:]
    assert op_names(to_tflite(g)) == ["TRANSPOSE_CONV"]


def test_reshape_has_shape_tensor_and_new_shape() -> None:
    (c,) = [c for c in CASES if c.name == "Reshape/flatten"]
    g, _ = build_case(c)
    model = to_tflite(g, batch=3)
    sg = model.subgraphs[0]
    (op,) = sg.operators
    assert op.options["new_shape"] == [-1, 60]
    assert model.tensor_data(0, op.inputs[1]).tolist() == [-1, 60]
    assert sg.tensors[op.outputs[0]].shape == (3, 60)
    assert sg.tensors[op.outputs[0]].shape_signature == (-1, 60)


def test_identity_is_dropped_unless_it_is_an_output() -> None:
    g = Graph("id")
    x = g.add_input("x", DType.FLOAT32, (None, 3))
    y = chain(g, "Identity", [x], "same")
    g.outputs = [chain(g, "Relu", [y], "relu")]
    assert op_names(to_tflite(g)) == ["RELU"]
    g.outputs = [y]
    model = to_tflite(g)
    assert op_names(model) == ["RESHAPE"]
    assert model.signature_defs[0].outputs[0][0] == y.name


def test_bytes_and_save(tmp_path) -> None:
    g = optimize(_conv_graph())
    data = tflite_bytes(g)
    assert data[4:8] == b"TFL3" and data == write_model(to_tflite(g))
    path = tmp_path / "m.tflite"
    save_tflite(g, path)
    assert path.read_bytes() == data
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(tmp_path) == ["m.tflite"]
    # Through the public API, by extension.
    out = keras2edge.save(g, tmp_path / "api.tflite")
    assert open(out, "rb").read() == data


def test_failed_save_leaves_nothing(tmp_path) -> None:
    g = _conv_graph()
    g.inputs[0].quant = QuantParams(np.ones(1, np.float32), np.zeros(1, np.int64))
    with pytest.raises(UnsupportedOpError, match="quantized"):
        save_tflite(g, tmp_path / "q.tflite")
    assert not os.listdir(tmp_path)


def test_unknown_non_batch_dimension_is_refused() -> None:
    g = Graph("seq")
    x = g.add_input("tokens", DType.FLOAT32, (None, None, 4))
    g.outputs = [chain(g, "Relu", [x], "relu")]
    with pytest.raises(UnsupportedOpError, match=r"dimension 1 of input 'tokens'.*input_shapes"):
        to_tflite(g)


def test_batch_argument_sets_the_written_batch() -> None:
    model = to_tflite(_conv_graph(), batch=4)
    sg = model.subgraphs[0]
    assert sg.tensors[sg.inputs[0]].shape == (4, 8, 8, 3)
    assert sg.tensors[sg.inputs[0]].shape_signature == (-1, 8, 8, 3)
    with pytest.raises(ValueError):
        to_tflite(_conv_graph(), batch=0)
