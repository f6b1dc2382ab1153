"""Multiply-accumulate counts per node (per sample: the batch axis is excluded), from each op's
``OpSpec.macs`` (defined with the op in ``ir/ops/<family>.py``)."""

from __future__ import annotations

from .node import Node
from .ops import op_spec


def node_macs(node: Node) -> int:
    """MACs of one node; 0 for ops that do no multiply-accumulate work worth counting (no ``macs``)
    and for a node without a second input (a weight)."""
    macs = op_spec(node.op).macs
    w = node.inputs[1] if len(node.inputs) > 1 else None
    return 0 if macs is None or w is None else macs(node)
