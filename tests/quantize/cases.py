"""The quantization test cases: every committed fixture model with Keras-recorded inputs and outputs
(tests/fixtures/manifest.json entries with an ``io`` file, one format per model), its calibration data
(the recorded inputs plus perturbed copies) and the Keras reference outputs."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

import keras2edge
from keras2edge.ir.graph import Graph

from ..corpus import FIXTURES
from ..test_fixtures import KERAS_BUGS

MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())


def _entries() -> dict[str, dict]:
    seen: dict[str, dict] = {}
    for e in MANIFEST:
        if e.get("io") and not e["expect"].startswith("fail:"):
            seen.setdefault(f"{e['era']}-{e['model']}", e)
    return seen


ENTRIES = _entries()


@dataclass
class Case:
    name: str
    graph: Graph
    feeds: dict[str, np.ndarray]          # the recorded Keras inputs
    calibration: dict[str, np.ndarray]    # the inputs and perturbed copies
    want: list[np.ndarray]                # Keras' outputs (or an independent reference where Keras is wrong)
    output_names: list[str]


def calibration_of(feeds: dict[str, np.ndarray], copies: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """The recorded inputs and ``copies`` perturbed copies (float inputs: Gaussian noise of 5% of
    their spread; integer inputs such as token ids: unchanged copies)."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, v in feeds.items():
        parts = [v]
        for _ in range(copies):
            if v.dtype.kind == "f":
                parts.append((v + 0.05 * float(np.std(v)) * rng.standard_normal(v.shape)).astype(v.dtype))
            else:
                parts.append(v)
        out[k] = np.concatenate(parts)
    return out


def load_case(name: str) -> Case:
    e = ENTRIES[name]
    weights = FIXTURES / e["weights"] if e.get("weights") else None
    graph = keras2edge.load(FIXTURES / e["file"], weights)
    io = np.load(FIXTURES / e["io"], allow_pickle=False)
    feeds = {k[3:]: io[k] for k in io.files if k.startswith("in:")}
    x0 = next(iter(feeds.values())) if len(feeds) == 1 else None
    want = [KERAS_BUGS[n](x0) if n in KERAS_BUGS and x0 is not None else io[f"out:{k}"]
            for k, n in enumerate(e["outputs"])]
    return Case(name, graph, feeds, calibration_of(feeds), want, list(e["outputs"]))


def rel_l2(got: np.ndarray, want: np.ndarray) -> float:
    """||got - want|| / ||want|| (float64)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-12))
