"""Recurrent handlers (SimpleRNN, LSTM, GRU), their wrappers (Bidirectional, TimeDistributed) and
Keras masks (Masking, Embedding(mask_zero=True)).

Oracles:
- Keras' own recorded outputs: the real-Keras fixtures (tests/fixtures), the reference data of the
  public corpus, and outputs recorded with tf.keras 2.21 for the masking models below (by
  tests/convert/keras/layers/record_keras_outputs.py; weights and inputs written out here, so no TensorFlow is
  needed to run the test);
- an independent NumPy implementation of the Keras cells (``np_rnn``) for the configurations the
  corpus and fixtures do not pin (GRU in both reset_after modes, go_backwards, return_state,
  initial_state, every Bidirectional merge mode, use_bias=False, Keras 3 hard_sigmoid).
"""

from __future__ import annotations

import json
import h5py
import numpy as np
import pytest

from keras2edge.convert.keras import load_keras
from keras2edge.errors import UnsupportedLayerError, WeightsMismatchError
from keras2edge.ir import Graph, Value
from keras2edge.ir.evaluate import evaluate

from tests.corpus import corpus
from tests.ir_graphs import ops
from tests.tolerances import rel_err

from ..helpers import (
    assert_matches_recording,
    check_fixture,
    f32,
    fixture_entries,
    fixture_id,
    functional,
    keras_recording,
    layer,
    load_built,
    normal_draws,
    run,
    run1,
    sequential,
)

RNN_CLASSES = ("SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed", "Masking")
RNG = np.random.default_rng(11)
TOL = 1e-5
_r = normal_draws(RNG, scale=0.5)


# ---------------------------------------------------------------------------- NumPy oracle


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def hard_sigmoid_k2(x: np.ndarray) -> np.ndarray:
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def hard_sigmoid_k3(x: np.ndarray) -> np.ndarray:
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)


