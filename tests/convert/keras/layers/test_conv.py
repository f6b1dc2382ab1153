"""Convolution handlers (Conv1D/2D, DepthwiseConv1D/2D, SeparableConv1D/2D, Conv1D/2DTranspose).

Oracles: Keras' own recorded outputs (tests/fixtures), the reference data and files of the public
corpus, and, for hand-built edge cases, independent NumPy computations: an explicit-loop
cross-correlation, and for transposed convolutions the adjoint (transpose matrix) of the forward
convolution, which is how TensorFlow defines conv2d_transpose.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from keras2edge.convert.keras import load_keras
from keras2edge.errors import UnsupportedLayerError, WeightsMismatchError

from tests.corpus import corpus
from tests.corpus_oracles import oracle
from tests.ir_graphs import ops
from tests.tolerances import rel_err

from ..helpers import (
    check_fixture,
    fixture_entries,
    fixture_id,
    layer,
    load_built,
    normal_draws,
    np_conv2d,
    run1,
    sequential,
)

CONV_CLASSES = ("Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
                "Conv1DTranspose", "Conv2DTranspose")
RNG = np.random.default_rng(7)
_r = normal_draws(RNG)


# ---------------------------------------------------------------------------- real Keras fixtures


@pytest.mark.parametrize("entry", fixture_entries(CONV_CLASSES), ids=fixture_id)
def test_fixture_matches_keras(entry: dict) -> None:
    check_fixture(entry)


# ---------------------------------------------------------------------------- public corpus


def test_corpus_causal_conv1d_matches_reference() -> None:
    g = load_keras(corpus("dl4j-test-resources/keras2/causal_conv1d_k3_s1_d2_cl_model.h5"))
    with h5py.File(corpus("dl4j-test-resources/keras2/causal_conv1d_k3_s1_d2_cl_inputs_and_outputs.h5")) as f:
        x, want = f["inputs/conv0_input"][()], f["predictions/conv0"][()]
    assert "Pad" in ops(g)
    np.testing.assert_allclose(run1(g, x), want, atol=1e-5)


def _h5_array(path: str, suffix: str) -> np.ndarray:
    found: list[np.ndarray] = []
    with h5py.File(path) as f:
        f["model_weights"].visititems(
            lambda n, o: found.append(o[()]) if hasattr(o, "shape") and n.split(":")[0].endswith(suffix) else None)
    assert len(found) == 1, f"{suffix} in {path}"
    return found[0]


def test_corpus_keras1_conv2d_tf_ordering() -> None:
    path = corpus("dl4j-test-resources/keras1/conv2d_tensorflow_1.h5")
    g = load_keras(path)
    assert g.outputs[0].shape == (None, 3, 3, 6)
    x = _r(2, 5, 5, 5)
    want = np_conv2d(x, _h5_array(path, "_W"), _h5_array(path, "_b"))
    assert rel_err(run1(g, x), want) <= 1e-5


def test_corpus_theano_kernel_is_flipped() -> None:
    """Keras 2 file written by Theano (backend attribute 'theano'): Keras' loader flips the
    spatial axes of the kernel (Theano convolves, TF correlates); checked against a NumPy
    correlation with the kernel flipped by hand, and against the unflipped kernel, which differs."""
    path = corpus("dl4j-test-resources/keras2/conv2d_theano_2.h5")
    g = load_keras(path)
    assert g.outputs[0].shape == (None, 3, 3, 6)
    kernel, bias = _h5_array(path, "kernel"), _h5_array(path, "bias")
    x = _r(2, 5, 5, 5)
    got = run1(g, x)
    assert rel_err(got, np_conv2d(x, kernel[::-1, ::-1], bias)) <= 1e-5
    assert np.abs(got - np_conv2d(x, kernel, bias)).max() > 1e-2


def test_corpus_separable_conv2d() -> None:
    path = corpus("dl4j-test-resources/keras2/sepconv2d_tensorflow_2.h5")
    g = load_keras(path)
    assert g.outputs[0].shape == (None, 1, 2, 6)
    dw, pw, b = _h5_array(path, "depthwise_kernel"), _h5_array(path, "pointwise_kernel"), _h5_array(path, "bias")
    x = _r(2, 3, 4, 5)
    # Depthwise = grouped conv with one group per input channel (kernel (3,3,1,Cin*M) channel c*M+m).
    dw_hwio = dw.reshape(3, 3, 1, 5 * 2)
    want = np_conv2d(np_conv2d(x, dw_hwio, groups=5), pw, b)
    assert rel_err(run1(g, x), want) <= 1e-5


# keras2cpp's Keras 1 'th' model (corpus keras2cpp/) is checked against its reference outputs, in
# the IR evaluator and every backend, by tests/convert/keras/test_backend.py.


def test_corpus_keras1_embedding_conv1d() -> None:
    g = load_keras(corpus("dl4j-test-resources/keras1/embedding_conv1d_flatten_tensorflow_1.h5"))
    g.verify()
    o = oracle("dl4j-test-resources/keras1/embedding_conv1d_flatten_tensorflow_1.h5")  # independent NumPy model
    assert rel_err(run1(g, *o.inputs), o.outputs[0]) <= 1e-6


# ---------------------------------------------------------------------------- hand-built edge cases


def _conv_cfg(cls: str, name: str, **kw: object) -> dict:
    base = {"padding": "valid", "data_format": "channels_last", "activation": "linear", "use_bias": True}
    return layer(cls, name, **{**base, **kw})


@pytest.mark.parametrize("padding,strides,dilation,groups", [
    ("same", (2, 2), (1, 1), 1), ("valid", (1, 2), (1, 1), 2), ("same", (1, 1), (2, 2), 1), ("same", (3, 2), (1, 1), 3),
])
def test_conv2d_channels_first(tmp_path, padding, strides, dilation, groups) -> None:
    w, b = _r(3, 2, 6 // groups, 6), _r(6)
    cfg = sequential([6, 7, 9], [_conv_cfg("Conv2D", "conv", filters=6, kernel_size=[3, 2], strides=list(strides),
                                           padding=padding, dilation_rate=list(dilation), groups=groups,
                                           data_format="channels_first", activation="relu")])
    g = load_built(tmp_path, cfg, {"conv": [("kernel", w), ("bias", b)]})
    x = _r(2, 6, 7, 9)
    want = np.maximum(np_conv2d(x.transpose(0, 2, 3, 1), w, b, strides, dilation, padding, groups), 0)
    assert rel_err(run1(g, x), want.transpose(0, 3, 1, 2)) <= 1e-5


@pytest.mark.parametrize("padding,strides,dilation,channels_first", [
    ("causal", 1, 3, False), ("same", 2, 1, False), ("valid", 1, 2, True), ("causal", 2, 1, True),
])
def test_conv1d(tmp_path, padding, strides, dilation, channels_first) -> None:
    w, b = _r(3, 4, 5), _r(5)
    cfg = sequential([4, 11] if channels_first else [11, 4], [_conv_cfg(
        "Conv1D", "conv", filters=5, kernel_size=[3], strides=[strides], padding=padding,
        dilation_rate=[dilation], data_format="channels_first" if channels_first else "channels_last")])
    g = load_built(tmp_path, cfg, {"conv": [("kernel", w), ("bias", b)]})
    x = _r(2, 4, 11) if channels_first else _r(2, 11, 4)
    xl = x.transpose(0, 2, 1) if channels_first else x
    if padding == "causal":  # Keras: left pad (k-1)*d, then 'valid'
        xl, padding = np.pad(xl, ((0, 0), (2 * dilation, 0), (0, 0))), "valid"
    want = np_conv2d(xl[:, None], w[None], b, (1, strides), (1, dilation), padding)[:, 0]
    got = run1(g, x)
    assert rel_err(got, want.transpose(0, 2, 1) if channels_first else want) <= 1e-5


@pytest.mark.parametrize("channels_first", [False, True])
def test_depthwise_conv2d_multiplier(tmp_path, channels_first) -> None:
    w, b = _r(3, 3, 4, 3), _r(12)
    cfg = sequential([4, 8, 7] if channels_first else [8, 7, 4], [_conv_cfg(
        "DepthwiseConv2D", "dw", kernel_size=[3, 3], strides=[2, 2], padding="same", depth_multiplier=3,
        dilation_rate=[1, 1], data_format="channels_first" if channels_first else "channels_last")])
    g = load_built(tmp_path, cfg, {"dw": [("depthwise_kernel", w), ("bias", b)]})
    x = _r(2, 4, 8, 7) if channels_first else _r(2, 8, 7, 4)
    xl = x.transpose(0, 2, 3, 1) if channels_first else x
    # Depthwise: output channel c*M+m = input channel c correlated with w[..., c, m].
    want = np_conv2d(xl, w.reshape(3, 3, 1, 12), b, (2, 2), padding="same", groups=4)
    assert rel_err(run1(g, x), want.transpose(0, 3, 1, 2) if channels_first else want) <= 1e-5


def test_depthwise_conv1d_keras3(tmp_path) -> None:
    w, b = _r(3, 4, 2), _r(8)
    cfg = sequential([9, 4], [_conv_cfg("DepthwiseConv1D", "dw", kernel_size=[3], strides=[1], padding="same",
                                        depth_multiplier=2, dilation_rate=[2])])
    g = load_built(tmp_path, cfg, {"dw": [("depthwise_kernel", w), ("bias", b)]}, keras_version="3.4.1")
    x = _r(2, 9, 4)
    want = np_conv2d(x[:, None], w.reshape(1, 3, 1, 8), b, (1, 1), (1, 2), "same", groups=4)[:, 0]
    assert rel_err(run1(g, x), want) <= 1e-5


def test_separable_conv1d_no_bias_strided(tmp_path) -> None:
    dw, pw = _r(3, 4, 2), _r(1, 8, 5)
    cfg = sequential([10, 4], [_conv_cfg("SeparableConv1D", "sep", filters=5, kernel_size=[3], strides=[2],
                                         padding="same", depth_multiplier=2, dilation_rate=[1], use_bias=False,
                                         activation="tanh")])
    g = load_built(tmp_path, cfg, {"sep": [("depthwise_kernel", dw), ("pointwise_kernel", pw)]})
    x = _r(2, 10, 4)
    mid = np_conv2d(x[:, None], dw.reshape(1, 3, 1, 8), None, (1, 2), padding="same", groups=4)
    want = np.tanh(np_conv2d(mid, pw[None]))[:, 0]
    assert rel_err(run1(g, x), want) <= 1e-5


def _conv_transpose_oracle(x: np.ndarray, w: np.ndarray, b: np.ndarray, out_hw: tuple[int, int],
                           strides: tuple[int, int], padding: str) -> np.ndarray:
    """conv2d_transpose as TensorFlow defines it: the adjoint of the forward convolution that maps
    an (out_h, out_w, Cout) image to this (H, W, Cin) input with the same kernel, strides and padding."""
    n, h, wd, cin = x.shape
    cout = w.shape[2]
    size = out_hw[0] * out_hw[1] * cout
    basis = np.eye(size).reshape(size, out_hw[0], out_hw[1], cout)
    fwd = np_conv2d(basis, w, None, strides, padding=padding)  # (size, H, W, Cin)
    assert fwd.shape[1:] == (h, wd, cin), "forward conv does not give back the input size"
    mat = fwd.reshape(size, -1)  # column = forward image of a basis vector
    return (x.reshape(n, -1).astype(np.float64) @ mat.T).reshape(n, out_hw[0], out_hw[1], cout) + b


@pytest.mark.parametrize("k,s,padding,output_padding,want_hw", [
    ((3, 3), (2, 2), "same", None, (8, 10)),
    ((4, 3), (2, 3), "same", None, (8, 15)),
    ((2, 2), (3, 3), "valid", None, (12, 15)),  # kernel smaller than stride: zero rows at the end
    ((3, 3), (2, 2), "valid", (1, 0), (10, 11)),
    ((3, 4), (2, 2), "same", (1, 1), (8, 9)),
])
def test_conv2d_transpose(tmp_path, k, s, padding, output_padding, want_hw) -> None:
    w, b = _r(*k, 3, 2), _r(3)
    cfg = sequential([4, 5, 2], [_conv_cfg("Conv2DTranspose", "tconv", filters=3, kernel_size=list(k),
                                           strides=list(s), padding=padding, dilation_rate=[1, 1],
                                           output_padding=None if output_padding is None else list(output_padding))])
    g = load_built(tmp_path, cfg, {"tconv": [("kernel", w), ("bias", b)]})
    assert g.outputs[0].shape == (None, *want_hw, 3)
    x = _r(2, 4, 5, 2)
    assert rel_err(run1(g, x), _conv_transpose_oracle(x, w, b, want_hw, s, padding)) <= 1e-5


def test_conv1d_transpose_channels_first(tmp_path) -> None:
    w, b = _r(3, 4, 2), _r(4)
    cfg = sequential([2, 6], [_conv_cfg("Conv1DTranspose", "tconv", filters=4, kernel_size=[3], strides=[2],
                                        padding="same", dilation_rate=[1], output_padding=None,
                                        data_format="channels_first")])
    g = load_built(tmp_path, cfg, {"tconv": [("kernel", w), ("bias", b)]})
    assert g.outputs[0].shape == (None, 4, 12)
    x = _r(2, 2, 6)
    want = _conv_transpose_oracle(x.transpose(0, 2, 1)[:, None], w[None], b, (1, 12), (1, 2), "same")[:, 0]
    assert rel_err(run1(g, x), want.transpose(0, 2, 1)) <= 1e-5


# ---------------------------------------------------------------------------- errors


def test_kernel_shape_mismatch_names_layer_and_shapes(tmp_path) -> None:
    cfg = sequential([8, 8, 3], [_conv_cfg("Conv2D", "conv_bad", filters=4, kernel_size=[3, 3], strides=[1, 1],
                                           dilation_rate=[1, 1])])
    with pytest.raises(WeightsMismatchError) as ei:
        load_built(tmp_path, cfg, {"conv_bad": [("kernel", _r(3, 3, 2, 4)), ("bias", _r(4))]})
    msg = str(ei.value)
    assert "conv_bad" in msg and "(3, 3, 2, 4)" in msg and "(3, 3, 3, 4)" in msg


def test_missing_bias_array_is_reported(tmp_path) -> None:
    cfg = sequential([8, 8, 3], [_conv_cfg("Conv2D", "conv_nb", filters=4, kernel_size=[3, 3], strides=[1, 1],
                                           dilation_rate=[1, 1])])
    with pytest.raises(WeightsMismatchError, match="conv_nb"):
        load_built(tmp_path, cfg, {"conv_nb": [("kernel", _r(3, 3, 3, 4))]})


@pytest.mark.parametrize("cls,extra,reason", [
    ("Conv2DTranspose", {"filters": 2, "dilation_rate": [2, 2], "output_padding": None}, "dilation_rate"),
    ("Conv2D", {"filters": 2, "dilation_rate": [1, 1], "padding": "full"}, "padding='full'"),
    ("Conv2D", {"filters": 2, "dilation_rate": [1, 1], "padding": "causal"}, "padding='causal'"),
])
def test_unsupported_configurations_are_refused(tmp_path, cls, extra, reason) -> None:
    cfg = sequential([8, 8, 3], [_conv_cfg(cls, "c", kernel_size=[3, 3], strides=[1, 1], **extra)])
    with pytest.raises(UnsupportedLayerError) as ei:
        load_built(tmp_path, cfg, {"c": [("kernel", _r(3, 3, 3, 2)), ("bias", _r(2))]})
    assert "c" in ei.value.problems[cls][0][0] and reason in str(ei.value)
