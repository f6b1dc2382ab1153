"""Calibration activations for pruning recovery, taken where they ship: the graph is emitted as
``.tflite`` bytes and run in :class:`keras2edge.runtime.Interpreter` with ``run(x, observer=fn)``;
the emission's value map (IR value name -> tensor) picks the requested IR values' arrays (copied:
the observer sees arena views). Calibration data is read once into batches (``quantize.data``:
shapes checked against the graph's inputs, refusals become PruneErrors naming the input)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import PruneError, QuantizationError, RuntimeModelError, UnsupportedOpError
from ..ir.graph import Graph
from ..runtime.loader import OpInfo


def calibration_list(graph: Graph, source: Any, batch_size: int) -> list[dict[str, np.ndarray]]:
    """The calibration batches ``{input name: float32 array}`` for ``graph``, or a PruneError."""
    from ..quantize.data import CalibrationData

    try:  # no range warning: pruning warns of few samples once (runner.warn_few_samples)
        batches = list(CalibrationData(source, [(v.name, v.shape) for v in graph.inputs], batch_size, warn_below=0))
    except QuantizationError as e:
        raise PruneError(f"pruning calibration data: {e}") from e
    if not batches:
        raise PruneError("pruning calibration data: no samples")
    return batches


class ActivationRunner:
    """``graph``'s emitted float ``.tflite`` in keras2edge's runtime, returning chosen IR values."""

    def __init__(self, graph: Graph) -> None:
        from ..convert.tflite import emit_tflite, write_model
        from ..runtime import Interpreter

        try:
            self.emission = emit_tflite(graph)
            self.interp = Interpreter(write_model(self.emission.model))
        except (UnsupportedOpError, RuntimeModelError) as e:
            raise PruneError(f"cannot run graph {graph.name!r} for pruning recovery: it runs as .tflite in "
                             f"keras2edge's runtime, which failed: {e}") from e
        self.graph = graph
        details = self.interp.get_input_details()
        order = {d["index"]: k for k, d in enumerate(details)}
        self.slots = sorted((order[self.emission.values[v.name].index], v.name) for v in graph.inputs)
        self.dynamic = all(int(d["shape_signature"][0]) == -1 for d in details if len(d["shape_signature"]))

    def has(self, name: str) -> bool:
        """Whether IR value ``name`` can be observed (it is in the emission's value map)."""
        return name in self.emission.values or any(v.name == name for v in self.graph.inputs)

    def run(self, batch: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
        """The values ``names`` (IR value names) for one calibration batch, concatenated over the
        runs a fixed-batch model needs."""
        wanted: dict[int, list[str]] = {}
        for n in names:
            if any(v.name == n for v in self.graph.inputs):
                continue
            if n not in self.emission.values:
                raise PruneError(f"pruning recovery: value {n!r} is not held by any tensor of the emitted model")
            wanted.setdefault(self.emission.values[n].index, []).append(n)
        got: dict[str, list[np.ndarray]] = {n: [] for n in names}
        first = batch[self.slots[0][1]]
        step = first.shape[0] if self.dynamic else 1

        def observe(_i: int, op: OpInfo, outputs: Sequence[np.ndarray]) -> None:
            for t, arr in zip(op.output_indices, outputs):
                for n in wanted.get(t, ()):
                    got[n].append(np.array(arr, np.float32))

        for s in range(0, first.shape[0], step):
            feed = [batch[name][s:s + step].astype(np.float32, copy=False) for _, name in self.slots]
            for n in names:
                if n in batch:
                    got[n].append(batch[n][s:s + step])
            self.interp.run(feed if len(feed) > 1 else feed[0], observer=observe)
        return {n: np.concatenate(v) for n, v in got.items()}


__all__ = ["ActivationRunner", "calibration_list"]
