"""Real-Keras fixtures (tests/fixtures, made by make_fixtures.py with Keras 2 and Keras 3) through the
whole ONNX path: every format of every model converts, and onnxruntime matches Keras' recorded outputs.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import keras2edge
from keras2edge.errors import Keras2EdgeError

from .corpus import FIXTURES
from .onnxrt import run_graph_onnx
from .tolerances import KERAS_FIXTURES as TOLERANCE, scaled_error

MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
WORST: dict[str, float] = {}


def _sparsemax_reference(z: np.ndarray) -> np.ndarray:
    """Sparsemax (Martins & Astudillo 2016) over the last axis, by sorting."""
    zs = -np.sort(-z, axis=-1)
    cs = np.cumsum(zs, axis=-1)
    k = np.arange(1, z.shape[-1] + 1)
    support = 1 + k * zs > cs
    kz = support.sum(axis=-1, keepdims=True)
    tau = (np.take_along_axis(cs, kz - 1, axis=-1) - 1) / kz
    return np.maximum(z - tau, 0)


# Outputs where recorded Keras is wrong, checked against an independent reference instead.
# Keras 3.15's TensorFlow-backend sparsemax returns all zeros (checked by hand: sparsemax of
# [1.94, 0.52, ..., 1.33, ...] is [0.81, 0, 0, 0.19, 0, ...], Keras gives [0, ..., 0]).
KERAS_BUGS = {"act_sparsemax": _sparsemax_reference}


def _id(e: dict) -> str:
    return f"{e['era']}-{e['model']}-{e['format']}"


@pytest.mark.parametrize("entry", MANIFEST, ids=[_id(e) for e in MANIFEST])
def test_fixture(entry: dict, tmp_path) -> None:
    path = FIXTURES / entry["file"]
    weights = FIXTURES / entry["weights"] if entry.get("weights") else None
    out = tmp_path / "m.onnx"
    if entry["expect"].startswith("fail:"):
        with pytest.raises(Keras2EdgeError) as ei:
            keras2edge.convert_model(path, out, weights=weights)
        assert entry["expect"][5:] in str(ei.value)
        assert not os.listdir(tmp_path)
        return
    graph = keras2edge.convert_model(path, out, weights=weights)
    assert out.exists()
    io = np.load(FIXTURES / entry["io"], allow_pickle=False)
    feeds = {k[3:]: io[k] for k in io.files if k.startswith("in:")}
    assert sorted(feeds) == sorted(v.name for v in graph.inputs)
    assert [v.name for v in graph.outputs] == entry["outputs"]
    got = run_graph_onnx(graph, feeds)
    (x0,) = feeds.values() if len(feeds) == 1 else (None,)
    errs = [scaled_error(g, KERAS_BUGS[name](x0) if name in KERAS_BUGS and x0 is not None else io[f"out:{k}"])
            for k, (g, name) in enumerate(zip(got, entry["outputs"]))]
    WORST[_id(entry)] = max(errs)
    assert max(errs) <= TOLERANCE, f"{_id(entry)}: errors {errs}"
