"""Keras layer -> the tensors that hold its outputs, in the float and in the quantized ``.tflite``.

The float model is ``emit_tflite(float graph)`` and the quantized model ``emit_tflite(quantized graph)``;
both emissions map IR value names to tensors (``TFLiteEmission.values``). A Keras layer (``node.origin``)
owns the nodes of the lowered float graph that came from it; its *outputs* are those nodes' values read
by another layer's node or that are graph outputs (a recurrent layer unrolled into a hundred ops has
one output). Each graph input is a layer of its own (class ``InputLayer``): its quantization is the
first error a model sees.

The quantized graph keeps the float value names (``quantize/qdq.py``): a float value ``X`` is followed
by ``X/Quantize`` (the integer value the kernel writes) and ``X/Dequantize``; a graph output ``X`` is
renamed ``X/float`` and the name ``X`` moves to the value that ships. :func:`quantized_tensor` walks
from the name to the integer tensor of the file (dequantized with its parameters when compared) or,
for a layer kept float, to the float tensor itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..convert.tflite import TFLiteEmission
from ..ir.dtypes import DType
from ..ir.graph import Graph
from ..ir.quant import QuantParams
from ..ir.value import Value

#: Suffix qdq.py gives a graph output's float value when the quantized value takes its name.
FLOAT_SUFFIX = "/float"


@dataclass
class LayerOutputs:
    """One Keras layer of the float model: its name, class, nodes' ops and the value names it outputs."""

    name: str
    cls: str
    outputs: list[str] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Tensor:
    """A tensor of an emitted file: its index, and its parameters when it is integer (else float)."""

    index: int
    name: str
    quant: QuantParams | None
    dtype: DType


def layer_outputs(emission: TFLiteEmission) -> list[LayerOutputs]:
    """The Keras layers of the (float) emission's graph in execution order, graph inputs first, each
    with its output values that the file holds."""
    g = emission.graph
    layers: dict[str, LayerOutputs] = {}
    for v in g.inputs:
        if v.name in emission.values:
            layers[v.name] = LayerOutputs(v.name, "InputLayer", [v.name])
    for node in g.nodes:
        if node.origin is None:
            continue
        key = node.origin.layer
        entry = layers.setdefault(key, LayerOutputs(key, node.origin.cls))
        if node.op not in entry.ops:
            entry.ops.append(node.op)
        for v in node.outputs:
            if v.name not in emission.values or v.name in entry.outputs:
                continue
            readers = {n.origin.layer if n.origin else None for n, _ in v.uses}
            if g.is_output(v) or readers - {key}:
                entry.outputs.append(v.name)
    return [e for e in layers.values() if e.outputs]


def _by_name(g: Graph) -> dict[str, Value]:
    out: dict[str, Value] = {v.name: v for v in g.inputs}
    for node in g.nodes:
        for v in node.outputs:
            out[v.name] = v
    return out


def quantized_value(g: Graph, names: dict[str, Value], name: str) -> Value | None:
    """The value of quantized graph ``g`` holding float value ``name`` in the file: the integer value a
    kernel or QUANTIZE writes, or the float value itself when it was not quantized."""
    v = names.get(name + FLOAT_SUFFIX) or names.get(name)
    if v is None:
        return None
    if v.quant is not None and v.dtype != DType.FLOAT32:
        return v
    p = v.producer
    if p is not None and p.op == "Dequantize" and p.inputs[0] is not None and not p.inputs[0].is_const:
        return p.inputs[0]
    readers = [n for n, _ in v.uses]
    if len(readers) == 1 and readers[0].op == "Quantize":
        return readers[0].output
    if g.is_output(v) or readers:
        return v
    return None


def quantized_tensor(emission: TFLiteEmission, name: str, names: dict[str, Value] | None = None, *,
                     computed: bool = True) -> Tensor | None:
    """The tensor of the quantized ``emission`` holding float value ``name`` (see :func:`quantized_value`).

    With ``computed`` (layer outputs), a float value the file materializes is taken as it is: its
    layer runs in float (kept float), and the QUANTIZE after it belongs to the next layer's input.
    Graph inputs pass ``computed=False``: the input's quantization is what is measured."""
    names = names if names is not None else _by_name(emission.graph)
    own = names.get(name + FLOAT_SUFFIX) or names.get(name)
    if computed and own is not None and own.dtype == DType.FLOAT32 and own.producer is not None \
            and own.producer.op != "Dequantize" and own.name in emission.values:
        return Tensor(emission.values[own.name].index, own.name, None, own.dtype)
    v = quantized_value(emission.graph, names, name)
    if v is None or v.name not in emission.values:
        if name in emission.values:  # a value forwarded unchanged (kept float)
            t = names.get(name)
            return Tensor(emission.values[name].index, name, None, t.dtype if t else DType.FLOAT32)
        return None
    quant = v.quant if v.dtype != DType.FLOAT32 else None
    return Tensor(emission.values[v.name].index, v.name, quant, v.dtype)


def value_names(g: Graph) -> dict[str, Value]:
    """Value name -> value (graph inputs and node outputs) of ``g``."""
    return _by_name(g)


__all__ = ["FLOAT_SUFFIX", "LayerOutputs", "Tensor", "layer_outputs", "quantized_tensor", "quantized_value",
           "value_names"]