def np_rnn(cls: str, x: np.ndarray, kernel: np.ndarray, rec: np.ndarray, bias: np.ndarray | None, *,
           reset_after: bool = True, act=np.tanh, ract=sigmoid, go_backwards: bool = False,
           mask: np.ndarray | None = None, zero_output: bool = False,
           initial: list[np.ndarray] | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Keras RNN semantics, step by step in float64: (outputs (B, T, u) in processed order, final states)."""
    x = x.astype(np.float64)
    b, steps, _ = x.shape
    u = rec.shape[0]
    h = np.zeros((b, u)) if initial is None else initial[0].astype(np.float64)
    c = np.zeros((b, u)) if initial is None or len(initial) < 2 else initial[1].astype(np.float64)
    prev_out = np.zeros((b, u))
    outs = []
    for t in (range(steps - 1, -1, -1) if go_backwards else range(steps)):
        xt = x[:, t]
        if cls == "SimpleRNN":
            hn, cn = act(xt @ kernel + h @ rec + (0 if bias is None else bias)), c
        elif cls == "LSTM":
            z = xt @ kernel + h @ rec + (0 if bias is None else bias)
            zi, zf, zc, zo = (z[:, k * u:(k + 1) * u] for k in range(4))
            cn = ract(zf) * c + ract(zi) * act(zc)
            hn = ract(zo) * act(cn)
        else:
            if reset_after:
                bi = 0 if bias is None else bias[0]
                br = 0 if bias is None else bias[1]
                xw, hu = xt @ kernel + bi, h @ rec + br
                z = ract(xw[:, :u] + hu[:, :u])
                r = ract(xw[:, u:2 * u] + hu[:, u:2 * u])
                hh = act(xw[:, 2 * u:] + r * hu[:, 2 * u:])
            else:
                xw = xt @ kernel + (0 if bias is None else bias)
                z = ract(xw[:, :u] + h @ rec[:, :u])
                r = ract(xw[:, u:2 * u] + h @ rec[:, u:2 * u])
                hh = act(xw[:, 2 * u:] + (r * h) @ rec[:, 2 * u:])
            hn, cn = z * h + (1 - z) * hh, c
        m = np.ones((b, 1), bool) if mask is None else mask[:, t][:, None]
        out = np.where(m, hn, 0.0 if zero_output else prev_out)
        h, c = np.where(m, hn, h), np.where(m, cn, c)
        prev_out = out
        outs.append(out)
    return np.stack(outs, axis=1), ([h, c] if cls == "LSTM" else [h])


def rnn_weights(cls: str, f: int, u: int, *, reset_after: bool = True, use_bias: bool = True) -> list[np.ndarray]:
    g = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[cls]
    ws = [_r(f, g * u), _r(u, g * u)]
    if use_bias:
        ws.append(_r(2, g * u) if cls == "GRU" and reset_after else _r(g * u))
    return ws


def named(prefix: str, ws: list[np.ndarray]) -> list[tuple[str, np.ndarray]]:
    return [(f"{prefix}{n}", w) for n, w in zip(("kernel", "recurrent_kernel", "bias"), ws)]


def rnn_layer(cls: str, name: str, units: int, **cfg) -> dict:
    base = {"units": units, "activation": "tanh", "use_bias": True}
    if cls != "SimpleRNN":
        base["recurrent_activation"] = "sigmoid"
    if cls == "GRU":
        base["reset_after"] = True
    base.update(cfg)
    return layer(cls, name, **base)


def layer_value(graph: Graph, name: str) -> Value:
    """The value a Keras layer hands on: made by one of its nodes and used by another layer."""
    cands = [v for n in graph.nodes if n.origin and n.origin.layer == name for v in n.outputs
             if graph.is_output(v) or any(u.origin is None or u.origin.layer != name for u, _ in v.uses)]
    assert len(cands) == 1, cands
    return cands[0]


def eval_value(graph: Graph, value: Value, feeds: dict[str, np.ndarray]) -> np.ndarray:
    saved = graph.outputs
    graph.outputs = [value]
    try:
        return evaluate(graph, feeds)[value.name]
    finally:
        graph.outputs = saved


# ---------------------------------------------------------------------------- real Keras fixtures


@pytest.mark.parametrize("entry", fixture_entries(RNN_CLASSES), ids=fixture_id)
def test_fixture_matches_keras(entry: dict) -> None:
    check_fixture(entry)


# ---------------------------------------------------------------------------- public corpus


@pytest.mark.parametrize("files", [
    ("keras1/simple_lstm_th_keras_1_model.h5", None),
    ("keras1/simple_lstm_th_keras_1_config.json", "keras1/simple_lstm_th_keras_1_weights.h5"),
], ids=["full-h5", "json+weights"])
def test_corpus_keras1_lstm_matches_reference(files: tuple[str, str | None]) -> None:
    model, weights = files
    g = load_keras(corpus(f"dl4j-test-resources/{model}"),
                   weights=corpus(f"dl4j-test-resources/{weights}") if weights else None)
    with h5py.File(corpus("dl4j-test-resources/keras1/simple_lstm_th_keras_1_inputs_and_outputs.h5")) as f:
        x = f["inputs/lstm_input_1"][()]
        pred, act = f["predictions/dense_1"][()], f["activations/lstm_1"][()]
    feeds = {g.inputs[0].name: x}
    assert rel_err(run1(g, x), pred) <= TOL
    assert rel_err(eval_value(g, layer_value(g, "lstm_1"), feeds), act) <= TOL


@pytest.mark.parametrize("files", [
    ("keras2/simple_rnn_tf_keras_2_model.h5", None),
    ("keras2/simple_rnn_tf_keras_2_config.json", "keras2/simple_rnn_tf_keras_2_weights.h5"),
], ids=["full-h5", "json+weights"])
def test_corpus_keras2_simple_rnn_matches_reference(files: tuple[str, str | None]) -> None:
    model, weights = files
    g = load_keras(corpus(f"dl4j-test-resources/{model}"),
                   weights=corpus(f"dl4j-test-resources/{weights}") if weights else None)
    assert g.inputs[0].shape == (25, 1, 1)  # the file's fixed batch is kept
    with h5py.File(corpus("dl4j-test-resources/keras2/simple_rnn_tf_keras_2_inputs_and_outputs.h5")) as f:
        x = f["inputs/simple_rnn_1_input"][()]
        pred, act = f["predictions/dense_1"][()], f["activations/simple_rnn_1"][()]
    assert rel_err(run1(g, x), pred) <= TOL
    assert rel_err(eval_value(g, layer_value(g, "simple_rnn_1"), {g.inputs[0].name: x}), act) <= TOL


def test_corpus_keras1_theano_lstm_split_gates_match_numpy() -> None:
    """Keras 1 split arrays (listed i, c, f, o) computed gate by gate from the file's own arrays."""
    path = corpus("dl4j-test-resources/keras1/lstm_theano_1.h5")
    g = load_keras(path)
    with h5py.File(path) as f:
        grp = f["model_weights/lstm_1"]
        w = {n.decode()[len("lstm_1_"):]: grp[n.decode()][()].astype(np.float64) for n in grp.attrs["weight_names"]}
    x = _r(3, 4, 1, scale=1.0)
    h = c = np.zeros((3, 6))
    for t in range(4):
        xt = x[:, t].astype(np.float64)

        def gate(k: str, fn) -> np.ndarray:
            return fn(xt @ w[f"W_{k}"] + h @ w[f"U_{k}"] + w[f"b_{k}"])
        i, fg, o = gate("i", hard_sigmoid_k2), gate("f", hard_sigmoid_k2), gate("o", hard_sigmoid_k2)
        c = fg * c + i * gate("c", np.tanh)
        h = o * np.tanh(c)
    assert rel_err(run1(g, x), h) <= TOL


def test_corpus_bidirectional_lstm_matches_numpy() -> None:
    path = corpus("dl4j-test-resources/keras2/bidirectional_lstm_tensorflow_2.h5")
    g = load_keras(path)
    with h5py.File(path) as f:
        grp = f["model_weights/bidirectional_1/bidirectional_1"]
        fw = [grp[f"forward_lstm_1/{n}:0"][()] for n in ("kernel", "recurrent_kernel", "bias")]
        bw = [grp[f"backward_lstm_1/{n}:0"][()] for n in ("kernel", "recurrent_kernel", "bias")]
    x = _r(2, 4, 10, scale=1.0)
    yf, _ = np_rnn("LSTM", x, *fw, ract=hard_sigmoid_k2)
    yb, _ = np_rnn("LSTM", x, *bw, ract=hard_sigmoid_k2, go_backwards=True)
    want = np.concatenate([yf, yb[:, ::-1]], axis=-1)
    assert g.outputs[0].shape == (None, 4, 20)
    assert rel_err(run1(g, x), want) <= TOL


def test_corpus_reshape_then_lstm_gives_finite_outputs() -> None:
    g = load_keras(corpus("dl4j-test-resources/keras2/reshape_model.h5"))
    y = run1(g, _r(5, 10, scale=1.0))
    assert y.shape == (5, 1) and np.all(np.isfinite(y)) and np.all((y >= 0) & (y <= 1))


def test_corpus_keras3_ner_lstm_gives_finite_probabilities() -> None:
    g = load_keras(corpus("github-keras3/ner_lstm_model.keras"))
    ids = RNG.integers(0, 3320, size=(2, 100)).astype(np.float32)  # the model's input dtype is float32
    y = run1(g, ids)
    assert y.shape == (2, 100, 17) and np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-5)


