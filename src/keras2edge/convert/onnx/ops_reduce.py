"""ONNX emitters for the reductions: Mean, Sum, ReduceMax, ReduceMin, ReduceProd and ReduceAny.

They keep their input's layout and remap their axes; without ``keepdims`` the result is NHWC or
channels first when the remaining axes allow it, else one Transpose fixes up the (reduced, small) output.
"""

from __future__ import annotations

from ...ir.dtypes import DType
from ...ir.node import Node
from ...ir.ops import norm_axis
from .context import ONNX_DTYPE, ONNX_EMITTERS, OnnxContext
from .layout import dropped_shape, onnx_axis, removed_axes_result


_REDUCE = {"Mean": "ReduceMean", "Sum": "ReduceSum", "ReduceMax": "ReduceMax", "ReduceMin": "ReduceMin",
           "ReduceProd": "ReduceProd", "ReduceAny": "ReduceMax"}


def reduce(ctx: OnnxContext, op_type: str, x: str, axes: list[int], keepdims: bool, out: str | None = None) -> str:
    """An ONNX Reduce* node; axes are an input from opset 18 (ReduceSum: 13), an attribute before."""
    if op_type == "ReduceSum" or ctx.opset >= 18:
        return ctx.add1(op_type, [x, ctx.i64(axes, "axes")], out, keepdims=int(keepdims))
    return ctx.add1(op_type, [x], out, axes=list(axes), keepdims=int(keepdims))


@ONNX_EMITTERS.register(*_REDUCE)
def emit_reduce(ctx: OnnxContext, node: Node) -> None:
    """Mean → ReduceMean, Sum → ReduceSum, ReduceMax/Min/Prod → same name, ReduceAny → Cast(bool)
    → Cast(int32) → ReduceMax → Cast back; axes remapped to the input's layout. Empty axes → Identity."""
    x = node.inputs[0]
    assert x is not None
    out = node.output
    keep = bool(node.attrs["keepdims"])
    removed = {norm_axis(a, x.rank) for a in node.attrs["axes"]}
    layout = ctx.layout(x)
    if not removed:
        ctx.add1("Identity", [ctx.get(x, layout)], ctx.set_output(out, layout))
        return
    xin = ctx.get(x, layout)
    if node.op == "ReduceAny":
        if x.dtype != DType.BOOL:
            xin = ctx.add1("Cast", [xin], to=ONNX_DTYPE[DType.BOOL])
        xin = ctx.add1("Cast", [xin], to=ONNX_DTYPE[DType.INT32])
    if keep:
        axes, out_layout, fix = sorted(onnx_axis(a, x.rank, layout) for a in removed), layout, None
    else:
        axes, out_layout, fix = removed_axes_result(layout, x.rank, removed)
    post = node.op == "ReduceAny" or fix is not None
    y = ctx.set_output(out, out_layout)
    r = reduce(ctx, _REDUCE[node.op], xin, axes, keep, None if post else y)
    if fix is not None:
        raw_shape = dropped_shape(ctx.shape(x), layout, removed)
        r = ctx.transpose(r, fix, raw_shape, None if node.op == "ReduceAny" else y)
    if node.op == "ReduceAny":
        ctx.add1("Cast", [r], y, to=ONNX_DTYPE[out.dtype])
