"""Make ``.tflite`` files with the OFFICIAL TensorFlow Lite converter, as oracles for keras2edge.runtime.

Needs TensorFlow (the ``zoo`` extra). Nothing is downloaded: every weight is random with a fixed seed.

Two jobs:

* ``python tests/runtime/make_converter_models.py`` (from the repository root) regenerates the SMALL
  committed fixtures under ``tests/fixtures/tflite_runtime/``: one float32 ``.tflite`` per model in
  ``SMALL`` (each well under 200 KB), converted by ``tf.lite.TFLiteConverter.from_keras_model`` from a
  Keras 3 model with dynamic batch, plus ``<name>.io.npz`` holding a batch of 2 inputs (``in:<i>``)
  and Keras' own outputs (``out:<i>``) for a second, independent check. The tests compare
  keras2edge.runtime with LiteRT (BUILTIN_REF) on these files; they never need TensorFlow.
* ``python tests/runtime/make_converter_models.py --zoo NAME [NAME ...] --out DIR`` builds Keras
  applications (``weights=None``, BatchNormalization statistics made non-trivial) and writes
  ``DIR/NAME.tflite`` (float32, official converter), ``DIR/NAME.h5`` (Keras 3 legacy HDF5, for
  keras2edge's own ONNX path), ``DIR/NAME.json`` (opcodes and sizes) and ``DIR/NAME.io.npz`` (a
  batch-1 input ``x`` and Keras' output ``y`` for it). Used by
  ``bench/runtime.py`` and the zoo-marked runtime tests; these files are too big to commit.
  ``--zoo all`` builds the 14 models of tests/zoo.

What TF 2.21's converter emitted when this was last run (float32, dynamic batch):

* zoo, all 14 models together: ADD, AVERAGE_POOL_2D, CONCATENATION, CONV_2D (ConvNeXt's 7x7
  depthwise convs come as grouped CONV_2D, one input channel per group), DEPTHWISE_CONV_2D,
  FULLY_CONNECTED, GATHER, GELU, HARD_SWISH, LOGISTIC, MAX_POOL_2D, MEAN, MUL, NEG, PACK, PAD,
  REDUCE_PROD, RELU, RESHAPE, RSQRT, SHAPE, SQUARED_DIFFERENCE, STRIDED_SLICE, SUB (SHAPE /
  STRIDED_SLICE / PACK / GATHER / REDUCE_PROD compute reshape targets from the dynamic batch);
* the small fixtures add BATCH_MATMUL, BATCH_TO_SPACE_ND / SPACE_TO_BATCH_ND (a dilated SAME conv),
  ELU, EXP, EXPAND_DIMS, LEAKY_RELU, LOG, LOG_SOFTMAX, MAXIMUM, MINIMUM, PRELU, REDUCE_MAX, RELU6,
  RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR, SOFTMAX, TANH, TILE, TRANSPOSE, TRANSPOSE_CONV.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np

HERE = Path(__file__).resolve().parent
OUT_SMALL = HERE.parent / "fixtures" / "tflite_runtime"
SEED = 1234

# name -> (constructor kwargs, input range). The 14 models of tests/zoo/test_zoo.py.
ZOO = {
    "MobileNet": ({}, (-1, 1)),
    "MobileNetV2": ({}, (-1, 1)),
    "MobileNetV3Small": ({"input_shape": (224, 224, 3)}, (0, 255)),
    "MobileNetV3Large": ({"input_shape": (224, 224, 3)}, (0, 255)),
    "ResNet50": ({}, (-1, 1)),
    "ResNet50V2": ({}, (-1, 1)),
    "EfficientNetB0": ({}, (0, 255)),
    "EfficientNetV2B0": ({}, (0, 255)),
    "DenseNet121": ({}, (-1, 1)),
    "VGG16": ({"include_top": False, "pooling": "avg", "input_shape": (224, 224, 3)}, (-1, 1)),
    "InceptionV3": ({}, (-1, 1)),
    "Xception": ({}, (-1, 1)),
    "NASNetMobile": ({}, (-1, 1)),
    "ConvNeXtTiny": ({}, (0, 255)),
}


def _convert(model) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    with contextlib.redirect_stdout(io.StringIO()):  # Keras' export prints every captured variable
        return conv.convert()


def _opcodes(tfl: bytes) -> dict[str, int]:
    """Op name -> count, read with TensorFlow's own flatbuffer module (no keras2edge code)."""
    from tensorflow.lite.python import schema_py_generated as s

    m = s.ModelT.InitFromPackedBuf(tfl, 0)
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    codes = [names[max(c.builtinCode, c.deprecatedBuiltinCode)] for c in m.operatorCodes]
    return dict(Counter(codes[op.opcodeIndex] for op in m.subgraphs[0].operators))


