"""Shape and dtype inference over a whole graph: the one place shapes are derived from op rules.

``infer_node`` applies one op's ``infer`` rule to input values and turns every failure into a
:class:`~keras2edge.errors.ShapeInferenceError` that names the node (``Graph.add_node`` and
``Graph.verify`` use it). ``infer_shapes`` walks the nodes in topological order from the graph
inputs, optionally with some inputs' shapes pinned (a batch size, a sequence length), and
returns the (dtype, shape) of every value without touching the graph. Its users:

* the emitters, which need concrete shapes (TFLite writes the batch; ONNX pins ``input_shapes``);
* graph surgery (``Graph.replace_const`` / ``Graph.refresh_shapes``), which stores the inferred
  shapes back into the values, so pruning is "change constants, re-infer".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import Keras2EdgeError, ShapeInferenceError
from .dtypes import DType
from .ops import op_spec
from .value import Value

if TYPE_CHECKING:
    from .graph import Graph
    from .node import Node

Shape = tuple["int | None", ...]
ValueType = tuple[DType, Shape]

#: What an op's ``infer`` rule raises on inputs it does not accept (besides a Keras2EdgeError).
_INFER_FAILURES = (Keras2EdgeError, ValueError, AssertionError, TypeError, IndexError, KeyError)


def infer_node(node: Node, inputs: Sequence[Value | None] | None = None,
               attrs: Mapping[str, Any] | None = None) -> list[ValueType]:
    """(dtype, shape) of each output of ``node`` for ``inputs`` and ``attrs`` (default: the node's own).

    Raises:
        ShapeInferenceError: the op rejects the inputs; ``node`` and ``reason`` say where and why.
    """
    ins = list(node.inputs if inputs is None else inputs)
    try:
        outs = op_spec(node.op).infer(ins, node.attrs if attrs is None else dict(attrs))
    except _INFER_FAILURES as e:
        raise ShapeInferenceError(node, str(e) or type(e).__name__) from e
    return [(dt, tuple(shape)) for dt, shape in outs]


def infer_shapes(graph: Graph, pins: Mapping[str, Sequence[int | None]] | None = None) -> dict[int, ValueType]:
    """(dtype, shape) of every graph input and node output, keyed by ``id(value)``.

    Args:
        graph: the graph; it is not modified.
        pins: graph input name -> shape replacing the stored one (the caller checks that the
            pinned dims fit; a None dim stays unknown). Inputs not named keep their shape.

    Returns:
        A dict over the graph inputs and every node output (constants are not in it: their shape
        is their data's).

    Raises:
        ShapeInferenceError: a node's op rejects its (re-inferred) inputs, naming the node.
    """
    pinned = dict(pins or {})
    types: dict[int, ValueType] = {}
    shadow: dict[int, Value] = {}
    for v in graph.inputs:
        shape = tuple(pinned[v.name]) if v.name in pinned else tuple(v.shape)
        types[id(v)] = (v.dtype, shape)
        shadow[id(v)] = Value(v.name, v.dtype, shape)
    for node in graph.nodes:
        ins = [None if v is None else (v if v.is_const else shadow.get(id(v), v)) for v in node.inputs]
        for v, (dt, shape) in zip(node.outputs, infer_node(node, ins)):
            types[id(v)] = (dt, shape)
            shadow[id(v)] = Value(v.name, dt, shape)
    return types


__all__ = ["ShapeInferenceError", "ValueType", "infer_node", "infer_shapes"]
