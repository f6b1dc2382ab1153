"""IR values → which tensors of the TFLite file take a short name: a Keras layer's internal values.

A value is *internal* to Keras layer L when the node that produces it came from L and every node
that reads it (looking through Quantize and Dequantize, which the integer kernels absorb) came from
L too, and it is no graph output. An unrolled LSTM, GRU or SimpleRNN is hundreds of such values
(``gru/Split_6:0``, ``gru/FullyConnected_5``, a requantize before the step outputs' concatenation
``gru/ExpandDims_3/Dequantize/Quantize``, ...): the emitter names their tensors ``<L>/<k>``, a
short name that still starts with the Keras layer's (check/report.py reads the layer from it), and
keeps the IR name (the Keras layer's output name) on every value another layer or the caller reads,
as the ONNX QDQ emitter does (convert/onnx ``short_values``).
"""

from __future__ import annotations

from collections.abc import Iterator

from ...ir.graph import Graph
from ...ir.node import Node
from ...ir.value import Value

#: Ops a reader is looked through (their outputs' readers count instead).
TRANSPARENT = ("Quantize", "Dequantize")


def _readers(v: Value, outputs: set[int]) -> Iterator[Node | None]:
    """The nodes reading ``v`` through Quantize/Dequantize; None where a graph output is reached."""
    if id(v) in outputs:
        yield None
    for node, _ in v.uses:
        if node.op in TRANSPARENT:
            yield from _readers(node.output, outputs)
        else:
            yield node


def layer_internal(graph: Graph) -> dict[int, str]:
    """Id of each value internal to a Keras layer (see the module) -> that layer's name."""
    outputs = {id(v) for v in graph.outputs}
    found: dict[int, str] = {}
    for node in graph.nodes:
        if node.origin is None:
            continue
        layer = node.origin.layer
        for v in node.outputs:
            readers = list(_readers(v, outputs))
            if readers and all(r is not None and r.origin is not None and r.origin.layer == layer for r in readers):
                found[id(v)] = layer
    return found
