"""Shared helpers for the Keras importer tests: running a manifest entry against Keras' recorded
outputs, and writing small hand-built Keras 2 legacy HDF5 files. Paths: ``tests/corpus.py``; error
measures: ``tests/tolerances.py``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from keras2edge.convert.keras import KERAS_HANDLERS, load_keras
from keras2edge.ir import Graph
from keras2edge.ir.evaluate import evaluate
from tests.corpus import FIXTURES
from tests.tolerances import KERAS_FIXTURES, rel_err, scaled_error

MODEL_CLASSES = {"Sequential", "Functional", "Model"}


# ---------------------------------------------------------------------------- fixtures


def manifest() -> list[dict[str, Any]]:
    path = FIXTURES / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else []


def keras_recording(name: str) -> list[np.ndarray]:
    """Keras' outputs for hand-built model ``name``, recorded by tests/convert/keras/layers/record_keras_outputs.py."""
    with np.load(FIXTURES / "keras_recordings.npz", allow_pickle=False) as z:
        keys = sorted((k for k in z.files if k.startswith(f"{name}|out:")), key=lambda k: int(k.rsplit(":", 1)[1]))
        assert keys, f"no recording named {name!r} in keras_recordings.npz"
        return [z[k] for k in keys]


def assert_matches_recording(got: Sequence[np.ndarray], name: str, tol: float = 2e-6) -> list[np.ndarray]:
    """Every output in ``got`` is within ``tol`` (rel_err) of recording ``name``; returns the recording."""
    want = keras_recording(name)
    assert len(got) == len(want), f"{name}: {len(got)} outputs, {len(want)} recorded"
    for k, (y, ref) in enumerate(zip(got, want)):
        assert rel_err(y, ref) <= tol, f"{name} output {k}: error {rel_err(y, ref)}"
    return want


def fixture_entries(classes: Iterable[str]) -> list[dict[str, Any]]:
    """Manifest entries expected to convert that use at least one of ``classes``."""
    want = set(classes)
    return [e for e in manifest() if e.get("expect") == "convert" and e.get("io") and want & set(e["layers"])]


def fixture_id(entry: Mapping[str, Any]) -> str:
    return f"{entry['era']}-{entry['model']}-{entry['format']}"


def unregistered(classes: Iterable[str]) -> list[str]:
    """The layer classes (model containers aside) with no Keras handler (as a layer or a Keras 3 operation)."""
    return sorted(c for c in classes if c not in MODEL_CLASSES and c not in KERAS_HANDLERS
                  and f"keras.ops.{c}" not in KERAS_HANDLERS)


def check_fixture(entry: Mapping[str, Any]) -> dict[str, float]:
    """Load a manifest entry, evaluate the IR on the recorded inputs and compare every output with
    Keras' recorded outputs. Every layer class of the fixtures has a handler: a missing one fails."""
    missing = unregistered(entry["layers"])
    assert not missing, f"layer classes with no handler: {missing}"
    weights = str(FIXTURES / entry["weights"]) if entry.get("weights") else None
    graph = load_keras(str(FIXTURES / entry["file"]), weights=weights)
    io = np.load(FIXTURES / entry["io"], allow_pickle=False)
    feeds = {k[3:]: io[k] for k in io.files if k.startswith("in:")}
    outs = evaluate(graph, feeds)
    assert [v.name for v in graph.outputs] == list(entry["outputs"])
    errs = {}
    for k, v in enumerate(graph.outputs):
        errs[v.name] = scaled_error(outs[v.name], io[f"out:{k}"])
    bad = {n: e for n, e in errs.items() if not e <= KERAS_FIXTURES}
    assert not bad, f"{fixture_id(entry)}: outputs differ from Keras: {bad}"
    return errs


# ---------------------------------------------------------------------------- running graphs


def run(graph: Graph, *xs: np.ndarray) -> list[np.ndarray]:
    """Evaluate ``graph`` on inputs given in order; outputs in order."""
    outs = evaluate(graph, {v.name: x for v, x in zip(graph.inputs, xs)})
    return [outs[v.name] for v in graph.outputs]


def run1(graph: Graph, *xs: np.ndarray) -> np.ndarray:
    (y,) = run(graph, *xs)
    return y


# ---------------------------------------------------------------------------- test data


def normal_draws(rng: np.random.Generator, scale: float = 1.0) -> Callable[..., np.ndarray]:
    """``draw(*shape, scale=scale)``: float32 normal samples times ``scale``, drawn from ``rng``.

    Each test module seeds its own generator, so its data does not depend on which other modules run.
    """

    def draw(*shape: int, scale: float = scale) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    return draw


def f32(values: Sequence[Any], *shape: int) -> np.ndarray:
    """Values written out in a test (weights, inputs or outputs recorded with Keras) as a float32 array of ``shape``."""
    return np.array(values, np.float32).reshape(shape)


# ---------------------------------------------------------------------------- hand-built files


