"""Evaluation data for the pruning report: top-1 accuracy against labels, or (unlabelled) top-1
agreement with the unpruned model, each model run as the ``.tflite`` it ships as (BatchNormalization
folded with ``optimize``, emitted, run in the runtime).

``eval`` may be:

* a ``.npz`` path holding the inputs (keys = input names, or one key for a one-input model) and,
  optionally, the labels under the key ``labels`` or ``y`` (integer class ids, one per sample);
* ``(inputs, labels)`` — a tuple of the inputs (anything :mod:`keras2edge.quantize.data` takes) and
  a label array;
* a dict with a ``labels``/``y`` entry next to the inputs;
* anything else :mod:`keras2edge.quantize.data` takes (unlabelled: agreement is reported).

The prediction is the arg-max over the last axis of the first graph output.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import PruneError
from ..ir.graph import Graph
from .runner import run_graph

LABEL_KEYS = ("labels", "y")


@dataclass
class EvalData:
    """Inputs (a quantize.data source) and labels (None: unlabelled)."""

    source: object
    labels: np.ndarray | None
    where: str = "eval data"  # names the data (and its file) in errors


def _split_labels(data: Mapping[str, object], where: str) -> EvalData:
    keys = [k for k in LABEL_KEYS if k in data]
    if len(keys) > 1:
        raise PruneError(f"{where}: has both 'labels' and 'y'; give one label array")
    rest = {k: v for k, v in data.items() if k not in LABEL_KEYS}
    if not rest:
        raise PruneError(f"{where}: holds labels but no inputs")
    src: object = next(iter(rest.values())) if len(rest) == 1 else rest
    return EvalData(src, np.asarray(data[keys[0]]) if keys else None, where)


def eval_data(source: object) -> EvalData:
    """``source`` (see the module docstring) as inputs and labels."""
    from ..npyio import load_inputs

    if isinstance(source, (str, os.PathLike)):
        p = os.fspath(source)
        if not os.path.isfile(p):
            raise PruneError(f"eval data {p!r}: no such file (give an .npz with the inputs and 'labels' or 'y')")
        data = load_inputs(p)
        if isinstance(data, np.ndarray):
            return EvalData(data, None, f"eval data {p!r}")
        return _split_labels(data, f"eval data {p!r}")
    if isinstance(source, tuple) and len(source) == 2:
        return EvalData(source[0], np.asarray(source[1]))
    if isinstance(source, Mapping):
        return _split_labels(source, "eval data")
    return EvalData(source, None)


def predictions(graph: Graph, source: object, batch_size: int = 32, what: str = "eval data") -> np.ndarray:
    """Top-1 class of every sample: ``graph`` (a copy, BatchNorm folded) run as ``.tflite``; ``what``
    names the data in errors."""
    from ..ir.passes import optimize

    g = graph.copy()
    optimize(g)
    out = g.outputs[0].name
    preds: list[np.ndarray] = []
    run_graph(g, source, [out], lambda _n, y: preds.append(np.argmax(y.reshape(y.shape[0], -1), axis=-1)),
              batch_size=batch_size, what=what)
    return np.concatenate(preds)


def evaluate(before: Graph, after: Graph, source: object, batch_size: int = 32) -> dict[str, object]:
    """The report's ``eval`` section: samples, and accuracy before/after (labelled) or the share of
    samples whose top-1 class is unchanged (always), in percent."""
    data = eval_data(source)
    p0 = predictions(before, data.source, batch_size, data.where)
    p1 = predictions(after, data.source, batch_size, data.where)
    res: dict[str, object] = {"samples": int(p0.size), "agreement_pct": round(100.0 * float(np.mean(p0 == p1)), 3)}
    if data.labels is not None:
        y = data.labels.reshape(-1)
        if y.size != p0.size:
            raise PruneError(f"{data.where}: {y.size} labels for {p0.size} samples")
        if not np.issubdtype(y.dtype, np.integer):
            raise PruneError(f"{data.where}: labels must be integer class ids, got {y.dtype}")
        a0, a1 = 100.0 * float(np.mean(p0 == y)), 100.0 * float(np.mean(p1 == y))
        res.update({"accuracy_before_pct": round(a0, 3), "accuracy_after_pct": round(a1, 3),
                    "accuracy_drop_pts": round(a0 - a1, 3)})
    return res


__all__ = ["LABEL_KEYS", "EvalData", "eval_data", "evaluate", "predictions"]
