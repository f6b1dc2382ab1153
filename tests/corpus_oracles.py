"""The value oracle of every convertible corpus file: inputs and the outputs the model must give.

Three kinds of oracle, none of which runs keras2edge code:

- ``catalog``: the reference data that ships with the corpus (CATALOG.md, "Reference data").
- ``recorded``: Keras' own outputs, recorded by ``tests/fixtures/make_corpus_references.py`` (tf_keras
  or Keras 3, whichever loads the file) into ``tests/fixtures/corpus/references.npz``; the sha256
  of each corpus file is checked so a changed corpus file is not compared with stale outputs.
- ``numpy``: the Keras 1 files no current Keras can load and that have no reference data,
  written out below in NumPy with the weights read by h5py (Keras 1 semantics: tf-ordered
  Convolution1D/2D correlate; LSTM gates i, f, c, o with hard_sigmoid = clip(0.2 x + 0.5, 0, 1)).

keras2cpp's my_nn (a Keras 1 Theano model) is checked against keras2cpp's own output by its own test.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import h5py
import numpy as np

from .corpus import FIXTURES, corpus

REFERENCES = FIXTURES / "corpus"
K1 = "dl4j-test-resources/keras1/"
K2 = "dl4j-test-resources/keras2/"


@dataclass(frozen=True)
class Oracle:
    """Inputs (in the model's input order) and the outputs the model must give on them."""

    kind: str  # "catalog" | "recorded" | "numpy"
    inputs: list[np.ndarray]
    outputs: list[np.ndarray]


# ---------------------------------------------------------------------------- catalog reference data

# Model -> its reference h5 (inputs/, predictions/) or (input.npy, predictions.npy) (CATALOG.md).
CATALOG: dict[str, str | tuple[str, str]] = {
    K1 + "simple_lstm_th_keras_1_model.h5": K1 + "simple_lstm_th_keras_1_inputs_and_outputs.h5",
    K1 + "simple_lstm_th_keras_1_config.json": K1 + "simple_lstm_th_keras_1_inputs_and_outputs.h5",
    K2 + "simple_rnn_tf_keras_2_model.h5": K2 + "simple_rnn_tf_keras_2_inputs_and_outputs.h5",
    K2 + "simple_rnn_tf_keras_2_config.json": K2 + "simple_rnn_tf_keras_2_inputs_and_outputs.h5",
    K2 + "causal_conv1d_k3_s1_d2_cl_model.h5": K2 + "causal_conv1d_k3_s1_d2_cl_inputs_and_outputs.h5",
    K2 + "cnn_batch_norm.h5": (K2 + "cnn_batch_norm_input.npy", K2 + "cnn_batch_norm_predictions.npy"),
}


def _catalog(ref: str | tuple[str, str]) -> Oracle:
    if isinstance(ref, tuple):
        x = np.load(corpus(ref[0]), allow_pickle=False).astype(np.float32)
        return Oracle("catalog", [x], [np.load(corpus(ref[1]), allow_pickle=False)])
    with h5py.File(corpus(ref), "r") as f:
        ins = json.loads(f.attrs["inputs"])["inputs"]
        outs = json.loads(f.attrs["outputs"])["outputs"]
        # predictions/ are the model's outputs; outputs/ are training targets (CATALOG.md).
        return Oracle("catalog", [np.asarray(f["inputs"][n], np.float32) for n in ins],
                      [np.asarray(f["predictions"][n], np.float32) for n in outs])


# ---------------------------------------------------------------------------- recorded Keras outputs


@cache
def _recorded_manifest() -> dict[str, dict]:
    return json.loads((REFERENCES / "references.json").read_text())


def _recorded(rel: str) -> Oracle:
    entry = _recorded_manifest()[rel]
    path = corpus(rel)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert digest == entry["sha256"], (f"{path} changed since its Keras outputs were recorded "
                                       "(rerun tests/fixtures/make_corpus_references.py)")
    with np.load(REFERENCES / "references.npz", allow_pickle=False) as z:
        return Oracle("recorded", [z[f"{rel}|in:{k}"] for k in range(len(entry["inputs"]))],
                      [z[f"{rel}|out:{k}"] for k in range(len(entry["outputs"]))])


# ---------------------------------------------------------------------------- independent NumPy models


def _weights(rel: str) -> dict[str, np.ndarray]:
    """Every weight array of a Keras 1 full-model file, by its name without the ':0' suffix."""
    found: dict[str, np.ndarray] = {}
    with h5py.File(corpus(rel), "r") as f:
        f["model_weights"].visititems(
            lambda n, o: found.__setitem__(n.split("/")[-1].split(":")[0], o[()]) if isinstance(o, h5py.Dataset)
            else None)
    return found


def _correlate_valid(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Valid cross-correlation, stride 1: x (N, H, W, C), w (KH, KW, C, O) -> (N, H-KH+1, W-KW+1, O)."""
    kh, kw = w.shape[:2]
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    out = np.zeros((x.shape[0], oh, ow, w.shape[3]))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,co->nhwo", x[:, i:i + oh, j:j + ow, :], w[i, j])
    return out


def _hard_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def conv2d_tensorflow_1(w: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Convolution2D(6, 3, 3, dim_ordering='tf', border_mode='valid'), linear."""
    return _correlate_valid(x.astype(np.float64), w["convolution2d_1_W"]) + w["convolution2d_1_b"]


def lstm_theano_1(w: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """LSTM(6), Keras 1 split gates, activation tanh, inner_activation hard_sigmoid, last state."""
    def gate(g: str, xt: np.ndarray, h: np.ndarray) -> np.ndarray:
        return xt @ w[f"lstm_1_W_{g}"] + h @ w[f"lstm_1_U_{g}"] + w[f"lstm_1_b_{g}"]

    h = np.zeros((x.shape[0], 6))
    c = np.zeros_like(h)
    for t in range(x.shape[1]):
        xt = x[:, t].astype(np.float64)
        i, f, o = (_hard_sigmoid(gate(g, xt, h)) for g in "ifo")
        c = f * c + i * np.tanh(gate("c", xt, h))
        h = o * np.tanh(c)
    return h


def embedding_conv1d_flatten_tensorflow_1(w: dict[str, np.ndarray], ids: np.ndarray) -> np.ndarray:
    """Embedding(4, 5) -> Convolution1D(6, 3, valid) -> Flatten (steps, then channels)."""
    e = w["embedding_1_W"][ids].astype(np.float64)  # (N, 10, 5)
    kernel = w["convolution1d_1_W"][:, 0]  # (3, 1, 5, 6): Keras 1 stores Conv1D as a (k, 1) Conv2D
    y = _correlate_valid(e[:, :, None, :], kernel[:, None]) [:, :, 0] + w["convolution1d_1_b"]
    return y.reshape(len(ids), -1)


# corpus file -> (model, inputs from a seeded generator)
NUMPY_MODELS: dict[str, tuple[Callable[..., np.ndarray], Callable[[np.random.Generator], np.ndarray]]] = {
    K1 + "conv2d_tensorflow_1.h5": (
        conv2d_tensorflow_1, lambda r: r.standard_normal((3, 5, 5, 5)).astype(np.float32)),
    K1 + "lstm_theano_1.h5": (lstm_theano_1, lambda r: r.standard_normal((3, 4, 1)).astype(np.float32)),
    K1 + "embedding_conv1d_flatten_tensorflow_1.h5": (
        embedding_conv1d_flatten_tensorflow_1, lambda r: r.integers(0, 4, (3, 10)).astype(np.int32)),
}


def _numpy(rel: str) -> Oracle:
    model, make_input = NUMPY_MODELS[rel]
    x = make_input(np.random.default_rng(7))
    return Oracle("numpy", [x], [model(_weights(rel), x).astype(np.float32)])


# ---------------------------------------------------------------------------- lookup


def oracle_kind(rel: str) -> str | None:
    """Which oracle ``rel`` has (None: none; only keras2cpp's model, tested elsewhere)."""
    if rel in CATALOG:
        return "catalog"
    if rel in NUMPY_MODELS:
        return "numpy"
    if rel in _recorded_manifest():
        return "recorded"
    return None


def oracle(rel: str) -> Oracle:
    """The oracle of corpus file ``rel`` (skips the test when the corpus is absent)."""
    kind = oracle_kind(rel)
    if kind == "catalog":
        return _catalog(CATALOG[rel])
    if kind == "numpy":
        return _numpy(rel)
    if kind == "recorded":
        return _recorded(rel)
    raise KeyError(f"{rel} has no value oracle")
