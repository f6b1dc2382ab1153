"""The streamed ONNX file (convert/onnx/serialize.py): the exact bytes of ModelProto.SerializeToString(),
the weights written from the IR arrays (views included) one at a time, the skeleton still checked."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import onnx
import pytest

import keras2edge
import keras2edge.convert.onnx as konnx
from keras2edge.convert.onnx import emit_onnx, save_onnx, to_onnx
from keras2edge.convert.onnx.serialize import CHECK_INLINE_BYTES, Initializer, check_skeleton, write_model
from keras2edge.convert.rawbytes import raw_bytes
from keras2edge.errors import LimitExceededError
from keras2edge.ir import DType, Graph
from tests.conftest import FIXTURES
from tests.ir_graphs import chain

MANIFEST = [e for e in json.loads((FIXTURES / "manifest.json").read_text()) if not e["expect"].startswith("fail:")]


def _streamed(graph: Graph, **kw: object) -> bytes:
    buf = io.BytesIO()
    model, inits = emit_onnx(graph, **kw)  # type: ignore[arg-type]
    n = write_model(buf, model, inits)
    assert n == len(buf.getvalue())
    return buf.getvalue()


def _conv_net() -> Graph:
    g = Graph("conv")
    x = g.add_input("x", DType.FLOAT32, (None, 12, 12, 16))
    w = np.random.default_rng(0).standard_normal((3, 3, 16, 32)).astype(np.float32)
    y = chain(g, "Conv2D", [x, g.add_const("k", w)], "conv", padding="same")
    g.outputs = [chain(g, "Mean", [y], "gap", axes=(1, 2))]
    return g


def test_every_fixture_streams_to_the_bytes_of_serialize_to_string() -> None:
    for e in MANIFEST:
        weights = FIXTURES / e["weights"] if e.get("weights") else None
        g = keras2edge.load(FIXTURES / e["file"], weights)
        assert _streamed(g) == to_onnx(g).SerializeToString(), e["file"]


@pytest.mark.parametrize("kw", [{"opset": 13}, {"nchw_inputs": True, "nchw_outputs": True},
                                {"input_shapes": {"x": (2, 12, 12, 16)}}])
def test_options_stream_identically(kw: dict) -> None:
    g = _conv_net()
    assert _streamed(g, **kw) == to_onnx(g, **kw).SerializeToString()


def test_save_onnx_writes_those_bytes(tmp_path: os.PathLike[str]) -> None:
    g = _conv_net()
    path = os.path.join(tmp_path, "m.onnx")
    size = save_onnx(g, path)
    data = open(path, "rb").read()
    assert size == len(data) and data == to_onnx(g).SerializeToString()


def test_weights_stay_views_of_the_ir_constants_until_written() -> None:
    g = _conv_net()
    _, inits = emit_onnx(g)
    k = next(v for v in g.values() if v.name == "k")
    (w,) = [i for i in inits if i.array.size == k.const.size]
    assert np.shares_memory(w.array, k.const) and w.array.shape == (32, 16, 3, 3)   # OIHW view, no copy


@pytest.mark.parametrize("array", [
    np.arange(24, dtype=np.int64).reshape(4, 6).T,               # not C-contiguous
    np.array([True, False, True]),
    np.float16(1.5) * np.ones(()),                               # rank 0
])
def test_initializer_header_and_raw_data_match_from_array(array: np.ndarray) -> None:
    init = Initializer("t", np.asarray(array))
    proto = init.to_proto()
    header = init.header()
    header.raw_data = raw_bytes(init.array).tobytes()
    assert header.SerializeToString() == proto.SerializeToString()
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(proto), array)


def test_skeleton_check_still_catches_a_bad_weight_shape() -> None:
    model, inits = emit_onnx(_conv_net())
    # The Conv weight as float64: its type no longer matches the input's (a type error for the checker).
    bad = [Initializer(i.name, i.array.astype(np.float64)) if i.array.ndim == 4 else i for i in inits]
    assert max(i.array.nbytes for i in bad) > CHECK_INLINE_BYTES   # checked as a declared input
    with pytest.raises((onnx.checker.ValidationError, onnx.shape_inference.InferenceError)):
        check_skeleton(model, bad)


def test_a_model_past_two_gib_is_refused_before_writing(tmp_path: os.PathLike[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(konnx, "MAX_PROTOBUF_BYTES", 10_000)
    path = os.path.join(tmp_path, "m.onnx")
    with pytest.raises(LimitExceededError, match=r"m\.onnx.*graph 'conv'.*protobuf"):
        save_onnx(_conv_net(), path)
    assert os.listdir(tmp_path) == []


def test_an_initializer_can_be_a_permuted_view_with_the_final_dims() -> None:
    w = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(24, 5)          # Dense (H*W*C, N), H, W, C = 2, 3, 4
    view = w.reshape(2, 3, 4, 5).transpose(2, 0, 1, 3)                    # rows in (C, H, W) order, no copy
    init = Initializer("w", view, dims=(24, 5))
    want = onnx.numpy_helper.from_array(np.ascontiguousarray(view).reshape(24, 5), "w")
    assert init.to_proto().SerializeToString() == want.SerializeToString()
    header = init.header()
    header.raw_data = raw_bytes(init.array).tobytes()
    assert header.SerializeToString() == want.SerializeToString()
    with pytest.raises(ValueError, match="dims"):
        Initializer("w", view, dims=(24, 4))
