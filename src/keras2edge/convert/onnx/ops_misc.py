"""ONNX emitters for Softmax, LogSoftmax, BatchNorm and the resizes (ResizeNearestNeighbor,
ResizeBilinear).

Softmax and BatchNorm keep their input's layout (the IR's last axis is axis 1 channels first);
resizes run channels first like the convolutions.
"""

from __future__ import annotations

import numpy as np

from ...ir.node import Node
from .context import ONNX_EMITTERS, OnnxContext
from .layout import CF, NHWC, onnx_axis
from .ops_conv import pair


@ONNX_EMITTERS.register("Softmax", "LogSoftmax")
def emit_softmax(ctx: OnnxContext, node: Node) -> None:
    """Softmax(beta) → Softmax (x·beta first when beta ≠ 1); LogSoftmax → LogSoftmax; the IR's
    last axis is remapped to the layout (axis 1 channels first)."""
    x = node.inputs[0]
    assert x is not None
    layout = ctx.layout(x)
    xin = ctx.get(x, layout)
    beta = float(node.attrs.get("beta", 1.0))
    if beta != 1.0:
        xin = ctx.add1("Mul", [xin, ctx.scalar(beta, x)])
    op = "Softmax" if node.op == "Softmax" else "LogSoftmax"
    ctx.add1(op, [xin], ctx.set_output(node.output, layout), axis=onnx_axis(-1, x.rank, layout))


@ONNX_EMITTERS.register("BatchNorm")
def emit_batch_norm(ctx: OnnxContext, node: Node) -> None:
    """BatchNorm (over the last axis) → BatchNormalization when the channels are axis 1 (a channels-first
    input, or rank 2); otherwise Mul + Add with the folded scale and shift (precomputed when the
    statistics are constants)."""
    x, mean, var = node.inputs[0], node.inputs[1], node.inputs[2]
    gamma = node.inputs[3] if len(node.inputs) > 3 else None
    beta = node.inputs[4] if len(node.inputs) > 4 else None
    assert x is not None and mean is not None and var is not None
    eps = float(node.attrs["epsilon"])
    layout = ctx.layout(x)
    channels = ctx.shape(x)[-1]
    if (x.rank >= 3 and layout == CF) or x.rank == 2:
        if channels is None:
            raise ctx.unsupported(node, "the channel dimension must be known")
        ones = np.ones(int(channels), x.dtype.np)
        scale = ctx.get(gamma) if gamma is not None else ctx.const(ones, name="bn_ones")
        bias = ctx.get(beta) if beta is not None else ctx.const(np.zeros_like(ones), name="bn_zeros")
        ctx.add1("BatchNormalization", [ctx.get(x, layout), scale, bias, ctx.get(mean), ctx.get(var)],
                 ctx.set_output(node.output, layout), epsilon=eps)
        return
    xin = ctx.get(x, NHWC)
    y = ctx.set_output(node.output, NHWC)
    stats = [v for v in (mean, var, gamma, beta) if v is not None]
    if all(v.is_const for v in stats):
        s = 1.0 / np.sqrt(var.const.astype(np.float64) + eps)  # type: ignore[union-attr]
        if gamma is not None:
            s = s * gamma.const
        shift = -mean.const * s  # type: ignore[operator]
        if beta is not None:
            shift = shift + beta.const
        sname = ctx.initializer(np.asarray(s, x.dtype.np), f"{node.name}/scale")
        bname = ctx.initializer(np.asarray(shift, x.dtype.np), f"{node.name}/shift")
    else:
        sname = ctx.add1("Reciprocal", [ctx.add1("Sqrt", [ctx.add1("Add", [ctx.get(var), ctx.scalar(eps, x)])])])
        if gamma is not None:
            sname = ctx.add1("Mul", [sname, ctx.get(gamma)])
        bname = ctx.add1("Neg", [ctx.add1("Mul", [ctx.get(mean), sname])])
        if beta is not None:
            bname = ctx.add1("Add", [bname, ctx.get(beta)])
    ctx.add1("Add", [ctx.add1("Mul", [xin, sname]), bname], y)


def _resize(ctx: OnnxContext, node: Node, mode: str) -> None:
    x = node.inputs[0]
    assert x is not None
    h, w = pair(node.attrs["size"])
    align, half = bool(node.attrs["align_corners"]), bool(node.attrs["half_pixel_centers"])
    if align:
        coord, nearest = "align_corners", "round_prefer_ceil"  # TF rounds half away from zero
    elif half:
        # TF nearest: floor((o + 0.5)·in/out) == round_prefer_ceil of ONNX's half_pixel source coordinate.
        coord, nearest = "half_pixel", "round_prefer_ceil"
    else:
        coord, nearest = "asymmetric", "floor"
    xin = ctx.get(x, CF)
    y = ctx.set_output(node.output, CF)
    attrs: dict[str, object] = {"mode": mode, "coordinate_transformation_mode": coord}
    if mode == "nearest":
        attrs["nearest_mode"] = nearest
    # Full 4-d sizes: onnxruntime 1.31's NHWC transformer mishandles Resize-18's ``axes`` attribute.
    n, c = ctx.shape(x)[0], ctx.shape(x)[3]
    if n is not None and c is not None:
        ctx.add1("Resize", [xin, "", "", ctx.i64([n, c, h, w], "sizes")], y, **attrs)
        return
    shape = ctx.add1("Shape", [xin])
    nc = ctx.add1("Slice", [shape, ctx.i64([0], "starts"), ctx.i64([2], "ends")])
    sizes = ctx.add1("Concat", [nc, ctx.i64([h, w], "sizes")], axis=0)
    ctx.add1("Resize", [xin, "", "", sizes], y, **attrs)


@ONNX_EMITTERS.register("ResizeNearestNeighbor")
def emit_resize_nearest(ctx: OnnxContext, node: Node) -> None:
    """ResizeNearestNeighbor → Resize(mode=nearest) in NCHW: align_corners → align_corners with
    round_prefer_ceil; half_pixel_centers → half_pixel with round_prefer_ceil; else asymmetric with floor."""
    _resize(ctx, node, "nearest")


@ONNX_EMITTERS.register("ResizeBilinear")
def emit_resize_bilinear(ctx: OnnxContext, node: Node) -> None:
    """ResizeBilinear → Resize(mode=linear) in NCHW: align_corners → align_corners; half_pixel_centers →
    half_pixel; else asymmetric."""
    _resize(ctx, node, "linear")

