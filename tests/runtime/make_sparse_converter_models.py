"""Make ``tests/fixtures/tflite_sparse/``: float ``.tflite`` files with sparse weights written by the
OFFICIAL TensorFlow Lite converter (``tf.lite.Optimize.EXPERIMENTAL_SPARSITY``), oracles for
keras2edge's reading of ``Tensor.sparsity`` and DENSIFY (tests/runtime/test_sparse.py).

Needs TensorFlow (the ``zoo`` extra; run from the repository root with the zoo venv)::

    python tests/runtime/make_sparse_converter_models.py

Nothing is downloaded: random weights (fixed seed), 80 % of each kernel's smallest magnitudes zeroed.
What TF 2.21's converter wrote when this was last run: every pruned kernel as a sparse constant read
through DENSIFY (``DENSIFY -> FULLY_CONNECTED``, ``DENSIFY -> CONV_2D``), natural traversal order,
no blocks, the last dimension SPARSE_CSR and the others DENSE: the form keras2edge writes for such
weights too (docs/sparsity.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "tflite_sparse"
SPARSITY = 0.8


def _prune(model, rng: np.random.Generator) -> None:  # noqa: ANN001 - a keras.Model
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        ws = [rng.standard_normal(w.shape).astype(np.float32) * 0.3 for w in ws]
        k = ws[0]
        ws[0] = np.where(np.abs(k) < np.quantile(np.abs(k), SPARSITY), 0, k).astype(np.float32)
        layer.set_weights(ws)


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    models = {
        "mlp": keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                                 keras.layers.Dense(10)]),
        "cnn": keras.Sequential([keras.Input((8, 8, 16)), keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
                                 keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)]),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    for name, model in models.items():
        _prune(model, rng)
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
        data = conv.convert()
        (OUT / f"{name}.tflite").write_bytes(data)
        print(name, len(data), "bytes")


if __name__ == "__main__":
    main()
