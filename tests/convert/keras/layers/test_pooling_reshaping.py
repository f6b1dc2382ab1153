"""Pooling, padding, cropping and up-sampling handlers.

Oracles: Keras' recorded outputs (tests/fixtures), two whole corpus models recomputed layer by
layer in NumPy from the weights read with h5py, and hand-built files checked against NumPy
written from TensorFlow's definitions (TF 'SAME' windows, averages that exclude padding, the
v1 and v2 (half-pixel) bilinear resize formulas).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from keras2edge.convert.keras import load_keras
from keras2edge.errors import UnsupportedLayerError

from tests.corpus import corpus
from tests.ir_graphs import ops
from tests.tolerances import CORPUS, rel_err, scaled_error

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
    tf_same_pads,
)

POOL_RESHAPE_CLASSES = (
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "ZeroPadding1D", "ZeroPadding2D",
    "Cropping1D", "Cropping2D", "UpSampling1D", "UpSampling2D")
RNG = np.random.default_rng(11)
_r = normal_draws(RNG)


# ---------------------------------------------------------------------------- NumPy oracles


def np_pool2d(x: np.ndarray, pool: tuple[int, int], strides: tuple[int, int], padding: str, kind: str) -> np.ndarray:
    """TF pooling, NHWC: windows over the TF 'SAME'-padded input; the average counts only real pixels."""
    n, h, w, c = x.shape
    ph = tf_same_pads(h, pool[0], strides[0]) if padding == "same" else (0, 0)
    pw = tf_same_pads(w, pool[1], strides[1]) if padding == "same" else (0, 0)
    oh = (h + sum(ph) - pool[0]) // strides[0] + 1
    ow = (w + sum(pw) - pool[1]) // strides[1] + 1
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * strides[0] - ph[0], j * strides[1] - pw[0]
            win = x[:, max(r0, 0):r0 + pool[0], max(c0, 0):c0 + pool[1]]
            out[:, i, j] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return out


def np_resize_bilinear(x: np.ndarray, size: tuple[int, int], half_pixel: bool) -> np.ndarray:
    """tf.image.resize_bilinear (v1: src = dst * scale) / tf.image.resize (v2: half-pixel centers),
    per TensorFlow's resize_bilinear_op: lower index clamped at 0, upper at n-1."""
    out = x.astype(np.float64)
    for axis, n_out in ((1, size[0]), (2, size[1])):
        n_in = out.shape[axis]
        scale = n_in / n_out
        rows = []
        for o in range(n_out):
            src = (o + 0.5) * scale - 0.5 if half_pixel else o * scale
            lo = int(np.floor(src))
            frac = src - lo
            lo_c, hi_c = min(max(lo, 0), n_in - 1), min(max(lo + 1, 0), n_in - 1)
            a, b = np.take(out, lo_c, axis=axis), np.take(out, hi_c, axis=axis)
            rows.append(a + (b - a) * frac)
        out = np.stack(rows, axis=axis)
    return out


# ---------------------------------------------------------------------------- real Keras fixtures


@pytest.mark.parametrize("entry", fixture_entries(POOL_RESHAPE_CLASSES), ids=fixture_id)
def test_fixture_matches_keras(entry: dict) -> None:
    check_fixture(entry)


# ---------------------------------------------------------------------------- public corpus


def _weights(path: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path) as f:
        f["model_weights"].visititems(lambda n, o: out.__setitem__(n.split(":")[0], o[()]) if hasattr(o, "shape")
                                      else None)
    return out


def test_corpus_cnn2d_100_matches_numpy() -> None:
    """tf.keras 2.2.4-tf: DepthwiseConv2D(same, tanh), ZeroPadding2D(3), UpSampling2D(2, nearest),
    Cropping2D(1), MaxPooling2D(2) twice, then GlobalMaxPooling2D."""
    path = corpus("dl4j-test-resources/keras2/cnn2d_100.h5")
    g = load_keras(path)
    w = _weights(path)
    x = _r(2, 10, 10, 3)
    y = x.astype(np.float64)
    for k in ("24", "25"):
        dw = w[f"depthwise_conv2d_{k}/depthwise_conv2d_{k}/depthwise_kernel"]
        y = np.tanh(np_conv2d(y, dw.reshape(3, 3, 1, 3), w[f"depthwise_conv2d_{k}/depthwise_conv2d_{k}/bias"],
                              padding="same", groups=3))
        y = np.pad(y, ((0, 0), (3, 3), (3, 3), (0, 0)))
        y = y.repeat(2, axis=1).repeat(2, axis=2)[:, 1:-1, 1:-1]
        y = np_pool2d(y, (2, 2), (2, 2), "valid", "max")
    want = y.max(axis=(1, 2))
    assert g.outputs[0].shape == (None, 3)
    assert rel_err(run1(g, x), want) <= 1e-5


