"""Layer-local error: one Keras layer of the quantized graph run alone, on the float model's inputs.

For layer L the quantized graph's nodes from L (its kernels, its weight and bias Dequantize nodes, its
requantizes and its output Quantize/Dequantize) are copied into a graph of their own, together with
the Quantize -> Dequantize chain in front of each of L's float inputs (the parameters the previous
layer's output has in the quantized model). The new graph's inputs are the float values those chains
start from — the float model computes them — and its outputs are L's quantized output values. So the
sub-model is exactly L's integer kernels fed with the float model's activations quantized as the
full quantized model quantizes them: the error it shows is the error L's own quantization adds (its
input's rounding, its weights, its output's range), not the error carried from earlier layers.

The sub-graph is emitted with ``emit_tflite`` and run in keras2edge.runtime, as the whole model is:
the kernels are the ones that ship.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.value import Value
from .layermap import FLOAT_SUFFIX, value_names

_QDQ = ("Quantize", "Dequantize")


@dataclass
class LayerGraph:
    """The sub-graph of one layer: ``inputs[k]`` is fed the float model's value ``feeds[k]``;
    ``outputs[k]`` holds the layer's output value ``compares[k]`` (a float value name)."""

    graph: Graph
    feeds: list[str]
    compares: list[str]


def _entry(v: Value, chain: list[Node]) -> Value:
    """Walk back from ``v`` through Quantize/Dequantize producers (collected in ``chain``) to the value
    the chain starts from."""
    while v.producer is not None and v.producer.op in _QDQ and v.producer.inputs[0] is not None:
        chain.append(v.producer)
        v = v.producer.inputs[0]
    return v


def layer_graph(q: Graph, layer: str, outputs: list[tuple[str, str]]) -> LayerGraph | None:
    """The sub-graph of quantized graph ``q`` that runs Keras layer ``layer`` alone (see the module),
    its outputs ``outputs`` = (float value name, name of the value of ``q`` compared with it); None
    when the layer has no node in ``q`` (a graph input: its local error is its accumulated one)."""
    members = [n for n in q.nodes if n.origin is not None and n.origin.layer == layer and n.op not in _QDQ]
    if not members:
        return None
    names = value_names(q)
    keep: set[int] = {id(n) for n in q.nodes if n.origin is not None and n.origin.layer == layer}
    made: set[int] = {id(v) for n in q.nodes if id(n) in keep for v in n.outputs}
    entries: dict[int, Value] = {}
    chain: list[Node] = []
    for n in q.nodes:
        if id(n) not in keep:
            continue
        for v in n.inputs:
            if v is None or v.is_const or id(v) in made:
                continue
            start = _entry(v, chain)
            entries[id(start)] = start
    keep |= {id(n) for n in chain}
    sub = Graph(f"{q.name}:{layer}")
    new: dict[int, Value] = {}
    feeds: list[str] = []
    for v in entries.values():
        nv = sub.add_input(v.name, v.dtype, v.shape)
        nv.quant = v.quant
        new[id(v)] = nv
        feeds.append(v.name.removesuffix(FLOAT_SUFFIX))
    for n in q.nodes:
        if id(n) not in keep:
            continue
        ins: list[Value | None] = []
        for v in n.inputs:
            if v is None:
                ins.append(None)
            elif id(v) in new:
                ins.append(new[id(v)])
            elif v.is_const:
                c = sub.add_const(v.name, v.const, dtype=v.dtype)  # type: ignore[arg-type]
                c.quant = v.quant
                new[id(v)] = c
                ins.append(c)
            else:
                return None  # a value from outside the layer that no chain reaches (not expected)
        m = sub.add_node(n.op, ins, dict(n.attrs), n.origin, name=n.name)
        for old, nv in zip(n.outputs, m.outputs):
            sub.rename_value(nv, old.name)
            nv.quant = old.quant
            new[id(old)] = nv
    compares: list[str] = []
    for name, qname in outputs:
        v = names.get(qname)
        if v is None or id(v) not in new:
            continue
        sub.outputs.append(new[id(v)])
        compares.append(name)
    if not sub.outputs:
        return None
    return LayerGraph(sub, feeds, compares)


__all__ = ["LayerGraph", "layer_graph"]
