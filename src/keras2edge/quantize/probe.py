"""Weight layers' inputs as the runtime computes them: a graph (float, or quantized in QDQ form) emitted
to ``.tflite`` bytes and run in :class:`keras2edge.runtime.Interpreter` with an observer, each weight
op's input array handed to a callback as real values — what bias correction and AdaRound measure.

IR weight op (``OpSpec.weights`` set, a constant weight) -> the tensor holding its input activation:

* float graph: the input value's tensor (a graph input is taken from the feed itself);
* QDQ graph: the input is ``Dequantize(v_int)``; ``v_int``'s tensor is observed, with its parameters
  (real value ``scale * (q - zero_point)``: the values the int8 kernel multiplies).

Calibration batches are read once (:func:`read_feeds`, bounded by ``limit`` samples) and reused by
every run, so sequential algorithms see the same data each time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import QuantizationError, RuntimeModelError, UnsupportedOpError
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.ops import op_spec
from ..ir.value import Value
from .data import Source, calibration_batches
from .progress import tick

#: A callback per weight op: (node, its input batch-first, affine). ``affine`` is None for a float
#: tensor, else (scale, zero point): the array holds integers of real value scale * (q - zero point)
#: (a view of the runtime's arena: valid only during the call). :func:`real` dequantizes.
InputFn = Callable[[Node, np.ndarray, "tuple[float, float] | None"], None]


@dataclass
class Feeds:
    """Calibration batches as ``{input name: array}`` (each input's own dtype: float32, or integer token
    ids) at a batch size the model takes."""

    batches: list[dict[str, np.ndarray]]

    @property
    def samples(self) -> int:
        return sum(next(iter(b.values())).shape[0] for b in self.batches)


def read_feeds(graph: Graph, source: Source, batch_size: int, limit: int) -> Feeds:
    """At most ``limit`` calibration samples of ``source``, split to the graph's fixed batch if it has one."""
    specs = [(v.name, v.shape) for v in graph.inputs]
    dtypes = {v.name: v.dtype.np for v in graph.inputs}
    fixed = next((v.shape[0] for v in graph.inputs if v.shape and v.shape[0] is not None), None)
    step = fixed or batch_size
    out: list[dict[str, np.ndarray]] = []
    taken = 0
    for batch in calibration_batches(source, specs, batch_size):
        n = next(iter(batch.values())).shape[0]
        for i in range(0, n, step):
            if taken >= limit or (fixed and i + step > n):
                break
            k = min(step, limit - taken)
            out.append({name: np.ascontiguousarray(a[i:i + k], dtypes[name]) for name, a in batch.items()})
            taken += k
        if taken >= limit:
            break
    if not out:
        raise QuantizationError("calibration data: no complete batch for the model's inputs")
    return Feeds(out)


def weight_nodes(graph: Graph) -> list[Node]:
    """The graph's ops with a weight input (``OpSpec.weights``) whose weight is a constant, directly or
    through a Dequantize (a QDQ graph), in topological order."""
    found = []
    for node in graph.nodes:
        axes = op_spec(node.op).weights
        if axes is None or len(node.inputs) <= axes.input or node.inputs[0] is None:
            continue
        if weight_const(node) is not None:
            found.append(node)
    return found


def weight_const(node: Node) -> Value | None:
    """The constant holding ``node``'s weight (float, or the integer constant under a Dequantize)."""
    axes = op_spec(node.op).weights
    w = node.inputs[axes.input] if axes is not None and len(node.inputs) > axes.input else None
    return _through_dequantize(w)


def bias_const(node: Node) -> Value | None:
    """The constant holding ``node``'s bias (input 2), float or the int32 constant under a Dequantize."""
    return _through_dequantize(node.inputs[2] if len(node.inputs) > 2 else None)


