"""Dense ops: FullyConnected (x @ w + b over the last axis, Keras weights (K, N): output channel axis 1,
input channel axis 0) and BatchMatMul (batched a @ b of two activations)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..dtypes import DType
from ..value import Value
from .core import (T_BOOL, Attr, ChannelFlow, DTypes, Family, QuantRule, Shape, ShapeError, WeightAxes,
                   broadcast_shapes, define, need, need_arrays, optional_array, per_sample, shapes_of)

if TYPE_CHECKING:
    from ..node import Node

F = DTypes.FLOAT


def _fc_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x, w = need("FullyConnected", ins, 0, 1)
    if w.rank != 2 or x.rank == 0 or (x.shape[-1] is not None and x.shape[-1] != w.shape[0]):
        raise ShapeError("FullyConnected", "the input's last axis does not match the weights (K, N)",
                         shapes_of(ins))
    return [(x.dtype, x.shape[:-1] + (w.shape[1],))]


def _fc_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, w = need_arrays("FullyConnected", ins, 0, 1)
    b = optional_array(ins, 2)
    y = x.astype(np.float64) @ w.astype(np.float64)
    if b is not None:
        y = y + b
    return [y.astype(x.dtype)]


def _fc_macs(node: Node) -> int:
    w = node.inputs[1]
    return 0 if w is None else per_sample(node.outputs[0].shape) * int(w.shape[0] or 1)


define("FullyConnected", Family.DENSE, ["x", "w", "b?"], (), _fc_infer, _fc_eval,
       "x @ w + b over the last axis; w is (K, N)", dtypes=[F, F, F], weights=WeightAxes(1, 1, 0),
       channels=ChannelFlow.WEIGHTS, quant=QuantRule.PER_CHANNEL_WEIGHTS, macs=_fc_macs, fused_activation=True)


def _bmm_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    a, b = need("BatchMatMul", ins, 0, 1)
    if a.rank < 2 or b.rank < 2:
        raise ShapeError("BatchMatMul", "needs inputs of rank >= 2", shapes_of(ins))
    m = a.shape[-1] if attrs["adj_x"] else a.shape[-2]
    n = b.shape[-2] if attrs["adj_y"] else b.shape[-1]
    try:
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeError("BatchMatMul", "the batch axes do not broadcast", shapes_of(ins)) from None
    return [(a.dtype, batch + (m, n))]


def _bmm_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    a, b = need_arrays("BatchMatMul", ins, 0, 1)
    if attrs["adj_x"]:
        a = np.swapaxes(a, -1, -2)
    if attrs["adj_y"]:
        b = np.swapaxes(b, -1, -2)
    return [np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype)]


def _bmm_macs(node: Node) -> int:
    a = node.inputs[0]
    if a is None:
        return 0
    k = a.shape[-2] if node.attrs.get("adj_x") else a.shape[-1]
    return per_sample(node.outputs[0].shape) * int(k or 1)


define("BatchMatMul", Family.DENSE, ["a", "b"], (Attr("adj_x", T_BOOL, False), Attr("adj_y", T_BOOL, False)),
       _bmm_infer, _bmm_eval, "batched a @ b over the last two axes (optionally transposed)", dtypes=[F, F],
       channels=ChannelFlow.BREAKS, quant=QuantRule.OWN_SCALE, macs=_bmm_macs)