def _randomize_bn(model, rng: np.random.Generator) -> None:
    """Non-trivial BN statistics and affine parameters, LayerNorm affine, LayerScale (see tests/zoo)."""
    import keras

    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = tuple(layer.moving_mean.shape)
            layer.moving_mean.assign(rng.normal(0.0, 0.2, shape).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, shape).astype(np.float32))
            if layer.gamma is not None:  # scale=False (InceptionV3) has none
                layer.gamma.assign(rng.uniform(0.5, 1.5, shape).astype(np.float32))
            if layer.beta is not None:
                layer.beta.assign(rng.normal(0.0, 0.1, shape).astype(np.float32))
        elif isinstance(layer, keras.layers.LayerNormalization):
            if layer.gamma is not None:
                layer.gamma.assign(rng.uniform(0.5, 1.5, tuple(layer.gamma.shape)).astype(np.float32))
            if layer.beta is not None:
                layer.beta.assign(rng.normal(0.0, 0.1, tuple(layer.beta.shape)).astype(np.float32))
        elif type(layer).__name__ == "LayerScale":
            for w in layer.weights:
                w.assign(rng.uniform(0.1, 0.5, tuple(w.shape)).astype(np.float32))


def zoo_model(name: str):
    """The Keras application ``name`` of ZOO as every zoo benchmark and test builds it: no downloaded
    weights (random, seed SEED), logits (no softmax), BatchNormalization statistics randomised."""
    import keras

    kwargs, _ = ZOO[name]
    keras.utils.set_random_seed(SEED)
    kw = {"weights": None, **kwargs}
    if kw.get("include_top", True):
        kw.setdefault("classifier_activation", None)
    model = getattr(keras.applications, name)(**kw)
    _randomize_bn(model, np.random.default_rng(SEED))
    return model


def make_zoo(names: list[str], out: Path) -> None:
    import keras

    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        _, (lo, hi) = ZOO[name]
        model = zoo_model(name)
        tfl = _convert(model)
        (out / f"{name}.tflite").write_bytes(tfl)
        model.save(str(out / f"{name}.h5"))
        shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        # One batch-1 input (the one bench/runtime.py uses) and Keras' own output for it.
        x = np.random.default_rng(0).uniform(lo, hi, (1, *shape)).astype(np.float32)
        np.savez(out / f"{name}.io.npz", x=x, y=np.asarray(model(x, training=False), np.float32))
        info = {"model": name, "input_shape": list(shape), "input_range": [lo, hi], "tflite_bytes": len(tfl),
                "params": int(model.count_params()), "ops": _opcodes(tfl)}
        (out / f"{name}.json").write_text(json.dumps(info, indent=1))
        print(f"{name}: {len(tfl) / 1e6:.1f} MB, ops {sorted(info['ops'])}", flush=True)
        keras.backend.clear_session()


# ------------------------------------------------------------------------------------------------
# Small committed fixtures
# ------------------------------------------------------------------------------------------------

