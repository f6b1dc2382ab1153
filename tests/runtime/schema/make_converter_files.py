"""Regenerate the official-converter ``.tflite`` fixtures under ``tests/fixtures/tflite/``.

How to run (from the repository root; needs TensorFlow, i.e. the ``zoo`` extra)::

    python tests/runtime/schema/make_converter_files.py

No network access: weights are random with a fixed seed, calibration data is random too. The
files are what ``tf.lite.TFLiteConverter.from_keras_model`` (TF 2.21, Keras 3) emits for one small
Keras model that exercises the ops keras2edge reads and writes:

* ``ops_float.tflite``   float32, dynamic batch (``shape_signature`` -1; the converter adds
  SHAPE / STRIDED_SLICE / PACK for the Reshape);
* ``ops_int8_float_io.tflite``  full int8 with float input/output (QUANTIZE / DEQUANTIZE at the edges);
* ``ops_int8.tflite``  full int8 with int8 input/output, fixed batch 1.

The model: ZeroPadding2D (PAD) → Conv2D+ReLU (CONV_2D) → DepthwiseConv2D ×2 + ReLU6
(DEPTHWISE_CONV_2D) → MaxPool / AveragePool (MAX_POOL_2D, AVERAGE_POOL_2D) → Add (ADD) →
sigmoid gate (LOGISTIC, MUL) → hard_swish (HARD_SWISH) → Concatenate (CONCATENATION) →
Resizing bilinear / nearest (RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR) → Conv2DTranspose
(TRANSPOSE_CONV) → GlobalAveragePooling2D (MEAN) → Reshape (RESHAPE) → Dense (FULLY_CONNECTED) →
Softmax (SOFTMAX). Each file is well under 100 KB. The tests never need TensorFlow: they compare
LiteRT's outputs on a fixture and on our rewrite of it.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "fixtures" / "tflite"  # a standalone script: tests/fixtures/tflite


def build_model(batch_size: int | None = None):  # noqa: ANN201 - keras.Model
    import keras
    from keras import layers

    keras.utils.set_random_seed(1234)
    inp = keras.Input((16, 16, 3), batch_size=batch_size, name="img")
    x = layers.ZeroPadding2D(1)(inp)
    x = layers.Conv2D(8, 3, strides=2, activation="relu", name="conv")(x)  # 8x8x8
    d = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu6", name="dw")(x)  # 16 ch
    d = layers.DepthwiseConv2D(3, padding="same", name="dw2")(d)
    p1 = layers.MaxPooling2D(2, name="maxpool")(d)  # 4x4x16
    p2 = layers.AveragePooling2D(2, name="avgpool")(d)
    s = layers.Add(name="add")([p1, p2])
    g = layers.Conv2D(16, 1, activation="sigmoid", name="gate")(s)
    s = layers.Multiply(name="mul")([s, g])
    h = layers.Activation("hard_swish", name="hswish")(s)
    c = layers.Concatenate(name="concat")([s, h])  # 4x4x32
    up1 = layers.Resizing(8, 8, interpolation="bilinear", name="resize_bilinear")(c)
    up2 = layers.Resizing(8, 8, interpolation="nearest", name="resize_nearest")(c)
    u = layers.Add(name="add2")([up1, up2])
    t = layers.Conv2DTranspose(4, 3, strides=2, padding="same", name="deconv")(u)  # 16x16x4
    gap = layers.GlobalAveragePooling2D(name="gap")(t)
    r = layers.Reshape((2, 2), name="reshape")(gap)
    r = layers.Flatten(name="flatten")(r)
    y = layers.Dense(10, name="dense")(r)
    y = layers.Softmax(name="softmax")(y)
    return keras.Model(inp, y, name="ops")


def convert(model, int8: bool, int8_io: bool) -> bytes:  # noqa: ANN001
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        rng = np.random.default_rng(0)

        def rep():
            for _ in range(16):
                yield [rng.uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    return conv.convert()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    files = {
        "ops_float.tflite": convert(build_model(None), int8=False, int8_io=False),
        "ops_int8_float_io.tflite": convert(build_model(None), int8=True, int8_io=False),
        "ops_int8.tflite": convert(build_model(1), int8=True, int8_io=True),
    }
    for name, data in files.items():
        assert len(data) < 100_000, f"{name} is {len(data)} bytes"
        (OUT / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
