"""Fused activations: the ``activation`` attribute of ops that can clamp their own output.

An op whose spec has the attribute (conv, depthwise conv, fully-connected, BatchNorm, the float
Add/Sub/Mul/Div and the 2-D pools; see the bottom of ``ops.py``) computes ``act(op(x))``;
``"none"`` is the plain op. The values are exactly the clamps TFLite's ``fused_activation_function``
can hold and the official converter folds (its optimize patterns fold only clamping activations),
each standing for the IR op of the same meaning:

    activation      IR op        meaning
    "relu"          Relu         max(x, 0)
    "relu6"         Relu6        min(max(x, 0), 6)
    "relu_n1_to_1"  ReluN1To1    min(max(x, -1), 1)

``FuseActivationPass`` sets the attribute; ``UnfuseActivationPass`` turns it back into the op
(what the ONNX emitter does for a graph that arrives fused).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from .node import Node
    from .ops import OpSpec
    from .value import Value

ATTR = "activation"
NONE = "none"

#: ``activation`` attribute value -> the IR op it stands for (one source for passes and emitters).
FUSED_ACTIVATIONS: dict[str, str] = {"relu": "Relu", "relu6": "Relu6", "relu_n1_to_1": "ReluN1To1"}
#: The inverse: an IR activation op -> the attribute value that fuses it.
ACTIVATION_OF_OP: dict[str, str] = {op: name for name, op in FUSED_ACTIVATIONS.items()}


def has_activation_attr(spec: OpSpec) -> bool:
    """Whether ops of ``spec`` can carry a fused activation."""
    return ATTR in spec.attrs


def fused_activation(node: Node) -> str:
    """The node's fused activation (``"none"`` for an op without the attribute)."""
    return str(node.attrs.get(ATTR, NONE))


def with_fused_activation(spec: OpSpec, ops: Mapping[str, OpSpec]) -> OpSpec:
    """``spec`` with the ``activation`` attribute (default ``"none"``): ``infer`` checks its value and
    ``evaluate`` applies the activation op (looked up in ``ops``) to the output."""
    infer, evaluate = spec.infer, spec.evaluate

    def checked_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[Any]:
        act = attrs.get(ATTR, NONE)
        if act != NONE and act not in FUSED_ACTIVATIONS:
            raise ValueError(f"activation {act!r} is not one of {[NONE, *FUSED_ACTIVATIONS]}")
        return infer(ins, attrs)

    def activated(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
        outs = evaluate(ins, attrs)
        act = attrs.get(ATTR, NONE)
        if act == NONE:
            return outs
        clamp = ops[FUSED_ACTIVATIONS[act]].evaluate
        return [clamp([y], {})[0] for y in outs]

    from .ops.core import Attr, one_of

    attr = Attr(ATTR, (str,), NONE, one_of(NONE, *FUSED_ACTIVATIONS))
    return replace(spec, attributes=(*spec.attributes, attr), infer=checked_infer, evaluate=activated)


__all__ = ["ACTIVATION_OF_OP", "ATTR", "FUSED_ACTIVATIONS", "NONE", "fused_activation", "has_activation_attr",
           "with_fused_activation"]
