"""The Keras backend rule (convert/keras/backend.py): Theano kernels flipped, which rule fired, the
warning when a file does not record its backend, the ``backend=`` / ``--backend`` override.

The oracle of the Theano flip is keras2cpp's model on its own sample: Keras' printed output and
keras2cpp's C++ port (``fixtures/keras2cpp_reference.json``, with provenance), and an independent
NumPy forward pass written here (true convolution, 'th' ordering, channels-first Flatten) that
reads the weights with h5py and shares no code with keras2edge.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import keras2edge
from keras2edge.cli import main
from keras2edge.convert.keras import load_keras
from keras2edge.convert.tflite import tflite_bytes
from keras2edge.errors import OptionError
from keras2edge.ir.evaluate import evaluate
from keras2edge.runtime import Interpreter

from ...corpus import FIXTURES, REPO, corpus
from ...onnxrt import run_graph_onnx
from ...corpus import CorpusFile
from ...litert import litert

ARCH, WEIGHTS, SAMPLE = (CorpusFile(f"keras2cpp/{n}") for n in ("my_nn_arch.json", "my_nn_weights.h5", "sample_mnist.dat"))
REFERENCE = json.loads((FIXTURES / "keras2cpp_reference.json").read_text())
K1 = "dl4j-test-resources/keras1/"
LOGGER = "keras2edge.convert.keras.backend"


# ---------------------------------------------------------------------------- independent NumPy oracle


def read_sample() -> np.ndarray:
    """keras2cpp's text input: a 'D R C' header, then D*R rows of C numbers in brackets -> (1, D, R, C)."""
    head, body = Path(SAMPLE).read_text().split("\n", 1)
    dims = tuple(int(t) for t in head.split())
    values = [float(t) for t in re.findall(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?", body)]
    return np.asarray(values, np.float32).reshape((1, *dims))


def numpy_forward(x: np.ndarray, *, flip: bool) -> np.ndarray:
    """keras2cpp's model in float64: two 3x3 'same' convs ('th' kernels (out, in, rows, cols); true
    convolution when ``flip``, i.e. correlation with the kernel reversed in both spatial axes),
    ReLUs, 2x2 max pool, channels-first Flatten, Dense(6)+ReLU, Dense(10)+softmax."""
    with h5py.File(WEIGHTS, "r") as f:
        w = {f"{layer}_{p}": np.asarray(f[layer][f"{layer}_{p}"], np.float64)
             for layer in ("convolution2d_1", "convolution2d_2", "dense_1", "dense_2") for p in ("W", "b")}

    def conv_same(h: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
        if flip:
            k = k[:, :, ::-1, ::-1]
        _, rows, cols = h.shape
        hp = np.pad(h, ((0, 0), (1, 1), (1, 1)))
        out = np.zeros((k.shape[0], rows, cols))
        for i in range(3):
            for j in range(3):
                out += np.einsum("oc,chw->ohw", k[:, :, i, j], hp[:, i:i + rows, j:j + cols])
        return out + b[:, None, None]

    h = x[0].astype(np.float64)
    h = np.maximum(conv_same(h, w["convolution2d_1_W"], w["convolution2d_1_b"]), 0)
    h = np.maximum(conv_same(h, w["convolution2d_2_W"], w["convolution2d_2_b"]), 0)
    c, rows, cols = h.shape
    h = h.reshape(c, rows // 2, 2, cols // 2, 2).max(axis=(2, 4)).reshape(-1)  # (C, H, W) order
    h = np.maximum(h @ w["dense_1_W"] + w["dense_1_b"], 0)
    z = h @ w["dense_2_W"] + w["dense_2_b"]
    e = np.exp(z - z.max())
    return (e / e.sum())[None]


# ---------------------------------------------------------------------------- keras2cpp: the values


def test_numpy_oracle_agrees_with_keras_and_the_cpp_port() -> None:
    """The oracle itself: Keras' printed output (8 decimals) and the C++ port (float32) within 1e-6."""
    want = numpy_forward(read_sample(), flip=True)[0]
    np.testing.assert_allclose(want, REFERENCE["keras_theano"]["output"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(want, REFERENCE["keras2cpp_cpp"]["output"], atol=1e-6, rtol=0)
    # Without the flip the oracle gives what keras2edge gave before the rule (issue 7, 4 decimals).
    np.testing.assert_allclose(numpy_forward(read_sample(), flip=False)[0],
                               REFERENCE["keras2edge_before_fix"]["output"], atol=1e-4, rtol=0)


def _all_backends(graph: keras2edge.Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """The graph's output on ``x`` from the IR evaluator, onnxruntime (ONNX), keras2edge.runtime and
    LiteRT (.tflite)."""
    data = tflite_bytes(graph)
    return {"IR": evaluate(graph, {graph.inputs[0].name: x})[graph.outputs[0].name],
            "onnxruntime": run_graph_onnx(graph, {graph.inputs[0].name: x})[0],
            "keras2edge.runtime": np.asarray(Interpreter(data).run(x)),
            "LiteRT": litert(data, [x])[0]}


def test_keras2cpp_matches_its_reference_by_the_rule() -> None:
    """No option: the weight names decide theano, and every backend matches keras2cpp's reference."""
    x = read_sample()
    graph = keras2edge.load(ARCH, WEIGHTS)
    assert graph.metadata["keras_backend"] == "theano"
    assert graph.metadata["keras_backend_rule"] == "weight-names"
    oracle = numpy_forward(x, flip=True)
    for name, got in _all_backends(graph, x).items():
        assert got.shape == (1, 10), name
        for ref in (oracle[0], REFERENCE["keras2cpp_cpp"]["output"], REFERENCE["keras_theano"]["output"]):
            assert np.abs(got[0] - np.asarray(ref)).max() <= 1e-5, name
        assert int(got.argmax()) == 5, name


def test_keras2cpp_override_to_tensorflow_drops_the_flip() -> None:
    """``backend='tensorflow'`` reads the kernels as stored: the unflipped model (class 3, not 5)."""
    x = read_sample()
    graph = keras2edge.load(ARCH, WEIGHTS, backend="tensorflow")
    assert (graph.metadata["keras_backend"], graph.metadata["keras_backend_rule"]) == ("tensorflow", "option")
    got = run_graph_onnx(graph, {graph.inputs[0].name: x})[0]
    assert np.abs(got - numpy_forward(x, flip=False)).max() <= 1e-5
    assert int(got.argmax()) == 3


def test_keras2cpp_convert_with_explicit_theano(tmp_path: Path) -> None:
    """``convert_model(backend='theano')`` writes a .tflite whose output is keras2cpp's."""
    out = tmp_path / "my_nn.tflite"
    keras2edge.convert_model(ARCH, out, weights=WEIGHTS, backend="theano")
    got = np.asarray(Interpreter(out.read_bytes()).run(read_sample()))
    assert np.abs(got[0] - np.asarray(REFERENCE["keras2cpp_cpp"]["output"])).max() <= 1e-5


# ---------------------------------------------------------------------------- the rule on the corpus


# Every Keras 1 model in the corpus: (model, weights) -> (backend, rule). The names agree with the
# files' names (*_tensorflow_* / *_theano_* / *_th_*) and with keras2cpp's README (Theano).
CORPUS_KERAS1 = {
    (K1 + "conv2d_tensorflow_1.h5", None): ("tensorflow", "weight-names"),
    (K1 + "embedding_conv1d_flatten_tensorflow_1.h5", None): ("tensorflow", "weight-names"),
    (K1 + "lstm_theano_1.h5", None): ("theano", "weight-names"),
    (K1 + "simple_lstm_th_keras_1_model.h5", None): ("theano", "weight-names"),
    (K1 + "simple_lstm_th_keras_1_config.json", K1 + "simple_lstm_th_keras_1_weights.h5"): ("theano", "weight-names"),
    ("keras2cpp/my_nn_arch.json", "keras2cpp/my_nn_weights.h5"): ("theano", "weight-names"),
}


@pytest.mark.parametrize("files,expected", list(CORPUS_KERAS1.items()), ids=[m for m, _ in CORPUS_KERAS1])
def test_corpus_keras1_rule(files: tuple[str, str | None], expected: tuple[str, str],
                            caplog: pytest.LogCaptureFixture) -> None:
    model, weights = files
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        graph = load_keras(corpus(model), None if weights is None else corpus(weights))
    assert (graph.metadata["keras_backend"], graph.metadata["keras_backend_rule"]) == expected
    (warning,) = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    backend, rule = expected
    other = "theano" if backend == "tensorflow" else "tensorflow"
    assert f"assuming {backend} (rule {rule}:" in warning and f"--backend {other}" in warning
    assert os.path.basename(model) in warning


def test_warning_says_when_no_layer_depends_on_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        load_keras(corpus(K1 + "lstm_theano_1.h5"))
    (warning,) = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert "no layer of this model depends on it" in warning


def test_backend_dependent_layers_include_wrapped_and_nested_convs() -> None:
    """Conv kernels (Keras 1 and 2 names) count, also inside TimeDistributed and nested models;
    separable, depthwise and recurrent layers do not (as in Keras 2's loader)."""
    from keras2edge.convert.keras.backend import backend_dependent_layers
    from keras2edge.convert.keras.config import parse_model

    def entry(cls: str, name: str, **cfg: Any) -> dict[str, Any]:
        return {"class_name": cls, "config": {"name": name, **cfg}}

    inner = {"class_name": "Sequential", "config": {"name": "inner", "layers": [
        entry("Conv1D", "conv1d_in", filters=2, kernel_size=[3], batch_input_shape=[None, 8, 4])]}}
    model = {"class_name": "Sequential", "config": [
        entry("TimeDistributed", "td", layer=entry("Convolution2D", "c", nb_filter=2, nb_row=3, nb_col=3),
              batch_input_shape=[None, 3, 8, 8, 1]),
        entry("Deconvolution2D", "deconv", nb_filter=2, nb_row=3, nb_col=3, output_shape=[None, 8, 8, 2]),
        entry("AtrousConvolution1D", "atrous", nb_filter=2, filter_length=3),
        entry("SeparableConv2D", "sep", filters=2, kernel_size=[3, 3]),
        entry("DepthwiseConv2D", "dw", kernel_size=[3, 3]),
        entry("LSTM", "lstm", output_dim=4),
        inner]}
    assert backend_dependent_layers(parse_model(model, "test")) == ["td", "deconv", "atrous", "conv1d_in"]


def test_corpus_keras1_version_rule_without_weights() -> None:
    """space_to_depth_simple_tensorflow_1.h5 has no weights at all (one Lambda): Keras 1.2.2's default
    backend, TensorFlow, decides (the build then refuses the Lambda)."""
    from keras2edge.convert.keras.backend import resolve_backend
    from keras2edge.convert.keras.config import parse_model
    from keras2edge.convert.keras.sources import open_source

    with open_source(corpus(K1 + "space_to_depth_simple_tensorflow_1.h5")) as src:
        choice = resolve_backend(src, parse_model(src.config, "x"))
    assert (choice.backend, choice.rule) == ("tensorflow", "keras-version")
    assert "1.2.2" in choice.evidence


def test_corpus_recorded_and_keras3_do_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    cases = {"dl4j-test-resources/keras2/conv2d_theano_2.h5": ("theano", "recorded"),
             "dl4j-test-resources/keras2/cnn_batch_norm.h5": ("tensorflow", "recorded"),
             "github-keras3/ner_lstm_model.keras": ("tensorflow", "keras3")}
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for path, expected in cases.items():
            g = load_keras(corpus(path))
            assert (g.metadata["keras_backend"], g.metadata["keras_backend_rule"]) == expected, path
    assert not [r for r in caplog.records if r.name == LOGGER]


def test_json_pair_reads_the_weights_files_backend() -> None:
    g = load_keras(corpus("dl4j-test-resources/keras2/simple_rnn_tf_keras_2_config.json"),
                   corpus("dl4j-test-resources/keras2/simple_rnn_tf_keras_2_weights.h5"))
    assert (g.metadata["keras_backend"], g.metadata["keras_backend_rule"]) == ("tensorflow", "recorded")
    assert "simple_rnn_tf_keras_2_weights.h5" in g.metadata["keras_backend_evidence"]


def _conv_output(path: str, x: np.ndarray, **kw: Any) -> np.ndarray:
    g = load_keras(path, **kw)
    return run_graph_onnx(g, {g.inputs[0].name: x})[0]


def test_option_overrides_the_recorded_backend_both_ways() -> None:
    """The recorded 'theano' of conv2d_theano_2.h5 and the ':0' names of conv2d_tensorflow_1.h5 are
    both overridden; the override flips the 3x3 kernels exactly."""
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 5)).astype(np.float32)
    for path, default, other in ((corpus("dl4j-test-resources/keras2/conv2d_theano_2.h5"), "theano", "tensorflow"),
                                 (corpus(K1 + "conv2d_tensorflow_1.h5"), "tensorflow", "theano")):
        g = load_keras(path, backend=other)
        assert (g.metadata["keras_backend"], g.metadata["keras_backend_rule"]) == (other, "option")
        by_rule, by_option = _conv_output(path, x), _conv_output(path, x, backend=other)
        assert np.abs(by_rule - _conv_output(path, x, backend=default)).max() == 0
        assert np.abs(by_rule - by_option).max() > 1e-2


def test_explicit_backend_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        keras2edge.load(ARCH, WEIGHTS, backend="theano")
    assert not [r for r in caplog.records if r.name == LOGGER]


def test_invalid_backend_is_refused() -> None:
    with pytest.raises(OptionError, match="unknown Keras backend 'cntk'.*theano, tensorflow"):
        keras2edge.load(ARCH, WEIGHTS, backend="cntk")


# ---------------------------------------------------------------------------- the rule on generated files


def _keras1_conv_file(path: Path, *, weight_names: list[str] | None, keras_version: str | None = None,
                      backend: str | None = None) -> tuple[str, np.ndarray]:
    """A Keras 1 full-model HDF5 with one 'tf'-ordered 3x3 Convolution2D (2 -> 3 channels), written
    as Keras 1's ``model.save`` does; ``weight_names`` are the two dataset names (None: no weights
    attribute names at all, as a weights-free layer has). Returns the path and the stored kernel."""
    cfg = {"class_name": "Sequential", "config": [{"class_name": "Convolution2D", "config": {
        "name": "convolution2d_1", "nb_filter": 3, "nb_row": 3, "nb_col": 3, "border_mode": "valid",
        "subsample": [1, 1], "dim_ordering": "tf", "activation": "linear", "bias": True,
        "batch_input_shape": [None, 5, 5, 2], "input_dtype": "float32"}}]}
    kernel = np.random.default_rng(1).normal(size=(3, 3, 2, 3)).astype(np.float32)
    bias = np.arange(3, dtype=np.float32)
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(cfg).encode()
        if keras_version is not None:
            f.attrs["keras_version"] = keras_version.encode()
        if backend is not None:
            f.attrs["backend"] = backend.encode()
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"convolution2d_1"])
        g = mw.create_group("convolution2d_1")
        names = weight_names or ["param_0", "param_1"]
        for n, a in zip(names, (kernel, bias)):
            g.create_dataset(n, data=a)
        g.attrs["weight_names"] = np.array([n.encode() for n in names])
    return str(path), kernel


GENERATED = {
    # case: (weight names, keras_version, backend attribute) -> (backend, rule)
    "recorded-theano": ((["convolution2d_1_W:0", "convolution2d_1_b:0"], "1.2.2", "theano"), ("theano", "recorded")),
    "colon-names": ((["convolution2d_1_W:0", "convolution2d_1_b:0"], None, None), ("tensorflow", "weight-names")),
    "scoped-colon-names": ((["convolution2d_1/conv/convolution2d_1_W:0", "convolution2d_1/conv/convolution2d_1_b:0"],
                            None, None), ("tensorflow", "weight-names")),
    "plain-names": ((["convolution2d_1_W", "convolution2d_1_b"], "1.2.2", None), ("theano", "weight-names")),
    "keras-1.0.8": ((None, "1.0.8", None), ("theano", "keras-version")),
    "keras-1.1.0": ((None, "1.1.0", None), ("tensorflow", "keras-version")),
    "keras-1.2.2": ((None, "1.2.2", None), ("tensorflow", "keras-version")),
    "nothing": ((None, None, None), ("tensorflow", "default")),
}


@pytest.mark.parametrize("case", list(GENERATED))
def test_generated_rule_branches(case: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Each branch of the rule decides, and the kernels are flipped exactly when it says theano."""
    (names, version, recorded), (backend, rule) = GENERATED[case]
    path, kernel = _keras1_conv_file(tmp_path / "m.h5", weight_names=names, keras_version=version, backend=recorded)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        g = load_keras(path)
    assert (g.metadata["keras_backend"], g.metadata["keras_backend_rule"]) == (backend, rule)
    warnings = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(warnings) == (0 if rule == "recorded" else 1)
    if warnings:
        assert f"assuming {backend} (rule {rule}:" in warnings[0] and "convolution2d_1" in warnings[0]
    x = np.random.default_rng(2).normal(size=(1, 5, 5, 2)).astype(np.float32)
    k = kernel[::-1, ::-1] if backend == "theano" else kernel
    want = np.einsum("hwc,hwco->o", x[0, :3, :3].astype(np.float64), k.astype(np.float64)) + np.arange(3)
    got = run_graph_onnx(g, {g.inputs[0].name: x})[0]
    assert np.abs(got[0, 0, 0] - want).max() <= 1e-5


def test_keras1_json_without_version_is_keras_1_0(tmp_path: Path) -> None:
    """A Keras 1 architecture JSON without keras_version (to_json() records it from 1.0.4) and
    weights named param_<i> (no evidence): Keras 1.0.0-1.0.3, Theano by default."""
    h5, _ = _keras1_conv_file(tmp_path / "m.h5", weight_names=None)
    with h5py.File(h5, "r") as f:
        arch = json.loads(f.attrs["model_config"])
    with h5py.File(h5, "a") as f:  # make it a save_weights file: layer groups at the root
        f.attrs["layer_names"] = f["model_weights"].attrs["layer_names"]
        f.copy("model_weights/convolution2d_1", "convolution2d_1")
        del f["model_weights"]
        del f.attrs["model_config"]
    (tmp_path / "arch.json").write_text(json.dumps(arch))
    g = load_keras(str(tmp_path / "arch.json"), h5)
    assert (g.metadata["keras_backend"], g.metadata["keras_backend_rule"]) == ("theano", "keras-version")
    assert "1.0.0-1.0.3" in g.metadata["keras_backend_evidence"]


# ---------------------------------------------------------------------------- inspect and the CLI


def test_inspect_names_the_rule() -> None:
    report = keras2edge.inspect(ARCH, WEIGHTS)
    assert report.keras_backend["backend"] == "theano" and report.keras_backend["rule"] == "weight-names"
    assert "Keras backend: theano (rule weight-names:" in report.to_text()
    assert json.loads(report.to_json())["keras_backend"]["rule"] == "weight-names"
    forced = keras2edge.inspect(ARCH, WEIGHTS, backend="tensorflow")
    assert forced.keras_backend["rule"] == "option"


def test_cli_inspect_json_and_backend_option() -> None:
    res = CliRunner().invoke(main, ["inspect", str(ARCH), "--weights", str(WEIGHTS), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["keras_backend"]["backend"] == "theano" and data["keras_backend"]["rule"] == "weight-names"
    res = CliRunner().invoke(main, ["inspect", str(ARCH), "--weights", str(WEIGHTS), "--backend", "tensorflow"])
    assert res.exit_code == 0, res.output
    assert "Keras backend: tensorflow (rule option:" in res.stdout
    res = CliRunner().invoke(main, ["inspect", str(ARCH), "--weights", str(WEIGHTS), "--backend", "cntk"])
    assert res.exit_code == 1 and "Error: unknown Keras backend 'cntk'" in res.output


def test_cli_convert_prints_the_assumption_on_stderr(tmp_path: Path) -> None:
    """A real process, so that the CLI's own logging setup writes the warning to stderr."""
    out = tmp_path / "my_nn.onnx"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "keras2edge.cli", "convert", str(ARCH), "--weights", str(WEIGHTS), "-o", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 0, res.stderr
    assert "does not record the Keras backend" in res.stderr and "assuming theano (rule weight-names:" in res.stderr
    assert "--backend tensorflow" in res.stderr and "Wrote" in res.stdout
