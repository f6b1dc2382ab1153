"""Activation-aware row weights for the layer-wise reconstruction: where a pruned layer's output is
clamped right after it (ReLU, ReLU6 and the other clamping activations, fused into the layer or as
the next node, through a BatchNormalization in between), a calibration row whose unpruned output
sits in the clamped region (at or beyond a bound) hardly matters downstream as long as the pruned
output stays there, so its squared error counts :data:`SATURATED_WEIGHT` instead of 1 in the
least-squares fit, per output channel. The weights make the statistics per output column
(H_k = Σ_r a_rk·x_r·x_rᵀ, :func:`~.stats.collect_paired`); layers where those exceed
:data:`MAX_BYTES` keep the shared, unweighted H.

Measured on the digits CNN at 50% (auto schedule, KL of the class probabilities against the
unpruned model on the 200 calibration samples): weight 1 (plain) 0.0275, 0.2 0.0263, 0.05 0.0334;
0.2 is the default. The bounds come from the op specs (``clamp``; ``Relu``: [0, ∞)) and the fused
``activation`` attribute (ir/activation.py), not from a table here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..ir.activation import FUSED_ACTIVATIONS, NONE, fused_activation
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.ops import op_spec

#: weight of a calibration row whose unpruned output is clamped (1 = the plain least-squares fit)
SATURATED_WEIGHT = 0.2
#: per-column statistics held for one layer (2 × N·F² float64), else the shared H (the digits
#: fixtures need at most 0.5 MB; at 128 MB the per-column sums were 45 s of MobileNetV2's pruning)
MAX_BYTES = 16 << 20


@dataclass(frozen=True)
class Clamp:
    """The value to observe (the clamped output, same name in the pruned and unpruned graph) and
    its bounds."""

    value: str
    low: float
    high: float


def _bounds(op: str) -> tuple[float, float] | None:
    if op == "Relu":
        return (0.0, math.inf)
    return op_spec(op).clamp


def clamp_after(graph: Graph, node: Node) -> Clamp | None:
    """The clamping activation applied to ``node``'s output: its own fused ``activation``, else
    the only reader (or the only reader of the only BatchNorm reading it) when that is a clamping
    op; None when there is none (or the output also leaves the graph unclamped)."""
    act = fused_activation(node)
    if act != NONE:
        b = _bounds(FUSED_ACTIVATIONS[act]) if act in FUSED_ACTIVATIONS else None
        return None if b is None else Clamp(node.outputs[0].name, *b)
    out = node.outputs[0]
    for _ in range(2):
        if graph.is_output(out):
            return None
        users = graph.consumers(out)
        if len(users) != 1 or users[0].inputs[0] is not out:
            return None
        nxt = users[0]
        if nxt.op == "BatchNorm":
            out = nxt.outputs[0]
            continue
        b = _bounds(nxt.op) if nxt.op == "Relu" or op_spec(nxt.op).clamp is not None else None
        return None if b is None else Clamp(nxt.outputs[0].name, *b)
    return None


__all__ = ["MAX_BYTES", "SATURATED_WEIGHT", "Clamp", "clamp_after"]
