"""Every Keras file in shared/corpus behaves as CATALOG.md says, through the whole ONNX path.

Reference data is matched where it exists (outputs of onnxruntime on our ONNX vs Keras'
recorded predictions); must-fail files fail with the cause named and no output file written.
"""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest

import keras2edge
from keras2edge.errors import Keras2EdgeError, UnsupportedLayerError

from .conftest import corpus, rel_err, run_onnx

# file -> (weights file or None, expectation). "convert", or "fail:<text the error must contain>".
CASES: dict[str, tuple[str | None, str]] = {
    "dl4j-test-resources/keras1/conv2d_tensorflow_1.h5": (None, "convert"),
    "dl4j-test-resources/keras1/lstm_theano_1.h5": (None, "convert"),
    "dl4j-test-resources/keras1/embedding_conv1d_flatten_tensorflow_1.h5": (None, "convert"),
    "dl4j-test-resources/keras1/space_to_depth_simple_tensorflow_1.h5": (None, "fail:Lambda"),
    "dl4j-test-resources/keras1/simple_lstm_th_keras_1_model.h5": (None, "convert"),
    "dl4j-test-resources/keras1/simple_lstm_th_keras_1_config.json": (
        "dl4j-test-resources/keras1/simple_lstm_th_keras_1_weights.h5", "convert"),
    "dl4j-test-resources/keras2/conv2d_theano_2.h5": (None, "convert"),
    "dl4j-test-resources/keras2/model_lambda.h5": (None, "fail:Lambda"),
    "dl4j-test-resources/keras2/masking_zero_lstm.h5": (None, "convert-or-fail:Masking"),
    "dl4j-test-resources/keras2/wgan_discriminator.h5": (None, "convert"),
    "dl4j-test-resources/keras2/reshape_model.h5": (None, "convert"),
    "dl4j-test-resources/keras2/causal_conv1d_k3_s1_d2_cl_model.h5": (None, "convert"),
    "dl4j-test-resources/keras2/simple_rnn_tf_keras_2_model.h5": (None, "convert"),
    "dl4j-test-resources/keras2/simple_rnn_tf_keras_2_config.json": (
        "dl4j-test-resources/keras2/simple_rnn_tf_keras_2_weights.h5", "convert"),
    "dl4j-test-resources/keras2/sepconv2d_tensorflow_2.h5": (None, "convert"),
    "dl4j-test-resources/keras2/bidirectional_lstm_tensorflow_2.h5": (None, "convert"),
    "dl4j-test-resources/keras2/flatten_3d.hdf5": (None, "convert"),
    "dl4j-test-resources/keras2/cnn2d_100.h5": (None, "convert"),
    "dl4j-test-resources/keras2/tfop_0.h5": (None, "fail:TensorFlowOpLayer"),
    "dl4j-test-resources/keras2/cnn_batch_norm.h5": (None, "convert"),
    "github-keras3/ner_lstm_model.keras": (None, "convert"),
    "keras2cpp/my_nn_arch.json": ("keras2cpp/my_nn_weights.h5", "convert"),
}

# Files that are not models: given as MODEL they must be refused with what was found.
NOT_MODELS: dict[str, str] = {
    "dl4j-test-resources/keras1/simple_lstm_th_keras_1_weights.h5": "weights-only",
    "dl4j-test-resources/keras2/simple_rnn_tf_keras_2_weights.h5": "weights-only",
    "keras2cpp/my_nn_weights.h5": "weights-only",
    "dl4j-test-resources/keras1/simple_lstm_th_keras_1_inputs_and_outputs.h5": "reference",
    "dl4j-test-resources/keras2/cnn_batch_norm_input.npy": ".npy",
    "tflite-micro/person_detect.tflite": "TFLite",
    "dl4j-test-resources/keras2/simple_rnn_tf_keras_2_config.json": "architecture only",
}

