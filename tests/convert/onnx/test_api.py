"""to_onnx / save_onnx behaviour: names, dynamic batch, pinned shapes, opsets, atomic writes."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from .helpers import count_ops
from tests.onnxrt import ort_session, run_onnx

from keras2edge.convert.onnx import DEFAULT_OPSET, save_onnx, to_onnx
from keras2edge.errors import OptionError, UnsupportedOpError
from keras2edge.ir import DType, Graph, QuantParams
from keras2edge.ir.evaluate import evaluate
from tests.ir_graphs import assert_close, chain

RNG = np.random.default_rng(3)


def small_net(spatial: tuple[int | None, int | None] = (9, 7)) -> Graph:
    g = Graph("small")
    x = g.add_input("input_image", DType.FLOAT32, (None,) + spatial + (3,))
    k = g.add_const("conv_kernel", RNG.standard_normal((3, 3, 3, 4)).astype(np.float32))
    y = chain(g, "Conv2D", [x, k], "conv2d", padding="same", strides=(2, 2))
    y = chain(g, "Gelu", [y], "gelu")
    y = chain(g, "Conv2D", [y, g.add_const("k2", RNG.standard_normal((1, 1, 4, 4)).astype(np.float32))], "conv2d_1")
    g.outputs = [chain(g, "Mean", [y], "global_average_pooling2d", axes=(1, 2))]
    return g


def feeds_for(g: Graph, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {g.inputs[0].name: RNG.standard_normal(shape).astype(np.float32)}


def dims(vi: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim]


def test_names_and_origins_follow_keras_layers() -> None:
    g = small_net()
    m = to_onnx(g)
    assert [i.name for i in m.graph.input] == ["input_image"]
    assert [o.name for o in m.graph.output] == ["global_average_pooling2d/Mean"]
    conv = next(n for n in m.graph.node if n.op_type == "Conv")
    assert conv.name == "conv2d/Conv2D" and conv.doc_string == "conv2d (Conv2D)"
    ir_names = {n.name for n in g.nodes}
    for n in m.graph.node:
        if n.op_type != "Transpose":
            assert n.name.split("/")[0] + "/" + n.name.split("/")[1] in ir_names
    assert m.producer_name == "keras2edge"
    assert m.opset_import[0].version == DEFAULT_OPSET


def test_dynamic_batch_runs_at_batch_1_and_3() -> None:
    g = small_net()
    m = to_onnx(g)
    assert dims(m.graph.input[0]) == ["batch", 9, 7, 3]
    assert dims(m.graph.output[0]) == ["batch", 4]
    for batch in (1, 3):
        f = feeds_for(g, (batch, 9, 7, 3))
        got = run_onnx(m, f)[g.outputs[0].name]
        assert_close(got, evaluate(g, f)[g.outputs[0].name], f"batch {batch}")


def test_input_shapes_pins_dims() -> None:
    g = small_net()
    m = to_onnx(g, input_shapes={"input_image": (2, 9, 7, 3)})
    assert dims(m.graph.input[0]) == [2, 9, 7, 3]
    f = feeds_for(g, (2, 9, 7, 3))
    assert_close(run_onnx(m, f)[g.outputs[0].name], evaluate(g, f)[g.outputs[0].name])


def test_input_shapes_on_unknown_spatial_dims_gives_explicit_pads() -> None:
    g = small_net(spatial=(None, None))
    free = to_onnx(g)
    conv = next(n for n in free.graph.node if n.op_type == "Conv")
    assert any(a.name == "auto_pad" and a.s == b"SAME_UPPER" for a in conv.attribute)
    pinned = to_onnx(g, input_shapes={"input_image": (1, 9, 7, 3)})
    conv = next(n for n in pinned.graph.node if n.op_type == "Conv")
    assert [list(a.ints) for a in conv.attribute if a.name == "pads"] == [[1, 1, 1, 1]]
    f = feeds_for(g, (1, 9, 7, 3))
    want = evaluate(g, f)[g.outputs[0].name]
    for m in (free, pinned):
        assert_close(run_onnx(m, f)[g.outputs[0].name], want)
    f = feeds_for(g, (2, 10, 6, 3))  # the unpinned model takes other sizes too
    assert_close(run_onnx(free, f)[g.outputs[0].name], evaluate(g, f)[g.outputs[0].name])


@pytest.mark.parametrize("shape", [(1, 9, 8, 3), (1, 9, 7), (1, 9, 7, 3, 1), (0, 9, 7, 3)])
def test_input_shapes_mismatch_names_input_and_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(OptionError) as e:
        to_onnx(small_net(), input_shapes={"input_image": shape})
    msg = str(e.value)
    assert "input_image" in msg and str(tuple(shape)) in msg and "(?, 9, 7, 3)" in msg


def test_input_shapes_unknown_input() -> None:
    with pytest.raises(OptionError, match="not a graph input.*input_image"):
        to_onnx(small_net(), input_shapes={"nope": (1, 9, 7, 3)})


@pytest.mark.parametrize("opset", [12, 25])
def test_opset_out_of_range(opset: int) -> None:
    with pytest.raises(OptionError, match=r"opset .* is not supported; use 13\.\.24"):
        to_onnx(small_net(), opset=opset)


def test_gelu_decomposed_below_opset_20() -> None:
    g = small_net()
    assert count_ops(to_onnx(g, opset=21), "Gelu") == 1
    low = to_onnx(g, opset=17)
    assert count_ops(low, "Gelu") == 0 and count_ops(low, "Erf") == 1
    f = feeds_for(g, (2, 9, 7, 3))
    assert_close(run_onnx(low, f)[g.outputs[0].name], evaluate(g, f)[g.outputs[0].name])


def test_constants_are_deduplicated_by_identity() -> None:
    g = Graph("shared")
    x = g.add_input("x", DType.FLOAT32, (None, 4))
    k = g.add_const("kernel", RNG.standard_normal((4, 4)).astype(np.float32))
    y = chain(g, "FullyConnected", [x, k], "dense")
    y = chain(g, "FullyConnected", [y, k], "dense_shared")
    g.outputs = [y]
    m = to_onnx(g)
    assert [i.name for i in m.graph.initializer] == ["kernel"]


def test_graph_input_and_constant_as_outputs() -> None:
    g = Graph("passthrough")
    x = g.add_input("x", DType.FLOAT32, (None, 3))
    c = g.add_const("table", np.arange(6, dtype=np.float32).reshape(2, 3))
    y = chain(g, "Add", [x, c], "add")
    g.outputs = [y, x, c]
    m = to_onnx(g)
    assert [o.name for o in m.graph.output] == ["add/Add", "x", "table"]
    out = ort_session(m.SerializeToString(), threads=None).run(None, {"x": np.ones((2, 3), np.float32)})
    np.testing.assert_array_equal(out[2], np.arange(6).reshape(2, 3))


def test_quantized_graph_is_refused() -> None:
    g = small_net()
    g.inputs[0].quant = QuantParams(np.array([0.1]), np.array([0]))
    with pytest.raises(UnsupportedOpError, match="quantized"):
        to_onnx(g)


def test_metadata_becomes_model_props() -> None:
    g = small_net()
    g.metadata["keras_version"] = "2.15.0"
    props = {p.key: p.value for p in to_onnx(g).metadata_props}
    assert props == {"keras_version": "2.15.0"}


def test_save_onnx_writes_a_checked_model(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "model.onnx")
    save_onnx(small_net(), path, opset=18)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    assert m.opset_import[0].version == 18
    assert os.listdir(tmp_path) == ["model.onnx"]
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_save_onnx_conversion_failure_leaves_no_file(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "model.onnx")
    with pytest.raises(OptionError):
        save_onnx(small_net(), path, opset=99)
    assert os.listdir(tmp_path) == []


def test_save_onnx_write_failure_leaves_no_partial_file(tmp_path: os.PathLike[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = os.path.join(tmp_path, "model.onnx")
    with open(path, "wb") as f:
        f.write(b"previous model")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_onnx(small_net(), path)
    assert os.listdir(tmp_path) == ["model.onnx"]
    with open(path, "rb") as f:
        assert f.read() == b"previous model"


def test_emitted_model_matches_onnx_reference_evaluator() -> None:
    """A second oracle: the ONNX reference implementation agrees with onnxruntime on our model."""
    from onnx.reference import ReferenceEvaluator

    g = small_net()
    m = to_onnx(g, opset=18)
    f = feeds_for(g, (2, 9, 7, 3))
    ref = ReferenceEvaluator(m).run(None, f)[0]
    assert_close(ref.astype(np.float32), evaluate(g, f)[g.outputs[0].name], "reference evaluator", rtol=1e-4)


def test_unknown_spatial_dims_use_same_upper_when_strided() -> None:
    g = Graph("dynamic_hw")
    x = g.add_input("x", DType.FLOAT32, (None, None, None, 3))
    y = chain(g, "Conv2D", [x, g.add_const("k", RNG.standard_normal((3, 3, 3, 4)).astype(np.float32))], "conv",
              padding="same", dilations=(2, 2))
    y = chain(g, "DepthwiseConv2D", [y, g.add_const("dk", RNG.standard_normal((1, 3, 3, 4)).astype(np.float32))],
              "dw", padding="same", strides=(2, 2))
    a = chain(g, "MaxPool2D", [y], "max", pool_size=(3, 3), strides=(2, 2), padding="same")
    b = chain(g, "AveragePool2D", [y], "avg", pool_size=(3, 3), strides=(2, 2), padding="same")
    g.outputs = [chain(g, "Add", [a, b], "add")]
    m = to_onnx(g)
    # Stride 1 'same' pads do not depend on the size (and onnxruntime has no auto_pad with dilation).
    auto = {n.name: any(a.name == "auto_pad" for a in n.attribute) for n in m.graph.node
            if n.op_type in ("Conv", "MaxPool", "AveragePool")}
    assert auto == {"conv/Conv2D": False, "dw/DepthwiseConv2D": True, "max/MaxPool2D": True,
                    "avg/AveragePool2D": True}
    for shape in ((1, 11, 9, 3), (2, 8, 13, 3)):
        f = feeds_for(g, shape)
        assert_close(run_onnx(m, f)[g.outputs[0].name], evaluate(g, f)[g.outputs[0].name], str(shape))


def test_transpose_conv_needs_known_spatial_dims() -> None:
    g = Graph("tconv")
    x = g.add_input("x", DType.FLOAT32, (None, None, None, 3))
    k = g.add_const("k", RNG.standard_normal((3, 3, 2, 3)).astype(np.float32))
    g.outputs = [chain(g, "TransposeConv2D", [x, k], "deconv", strides=(2, 2), output_size=(8, 8),
                       pad_before=(0, 0))]
    with pytest.raises(UnsupportedOpError, match="deconv.*input_shapes"):
        to_onnx(g)
    m = to_onnx(g, input_shapes={"x": (1, 4, 4, 3)})
    f = feeds_for(g, (1, 4, 4, 3))
    assert_close(run_onnx(m, f)[g.outputs[0].name], evaluate(g, f)[g.outputs[0].name])


def test_mixed_layout_inputs_are_converted_once() -> None:
    g = Graph("mixed")
    x = g.add_input("x", DType.FLOAT32, (None, 6, 6, 3))
    skip = g.add_input("skip", DType.FLOAT32, (None, 6, 6, 4))
    y = chain(g, "Conv2D", [x, g.add_const("k", RNG.standard_normal((3, 3, 3, 4)).astype(np.float32))], "conv",
              padding="same")
    a = chain(g, "Add", [y, skip], "add")
    b = chain(g, "Mul", [skip, a], "mul")  # skip already has a channels-first copy: no new Transpose
    g.outputs = [b]
    m = to_onnx(g)
    assert count_ops(m, "Transpose") == 3  # x in, skip in, output
    f = {"x": RNG.standard_normal((2, 6, 6, 3)).astype(np.float32),
         "skip": RNG.standard_normal((2, 6, 6, 4)).astype(np.float32)}
    assert_close(run_onnx(m, f)[b.name], evaluate(g, f)[b.name])
