"""Running a graph on data the way it ships: the graph -> ``emit_tflite`` -> ``.tflite`` bytes ->
:class:`keras2edge.runtime.Interpreter`, batch by batch, with chosen IR values handed to a callback.

IR value name -> emitted tensor (the emission's value map) -> the runtime's ``observer`` hook (op
outputs, arena views valid only during the call) or the fed batch (graph inputs). Used for the
layer statistics of recovery and the sensitivity scan (:mod:`.stats`) and for evaluation
(:mod:`.evaluation`). Data sources are :mod:`keras2edge.quantize.data`'s; their refusals become
:class:`~keras2edge.errors.PruneError` naming which data it was.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ..errors import PruneError, QuantizationError, RuntimeModelError, UnsupportedOpError
from ..ir.graph import Graph

#: fn(value name, array): called once per batch and value (the array is valid only during the call)
ValueFn = Callable[[str, np.ndarray], None]


def checked_batches(graph: Graph, source: object, batch_size: int, what: str) -> Iterator[dict[str, np.ndarray]]:
    """``source`` as ``{input name: float32 array}`` batches for ``graph``'s inputs; bad data is a
    PruneError naming ``what`` (``"calibration data"``, ``"eval data"``)."""
    from ..quantize.data import calibration_batches

    specs = [(v.name, v.shape) for v in graph.inputs]
    try:
        yield from calibration_batches(source, specs, batch_size)  # type: ignore[arg-type]
    except QuantizationError as e:
        raise PruneError(f"{what}: {e}") from None


def run_graph(graph: Graph, source: object, values: Sequence[str], fn: ValueFn, *, batch_size: int = 32,
              what: str = "calibration data") -> int:
    """Run ``graph`` (emitted as ``.tflite``, run in the runtime) on every batch of ``source`` and
    call ``fn(name, array)`` for each value in ``values`` (graph inputs, node outputs, graph outputs)
    once per batch. Returns the number of samples run.

    Raises:
        PruneError: the runtime cannot run the graph, a value is not materialized by the emitted
            model, or the data does not fit the model's inputs.
    """
    from ..convert.tflite import emit_tflite, write_model
    from ..runtime import Interpreter

    try:
        emission = emit_tflite(graph)
        interp = Interpreter(write_model(emission.model))
    except (UnsupportedOpError, RuntimeModelError) as e:
        raise PruneError(f"cannot run {graph.name!r} in keras2edge's runtime (pruning measures the model "
                         f"as the .tflite it ships as): {e}") from e
    inputs = {v.name for v in graph.inputs}
    by_tensor: dict[int, list[str]] = defaultdict(list)
    fed: list[str] = []
    for name in values:
        if name in inputs:
            fed.append(name)
        elif name in emission.values:
            by_tensor[emission.values[name].index].append(name)
        else:
            raise PruneError(f"value {name!r} of {graph.name!r} is not a tensor of the emitted model")
    details = interp.get_input_details()
    order = {d["index"]: k for k, d in enumerate(details)}
    slots = []
    for v in graph.inputs:
        k = order[emission.values[v.name].index]
        slots.append((k, v.name, np.dtype(details[k]["dtype"])))
    slots.sort()
    dynamic = all(int(d["shape_signature"][0]) == -1 for d in details if len(d["shape_signature"]))
    fixed = graph.inputs[0].shape[0] if graph.inputs[0].shape else None
    step = None if dynamic else int(fixed or 1)

    def observe(_index: int, op: object, outs: Sequence[np.ndarray]) -> None:
        for t, arr in zip(op.output_indices, outs):  # type: ignore[attr-defined]
            for name in by_tensor.get(t, ()):
                fn(name, arr)

    samples = 0
    for batch in checked_batches(graph, source, batch_size, what):
        n = batch[slots[0][1]].shape[0]
        for s in range(0, n, step or n):
            if step is not None and s + step > n:
                break
            sl = slice(s, s + (step or n))
            feed = [batch[name][sl].astype(dt, copy=False) for _, name, dt in slots]
            for (_, name, _dt), x in zip(slots, feed):
                if name in fed:
                    fn(name, x)
            interp.run(feed if len(feed) > 1 else feed[0], observer=observe if by_tensor else None)
            samples += feed[0].shape[0]
    if not samples:
        raise PruneError(f"{what}: no samples (or no complete batch for the model's fixed batch size {fixed})")
    return samples


__all__ = ["checked_batches", "run_graph"]
