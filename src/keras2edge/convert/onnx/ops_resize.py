"""ONNX emitters for the resizes (ResizeNearestNeighbor, ResizeBilinear → Resize), channels first like
the convolutions."""

from __future__ import annotations

from ...ir.node import Node
from .context import ONNX_EMITTERS, OnnxContext
from .layout import CF
from .ops_conv import pair


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
