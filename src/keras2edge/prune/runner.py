"""Running a graph on data the way it ships: the graph -> ``emit_tflite`` -> ``.tflite`` bytes ->
:class:`keras2edge.runtime.Interpreter`, batch by batch, with chosen IR values handed to a callback.

IR value name -> emitted tensor (the emission's value map) -> the runtime's ``observer`` hook (op
outputs, arena views valid only during the call) or the fed batch (graph inputs). Used for the
layer statistics of recovery and the sensitivity scan (:mod:`.stats`) and for evaluation
(:mod:`.evaluation`). Data sources are :mod:`keras2edge.quantize.data`'s; their refusals become
:class:`~keras2edge.errors.PruneError` naming which data it was.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ..errors import PruneError, QuantizationError, RuntimeModelError, UnsupportedOpError
from ..ir.graph import Graph

log = logging.getLogger(__name__)

#: fn(value name, array): called once per batch and value (the array is valid only during the call)
ValueFn = Callable[[str, np.ndarray], None]


def checked_batches(graph: Graph, source: object, batch_size: int, what: str) -> Iterator[dict[str, np.ndarray]]:
    """``source`` as ``{input name: float32 array}`` batches for ``graph``'s inputs; bad data is a
    PruneError naming ``what`` (``"calibration data"``, ``"eval data"``). No sample-count warning
    here (quantization's is about activation ranges, which pruning does not compute, and this runs
    once per layer): :func:`warn_few_samples` says it once, in pruning's terms."""
    from ..quantize.data import CalibrationData

    specs = [(v.name, v.shape) for v in graph.inputs]
    try:
        yield from CalibrationData(source, specs, batch_size, warn_below=0)  # type: ignore[arg-type]
    except QuantizationError as e:
        raise PruneError(f"{what}: {e}") from None


def warn_few_samples(graph: Graph, source: object, batch_size: int) -> None:
    """Log one warning when calibration data for pruning holds fewer than ``quantize.data.WARN_BELOW``
    samples (counted without reading them; a generator's count is unknown: no warning). Bad data is
    left to the step that reads it, which names the problem."""
    from ..quantize.data import WARN_BELOW, CalibrationData

    try:
        n = CalibrationData(source, [(v.name, v.shape) for v in graph.inputs], batch_size,  # type: ignore[arg-type]
                            warn_below=0).count
    except QuantizationError:
        return
    if n is not None and 0 < n < WARN_BELOW:
        log.warning("pruning calibration data: only %d sample%s; the recovery's least-squares fits and bias "
                    "corrections (and --schedule auto's sensitivity scan) estimated from fewer than %d samples "
                    "are unreliable", n, "" if n == 1 else "s", WARN_BELOW)


class GraphRun:
    """One graph emitted as ``.tflite`` and loaded in the runtime, with the values to hand back."""

    def __init__(self, graph: Graph, values: Sequence[str]) -> None:
        from ..convert.tflite import emit_tflite, write_model
        from ..runtime import Interpreter

        try:
            emission = emit_tflite(graph)
            self.interp = Interpreter(write_model(emission.model))
        except (UnsupportedOpError, RuntimeModelError) as e:
            raise PruneError(f"cannot run {graph.name!r} in keras2edge's runtime (pruning measures the model "
                             f"as the .tflite it ships as): {e}") from e
        self.graph = graph
        inputs = {v.name for v in graph.inputs}
        self.by_tensor: dict[int, list[str]] = defaultdict(list)
        self.fed: list[str] = []
        for name in values:
            if name in inputs:
                self.fed.append(name)
            elif name in emission.values:
                self.by_tensor[emission.values[name].index].append(name)
            else:
                raise PruneError(f"value {name!r} of {graph.name!r} is not a tensor of the emitted model")
        details = self.interp.get_input_details()
        order = {d["index"]: k for k, d in enumerate(details)}
        slots = []
        for v in graph.inputs:
            k = order[emission.values[v.name].index]
            slots.append((k, v.name, np.dtype(details[k]["dtype"])))
        self.slots = sorted(slots)
        dynamic = all(int(d["shape_signature"][0]) == -1 for d in details if len(d["shape_signature"]))
        self.fixed = graph.inputs[0].shape[0] if graph.inputs[0].shape else None
        self.step = None if dynamic else int(self.fixed or 1)

    def chunks(self, batch: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        """``batch`` in the pieces the model's batch size takes (all of it for a dynamic batch)."""
        n = batch[self.slots[0][1]].shape[0]
        step = self.step or n
        for s in range(0, n, step):
            if self.step is not None and s + step > n:
                break
            yield {name: batch[name][s:s + step] for _, name, _dt in self.slots}

    def run(self, chunk: dict[str, np.ndarray], fn: ValueFn) -> int:
        """Run one chunk; ``fn(name, array)`` for every wanted value. Returns the samples run."""
        feed = [chunk[name].astype(dt, copy=False) for _, name, dt in self.slots]
        for (_, name, _dt), x in zip(self.slots, feed):
            if name in self.fed:
                fn(name, x)

        def observe(_index: int, op: object, outs: Sequence[np.ndarray]) -> None:
            for t, arr in zip(op.output_indices, outs):  # type: ignore[attr-defined]
                for name in self.by_tensor.get(t, ()):
                    fn(name, arr)

        self.interp.run(feed if len(feed) > 1 else feed[0], observer=observe if self.by_tensor else None)
        return int(feed[0].shape[0])


def run_graph(graph: Graph, source: object, values: Sequence[str], fn: ValueFn, *, batch_size: int = 32,
              what: str = "calibration data") -> int:
    """Run ``graph`` (emitted as ``.tflite``, run in the runtime) on every batch of ``source`` and
    call ``fn(name, array)`` for each value in ``values`` (graph inputs, node outputs, graph outputs)
    once per batch. Returns the number of samples run.

    Raises:
        PruneError: the runtime cannot run the graph, a value is not materialized by the emitted
            model, or the data does not fit the model's inputs.
    """
    run = GraphRun(graph, values)
    samples = 0
    for batch in checked_batches(graph, source, batch_size, what):
        for chunk in run.chunks(batch):
            samples += run.run(chunk, fn)
    if not samples:
        raise PruneError(f"{what}: no samples (or no complete batch for the model's fixed batch size {run.fixed})")
    return samples


def run_paired(graphs: Sequence[Graph], source: object, values: Sequence[str],
               fn: Callable[[list[dict[str, np.ndarray]]], None], *, batch_size: int = 32,
               what: str = "calibration data") -> int:
    """Run several graphs with the same inputs (same value names) in lockstep: per chunk of
    samples, ``fn([{value name: array copy} per graph])``. Returns the samples run."""
    runs = [GraphRun(g, values) for g in graphs]
    samples = 0
    for batch in checked_batches(graphs[0], source, batch_size, what):
        for chunk in runs[0].chunks(batch):
            got: list[dict[str, np.ndarray]] = []
            for r in runs:
                seen: dict[str, np.ndarray] = {}
                n = r.run(chunk, lambda name, a, seen=seen: seen.__setitem__(name, np.array(a)))
                got.append(seen)
            fn(got)
            samples += n
    if not samples:
        raise PruneError(f"{what}: no samples (or no complete batch for the model's fixed batch size {runs[0].fixed})")
    return samples


__all__ = ["GraphRun", "checked_batches", "run_graph", "run_paired"]
