"""FuseActivationPass: fold a clamping activation into the ``activation`` attribute of its producer."""

from __future__ import annotations

from ..activation import ACTIVATION_OF_OP, ATTR, NONE, fused_activation, has_activation_attr
from ..dtypes import DType
from ..graph import Graph
from ..node import Node
from ..ops import op_spec
from .base import Pass
from .rewrite import replace_value


class FuseActivationPass(Pass):
    """Fold ``Relu`` / ``Relu6`` / ``ReluN1To1`` into the op before it (``activation`` attribute).

    Rewrites ``y = op(...); z = Act(y)`` into ``z = op(..., activation=act)`` when ``op``'s spec
    has the ``activation`` attribute (Conv2D, DepthwiseConv2D, FullyConnected, BatchNorm, Add,
    Sub, Mul, Div, MaxPool2D, AveragePool2D) and it is still ``"none"``. The fused output takes
    the activation's name (a graph output keeps its name); the producer keeps its node and origin.

    These are the conditions under which the official TFLite converter fuses (its optimize
    patterns), and exactly those the TFLite emitter used before this pass existed. Declines when:
      * ``y`` is not float32 (an integer Div is a FLOOR_DIV, which has no fused activation), or
        ``y`` or ``z`` carries quantization parameters;
      * ``y`` is a graph output, or has any other use (even a second use by the same node);
      * the activation is anything else (Tanh, Logistic, LeakyRelu...: not a clamp);
      * the producer has several outputs, or already has a fused activation.
    """

    def run(self, graph: Graph) -> bool:
        changed = False
        for node in list(graph.nodes):
            changed |= self._fuse(graph, node)
        return changed

    @staticmethod
    def _fuse(graph: Graph, node: Node) -> bool:
        if not has_activation_attr(op_spec(node.op)) or fused_activation(node) != NONE or len(node.outputs) != 1:
            return False
        y = node.outputs[0]
        if y.dtype != DType.FLOAT32 or y.quant is not None or graph.is_output(y) or len(y.uses) != 1:
            return False
        act = y.uses[0][0]
        if act.op not in ACTIVATION_OF_OP or act.output.quant is not None:
            return False
        node.attrs[ATTR] = ACTIVATION_OF_OP[act.op]
        replace_value(graph, act.output, y, take_name=True)
        graph.remove_node(act)
        return True
