"""write_keras / save(.keras, .h5): a pruned graph written back as its source Keras file, read again
by keras2edge's own importer, gives the same constants and the same keras2edge.runtime outputs as the
pruned graph (the Keras loaders themselves are the zoo test's oracle: tests/zoo/test_keras_out.py).

Pruning here is made by hand (no pruning method needed): magnitude-style zeros, and channel / unit
removal through ``Graph.replace_const`` on the trained digits fixtures, the k2 (tf_keras) and k3
(Keras 3) fixtures and the third-party corpus.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import keras2edge
from keras2edge.convert.keras_out import write_keras
from keras2edge.errors import ModelFormatError, OutputPathError, UnsafeContentError
from keras2edge.ir import Graph

from ...corpus import FIXTURES, corpus
from .helpers import channel_pruned, KERAS1, keras1_source, keras1_x, load_for_pruning, remove_channels, run_runtime, take, \
    zero_smallest

TRAINED = FIXTURES / "trained"
DIGITS = ("digits_mlp", "digits_cnn", "digits_lstm", "digits_gru")


def _digits_x(name: str, n: int = 24) -> np.ndarray:
    with np.load(TRAINED / "digits.npz") as z:
        x = z["x_test"][:n]
    return x[..., None] if name == "digits_cnn" else x


def _fixture_x(path: Path) -> dict[str, np.ndarray]:
    """The fixture's recorded inputs, by input name."""
    with np.load(str(path).rsplit(".", 1)[0] + ".io.npz") as z:
        return {k[3:]: z[k] for k in z.files if k.startswith("in:")}


def _weights(graph: Graph) -> list[str]:
    return [v.name for v in graph.constants()
            if v.const is not None and v.const.ndim >= 2 and v.const.dtype.kind == "f" and v.const.size >= 4]


def _consts(graph: Graph) -> dict[str, np.ndarray]:
    return {v.name: v.const for v in graph.constants() if v.const is not None}


def _round_trip(pruned: Graph, out: Path, x: object, source: str | None = None) -> Graph:
    """Write, load back as pruning would, and check: same constants, same runtime outputs."""
    write_keras(pruned, out, source)
    back = load_for_pruning(str(out))
    want, got = _consts(pruned), _consts(back)
    assert sorted(want) == sorted(got)
    for name, arr in want.items():
        np.testing.assert_array_equal(got[name], arr, err_msg=name)
    for a, b in zip(run_runtime(pruned, x), run_runtime(back, x), strict=True):
        np.testing.assert_array_equal(a, b)
    return back


def _differs(pruned: Graph, original: Graph, x: object) -> None:
    """The pruning really changed the model's outputs (the round trip is not of an untouched model)."""
    assert any(not np.array_equal(a, b) for a, b in zip(run_runtime(pruned, x), run_runtime(original, x)))


# ---------------------------------------------------------------------------- trained digits fixtures


@pytest.mark.parametrize("name", DIGITS)
def test_magnitude_zeros_round_trip(name: str, tmp_path: Path) -> None:
    src = str(TRAINED / f"{name}.keras")
    g = load_for_pruning(src)
    zero_smallest(g, _weights(g))
    x = _digits_x(name)
    _differs(g, load_for_pruning(src), x)
    back = _round_trip(g, tmp_path / "pruned.keras", x)
    assert all(np.mean(back_c == 0) >= 0.5 for back_c in (_consts(back)[n] for n in _weights(g)))


@pytest.mark.parametrize("name", DIGITS)
def test_channel_removal_round_trip(name: str, tmp_path: Path) -> None:
    src = str(TRAINED / f"{name}.keras")
    g = channel_pruned(name, src)
    x = _digits_x(name)
    back = _round_trip(g, tmp_path / "pruned.keras", x)
    params = sum(c.size for c in _consts(back).values())
    assert params < sum(c.size for c in _consts(load_for_pruning(src)).values())