# Model -> (reference h5 with inputs/ and predictions/, or an (input.npy, predictions.npy) pair).
REFERENCE = {
    "dl4j-test-resources/keras1/simple_lstm_th_keras_1_model.h5":
        "dl4j-test-resources/keras1/simple_lstm_th_keras_1_inputs_and_outputs.h5",
    "dl4j-test-resources/keras1/simple_lstm_th_keras_1_config.json":
        "dl4j-test-resources/keras1/simple_lstm_th_keras_1_inputs_and_outputs.h5",
    "dl4j-test-resources/keras2/simple_rnn_tf_keras_2_model.h5":
        "dl4j-test-resources/keras2/simple_rnn_tf_keras_2_inputs_and_outputs.h5",
    "dl4j-test-resources/keras2/simple_rnn_tf_keras_2_config.json":
        "dl4j-test-resources/keras2/simple_rnn_tf_keras_2_inputs_and_outputs.h5",
    "dl4j-test-resources/keras2/causal_conv1d_k3_s1_d2_cl_model.h5":
        "dl4j-test-resources/keras2/causal_conv1d_k3_s1_d2_cl_inputs_and_outputs.h5",
    "dl4j-test-resources/keras2/cnn_batch_norm.h5":
        ("dl4j-test-resources/keras2/cnn_batch_norm_input.npy", "dl4j-test-resources/keras2/cnn_batch_norm_predictions.npy"),
}


def _reference(ref) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if isinstance(ref, tuple):
        x = np.load(corpus(ref[0]), allow_pickle=False).astype(np.float32)
        y = np.load(corpus(ref[1]), allow_pickle=False)
        return [x], [y]
    with h5py.File(corpus(ref), "r") as f:
        ins = json.loads(f.attrs["inputs"])["inputs"]
        outs = json.loads(f.attrs["outputs"])["outputs"]
        return ([np.asarray(f["inputs"][n], np.float32) for n in ins],
                [np.asarray(f["predictions"][n], np.float32) for n in outs])


def _feeds(graph: keras2edge.Graph, rng: np.random.Generator, batch: int = 2) -> dict[str, np.ndarray]:
    vocabs = [int(n.inputs[0].shape[0]) for n in graph.nodes if n.op == "Gather" and n.inputs[0].is_const]
    vocab = min(vocabs) if vocabs else 0  # embedding models get valid token ids
    feeds = {}
    for v in graph.inputs:
        shape = [batch if d is None else d for d in v.shape]
        if v.dtype.is_float:
            feeds[v.name] = (rng.integers(0, vocab, shape) if vocab else rng.standard_normal(shape)).astype(np.float32)
        else:
            feeds[v.name] = rng.integers(0, max(vocab, 1), shape).astype(v.dtype.np)
    return feeds


@pytest.mark.parametrize("rel", sorted(CASES))
def test_corpus_model(rel: str, tmp_path) -> None:
    weights, expect = CASES[rel]
    wpath = corpus(weights) if weights else None
    out = tmp_path / "out.onnx"
    if expect.startswith("fail:"):
        with pytest.raises(Keras2EdgeError) as ei:
            keras2edge.convert_model(corpus(rel), out, weights=wpath)
        assert expect[5:] in str(ei.value)
        assert not out.exists() and not os.listdir(tmp_path)
        return
    try:
        graph = keras2edge.convert_model(corpus(rel), out, weights=wpath)
    except UnsupportedLayerError as e:
        if expect == "convert-or-fail:Masking" and "Masking" in str(e):
            assert not os.listdir(tmp_path)
            return
        raise
    graph.verify()
    assert out.exists()
    # Every node carries the Keras layer it came from.
    assert all(n.origin is not None for n in graph.nodes)
    if rel in REFERENCE:
        xs, ys = _reference(REFERENCE[rel])
        feeds = {v.name: x for v, x in zip(graph.inputs, xs)}
        got = run_onnx(graph, feeds)
        for g, y in zip(got, ys):
            assert rel_err(g, y) < 1e-4, f"{rel}: error {rel_err(g, y)}"
    else:
        got = run_onnx(graph, _feeds(graph, np.random.default_rng(0), batch=graph.inputs[0].shape[0] or 2))
        assert all(np.all(np.isfinite(g)) for g in got)


@pytest.mark.parametrize("rel", sorted(NOT_MODELS))
def test_corpus_not_a_model(rel: str, tmp_path) -> None:
    out = tmp_path / "out.onnx"
    with pytest.raises(Keras2EdgeError) as ei:
        keras2edge.convert_model(corpus(rel), out)
    assert NOT_MODELS[rel] in str(ei.value)
    assert not os.listdir(tmp_path)
