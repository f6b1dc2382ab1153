"""Merge, normalization/preprocessing and activation-layer handlers.

Oracles: Keras' recorded outputs (tests/fixtures), the corpus' cnn_batch_norm reference
predictions, and hand-built files checked against NumPy written from Keras' formulas.
"""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.convert.keras import load_keras
from keras2edge.errors import UnsupportedLayerError

from tests.corpus import corpus
from tests.ir_graphs import ops
from tests.tolerances import rel_err

from ..helpers import (
    check_fixture,
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

MERGE_NORM_CLASSES = (
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "BatchNormalization",
    "LayerNormalization", "Rescaling", "Normalization", "ReLU", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU",
    "Softmax")
RNG = np.random.default_rng(5)
_r = normal_draws(RNG)


def _pos(*shape: int) -> np.ndarray:
    return RNG.uniform(0.3, 2.0, shape).astype(np.float32)


# ---------------------------------------------------------------------------- real Keras fixtures


@pytest.mark.parametrize("entry", fixture_entries(MERGE_NORM_CLASSES), ids=fixture_id)
def test_fixture_matches_keras(entry: dict) -> None:
    check_fixture(entry)


def test_corpus_cnn_batch_norm_matches_reference() -> None:
    g = load_keras(corpus("dl4j-test-resources/keras2/cnn_batch_norm.h5"))
    assert "BatchNorm" in ops(g)
    x = np.load(corpus("dl4j-test-resources/keras2/cnn_batch_norm_input.npy"), allow_pickle=False)
    want = np.load(corpus("dl4j-test-resources/keras2/cnn_batch_norm_predictions.npy"), allow_pickle=False)
    np.testing.assert_allclose(run1(g, x.astype(np.float32)), want, atol=1e-5)


# ---------------------------------------------------------------------------- merge


def _two(tmp_path, merge: dict, a_shape=(4,), b_shape=(4,), keras_version="2.2.4"):
    cfg = functional({"a": a_shape, "b": b_shape}, [(merge, ["a", "b"])], [merge["config"]["name"]])
    return load_built(tmp_path, cfg, keras_version=keras_version)


@pytest.mark.parametrize("cls,fn", [
    ("Add", lambda a, b, c: a + b + c), ("Multiply", lambda a, b, c: a * b * c),
    ("Average", lambda a, b, c: (a + b + c) / 3), ("Maximum", lambda a, b, c: np.maximum(np.maximum(a, b), c)),
    ("Minimum", lambda a, b, c: np.minimum(np.minimum(a, b), c)),
])
def test_nary_merge(tmp_path, cls, fn) -> None:
    cfg = functional({"a": [3, 4], "b": [3, 4], "c": [3, 4]}, [(layer(cls, "m"), ["a", "b", "c"])], ["m"])
    g = load_built(tmp_path, cfg)
    a, b, c = _r(2, 3, 4), _r(2, 3, 4), _r(2, 3, 4)
    assert rel_err(run1(g, a, b, c), fn(a, b, c)) <= 1e-6


def test_subtract_and_rank_broadcast(tmp_path) -> None:
    # Keras' Merge inserts axes at position 1 into the lower-rank input: (B, 4) -> (B, 1, 4).
    g = _two(tmp_path, layer("Subtract", "sub"), a_shape=(3, 4), b_shape=(4,))
    a, b = _r(2, 3, 4), _r(2, 4)
    assert rel_err(run1(g, a, b), a - b[:, None, :]) <= 1e-6


@pytest.mark.parametrize("axis", [1, -2, 2, -1])
def test_concatenate_axis(tmp_path, axis) -> None:
    shape_b = (5, 4) if axis in (1, -2) else (3, 2)
    g = _two(tmp_path, layer("Concatenate", "cat", axis=axis), a_shape=(3, 4), b_shape=shape_b)
    a, b = _r(2, 3, 4), _r(2, *shape_b)
    assert np.array_equal(run1(g, a, b), np.concatenate([a, b], axis=axis))


def _np_l2n(x: np.ndarray, axis: int) -> np.ndarray:
    return x / np.sqrt(np.maximum((x.astype(np.float64) ** 2).sum(axis=axis, keepdims=True), 1e-12))


@pytest.mark.parametrize("normalize", [False, True])
def test_dot_rank2(tmp_path, normalize) -> None:
    g = _two(tmp_path, layer("Dot", "dot", axes=1, normalize=normalize), a_shape=(5,), b_shape=(5,))
    a, b = _r(3, 5), _r(3, 5)
    if normalize:
        a_, b_ = _np_l2n(a, 1), _np_l2n(b, 1)
    else:
        a_, b_ = a, b
    want = (a_ * b_).sum(axis=1, keepdims=True)
    got = run1(g, a, b)
    assert got.shape == (3, 1) and rel_err(got, want) <= 1e-6


@pytest.mark.parametrize("axes,a_shape,b_shape,spec", [
    ([2, 1], (3, 4), (4, 5), "nij,njk->nik"),
    ([2, 2], (3, 4), (5, 4), "nij,nkj->nik"),
    ([1, 1], (3, 4), (3, 5), "nji,njk->nik"),
    ([1, 2], (3, 4), (5, 3), "nji,nkj->nik"),
    (-1, (3, 4), (5, 4), "nij,nkj->nik"),
])
@pytest.mark.parametrize("normalize", [False, True])
def test_dot_rank3(tmp_path, axes, a_shape, b_shape, spec, normalize) -> None:
    g = _two(tmp_path, layer("Dot", "dot", axes=axes, normalize=normalize), a_shape=a_shape, b_shape=b_shape,
             keras_version="2.11.0")
    a, b = _r(2, *a_shape), _r(2, *b_shape)
    ax = [axes, axes] if isinstance(axes, int) else axes
    a_ = _np_l2n(a, ax[0]) if normalize else a
    b_ = _np_l2n(b, ax[1]) if normalize else b
    assert rel_err(run1(g, a, b), np.einsum(spec, a_, b_)) <= 1e-5


def test_dot_mixed_ranks_refused(tmp_path) -> None:
    with pytest.raises(UnsupportedLayerError, match="rank-2 or two rank-3"):
        _two(tmp_path, layer("Dot", "dot", axes=-1, normalize=False), a_shape=(4,), b_shape=(3, 4))


# ---------------------------------------------------------------------------- BatchNormalization


@pytest.mark.parametrize("scale,center", [(True, True), (False, True), (True, False), (False, False)])
def test_batch_norm_channels_first(tmp_path, scale, center) -> None:
    c = 3
    gamma, beta, mean, var = _pos(c), _r(c), _r(c), _pos(c)
    arrs = ([("gamma", gamma)] if scale else []) + ([("beta", beta)] if center else []) + [
        ("moving_mean", mean), ("moving_variance", var)]
    cfg = sequential([c, 4, 5], [layer("BatchNormalization", "bn", axis=1, epsilon=0.01, center=center,
                                       scale=scale, momentum=0.99)])
    g = load_built(tmp_path, cfg, {"bn": arrs})
    x = _r(2, c, 4, 5)
    b = (slice(None), None, None)
    want = (x - mean[b]) / np.sqrt(var[b] + 0.01)
    want = want * (gamma[b] if scale else 1) + (beta[b] if center else 0)
    assert "BatchNorm" in ops(g)
    assert rel_err(run1(g, x), want) <= 1e-5


def test_batch_norm_several_axes(tmp_path) -> None:
    gamma, beta, mean, var = _pos(4, 5), _r(4, 5), _r(4, 5), _pos(4, 5)
    cfg = sequential([4, 5, 3], [layer("BatchNormalization", "bn", axis=[1, 2], epsilon=1e-3)])
    g = load_built(tmp_path, cfg, {"bn": [("gamma", gamma), ("beta", beta), ("moving_mean", mean),
                                          ("moving_variance", var)]})
    x = _r(2, 4, 5, 3)
    e = (Ellipsis, None)
    want = (x - mean[e]) / np.sqrt(var[e] + 1e-3) * gamma[e] + beta[e]
    assert rel_err(run1(g, x), want) <= 1e-5


def test_keras1_batch_norm_th_mode0(tmp_path) -> None:
    """Keras 1: gamma, beta, running_mean, running_std (the 4th is the variance); axis=1 for 'th'."""
    gamma, beta, mean, var = _pos(2), _r(2), _r(2), _pos(2)
    cfg = sequential([2, 3, 3], [layer("BatchNormalization", "bn", axis=1, mode=0, epsilon=1e-3, momentum=0.99)])
    g = load_built(tmp_path, cfg, {"bn": [("gamma", gamma), ("beta", beta), ("running_mean", mean),
                                          ("running_std", var)]}, keras_version="1.2.2")
    x = _r(2, 2, 3, 3)
    b = (slice(None), None, None)
    assert rel_err(run1(g, x), (x - mean[b]) / np.sqrt(var[b] + 1e-3) * gamma[b] + beta[b]) <= 1e-5


def test_keras1_batch_norm_mode2_refused(tmp_path) -> None:
    cfg = sequential([3], [layer("BatchNormalization", "bn", axis=-1, mode=2, epsilon=1e-3, momentum=0.99)])
    with pytest.raises(UnsupportedLayerError, match="mode=2"):
        load_built(tmp_path, cfg, {"bn": [(k, _pos(3)) for k in ("gamma", "beta", "running_mean", "running_std")]},
                   keras_version="1.2.2")


# ---------------------------------------------------------------------------- LayerNormalization


@pytest.mark.parametrize("axis,scale,center", [([1, 2], True, True), (-1, False, True), ([2], True, False),
                                               ([1, 2, 3], False, False)])
def test_layer_norm(tmp_path, axis, scale, center) -> None:
    ax = [axis] if isinstance(axis, int) else axis
    ax = tuple(a % 4 for a in ax)
    shape = tuple((3, 4, 5)[a - 1] for a in ax)
    gamma, beta = _pos(*shape), _r(*shape)
    arrs = ([("gamma", gamma)] if scale else []) + ([("beta", beta)] if center else [])
    cfg = sequential([3, 4, 5], [layer("LayerNormalization", "ln", axis=axis, epsilon=1e-2, center=center,
                                       scale=scale)])
    g = load_built(tmp_path, cfg, {"ln": arrs})
    x = _r(2, 3, 4, 5) * 3 + 1
    bshape = [1, 1, 1, 1]
    for a, d in zip(ax, shape):
        bshape[a] = d
    mean = x.mean(axis=ax, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=ax, keepdims=True)
    want = (x - mean) / np.sqrt(var + 1e-2)
    want = want * (gamma.reshape(bshape) if scale else 1) + (beta.reshape(bshape) if center else 0)
    assert rel_err(run1(g, x), want) <= 1e-5


def test_layer_norm_rms_scaling_keras3(tmp_path) -> None:
    gamma = _pos(6)
    cfg = sequential([4, 6], [layer("LayerNormalization", "ln", axis=[-1], epsilon=1e-3, center=True, scale=True,
                                    rms_scaling=True)])
    g = load_built(tmp_path, cfg, {"ln": [("gamma", gamma)]}, keras_version="3.6.0")
    x = _r(2, 4, 6) + 0.5
    # Keras 3 ops.layer_normalization(rms_scaling=True): x * rsqrt(var(x) + eps) * gamma.
    want = x / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-3) * gamma
    assert rel_err(run1(g, x), want) <= 1e-5


