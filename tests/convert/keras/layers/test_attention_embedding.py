"""MultiHeadAttention and Embedding handlers.

Oracles: Keras' recorded outputs (tests/fixtures; for the masked and causal attention model below,
tf.keras 2.21's outputs recorded by tests/convert/keras/layers/record_keras_outputs.py), the public corpus (a Keras 1 Embedding -> Convolution1D model
computed from the file's own arrays), and an independent NumPy multi-head attention (einsum on the
(D, H, d) kernels, as Keras computes it) for the options neither pins.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from keras2edge.convert.keras import load_keras
from keras2edge.errors import UnsupportedLayerError, WeightsMismatchError
from keras2edge.ir.evaluate import evaluate

from tests.corpus import corpus
from tests.tolerances import rel_err

from ..helpers import (
    assert_matches_recording,
    check_fixture,
    f32,
    fixture_entries,
    fixture_id,
    functional,
    layer,
    load_built,
    normal_draws,
    run,
    run1,
    sequential,
)

RNG = np.random.default_rng(5)
TOL = 1e-5
_r = normal_draws(RNG, scale=0.5)


# ---------------------------------------------------------------------------- NumPy oracle


def np_mha(q: np.ndarray, v: np.ndarray, k: np.ndarray, w: dict[str, np.ndarray], key_dim: int,
           mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Keras MultiHeadAttention: einsum projections, query scaled by 1/sqrt(key_dim), masked softmax
    (adding (1 - mask) * -1e9), output einsum. Returns (output, scores (B, H, Tq, Tk))."""
    def dense(x: np.ndarray, name: str) -> np.ndarray:
        y = np.einsum("abc,cde->abde", x.astype(np.float64), w[f"{name}/kernel"])
        return y + w[f"{name}/bias"] if f"{name}/bias" in w else y

    query = dense(q, "query") / np.sqrt(key_dim)
    key, value = dense(k, "key"), dense(v, "value")
    scores = np.einsum("aecd,abcd->acbe", key, query)
    if mask is not None:
        # In float32 as Keras: a fully masked row then becomes uniform (the scores vanish next to -1e9).
        adder = ((1.0 - mask[:, None].astype(np.float32)) * np.float32(-1e9)).astype(np.float32)
        scores = (scores.astype(np.float32) + adder).astype(np.float64)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    scores /= scores.sum(-1, keepdims=True)
    out = np.einsum("acbe,aecd->abcd", scores, value)
    out = np.einsum("abcd,cde->abe", out, w["attention_output/kernel"])
    if "attention_output/bias" in w:
        out = out + w["attention_output/bias"]
    return out, scores


def mha_weights(dq: int, dk_in: int, dv_in: int, heads: int, key_dim: int, value_dim: int, dout: int,
                use_bias: bool = True) -> dict[str, np.ndarray]:
    w = {"query/kernel": _r(dq, heads, key_dim), "key/kernel": _r(dk_in, heads, key_dim),
         "value/kernel": _r(dv_in, heads, value_dim), "attention_output/kernel": _r(heads, value_dim, dout)}
    if use_bias:
        w.update({"query/bias": _r(heads, key_dim), "key/bias": _r(heads, key_dim),
                  "value/bias": _r(heads, value_dim), "attention_output/bias": _r(dout)})
    return w