def test_corpus_masking_lstm_matches_numpy_with_mask() -> None:
    """Keras 2.2.0 Masking(0) -> LSTM(hard_sigmoid): masked steps keep the state (numbers from NumPy)."""
    path = corpus("dl4j-test-resources/keras2/masking_zero_lstm.h5")
    g = load_keras(path)
    with h5py.File(path) as f:
        grp = f["model_weights/lstm_1/lstm_1"]
        ws = [grp[f"{n}:0"][()] for n in ("kernel", "recurrent_kernel", "bias")]
    x = _r(4, 10, 42, scale=1.0)
    x[0, 6:] = 0  # post-padding
    x[1, :3] = 0  # pre-padding
    x[2, 4] = 0  # a hole
    mask = np.any(x != 0, axis=-1)
    _, (h, _) = np_rnn("LSTM", x, *ws, ract=hard_sigmoid_k2, mask=mask)
    assert rel_err(run1(g, x), h) <= TOL
    _, (h_nomask, _) = np_rnn("LSTM", x, *ws, ract=hard_sigmoid_k2)
    assert np.abs(h_nomask - h).max() > 1e-3  # the mask matters for these inputs


# ---------------------------------------------------------------------------- Keras-recorded masks
# Keras' outputs for these models are recorded by tests/convert/keras/layers/record_keras_outputs.py (tf_keras 2.21
# loads the very file the test imports) in tests/fixtures/keras_recordings.npz; weights (2 decimals)
# and inputs are written out here. Model: x (4, 3) -> Masking(0) -> [LSTM(2, seq) ->
# GRU(2, reset_after=False)], LSTM(2), Bidirectional(GRU(2, seq)), SimpleRNN(2, seq, go_backwards,
# zero_output_for_mask=True).

MASKING_INPUT = np.array([
    [[2.04, -2.56, 0.42], [-0.57, -0.45, -0.22], [0, 0, 0], [0, 0, 0]],
    [[-0.28, -0.67, -1.06], [0, 0, 0], [0.96, -0.2, 0.02], [1.55, 0.55, -0.51]],
    [[0, 0, 0], [-0.27, -0.24, 1.0], [-0.89, -0.29, 0.88], [0.58, 0.09, 0.67]]], np.float32)


