"""Keras convolution layers: Conv1D/2D, DepthwiseConv1D/2D, SeparableConv1D/2D, Conv1D/2DTranspose.

Maps (the IR is NHWC with Keras' own kernel layouts, except depthwise kernels):
- Conv2D -> Conv2D (kernel HWIO, groups = Cin / kernel Cin), then the activation;
- Conv1D -> ExpandDims(axis=1) + Conv2D with kernel (1, K, Cin, Cout) + Squeeze(axes=(1,));
  padding "causal" is a left Pad of (K-1)*dilation steps followed by a "valid" convolution;
- DepthwiseConv2D / DepthwiseConv1D -> DepthwiseConv2D; Keras' (KH, KW, Cin, M) kernel is stored as
  TFLite stores it, (1, KH, KW, Cin·M) (a reshape, no copy: Keras' channel c·M + m is already the
  flattened index), so the output channel is one axis;
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


def _weights(ctx: LayerContext, kernels: Sequence[tuple[str, tuple[int, ...]]],
             bias_size: int) -> tuple[list[np.ndarray], Value | None]:
    """The layer's kernels (name, expected shape), checked in order, then its bias as a constant
    (None for use_bias=False)."""
    use_bias = bool(ctx.get("use_bias", True))
    names = [name for name, _ in kernels] + (["bias"] if use_bias else [])
    arrs = ctx.arrays(len(names), ", ".join(names))
    out = [ctx.check_shape(a, shape, name) for a, (name, shape) in zip(arrs, kernels)]
    bias = ctx.const("bias", ctx.check_shape(arrs[-1], (bias_size,), "bias")) if use_bias else None
    return out, bias


class _Layout:
    """A 1-D/2-D convolution layer as a 2-D one: its input brought to NHWC (1-D: a height-1 image),
    its kernel_size, strides and dilation_rate, and the result back to the layer's layout."""

    def __init__(self, ctx: LayerContext, x: Value) -> None:
        n = 1 if "1D" in ctx.cls else 2
        check_rank(ctx, x, n + 2)
        self.ctx, self.n = ctx, n
        self.cf = is_channels_first(ctx)
        self.x = to_channels_last(ctx, x) if self.cf else x
        self.k = spatial_tuple(ctx, ctx.get("kernel_size"), n, "kernel_size")
        self.s = spatial_tuple(ctx, ctx.get("strides", 1), n, "strides")
        self.d = spatial_tuple(ctx, ctx.get("dilation_rate", 1), n, "dilation_rate")

    def expand(self, x: Value) -> Value:
        return self.ctx.op("ExpandDims", [x], axis=1) if self.n == 1 else x

    def pair(self, t: tuple[int, ...]) -> tuple[int, int]:
        return (1, t[0]) if self.n == 1 else (t[0], t[1])

    def lift(self, kernel: np.ndarray) -> np.ndarray:
        """A 1-D layer's kernel with a leading height of 1."""
        return kernel[None] if self.n == 1 else kernel

    def depthwise(self, kernel: np.ndarray) -> np.ndarray:
        """A Keras depthwise kernel (KH, KW, Cin, M) (1-D: (K, Cin, M)) in the IR's (1, KH, KW, Cin·M)."""
        k = self.lift(kernel)
        return k.reshape((1,) + k.shape[:2] + (k.shape[2] * k.shape[3],))

    def conv(self, op: str, x: Value, name: str, kernel: np.ndarray, *rest: Value | None, padding: str) -> Value:
        """``op`` (Conv2D, DepthwiseConv2D) on ``x``, the kernel constant ``name`` (already in the op's
        2-D layout) and ``rest`` (the bias where the op takes one), with the layer's strides and dilation."""
        return self.ctx.op(op, [self.expand(x), self.ctx.const(name, kernel), *rest],
                           strides=self.pair(self.s), dilations=self.pair(self.d), padding=padding)

    def finish(self, y: Value) -> Value:
        """Squeeze (1-D), activation, then back to channels_first if needed."""
        ctx = self.ctx
        if self.n == 1:
            y = ctx.op("Squeeze", [y], axes=(1,))
        y = apply_activation(ctx, y, ctx.get("activation"))
        return to_channels_first(ctx, y) if self.cf else y


# ---------------------------------------------------------------------------- Conv1D / Conv2D


