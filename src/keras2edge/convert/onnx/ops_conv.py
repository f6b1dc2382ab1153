"""ONNX emitters for the convolutions: Conv2D, DepthwiseConv2D, TransposeConv2D.

Convolutions run channels first (NCHW) and leave their output channels first; weights are
permuted from Keras' layouts at export time. TF 'same' padding becomes explicit pads (the odd
extra pixel at the end) when the spatial size is known, else ``auto_pad=SAME_UPPER``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir.node import Node
from ...ir.ops import same_pads
from ...ir.value import Value
from .context import ONNX_EMITTERS, OnnxContext
from .layout import CF
from .ops_quant import weight


def pair(v: Any) -> tuple[int, int]:
    t = tuple(int(i) for i in (v if isinstance(v, (tuple, list)) else (v, v)))
    return (t[0], t[1])


def window_padding(ctx: OnnxContext, node: Node, x: Value, kernel: tuple[int, int], strides: tuple[int, int],
                   dilations: tuple[int, int], padding: str) -> dict[str, Any]:
    """ONNX ``pads`` (or ``auto_pad``) for a TF 'same'/'valid' window over NHWC ``x``'s H and W."""
    if padding == "valid":
        return {"pads": [0, 0, 0, 0]}
    if padding != "same":
        raise ctx.unsupported(node, f"unknown padding {padding!r} (supported: 'same', 'valid')")
    pads = []
    for n, k, s, d in zip(ctx.shape(x)[1:3], kernel, strides, dilations):
        if n is None and s != 1:
            if any(dd != 1 for dd in dilations):
                raise ctx.unsupported(node, "'same' padding with stride and dilation over an unknown spatial "
                                            "size (onnxruntime has no auto_pad with dilation); pin it with "
                                            "input_shapes")
            return {"auto_pad": "SAME_UPPER"}  # the extra pixel goes at the end, as in TF
        # With stride 1 the TF padding does not depend on the size: (k - 1)·d in total.
        pads.append(same_pads(1 if n is None else n, k, s, d))
    (t, b), (l, r) = pads
    return {"pads": [t, l, b, r]}


def _const_weight(ctx: OnnxContext, node: Node) -> Value:
    """The kernel: a constant, or a Dequantize of one (quantized weights, ``ops_quant.weight``)."""
    w = node.inputs[1]
    assert w is not None
    dq = w.producer
    if not (w.is_const or (dq is not None and dq.op == "Dequantize" and dq.inputs[0] is not None
                           and dq.inputs[0].is_const)):
        raise ctx.unsupported(node, "the kernel must be a constant (weights), not a computed tensor")
    return w


def _kernel(ctx: OnnxContext, node: Node, w: Value, key: str, perm: tuple[int, ...]) -> str:
    name = weight(ctx, w, key, lambda a: np.transpose(a, perm), perm)
    if name is None:
        raise ctx.unsupported(node, "the kernel must be a constant (weights), not a computed tensor")
    return name


def bias_names(ctx: OnnxContext, node: Node) -> list[str]:
    b = node.inputs[2] if len(node.inputs) > 2 else None
    return [] if b is None else [ctx.get(b)]


@ONNX_EMITTERS.register("Conv2D")
def emit_conv2d(ctx: OnnxContext, node: Node) -> None:
    """Conv2D (NHWC, HWIO kernel) → Conv (NCHW, OIHW); strides, dilations and groups
    (Cin / kernel Cin) carried over; 'same' → explicit TF pads."""
    x = node.inputs[0]
    assert x is not None
    w = _const_weight(ctx, node)
    kh, kw, cin_g, _ = w.shape
    cin = ctx.shape(x)[3]
    group = int(cin) // int(cin_g) if cin is not None and cin_g else 1
    s, d = pair(node.attrs["strides"]), pair(node.attrs["dilations"])
    xin = ctx.get(x, CF)
    wname = _kernel(ctx, node, w, "oihw", (3, 2, 0, 1))
    y = ctx.set_output(node.output, CF)
    ctx.add1("Conv", [xin, wname] + bias_names(ctx, node), y, kernel_shape=[kh, kw], strides=list(s),
             dilations=list(d), group=group, **window_padding(ctx, node, x, (kh, kw), s, d, node.attrs["padding"]))


