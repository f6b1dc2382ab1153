"""FoldIdentityPass: remove ops that do nothing, and merge back-to-back Transposes and Reshapes."""

from __future__ import annotations

from typing import Any

from ...errors import ShapeInferenceError
from ..dtypes import DType
from ..graph import Graph
from ..node import Node
from ..shapes import infer_node
from ..value import Value
from .base import Pass
from .rewrite import bypass_node, same_quant

# An end at or past this is "to the end of the axis" (TF writes INT32_MAX for an open end).
_OPEN_END = 2**31 - 1


class FoldIdentityPass(Pass):
    """Remove no-op nodes and merge chains of layout ops.

    Rewrites (node ``y = op(x)``; uses of ``y`` move to ``x``, and the node goes):
      * ``Identity``;
      * ``Transpose`` whose perm is the identity;
      * ``Transpose(Transpose(x, p1), p2)``: composed into one ``Transpose(x, p1[p2])``, removed
        altogether when the composition is the identity;
      * ``Reshape(Reshape(x))``: collapsed into one Reshape of ``x`` with the second target;
      * ``Reshape`` to the input's own shape (static, or with at most one unknown dimension);
      * ``Cast`` to the input's own dtype;
      * ``Pad`` whose pads are all zero;
      * ``StridedSlice`` that takes the whole tensor (stride 1, from the start to the end).

    When ``y`` is a graph output, ``x`` takes its name (graph outputs are Keras layer names).

    Declines (the node stays) when ``y`` is a graph output and ``x`` is a graph input or another
    graph output (neither can be renamed); when ``x`` and ``y`` carry different quantization (the
    node requantizes); and a merge of two layout ops declines when the first one's output has
    another use or is a graph output (unless the pair cancels out), or when the merged op would
    infer a different shape (a static reshape of a dynamic batch cannot be skipped).
    """

    def run(self, graph: Graph) -> bool:
        changed = False
        while self._sweep(graph):
            changed = True
        return changed

    def _sweep(self, graph: Graph) -> bool:
        changed = False
        # A rewrite removes only the visited node or its producer (visited before it), so the
        # snapshot never yields a node that is gone.
        for node in list(graph.nodes):
            changed |= self._rewrite(graph, node)
        return changed

    def _rewrite(self, graph: Graph, node: Node) -> bool:
        if len(node.outputs) != 1 or not node.inputs or node.inputs[0] is None:
            return False
        x, y = node.inputs[0], node.output
        if node.op == "Transpose":
            return self._transpose(graph, node, x)
        if node.op == "Reshape":
            first = x.producer
            if first is not None and first.op == "Reshape" and _absorb_producer(graph, node, first, node.attrs):
                return True
            return _reshape_is_noop(x, y) and bypass_node(graph, y, x)
        if _is_noop(node, x):
            return bypass_node(graph, y, x)
        return False

    @staticmethod
    def _transpose(graph: Graph, node: Node, x: Value) -> bool:
        perm = [int(p) for p in node.attrs["perm"]]
        if perm == list(range(len(perm))):
            return bypass_node(graph, node.output, x)
        first = x.producer
        if first is None or first.op != "Transpose":
            return False
        inner = [int(p) for p in first.attrs["perm"]]
        composed = [inner[p] for p in perm]
        src = first.inputs[0]
        assert src is not None
        if composed == list(range(len(composed))) and same_quant(src.quant, x.quant) \
                and bypass_node(graph, node.output, src):
            if not any(v.uses or graph.is_output(v) for v in first.outputs):
                graph.remove_node(first)
            return True
        return _absorb_producer(graph, node, first, {**node.attrs, "perm": tuple(composed)})


def _is_noop(node: Node, x: Value) -> bool:
    """Identity, Cast to the same dtype, all-zero Pad, whole-tensor StridedSlice."""
    a = node.attrs
    if node.op == "Identity":
        return True
    if node.op == "Cast":
        return DType(a["to"]) == x.dtype
    if node.op == "Pad":
        return all(int(b) == 0 and int(e) == 0 for b, e in a["pads"])
    if node.op == "StridedSlice":
        return _whole_slice(x, a)
    return False


def _reshape_is_noop(x: Value, y: Value) -> bool:
    # With at most one unknown dimension, equal shapes mean equal element layouts.
    return tuple(x.shape) == tuple(y.shape) and sum(d is None for d in x.shape) <= 1


def _whole_slice(x: Value, attrs: dict[str, Any]) -> bool:
    begin, end, strides = list(attrs["begin"]), list(attrs["end"]), list(attrs["strides"])
    if not len(begin) == len(end) == len(strides) == x.rank:
        return False
    for d, b, e, s in zip(x.shape, begin, end, strides):
        if s not in (None, 1):
            return False
        if d is not None:
            if slice(b, e, 1).indices(d) != (0, d, 1):
                return False
        elif b not in (None, 0) or not (e is None or e >= _OPEN_END):
            return False
    return True


def _absorb_producer(graph: Graph, node: Node, first: Node, attrs: dict[str, Any]) -> bool:
    """Make ``node`` read ``first``'s input directly with ``attrs``, and remove ``first``.

    Only when ``first``'s output is used by ``node`` alone, is not a graph output, does not
    requantize, and the rewired node infers exactly the output it has now.
    """
    src, mid = first.inputs[0], first.output
    if src is None or len(mid.uses) != 1 or graph.is_output(mid) or not same_quant(src.quant, mid.quant):
        return False
    y = node.output
    try:
        if infer_node(node, [src], attrs) != [(y.dtype, tuple(y.shape))]:
            return False
    except ShapeInferenceError:
        return False
    node.attrs = dict(attrs)
    graph.set_input(node, 0, src)
    graph.remove_node(first)
    return True
