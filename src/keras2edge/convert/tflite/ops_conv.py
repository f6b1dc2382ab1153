"""TFLite emitters for the convolutions: Conv2D, DepthwiseConv2D, TransposeConv2D.

Weights change layout at export time (IR → TFLite): Conv2D HWIO → OHWI; DepthwiseConv2D is
already stored as TFLite stores it, (1, KH, KW, Cin·M), written as it is with ``depth_multiplier``
M = Cout / Cin; TransposeConv2D (KH, KW, Cout, Cin) → OHWI (Cout, KH, KW, Cin). Conv2D and DepthwiseConv2D
without a bias get a zero bias, as the converter writes (its prepare pass adds one); TRANSPOSE_CONV
without a bias gets input -1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir.dtypes import DType
from ...ir.node import Node
from ...ir.value import Value
from ...runtime.codes import ACT_NONE
from ...runtime.model import PADDING_SAME, PADDING_VALID
from .emitter import TFLITE_EMITTERS, TFLiteContext, tensor_type


def pair(v: Any) -> tuple[int, int]:
    t = tuple(int(i) for i in (v if isinstance(v, (tuple, list)) else (v, v)))
    return (t[0], t[1])


def padding_code(ctx: TFLiteContext, node: Node) -> int:
    p = node.attrs["padding"]
    if p == "same":
        return PADDING_SAME
    if p == "valid":
        return PADDING_VALID
    raise ctx.unsupported(node, f"unknown padding {p!r} (supported: 'same', 'valid')")


def _const_weight(ctx: TFLiteContext, node: Node) -> Value:
    w = node.inputs[1]
    assert w is not None
    if not w.is_const:
        raise ctx.unsupported(node, "the kernel must be a constant (weights), not a computed tensor")
    return w


def bias_input(node: Node) -> Value | None:
    return node.inputs[2] if len(node.inputs) > 2 else None


def _bias_or_zeros(ctx: TFLiteContext, node: Node, channels: int) -> int:
    """The bias tensor, or a zero bias of ``channels`` (what the converter writes for use_bias=False)."""
    b = bias_input(node)
    if b is not None:
        return ctx.tensor(b)
    return ctx.const(np.zeros(channels, node.output.dtype.np), name="bias", share=False)


def dynamic_shape(ctx: TFLiteContext, x: Value, rest: list[int]) -> int:
    """An INT32 [batch, *rest] shape tensor: a constant, or SHAPE(x)[0:1] ++ rest when the batch is dynamic."""
    sig = ctx.signature(x)
    if sig is None or sig[0] != -1:
        return ctx.int32([ctx.shape(x)[0]] + rest, "output_shape")
    shp = ctx.tmp([len(ctx.shape(x))], DType.INT32, "shape")
    ctx.add1("SHAPE", [ctx.tensor(x)], shp, {"out_type": tensor_type(DType.INT32)})
    b = ctx.tmp([1], DType.INT32, "batch")
    ctx.add1("STRIDED_SLICE", [shp, ctx.int32([0], "begin"), ctx.int32([1], "end"), ctx.int32([1], "strides")], b,
             {"begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0})
    out = ctx.tmp([1 + len(rest)], DType.INT32, "output_shape")
    ctx.add1("CONCATENATION", [b, ctx.int32(rest, "dims")], out, {"axis": 0, "fused_activation_function": ACT_NONE})
    return out


@TFLITE_EMITTERS.register("Conv2D")
def emit_conv2d(ctx: TFLiteContext, node: Node) -> None:
    """Conv2D (NHWC, HWIO kernel) → CONV_2D [x, W (OHWI), bias] with Padding SAME/VALID, strides,
    dilation factors and a fused Relu/Relu6/ReluN1To1.

    A grouped convolution (kernel Cin < input Cin) stays one CONV_2D: the kernels infer the groups
    from the channel counts (version 6, as the converter writes). LiteRT (reference and default
    kernels) and TFLite Micro all run it in float (tests/convert/tflite: Conv2D/groups*).
    """
    x = node.inputs[0]
    assert x is not None
    w = _const_weight(ctx, node)
    cout = int(w.shape[3])
    s, d = pair(node.attrs["strides"]), pair(node.attrs["dilations"])
    opts = {"padding": padding_code(ctx, node), "stride_w": s[1], "stride_h": s[0],
            "dilation_w_factor": d[1], "dilation_h_factor": d[0]}
    xin = ctx.tensor(x)
    wt = ctx.const_value(w, "ohwi", lambda a: np.transpose(a, (3, 0, 1, 2)))
    bias = _bias_or_zeros(ctx, node, cout)
    y, act = ctx.fused_output(node)
    ctx.add1("CONV_2D", [xin, wt, bias], y, {**opts, "fused_activation_function": act})


@TFLITE_EMITTERS.register("DepthwiseConv2D")
def emit_depthwise_conv2d(ctx: TFLiteContext, node: Node) -> None:
    """DepthwiseConv2D (kernel 1, KH, KW, Cin·M) → DEPTHWISE_CONV_2D [x, W (the IR kernel as it is), bias]
    with depth_multiplier M = Cout / Cin, padding, strides, dilation (version 2) and a fused activation."""
    x = node.inputs[0]
    assert x is not None
    w = _const_weight(ctx, node)
    cout = int(w.shape[3])
    mult = cout // ctx.shape(x)[3]
    s, d = pair(node.attrs["strides"]), pair(node.attrs["dilations"])
    wt = ctx.const_value(w)
    bias = _bias_or_zeros(ctx, node, cout)
    xin = ctx.tensor(x)
    y, act = ctx.fused_output(node)
    ctx.add1("DEPTHWISE_CONV_2D", [xin, wt, bias], y,
             {"padding": padding_code(ctx, node), "stride_w": s[1], "stride_h": s[0], "depth_multiplier": mult,
              "fused_activation_function": act, "dilation_w_factor": d[1], "dilation_h_factor": d[0]})


def _tconv_geometry(n: int, k: int, s: int, o: int, padding: int) -> tuple[int, int]:
    """(input length, leading crop) TFLite's TRANSPOSE_CONV derives from output length ``o``.

    LiteRT/TFLM transpose_conv: ComputePaddingHeightWidth(stride, 1, o, ..., k, padding) — the
    input length a forward conv of ``o`` would give, and half of the total padding (the odd
    pixel goes at the end).
    """
    if padding == PADDING_SAME:
        n_in = -(-o // s)
    else:
        n_in = (o - k + s) // s
    total = max((n_in - 1) * s + k - o, 0)
    return n_in, total // 2


@TFLITE_EMITTERS.register("TransposeConv2D")
def emit_transpose_conv2d(ctx: TFLiteContext, node: Node) -> None:
    """TransposeConv2D (kernel KH, KW, Cout, Cin; full output cropped at pad_before to output_size)
    → TRANSPOSE_CONV [output_shape (INT32 [4]), W (OHWI), x, bias or -1] — note the input order.

    Padding SAME or VALID is chosen when TFLite's own geometry for ``output_size`` reproduces
    ``pad_before`` (Keras 'same' and 'valid' always do). Otherwise the full result is computed with
    VALID and cropped by STRIDED_SLICE (then zero-padded by PAD where the IR output reaches past it,
    with the bias added after). With a dynamic batch the output shape is computed from SHAPE(x).
    """
    x = node.inputs[0]
    assert x is not None
    w = _const_weight(ctx, node)
    kh, kw, cout, _ = (int(d) for d in w.shape)
    s = pair(node.attrs["strides"])
    out_size = pair(node.attrs["output_size"])
    before = pair(node.attrs["pad_before"])
    n_hw = ctx.shape(x)[1:3]
    b = bias_input(node)
    wt = ctx.const_value(w, "ohwi", lambda a: np.transpose(a, (2, 0, 1, 3)))
    xin = ctx.tensor(x)
    opts = {"stride_w": s[1], "stride_h": s[0], "fused_activation_function": ACT_NONE}
    for padding in (PADDING_SAME, PADDING_VALID):
        geo = [_tconv_geometry(n, k, st, o, padding) for n, k, st, o in zip(n_hw, (kh, kw), s, out_size)]
        if all(g == (n, p) for g, n, p in zip(geo, n_hw, before)):
            shape = dynamic_shape(ctx, x, [out_size[0], out_size[1], cout])
            ctx.add1("TRANSPOSE_CONV", [shape, wt, xin, None if b is None else ctx.tensor(b)], ctx.out(node.output),
                     {"padding": padding, **opts})
            return
    # VALID over an output of o' in [full, full + s - 1] (TFLite's VALID accepts exactly those), then crop.
    full = [(n - 1) * st + k for n, k, st in zip(n_hw, (kh, kw), s)]
    valid = [max(f, p + o) if p + o <= f + st - 1 else f for f, p, o, st in zip(full, before, out_size, s)]
    need_pad = [max(p + o - v, 0) for p, o, v in zip(before, out_size, valid)]
    bias_inside = b is not None and not any(need_pad)
    if b is not None and not bias_inside and not node.output.dtype.is_float:
        raise ctx.unsupported(node, "an integer TRANSPOSE_CONV whose output reaches past the full result takes its "
                                    "bias after a PAD, and an int32 bias cannot be added to int8 values; "
                                    "supported: padding that TFLite's SAME or VALID reproduces, or no bias")
    shape = dynamic_shape(ctx, x, [valid[0], valid[1], cout])
    batch = ctx.shape(x)[0]
    t = ctx.tmp_like(node.output, "valid", shape=(batch, valid[0], valid[1], cout))
    ctx.add1("TRANSPOSE_CONV", [shape, wt, xin, ctx.tensor(b) if bias_inside else None], t,  # type: ignore[arg-type]
             {"padding": PADDING_VALID, **opts})
    ends = [min(p + o, v) for p, o, v in zip(before, out_size, valid)]
    last = not any(need_pad) and (b is None or bias_inside)
    cropped = ctx.out(node.output) if last else ctx.tmp_like(
        node.output, "crop", shape=(batch, ends[0] - before[0], ends[1] - before[1], cout))
    ctx.add1("STRIDED_SLICE", [t, ctx.int32([0, before[0], before[1], 0], "begin"),
                               ctx.int32([0, ends[0], ends[1], 0], "end"), ctx.int32([1, 1, 1, 1], "strides")],
             cropped, {"begin_mask": 0b1001, "end_mask": 0b1001, "ellipsis_mask": 0, "new_axis_mask": 0,
                       "shrink_axis_mask": 0})
    if last:
        return
    padded = cropped
    if any(need_pad):
        padded = ctx.out(node.output) if b is None else ctx.tmp_like(node.output, "pad")
        ctx.add1("PAD", [cropped, ctx.int32([[0, 0], [0, need_pad[0]], [0, need_pad[1]], [0, 0]], "paddings")],
                 padded, {})
    if b is not None:
        ctx.add1("ADD", [padded, ctx.tensor(b)], ctx.out(node.output), {"fused_activation_function": ACT_NONE})