def layer(cls: str, name: str, **config: Any) -> dict[str, Any]:
    """A Keras 2 layer entry ``{"class_name", "config"}`` (config gets the name)."""
    return {"class_name": cls, "config": {"name": name, **config}}


def sequential(input_shape: Sequence[int | None], layers: Sequence[dict[str, Any]],
               input_name: str = "x") -> dict[str, Any]:
    """A Keras 2.2.4+ Sequential config with an explicit InputLayer (batch dim dynamic)."""
    inp = layer("InputLayer", input_name, batch_input_shape=[None, *input_shape], dtype="float32")
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [inp, *layers]}}


def functional(inputs: Mapping[str, Sequence[int | None]], layers: Sequence[tuple[dict[str, Any], list[str]]],
               outputs: Sequence[str]) -> dict[str, Any]:
    """A Keras 2 Functional config: ``layers`` are (layer entry, names of the layers it is called on)."""
    entries: list[dict[str, Any]] = []
    for name, shape in inputs.items():
        e = layer("InputLayer", name, batch_input_shape=[None, *shape], dtype="float32")
        entries.append({**e, "name": name, "inbound_nodes": []})
    for e, srcs in layers:
        entries.append({**e, "name": e["config"]["name"], "inbound_nodes": [[[s, 0, 0, {}] for s in srcs]]})
    return {"class_name": "Model", "config": {
        "name": "model", "layers": entries,
        "input_layers": [[n, 0, 0] for n in inputs], "output_layers": [[n, 0, 0] for n in outputs]}}


def write_h5(path: Path | str, config: dict[str, Any], weights: Mapping[str, Sequence[tuple[str, np.ndarray]]],
             keras_version: str = "2.2.4", backend: str = "tensorflow") -> str:
    """Write a full-model file in the Keras 2 legacy HDF5 layout: root attributes model_config,
    keras_version and backend; ``model_weights`` with ``layer_names``; one group per layer with
    ``weight_names`` ("<layer>/<name>:0") and the datasets nested by name scope."""
    layer_entries = config["config"]["layers"] if isinstance(config["config"], dict) else config["config"]
    names = [e["config"]["name"] for e in layer_entries]
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config).encode("utf-8")
        f.attrs["keras_version"] = keras_version.encode("utf-8")
        f.attrs["backend"] = backend.encode("utf-8")
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([n.encode("utf-8") for n in names])
        mw.attrs["backend"] = backend.encode("utf-8")
        mw.attrs["keras_version"] = keras_version.encode("utf-8")
        for n in names:
            g = mw.create_group(n)
            wnames = []
            for wname, arr in weights.get(n, ()):
                full = f"{n}/{wname}:0"
                g.create_dataset(full, data=np.asarray(arr))
                wnames.append(full.encode("utf-8"))
            g.attrs["weight_names"] = np.array(wnames, dtype="S") if wnames else np.array([], dtype="S1")
    return str(path)


def load_built(tmp_path: Path, config: dict[str, Any], weights: Mapping[str, Sequence[tuple[str, np.ndarray]]]
               | None = None, **kw: Any) -> Graph:
    """Write a hand-built model to ``tmp_path/model.h5`` and import it."""
    return load_keras(write_h5(tmp_path / "model.h5", config, weights or {}, **kw))


# ---------------------------------------------------------------------------- NumPy oracles


def tf_same_pads(n: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow 'SAME' padding of one axis: out = ceil(n / s), the odd pixel goes after."""
    eff = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + eff - n, 0)
    return total // 2, total - total // 2


def np_conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, strides: tuple[int, int] = (1, 1),
              dilation: tuple[int, int] = (1, 1), padding: str = "valid", groups: int = 1) -> np.ndarray:
    """Reference cross-correlation, NHWC input, HWIO kernel, written as explicit loops over outputs."""
    x = x.astype(np.float64)
    kh, kw, cig, co = w.shape
    if padding == "same":
        ph, pw = tf_same_pads(x.shape[1], kh, strides[0], dilation[0]), tf_same_pads(x.shape[2], kw, strides[1],
                                                                                    dilation[1])
        x = np.pad(x, ((0, 0), ph, pw, (0, 0)))
    n, h, wd, _ = x.shape
    oh = (h - (kh - 1) * dilation[0] - 1) // strides[0] + 1
    ow = (wd - (kw - 1) * dilation[1] - 1) // strides[1] + 1
    cog = co // groups
    out = np.zeros((n, oh, ow, co))
    for i in range(oh):
        for j in range(ow):
            for g in range(groups):
                patch = x[:, i * strides[0]: i * strides[0] + (kh - 1) * dilation[0] + 1: dilation[0],
                          j * strides[1]: j * strides[1] + (kw - 1) * dilation[1] + 1: dilation[1],
                          g * cig:(g + 1) * cig]
                out[:, i, j, g * cog:(g + 1) * cog] = np.einsum("nhwc,hwco->no", patch,
                                                                w[..., g * cog:(g + 1) * cog])
    return out + (0 if b is None else b)
