"""UnfuseActivationPass: turn an ``activation`` attribute back into the activation op after the node."""

from __future__ import annotations

from ..activation import ATTR, FUSED_ACTIVATIONS, NONE, fused_activation
from ..graph import Graph
from ..node import Node
from .base import Pass


class UnfuseActivationPass(Pass):
    """The inverse of :class:`FuseActivationPass`, for targets without fused activations (ONNX).

    ``z = op(..., activation=act)`` becomes ``y = op(...); z = Act(y)``: the attribute goes back
    to ``"none"``, a ``Relu`` / ``Relu6`` / ``ReluN1To1`` node (with the producer's origin) is
    inserted after the producer, and its output takes the fused output's name, so users and graph
    outputs see the same name. Never declines on a node with a fused activation.
    """

    def run(self, graph: Graph) -> bool:
        changed = False
        for node in list(graph.nodes):
            if fused_activation(node) != NONE:
                self._unfuse(graph, node)
                changed = True
        return changed

    @staticmethod
    def _unfuse(graph: Graph, node: Node) -> None:
        op = FUSED_ACTIVATIONS[fused_activation(node)]
        node.attrs[ATTR] = NONE
        y = node.output
        act = graph.add_node(op, [y], origin=node.origin, name=f"{node.name}/{op}", after=node)
        graph.replace_all_uses(y, act.output, except_node=act)
        name = y.name
        graph.rename_value(y, f"{name}/pre_activation")
        graph.rename_value(act.output, name)
