"""The accuracy-preserving algorithms on the trained digits models (tests/fixtures/trained): top-1
accuracy on the 360 test samples, int8 in keras2edge.runtime, never more than 0.1 point below the same
quantization with every algorithm off — with the defaults (per channel and per tensor) and with all
three forced on (per channel). One test sample is 0.28 point, so this means: no sample lost.

Measured (minmax, 200 calibration samples; per channel off / defaults / all on, per tensor off /
defaults): digits_cnn 98.06 / 98.33 / 98.06, 98.33 / 98.33 (Keras: 98.33); digits_gru 97.22
everywhere; digits_lstm and digits_mlp 96.94 everywhere. Not
held here: bias correction forced alone on the GRU loses one sample (97.22 -> 96.94, its float
accuracy), which is why its default is off on graphs without convolutions (quantize/algorithms.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.tflite import tflite_bytes
from keras2edge.runtime import Interpreter

from .test_trained_fixtures import MANIFEST, MODELS, TRAINED, _data

MAX_DROP = 0.001
OFF = {"cle": False, "bias_correction": False, "adaround": False}
ON = {"cle": True, "bias_correction": True, "adaround": True}


def _accuracy(graph, x: np.ndarray, y: np.ndarray, calibration: np.ndarray, **options: object) -> float:
    q = keras2edge.quantize(graph, calibration=calibration, **options)
    out = np.asarray(Interpreter(tflite_bytes(q)).run(x))
    return float(np.mean(out.argmax(-1) == y))


@pytest.mark.parametrize("name", MODELS)
def test_never_worse(name: str) -> None:
    data = _data()
    shape = tuple(MANIFEST["models"][name]["input_shape"])
    graph = keras2edge.load(TRAINED / f"{name}.keras")
    x, y = data["x_test"].reshape((-1, *shape)), data["y_test"]
    cal = data["x_calib"].reshape((-1, *shape))
    got = {}
    for per_tensor in (False, True):
        off = _accuracy(graph, x, y, cal, per_tensor=per_tensor, **OFF)
        got[per_tensor, "defaults"] = _accuracy(graph, x, y, cal, per_tensor=per_tensor)
        assert got[per_tensor, "defaults"] >= off - MAX_DROP, (per_tensor, off, got)
    off = _accuracy(graph, x, y, cal, **OFF)
    got[False, "all"] = _accuracy(graph, x, y, cal, **ON)
    assert got[False, "all"] >= off - MAX_DROP, (off, got)