# ---------------------------------------------------------------------------- preprocessing


def test_rescaling_per_channel_on_uint8_input(tmp_path) -> None:
    cfg = sequential([2, 2, 3], [layer("Rescaling", "rs", scale=[0.5, 0.25, 2.0], offset=-1.0)])
    cfg["config"]["layers"][0]["config"]["dtype"] = "uint8"
    g = load_built(tmp_path, cfg, keras_version="3.6.0")
    x = RNG.integers(0, 256, (2, 2, 2, 3)).astype(np.uint8)
    assert rel_err(run1(g, x), x * np.array([0.5, 0.25, 2.0]) - 1.0) <= 1e-6


def _np_normalize(x, mean, var, invert=False):
    std = np.maximum(np.sqrt(var), 1e-7)
    return mean + x * std if invert else (x - mean) / std


@pytest.mark.parametrize("invert", [False, True])
def test_normalization_from_weights_two_axes(tmp_path, invert) -> None:
    mean, var = _r(3, 4), _pos(3, 4)
    var[0, 0] = 0.0  # exercises the epsilon floor
    cfg = sequential([3, 4, 2], [layer("Normalization", "norm", axis=[1, 2], invert=invert, mean=None,
                                       variance=None)])
    g = load_built(tmp_path, cfg, {"norm": [("mean", mean), ("variance", var), ("count", np.int64(10))]},
                   keras_version="3.6.0")
    x = _r(2, 3, 4, 2)
    want = _np_normalize(x, mean[..., None], var[..., None], invert)
    assert rel_err(run1(g, x), want) <= 1e-5