def _through_dequantize(v: Value | None) -> Value | None:
    if v is None:
        return None
    if v.is_const:
        return v
    p = v.producer
    if p is not None and p.op == "Dequantize" and p.inputs[0] is not None and p.inputs[0].is_const:
        return p.inputs[0]
    return None


def _source_value(x: Value) -> Value:
    """The value whose tensor holds a weight op's input: through a Dequantize, its integer input."""
    p = x.producer
    if p is not None and p.op == "Dequantize" and p.inputs[0] is not None and not p.inputs[0].is_const:
        return p.inputs[0]
    return x


def _affine(v: Value) -> tuple[float, float] | None:
    q = v.quant
    return None if q is None else (float(q.scale[0]), float(q.zero_point[0]))


def real(x: np.ndarray, affine: tuple[float, float] | None) -> np.ndarray:
    """An observed input as real values (float64 for integers, the float array itself otherwise)."""
    if affine is None:
        return x
    return (np.asarray(x, np.float64) - affine[1]) * affine[0]


def observe_inputs(graph: Graph, feeds: Feeds, nodes: Sequence[Node], fn: InputFn,
                   outputs: list[list[np.ndarray]] | None = None) -> None:
    """Run ``graph``'s ``.tflite`` on every batch of ``feeds`` and call ``fn(node, x)`` with each of
    ``nodes``' input activations (real values). With ``outputs`` (a list), every batch runs to the end
    and its model outputs (float) are appended to it, one list per batch in output order.

    Raises:
        QuantizationError: the graph cannot be emitted or run in keras2edge's runtime.
    """
    from ..convert.tflite import emit_tflite, write_model
    from ..runtime import Interpreter

    try:
        emission = emit_tflite(graph)
        interp = Interpreter(write_model(emission.model))
    except (UnsupportedOpError, RuntimeModelError) as e:
        raise QuantizationError(f"cannot run graph {graph.name!r} in keras2edge's runtime: {e}") from e
    by_tensor: dict[int, list[tuple[Node, Value]]] = {}
    from_feed: dict[str, list[tuple[Node, Value]]] = {}
    inputs = {v.name for v in graph.inputs}
    for node in nodes:
        src = _source_value(node.inputs[0])  # type: ignore[arg-type]
        if src.name in inputs:
            from_feed.setdefault(src.name, []).append((node, src))
        elif src.name in emission.values:
            by_tensor.setdefault(emission.values[src.name].index, []).append((node, src))
        else:
            raise QuantizationError(f"{node.where()}: its input {src.name!r} is not a tensor of the emitted model")

    left: set[int] = set()

    def observe(_index: int, op: object, outputs: Sequence[np.ndarray]) -> None:
        for t, arr in zip(op.output_indices, outputs):  # type: ignore[attr-defined]
            for node, src in by_tensor.get(t, ()):
                fn(node, arr, _affine(src))
            left.discard(t)
        if not left and outputs is None:
            raise _Done  # every wanted tensor seen: the rest of the model is not needed

    names = [d["name"] for d in interp.get_input_details()]
    done = 0
    for batch in feeds.batches:
        done += next(iter(batch.values())).shape[0]
        for name, pairs in from_feed.items():
            for node, src in pairs:
                fn(node, batch[name], None)
        if not by_tensor and outputs is None:
            continue
        left.update(by_tensor)
        feed = [batch[n] if n in batch else batch[graph.inputs[k].name] for k, n in enumerate(names)]
        try:
            got = interp.run(feed if len(feed) > 1 else feed[0], observer=observe)
        except _Done:
            tick(done, feeds.samples)
            continue
        if outputs is not None:
            outputs.append([np.asarray(a, np.float64) for a in (got.values() if isinstance(got, dict) else [got])])
        tick(done, feeds.samples)


class _Done(Exception):
    """Raised by the observer to stop a run once every wanted tensor was seen."""


__all__ = ["Feeds", "InputFn", "bias_const", "observe_inputs", "read_feeds", "real", "weight_const", "weight_nodes"]
