"""The Interpreter API: input/output forms, details, dynamic batch, keep_intermediates, errors."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.runtime import Interpreter, RuntimeModelError
from keras2edge.runtime.model import Model

from ..corpus import corpus
from ..litert import litert
from .helpers import GraphBuilder, Out, X, op_model, to_bytes
from ..tolerances import rel_err

F = np.float32
RNG = np.random.default_rng(0)


def _net(batch_sig: bool = True, signature: bool = True) -> Model:
    """conv(relu) -> dw(relu6) -> reshape -> FC -> softmax, plus a second output (mean), two inputs."""
    rng = np.random.default_rng(0)
    g = GraphBuilder()
    sig = (-1, 8, 8, 3) if batch_sig else None
    x = g.input("image", (1, 8, 8, 3), signature=sig)
    s = g.input("scale", (1, 4), signature=(-1, 4) if batch_sig else None)
    c = g.op("CONV_2D", [x, rng.standard_normal((4, 3, 3, 3)).astype(F), np.zeros(4, F)],
             {"padding": 0, "stride_h": 2, "stride_w": 2, "fused_activation_function": 1}, name="conv")
    d = g.op("DEPTHWISE_CONV_2D", [c, rng.standard_normal((1, 3, 3, 4)).astype(F), rng.standard_normal(4).astype(F)],
             {"padding": 0, "stride_h": 1, "stride_w": 1, "depth_multiplier": 1, "fused_activation_function": 3},
             name="dw")
    m = g.op("MEAN", [d, np.array([1, 2], np.int32)], {"keep_dims": False}, name="gap")
    r = g.op("RESHAPE", [d, np.array([-1, 64], np.int32)], name="flat")
    f = g.op("FULLY_CONNECTED", [r, rng.standard_normal((4, 64)).astype(F), rng.standard_normal(4).astype(F)],
             name="fc")
    f2 = g.op("MUL", [f, s], {"fused_activation_function": 0}, name="scaled")
    p = g.op("SOFTMAX", [f2], {"beta": 1.0}, name="probs")
    g.output(p, m)
    return g.model({"inputs": ["img", "scale"], "outputs": ["probs", "features"]} if signature else None)


@pytest.fixture(scope="module")
def net_bytes() -> bytes:
    return to_bytes(_net())


def _feeds(batch: int = 1) -> list[np.ndarray]:
    r = np.random.default_rng(batch)
    return [r.uniform(-1, 1, (batch, 8, 8, 3)).astype(F), r.uniform(0.5, 2, (batch, 4)).astype(F)]


def test_sources_path_bytes_model(net_bytes: bytes, tmp_path) -> None:
    p = tmp_path / "m.tflite"
    p.write_bytes(net_bytes)
    feeds = _feeds()
    outs = [Interpreter(src).run(feeds) for src in (str(p), p, net_bytes, bytearray(net_bytes), _net())]
    for o in outs[1:]:
        for k in o:
            np.testing.assert_array_equal(o[k], outs[0][k])


def test_matches_litert_and_io_forms(net_bytes: bytes) -> None:
    it = Interpreter(net_bytes)
    assert it.input_names == ["img", "scale"] and it.output_names == ["probs", "features"]
    feeds = _feeds()
    want = litert(net_bytes, feeds)
    by_list = it.run(feeds)
    assert list(by_list) == ["probs", "features"]
    for got, ref in zip(by_list.values(), want):
        assert rel_err(got, ref, same_dtype=True) < 1e-6
    by_name = it.run({"scale": feeds[1], "img": feeds[0]})
    by_tensor_name = it.run({"image": feeds[0], "scale": feeds[1]})
    for k in by_list:
        np.testing.assert_array_equal(by_name[k], by_list[k])
        np.testing.assert_array_equal(by_tensor_name[k], by_list[k])


def test_single_io_forms() -> None:
    data = to_bytes(op_model("RELU", [X((2, 3))], [Out()]))
    it = Interpreter(data)
    x = RNG.standard_normal((2, 3)).astype(F)
    y = it.run(x)
    assert isinstance(y, np.ndarray)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    np.testing.assert_array_equal(it.run([x]), y)
    np.testing.assert_array_equal(it.run({"in0": x}), y)
    np.testing.assert_array_equal(it(x.tolist()), y)  # lists are converted; __call__ == run


def test_outputs_are_owned_by_the_caller(net_bytes: bytes) -> None:
    it = Interpreter(net_bytes)
    a = it.run(_feeds(1))
    keep = {k: v.copy() for k, v in a.items()}
    it.run([f * 3 for f in _feeds(1)])
    for k in a:
        np.testing.assert_array_equal(a[k], keep[k])


def test_details_like_litert(net_bytes: bytes) -> None:
    from ai_edge_litert.interpreter import Interpreter as LI

    li = LI(model_content=net_bytes)
    it = Interpreter(net_bytes)
    for ours, theirs in ((it.get_input_details(), li.get_input_details()),
                         (it.get_output_details(), li.get_output_details())):
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            assert o["tensor_name"] == t["name"]
            assert o["index"] == t["index"]
            assert o["dtype"] == t["dtype"]
            np.testing.assert_array_equal(o["shape_signature"], t["shape_signature"])
            assert o["quantization"] == t["quantization"]
            assert set(o["quantization_parameters"]) == set(t["quantization_parameters"])
    np.testing.assert_array_equal(it.get_input_details()[0]["shape"], [1, 8, 8, 3])
    assert it.get_input_details()[0]["name"] == "img"


def test_quantization_details() -> None:
    data = to_bytes(op_model("DEQUANTIZE", [X((1, 4), np.int8, quant=(0.5, -3))], [Out(np.float32)]))
    d = Interpreter(data).get_input_details()[0]
    assert d["dtype"] == np.int8 and d["quantization"] == (0.5, -3)
    np.testing.assert_array_equal(d["quantization_parameters"]["scales"], [0.5])
    np.testing.assert_array_equal(d["quantization_parameters"]["zero_points"], [-3])


def test_dynamic_batch(net_bytes: bytes) -> None:
    it = Interpreter(net_bytes)
    a1 = it.arena_bytes
    for batch in (1, 5, 2, 5, 1):
        feeds = _feeds(batch)
        got = it.run(feeds)
        want = litert(net_bytes, feeds)
        for g, w in zip(got.values(), want):
            assert g.shape[0] == batch and g.shape == w.shape
            assert rel_err(g, w, same_dtype=True) < 1e-6
        if batch == 5:
            assert it.arena_bytes > a1  # re-planned for the larger batch
    assert it.arena_bytes == a1
    assert len(it._plans) == 3  # one prepared plan per input shape, cached
    # reshaped weights are made once per interpreter, not once per plan
    assert len(it._memo) == 1 and next(iter(it._memo.values()))[1].shape == (27, 4)


def test_prepare_plans_ahead(net_bytes: bytes) -> None:
    """prepare(shapes) makes the plan run() would make for those shapes (arena_bytes follows), checks
    the shapes as run() checks inputs, and the run that follows reuses it."""
    it = Interpreter(net_bytes)
    a1 = it.arena_bytes
    it.prepare([(5, 8, 8, 3), (5, 4)])
    a5 = it.arena_bytes
    assert a5 > a1 and len(it._plans) == 2
    it.run(_feeds(5))
    assert len(it._plans) == 2 and it.arena_bytes == a5
    with pytest.raises(RuntimeModelError, match=r"input 'img' expects shape \[any, 8, 8, 3\], got \[5, 8, 8\]"):
        it.prepare([(5, 8, 8), (5, 4)])
    with pytest.raises(RuntimeModelError, match=r"the model has 2 inputs \['img', 'scale'\], got 1 shapes"):
        it.prepare([(5, 8, 8, 3)])


def test_static_batch_rejects_other_batch() -> None:
    it = Interpreter(to_bytes(_net(batch_sig=False)))
    with pytest.raises(RuntimeModelError, match=r"input 'img' expects shape \[1, 8, 8, 3\], got \[2, 8, 8, 3\]"):
        it.run(_feeds(2))


def test_bad_inputs_give_clear_errors(net_bytes: bytes) -> None:
    it = Interpreter(net_bytes)
    x, s = _feeds()
    with pytest.raises(RuntimeModelError, match=r"expects shape \[any, 8, 8, 3\], got \[1, 8, 8\]"):
        it.run([x[..., 0], s])
    with pytest.raises(RuntimeModelError, match=r"expects shape \[any, 8, 8, 3\], got \[1, 9, 8, 3\]"):
        it.run([np.zeros((1, 9, 8, 3), F), s])
    with pytest.raises(RuntimeModelError, match="input 'img' expects float32, got int32"):
        it.run([x.astype(np.int32), s])
    with pytest.raises(RuntimeModelError, match=r"unknown input name\(s\) \['imgs'\]"):
        it.run({"imgs": x, "scale": s})
    with pytest.raises(RuntimeModelError, match=r"missing input\(s\) \['scale'\]"):
        it.run({"img": x})
    with pytest.raises(RuntimeModelError, match="has 2 inputs"):
        it.run(x)
    with pytest.raises(RuntimeModelError, match="has 2 inputs"):
        it.run([x])
    # float64 is the same kind: converted
    got = it.run([x.astype(np.float64), s])
    np.testing.assert_allclose(got["probs"], it.run([x, s])["probs"])


def test_quantized_input_needs_integers() -> None:
    it = Interpreter(to_bytes(op_model("DEQUANTIZE", [X((1, 4), np.int8, quant=(0.5, -3))], [Out(np.float32)])))
    with pytest.raises(RuntimeModelError, match="expects int8 .quantized: scale 0.5, zero point -3; quantize"):
        it.run(np.zeros((1, 4), F))
    np.testing.assert_array_equal(it.run(np.array([[-3, -1, 0, 5]], np.int8)), [[0, 1, 1.5, 4]])


@pytest.mark.filterwarnings("ignore:Warning. Enabling .experimental_preserve_all_tensors")
def test_keep_intermediates_match_litert(net_bytes: bytes) -> None:
    from ai_edge_litert.interpreter import Interpreter as LI
    from ai_edge_litert.interpreter import OpResolverType

    feeds = _feeds(1)
    it = Interpreter(net_bytes, keep_intermediates=True)
    out = it.run(feeds)
    li = LI(model_content=net_bytes, experimental_preserve_all_tensors=True,
            experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    li.allocate_tensors()
    for d, x in zip(li.get_input_details(), feeds):
        li.set_tensor(d["index"], x)
    li.invoke()
    names = {d["name"]: d["index"] for d in li.get_tensor_details()}
    for name in ("conv", "dw", "gap", "flat", "fc", "scaled", "probs", "image", "scale"):
        assert name in it.intermediates, name
        assert rel_err(it.intermediates[name], li.get_tensor(names[name]), same_dtype=True) < 1e-6, name
    np.testing.assert_array_equal(it.intermediates["probs"], out["probs"])
    # intermediates of an earlier run are not overwritten by the next one
    first = it.intermediates
    it.run([f * 2 for f in feeds])
    assert not np.array_equal(first["conv"], it.intermediates["conv"])
    # per-call switch on a default interpreter; off again leaves the last dict alone
    it2 = Interpreter(net_bytes)
    assert it2.intermediates == {}
    it2.run(feeds, keep_intermediates=True)
    assert rel_err(it2.intermediates["dw"], first["dw"], same_dtype=True) == 0
    assert it2.keep_intermediates is False


def test_ops_listing(net_bytes: bytes) -> None:
    it = Interpreter(net_bytes)
    ops = it.ops
    assert [o.name for o in ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "RESHAPE", "FULLY_CONNECTED", "MUL",
                                     "SOFTMAX"]
    assert ops[0].index == 0 and ops[0].version == 1 and ops[0].dtype == "float32"
    assert ops[0].inputs[0] == "image" and ops[0].outputs == ("conv",)
    assert ops[6].outputs == ("probs",)


def test_arena_excludes_io_and_constants(net_bytes: bytes) -> None:
    it = Interpreter(net_bytes)
    plan = it._plan
    planned = set(plan.tensor_offsets)
    sg = it.model.subgraphs[0]
    assert not planned & set(sg.inputs) and not planned & set(sg.outputs)
    assert not planned & set(it._consts)
    # conv (4x4x4), dw (4x4x4), flat is a view of dw, fc (4), scaled (4): at most conv+dw live at once
    names = {sg.tensors[t].name for t in planned}
    assert {"conv", "dw", "fc", "scaled"} <= names and "flat" not in names  # flat is a view of dw
    sizes = [b.size for b in plan.arena.buffers]
    assert max(sizes) <= it.arena_bytes < sum(sizes)  # space is shared


def test_hello_world_float_matches_litert() -> None:
    path = corpus("tflite-micro/hello_world_float.tflite")
    it = Interpreter(path)
    x = np.linspace(0, 2 * np.pi, 50, dtype=F).reshape(-1, 1)
    with open(path, "rb") as f:
        data = f.read()
    for v in x:
        got = it.run(v.reshape(1, 1))
        want = litert(data, [v.reshape(1, 1)])[0]
        assert rel_err(got, want, same_dtype=True) < 1e-6
    assert not it.shape_mismatches
    assert [o.name for o in it.ops] == ["FULLY_CONNECTED"] * 3


def test_unsupported_op_is_named() -> None:
    g = GraphBuilder()
    x = g.input("x", (1, 4))
    y = g.op("RELU", [x])
    z = g.op("CUMSUM", [y, np.array(0, np.int32)], {"exclusive": False, "reverse": False})
    g.output(z)
    with pytest.raises(RuntimeModelError, match=r"unsupported op #1 CUMSUM \(no kernel\)\. Supported ops: ABS, ADD"):
        Interpreter(g.model())


def test_unsupported_dtype_is_named() -> None:
    g = GraphBuilder()
    x = g.input("x", (1, 4), np.uint8, quant=(0.1, 0))
    g.output(g.op("CONV_2D", [x, np.zeros((1, 1, 1, 4), np.uint8), None], {"stride_h": 1, "stride_w": 1},
                  dtype=np.uint8))
    with pytest.raises(RuntimeModelError, match=r"op #0 CONV_2D on uint8 \(kernels exist for float32, int16, int8\)"):
        Interpreter(g.model())


def test_kernel_error_names_op_and_tensors() -> None:
    g = GraphBuilder()
    x = g.input("pixels", (1, 5, 5, 3))
    g.output(g.op("CONV_2D", [x, np.zeros((2, 3, 3, 4), F), np.zeros(2, F)], {"stride_h": 1, "stride_w": 1},
                  name="bad_conv"))
    with pytest.raises(RuntimeModelError, match=r"op #0 CONV_2D \(inputs: 'pixels' \[1, 5, 5, 3\] float32.*"
                                                r"outputs: 'bad_conv'\): input has 3 channels, not a multiple"):
        Interpreter(g.model())


def test_malformed_file() -> None:
    with pytest.raises(RuntimeModelError):
        Interpreter(b"definitely not a flatbuffer")
    with pytest.raises(RuntimeModelError, match="cannot read model file"):
        Interpreter("/nonexistent/model.tflite")


def test_shape_plumbing_is_folded_at_prepare() -> None:
    """SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE (the converter's dynamic-batch flatten) runs no op at run time
    except the reshape, which becomes a view."""
    g = GraphBuilder()
    x = g.input("x", (1, 2, 3), signature=(-1, 2, 3))
    shp = g.op("SHAPE", [x], {"out_type": 2}, dtype=np.int32)
    b = g.op("STRIDED_SLICE", [shp, np.array([0], np.int32), np.array([1], np.int32), np.array([1], np.int32)],
             {"shrink_axis_mask": 1}, dtype=np.int32)
    packed = g.op("PACK", [b, np.array(6, np.int32)], {"values_count": 2, "axis": 0}, dtype=np.int32)
    r = g.op("RESHAPE", [x, packed])
    y = g.op("RELU", [r])
    g.output(y)
    data = to_bytes(g.model())
    it = Interpreter(data)
    for batch in (1, 4):
        x = RNG.standard_normal((batch, 2, 3)).astype(F)
        got = it.run(x)
        assert got.shape == (batch, 6)
        np.testing.assert_array_equal(got, litert(data, [x])[0])
        steps = it._plan.steps
        assert [it.ops[s.op].name for s in steps] == ["RESHAPE", "RELU"] and steps[0].alias


def test_constant_output_and_input_passthrough() -> None:
    g = GraphBuilder()
    x = g.input("x", (2,))
    c = g.op("ADD", [np.array([1, 2], F), np.array([3, 4], F)], {})
    g.output(c, x)
    it = Interpreter(g.model())
    out = it.run(np.array([5, 6], F))
    np.testing.assert_array_equal(out["add_0"], [4, 6])
    np.testing.assert_array_equal(out["x"], [5, 6])
    assert it.ops[0].name == "ADD" and not it._plan.steps