MASKING_WEIGHTS = {
    "lstm_seq": [
        ("lstm_cell/kernel", f32([0.48, 0.44, -0.56, 0.66, 0.32, 0.37, 0.64, -0.14, 0.52, 0.76, -0.8, 0.7, -0.21, -0.04,
                                  -0.71, 0.4, -0.42, 0.74, -0.45, 0.12, -0.2, 0.23, -0.61, -0.64], 3, 8)),
        ("lstm_cell/recurrent_kernel", f32([0.49, 0.5, 0.13, 0.84, -0.59, 0.7, -0.66, 0.93, 0.25, 0.21, 0.94, 0.57,
                                            0.58, -0.89, -0.26, -0.83], 2, 8)),
        ("lstm_cell/bias", f32([-0.61, -0.57, 0.72, -0.75, -0.41, -0.01, 0.7, 0.93], 8)),
    ],
    "lstm_last": [
        ("lstm_cell/kernel", f32([0.42, -0.57, 0.09, 0.41, -0.9, 0.36, -0.26, 0.18, 0.34, 0.34, 0.05, 0.11, -0.6, -0.01,
                                  -0.75, -0.04, 0.07, 0.55, -0.21, -0.96, 0.06, -0.59, 0.48, -0.22], 3, 8)),
        ("lstm_cell/recurrent_kernel", f32([-0.24, 0.82, -0.21, -0.3, -0.3, -0.04, -0.81, 0.09, 0.84, 0.13, 0.49, 0.89,
                                            0.68, 0.49, 0.63, 0.64], 2, 8)),
        ("lstm_cell/bias", f32([-0.49, -0.04, -0.31, -0.48, 0.14, -0.36, 0.24, 0.16], 8)),
    ],
    "bi_gru": [
        ("forward_gru/gru_cell/kernel", f32([-0.79, -0.12, -0.22, 0.41, -0.82, -0.66, 0.03, -0.19, 0.33, -0.33, -0.61,
                                             0.86, -0.51, -0.71, -0.44, -0.32, -0.55, 0.07], 3, 6)),
        ("forward_gru/gru_cell/recurrent_kernel", f32([0.87, -0.75, -0.17, 0.34, 0.77, 1.0, -0.71, 0.07, 0.76, -0.89,
                                                       0.18, -0.65], 2, 6)),
        ("forward_gru/gru_cell/bias", f32([0.54, 0.88, 0.08, -0.98, -0.87, -0.17, 0.69, -0.53, 0.34, -0.19, -0.47,
                                           0.41], 2, 6)),
        ("backward_gru/gru_cell/kernel", f32([-0.38, -0.26, 0.53, -0.01, 0.57, 0.03, -0.68, -0.11, 0.75, 0.13, 0.93,
                                              -1.0, -0.32, 0.54, 0.37, 0.12, 0.33, 0.75], 3, 6)),
        ("backward_gru/gru_cell/recurrent_kernel", f32([0.37, 0.09, 0.12, 0.33, -0.35, 0.34, 0.23, 0.57, -0.04, -0.95,
                                                        0.07, 0.72], 2, 6)),
        ("backward_gru/gru_cell/bias", f32([0.28, 0.29, -0.22, -0.29, 0.44, -0.84, 0.73, 0.75, 0.92, -0.73, -0.77,
                                            0.79], 2, 6)),
    ],
    "rnn_back": [
        ("simple_rnn_cell/kernel", f32([-0.2, -0.46, -0.24, 0.32, -0.68, -0.03], 3, 2)),
        ("simple_rnn_cell/recurrent_kernel", f32([0.32, 0.44, -0.98, 0.62], 2, 2)),
        ("simple_rnn_cell/bias", f32([-0.13, -0.13], 2)),
    ],
    "gru_stacked": [
        ("gru_cell/kernel", f32([0.12, -0.44, 0.77, -0.58, 0.09, -0.66, 0.23, 0.8, 0.77, -0.73, 0.25, 0.79], 2, 6)),
        ("gru_cell/recurrent_kernel", f32([-0.6, -0.17, 0.43, 0.48, -0.1, 0.28, 0.34, -0.29, 0.3, 0.15, 0.39, 0.02],
                                          2, 6)),
        ("gru_cell/bias", f32([-0.33, -0.13, 0.84, -0.62, -0.7, -0.98], 6)),
    ],
}