@KERAS_HANDLERS.register("Conv1D", "Conv2D")
def import_conv(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Conv1D/Conv2D -> (Pad for causal) + Conv2D (1-D via ExpandDims/Squeeze) + activation.

    Handles padding valid/same (and causal for Conv1D), strides, dilation_rate, groups,
    use_bias and channels_first.
    """
    lay = _Layout(ctx, inputs[0])
    x = lay.x
    padding = padding_mode(ctx, ("valid", "same", "causal") if lay.n == 1 else ("valid", "same"))
    groups = int(ctx.get("groups", 1) or 1)
    filters = int(ctx.get("filters"))
    cin = known_channels(ctx, x)
    if cin % groups or filters % groups:
        raise ctx.refuse(f"groups={groups} does not divide the input channels {cin} and filters {filters}")
    (kernel,), bias = _weights(ctx, [("kernel", lay.k + (cin // groups, filters))], filters)
    if padding == "causal":  # Keras pads (K-1)*dilation steps on the left, then convolves 'valid'
        x = ctx.op("Pad", [x], pads=((0, 0), ((lay.k[0] - 1) * lay.d[0], 0), (0, 0)))
        padding = "valid"
    return lay.finish(lay.conv("Conv2D", x, "kernel", lay.lift(kernel), bias, padding=padding))


# ---------------------------------------------------------------------------- depthwise


@KERAS_HANDLERS.register("DepthwiseConv1D", "DepthwiseConv2D")
def import_depthwise_conv(ctx: LayerContext, inputs: list[Value]) -> Value:
    """DepthwiseConv1D/2D -> DepthwiseConv2D (kernel (1, KH, KW, Cin·depth_multiplier)) + activation."""
    lay = _Layout(ctx, inputs[0])
    padding = padding_mode(ctx)
    mult = int(ctx.get("depth_multiplier", 1) or 1)
    cin = known_channels(ctx, lay.x)
    (kernel,), bias = _weights(ctx, [("depthwise_kernel", lay.k + (cin, mult))], cin * mult)
    return lay.finish(lay.conv("DepthwiseConv2D", lay.x, "depthwise_kernel", lay.depthwise(kernel), bias,
                               padding=padding))


# ---------------------------------------------------------------------------- separable


@KERAS_HANDLERS.register("SeparableConv1D", "SeparableConv2D")
def import_separable_conv(ctx: LayerContext, inputs: list[Value]) -> Value:
    """SeparableConv1D/2D -> DepthwiseConv2D (no bias) + 1x1 Conv2D (pointwise kernel, bias) + activation.

    Strides, dilation and padding apply to the depthwise step. Weights: depthwise_kernel,
    pointwise_kernel, bias.
    """
    lay = _Layout(ctx, inputs[0])
    padding = padding_mode(ctx)
    mult = int(ctx.get("depth_multiplier", 1) or 1)
    filters = int(ctx.get("filters"))
    cin = known_channels(ctx, lay.x)
    (dw, pw), bias = _weights(ctx, [("depthwise_kernel", lay.k + (cin, mult)),
                                    ("pointwise_kernel", (1,) * lay.n + (cin * mult, filters))], filters)
    y = lay.conv("DepthwiseConv2D", lay.x, "depthwise_kernel", lay.depthwise(dw), padding=padding)
    y = ctx.op("Conv2D", [y, ctx.const("pointwise_kernel", lay.lift(pw)), bias], strides=(1, 1), dilations=(1, 1),
               padding="valid")
    return lay.finish(y)


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
    lay = _Layout(ctx, inputs[0])
    x, n, k, s = lay.x, lay.n, lay.k, lay.s
    if any(v != 1 for v in lay.d):
        raise ctx.refuse(f"dilation_rate={list(lay.d)} is not supported for transposed convolutions")
    padding = padding_mode(ctx)
    op_cfg = ctx.get("output_padding")
    out_pad: tuple[int | None, ...] = ((None,) * n if op_cfg is None
                                       else spatial_tuple(ctx, op_cfg, n, "output_padding"))
    filters = int(ctx.get("filters"))
    cin = known_channels(ctx, x)
    if int(ctx.get("groups", 1) or 1) != 1:
        raise ctx.refuse("groups != 1 is not supported for transposed convolutions")
    (kernel,), bias = _weights(ctx, [("kernel", k + (filters, cin))], filters)
    sizes = x.shape[1:1 + n]
    if any(v is None for v in sizes):
        raise ctx.refuse(f"the spatial size of the input {list(x.shape)} must be known "
                         "(pin it with --input-shape)")
    outs = [deconv_output_length(int(sz), kk, padding, op, ss)  # type: ignore[arg-type]
            for sz, kk, op, ss in zip(sizes, k, out_pad, s)]
    before = [transpose_pad_before(o, kk, ss, padding) for o, kk, ss in zip(outs, k, s)]
    if n == 1:
        outs, before = [1] + outs, [0] + before
    y = ctx.op("TransposeConv2D", [lay.expand(x), ctx.const("kernel", lay.lift(kernel)), bias],
               strides=lay.pair(s), output_size=(outs[0], outs[1]), pad_before=(before[0], before[1]))
    return lay.finish(y)
