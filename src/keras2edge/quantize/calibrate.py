"""Calibration: the float graph's emitted ``.tflite`` bytes run in keras2edge's runtime on the
calibration batches, one observer per IR value that will be quantized.

What the runtime runs is exactly what ships: the graph is emitted with ``emit_tflite`` (which lowers
it: activations fused, so a fused op's output is observed after its activation, as the int8 kernel
clamps it) and the resulting bytes run in :class:`keras2edge.runtime.Interpreter` with
``run(x, observer=fn)``. The emission's value map (IR value name -> tensor index) attributes each
op's outputs to IR values; graph inputs are observed from the batches fed. The graph to quantize is
the emission's graph (``Calibration.graph``), whose value names the ranges use.

IR value (float32, produced by a node or a graph input) -> observer (``observers.make_observer``)
-> ``Calibration.ranges[value name] = (lo, hi)``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import QuantizationError, RuntimeModelError, UnsupportedOpError
from ..ir.dtypes import DType
from ..ir.graph import Graph
from ..runtime.loader import OpInfo
from .data import CalibrationData, Source
from .observers import Observer, make_observer
from .progress import task, tick

log = logging.getLogger(__name__)


@dataclass
class Calibration:
    """The graph that was calibrated (lowered: the one to quantize) and each observed value's range."""

    graph: Graph
    ranges: dict[str, tuple[float, float]]
    samples: int


def _chunks(arr: np.ndarray, size: int | None) -> list[slice]:
    """Sample slices fitting a fixed batch ``size`` (None: the whole batch at once)."""
    n = arr.shape[0]
    step = n if size is None else size
    return [slice(i, i + step) for i in range(0, n, step) if size is None or i + step <= n]


def calibrate(graph: Graph, source: Source, method: str = "minmax", batch_size: int = 32) -> Calibration:
    """Run ``graph``'s float ``.tflite`` on the calibration data and observe every float value.

    Raises:
        QuantizationError: unknown ``method``, bad calibration data (naming the input), or a graph
            that is not float.
    """
    from ..convert.tflite import emit_tflite, write_model
    from ..runtime import Interpreter

    make_observer(method)  # an unknown method fails before any work
    if batch_size < 1:
        raise QuantizationError(f"calibration batch size must be at least 1, got {batch_size}")
    try:
        emission = emit_tflite(graph)
        interp = Interpreter(write_model(emission.model))
    except (UnsupportedOpError, RuntimeModelError) as e:
        raise QuantizationError(f"cannot calibrate graph {graph.name!r}: calibration runs the float model as "
                                f".tflite in keras2edge's runtime, which failed: {e}") from e
    lowered = emission.graph
    by_tensor: dict[int, list[tuple[str, Observer]]] = defaultdict(list)
    observers: dict[str, Observer] = {}
    for node in lowered.nodes:
        for v in node.outputs:
            if v.dtype == DType.FLOAT32 and v.name in emission.values:
                obs = observers[v.name] = make_observer(method)
                by_tensor[emission.values[v.name].index].append((v.name, obs))
    for v in lowered.inputs:
        if v.dtype == DType.FLOAT32:
            observers[v.name] = make_observer(method)

    details = interp.get_input_details()
    order = {d["index"]: k for k, d in enumerate(details)}
    slots: list[tuple[int, str, np.dtype]] = []
    for v in lowered.inputs:
        t = emission.values[v.name].index
        slots.append((order[t], v.name, np.dtype(details[order[t]]["dtype"])))
    slots.sort()
    fixed = {v.name: (v.shape[0] if v.shape and v.shape[0] is not None else None) for v in lowered.inputs}
    sig_dynamic = all(int(d["shape_signature"][0]) == -1 for d in details if len(d["shape_signature"]))

    def observe(_index: int, op: OpInfo, outputs: Sequence[np.ndarray]) -> None:
        for t, arr in zip(op.output_indices, outputs):
            for _name, obs in by_tensor.get(t, ()):
                obs.update(arr)

    specs = [(v.name, v.shape) for v in lowered.inputs]
    samples = 0
    data = CalibrationData(source, specs, batch_size)
    with task("calibration"):
        for batch in data:
            first = batch[slots[0][1]]
            size = None if sig_dynamic else (fixed[slots[0][1]] or 1)
            for sl in _chunks(first, size):
                feed = [batch[name][sl].astype(dt, copy=False) for _, name, dt in slots]
                for (_, name, _dt), x in zip(slots, feed):
                    if name in observers:
                        observers[name].update(x)
                interp.run(feed if len(feed) > 1 else feed[0], observer=observe)
                samples += feed[0].shape[0]
                tick(samples, data.count)
    if not samples:
        raise QuantizationError("calibration data: no complete batch for the model's fixed batch size "
                                f"{fixed[slots[0][1]]}")
    ranges: dict[str, tuple[float, float]] = {}
    for name, obs in observers.items():
        try:
            ranges[name] = obs.range()
        except QuantizationError:
            log.debug("value %s was not observed", name)
    ranges.update({k: r for k, r in _constant_ranges(lowered).items() if k not in ranges})
    return Calibration(lowered, ranges, samples)


def _constant_ranges(graph: Graph) -> dict[str, tuple[float, float]]:
    """Ranges of the float values computed from constants only: the runtime folds those ops when it
    prepares the model and never runs them, so no observer sees them; their values are the op's own
    ``evaluate`` of the constants (what the folding computes)."""
    from ..ir.evaluate import evaluate_node

    known: dict[int, np.ndarray] = {}
    ranges: dict[str, tuple[float, float]] = {}
    for node in graph.nodes:
        args = [None if v is None else (v.const if v.is_const else known.get(id(v))) for v in node.inputs]
        if any(a is None and v is not None for a, v in zip(args, node.inputs)):
            continue
        for v, a in zip(node.outputs, evaluate_node(node, args)):
            known[id(v)] = a
            if v.dtype == DType.FLOAT32 and a.size:
                ranges[v.name] = (float(np.min(a)), float(np.max(a)))
    return ranges


__all__ = ["Calibration", "calibrate"]