# ids (5,) -> Embedding(6, 3, mask_zero=True) -> [SimpleRNN(2, seq), Bidirectional(LSTM(2), merge_mode="ave")]
EMBEDDING_INPUT = np.array([[1, 2, 0, 0, 0], [3, 0, 4, 5, 0]], np.float32)
EMBEDDING_WEIGHTS = {
    "emb": [("embeddings", f32([0.7, 0.98, -0.53, -0.47, -0.6, 0.2, -0.03, 0.64, -0.58, 0.76, -0.07, 0.62, 0.6, 0.82,
                                -0.0, 0.22, 0.12, -0.62], 6, 3))],
    "rnn": [
        ("simple_rnn_cell/kernel", f32([0.0, 0.85, 0.82, -0.96, 0.33, -0.35], 3, 2)),
        ("simple_rnn_cell/recurrent_kernel", f32([-0.73, -0.72, 0.59, 0.92], 2, 2)),
        ("simple_rnn_cell/bias", f32([0.04, -0.23], 2)),
    ],
    "bi_last": [
        ("forward_lstm/lstm_cell/kernel", f32([0.02, 0.66, 0.49, -0.87, -0.57, 0.74, -0.01, 0.32, 0.56, 0.27, 0.47,
                                               0.09, -0.54, -0.63, 0.99, -0.98, 0.38, 0.76, -0.54, -0.9, -0.2, -0.34,
                                               -0.08, -0.15], 3, 8)),
        ("forward_lstm/lstm_cell/recurrent_kernel", f32([0.88, -0.76, 0.89, -0.91, 0.88, -0.33, 0.45, -0.99, -0.11,
                                                         0.36, 0.26, 0.61, -0.69, -0.2, 0.23, -0.94], 2, 8)),
        ("forward_lstm/lstm_cell/bias", f32([0.67, -0.17, -0.51, -0.56, 0.3, -0.9, -0.51, -0.39], 8)),
        ("backward_lstm/lstm_cell/kernel", f32([-0.48, 0.46, 0.18, 0.81, 0.4, -0.41, -0.35, -0.75, -0.51, 0.21, 0.46,
                                                -0.41, -0.31, 0.61, 0.92, -0.83, -0.86, 0.52, -0.01, -0.15, 0.27, 0.52,
                                                -0.86, 0.92], 3, 8)),
        ("backward_lstm/lstm_cell/recurrent_kernel", f32([0.92, -0.17, -0.06, -0.46, 0.17, -0.59, 0.07, 0.81, 0.01,
                                                          0.65, -0.64, 0.77, -0.75, -0.57, 0.44, -0.4], 2, 8)),
        ("backward_lstm/lstm_cell/bias", f32([-0.76, -0.83, 0.59, -0.96, -0.89, 0.89, 0.56, -0.26], 8)),
    ],
}


def _masking_config() -> dict:
    gru_fwd = {"class_name": "GRU", "config": {"name": "gru", "units": 2, "return_sequences": True,
                                               "activation": "tanh", "recurrent_activation": "sigmoid",
                                               "use_bias": True, "reset_after": True}}
    return functional({"x": (4, 3)}, [
        (layer("Masking", "mask", mask_value=0.0), ["x"]),
        (rnn_layer("LSTM", "lstm_seq", 2, return_sequences=True), ["mask"]),
        (rnn_layer("LSTM", "lstm_last", 2), ["mask"]),
        (layer("Bidirectional", "bi_gru", layer=gru_fwd, merge_mode="concat"), ["mask"]),
        (rnn_layer("SimpleRNN", "rnn_back", 2, return_sequences=True, go_backwards=True, zero_output_for_mask=True),
         ["mask"]),
        (rnn_layer("GRU", "gru_stacked", 2, reset_after=False), ["lstm_seq"]),
    ], ["lstm_seq", "lstm_last", "bi_gru", "rnn_back", "gru_stacked"])


def test_masking_matches_keras_recording(tmp_path) -> None:
    g = load_built(tmp_path, _masking_config(), MASKING_WEIGHTS, keras_version="2.21.0")
    assert_matches_recording(run(g, MASKING_INPUT), "masking")


def test_masking_numpy_oracle_agrees_with_keras_recording() -> None:
    """The NumPy oracle's mask semantics are Keras' (so the NumPy-only tests below check the right thing)."""
    mask = np.any(MASKING_INPUT != 0, axis=-1)
    ws = [w for _, w in MASKING_WEIGHTS["rnn_back"]]
    y, _ = np_rnn("SimpleRNN", MASKING_INPUT, *ws, go_backwards=True, mask=mask, zero_output=True)
    assert rel_err(y, keras_recording("masking")[3]) <= 2e-6
    ws = [w for _, w in MASKING_WEIGHTS["lstm_seq"]]
    y, _ = np_rnn("LSTM", MASKING_INPUT, *ws, mask=mask)
    assert rel_err(y, keras_recording("masking")[0]) <= 2e-6


def _embedding_config() -> dict:
    bi_layer = {"class_name": "LSTM", "config": {"name": "lstm", "units": 2, "activation": "tanh",
                                                 "recurrent_activation": "sigmoid", "use_bias": True}}
    return functional({"ids": (5,)}, [
        (layer("Embedding", "emb", input_dim=6, output_dim=3, mask_zero=True), ["ids"]),
        (rnn_layer("SimpleRNN", "rnn", 2, return_sequences=True), ["emb"]),
        (layer("Bidirectional", "bi_last", layer=bi_layer, merge_mode="ave"), ["emb"]),
    ], ["rnn", "bi_last"])


def test_embedding_mask_zero_matches_keras_recording(tmp_path) -> None:
    g = load_built(tmp_path, _embedding_config(), EMBEDDING_WEIGHTS, keras_version="2.21.0")
    assert_matches_recording(run(g, EMBEDDING_INPUT), "embedding_mask")


