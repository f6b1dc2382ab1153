"""The graph to write against the graph its source file imports to (the *reference*): which Keras
layer owns which constants, whether the structure still matches layer for layer, and each Keras
layer's output shapes in both.

- ``layer_constants(graph)``: Keras layer name -> {weight name: array} from the constants named
  ``<layer>/<weight>`` (the importer's ``LayerContext.const``);
- ``check_structure(graph, reference, where)``: every Keras layer keeps its ops (same op names, in
  the same numbers) and no node comes from a layer the file does not have; a mismatch is a
  ``ModelFormatError`` naming the layer and its class;
- ``layer_output_shapes(graph)``: Keras layer name -> the shapes of the values it hands to other
  layers (or to the graph outputs): what its Keras output tensors hold.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ...errors import ModelFormatError
from ...ir import Graph

Shape = tuple[int | None, ...]


def layer_constants(graph: Graph, layers: set[str]) -> dict[str, dict[str, np.ndarray]]:
    """{layer: {weight name: array}} for the constants named ``<layer>/<weight>`` of ``layers``
    (the longest matching layer name wins, so ``conv/x`` is not taken for a layer ``conv/x/...``)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for v in graph.constants():
        if v.const is None or "/" not in v.name:
            continue
        parts = v.name.split("/")
        for cut in range(len(parts) - 1, 0, -1):
            layer = "/".join(parts[:cut])
            if layer in layers:
                out.setdefault(layer, {})["/".join(parts[cut:])] = v.const
                break
    return out


def _ops_by_layer(graph: Graph) -> dict[str, Counter[str]]:
    ops: dict[str, Counter[str]] = {}
    for node in graph.nodes:
        layer = node.origin.layer if node.origin is not None else ""
        ops.setdefault(layer, Counter())[node.op] += 1
    return ops


def _classes(graph: Graph) -> dict[str, str]:
    return {n.origin.layer: n.origin.cls for n in graph.nodes if n.origin is not None}


def structure_difference(graph: Graph, reference: Graph) -> str | None:
    """Why ``graph`` no longer has ``reference``'s structure (one sentence naming the first Keras
    layer that differs), or None."""
    got, want = _ops_by_layer(graph), _ops_by_layer(reference)
    cls = {**_classes(reference), **_classes(graph)}

    def who(layer: str) -> str:
        return f"Keras layer {layer!r} ({cls.get(layer, '?')})" if layer else "a node without a Keras layer"

    for layer in want:
        if layer not in got:
            return f"{who(layer)} of the source is no longer in the graph (removed or folded into another layer)"
    for layer in got:
        if layer not in want:
            return f"{who(layer)} is not a layer of the source (ops {sorted(got[layer])} were added)"
        if got[layer] != want[layer]:
            added = sorted((got[layer] - want[layer]).elements())
            removed = sorted((want[layer] - got[layer]).elements())
            return (f"{who(layer)} no longer has the ops its import made (added {added or 'none'}, removed "
                    f"{removed or 'none'})")
    return None


def check_structure(graph: Graph, reference: Graph, where: str) -> None:
    """ModelFormatError unless ``graph`` has ``reference``'s layers and ops (see module docstring)."""
    why = structure_difference(graph, reference)
    if why is not None:
        raise ModelFormatError(
            f"cannot write the graph back as a Keras model from {where}: {why}. Only weight changes "
            "(pruning: zeros, removed channels) can be written back into the source's layers; save the "
            "graph as .tflite or .onnx instead")


def layer_output_shapes(graph: Graph) -> dict[str, list[Shape]]:
    """Keras layer -> shapes of the values its nodes hand to other layers or to the graph outputs."""
    out: dict[str, list[Shape]] = {}
    outputs = {id(v) for v in graph.outputs}
    for node in graph.nodes:
        layer = node.origin.layer if node.origin is not None else ""
        for v in node.outputs:
            users = {u.origin.layer if u.origin is not None else "" for u, _ in v.uses}
            if id(v) in outputs or users - {layer}:
                out.setdefault(layer, []).append(tuple(v.shape))
    return out
