"""The QDQ rewrite: a float graph and chosen parameters -> the QDQ form both emitters accept (``ir.quant``).

The contract with the emitters (the TFLite lowering folds each Dequantize -> op -> Quantize into the
op's integer kernel; ONNX writes QuantizeLinear/DequantizeLinear):

* activation v (params p): producer -> v (float) -> Quantize(p) -> v_q (int8) -> Dequantize(p) ->
  every consumer and graph output that read v;
* weight of an int8 op: int8 constant (``quant`` per channel on the weight's output axis, zp 0) ->
  Dequantize -> the op; bias: int32 constant (scale s_in * s_w[c], zp 0) -> Dequantize -> the op;
  another quantized constant operand: int8 constant (per tensor) -> Dequantize -> the op;
* one integer constant and one Dequantize per (float constant, parameters), shared by every use
  planned with those parameters (an unrolled LSTM/GRU step reads the same recurrent kernel: one
  int8 copy, as the float file holds one float32 copy); uses with other parameters (a bias whose
  s_in differs by time step) get their own;
* requantize (an equal-scale op's input of other parameters): Dequantize's output -> Quantize(p') ->
  Dequantize(p') -> the op;
* graph inputs, ``io`` None (float): input -> Quantize -> Dequantize -> consumers; ``io`` int8/uint8/int16:
  the input becomes the integer value (its ``quant`` set; uint8: zero point + 128, same scale) ->
  Dequantize -> consumers;
* graph outputs, ``io`` None: the Dequantize's float output; int8/int16: the Quantize's integer value;
  uint8: Dequantize -> Quantize(uint8, zero point + 128) -> output.

Graph inputs and outputs keep their names (the float values they replace are renamed ``<name>/float``);
every new node carries the Keras origin of the node it serves (a graph input's: the input layer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import GraphError
from ..ir.dtypes import DType
from ..ir.graph import Graph
from ..ir.node import Node, Origin
from ..ir.quant import QuantParams
from ..ir.value import Value
from . import params as P

Use = tuple[int, int]  # (id(node), input index)


@dataclass
class QdqPlan:
    """What to quantize and with which parameters (ids of the graph's values and nodes)."""

    acts: dict[int, QuantParams] = field(default_factory=dict)      # id(value) -> int8 activation params
    weights: dict[Use, QuantParams] = field(default_factory=dict)   # weight input -> int8 params
    biases: dict[Use, QuantParams] = field(default_factory=dict)    # bias input -> int32 params
    consts: dict[Use, QuantParams] = field(default_factory=dict)    # other constant input -> int8 params
    requant: dict[Use, QuantParams] = field(default_factory=dict)   # activation input -> params it must have


def _uint8(p: QuantParams) -> QuantParams:
    """The uint8 twin of int8 parameters: same scale, zero point + 128."""
    return QuantParams(p.scale, p.zero_point + 128, p.axis, DType.UINT8)


def _input_origin(v: Value) -> Origin:
    return Origin(v.name, "InputLayer")


def _qdq(g: Graph, v: Value, p: QuantParams, origin: Origin | None, *, after: Node | None = None,
         before: Node | None = None) -> tuple[Node, Node]:
    """Quantize(p) then Dequantize(p) of ``v``, inserted after ``after`` (or before ``before``)."""
    kw = {"after": after} if after is not None else {"before": before}
    q = g.add_node("Quantize", [v], {"quant": p}, origin, name=f"{v.name}/Quantize", **kw)
    d = g.add_node("Dequantize", [q.output], {"quant": p}, origin, name=f"{v.name}/Dequantize", after=q)
    return q, d


def _const_dq(g: Graph, old: Value, uses: list[Use], nodes: dict[int, Node], data: object, p: QuantParams,
              what: str) -> None:
    """Replace the ``uses`` of float constant ``old`` by one integer constant ``data`` (carrying ``p``)
    -> one Dequantize, placed before the first reader."""
    readers = [nodes[nid] for nid, _ in uses]
    first = min(readers, key=g.nodes.index)
    c = g.add_const(f"{old.name}/{what}", data, p.qtype)  # type: ignore[arg-type]
    c.quant = p
    d = g.add_node("Dequantize", [c], {"quant": p}, first.origin, name=f"{old.name}/Dequantize", before=first)
    for (_nid, idx), node in zip(uses, readers):
        g.set_input(node, idx, d.output)


def _const_groups(table: dict[Use, QuantParams], nodes: dict[int, Node]) -> dict[tuple[int, QuantParams],
                                                                                    tuple[Value, list[Use]]]:
    """The planned uses of ``table`` grouped by (float constant, parameters), in plan order."""
    groups: dict[tuple[int, QuantParams], tuple[Value, list[Use]]] = {}
    for (nid, idx), p in table.items():
        node = nodes[nid]
        v = node.inputs[idx]
        if v is None or v.const is None:
            raise GraphError(f"{node.where()}: input {idx} was planned for quantization but is not a constant")
        groups.setdefault((id(v), p), (v, []))[1].append((nid, idx))
    return groups


def _keep_name(g: Graph, old: Value, new: Value) -> None:
    """``new`` takes ``old``'s name; ``old`` becomes ``<name>/float``."""
    name = old.name
    g.rename_value(old, f"{name}/float")
    g.rename_value(new, name)


def rewrite(g: Graph, plan: QdqPlan, io: DType | None) -> None:
    """Rewrite ``g`` in place into QDQ form by ``plan`` (see the module); ``io``: None (float
    inputs and outputs), ``DType.INT8`` or ``DType.UINT8``."""
    nodes = {id(n): n for n in g.nodes}
    out_before = list(g.outputs)
    quantized_of: dict[int, tuple[Node | None, Node]] = {}  # id(float value) -> (Quantize, Dequantize)

    # 1. Activations: node outputs after their producer, graph inputs at the top.
    for node in list(g.nodes):
        for v in node.outputs:
            if id(v) in plan.acts:
                q, d = _qdq(g, v, plan.acts[id(v)], node.origin, after=node)
                g.replace_all_uses(v, d.output, except_node=q)
                quantized_of[id(v)] = (q, d)
    first = g.nodes[0] if g.nodes else None
    for k, v in enumerate(list(g.inputs)):
        if id(v) not in plan.acts or first is None:
            continue
        p = plan.acts[id(v)]
        if io is None:
            q, d = _qdq(g, v, p, _input_origin(v), before=first)
            g.replace_all_uses(v, d.output, except_node=q)
            quantized_of[id(v)] = (q, d)
            continue
        pi = _uint8(p) if io == DType.UINT8 else p
        name = v.name
        g.rename_value(v, f"{name}/float")
        new = Value(g.unique_name(name), io, v.shape, quant=pi)
        d = g.add_node("Dequantize", [new], {"quant": pi}, _input_origin(new), name=f"{name}/Dequantize",
                       before=first)
        g.replace_all_uses(v, d.output)
        g.inputs[k] = new
        quantized_of[id(v)] = (None, d)

    # 2. Constants: weights, biases and other operands, one integer constant per (constant, parameters).
    for table, fn in ((plan.weights, P.quantize_weight), (plan.biases, P.quantize_bias),
                      (plan.consts, P.quantize_constant)):
        for (_vid, p), (old, uses) in _const_groups(table, nodes).items():
            _const_dq(g, old, uses, nodes, fn(old.const, p), p, (p.qtype or DType.INT8).value)  # type: ignore[arg-type]

    # 3. Requantize equal-scale inputs to the op's parameters.
    for (nid, idx), p in plan.requant.items():
        node = nodes[nid]
        src = node.inputs[idx]
        if src is None:
            raise GraphError(f"{node.where()}: input {idx} was planned for requantization but is absent")
        _q2, d2 = _qdq(g, src, p, node.origin, before=node)
        g.set_input(node, idx, d2.output)

    # 4. Graph outputs by io, under their original names.
    for k, orig in enumerate(out_before):
        pair = quantized_of.get(id(orig))
        if pair is None:
            continue
        q, d = pair
        if io is None or q is None:
            new = d.output
        elif io != DType.UINT8:  # int8, int16: the Quantize's integer value
            new = q.output
        else:
            p = q.attrs["quant"]
            new = g.add_node("Quantize", [d.output], {"quant": _uint8(p)}, q.origin,
                             name=f"{orig.name}/QuantizeUint8", after=d).output
        g.outputs[k] = new
        if new is not d.output and not d.output.uses and not any(o is d.output for o in g.outputs):
            g.remove_node(d)
        if orig.producer is not None or io is None:
            _keep_name(g, orig, new)


__all__ = ["QdqPlan", "rewrite"]
