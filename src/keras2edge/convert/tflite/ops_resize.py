"""TFLite emitters for the resizes: RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR (TF semantics in both)."""

from __future__ import annotations

from ...ir.node import Node
from .emitter import TFLITE_EMITTERS, TFLiteContext
from .ops_conv import pair


_RESIZE = {"ResizeNearestNeighbor": "RESIZE_NEAREST_NEIGHBOR", "ResizeBilinear": "RESIZE_BILINEAR"}


@TFLITE_EMITTERS.register(*_RESIZE)
def emit_resize(ctx: TFLiteContext, node: Node) -> None:
    """ResizeNearestNeighbor → RESIZE_NEAREST_NEIGHBOR, ResizeBilinear → RESIZE_BILINEAR [x, size (INT32
    [H, W])] with align_corners and half_pixel_centers (TF semantics in both)."""
    x = node.inputs[0]
    assert x is not None
    h, w = pair(node.attrs["size"])
    ctx.add1(_RESIZE[node.op], [ctx.tensor(x), ctx.int32([h, w], "size")], ctx.out(node.output),
             {"align_corners": bool(node.attrs["align_corners"]),
              "half_pixel_centers": bool(node.attrs["half_pixel_centers"])})
