"""FoldBatchNormPass: fold inference BatchNorm into the conv/FC before it, else into Mul + Add."""

from __future__ import annotations

import numpy as np

from ..activation import NONE, fused_activation
from ..graph import Graph
from ..node import Node
from ..ops import broadcast_shapes, op_spec
from ..ops.normalization import batchnorm_scale_shift
from ..value import Value
from .base import Pass
from .rewrite import replace_value


def scale_out_channels(w: np.ndarray, s: np.ndarray, axis: int) -> np.ndarray:
    """``w`` times the (C,) vector ``s`` along its output-channel ``axis`` (the op's ``WeightAxes``)."""
    shape = [w.shape[a] if a == axis else 1 for a in range(w.ndim)]
    return w * s.reshape(shape)


class FoldBatchNormPass(Pass):
    """Remove every foldable ``BatchNorm`` (y = x * scale + shift per channel of the last axis).

    With scale = gamma / sqrt(variance + epsilon) and shift = beta - mean * scale:
      * Fold: when ``x`` is produced by an op with weights (its spec's ``weights``: Conv2D,
        DepthwiseConv2D, TransposeConv2D, FullyConnected) with constant float weights and a
        constant (or absent) bias, and ``x`` has no other use and is not a graph output, the producer gets NEW constants
        ``w * scale`` (on its output-channel axis) and ``b * scale + shift`` (a bias is created
        if absent), and the BatchNorm goes. The producer keeps its node, name and origin; if
        the BatchNorm output was a graph output, the producer's output takes its name.
      * Otherwise: the BatchNorm becomes ``Mul(x, scale)`` then ``Add(_, shift)`` with constant
        per-channel vectors, both with the BatchNorm's origin; the Add output takes its name.

    Constants are never mutated (a weight may be shared by several nodes).

    Declines (the BatchNorm stays) when mean, variance, gamma or beta is not a constant, when
    ``x`` is not a float tensor, when ``x`` or the output carries quantization parameters, when
    the BatchNorm has a fused activation, or when the parameters do not broadcast over ``x``
    along its last axis. It folds into Mul + Add, not into the producer, when the producer has a
    fused activation (the scale would have to come before the clamp).
    """

    def run(self, graph: Graph) -> bool:
        changed = False
        for node in list(graph.nodes):
            if node.op == "BatchNorm":
                changed |= self._rewrite(graph, node)
        return changed

    @staticmethod
    def _rewrite(graph: Graph, bn: Node) -> bool:
        x = bn.inputs[0]
        if (x is None or not x.dtype.is_float or x.quant is not None or bn.output.quant is not None
                or fused_activation(bn) != NONE):
            return False
        affine = _scale_shift(bn)
        if affine is None:
            return False
        vectors = _per_channel(x, *affine)
        if vectors is not None and _fold_into_producer(graph, bn, x, *vectors):
            return True
        scale, shift = vectors or affine
        try:
            if broadcast_shapes(x.shape, scale.shape, shift.shape) != tuple(x.shape):
                return False
        except ValueError:
            return False
        _to_mul_add(graph, bn, x, scale, shift)
        return True


def _scale_shift(bn: Node) -> tuple[np.ndarray, np.ndarray] | None:
    """(scale, shift) in float64, as the op's own semantics compute them; None if not constant."""
    params: list[Value | None] = list(bn.inputs[1:]) + [None] * (5 - len(bn.inputs))
    if any(v is not None and not v.is_const for v in params):
        return None
    mean, var, gamma, beta = (None if v is None else np.asarray(v.const, np.float64) for v in params)
    if mean is None or var is None:
        return None  # not a valid BatchNorm (verify() names it); nothing to fold
    return batchnorm_scale_shift(mean, var, gamma, beta, bn.attrs["epsilon"])


def _per_channel(x: Value, scale: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Both arrays as (C,) vectors, if they vary along the last axis of ``x`` only."""
    channels = x.shape[-1] if x.rank else None
    if channels is None:
        return None
    out = []
    for a in (scale, shift):
        if a.ndim > x.rank or any(d != 1 for d in a.shape[:-1]) or (a.ndim and a.shape[-1] not in (1, channels)):
            return None
        out.append(np.broadcast_to(a.reshape(-1), (channels,)).copy())
    return out[0], out[1]


def _fold_into_producer(graph: Graph, bn: Node, x: Value, scale: np.ndarray, shift: np.ndarray) -> bool:
    conv = x.producer
    axes = None if conv is None else op_spec(conv.op).weights
    if (conv is None or axes is None or len(x.uses) != 1 or graph.is_output(x)
            or fused_activation(conv) != NONE):
        return False
    w = conv.inputs[axes.input]
    b = conv.inputs[2] if len(conv.inputs) > 2 else None
    if w is None or not _float_const(w) or (b is not None and not _float_const(b)):
        return False
    assert w.const is not None
    new_w = scale_out_channels(w.const.astype(np.float64), scale, axes.out_axis)
    old_b = np.zeros(scale.shape) if b is None or b.const is None else b.const.astype(np.float64)
    new_b = old_b * scale + shift
    graph.set_input(conv, axes.input, graph.add_const(f"{w.name}_bnfold", new_w, dtype=w.dtype))
    if len(conv.inputs) < 3:
        conv.inputs.append(None)  # open the optional bias slot; set_input keeps the use lists
    b_dtype = b.dtype if b is not None else x.dtype
    graph.set_input(conv, 2, graph.add_const(f"{conv.name}/bias_bnfold", new_b, dtype=b_dtype))
    replace_value(graph, bn.output, x)
    graph.remove_node(bn)
    return True


def _float_const(v: Value) -> bool:
    return v.is_const and v.dtype.is_float and v.quant is None


def _to_mul_add(graph: Graph, bn: Node, x: Value, scale: np.ndarray, shift: np.ndarray) -> None:
    s = graph.add_const(f"{bn.name}/scale", scale, dtype=x.dtype)
    t = graph.add_const(f"{bn.name}/shift", shift, dtype=x.dtype)
    mul = graph.add_node("Mul", [x, s], origin=bn.origin, before=bn)
    add = graph.add_node("Add", [mul.output, t], origin=bn.origin, before=bn)
    replace_value(graph, bn.output, add.output, take_name=True)
    graph.remove_node(bn)
