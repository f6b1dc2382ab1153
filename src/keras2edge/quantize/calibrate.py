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

A dynamic-batch model runs in runs of ``probe.run_size`` samples (a bounded arena: every megabyte
the process touches costs time, and the runtime's time per sample hardly depends on the run). With
``patches``, the same run also keeps what bias correction compares with (the float graph's mean
input patches of its first samples, ``Calibration.patch_means``, and the model's outputs on its first
``outputs`` samples, ``Calibration.patch_outputs``: the samples the corrections are estimated from,
then the held-out ones its guard judges them on), so bias correction needs no float run of its own.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import QuantizationError, RuntimeModelError, UnsupportedOpError
from ..ir.dtypes import DType
from ..ir.graph import Graph
from ..runtime.loader import OpInfo
from .data import CalibrationData, Source
from .bias_correction import mean_patch, supported
from .observers import Observer, make_observer
from .probe import dynamic_batch, input_tensors, run_size, weight_nodes
from .progress import task, tick

log = logging.getLogger(__name__)


@dataclass
class Calibration:
    """The graph that was calibrated (lowered: the one to quantize) and each observed value's range."""

    graph: Graph
    ranges: dict[str, tuple[float, float]]
    samples: int
    #: With ``patches=k``: the mean input patch (``bias_correction.mean_patch``) of each weight op that
    #: bias correction handles, for each of the first k samples (node name -> [k, ...]), taken from
    #: the calibration run itself; empty when the model's batch is fixed (bias correction then runs
    #: the float model again).
    patch_means: dict[str, np.ndarray] = field(default_factory=dict)
    #: The float model's outputs on the first ``outputs`` samples (at least those of ``patch_means``;
    #: one list per run, in output order; float64): what bias correction's guard compares the
    #: quantized outputs with.
    patch_outputs: list[list[np.ndarray]] = field(default_factory=list)


def _chunks(arr: np.ndarray, size: int | None, partial: bool = False) -> list[slice]:
    """Sample slices of ``size`` samples (None: the whole batch at once); the last, shorter one only if
    ``partial`` (a dynamic batch), else it is dropped (a fixed batch)."""
    n = arr.shape[0]
    step = n if size is None else size
    return [slice(i, min(i + step, n)) for i in range(0, n, step) if size is None or partial or i + step <= n]


def calibrate(graph: Graph, source: Source, method: str = "minmax", batch_size: int = 32,
              patches: int = 0, outputs: int | None = None) -> Calibration:
    """Run ``graph``'s float ``.tflite`` on the calibration data and observe every float value.

    A dynamic-batch model runs each batch in runs of ``probe.run_size`` samples (bounded arena; the
    ranges do not depend on it). ``patches`` > 0: also keep ``Calibration.patch_means`` of the first
    ``patches`` samples (what bias correction compares with), so no second float run is needed, and
    ``Calibration.patch_outputs`` of the first ``outputs`` samples (None: ``patches``; at least
    ``patches``).

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
    sig_dynamic = dynamic_batch(interp)
    patch_tensors, patch_feeds, parts = _patch_probe(lowered, emission.values, patches if sig_dynamic else 0)
    keep = max(patches, outputs if outputs is not None else patches)  # samples whose outputs are kept
    want = [0]  # samples of the current run whose mean patches are still wanted
    outs: list[list[np.ndarray]] = []  # the model's outputs on those samples, per run

    def observe(_index: int, op: OpInfo, outputs: Sequence[np.ndarray]) -> None:
        for t, arr in zip(op.output_indices, outputs):
            for _name, obs in by_tensor.get(t, ()):
                obs.update(arr)
            if want[0]:
                for node, _src in patch_tensors.get(t, ()):
                    parts[node.name].append(mean_patch(node, arr[:want[0]]))

    specs = [(v.name, v.shape) for v in lowered.inputs]
    samples = 0
    run = run_size(interp, batch_size) if sig_dynamic else None
    # a dynamic batch reads the data in runs too: no larger copy of it is held than one run
    data = CalibrationData(source, specs, run or batch_size)
    with task("calibration"):
        for batch in data:
            first = batch[slots[0][1]]
            size = run if sig_dynamic else (fixed[slots[0][1]] or 1)
            for sl in _chunks(first, size, partial=sig_dynamic):
                feed = [batch[name][sl].astype(dt, copy=False) for _, name, dt in slots]
                for (_, name, _dt), x in zip(slots, feed):
                    if name in observers:
                        observers[name].update(x)
                want[0] = max(0, min(feed[0].shape[0], patches - samples)) if parts else 0
                for (_, name, _dt), x in zip(slots, feed):
                    for node, _src in patch_feeds.get(name, ()) if want[0] else ():
                        parts[node.name].append(mean_patch(node, x[:want[0]]))
                got = interp.run(feed if len(feed) > 1 else feed[0], observer=observe)
                kept = max(0, min(feed[0].shape[0], keep - samples)) if parts else 0
                if kept:
                    outs.append([np.asarray(a[:kept], np.float64)
                                 for a in (got.values() if isinstance(got, dict) else [got])])
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
    means = {k: np.concatenate(v) for k, v in parts.items() if v}
    return Calibration(lowered, ranges, samples, means, outs if means else [])


def _patch_probe(graph: Graph, values: dict, patches: int) -> tuple[dict, dict, dict[str, list[np.ndarray]]]:
    """Where the inputs of the weight ops bias correction handles are found (``probe.input_tensors``)
    and a list of mean patches per op; nothing when ``patches`` is 0."""
    if patches <= 0:
        return {}, {}, {}
    nodes = [n for n in weight_nodes(graph) if supported(n)]
    try:
        by_tensor, from_feed = input_tensors(graph, values, nodes)
    except QuantizationError:  # bias correction's own float run says what is wrong
        return {}, {}, {}
    return by_tensor, from_feed, {n.name: [] for n in nodes}


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