def test_corpus_wgan_discriminator_matches_numpy() -> None:
    """Keras 2.1.3: Conv2D(stride 2, same) + LeakyReLU(0.2), ZeroPadding2D(((0,1),(0,1))),
    BatchNormalization (eps 1e-3), Dropout, Flatten."""
    path = corpus("dl4j-test-resources/keras2/wgan_discriminator.h5")
    g = load_keras(path)
    w = _weights(path)

    def conv(y: np.ndarray, i: int, s: int) -> np.ndarray:
        return np_conv2d(y, w[f"conv2d_{i}/conv2d_{i}/kernel"], w[f"conv2d_{i}/conv2d_{i}/bias"], (s, s),
                         padding="same")

    def leaky(y: np.ndarray) -> np.ndarray:
        return np.where(y >= 0, y, 0.2 * y)

    def bn(y: np.ndarray, i: int) -> np.ndarray:
        p = {k: w[f"batch_normalization_{i}/batch_normalization_{i}/{k}"]
             for k in ("gamma", "beta", "moving_mean", "moving_variance")}
        return (y - p["moving_mean"]) / np.sqrt(p["moving_variance"] + 1e-3) * p["gamma"] + p["beta"]

    x = _r(2, 28, 28, 1)
    y = leaky(conv(x, 1, 2))
    y = bn(leaky(np.pad(conv(y, 2, 2), ((0, 0), (0, 1), (0, 1), (0, 0)))), 1)
    y = bn(leaky(conv(y, 3, 2)), 2)
    y = leaky(conv(y, 4, 1)).reshape(2, -1)
    assert g.outputs[0].shape == (None, 2048)
    assert scaled_error(run1(g, x), y) <= CORPUS  # relative to the output peak (~0.2)


# ---------------------------------------------------------------------------- pooling


def _pool_cfg(cls: str, **kw: object) -> dict:
    return layer(cls, "pool", **{"padding": "valid", "data_format": "channels_last", **kw})


@pytest.mark.parametrize("cls", ["MaxPooling2D", "AveragePooling2D"])
@pytest.mark.parametrize("pool,strides,padding", [
    ((3, 3), (2, 2), "same"), ((2, 3), None, "valid"), ((3, 2), (1, 3), "same"), ((2, 2), (3, 1), "valid"),
])
@pytest.mark.parametrize("channels_first", [False, True])
def test_pooling2d(tmp_path, cls, pool, strides, padding, channels_first) -> None:
    shape = (5, 8, 7) if channels_first else (8, 7, 5)
    cfg = sequential(list(shape), [_pool_cfg(cls, pool_size=list(pool), strides=None if strides is None else
                                             list(strides), padding=padding,
                                             data_format="channels_first" if channels_first else "channels_last")])
    g = load_built(tmp_path, cfg)
    x = _r(2, *shape)
    xl = x.transpose(0, 2, 3, 1) if channels_first else x
    want = np_pool2d(xl, pool, strides or pool, padding, "max" if cls.startswith("Max") else "avg")
    assert rel_err(run1(g, x), want.transpose(0, 3, 1, 2) if channels_first else want) <= 1e-6


