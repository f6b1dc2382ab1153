"""The trained digits fixtures (tests/fixtures/trained) as the pruning tests use them: graphs after
the pruning cleanup (BatchNorm not folded), calibration and test splits shaped for each model."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

import keras2edge
from keras2edge.ir import Graph
from keras2edge.ir.passes import PassManager
from keras2edge.prune import prune_passes

TRAINED = Path(__file__).resolve().parents[1] / "fixtures" / "trained"
MANIFEST = json.loads((TRAINED / "manifest.json").read_text())
MODELS = sorted(MANIFEST["models"])


def model_path(name: str) -> Path:
    return TRAINED / f"{name}.keras"


def graph(name: str) -> Graph:
    """A fresh pruning-ready graph of fixture ``name``."""
    g = keras2edge.load(model_path(name), cleanup=False)
    PassManager(prune_passes()).run(g)
    return g


@lru_cache(maxsize=None)
def _digits() -> dict[str, np.ndarray]:
    with np.load(TRAINED / "digits.npz") as d:
        return {k: d[k] for k in d.files}


def split(name: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    """(inputs shaped for model ``name``, labels) of ``part`` ("calib" or "test")."""
    d = _digits()
    shape = tuple(MANIFEST["models"][name]["input_shape"])
    return d[f"x_{part}"].reshape((-1, *shape)), d[f"y_{part}"]


def accuracy(g: Graph) -> float:
    """Top-1 accuracy (%) of ``g`` on the test split, run as .tflite in keras2edge.runtime."""
    from keras2edge.prune.evaluation import predictions

    x, y = split(g.name, "test")
    return 100.0 * float(np.mean(predictions(g, x) == y))


def float_accuracy(g: Graph, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of float graph ``g`` run as .tflite in keras2edge.runtime on (x, y)."""
    from keras2edge.convert.tflite import tflite_bytes
    from keras2edge.runtime import Interpreter

    out = np.asarray(Interpreter(tflite_bytes(g)).run(x))
    return float(np.mean(out.argmax(-1) == y))


def int8_file(g: Graph, calibration: np.ndarray, path: Path) -> bytes:
    """Bytes of ``g`` (BatchNorm folded on a copy) quantized to int8 with int8 I/O, written to ``path``."""
    g = g.copy()
    keras2edge.optimize(g)
    keras2edge.save(keras2edge.quantize(g, calibration=calibration, io="int8"), path)
    return path.read_bytes()
