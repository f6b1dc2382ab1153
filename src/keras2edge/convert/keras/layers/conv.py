"""Keras convolution layers: Conv1D/2D, DepthwiseConv1D/2D, SeparableConv1D/2D, Conv1D/2DTranspose.

Maps (the IR is NHWC with Keras' own kernel layouts):
- Conv2D -> Conv2D (kernel HWIO, groups = Cin / kernel Cin), then the activation;
- Conv1D -> ExpandDims(axis=1) + Conv2D with kernel (1, K, Cin, Cout) + Squeeze(axes=(1,));
  padding "causal" is a left Pad of (K-1)*dilation steps followed by a "valid" convolution;
- DepthwiseConv2D / DepthwiseConv1D -> DepthwiseConv2D (kernel (KH, KW, Cin, multiplier));
- SeparableConv2D / SeparableConv1D -> DepthwiseConv2D (no bias) + 1x1 Conv2D (with the bias);
- Conv2DTranspose / Conv1DTranspose -> TransposeConv2D (kernel (KH, KW, Cout, Cin)) with the
  output size and leading crop computed as Keras/TensorFlow do for "same"/"valid" and
  ``output_padding``; dilation other than 1 is refused.

``data_format="channels_first"`` (Keras 2 configs, Keras 1 ``dim_ordering="th"``): the tensor
keeps the layout Keras gives it, so the op is wrapped in Transpose to NHWC before and back
after (a cleanup pass cancels adjacent inverse transposes). Kernels arrive in Keras 2 layout;
``legacy.fix_weights`` has already handled Keras 1 'th' kernels and the Theano flip.

The small layout helpers here (``spatial_tuple``, ``to_channels_last``...) are shared with the
pooling and reshaping handlers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ....ir import Value
from ....ir.ops import same_pads
from ..context import KERAS_HANDLERS, LayerContext
from .activations import apply_activation

# ---------------------------------------------------------------------------- shared helpers


def spatial_tuple(ctx: LayerContext, value: Any, n: int, what: str) -> tuple[int, ...]:
    """An int or a list of ints from a config, as an ``n``-tuple (Keras' normalize_tuple)."""
    if isinstance(value, (list, tuple)):
        vals = tuple(int(v) for v in value)
        if len(vals) == 1 and n > 1:
            vals = vals * n
    else:
        try:
            vals = (int(value),) * n
        except (TypeError, ValueError):
            raise ctx.refuse(f"cannot read {what}={value!r}") from None
    if len(vals) != n:
        raise ctx.refuse(f"{what}={list(vals)} does not have {n} entries")
    return vals


def is_channels_first(ctx: LayerContext) -> bool:
    fmt = ctx.get("data_format")
    if fmt in (None, "channels_last"):
        return False
    if fmt == "channels_first":
        return True
    raise ctx.refuse(f"unknown data_format {fmt!r}")


def to_channels_last(ctx: LayerContext, x: Value) -> Value:
    """(B, C, *spatial) -> (B, *spatial, C)."""
    return ctx.op("Transpose", [x], perm=(0,) + tuple(range(2, x.rank)) + (1,))


def to_channels_first(ctx: LayerContext, x: Value) -> Value:
    """(B, *spatial, C) -> (B, C, *spatial)."""
    return ctx.op("Transpose", [x], perm=(0, x.rank - 1) + tuple(range(1, x.rank - 1)))


def check_rank(ctx: LayerContext, x: Value, rank: int) -> None:
    if x.rank != rank:
        raise ctx.refuse(f"expects a rank-{rank} input (batch included), got shape {list(x.shape)}")


def known_channels(ctx: LayerContext, x: Value) -> int:
    c = x.shape[-1]
    if c is None:
        raise ctx.refuse(f"the channel dimension of the input {list(x.shape)} is unknown")
    return int(c)


def padding_mode(ctx: LayerContext, allowed: Sequence[str] = ("valid", "same")) -> str:
    mode = str(ctx.get("padding", "valid")).lower()
    if mode not in allowed:
        raise ctx.refuse(f"padding={mode!r} is not supported (supported: {', '.join(allowed)})")
    return mode


def _bias(ctx: LayerContext, arrs: list[np.ndarray], index: int, n: int) -> Value:
    return ctx.const("bias", ctx.check_shape(arrs[index], (n,), "bias"))


class _Layout:
    """Bring a 1-D/2-D conv input to NHWC, and the result back to the layer's layout."""

    def __init__(self, ctx: LayerContext, x: Value, n: int) -> None:
        check_rank(ctx, x, n + 2)
        self.ctx, self.n = ctx, n
        self.cf = is_channels_first(ctx)
        self.x = to_channels_last(ctx, x) if self.cf else x

    def expand(self, x: Value) -> Value:
        return self.ctx.op("ExpandDims", [x], axis=1) if self.n == 1 else x

    def pair(self, t: tuple[int, ...]) -> tuple[int, int]:
        return (1, t[0]) if self.n == 1 else (t[0], t[1])


def _n_of(ctx: LayerContext) -> int:
    return 1 if "1D" in ctx.cls else 2


def _finish(ctx: LayerContext, lay: _Layout, y: Value) -> Value:
    """Squeeze (1-D), activation, then back to channels_first if needed."""
    if lay.n == 1:
        y = ctx.op("Squeeze", [y], axes=(1,))
    y = apply_activation(ctx, y, ctx.get("activation"))
    return to_channels_first(ctx, y) if lay.cf else y


# ---------------------------------------------------------------------------- Conv1D / Conv2D


@KERAS_HANDLERS.register("Conv1D", "Conv2D")
def import_conv(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Conv1D/Conv2D -> (Pad for causal) + Conv2D (1-D via ExpandDims/Squeeze) + activation.

    Handles padding valid/same (and causal for Conv1D), strides, dilation_rate, groups,
    use_bias and channels_first.
    """
    n = _n_of(ctx)
    lay = _Layout(ctx, inputs[0], n)
    x = lay.x
    k = spatial_tuple(ctx, ctx.get("kernel_size"), n, "kernel_size")
    s = spatial_tuple(ctx, ctx.get("strides", 1), n, "strides")
    d = spatial_tuple(ctx, ctx.get("dilation_rate", 1), n, "dilation_rate")
    padding = padding_mode(ctx, ("valid", "same", "causal") if n == 1 else ("valid", "same"))
    groups = int(ctx.get("groups", 1) or 1)
    filters = int(ctx.get("filters"))
    cin = known_channels(ctx, x)
    if cin % groups or filters % groups:
        raise ctx.refuse(f"groups={groups} does not divide the input channels {cin} and filters {filters}")
    use_bias = bool(ctx.get("use_bias", True))
    arrs = ctx.arrays(2 if use_bias else 1, "kernel" + (", bias" if use_bias else ""))
    kernel = ctx.check_shape(arrs[0], k + (cin // groups, filters), "kernel")
    bias = _bias(ctx, arrs, 1, filters) if use_bias else None
    if padding == "causal":  # Keras pads (K-1)*dilation steps on the left, then convolves 'valid'
        x = ctx.op("Pad", [x], pads=((0, 0), ((k[0] - 1) * d[0], 0), (0, 0)))
        padding = "valid"
    if n == 1:
        kernel = kernel[None]
    y = ctx.op("Conv2D", [lay.expand(x), ctx.const("kernel", kernel), bias],
               strides=lay.pair(s), dilations=lay.pair(d), padding=padding)
    return _finish(ctx, lay, y)


# ---------------------------------------------------------------------------- depthwise


@KERAS_HANDLERS.register("DepthwiseConv1D", "DepthwiseConv2D")
def import_depthwise_conv(ctx: LayerContext, inputs: list[Value]) -> Value:
    """DepthwiseConv1D/2D -> DepthwiseConv2D (kernel (KH, KW, Cin, depth_multiplier)) + activation."""
    n = _n_of(ctx)
    lay = _Layout(ctx, inputs[0], n)
    x = lay.x
    k = spatial_tuple(ctx, ctx.get("kernel_size"), n, "kernel_size")
    s = spatial_tuple(ctx, ctx.get("strides", 1), n, "strides")
    d = spatial_tuple(ctx, ctx.get("dilation_rate", 1), n, "dilation_rate")
    padding = padding_mode(ctx)
    mult = int(ctx.get("depth_multiplier", 1) or 1)
    cin = known_channels(ctx, x)
    use_bias = bool(ctx.get("use_bias", True))
    arrs = ctx.arrays(2 if use_bias else 1, "depthwise_kernel" + (", bias" if use_bias else ""))
    kernel = ctx.check_shape(arrs[0], k + (cin, mult), "depthwise_kernel")
    bias = _bias(ctx, arrs, 1, cin * mult) if use_bias else None
    if n == 1:
        kernel = kernel[None]
    y = ctx.op("DepthwiseConv2D", [lay.expand(x), ctx.const("depthwise_kernel", kernel), bias],
               strides=lay.pair(s), dilations=lay.pair(d), padding=padding)
    return _finish(ctx, lay, y)


# ---------------------------------------------------------------------------- separable


@KERAS_HANDLERS.register("SeparableConv1D", "SeparableConv2D")
def import_separable_conv(ctx: LayerContext, inputs: list[Value]) -> Value:
    """SeparableConv1D/2D -> DepthwiseConv2D (no bias) + 1x1 Conv2D (pointwise kernel, bias) + activation.

    Strides, dilation and padding apply to the depthwise step. Weights: depthwise_kernel,
    pointwise_kernel, bias.
    """
    n = _n_of(ctx)
    lay = _Layout(ctx, inputs[0], n)
    x = lay.x
    k = spatial_tuple(ctx, ctx.get("kernel_size"), n, "kernel_size")
    s = spatial_tuple(ctx, ctx.get("strides", 1), n, "strides")
    d = spatial_tuple(ctx, ctx.get("dilation_rate", 1), n, "dilation_rate")
    padding = padding_mode(ctx)
    mult = int(ctx.get("depth_multiplier", 1) or 1)
    filters = int(ctx.get("filters"))
    cin = known_channels(ctx, x)
    use_bias = bool(ctx.get("use_bias", True))
    arrs = ctx.arrays(3 if use_bias else 2,
                      "depthwise_kernel, pointwise_kernel" + (", bias" if use_bias else ""))
    dw = ctx.check_shape(arrs[0], k + (cin, mult), "depthwise_kernel")
    pw = ctx.check_shape(arrs[1], (1,) * n + (cin * mult, filters), "pointwise_kernel")
    bias = _bias(ctx, arrs, 2, filters) if use_bias else None
    if n == 1:
        dw, pw = dw[None], pw[None]
    y = ctx.op("DepthwiseConv2D", [lay.expand(x), ctx.const("depthwise_kernel", dw)],
               strides=lay.pair(s), dilations=lay.pair(d), padding=padding)
    y = ctx.op("Conv2D", [y, ctx.const("pointwise_kernel", pw), bias], strides=(1, 1), dilations=(1, 1),
               padding="valid")
    return _finish(ctx, lay, y)


# ---------------------------------------------------------------------------- transposed


def deconv_output_length(size: int, k: int, padding: str, output_padding: int | None, stride: int) -> int:
    """Keras' ``deconv_output_length`` (dilation 1), the output size of a transposed convolution."""
    if output_padding is None:
        return size * stride + max(k - stride, 0) if padding == "valid" else size * stride
    pad = k // 2 if padding == "same" else 0
    return (size - 1) * stride + k - 2 * pad + output_padding


def transpose_pad_before(out: int, k: int, stride: int, padding: str) -> int:
    """Leading crop of the full transposed output: TF's padding of the forward conv that maps
    an input of size ``out`` to this layer's input ('same': floor(total / 2); 'valid': 0)."""
    return same_pads(out, k, stride, 1)[0] if padding == "same" else 0


@KERAS_HANDLERS.register("Conv1DTranspose", "Conv2DTranspose")
def import_conv_transpose(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Conv1DTranspose/Conv2DTranspose -> TransposeConv2D (kernel (KH, KW, Cout, Cin)) + activation.

    ``output_size`` follows Keras' deconv_output_length (padding same/valid, output_padding);
    ``pad_before`` is TensorFlow's leading crop for that size. Dilation != 1 is refused.
    """
    if ctx.get("_keras1"):
        # Keras 1 Deconvolution2D stores kernels as (rows, cols, in, out) / th (out, in, rows, cols)
        # and carries an explicit output_shape; neither is converted by legacy.fix_weights yet.
        raise ctx.refuse("Keras 1 Deconvolution2D is not supported (its kernel layout differs from "
                         "Conv2DTranspose); re-save the model with Keras 2")
    n = _n_of(ctx)
    lay = _Layout(ctx, inputs[0], n)
    x = lay.x
    k = spatial_tuple(ctx, ctx.get("kernel_size"), n, "kernel_size")
    s = spatial_tuple(ctx, ctx.get("strides", 1), n, "strides")
    d = spatial_tuple(ctx, ctx.get("dilation_rate", 1), n, "dilation_rate")
    if any(v != 1 for v in d):
        raise ctx.refuse(f"dilation_rate={list(d)} is not supported for transposed convolutions")
    padding = padding_mode(ctx)
    op_cfg = ctx.get("output_padding")
    out_pad: tuple[int | None, ...] = ((None,) * n if op_cfg is None
                                       else spatial_tuple(ctx, op_cfg, n, "output_padding"))
    filters = int(ctx.get("filters"))
    cin = known_channels(ctx, x)
    if int(ctx.get("groups", 1) or 1) != 1:
        raise ctx.refuse("groups != 1 is not supported for transposed convolutions")
    use_bias = bool(ctx.get("use_bias", True))
    arrs = ctx.arrays(2 if use_bias else 1, "kernel" + (", bias" if use_bias else ""))
    kernel = ctx.check_shape(arrs[0], k + (filters, cin), "kernel")
    bias = _bias(ctx, arrs, 1, filters) if use_bias else None
    sizes = x.shape[1:1 + n]
    if any(v is None for v in sizes):
        raise ctx.refuse(f"the spatial size of the input {list(x.shape)} must be known "
                         "(pin it with --input-shape)")
    outs = [deconv_output_length(int(sz), kk, padding, op, ss)  # type: ignore[arg-type]
            for sz, kk, op, ss in zip(sizes, k, out_pad, s)]
    before = [transpose_pad_before(o, kk, ss, padding) for o, kk, ss in zip(outs, k, s)]
    if n == 1:
        kernel = kernel[None]
        outs, before = [1] + outs, [0] + before
    y = ctx.op("TransposeConv2D", [lay.expand(x), ctx.const("kernel", kernel), bias],
               strides=lay.pair(s), output_size=(outs[0], outs[1]), pad_before=(before[0], before[1]))
    return _finish(ctx, lay, y)
