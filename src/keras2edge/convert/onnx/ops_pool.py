"""ONNX emitters for pooling: MaxPool2D → MaxPool, AveragePool2D → AveragePool, channels first."""

from __future__ import annotations

from ...ir.node import Node
from .context import ONNX_EMITTERS, OnnxContext
from .layout import CF
from .ops_conv import pair, window_padding


def _pool(ctx: OnnxContext, node: Node, op_type: str, **extra: int) -> None:
    x = node.inputs[0]
    assert x is not None
    k, s = pair(node.attrs["pool_size"]), pair(node.attrs["strides"])
    xin = ctx.get(x, CF)
    y = ctx.set_output(node.output, CF)
    ctx.add1(op_type, [xin], y, kernel_shape=list(k), strides=list(s),
             **window_padding(ctx, node, x, k, s, (1, 1), node.attrs["padding"]), **extra)


@ONNX_EMITTERS.register("MaxPool2D")
def emit_max_pool2d(ctx: OnnxContext, node: Node) -> None:
    """MaxPool2D → MaxPool (NCHW); ONNX ignores padded cells, like TF's -inf padding."""
    _pool(ctx, node, "MaxPool")


@ONNX_EMITTERS.register("AveragePool2D")
def emit_average_pool2d(ctx: OnnxContext, node: Node) -> None:
    """AveragePool2D → AveragePool (NCHW) with count_include_pad=0: 'same' padding is not counted (TF)."""
    _pool(ctx, node, "AveragePool", count_include_pad=0)


# ---------------------------------------------------------------------------- reductions
