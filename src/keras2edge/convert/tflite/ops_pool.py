"""TFLite emitters for pooling and reductions: MaxPool2D, AveragePool2D, Mean, Sum, ReduceMax,
ReduceMin, ReduceProd and ReduceAny.

Pools take Padding SAME/VALID like the IR (SAME average pooling excludes the padding from the
count in both). Reductions take their axes as an INT32 constant input and ``keep_dims``.
"""

from __future__ import annotations

import numpy as np

from ...ir.dtypes import DType
from ...ir.node import Node
from ...ir.ops import norm_axis
from .emitter import TFLITE_EMITTERS, TFLiteContext, tensor_type
from .ops_conv import pair, padding_code

_POOLS = {"MaxPool2D": "MAX_POOL_2D", "AveragePool2D": "AVERAGE_POOL_2D"}


@TFLITE_EMITTERS.register(*_POOLS)
def emit_pool(ctx: TFLiteContext, node: Node) -> None:
    """MaxPool2D → MAX_POOL_2D, AveragePool2D → AVERAGE_POOL_2D (Pool2DOptions: padding, strides,
    filter size, fused Relu/Relu6/ReluN1To1)."""
    x = node.inputs[0]
    assert x is not None
    kh, kw = pair(node.attrs["pool_size"])
    s = pair(node.attrs["strides"])
    xin = ctx.tensor(x)
    y, act = ctx.fused_output(node)
    ctx.add1(_POOLS[node.op], [xin], y, {"padding": padding_code(ctx, node), "stride_w": s[1], "stride_h": s[0],
                                         "filter_width": kw, "filter_height": kh, "fused_activation_function": act})


_REDUCE = {"Mean": "MEAN", "Sum": "SUM", "ReduceMax": "REDUCE_MAX", "ReduceMin": "REDUCE_MIN",
           "ReduceProd": "REDUCE_PROD", "ReduceAny": "REDUCE_ANY"}


@TFLITE_EMITTERS.register(*_REDUCE)
def emit_reduce(ctx: TFLiteContext, node: Node) -> None:
    """Mean → MEAN, Sum → SUM, ReduceMax → REDUCE_MAX, ReduceMin → REDUCE_MIN, ReduceProd → REDUCE_PROD,
    ReduceAny → REDUCE_ANY [x, axes (INT32, non-negative)] with keep_dims.

    No axes → RESHAPE to the same shape (nothing is reduced). ReduceAny of a non-bool tensor (the IR
    keeps its dtype) → NOT_EQUAL 0, REDUCE_ANY, CAST back.
    """
    x = node.inputs[0]
    assert x is not None
    axes = sorted({norm_axis(int(a), x.rank) for a in node.attrs["axes"]})
    if not axes:
        target = ctx.reshape_target(node.output)
        ctx.add1("RESHAPE", [ctx.tensor(x), ctx.int32(target, "shape")], ctx.out(node.output), {"new_shape": target})
        return
    opts = {"keep_dims": bool(node.attrs["keepdims"])}
    axes_t = ctx.int32(axes, "axes")
    if node.op == "ReduceAny" and x.dtype != DType.BOOL:
        nz = ctx.tmp_like(x, "nonzero", dtype=DType.BOOL)
        ctx.add1("NOT_EQUAL", [ctx.tensor(x), ctx.const(np.zeros((), x.dtype.np), name="zero")], nz)
        anyv = ctx.tmp_like(node.output, "any", dtype=DType.BOOL)
        ctx.add1("REDUCE_ANY", [nz, axes_t], anyv, opts)
        ctx.add1("CAST", [anyv], ctx.out(node.output),
                 {"in_data_type": tensor_type(DType.BOOL), "out_data_type": tensor_type(node.output.dtype)})
        return
    ctx.add1(_REDUCE[node.op], [ctx.tensor(x), axes_t], ctx.out(node.output), opts)