def test_mask_through_unmodelled_layer_is_refused(tmp_path) -> None:
    cfg = sequential((4, 3), [layer("Masking", "mask", mask_value=0.0),
                              layer("Dense", "dense", units=3, activation="linear", use_bias=False),
                              rnn_layer("LSTM", "lstm", 2)])
    weights = {"dense": [("kernel", _r(3, 3))], "lstm": named("", rnn_weights("LSTM", 3, 2))}
    with pytest.raises(UnsupportedLayerError) as ei:
        load_built(tmp_path, cfg, weights)
    assert "LSTM" in str(ei.value) and "'mask'" in str(ei.value) and "mask" in str(ei.value)


# ---------------------------------------------------------------------------- NumPy oracle cases


CASES = [
    ("SimpleRNN", {}),
    ("SimpleRNN", {"return_sequences": True, "go_backwards": True, "activation": "relu"}),
    ("LSTM", {"return_sequences": True}),
    ("LSTM", {"go_backwards": True, "return_state": True}),
    ("LSTM", {"use_bias": False, "recurrent_activation": "hard_sigmoid"}),
    ("GRU", {"reset_after": True, "return_sequences": True}),
    ("GRU", {"reset_after": False, "return_sequences": True}),
    ("GRU", {"reset_after": True, "go_backwards": True, "return_state": True}),
    ("GRU", {"reset_after": False, "use_bias": False}),
    ("GRU", {"reset_after": True, "use_bias": False, "return_sequences": True}),
]


@pytest.mark.parametrize("cls,cfg", CASES, ids=[f"{c}-{'-'.join(f'{k}={v}' for k, v in o.items())}" for c, o in CASES])
def test_rnn_matches_numpy(tmp_path, cls: str, cfg: dict) -> None:
    units, feats, steps = 3, 4, 5
    ws = rnn_weights(cls, feats, units, reset_after=cfg.get("reset_after", True), use_bias=cfg.get("use_bias", True))
    g = load_built(tmp_path, sequential((steps, feats), [rnn_layer(cls, "rnn", units, **cfg)]),
                   {"rnn": named("rnn_cell/", ws)})
    x = _r(2, steps, feats, scale=1.0)
    acts = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0)}
    ract = hard_sigmoid_k2 if cfg.get("recurrent_activation") == "hard_sigmoid" else sigmoid
    seq, states = np_rnn(cls, x, ws[0], ws[1], ws[2] if len(ws) > 2 else None,
                         reset_after=cfg.get("reset_after", True), act=acts[cfg.get("activation", "tanh")], ract=ract,
                         go_backwards=cfg.get("go_backwards", False))
    want = [seq if cfg.get("return_sequences") else seq[:, -1]] + (states if cfg.get("return_state") else [])
    got = run(g, x) if len(g.outputs) > 1 else [run1(g, x)]
    if cfg.get("return_state"):  # a Sequential model returns only the first output
        assert len(got) == 1
        want = want[:1]
    for a, b in zip(got, want):
        assert rel_err(a, b) <= TOL


def test_rnn_return_state_and_initial_state_match_numpy(tmp_path) -> None:
    ws = rnn_weights("LSTM", 3, 4)
    cfg = functional({"x": (6, 3), "h0": (4,), "c0": (4,)}, [
        (rnn_layer("LSTM", "lstm", 4, return_sequences=True, return_state=True), ["x", "h0", "c0"]),
    ], ["lstm"])
    cfg["config"]["output_layers"] = [["lstm", 0, 0], ["lstm", 0, 1], ["lstm", 0, 2]]
    g = load_built(tmp_path, cfg, {"lstm": named("lstm_cell/", ws)})
    x, h0, c0 = _r(2, 6, 3, scale=1.0), _r(2, 4), _r(2, 4)
    seq, (h, c) = np_rnn("LSTM", x, *ws, initial=[h0, c0])
    feeds = {"x": x, "h0": h0, "c0": c0}
    outs = evaluate(g, feeds)
    for v, want in zip(g.outputs, (seq, h, c)):
        assert rel_err(outs[v.name], want) <= TOL


