"""Pruned graphs made by hand for the Keras writer's tests (no pruning method needed): magnitude-style
zeros and output-channel removal through ``Graph.replace_const``, and running a graph in
keras2edge.runtime as the ``.tflite`` bytes it emits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import keras2edge
from keras2edge.convert.tflite import tflite_bytes
from keras2edge.ir import Graph
from keras2edge.ir.passes import optimize
from keras2edge.prune import prune_passes
from keras2edge.runtime import Interpreter


def load_for_pruning(path: str, **kw: object) -> Graph:
    """``path`` as pruning sees it: imported without cleanup, then ``prune_passes``."""
    g = keras2edge.load(path, cleanup=False, **kw)  # type: ignore[arg-type]
    optimize(g, prune_passes())
    return g


def const(graph: Graph, name: str) -> np.ndarray:
    arr = {v.name: v for v in graph.constants()}[name].const
    assert arr is not None
    return arr


def zero_smallest(graph: Graph, names: Sequence[str], sparsity: float = 0.5) -> None:
    """Magnitude-style: the smallest ``sparsity`` of each named weight set to zero (same shapes)."""
    values = {v.name: v for v in graph.constants()}
    for n in names:
        w = values[n].const
        assert w is not None
        cut = np.quantile(np.abs(w), sparsity)
        graph.replace_const(values[n], np.where(np.abs(w) <= cut, 0, w).astype(w.dtype))


def remove_channels(graph: Graph, keep: Sequence[int], edits: Sequence[tuple[str, int]]) -> None:
    """Keep channels ``keep`` along ``axis`` of every named constant (a producer's output channels
    and every consumer's input channels), then re-infer shapes once."""
    values = {v.name: v for v in graph.constants()}
    idx = np.asarray(keep)
    for name, axis in edits:
        w = values[name].const
        assert w is not None
        graph.replace_const(values[name], np.take(w, idx, axis=axis), refresh=False)
    graph.refresh_shapes()
    graph.verify()


def run_runtime(graph: Graph, x: np.ndarray) -> np.ndarray:
    """``graph`` after the common cleanup, emitted as .tflite bytes and run in keras2edge.runtime."""
    g = graph.copy()
    optimize(g)
    out = Interpreter(tflite_bytes(g)).run(x)
    return next(iter(out.values())) if isinstance(out, dict) else out