@pytest.mark.parametrize("cls", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("pool,strides,padding", [(3, 2, "same"), (2, None, "valid"), (4, 3, "same")])
def test_pooling1d(tmp_path, cls, pool, strides, padding) -> None:
    cfg = sequential([11, 3], [_pool_cfg(cls, pool_size=[pool], strides=None if strides is None else [strides],
                                         padding=padding)])
    g = load_built(tmp_path, cfg)
    x = _r(2, 11, 3)
    want = np_pool2d(x[:, None], (1, pool), (1, strides or pool), padding, "max" if "Max" in cls else "avg")[:, 0]
    assert rel_err(run1(g, x), want) <= 1e-6


def test_keras1_pooling1d_names(tmp_path) -> None:
    """Keras 1 MaxPooling1D(pool_length, stride, border_mode) are translated before the handler."""
    cfg = sequential([10, 2], [layer("MaxPooling1D", "pool", pool_length=3, stride=None, border_mode="valid")])
    g = load_built(tmp_path, cfg, keras_version="1.2.2")
    x = _r(2, 10, 2)
    assert rel_err(run1(g, x), x[:, :9].reshape(2, 3, 3, 2).max(axis=2)) <= 1e-6


@pytest.mark.parametrize("cls", ["GlobalMaxPooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
                                 "GlobalAveragePooling1D"])
@pytest.mark.parametrize("channels_first,keepdims", [(False, False), (True, True), (True, False)])
def test_global_pooling(tmp_path, cls, channels_first, keepdims) -> None:
    two = "2D" in cls
    shape = ((4, 5, 6) if two else (4, 7)) if channels_first else ((5, 6, 4) if two else (7, 4))
    cfg = sequential(list(shape), [layer(cls, "gp", data_format="channels_first" if channels_first else
                                         "channels_last", keepdims=keepdims)])
    g = load_built(tmp_path, cfg)
    x = _r(2, *shape)
    axes = tuple(range(2, x.ndim)) if channels_first else tuple(range(1, x.ndim - 1))
    want = (x.max if "Max" in cls else x.mean)(axis=axes, keepdims=keepdims)
    assert rel_err(run1(g, x), want) <= 1e-6


# ---------------------------------------------------------------------------- padding and cropping


@pytest.mark.parametrize("padding,pads", [
    (2, ((2, 2), (2, 2))), ([1, 3], ((1, 1), (3, 3))), ([[1, 2], [0, 3]], ((1, 2), (0, 3))),
])
@pytest.mark.parametrize("channels_first", [False, True])
def test_zero_padding2d(tmp_path, padding, pads, channels_first) -> None:
    shape = (3, 4, 5) if channels_first else (4, 5, 3)
    cfg = sequential(list(shape), [layer("ZeroPadding2D", "zp", padding=padding,
                                         data_format="channels_first" if channels_first else "channels_last")])
    g = load_built(tmp_path, cfg)
    x = _r(2, *shape)
    spec = ((0, 0), (0, 0), *pads) if channels_first else ((0, 0), *pads, (0, 0))
    assert np.array_equal(run1(g, x), np.pad(x, spec))


def test_zero_padding2d_keras1_dict_and_th(tmp_path) -> None:
    cfg = sequential([3, 4, 5], [layer("ZeroPadding2D", "zp", dim_ordering="th",
                                       padding={"top_pad": 1, "bottom_pad": 0, "left_pad": 2, "right_pad": 3})])
    g = load_built(tmp_path, cfg, keras_version="1.2.2")
    x = _r(2, 3, 4, 5)
    assert np.array_equal(run1(g, x), np.pad(x, ((0, 0), (0, 0), (1, 0), (2, 3))))


@pytest.mark.parametrize("padding,pad", [(3, (3, 3)), ([0, 2], (0, 2))])
def test_zero_padding1d(tmp_path, padding, pad) -> None:
    g = load_built(tmp_path, sequential([6, 2], [layer("ZeroPadding1D", "zp", padding=padding)]))
    x = _r(2, 6, 2)
    assert np.array_equal(run1(g, x), np.pad(x, ((0, 0), pad, (0, 0))))


@pytest.mark.parametrize("cropping,crops", [(1, ((1, 1), (1, 1))), ([[0, 2], [3, 0]], ((0, 2), (3, 0))),
                                            ([2, 0], ((2, 2), (0, 0)))])
@pytest.mark.parametrize("channels_first", [False, True])
def test_cropping2d(tmp_path, cropping, crops, channels_first) -> None:
    shape = (3, 7, 8) if channels_first else (7, 8, 3)
    cfg = sequential(list(shape), [layer("Cropping2D", "crop", cropping=cropping,
                                         data_format="channels_first" if channels_first else "channels_last")])
    g = load_built(tmp_path, cfg)
    x = _r(2, *shape)
    (t, b), (lft, rgt) = crops
    sl = (slice(t, 7 - b), slice(lft, 8 - rgt))
    want = x[(slice(None), slice(None), *sl)] if channels_first else x[(slice(None), *sl)]
    assert np.array_equal(run1(g, x), want)


@pytest.mark.parametrize("cropping,crop", [(2, (2, 2)), ([0, 3], (0, 3)), ([1, 0], (1, 0))])
def test_cropping1d(tmp_path, cropping, crop) -> None:
    g = load_built(tmp_path, sequential([9, 2], [layer("Cropping1D", "crop", cropping=cropping)]))
    x = _r(2, 9, 2)
    assert np.array_equal(run1(g, x), x[:, crop[0]:9 - crop[1]])


def test_cropping_everything_is_refused(tmp_path) -> None:
    with pytest.raises(UnsupportedLayerError, match="leaves nothing"):
        load_built(tmp_path, sequential([4, 2], [layer("Cropping1D", "crop", cropping=[2, 2])]))


# ---------------------------------------------------------------------------- up-sampling


def test_upsampling1d_repeats_steps(tmp_path) -> None:
    g = load_built(tmp_path, sequential([5, 3], [layer("UpSampling1D", "up", size=3)]))
    assert "Tile" not in ops(g)
    x = _r(2, 5, 3)
    assert np.array_equal(run1(g, x), np.repeat(x, 3, axis=1))


@pytest.mark.parametrize("channels_first", [False, True])
def test_upsampling2d_nearest(tmp_path, channels_first) -> None:
    shape = (3, 4, 5) if channels_first else (4, 5, 3)
    cfg = sequential(list(shape), [layer("UpSampling2D", "up", size=[2, 3], interpolation="nearest",
                                         data_format="channels_first" if channels_first else "channels_last")])
    g = load_built(tmp_path, cfg)
    x = _r(2, *shape)
    h_ax, w_ax = (2, 3) if channels_first else (1, 2)
    assert np.array_equal(run1(g, x), x.repeat(2, axis=h_ax).repeat(3, axis=w_ax))


@pytest.mark.parametrize("version,half_pixel", [
    ("2.2.4", False), ("2.3.1", False), ("2.2.4-tf", True), ("2.11.0", True), ("3.4.1", True)])
def test_upsampling2d_bilinear_follows_keras_version(tmp_path, version, half_pixel) -> None:
    cfg = sequential([4, 5, 2], [layer("UpSampling2D", "up", size=[2, 3], interpolation="bilinear",
                                       data_format="channels_last")])
    g = load_built(tmp_path, cfg, keras_version=version)
    x = _r(2, 4, 5, 2)
    got = run1(g, x)
    assert rel_err(got, np_resize_bilinear(x, (8, 15), half_pixel)) <= 1e-6
    assert rel_err(got, np_resize_bilinear(x, (8, 15), not half_pixel)) > 1e-3


def test_upsampling2d_other_interpolation_is_refused(tmp_path) -> None:
    cfg = sequential([4, 5, 2], [layer("UpSampling2D", "up", size=[2, 2], interpolation="bicubic",
                                       data_format="channels_last")])
    with pytest.raises(UnsupportedLayerError, match="bicubic"):
        load_built(tmp_path, cfg, keras_version="3.4.1")


def _embedding_model(head: dict) -> dict:
    emb = layer("Embedding", "emb", input_dim=6, output_dim=3, mask_zero=True, input_length=5)
    cfg = sequential([5], [emb, head])
    cfg["config"]["layers"][0]["config"]["dtype"] = "int32"
    return cfg


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling1d_uses_embedding_mask(tmp_path, keepdims) -> None:
    """Keras: sum(x * mask) / sum(mask) over time when Embedding(mask_zero=True) feeds the pooling."""
    table = _r(6, 3)
    cfg = _embedding_model(layer("GlobalAveragePooling1D", "gap", data_format="channels_last", keepdims=keepdims))
    g = load_built(tmp_path, cfg, {"emb": [("embeddings", table)]})
    ids = np.array([[3, 0, 2, 0, 0], [1, 2, 3, 4, 5]], np.int32)
    mask = (ids != 0)[..., None]
    want = (table[ids] * mask).sum(axis=1, keepdims=keepdims) / mask.sum(axis=1, keepdims=keepdims)
    assert rel_err(run1(g, ids), want) <= 1e-6