def _small_models():
    """name -> (Keras model, input range). Each exercises a family of converter output."""
    import keras
    from keras import layers as L

    models = {}

    def add(name, inputs, outputs, rng=(-1.0, 1.0)):
        models[name] = (keras.Model(inputs, outputs, name=name), rng)

    # A MobileNetV2-like block: conv, BN, relu6, depthwise (stride 2, SAME), 1x1 project, residual.
    x = keras.Input((16, 16, 3), name="img")
    y = L.Conv2D(8, 3, padding="same", use_bias=False)(x)
    y = L.BatchNormalization()(y)
    y = L.ReLU(6.0)(y)
    y = L.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)(y)
    y = L.BatchNormalization()(y)
    y = L.ReLU(6.0)(y)
    z = L.Conv2D(8, 1)(y)
    y = L.Add()([y, z])
    y = L.ZeroPadding2D(((0, 1), (0, 1)))(y)
    y = L.DepthwiseConv2D(3, strides=2, padding="valid", depth_multiplier=2, activation="relu")(y)
    y = L.SeparableConv2D(12, 3, padding="same", activation="swish")(y)
    y = L.Conv2D(16, 3, padding="same", dilation_rate=2, activation="hard_silu")(y)
    y = L.GlobalAveragePooling2D()(y)
    y = L.Dense(10)(y)
    add("mbv2_block", x, L.Softmax()(y))

    # Pooling, concat, grouped conv, strides, valid padding, transposed conv, upsampling.
    x = keras.Input((15, 13, 4), name="x")
    a = L.MaxPooling2D(3, strides=2, padding="same")(x)
    b = L.AveragePooling2D(3, strides=2, padding="same")(x)
    c = L.AveragePooling2D(2, strides=2, padding="valid")(L.ZeroPadding2D(((0, 1), (0, 1)))(x))
    y = L.Concatenate()([a, b, c])
    y = L.Conv2D(12, 3, groups=3, padding="same", activation="relu")(y)
    y = L.Conv2D(8, (3, 2), strides=(2, 1), padding="valid", activation="tanh")(y)
    t = L.Conv2DTranspose(6, 3, strides=2, padding="same")(y)
    t2 = L.Conv2DTranspose(6, (2, 3), strides=(1, 2), padding="valid", activation="sigmoid")(y)
    u = L.UpSampling2D(2, interpolation="bilinear")(y)
    u = L.Conv2D(6, 1)(u)
    m = L.MaxPooling2D(2, padding="valid")(t)
    add("pool_concat_tconv", x, [L.Flatten()(m), L.GlobalMaxPooling2D()(t2), u])

    # Dense stacks, rank-3 Dense (keep_num_dims / batch matmul), layer norm, gelu, elementwise.
    x = keras.Input((6, 10), name="seq")
    y = L.Dense(16, activation="gelu")(x)
    y = L.LayerNormalization()(y)
    y = L.Dense(8, use_bias=False)(y)
    att = L.Attention()([y, y])
    y = L.Add()([y, att])
    y = L.Multiply()([y, L.Dense(8, activation="sigmoid")(y)])
    y = L.Subtract()([y, L.Dense(8, activation="elu")(y)])
    p = L.Permute((2, 1))(y)
    r = L.Reshape((4, 12))(p)
    g = L.GlobalAveragePooling1D()(r)
    mx = L.Maximum()([g, L.Dense(12, activation="leaky_relu")(g)])
    mn = L.Minimum()([mx, L.Dense(12, activation="softplus")(g)])
    add("dense_seq", x, [L.Dense(5, activation="log_softmax")(mn), L.Activation("relu6")(r)])

    # Conv1D, pooling 1D, upsampling nearest, cropping, PReLU, Embedding-free gather-ish slicing.
    x = keras.Input((20, 3), name="sig")
    y = L.Conv1D(8, 5, padding="causal", activation="relu")(x)
    y = L.MaxPooling1D(2)(y)
    y = L.Conv1D(8, 3, strides=2, padding="same")(y)
    y = L.PReLU()(y)
    y = L.UpSampling1D(2)(y)
    y = L.Cropping1D((1, 2))(y)
    y = L.Lambda(lambda v: v[:, ::2, 1:7])(y) if False else y
    add("conv1d", x, L.GlobalAveragePooling1D()(y))

    # 2-D nearest upsampling and resizing, cropping.
    x = keras.Input((8, 9, 2), name="im")
    y = L.UpSampling2D((2, 3), interpolation="nearest")(x)
    y = L.Cropping2D(((1, 2), (3, 1)))(y)
    y = L.Resizing(7, 5, interpolation="bilinear")(y)
    z = L.Resizing(11, 13, interpolation="nearest")(x)
    add("resize", x, [y, L.Conv2D(3, 1)(z)])

    return models


def make_small() -> None:
    import keras

    OUT_SMALL.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    for name, (model, (lo, hi)) in _small_models().items():
        _randomize_bn(model, rng)
        tfl = _convert(model)
        if len(tfl) > 200_000:
            raise SystemExit(f"{name}: {len(tfl)} bytes is too big to commit")
        (OUT_SMALL / f"{name}.tflite").write_bytes(tfl)
        xs = [rng.uniform(lo, hi, (2, *(int(d) for d in i.shape[1:]))).astype(np.float32) for i in model.inputs]
        out = model(xs[0] if len(xs) == 1 else xs, training=False)
        outs = out if isinstance(out, (list, tuple)) else [out]
        io = {f"in:{i}": v for i, v in enumerate(xs)}
        io.update({f"out:{i}": np.asarray(o, np.float32) for i, o in enumerate(outs)})
        np.savez(OUT_SMALL / f"{name}.io.npz", **io)
        print(f"{name}: {len(tfl)} bytes, ops {sorted(_opcodes(tfl))}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", nargs="+", help="Keras application names, or 'all'")
    ap.add_argument("--out", type=Path, help="output folder for --zoo")
    a = ap.parse_args(argv)
    if a.zoo:
        names = list(ZOO) if a.zoo == ["all"] else a.zoo
        unknown = [n for n in names if n not in ZOO]
        if unknown or a.out is None:
            ap.error(f"unknown models {unknown} (known: {', '.join(ZOO)})" if unknown else "--out is required")
        make_zoo(names, a.out)
    else:
        make_small()


if __name__ == "__main__":
    sys.exit(main())