def test_normalization_scalar_config_stats(tmp_path) -> None:
    cfg = sequential([5], [layer("Normalization", "norm", axis=None, invert=False, mean=2.0, variance=4.0)])
    g = load_built(tmp_path, cfg, keras_version="3.6.0")
    x = _r(3, 5)
    assert rel_err(run1(g, x), (x - 2.0) / 2.0) <= 1e-6


# ---------------------------------------------------------------------------- activation layers


def _act(tmp_path, entry: dict, weights=None, shape=(3, 4), version="2.2.4"):
    return load_built(tmp_path, sequential(list(shape), [entry]), weights, keras_version=version)


@pytest.mark.parametrize("cfg,fn", [
    ({"max_value": None, "negative_slope": 0.0, "threshold": 0.0}, lambda x: np.maximum(x, 0)),
    ({"max_value": 6.0, "negative_slope": 0.0, "threshold": 0.0}, lambda x: np.clip(x, 0, 6)),
    ({"max_value": 0.8, "negative_slope": 0.2, "threshold": 0.0},
     lambda x: np.where(x >= 0, np.minimum(x, 0.8), 0.2 * x)),
    ({"max_value": 1.5, "negative_slope": 0.1, "threshold": 0.3},
     lambda x: np.where(x >= 0.3, np.minimum(x, 1.5), 0.1 * (x - 0.3))),
    ({"max_value": None, "negative_slope": 0.0, "threshold": -0.5}, lambda x: np.where(x >= -0.5, x, 0)),
])
def test_relu_layer(tmp_path, cfg, fn) -> None:
    g = _act(tmp_path, layer("ReLU", "relu", **cfg))
    x = _r(2, 3, 4) * 2
    assert rel_err(run1(g, x), fn(x)) <= 1e-6


