"""TFLite emitters for pooling: MaxPool2D → MAX_POOL_2D, AveragePool2D → AVERAGE_POOL_2D.

Pools take Padding SAME/VALID like the IR (SAME average pooling excludes the padding from the
count in both).
"""

from __future__ import annotations

from ...ir.node import Node
from .emitter import TFLITE_EMITTERS, TFLiteContext
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