def test_keras3_hard_sigmoid_in_recurrent_activation(tmp_path) -> None:
    ws = rnn_weights("GRU", 3, 2)
    x = _r(2, 4, 3, scale=3.0)
    for version, fn in (("2.2.4", hard_sigmoid_k2), ("3.1.0", hard_sigmoid_k3)):
        g = load_built(tmp_path, sequential((4, 3), [rnn_layer("GRU", "gru", 2, recurrent_activation="hard_sigmoid")]),
                       {"gru": named("gru_cell/", ws)}, keras_version=version)
        seq, _ = np_rnn("GRU", x, *ws, ract=fn)
        assert rel_err(run1(g, x), seq[:, -1]) <= TOL, version


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merge_modes_match_numpy(tmp_path, merge_mode: str | None) -> None:
    inner = {"class_name": "GRU", "config": {"name": "gru", "units": 3, "return_sequences": True, "activation": "tanh",
                                             "recurrent_activation": "sigmoid", "reset_after": False}}
    fw, bw = rnn_weights("GRU", 4, 3, reset_after=False), rnn_weights("GRU", 4, 3, reset_after=False)
    cfg = functional({"x": (5, 4)}, [(layer("Bidirectional", "bi", layer=inner, merge_mode=merge_mode), ["x"])],
                     ["bi"])
    if merge_mode is None:
        cfg["config"]["output_layers"] = [["bi", 0, 0], ["bi", 0, 1]]
    g = load_built(tmp_path, cfg, {"bi": named("forward_gru/gru_cell/", fw) + named("backward_gru/gru_cell/", bw)})
    x = _r(2, 5, 4, scale=1.0)
    yf, _ = np_rnn("GRU", x, *fw, reset_after=False)
    yb, _ = np_rnn("GRU", x, *bw, reset_after=False, go_backwards=True)
    yb = yb[:, ::-1]  # Keras flips the backward sequence back to forward time order
    want = {"concat": [np.concatenate([yf, yb], -1)], "sum": [yf + yb], "mul": [yf * yb], "ave": [(yf + yb) / 2],
            None: [yf, yb]}[merge_mode]
    for got, w in zip(run(g, x), want):
        assert rel_err(got, w) <= TOL


def test_bidirectional_keras1_split_weights(tmp_path) -> None:
    """Keras 1 Bidirectional(LSTM): forward_/backward_ split arrays in i, c, f, o order."""
    fw, bw = rnn_weights("LSTM", 2, 3), rnn_weights("LSTM", 2, 3)
    u = 3

    def split(prefix: str, ws: list[np.ndarray]) -> list[tuple[str, np.ndarray]]:
        out = []
        for gate, k in (("i", 0), ("c", 2), ("f", 1), ("o", 3)):  # Keras 1 lists i, c, f, o
            for n, w in zip("WUb", ws):
                out.append((f"{prefix}_lstm_1_{n}_{gate}", w[..., k * u:(k + 1) * u]))
        return out

    inner = {"class_name": "LSTM", "config": {"name": "lstm_1", "output_dim": 3, "activation": "tanh",
                                              "inner_activation": "sigmoid", "return_sequences": False,
                                              "input_dim": 2, "consume_less": "cpu"}}
    cfg = {"class_name": "Sequential", "config": [
        {"class_name": "Bidirectional", "config": {"name": "bi", "layer": inner, "merge_mode": "sum",
                                                   "batch_input_shape": [None, 4, 2], "input_dtype": "float32"}}]}
    g = load_built(tmp_path, cfg, {"bi": split("forward", fw) + split("backward", bw)}, keras_version="1.2.2")
    x = _r(2, 4, 2, scale=1.0)
    yf, _ = np_rnn("LSTM", x, *fw)
    yb, _ = np_rnn("LSTM", x, *bw, go_backwards=True)
    assert rel_err(run1(g, x), yf[:, -1] + yb[:, -1]) <= TOL


def test_time_distributed_dense_and_conv(tmp_path) -> None:
    k, b = _r(4, 3), _r(3)
    cfg = sequential((5, 4), [layer("TimeDistributed", "td", layer={"class_name": "Dense", "config": {
        "name": "dense", "units": 3, "activation": "relu", "use_bias": True}})])
    g = load_built(tmp_path, cfg, {"td": [("kernel", k), ("bias", b)]})
    x = _r(2, 5, 4, scale=1.0)
    assert rel_err(run1(g, x), np.maximum(x @ k + b, 0)) <= TOL

    w = _r(3, 3, 2, 4)
    cfg = sequential((3, 6, 6, 2), [layer("TimeDistributed", "td", layer={"class_name": "Conv2D", "config": {
        "name": "conv", "filters": 4, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid",
        "data_format": "channels_last", "dilation_rate": [1, 1], "activation": "linear", "use_bias": False}})])
    g = load_built(tmp_path, cfg, {"td": [("kernel", w)]})
    x = _r(2, 3, 6, 6, 2, scale=1.0)
    want = np.stack([np.einsum("nhwc,hwco->no", x[:, :, i:i + 3, j:j + 3, :].reshape(6, 3, 3, 2), w)
                     for i in range(4) for j in range(4)], axis=1).reshape(2, 3, 4, 4, 4)
    assert rel_err(run1(g, x), want) <= TOL


# ---------------------------------------------------------------------------- refusals and errors