@pytest.mark.parametrize("cfg,version,slope", [({"alpha": 0.3}, "2.2.4", 0.3), ({}, "2.2.4", 0.3),
                                               ({"negative_slope": 0.05}, "3.6.0", 0.05)])
def test_leaky_relu(tmp_path, cfg, version, slope) -> None:
    g = _act(tmp_path, layer("LeakyReLU", "lr", **cfg), version=version)
    x = _r(2, 3, 4)
    assert rel_err(run1(g, x), np.where(x >= 0, x, slope * x)) <= 1e-6


@pytest.mark.parametrize("shared,alpha_shape", [(None, (3, 4)), ([1], (1, 4)), ([1, 2], (1, 1))])
def test_prelu(tmp_path, shared, alpha_shape) -> None:
    alpha = _pos(*alpha_shape) * 0.2
    g = _act(tmp_path, layer("PReLU", "prelu", shared_axes=shared), {"prelu": [("alpha", alpha)]})
    x = _r(2, 3, 4)
    assert rel_err(run1(g, x), np.where(x >= 0, x, alpha * x)) <= 1e-6


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
def test_elu(tmp_path, alpha) -> None:
    g = _act(tmp_path, layer("ELU", "elu", alpha=alpha))
    x = _r(2, 3, 4) * 2
    assert rel_err(run1(g, x), np.where(x > 0, x, alpha * np.expm1(x))) <= 1e-6


def test_thresholded_relu(tmp_path) -> None:
    g = _act(tmp_path, layer("ThresholdedReLU", "tr", theta=0.4))
    x = _r(2, 3, 4)
    assert np.array_equal(run1(g, x), x * (x > 0.4))


@pytest.mark.parametrize("axis", [1, -2, [-1], 2])
def test_softmax_axis(tmp_path, axis) -> None:
    g = _act(tmp_path, layer("Softmax", "sm", axis=axis))
    x = _r(2, 3, 4) * 3
    ax = axis[0] if isinstance(axis, list) else axis
    e = np.exp(x - x.max(axis=ax, keepdims=True))
    assert rel_err(run1(g, x), e / e.sum(axis=ax, keepdims=True)) <= 1e-6


def test_softmax_over_several_axes_refused(tmp_path) -> None:
    with pytest.raises(UnsupportedLayerError, match="several axes"):
        _act(tmp_path, layer("Softmax", "sm", axis=[1, 2]))


def test_two_outputs_of_merges_in_one_model(tmp_path) -> None:
    """A shared input feeding several merge layers; outputs keep the Keras layer names."""
    cfg = functional({"a": [4], "b": [4]}, [(layer("Maximum", "mx"), ["a", "b"]), (layer("Minimum", "mn"), ["a", "b"]),
                                            (layer("Subtract", "diff"), ["mx", "mn"])], ["diff", "mx"])
    g = load_built(tmp_path, cfg)
    assert [v.name for v in g.outputs] == ["diff", "mx"]
    a, b = _r(2, 4), _r(2, 4)
    diff, mx = run(g, a, b)
    assert rel_err(diff, np.abs(a - b)) <= 1e-6 and rel_err(mx, np.maximum(a, b)) <= 1e-6


def test_softmax_reached_by_a_mask_is_refused(tmp_path) -> None:
    emb = layer("Embedding", "emb", input_dim=6, output_dim=3, mask_zero=True, input_length=5)
    cfg = sequential([5], [emb, layer("Softmax", "sm", axis=-1)])
    cfg["config"]["layers"][0]["config"]["dtype"] = "int32"
    with pytest.raises(UnsupportedLayerError, match="mask"):
        load_built(tmp_path, cfg, {"emb": [("embeddings", _r(6, 3))]})
