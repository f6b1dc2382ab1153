"""Multiply-accumulate counts per node (per sample: the batch axis is excluded)."""

from __future__ import annotations

import math

from .node import Node


def _per_sample(shape: tuple[int | None, ...]) -> int:
    return math.prod(1 if d is None else int(d) for d in shape[1:])


def node_macs(node: Node) -> int:
    """MACs of one node; 0 for ops that do no multiply-accumulate work worth counting."""
    out = node.outputs[0]
    w = node.inputs[1] if len(node.inputs) > 1 else None
    if w is None:
        return 0
    if node.op == "Conv2D":
        kh, kw, cin_g, _ = (int(d or 1) for d in w.shape)
        return _per_sample(out.shape) * kh * kw * cin_g
    if node.op == "DepthwiseConv2D":
        kh, kw = int(w.shape[0] or 1), int(w.shape[1] or 1)
        return _per_sample(out.shape) * kh * kw
    if node.op == "TransposeConv2D":
        x = node.inputs[0]
        assert x is not None
        kh, kw, cout, cin = (int(d or 1) for d in w.shape)
        return _per_sample(x.shape[:-1] + (1,)) * kh * kw * cout * cin
    if node.op == "FullyConnected":
        return _per_sample(out.shape) * int(w.shape[0] or 1)
    if node.op == "BatchMatMul":
        a = node.inputs[0]
        assert a is not None
        k = a.shape[-2] if node.attrs.get("adj_x") else a.shape[-1]
        return _per_sample(out.shape) * int(k or 1)
    return 0