def test_unknown_sequence_length_is_refused_with_advice(tmp_path) -> None:
    cfg = sequential((None, 3), [rnn_layer("GRU", "gru", 2)])
    weights = {"gru": named("gru_cell/", rnn_weights("GRU", 3, 2))}
    with pytest.raises(UnsupportedLayerError) as ei:
        load_built(tmp_path, cfg, weights)
    assert "GRU" in str(ei.value) and "--input-shape" in str(ei.value) and "gru" in str(ei.value)
    g = load_keras(str(tmp_path / "model.h5"), input_shapes={"x": (1, 7, 3)})
    assert g.outputs[0].shape == (1, 2)


def test_stateful_is_refused(tmp_path) -> None:
    cfg = sequential((4, 3), [rnn_layer("LSTM", "lstm", 2, stateful=True)])
    with pytest.raises(UnsupportedLayerError, match="stateful"):
        load_built(tmp_path, cfg, {"lstm": named("lstm_cell/", rnn_weights("LSTM", 3, 2))})


def test_wrong_recurrent_kernel_shape_names_layer_and_shapes(tmp_path) -> None:
    ws = rnn_weights("LSTM", 3, 2)
    ws[1] = _r(3, 8)
    with pytest.raises(WeightsMismatchError) as ei:
        load_built(tmp_path, sequential((4, 3), [rnn_layer("LSTM", "lstm", 2)]), {"lstm": named("lstm_cell/", ws)})
    msg = str(ei.value)
    assert "'lstm'" in msg and "recurrent_kernel" in msg and "(3, 8)" in msg and "(2, 8)" in msg


def test_unrolled_graph_uses_one_input_projection(tmp_path) -> None:
    g = load_built(tmp_path, sequential((5, 3), [rnn_layer("LSTM", "lstm", 2)]),
                   {"lstm": named("lstm_cell/", rnn_weights("LSTM", 3, 2))})
    fcs = [n for n in g.nodes if n.op == "FullyConnected"]
    assert fcs[0].inputs[0] is g.inputs[0] and fcs[0].outputs[0].shape == (None, 5, 8)
    assert len(fcs) == 1 + 4  # x @ kernel once; h @ recurrent_kernel from the second step on
    assert "Split" in ops(g) and json.dumps(g.outputs[0].shape) == "[null, 2]"


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "SimpleRNN"])
def test_keras1_split_arrays_match_numpy(tmp_path, cls: str) -> None:
    """Keras 1 files store one array per gate, listed i, c, f, o (LSTM) and z, r, h (GRU)."""
    u, f = 3, 2
    ws = rnn_weights(cls, f, u, reset_after=False)
    listed = {"LSTM": (("i", 0), ("c", 2), ("f", 1), ("o", 3)), "GRU": (("z", 0), ("r", 1), ("h", 2))}.get(cls)
    if listed is None:
        arrays = [(f"rnn_1_{n}", w) for n, w in zip("WUb", ws)]
    else:
        arrays = [(f"rnn_1_{n}_{gate}", w[..., k * u:(k + 1) * u]) for gate, k in listed for n, w in zip("WUb", ws)]
    cfg = {"class_name": "Sequential", "config": [{"class_name": cls, "config": {
        "name": "rnn_1", "output_dim": u, "activation": "tanh", "inner_activation": "hard_sigmoid",
        "return_sequences": True, "go_backwards": False, "stateful": False, "consume_less": "cpu",
        "batch_input_shape": [None, 4, f], "input_dtype": "float32"}}]}
    g = load_built(tmp_path, cfg, {"rnn_1": arrays}, keras_version="1.2.2")
    x = _r(2, 4, f, scale=1.0)
    seq, _ = np_rnn(cls, x, *ws, reset_after=False, ract=hard_sigmoid_k2)
    assert rel_err(run1(g, x), seq) <= TOL


def test_rnn_layer_with_cell_matches_numpy(tmp_path) -> None:
    ws = rnn_weights("GRU", 3, 4)
    cell = {"class_name": "GRUCell", "config": {"name": "gru_cell", "units": 4, "activation": "tanh",
                                                "recurrent_activation": "sigmoid", "use_bias": True,
                                                "reset_after": True}}
    cfg = sequential((5, 3), [layer("RNN", "rnn", cell=cell, return_sequences=True, go_backwards=True)])
    g = load_built(tmp_path, cfg, {"rnn": named("gru_cell/", ws)})
    x = _r(2, 5, 3, scale=1.0)
    seq, _ = np_rnn("GRU", x, *ws, go_backwards=True)
    assert rel_err(run1(g, x), seq) <= TOL
    stacked = sequential((5, 3), [layer("RNN", "rnn", cell=[cell, cell])])
    with pytest.raises(UnsupportedLayerError, match="stacked cells"):
        load_built(tmp_path, stacked, {"rnn": named("gru_cell/", ws)})
