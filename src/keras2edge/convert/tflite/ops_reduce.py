"""TFLite emitters for the reductions: MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD, REDUCE_ANY; the axes
are an INT32 constant input, ``keep_dims`` an option."""

from __future__ import annotations

import numpy as np

from ...ir.dtypes import DType
from ...ir.node import Node
from ...ir.ops import norm_axis
from .emitter import TFLITE_EMITTERS, TFLiteContext, tensor_type


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