def keras_order(w: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    order = [f"{r}/{k}" for r in ("query", "key", "value", "attention_output") for k in ("kernel", "bias")]
    return [(n, w[n]) for n in order if n in w]


def mha_layer(name: str, heads: int, key_dim: int, **cfg) -> dict:
    return layer("MultiHeadAttention", name, num_heads=heads, key_dim=key_dim,
                 value_dim=cfg.pop("value_dim", key_dim), dropout=0.0, use_bias=cfg.pop("use_bias", True),
                 output_shape=cfg.pop("output_shape", None), attention_axes=cfg.pop("attention_axes", [1]), **cfg)


def keras2_mha_model(inputs: dict, mha: dict, query: str, kwargs: dict) -> dict:
    """A Keras 2 Functional config whose MHA call has its other tensors in the call kwargs."""
    cfg = functional(inputs, [], [mha["config"]["name"]])
    entry = {**mha, "name": mha["config"]["name"], "inbound_nodes": [[[query, 0, 0, kwargs]]]}
    cfg["config"]["layers"].append(entry)
    return cfg


def keras3_tensor(name: str, shape: list) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": shape, "dtype": "float32", "keras_history": [name, 0, 0]}}


# ---------------------------------------------------------------------------- real Keras fixtures


@pytest.mark.parametrize("entry", fixture_entries(("MultiHeadAttention", "Embedding")), ids=fixture_id)
def test_fixture_matches_keras(entry: dict) -> None:
    check_fixture(entry)


# ids (4,) -> Embedding(5, 4, mask_zero=True) -> MHA(2 heads, key_dim 2)(e, e) and MHA(2, 2)(e, e,
# use_causal_mask=True); weights rounded to 2 decimals. Keras' outputs: recorded with tf.keras 2.21 by
# tests/convert/keras/layers/record_keras_outputs.py (keras_recording("mha_masks")).
MHA_IDS = np.array([[1, 2, 3, 0], [4, 0, 2, 1]], np.float32)
MHA_WEIGHTS = {
    "emb": [("embeddings", f32([0.61, 0.62, 0.03, -0.43, -0.89, -0.23, -0.18, -0.91, -0.9, 1.0, 0.3, -0.53, -0.13,
                                0.95, 0.8, 0.69, -0.22, -0.01, 0.35, -0.88], 5, 4))],
    "mha_masked": [
        ("query/kernel", f32([0.11, -0.46, 0.76, -0.87, 0.36, 0.74, -0.55, 0.79, 0.74, -0.96, 0.41, -1.0, 0.01, -0.13,
                              -0.59, -0.35], 4, 2, 2)),
        ("query/bias", f32([0.61, -0.37, -0.7, 0.4], 2, 2)),
        ("key/kernel", f32([-0.1, 0.6, -0.53, -0.36, 0.6, 0.01, 0.01, -0.53, -0.97, 0.87, -0.83, 0.69, -0.26, 0.9,
                            -0.2, 0.87], 4, 2, 2)),
        ("key/bias", f32([0.11, -0.52, 0.48, 0.35], 2, 2)),
        ("value/kernel", f32([0.37, -0.07, -0.56, 0.28, -0.79, 0.38, 0.27, -0.25, 0.6, -0.61, -0.22, 0.6, -0.24, 0.43,
                              0.23, 0.88], 4, 2, 2)),
        ("value/bias", f32([0.98, 0.45, 0.62, -0.69], 2, 2)),
        ("attention_output/kernel", f32([0.43, 0.7, -0.2, 0.11, -0.04, 0.92, -0.37, -0.2, -1.0, -0.16, 0.26, 0.87,
                                         0.85, -0.35, 0.98, -0.62], 2, 2, 4)),
        ("attention_output/bias", f32([0.65, -0.69, -0.19, -0.85], 4)),
    ],
    "mha_causal": [
        ("query/kernel", f32([0.72, 0.66, -0.72, 0.05, -0.48, -0.02, 0.11, -0.79, 0.73, -0.44, -0.11, -0.89, -0.99,
                              -0.61, -0.32, 0.86], 4, 2, 2)),
        ("query/bias", f32([0.78, -0.04, -0.09, 0.33], 2, 2)),
        ("key/kernel", f32([0.72, -0.33, 0.59, -0.2, 0.19, 0.47, 0.0, 0.38, 0.39, -0.99, -0.92, -0.7, -0.57, -0.59,
                            -0.9, -0.57], 4, 2, 2)),
        ("key/bias", f32([0.2, 0.77, -0.3, -0.27], 2, 2)),
        ("value/kernel", f32([-0.17, 0.36, 0.57, 0.88, -0.25, 0.41, -0.32, 0.65, -0.54, 0.74, 0.01, 0.45, 0.07, -0.37,
                              -0.01, -0.9], 4, 2, 2)),
        ("value/bias", f32([-0.91, 0.06, -0.05, 0.67], 2, 2)),
        ("attention_output/kernel", f32([-0.96, 0.11, -0.02, 0.2, 0.46, 0.05, 0.13, -0.02, 0.23, -0.5, 0.11, 0.34,
                                         -0.62, 0.98, 0.49, 0.91], 2, 2, 4)),
        ("attention_output/bias", f32([-0.41, -0.11, -0.48, -0.91], 4)),
    ],
}


def _mha_config() -> dict:
    cfg = functional({"ids": (4,)}, [(layer("Embedding", "emb", input_dim=5, output_dim=4, mask_zero=True), ["ids"])],
                     ["mha_masked", "mha_causal"])
    for name, extra in (("mha_masked", {}), ("mha_causal", {"use_causal_mask": True})):
        # tf_keras 2.21 saves the call shapes, and its from_config needs them (record_keras_outputs.py)
        shapes = {f"{t}_shape": [None, 4, 4] for t in ("query", "key", "value")}
        cfg["config"]["layers"].append({**mha_layer(name, 2, 2, **shapes), "name": name,
                                        "inbound_nodes": [[["emb", 0, 0, {"value": ["emb", 0, 0], **extra}]]]})
    return cfg


def test_mha_with_embedding_mask_and_causal_mask_matches_keras_recording(tmp_path) -> None:
    g = load_built(tmp_path, _mha_config(), MHA_WEIGHTS, keras_version="2.21.0")
    want = assert_matches_recording(run(g, MHA_IDS), "mha_masks")
    # The NumPy oracle, given the same combined mask, agrees with Keras (it checks the right thing below).
    emb = MHA_WEIGHTS["emb"][0][1][MHA_IDS.astype(int)]
    keep = MHA_IDS != 0
    w = {n: a for n, a in MHA_WEIGHTS["mha_causal"]}
    mask = keep[:, :, None] & keep[:, None, :] & np.tril(np.ones((4, 4), bool))[None]
    assert rel_err(np_mha(emb, emb, emb, w, 2, mask)[0], want[1]) <= 2e-6


# ---------------------------------------------------------------------------- NumPy oracle cases


@pytest.mark.parametrize("heads,key_dim,value_dim,use_bias,output_shape", [
    (1, 4, 4, True, None), (3, 2, 5, True, None), (2, 3, 3, False, None), (2, 4, 2, True, 7), (2, 4, 2, True, [5]),
])
def test_mha_keras2_kwargs_matches_numpy(tmp_path, heads, key_dim, value_dim, use_bias, output_shape) -> None:
    dout = 6 if output_shape is None else (output_shape if isinstance(output_shape, int) else output_shape[0])
    w = mha_weights(6, 3, 4, heads, key_dim, value_dim, dout, use_bias)
    mha = mha_layer("mha", heads, key_dim, value_dim=value_dim, use_bias=use_bias, output_shape=output_shape)
    cfg = keras2_mha_model({"q": (5, 6), "v": (3, 4), "k": (3, 3)}, mha, "q",
                           {"value": ["v", 0, 0], "key": ["k", 0, 0]})
    g = load_built(tmp_path, cfg, {"mha": keras_order(w)})
    q, v, k = _r(2, 5, 6, scale=1.0), _r(2, 3, 4, scale=1.0), _r(2, 3, 3, scale=1.0)
    want, _ = np_mha(q, v, k, w, key_dim)
    assert rel_err(evaluate(g, {"q": q, "v": v, "k": k})["mha"], want) <= TOL


def test_mha_keras3_args_attention_mask_and_scores_match_numpy(tmp_path) -> None:
    heads, key_dim = 2, 3
    w = mha_weights(4, 4, 4, heads, key_dim, key_dim, 4)
    mha = mha_layer("mha", heads, key_dim)
    entry = {**mha, "name": "mha", "inbound_nodes": [{
        "args": [keras3_tensor("q", [None, 5, 4]), keras3_tensor("v", [None, 6, 4])],
        "kwargs": {"attention_mask": keras3_tensor("m", [None, 5, 6]), "return_attention_scores": True}}]}
    cfg = functional({"q": (5, 4), "v": (6, 4), "m": (5, 6)}, [], ["mha"])
    cfg["config"]["layers"].append(entry)
    cfg["config"]["output_layers"] = [["mha", 0, 0], ["mha", 0, 1]]
    g = load_built(tmp_path, cfg, {"mha": keras_order(w)}, keras_version="3.6.0")
    q, v = _r(2, 5, 4, scale=1.0), _r(2, 6, 4, scale=1.0)
    m = (RNG.random((2, 5, 6)) > 0.3).astype(np.float32)
    m[..., 0] = 1  # no fully masked row
    want, scores = np_mha(q, v, v, w, key_dim, m.astype(bool))
    out = evaluate(g, {"q": q, "v": v, "m": m})
    got = [out[o.name] for o in g.outputs]
    assert rel_err(got[0], want) <= TOL
    assert rel_err(got[1], scores) <= TOL


def test_mha_causal_mask_matches_numpy(tmp_path) -> None:
    w = mha_weights(4, 4, 4, 2, 2, 2, 4)
    cfg = keras2_mha_model({"x": (5, 4)}, mha_layer("mha", 2, 2), "x", {"value": ["x", 0, 0], "use_causal_mask": True})
    g = load_built(tmp_path, cfg, {"mha": keras_order(w)})
    x = _r(3, 5, 4, scale=1.0)
    want, _ = np_mha(x, x, x, w, 2, np.tril(np.ones((5, 5), bool))[None].repeat(3, 0))
    assert rel_err(run1(g, x), want) <= TOL


def test_mha_keras3_weight_names_in_any_order(tmp_path) -> None:
    """Keras 3 / tf.keras .keras files name the sub-layers query_dense / _query_dense; a shuffled order
    (as HDF5 sorting gives) must still put every kernel in its place."""
    w = mha_weights(4, 4, 4, 2, 2, 2, 4)
    shuffled = [(n.replace("attention_output", "_output_dense").replace("query/", "_query_dense/")
                 .replace("key/", "_key_dense/").replace("value/", "_value_dense/"), a) for n, a in keras_order(w)]
    shuffled = shuffled[2:4] + shuffled[6:] + shuffled[:2] + shuffled[4:6]
    cfg = keras2_mha_model({"x": (5, 4)}, mha_layer("mha", 2, 2), "x", {"value": ["x", 0, 0]})
    g = load_built(tmp_path, cfg, {"mha": shuffled})
    x = _r(2, 5, 4, scale=1.0)
    assert rel_err(run1(g, x), np_mha(x, x, x, w, 2)[0]) <= TOL


def test_mha_refusals(tmp_path) -> None:
    w = mha_weights(4, 4, 4, 2, 2, 2, 4)
    cfg = keras2_mha_model({"x": (5, 4)}, mha_layer("mha", 2, 2, attention_axes=[2]), "x", {"value": ["x", 0, 0]})
    with pytest.raises(UnsupportedLayerError, match="attention_axes"):
        load_built(tmp_path, cfg, {"mha": keras_order(w)})
    bad = keras_order(w)
    bad[0] = ("query/kernel", _r(4, 2, 3))
    cfg = keras2_mha_model({"x": (5, 4)}, mha_layer("mha", 2, 2), "x", {"value": ["x", 0, 0]})
    with pytest.raises(WeightsMismatchError, match=r"query kernel.*\(4, 2, 3\).*\(4, 2, 2\)"):
        load_built(tmp_path, cfg, {"mha": bad})


# ---------------------------------------------------------------------------- Embedding


def test_embedding_float_and_int_ids(tmp_path) -> None:
    table = _r(7, 3)
    g = load_built(tmp_path, sequential((4,), [layer("Embedding", "emb", input_dim=7, output_dim=3)]),
                   {"emb": [("embeddings", table)]})
    ids = np.array([[0, 6, 2, 2], [5, 1, 3, 4]])
    np.testing.assert_array_equal(run1(g, ids.astype(np.float32)), table[ids])
    assert [n.op for n in g.nodes] == ["Cast", "Gather"]


def test_embedding_wrong_table_shape_names_both_shapes(tmp_path) -> None:
    with pytest.raises(WeightsMismatchError, match=r"embeddings.*\(6, 3\).*\(7, 3\)"):
        load_built(tmp_path, sequential((4,), [layer("Embedding", "emb", input_dim=7, output_dim=3)]),
                   {"emb": [("embeddings", _r(6, 3))]})


def test_corpus_keras1_embedding_conv1d_flatten_matches_numpy() -> None:
    path = corpus("dl4j-test-resources/keras1/embedding_conv1d_flatten_tensorflow_1.h5")
    g = load_keras(path)
    with h5py.File(path) as f:
        table = f["model_weights/embedding_1/embedding_1_W:0"][()]
        kernel = f["model_weights/convolution1d_1/convolution1d_1_W:0"][()][:, 0]  # (3, 1, 5, 6) -> (3, 5, 6)
        bias = f["model_weights/convolution1d_1/convolution1d_1_b:0"][()]
    ids = RNG.integers(0, 4, size=(3, 10))
    e = table[ids].astype(np.float64)
    want = np.stack([sum(e[:, t + k] @ kernel[k] for k in range(3)) + bias for t in range(8)], axis=1)
    assert g.inputs[0].dtype.value == "int32"
    assert rel_err(run1(g, ids.astype(np.int32)), want.reshape(3, 48)) <= TOL