@pytest.mark.parametrize("name", DIGITS)
def test_keras_source_written_as_h5(name: str, tmp_path: Path) -> None:
    """The other container: a Keras 3 .keras source written as a Keras 3 HDF5 full model."""
    g = channel_pruned(name, str(TRAINED / f"{name}.keras"))
    _round_trip(g, tmp_path / "pruned.h5", _digits_x(name))
    with h5py.File(tmp_path / "pruned.h5") as f:
        assert f.attrs["keras_version"] == "3.15.1" and "model_weights" in f
        config = json.loads(f.attrs["model_config"])
    assert config["class_name"] == "Functional" and "compile_config" not in config


@pytest.mark.parametrize("name", ["mlp", "cnn2d"])
def test_keras3_h5_source_written_as_keras(name: str, tmp_path: Path) -> None:
    src = FIXTURES / "k3" / f"{name}.h5"
    _round_trip(channel_pruned(name, str(src)), tmp_path / "pruned.keras", _fixture_x(src))
    with zipfile.ZipFile(tmp_path / "pruned.keras") as z:
        config = json.loads(z.read("config.json"))
    assert config["module"] in ("keras", "keras.src.models.functional")
    assert all(e["module"] == "keras.layers" for e in config["config"]["layers"])


def test_channel_removal_edits_the_config(tmp_path: Path) -> None:
    """filters / units follow the kept channels; Keras 3's build_config and tensor shapes too."""
    out = tmp_path / "cnn.keras"
    write_keras(channel_pruned("digits_cnn", str(TRAINED / "digits_cnn.keras")), out)
    with zipfile.ZipFile(out) as z:
        assert [i.filename for i in z.infolist()] == ["metadata.json", "config.json", "model.weights.h5"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
        config = json.loads(z.read("config.json"))
        with h5py.File(z.open("model.weights.h5")) as f:
            assert "optimizer" not in f
    layers = {e["name"]: e for e in config["config"]["layers"]}
    assert [layers[n]["config"]["filters"] for n in ("stem_conv", "pw1", "ir_expand", "ir_project", "pw2")] == \
        [12, 24, 36, 24, 16]
    assert layers["dw1"]["build_config"]["input_shape"] == [None, 8, 8, 12]
    assert layers["ir_project"]["build_config"]["input_shape"] == [None, 8, 8, 36]
    assert layers["probs"]["build_config"]["input_shape"] == [None, 16]
    (arg,) = layers["gap"]["inbound_nodes"][0]["args"]
    assert arg["config"]["shape"] == [None, 4, 4, 16]
    assert config["compile_config"] is None


def test_unit_removal_edits_units(tmp_path: Path) -> None:
    out = tmp_path / "gru.keras"
    write_keras(channel_pruned("digits_gru", str(TRAINED / "digits_gru.keras")), out)
    with zipfile.ZipFile(out) as z:
        layers = {e["name"]: e for e in json.loads(z.read("config.json"))["config"]["layers"]}
    assert layers["gru"]["config"]["units"] == 24
    assert layers["probs"]["build_config"]["input_shape"] == [None, 24]


def test_save_api_writes_keras(tmp_path: Path) -> None:
    src = str(TRAINED / "digits_mlp.keras")
    g = channel_pruned("digits_mlp", src)
    g.metadata.pop("source")
    out = keras2edge.save(g, tmp_path / "mlp.keras", source=src)
    assert out == str(tmp_path / "mlp.keras")
    np.testing.assert_array_equal(run_runtime(keras2edge.load(out), _digits_x("digits_mlp"))[0],
                                  run_runtime(g, _digits_x("digits_mlp"))[0])
    assert keras2edge.api.check_save_path(tmp_path / "x.h5", (src,), keras=True) == str(tmp_path / "x.h5")
    with pytest.raises(ModelFormatError, match="supported: .onnx, .tflite"):
        keras2edge.api.check_save_path(tmp_path / "x.h5", (src,))


# ---------------------------------------------------------------------------- HDF5 sources (Keras 2 and 3)


@pytest.mark.parametrize("era", ["k2", "k3"])
@pytest.mark.parametrize("name", ["mlp", "cnn2d"])
def test_h5_channel_removal_round_trip(era: str, name: str, tmp_path: Path) -> None:
    src = FIXTURES / era / f"{name}.h5"
    g = channel_pruned(name, str(src))
    _differs(g, load_for_pruning(str(src)), _fixture_x(src))
    _round_trip(g, tmp_path / "pruned.h5", _fixture_x(src))
    with h5py.File(tmp_path / "pruned.h5") as f:
        assert "optimizer_weights" not in f and "training_config" not in f.attrs
        with h5py.File(src) as s:
            assert f.attrs["keras_version"] == s.attrs["keras_version"]
        config = json.loads(f.attrs["model_config"])
    layers = config["config"]["layers"] if isinstance(config["config"], dict) else config["config"]
    first = {e["config"]["name"]: e["config"] for e in layers}["dense" if name == "mlp" else "conv2d"]
    assert first["units" if name == "mlp" else "filters"] == (24 if name == "mlp" else 6)


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("rel", ["k2/merge", "k3/merge", "keras_out/nested"])
def test_nested_model_channel_removal(rel: str, fmt: str, tmp_path: Path) -> None:
    """Nested models: their weights found and rewritten in place; channels removed inside one, and
    across a nested model's input (its InputLayer's batch_shape follows)."""
    src = FIXTURES / f"{rel}.{fmt}"
    name = rel.split("/")[1]
    g = channel_pruned(name, str(src))
    x = _fixture_x(src) if name == "merge" else np.random.default_rng(0).normal(size=(4, 10)).astype(np.float32)
    _differs(g, load_for_pruning(str(src)), x)
    _round_trip(g, tmp_path / f"pruned.{fmt}", x)
    if name == "nested" and fmt == "keras":
        with zipfile.ZipFile(tmp_path / "pruned.keras") as z:
            config = json.loads(z.read("config.json"))
        (inner,) = [e for e in config["config"]["layers"] if e["name"] == "inner"]
        assert inner["config"]["layers"][0]["config"]["batch_shape"] == [None, 12]
        assert inner["config"]["layers"][1]["config"]["units"] == 9


FIXTURE_FILES = sorted(str(p.relative_to(FIXTURES)) for era in ("k2", "k3") for p in (FIXTURES / era).iterdir()
                       if p.suffix in (".h5", ".keras") and not p.name.endswith(("weights.h5",))
                       and not p.stem.startswith(("custom_layer", "lambda_model")))


@pytest.mark.parametrize("rel", FIXTURE_FILES)
def test_fixture_zeros_round_trip(rel: str, tmp_path: Path) -> None:
    """Every k2/k3 fixture keras2edge imports (recurrent, Bidirectional, shared layers, Theano conv
    kernels, depthwise/separable/transposed convs, PReLU, Embedding...), 50% zeros in every weight."""
    src = FIXTURES / rel
    g = load_for_pruning(str(src))
    zero_smallest(g, _weights(g))
    _round_trip(g, tmp_path / f"pruned{src.suffix}", _fixture_x(src))


CORPUS_FILES = ["dl4j-test-resources/keras1/conv2d_tensorflow_1.h5",
                "dl4j-test-resources/keras2/bidirectional_lstm_tensorflow_2.h5",
                "dl4j-test-resources/keras2/cnn_batch_norm.h5",
                "dl4j-test-resources/keras2/conv2d_theano_2.h5",
                "dl4j-test-resources/keras2/sepconv2d_tensorflow_2.h5",
                "dl4j-test-resources/keras2/simple_rnn_tf_keras_2_model.h5",
                "dl4j-test-resources/keras2/wgan_discriminator.h5",
                "github-keras3/ner_lstm_model.keras"]


@pytest.mark.parametrize("rel", CORPUS_FILES)
def test_corpus_zeros_round_trip(rel: str, tmp_path: Path) -> None:
    """Third-party Keras 1 / 2 / 3 files: zeros written back load with the same constants and outputs."""
    src = corpus(rel)
    g = load_for_pruning(src)
    zero_smallest(g, _weights(g))
    x = np.random.default_rng(0).uniform(0, 1, [2 if d is None else d for d in g.inputs[0].shape])
    if g.inputs[0].dtype.is_float:
        x = x.astype(np.float32)
    else:
        x = (x * 10).astype(g.inputs[0].dtype.np)
    _round_trip(g, tmp_path / f"pruned{os.path.splitext(src)[1]}", x)


def test_keras1_filters_follow_in_the_keras1_field(tmp_path: Path) -> None:
    """A Keras 1 Convolution2D losing filters: ``nb_filter`` (what the importer reads as ``filters``)."""
    g = load_for_pruning(corpus("dl4j-test-resources/keras1/conv2d_tensorflow_1.h5"))
    remove_channels(g, [0, 2, 3, 5], [("convolution2d_1/kernel", 3), ("convolution2d_1/bias", 0)])
    x = np.random.default_rng(0).uniform(0, 1, (2, *g.inputs[0].shape[1:])).astype(np.float32)
    _round_trip(g, tmp_path / "pruned.h5", x)
    with h5py.File(tmp_path / "pruned.h5") as f:
        (layer,) = json.loads(f.attrs["model_config"])["config"]
    assert layer["config"]["nb_filter"] == 4 and "filters" not in layer["config"]


# ---------------------------------------------------------------------------- MultiHeadAttention

ATTENTION = ["k2/attention.h5", "k2/attention.keras", "k3/attention.h5", "k3/attention.keras"]


def _mha_arrays(path: Path, layer: str) -> list[np.ndarray]:
    """The layer's weight arrays as the file stores them, in its order (read with the importer's readers)."""
    from keras2edge.convert.keras.config import parse_model
    from keras2edge.convert.keras.sources import open_source
    from keras2edge.convert.keras_out.plan import walk_layers

    with open_source(str(path), None, None) as src:
        model = parse_model(src.config, str(path))
        ((names, keys, _),) = [(n, k, ly) for n, k, ly in walk_layers(model) if ly.name == layer]
        weights = src.weights.layer_weights(names, keys)
        return [np.array(a) for a in weights.arrays]


@pytest.mark.parametrize("rel", ATTENTION)
def test_attention_zeros_keep_the_files_other_values_bit_for_bit(rel: str, tmp_path: Path) -> None:
    """The query projection's 1/sqrt(key_dim) scaling (folded in by the importer; key_dim 8: not a power
    of two, so dividing it out rounds) does not touch the weights pruning left alone: every nonzero
    written value is the file's own, in the file's order of the sub-layers (Keras 2 .keras files
    sort them by name)."""
    src = FIXTURES / rel
    g = load_for_pruning(str(src))
    zero_smallest(g, [n for n in _weights(g) if n.startswith(("mha_self/", "mha_cross/"))])
    out = tmp_path / f"pruned{src.suffix}"
    _round_trip(g, out, _fixture_x(src))
    for layer in ("mha_self", "mha_cross"):
        before, after = _mha_arrays(src, layer), _mha_arrays(out, layer)
        assert [a.shape for a in before] == [a.shape for a in after]
        kernels = [(b, a) for b, a in zip(before, after) if a.ndim == 3]
        assert len(kernels) == 4
        for b, a in kernels:
            kept = a != 0
            assert 0.4 < 1 - kept.mean() < 0.6                       # half of every kernel pruned
            np.testing.assert_array_equal(a[kept].view(np.uint32), b[kept].astype(np.float32).view(np.uint32))


@pytest.mark.parametrize("rel", ["k3/attention.keras", "k2/attention.h5"])
def test_attention_new_query_values_and_fewer_output_features(rel: str, tmp_path: Path) -> None:
    """New query weights (as a reconstruction would set them) are written as values that the importer's
    scaling turns back into the graph's constants (to float32 rounding); mha_cross losing 4 of its 16
    output features writes ``output_shape`` 12 and the next Dense's inputs follow."""
    from keras2edge.convert.keras_out.exporters import _unscale

    src = FIXTURES / rel
    g = load_for_pruning(str(src))
    rng = np.random.default_rng(0)
    values = {v.name: v for v in g.constants()}
    q = values["mha_self/query_kernel"]
    g.replace_const(q, rng.normal(0, 0.1, q.const.shape).astype(np.float32))
    keep = [c for c in range(16) if c % 4]
    remove_channels(g, keep, [("mha_cross/output_kernel", 1), ("mha_cross/output_bias", 0), ("head/kernel", 0)])
    out = tmp_path / f"pruned{src.suffix}"
    write_keras(g, out)
    back = load_for_pruning(str(out))
    want, got = _consts(g), _consts(back)
    assert sorted(want) == sorted(got)
    for name, arr in want.items():
        np.testing.assert_allclose(got[name], arr, rtol=2.4e-7, atol=0, err_msg=name)
    x = _fixture_x(src)
    for a, b in zip(run_runtime(g, x), run_runtime(back, x), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert got["mha_cross/output_kernel"].shape == (12, 12)
    cfg = json.loads(zipfile.ZipFile(out).read("config.json") if out.suffix == ".keras"
                     else h5py.File(out).attrs["model_config"])
    (cross,) = [e for e in cfg["config"]["layers"] if e["config"]["name"] == "mha_cross"]
    assert cross["config"]["output_shape"] in (12, [12])
    # the scaling's inverse is exact wherever a float32 preimage exists
    factor = np.float32(1 / np.sqrt(8.0))
    k = rng.normal(0, 1, 4096).astype(np.float32) * factor
    np.testing.assert_array_equal(_unscale(k, factor) * factor, k)


# ---------------------------------------------------------------------------- Keras 1 sources as Keras 3 .keras

@pytest.mark.parametrize("case", KERAS1)
def test_keras1_written_in_keras3_form(case: str, tmp_path: Path) -> None:
    """A Keras 1 model (its kernels stored 'th' (out, in, rows, cols), Conv1D (len, 1, in, out) or
    Theano-flipped, its config in Keras 1 names) with half of every weight zeroed, written as .keras:
    a Keras 3 archive (Keras 3 class and argument names, an InputLayer, the importer's layouts) that
    keras2edge reads back with the same constants and outputs. Keras 3 itself loads it in the zoo test."""
    g = load_for_pruning(keras1_source(case, tmp_path))
    zero_smallest(g, _weights(g))
    out = tmp_path / "pruned.keras"
    _round_trip(g, out, keras1_x(g))
    with zipfile.ZipFile(out) as z:
        config, meta = json.loads(z.read("config.json")), json.loads(z.read("metadata.json"))
    assert meta["keras_version"].startswith("3.") and config["class_name"] == "Sequential"
    layers = config["config"]["layers"]
    assert layers[0]["class_name"] == "InputLayer" and layers[0]["config"]["batch_shape"][0] is None
    classes = {e["class_name"] for e in layers}
    assert not classes & {"Convolution1D", "Convolution2D"}
    keras1_keys = {"nb_filter", "output_dim", "border_mode", "subsample", "dim_ordering", "init", "W_regularizer"}
    for e in layers[1:]:  # (Embedding's output_dim is also Keras 3's)
        assert not (keras1_keys - ({"output_dim"} if e["class_name"] == "Embedding" else set())) & set(e["config"]), e
    if case == "th":
        (conv,) = [e for e in layers if e["class_name"] == "Conv2D"]
        assert conv["config"]["data_format"] == "channels_first" and conv["config"]["filters"] == 4


def test_keras1_channels_removed_keras3_form(tmp_path: Path) -> None:
    """A 'th' Keras 1 conv losing filter 2 (by hand: channel pruning keeps channels a Transpose moves),
    the Dense after the channels-first Flatten losing that channel's 9 rows: ``filters`` 3 in the
    Keras 3 config."""
    g = load_for_pruning(keras1_source("th", tmp_path))
    keep, filters = [0, 1, 3], 3
    (flatten,) = [n for n in g.nodes if n.op == "Reshape"]
    flatten.attrs["shape"] = (-1, 27)
    take(g, [("convolution2d_1/kernel", 3, keep), ("convolution2d_1/bias", 0, keep),
             ("dense_1/kernel", 0, [c * 9 + i for c in keep for i in range(9)])])
    out = tmp_path / "pruned.keras"
    _round_trip(g, out, keras1_x(g))
    with zipfile.ZipFile(out) as z:
        layers = json.loads(z.read("config.json"))["config"]["layers"]
    assert [e["config"]["filters"] for e in layers if e["class_name"] == "Conv2D"] == [filters]


def test_keras1_hard_sigmoid_has_no_keras3_form(tmp_path: Path) -> None:
    """Keras 1's LSTM default inner_activation hard_sigmoid (0.2x + 0.5) means x/6 + 0.5 in Keras 3:
    refused, naming the layer, nothing written."""
    g = load_for_pruning(corpus("dl4j-test-resources/keras1/lstm_theano_1.h5"))
    zero_smallest(g, _weights(g))
    _refused(tmp_path, g, r"Keras layer 'lstm_1' \(LSTM\): its recurrent_activation 'hard_sigmoid' \(clip\(0\.2x "
                          r"\+ 0\.5\) in Keras 1/2, relu6\(x \+ 3\)/6 in Keras 3\) has no Keras 3 equivalent")


# ---------------------------------------------------------------------------- what is refused


def _refused(tmp_path: Path, graph: Graph, match: str, name: str = "out.keras", source: str | None = None,
             error: type[Exception] = ModelFormatError) -> None:
    out = tmp_path / name
    out.write_bytes(b"previous")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(error, match=match):
        write_keras(graph, out, source)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary file left


def test_folded_batchnorm_is_refused_naming_the_layer(tmp_path: Path) -> None:
    g = keras2edge.load(TRAINED / "digits_cnn.keras")  # cleanup folds BatchNormalization
    _refused(tmp_path, g, r"Keras layer 'stem_bn' \(BatchNormalization\) of the source is no longer in the graph")


def test_added_op_is_refused_naming_the_layer(tmp_path: Path) -> None:
    g = load_for_pruning(str(TRAINED / "digits_mlp.keras"))
    g.outputs = [g.add_node("Relu", [g.outputs[0]], origin=("extra_relu", "ReLU")).output]
    _refused(tmp_path, g, r"Keras layer 'extra_relu' \(ReLU\) is not a layer of the source")


def test_unsupported_changed_layer_is_refused(tmp_path: Path) -> None:
    g = load_for_pruning(str(FIXTURES / "k3" / "preprocess.keras"))
    mean = {v.name: v for v in g.constants()}["norm_adapted/mean"]
    g.replace_const(mean, np.zeros_like(mean.const))
    _refused(tmp_path, g, r"Keras layer 'norm_adapted' \(Normalization\): its weights changed, and keras2edge "
                          r"writes changed weights back only for BatchNormalization, ")


def test_keras1_layout_is_refused(tmp_path: Path) -> None:
    g = load_for_pruning(corpus("dl4j-test-resources/keras1/embedding_conv1d_flatten_tensorflow_1.h5"))
    zero_smallest(g, [n for n in _weights(g) if n.startswith("convolution1d_1/")])
    _refused(tmp_path, g, r"'convolution1d_1' \(Conv1D\): the file stores its weights in a layout", "out.h5")


def test_other_container_no_source_and_source_as_output_are_refused(tmp_path: Path) -> None:
    src = str(TRAINED / "digits_mlp.keras")
    g = load_for_pruning(src)
    _refused(tmp_path, g, r"unknown extension '\.onnx'; supported: \.h5, \.hdf5, \.keras", "out.onnx")
    g.metadata.pop("source")
    _refused(tmp_path, g, "pass source='model.h5'")
    copy = tmp_path / "model.keras"
    copy.write_bytes(Path(src).read_bytes())
    with pytest.raises(OutputPathError):
        write_keras(g, copy, copy)
    assert copy.read_bytes() == Path(src).read_bytes()


def test_json_source_is_refused(tmp_path: Path) -> None:
    g = keras2edge.load(FIXTURES / "k2" / "mlp.json", FIXTURES / "k2" / "mlp_weights.h5", cleanup=False)
    _refused(tmp_path, g, r"an architecture JSON with a separate weights file cannot be written back", "out.h5")


def test_keras2_source_in_the_other_container_is_refused(tmp_path: Path) -> None:
    g = load_for_pruning(str(FIXTURES / "k2" / "mlp.h5"))
    _refused(tmp_path, g, r"the source is a HDF5 Keras 2\.\S+ file; keras2edge writes a pruned model back in the "
                          r"source's own container \(\.h5\), or in the other one for a Keras 3", "out.keras")


def test_wrapper_in_the_other_container_is_refused(tmp_path: Path) -> None:
    g = load_for_pruning(str(FIXTURES / "k3" / "rnn.keras"))
    _refused(tmp_path, g, r"in the other Keras container: Keras layer 'bidirectional' \(Bidirectional\)", "out.h5")


def test_shared_layer_pruned_differently_per_call_is_refused(tmp_path: Path) -> None:
    g = load_for_pruning(str(FIXTURES / "k3" / "merge.keras"))
    zero_smallest(g, ["shared_dense/kernel"])  # not shared_dense/kernel_1: the second call's copy
    _refused(tmp_path, g, r"'shared_dense' \(Dense\): constants \['shared_dense/kernel_1'\] changed but are not "
                          r"part of the layer's Keras weights \(or differ between the calls")


# ---------------------------------------------------------------------------- hostile sources


def test_external_link_in_the_source_is_refused(tmp_path: Path) -> None:
    """The writer reads the source through the importer's guards: a dataset linked from another file
    is refused (never followed), and nothing is written."""
    src = tmp_path / "model.h5"
    src.write_bytes((FIXTURES / "k3" / "mlp.h5").read_bytes())
    g = load_for_pruning(str(src))
    zero_smallest(g, _weights(g))
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["kernel"] = np.ones((16, 32), np.float32)
    with h5py.File(src, "r+") as f:
        group = f["model_weights"]["dense"]
        (name,) = [n for n in group.attrs["weight_names"] if "kernel" in str(n)]
        del group[name]
        group[name] = h5py.ExternalLink(str(secret), "kernel")
    out = tmp_path / "out.h5"
    with pytest.raises(UnsafeContentError, match="external"):
        write_keras(g, out, str(src))
    assert not out.exists()


def test_hostile_archive_member_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "model.keras"
    with zipfile.ZipFile(TRAINED / "digits_mlp.keras") as zin, zipfile.ZipFile(src, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        zout.writestr("../escape.json", "{}")
    g = load_for_pruning(str(TRAINED / "digits_mlp.keras"))
    out = tmp_path / "out.keras"
    with pytest.raises(UnsafeContentError, match="escapes the archive"):
        write_keras(g, out, str(src))
    assert not out.exists()


_OPENED: list[tuple[str, object, object]] = []
_RECORDING = [False]


def _audit(event: str, args: tuple) -> None:
    if _RECORDING[0] and event in ("open", "os.rename", "os.replace", "os.listdir", "os.scandir", "shutil.copyfile"):
        _OPENED.append((event, args[0] if args else None, args[1] if len(args) > 1 else None))


def test_the_writer_opens_only_the_source_and_its_output(tmp_path: Path) -> None:
    """Every file the writer opens from Python (audit hook: open/rename/listdir events; libhdf5 opens
    only what h5py is given) is the source, an anonymous temporary file, or the output's temporary
    name renamed to the output: nothing outside the source is read."""
    src = tmp_path / "model.keras"
    src.write_bytes((TRAINED / "digits_cnn.keras").read_bytes())
    g = channel_pruned("digits_cnn", str(src))
    write_keras(g, tmp_path / "warm.keras")  # lazy imports happen here, not in the recorded write
    sys.addaudithook(_audit)
    out = tmp_path / "out.keras"
    _OPENED.clear()
    _RECORDING[0] = True
    try:
        write_keras(g, out)
    finally:
        _RECORDING[0] = False
    paths = {str(a) for _, a, _ in _OPENED if isinstance(a, (str, os.PathLike))}
    temps = {p for p in paths if Path(p).parent == tmp_path and Path(p).name.startswith(".out.keras.")}
    assert paths - temps <= {str(src), tempfile.gettempdir(), str(out)}, sorted(paths)
    reads = {str(a) for e, a, mode in _OPENED if e == "open" and isinstance(a, str) and mode in ("r", "rb", None)
             and a not in temps and a != tempfile.gettempdir()}
    assert reads == {str(src)}
    assert ("os.rename", next(iter(temps)), str(out)) in _OPENED
