"""The streamed ONNX file (save_onnx over onnx_pieces): exactly the bytes protobuf gives the model, the
weights written from the IR arrays (views included) one at a time, the large ones checked as declared
inputs rather than copied into the checker's bytes."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import onnx
import pytest

import keras2edge
import keras2edge.convert.onnx as konnx
from keras2edge.convert.onnx import onnx_bytes, onnx_pieces, save_onnx
from keras2edge.convert.onnx.check import CHECK_INLINE_BYTES, check_model_bytes, checker_errors
from keras2edge.convert.onnx.proto import OnnxNode, OnnxTensor, OnnxValueInfo, encode_model, join
from keras2edge.errors import LimitExceededError
from keras2edge.ir import DType, Graph
from tests.corpus import FIXTURES
from tests.ir_graphs import chain

MANIFEST = [e for e in json.loads((FIXTURES / "manifest.json").read_text()) if not e["expect"].startswith("fail:")]


def _saved(graph: Graph, path: str, **kw: object) -> bytes:
    size = save_onnx(graph, path, **kw)
    data = open(path, "rb").read()
    assert size == len(data)
    return data


def _canonical(data: bytes) -> bool:
    """The bytes are protobuf's own serialization of the model they parse to."""
    return onnx.ModelProto.FromString(data).SerializeToString() == data


def _conv_net() -> Graph:
    g = Graph("conv")
    x = g.add_input("x", DType.FLOAT32, (None, 12, 12, 16))
    w = np.random.default_rng(0).standard_normal((3, 3, 16, 32)).astype(np.float32)
    y = chain(g, "Conv2D", [x, g.add_const("k", w)], "conv", padding="same")
    g.outputs = [chain(g, "Mean", [y], "gap", axes=(1, 2))]
    return g


def test_every_fixture_streams_to_the_bytes_of_onnx_bytes(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "m.onnx")
    for e in MANIFEST:
        weights = FIXTURES / e["weights"] if e.get("weights") else None
        g = keras2edge.load(FIXTURES / e["file"], weights)
        data = _saved(g, path)
        assert data == onnx_bytes(g) and _canonical(data), e["file"]


@pytest.mark.parametrize("kw", [{"opset": 13}, {"nchw_inputs": True, "nchw_outputs": True},
                                {"input_shapes": {"x": (2, 12, 12, 16)}}])
def test_options_stream_identically(kw: dict, tmp_path: os.PathLike[str]) -> None:
    g = _conv_net()
    data = _saved(g, os.path.join(tmp_path, "m.onnx"), **kw)
    assert data == onnx_bytes(g, **kw) and _canonical(data)


def test_weights_stay_views_of_the_ir_constants_until_written() -> None:
    g = _conv_net()
    k = next(v for v in g.values() if v.name == "k")
    (w,) = [p for p in onnx_pieces(g) if isinstance(p, np.ndarray) and p.size == k.const.size]
    assert np.shares_memory(w, k.const) and w.shape == (32, 16, 3, 3)   # OIHW view, no copy


@pytest.mark.parametrize("array", [
    np.arange(24, dtype=np.int64).reshape(4, 6).T,               # not C-contiguous
    np.arange(24, dtype=">f4").reshape(2, 3, 4).transpose(2, 0, 1),   # big-endian view
    np.array([True, False, True]),
    np.array(1.5, np.float16),                                   # rank 0
])
def test_a_tensor_of_any_layout_matches_from_array(array: np.ndarray) -> None:
    piece = OnnxTensor("t", array).encode()[-1]
    assert piece is array                                        # the raw_data piece is the array, uncopied
    proto = onnx.numpy_helper.from_array(np.array(array, dtype=array.dtype.newbyteorder("<"), order="C"), "t")
    assert join(OnnxTensor("t", array).encode()) == proto.SerializeToString()


def test_a_tensor_can_be_a_permuted_view_with_the_final_dims() -> None:
    w = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(24, 5)          # Dense (H*W*C, N), H, W, C = 2, 3, 4
    view = w.reshape(2, 3, 4, 5).transpose(2, 0, 1, 3)                    # rows in (C, H, W) order, no copy
    want = onnx.numpy_helper.from_array(np.ascontiguousarray(view).reshape(24, 5), "w")
    assert join(OnnxTensor("w", view, dims=(24, 5)).encode()) == want.SerializeToString()
    with pytest.raises(ValueError, match="dims"):
        OnnxTensor("w", view, dims=(24, 4))


def _conv_model(w: np.ndarray, **kw: Any) -> bytes:
    return join(encode_model(nodes=[OnnxNode("Conv", ["x", "w"], ["y"], name="conv")], name="g",
                             initializers=[OnnxTensor("w", w)], inputs=[OnnxValueInfo("x", 1, [1, 16, 8, 8])],
                             outputs=[OnnxValueInfo("y", 1, [1, 32, 6, 6])], opset=21, producer_name="keras2edge",
                             producer_version="0", metadata={}, **kw))


def test_the_checked_model_declares_large_weights_and_still_catches_a_bad_one() -> None:
    w = np.ones((32, 16, 3, 3), np.float32)
    assert w.nbytes > CHECK_INLINE_BYTES
    checked = _conv_model(w, declare_above=CHECK_INLINE_BYTES)
    m = onnx.ModelProto.FromString(checked)
    assert not m.graph.initializer and [i.name for i in m.graph.input] == ["x", "w"]
    assert len(checked) < w.nbytes
    check_model_bytes(checked)
    # The weight as float64: its declared type no longer matches the input's (a type error for the checker).
    with pytest.raises(checker_errors()):
        check_model_bytes(_conv_model(w.astype(np.float64), declare_above=CHECK_INLINE_BYTES))


def test_a_model_past_two_gib_is_refused_before_writing(tmp_path: os.PathLike[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(konnx, "MAX_PROTOBUF_BYTES", 10_000)
    path = os.path.join(tmp_path, "m.onnx")
    with pytest.raises(LimitExceededError, match=r"cannot write .*m\.onnx.*graph 'conv'.*cannot exceed 2 GiB"):
        save_onnx(_conv_net(), path)
    assert os.listdir(tmp_path) == []
    with pytest.raises(LimitExceededError, match=r"graph 'conv'.*ONNX protobuf files cannot exceed 2 GiB"):
        onnx_bytes(_conv_net())
