"""Regenerate the bundled example model `examples/tiny_cnn.keras` (needs the `zoo` extra: TensorFlow).

A small Keras 3 CNN for 28x28x1 images (Conv2D, BatchNormalization, ReLU, DepthwiseConv2D,
MaxPooling2D, GlobalAveragePooling2D, Dropout, Dense softmax) with fixed-seed random weights and
non-trivial BatchNormalization statistics. Run: python examples/make_example.py
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402


def main() -> None:
    keras.utils.set_random_seed(7)
    x = inp = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6", name="dw2")(x)
    x = keras.layers.Conv2D(16, 1, activation="relu", name="pw2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(0.2, name="drop")(x)
    out = keras.layers.Dense(10, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out, name="tiny_cnn")
    rng = np.random.default_rng(7)
    bn = model.get_layer("bn1")
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                    rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
    here = os.path.dirname(os.path.abspath(__file__))
    model.save(os.path.join(here, "tiny_cnn.keras"))
    sample = rng.random((1, 28, 28, 1), dtype=np.float32)
    np.save(os.path.join(here, "tiny_cnn_input.npy"), sample)
    np.save(os.path.join(here, "tiny_cnn_keras_output.npy"), model.predict(sample, verbose=0))


if __name__ == "__main__":
    main()
