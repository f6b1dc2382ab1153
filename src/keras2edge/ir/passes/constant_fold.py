"""ConstantFoldPass: evaluate nodes whose inputs are all constants and store the results."""

from __future__ import annotations

import logging

import numpy as np

from ...errors import GraphError
from ..evaluate import evaluate_node
from ..graph import Graph
from ..node import Node
from ..ops import op_spec
from .base import Pass
from .rewrite import replace_value

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class ConstantFoldPass(Pass):
    """Replace a node whose inputs are all constants (or absent optional inputs) by constants.

    The node is evaluated with :func:`keras2edge.ir.evaluate.evaluate_node` (the op's NumPy
    semantics); each output becomes a new constant that takes the output's name (so graph
    output names survive) and its quantization parameters, and the node is removed. Constants
    are never mutated: inputs shared with other nodes stay as they are.

    Declines (the node stays) when: any input is computed at run time; the node is a Dequantize (a
    Dequantize of a constant is how quantized weights are stored: folding it would undo the
    quantization; a Quantize of a constant does fold, into the integer weights); an output would exceed
    ``max_bytes`` (default 64 MB; folding would bloat the model, e.g. a Tile of a small constant);
    evaluation fails (logged); or the result does not have the dtype and static shape recorded on
    the output value (an op whose shape rule and NumPy semantics disagree is left for the runtime).
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes

    def run(self, graph: Graph) -> bool:
        changed = False
        for node in list(graph.nodes):
            if all(v is None or v.is_const for v in node.inputs) and op_spec(node.op).input_quant is None:
                changed |= self._fold(graph, node)
        return changed

    def _fold(self, graph: Graph, node: Node) -> bool:
        for v in node.outputs:
            if None in v.shape:
                return False
            nbytes = int(np.prod(v.shape, dtype=np.int64)) * v.dtype.np.itemsize
            if nbytes > self.max_bytes:
                log.debug("not folding %s: output %s would take %d bytes", node.where(), v.name, nbytes)
                return False
        try:
            results = evaluate_node(node, [None if v is None else v.const for v in node.inputs])
        except GraphError as e:
            log.warning("not folding %s: %s", node.where(), e)
            return False
        if len(results) != len(node.outputs) or any(
                r.dtype != v.dtype.np or tuple(r.shape) != tuple(v.shape) for r, v in zip(results, node.outputs)):
            log.warning("not folding %s: evaluated outputs do not match the inferred ones", node.where())
            return False
        for v, data in zip(node.outputs, results):
            # A copy: shape ops evaluate to views of their input, which may be a shared constant.
            const = graph.add_const(v.name, np.array(data, order="C", copy=True), dtype=v.dtype)
            const.quant = v.quant
            replace_value(graph, v, const, take_name=True)
        graph.remove_node(node)
        return True
