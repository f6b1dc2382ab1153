"""TFOpLambda / SlicingOpLambda handlers (tf.keras 2.4-2.15 TF functions on Keras tensors).

Oracles: Keras' recorded outputs for the real tf.keras fixture (tests/fixtures/k2/tfop.*), and NumPy
for hand-written configs whose inbound nodes are spelled exactly as tf.keras 2.21 serializes them
(observed with ``model.to_json()``): a bare ``[layer, 0, 0, kwargs]`` entry for a call on one tensor,
a list of entries for ``tf.concat([a, b])``, ``["_CONSTANT_VALUE", -1, 3.0, kwargs]`` for ``3.0 - x``,
and ``slice_spec`` lists with ``{"start", "stop", "step"}`` dicts, integers, None (newaxis) and
``{"class_name": "__ellipsis__"}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
import numpy as np
import pytest

from keras2edge.errors import UnsupportedLayerError
from keras2edge.ir.evaluate import evaluate

from ..helpers import check_fixture, fixture_entries, fixture_id, load_built

RNG = np.random.default_rng(3)
X = RNG.standard_normal((2, 4, 6)).astype(np.float32)
Y = RNG.standard_normal((2, 4, 6)).astype(np.float32)
TOL = 1e-5


def _erf(v: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf)(v)


def _softmax(v: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(v - v.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sl(start: int | None = None, stop: int | None = None, step: int | None = None) -> dict[str, Any]:
    return {"start": start, "stop": stop, "step": step}


ELLIPSIS = {"class_name": "__ellipsis__"}

# (function, layer class, inbound node as tf.keras writes it, NumPy oracle)
CASES: list[tuple[str, str, Any, Callable[[np.ndarray, np.ndarray], np.ndarray]]] = [
    ("__operators__.add", "TFOpLambda", ["x", 0, 0, {"y": 3.0, "name": None}], lambda x, y: x + 3.0),
    ("math.subtract", "TFOpLambda", ["_CONSTANT_VALUE", -1, 3.0, {"y": ["x", 0, 0], "name": None}],
     lambda x, y: 3.0 - x),
    ("math.truediv", "TFOpLambda", ["_CONSTANT_VALUE", -1, 2.0, {"y": ["y", 0, 0], "name": None}],
     lambda x, y: 2.0 / y),
    ("math.truediv", "TFOpLambda", ["x", 0, 0, {"y": 2, "name": None}], lambda x, y: x / 2),
    ("math.multiply", "TFOpLambda", ["x", 0, 0, {"y": ["y", 0, 0], "name": None}], lambda x, y: x * y),
    ("math.maximum", "TFOpLambda", ["x", 0, 0, {"y": ["y", 0, 0], "name": None}], np.maximum),
    ("math.add", "TFOpLambda", ["x", 0, 0, {"y": [[1, 2, 3, 4, 5, 6]]}], lambda x, y: x + np.arange(1, 7)),
    ("math.pow", "TFOpLambda", ["x", 0, 0, {"y": 2, "name": None}], lambda x, y: x ** 2),
    ("math.pow", "TFOpLambda", ["x", 0, 0, {"y": 3.0}], lambda x, y: x ** 3),
    ("math.negative", "TFOpLambda", ["x", 0, 0, {"name": None}], lambda x, y: -x),
    ("math.square", "TFOpLambda", ["x", 0, 0, {"name": None}], lambda x, y: x * x),
    ("math.abs", "TFOpLambda", ["x", 0, 0, {}], lambda x, y: np.abs(x)),
    ("math.exp", "TFOpLambda", ["x", 0, 0, {}], lambda x, y: np.exp(x)),
    ("nn.relu6", "TFOpLambda", ["x", 0, 0, {}], lambda x, y: np.clip(x, 0, 6)),
    ("nn.relu", "TFOpLambda", ["x", 0, 0, {}], lambda x, y: np.maximum(x, 0)),
    ("math.sigmoid", "TFOpLambda", ["x", 0, 0, {}], lambda x, y: 1 / (1 + np.exp(-x))),
    ("math.tanh", "TFOpLambda", ["x", 0, 0, {"name": None}], lambda x, y: np.tanh(x)),
    ("nn.silu", "TFOpLambda", ["x", 0, 0, {}], lambda x, y: x / (1 + np.exp(-x))),
    ("nn.gelu", "TFOpLambda", ["x", 0, 0, {}], lambda x, y: 0.5 * x * (1 + _erf(x / np.sqrt(2)))),
    ("nn.leaky_relu", "TFOpLambda", ["x", 0, 0, {}], lambda x, y: np.where(x >= 0, x, 0.2 * x)),
    ("nn.softmax", "TFOpLambda", ["x", 0, 0, {"axis": -1}], lambda x, y: _softmax(x, -1)),
    ("nn.softmax", "TFOpLambda", ["x", 0, 0, {"axis": 1}], lambda x, y: _softmax(x, 1)),
    ("clip_by_value", "TFOpLambda", ["x", 0, 0, {"clip_value_min": 0.0, "clip_value_max": 1.0}],
     lambda x, y: np.clip(x, 0, 1)),
    ("reshape", "TFOpLambda", ["x", 0, 0, {"shape": [-1, 24]}], lambda x, y: x.reshape(-1, 24)),
    ("concat", "TFOpLambda", [["x", 0, 0, {"axis": 1}], ["y", 0, 0, {"axis": 1}]],
     lambda x, y: np.concatenate([x, y], 1)),
    ("stack", "TFOpLambda", [["x", 0, 0, {"axis": 1}], ["y", 0, 0, {"axis": 1}]], lambda x, y: np.stack([x, y], 1)),
    ("compat.v1.transpose", "TFOpLambda", ["x", 0, 0, {"perm": [0, 2, 1], "name": "transpose", "conjugate": False}],
     lambda x, y: x.transpose(0, 2, 1)),
    ("compat.v1.transpose", "TFOpLambda", ["x", 0, 0, {"perm": None, "name": "transpose", "conjugate": False}],
     lambda x, y: x.transpose(2, 1, 0)),
    ("expand_dims", "TFOpLambda", ["x", 0, 0, {"axis": -1}], lambda x, y: x[..., None]),
    ("math.reduce_sum", "TFOpLambda", ["x", 0, 0, {"axis": [1, 2], "keepdims": True}],
     lambda x, y: x.sum(axis=(1, 2), keepdims=True)),
    ("math.reduce_max", "TFOpLambda", ["x", 0, 0, {"axis": 1}], lambda x, y: x.max(axis=1)),
    ("math.reduce_mean", "TFOpLambda", ["x", 0, 0, {"axis": -1}], lambda x, y: x.mean(axis=-1)),
    ("linalg.matmul", "TFOpLambda", ["x", 0, 0, {"b": ["y", 0, 0], "transpose_b": True}],
     lambda x, y: x @ y.transpose(0, 2, 1)),
    ("cast", "TFOpLambda", ["x", 0, 0, {"dtype": "int32"}], lambda x, y: np.trunc(x).astype(np.int32)),
    ("__operators__.getitem", "SlicingOpLambda", ["x", 0, 0, {"slice_spec": [sl(), sl(1, 3)]}],
     lambda x, y: x[:, 1:3]),
    ("__operators__.getitem", "SlicingOpLambda", ["x", 0, 0, {"slice_spec": [ELLIPSIS, sl(1)]}],
     lambda x, y: x[..., 1:]),
    ("__operators__.getitem", "SlicingOpLambda", ["x", 0, 0, {"slice_spec": [sl(), None, 2]}],
     lambda x, y: x[:, None, 2]),
    ("__operators__.getitem", "SlicingOpLambda", ["x", 0, 0, {"slice_spec": [sl(), -1]}], lambda x, y: x[:, -1]),
    ("__operators__.getitem", "SlicingOpLambda", ["x", 0, 0, {"slice_spec": [sl(), sl(None, None, 2), sl(1, -1)]}],
     lambda x, y: x[:, ::2, 1:-1]),
    ("__operators__.getitem", "SlicingOpLambda", ["x", 0, 0, {"slice_spec": [sl(), sl(None, None, -1), ELLIPSIS]}],
     lambda x, y: x[:, ::-1]),
    ("__operators__.getitem", "SlicingOpLambda", ["x", 0, 0, {"slice_spec": [ELLIPSIS, None]}],
     lambda x, y: x[..., None]),
]


def model_config(function: str, cls: str, node: Any) -> dict[str, Any]:
    """A tf.keras 2 Functional config: inputs x and y (4, 6), one TF op layer as the output."""
    def inp(name: str) -> dict[str, Any]:
        return {"class_name": "InputLayer", "name": name, "inbound_nodes": [],
                "config": {"batch_input_shape": [None, 4, 6], "dtype": "float32", "name": name}}
    op = {"class_name": cls, "name": "op", "config": {"name": "op", "trainable": True, "dtype": "float32",
                                                      "function": function}, "inbound_nodes": [node]}
    return {"class_name": "Functional", "config": {
        "name": "model", "layers": [inp("x"), inp("y"), op],
        "input_layers": [["x", 0, 0], ["y", 0, 0]], "output_layers": [["op", 0, 0]]}}


@pytest.mark.parametrize("entry", fixture_entries(("TFOpLambda", "SlicingOpLambda")), ids=fixture_id)
def test_fixture_matches_keras(entry: dict) -> None:
    check_fixture(entry)


@pytest.mark.parametrize("function,cls,node,oracle", CASES,
                         ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_tf_function_matches_numpy(tmp_path, function: str, cls: str, node: Any,
                                   oracle: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    g = load_built(tmp_path, model_config(function, cls, node), keras_version="2.15.0")
    got = evaluate(g, {"x": X, "y": Y})[g.outputs[0].name]
    want = oracle(X.astype(np.float64), Y.astype(np.float64))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=TOL, rtol=TOL)


def test_split_gives_every_piece(tmp_path) -> None:
    cfg = model_config("split", "TFOpLambda", ["x", 0, 0, {"num_or_size_splits": [2, -1], "axis": -1}])
    cfg["config"]["output_layers"] = [["op", 0, 0], ["op", 0, 1]]
    g = load_built(tmp_path, cfg, keras_version="2.15.0")
    out = evaluate(g, {"x": X, "y": Y})
    a, b = (out[v.name] for v in g.outputs)
    np.testing.assert_array_equal(a, X[..., :2])
    np.testing.assert_array_equal(b, X[..., 2:])


@pytest.mark.parametrize("function,node,reason", [
    ("image.resize", ["x", 0, 0, {"size": [8, 8]}], "TF function 'image.resize' is not supported"),
    ("__operators__.getitem", ["x", 0, 0, {"slice_spec": [sl(), ["y", 0, 0]]}], "not supported"),
    ("reshape", ["x", 0, 0, {"shape": ["y", 0, 0]}], "shape given as a tensor"),
])
def test_unsupported_functions_are_refused_by_name(tmp_path, function: str, node: Any, reason: str) -> None:
    cls = "SlicingOpLambda" if function.endswith("getitem") else "TFOpLambda"
    with pytest.raises(UnsupportedLayerError) as ei:
        load_built(tmp_path, model_config(function, cls, node), keras_version="2.15.0")
    assert f"{cls} (layers: op)" in str(ei.value)
    assert reason in str(ei.value)
