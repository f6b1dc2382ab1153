"""Bad input gets a clear error naming the file and what was expected, and nothing is written."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import keras2edge
from keras2edge.errors import (
    ModelFormatError,
    UnsafeContentError,
    UnsupportedLayerError,
    WeightsMismatchError,
)

from .corpus import REPO, corpus

EXAMPLE = REPO / "examples" / "tiny_cnn.keras"
RNN_JSON = "dl4j-test-resources/keras2/simple_rnn_tf_keras_2_config.json"
RNN_WEIGHTS = "dl4j-test-resources/keras2/simple_rnn_tf_keras_2_weights.h5"


def _convert_fails(tmp_path: Path, model: str | Path, exc: type[Exception], *needles: str,
                   weights: str | Path | None = None) -> str:
    out = tmp_path / "out" / "m.onnx"
    out.parent.mkdir()
    with pytest.raises(exc) as ei:
        keras2edge.convert_model(model, out, weights=weights)
    msg = str(ei.value)
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"
    assert not os.listdir(out.parent), "a failing conversion must not leave files"
    return msg


def test_truncated_hdf5(tmp_path: Path) -> None:
    src = Path(corpus("dl4j-test-resources/keras2/cnn_batch_norm.h5")).read_bytes()
    bad = tmp_path / "trunc.h5"
    bad.write_bytes(src[: len(src) // 2])
    _convert_fails(tmp_path, bad, ModelFormatError, "trunc.h5", "HDF5")


def test_truncated_keras_archive(tmp_path: Path) -> None:
    bad = tmp_path / "trunc.keras"
    bad.write_bytes(EXAMPLE.read_bytes()[:5000])
    _convert_fails(tmp_path, bad, ModelFormatError, "trunc.keras")


def test_not_a_model(tmp_path: Path) -> None:
    bad = tmp_path / "model.h5"
    bad.write_bytes(b"GIF89a not a model at all")
    _convert_fails(tmp_path, bad, ModelFormatError, "model.h5", "expected an HDF5 file")


def test_empty_file(tmp_path: Path) -> None:
    bad = tmp_path / "empty.keras"
    bad.write_bytes(b"")
    _convert_fails(tmp_path, bad, ModelFormatError, "empty")


def test_hdf5_named_keras_is_sniffed(tmp_path: Path) -> None:
    """A legacy HDF5 model named .keras is read as HDF5 (by its bytes), not as a zip."""
    p = tmp_path / "model.keras"
    shutil.copy(corpus("dl4j-test-resources/keras2/cnn_batch_norm.h5"), p)
    graph = keras2edge.load(p)
    assert graph.outputs[0].shape == (None, 1)


def test_weights_missing_layer(tmp_path: Path) -> None:
    """Weights from another model: the missing layer is named."""
    _convert_fails(tmp_path, corpus(RNN_JSON), WeightsMismatchError, "simple_rnn_1", "SimpleRNN", "missing layer",
                   weights=corpus("dl4j-test-resources/keras1/simple_lstm_th_keras_1_weights.h5"))


def test_weights_wrong_shape(tmp_path: Path) -> None:
    w = tmp_path / "w.h5"
    shutil.copy(corpus(RNN_WEIGHTS), w)
    with h5py.File(w, "r+") as f:
        grp = f["dense_1"]
        names = [n.decode() if isinstance(n, bytes) else n for n in grp.attrs["weight_names"]]
        kernel = names[0]
        old = grp[kernel][()]
        del grp[kernel]
        grp[kernel] = np.zeros((old.shape[0] + 1, old.shape[1]), old.dtype)
    msg = _convert_fails(tmp_path, corpus(RNN_JSON), WeightsMismatchError, "dense_1", "Dense", weights=w)
    assert "(51, 1)" in msg and "(50, 1)" in msg


def test_architecture_without_weights(tmp_path: Path) -> None:
    _convert_fails(tmp_path, corpus(RNN_JSON), ModelFormatError, "architecture only", "--weights")


def test_weights_for_full_model_rejected(tmp_path: Path) -> None:
    _convert_fails(tmp_path, corpus("dl4j-test-resources/keras2/cnn_batch_norm.h5"), ModelFormatError,
                   "already holds its weights", weights=corpus(RNN_WEIGHTS))


def _json_model(tmp_path: Path, layers: list[dict]) -> tuple[Path, Path]:
    cfg = {"class_name": "Sequential", "keras_version": "2.2.4", "backend": "tensorflow",
           "config": {"name": "s", "layers": layers}}
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(cfg))
    w = tmp_path / "w.h5"
    with h5py.File(w, "w") as f:
        f.attrs["layer_names"] = np.array([ly["config"]["name"].encode() for ly in layers])
        for ly in layers:
            f.create_group(ly["config"]["name"]).attrs["weight_names"] = np.array([], dtype="S1")
    return arch, w


def test_all_unsupported_layers_listed_at_once(tmp_path: Path) -> None:
    layers = [
        {"class_name": "Lambda", "config": {"name": "lam", "batch_input_shape": [None, 4],
                                            "function": ["4wEAAAAAAAAA", None, None], "function_type": "lambda"}},
        {"class_name": "Conv3D", "config": {"name": "c3"}},
        {"class_name": "Conv3D", "config": {"name": "c3b"}},
        {"class_name": "MyLayer", "config": {"name": "mine"}},
    ]
    arch, w = _json_model(tmp_path, layers)
    err = pytest.raises(UnsupportedLayerError, keras2edge.load, arch, w).value
    assert set(err.problems) == {"Lambda", "Conv3D", "MyLayer"}
    assert [n for n, _ in err.problems["Conv3D"]] == ["c3", "c3b"]
    msg = str(err)
    assert "3 layer classes" in msg and "bytecode" in msg and "Supported:" in msg and "custom-layers" in msg


def _keras_zip(tmp_path: Path, members: list[tuple[str, bytes]]) -> Path:
    p = tmp_path / "evil.keras"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(p, "w") as z:
            for name, data in members:
                z.writestr(name, data)
    return p


def _example_config() -> bytes:
    with zipfile.ZipFile(EXAMPLE) as z:
        return z.read("config.json")


def test_zip_duplicate_members_refused(tmp_path: Path) -> None:
    p = _keras_zip(tmp_path, [("metadata.json", b"{}"), ("config.json", _example_config()),
                              ("model.weights.npz", b"x"), ("model.weights.npz", b"\x80\x04pickle")])
    _convert_fails(tmp_path, p, UnsafeContentError, "two members", "model.weights.npz")


def test_zip_path_escape_refused(tmp_path: Path) -> None:
    p = _keras_zip(tmp_path, [("config.json", _example_config()), ("../../etc/evil", b"x")])
    _convert_fails(tmp_path, p, UnsafeContentError, "escapes")


def test_npz_weights_never_loaded(tmp_path: Path) -> None:
    p = _keras_zip(tmp_path, [("metadata.json", b"{}"), ("config.json", _example_config()),
                              ("model.weights.npz", b"\x80\x04cos\nsystem\n")])
    _convert_fails(tmp_path, p, UnsafeContentError, "model.weights.npz", "never loads")


def test_zip_without_config(tmp_path: Path) -> None:
    p = _keras_zip(tmp_path, [("hello.txt", b"hi")])
    _convert_fails(tmp_path, p, ModelFormatError, "no config.json")


def test_keras_archive_without_weights(tmp_path: Path) -> None:
    p = _keras_zip(tmp_path, [("metadata.json", b"{}"), ("config.json", _example_config())])
    _convert_fails(tmp_path, p, ModelFormatError, "architecture only")


def test_subclassed_model_refused(tmp_path: Path) -> None:
    p = _keras_zip(tmp_path, [("metadata.json", b"{}"), ("config.json", json.dumps(
        {"module": None, "class_name": "VAE", "config": {}, "registered_name": "VAE"}).encode()),
        ("model.weights.h5", Path(corpus(RNN_WEIGHTS)).read_bytes())])
    _convert_fails(tmp_path, p, ModelFormatError, "subclassed", "VAE")


def test_tfop_layer_nodedef_never_run(tmp_path: Path) -> None:
    _convert_fails(tmp_path, corpus("dl4j-test-resources/keras2/tfop_0.h5"), UnsupportedLayerError,
                   "TensorFlowOpLayer", "NodeDef")


def test_unsupported_op_error_fields_build_the_message() -> None:
    """Owner, node, problem and what is supported, from the fields; an emitter table's lookup fills them."""
    from keras2edge.convert.onnx import ONNX_EMITTERS
    from keras2edge.errors import UnsupportedOpError
    from keras2edge.ir import DType, Graph

    g = Graph("g")
    node = g.add_node("Relu", [g.add_input("x", DType.FLOAT32, (None, 3))], origin=("act", "Activation"))
    e = UnsupportedOpError("TFLite emitter", "stride 3 is not supported", op="Relu", node=node.where(),
                           supported=["2", "1"])
    assert (e.owner, e.op, e.problem, e.supported) == ("TFLite emitter", "Relu", "stride 3 is not supported",
                                                       ["1", "2"])
    assert str(e) == (f"TFLite emitter: {node.where()}: stride 3 is not supported. Supported: 1, 2.")
    assert "from Keras layer act (Activation)" in str(e)
    with pytest.raises(UnsupportedOpError) as ei:
        ONNX_EMITTERS.lookup("NoSuchOp", node.where())
    got = ei.value
    assert (got.owner, got.op, got.node) == ("ONNX emitter", "NoSuchOp", node.where())
    assert "Relu" in got.supported and str(got).startswith(f"ONNX emitter: {node.where()}: no implementation for "
                                                           f"'NoSuchOp'. Supported: ")