@ONNX_EMITTERS.register("DepthwiseConv2D")
def emit_depthwise_conv2d(ctx: OnnxContext, node: Node) -> None:
    """DepthwiseConv2D (kernel 1, KH, KW, Cin·M) → Conv with group=Cin and weights (Cin·M, 1, KH, KW):
    the IR's output-channel axis moved first, output channel c·M + m in both."""
    x = node.inputs[0]
    assert x is not None
    w = _const_weight(ctx, node)
    _, kh, kw, _ = w.shape
    cin = ctx.shape(x)[3]
    if cin is None:
        raise ctx.unsupported(node, "the input's channel count must be known (it is the Conv's group)")
    s, d = pair(node.attrs["strides"]), pair(node.attrs["dilations"])
    xin = ctx.get(x, CF)
    wname = _kernel(ctx, node, w, "dw_oihw", (3, 0, 1, 2))
    y = ctx.set_output(node.output, CF)
    ctx.add1("Conv", [xin, wname] + bias_names(ctx, node), y, kernel_shape=[kh, kw], strides=list(s),
             dilations=list(d), group=int(cin), **window_padding(ctx, node, x, (kh, kw), s, d, node.attrs["padding"]))


@ONNX_EMITTERS.register("TransposeConv2D")
def emit_transpose_conv2d(ctx: OnnxContext, node: Node) -> None:
    """TransposeConv2D (kernel KH, KW, Cout, Cin; full output cropped at pad_before to output_size)
    → ConvTranspose (weights Cin, Cout, KH, KW) with pads = (pad_before, full − pad_before − size);
    an output larger than the full result (zeros there in the IR) becomes output_padding."""
    x = node.inputs[0]
    assert x is not None
    w = _const_weight(ctx, node)
    kh, kw, _, _ = w.shape
    s = pair(node.attrs["strides"])
    out_size = pair(node.attrs["output_size"])
    before = pair(node.attrs["pad_before"])
    in_hw = ctx.shape(x)[1:3]
    if in_hw[0] is None or in_hw[1] is None:
        raise ctx.unsupported(node, "the input's height and width must be known (pin them with input_shapes)")
    ends, extra = [], []
    for n, k, st, o, p in zip(in_hw, (kh, kw), s, out_size, before):
        full = (int(n) - 1) * st + k
        end = full - p - o
        ends.append(max(end, 0))
        extra.append(max(-end, 0))
    xin = ctx.get(x, CF)
    wname = _kernel(ctx, node, w, "iohw", (3, 2, 0, 1))
    y = ctx.set_output(node.output, CF)
    attrs: dict[str, Any] = {"kernel_shape": [kh, kw], "strides": list(s),
                             "pads": [before[0], before[1], ends[0], ends[1]]}
    if all(e < st for e, st in zip(extra, s)):
        ctx.add1("ConvTranspose", [xin, wname] + bias_names(ctx, node), y,
                 output_padding=extra if any(extra) else None, **attrs)
        return
    # onnxruntime wants output_padding < stride: pad the zeros explicitly, then add the bias.
    b = node.inputs[2] if len(node.inputs) > 2 else None
    t = ctx.add1("ConvTranspose", [xin, wname], **attrs)
    t = ctx.add1("Pad", [t, ctx.i64([0, 0, 0, 0, 0, 0, extra[0], extra[1]], "pads")], None if b is not None else y,
                 mode="constant")
    if b is not None:
        ctx.add1("Add", [t, ctx.operand(b, 4, CF)], y)
