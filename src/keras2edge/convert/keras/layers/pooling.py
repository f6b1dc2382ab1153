"""Keras pooling layers: Max/AveragePooling1D/2D and the global poolings.

Maps:
- MaxPooling2D / AveragePooling2D -> MaxPool2D / AveragePool2D (NHWC; strides default to
  pool_size; padding valid/same, where a 'same' average excludes the padding from the count,
  which is what the IR op and TF/Keras do);
- MaxPooling1D / AveragePooling1D -> ExpandDims(axis=1) + the 2-D pool with window (1, k) +
  Squeeze(axes=(1,));
- GlobalMaxPooling1D/2D/3D -> ReduceMax, GlobalAveragePooling1D/2D/3D -> Mean over the
  spatial axes (keepdims honoured). A Keras mask (Embedding(mask_zero=True), Masking) reaching
  GlobalAveragePooling1D makes it the masked mean sum(x * mask) / sum(mask), as Keras computes
  it; global poolings consume the mask.
``data_format="channels_first"``: windowed pools are wrapped in Transposes to NHWC and back;
global pools just reduce the spatial axes of the layout Keras has. Keras 1 names
(pool_length, stride, border_mode, dim_ordering) are translated before the handlers run.
"""

from __future__ import annotations

from ....ir import Value
from ..context import KERAS_HANDLERS, LayerContext
from .conv import check_rank, is_channels_first, padding_mode, spatial_tuple, to_channels_first, to_channels_last
from .embedding import mask_of, set_mask, unaccounted_mask


def refuse_mask(ctx: LayerContext) -> None:
    """Refuse a call that passes an explicit mask tensor (its semantics would be dropped)."""
    if isinstance(ctx.call_kwargs.get("mask"), Value):
        raise ctx.refuse("a call with an explicit mask is not supported")


@KERAS_HANDLERS.register("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D")
def import_pooling(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Max/AveragePooling1D/2D -> MaxPool2D/AveragePool2D (1-D via ExpandDims/Squeeze)."""
    n = 1 if "1D" in ctx.cls else 2
    x = inputs[0]
    check_rank(ctx, x, n + 2)
    cf = is_channels_first(ctx)
    if cf:
        x = to_channels_last(ctx, x)
    pool = spatial_tuple(ctx, ctx.get("pool_size", 2), n, "pool_size")
    strides_cfg = ctx.get("strides")
    strides = pool if strides_cfg is None else spatial_tuple(ctx, strides_cfg, n, "strides")
    padding = padding_mode(ctx)
    op = "MaxPool2D" if ctx.cls.startswith("Max") else "AveragePool2D"
    if n == 1:
        x = ctx.op("ExpandDims", [x], axis=1)
        pool, strides = (1, pool[0]), (1, strides[0])
    y = ctx.op(op, [x], pool_size=pool, strides=strides, padding=padding)
    if n == 1:
        y = ctx.op("Squeeze", [y], axes=(1,))
    return to_channels_first(ctx, y) if cf else y


def incoming_mask(ctx: LayerContext, x: Value) -> Value | None:
    """The Keras mask carried by ``x``, or None; refuse when a mask may reach ``x`` through layers
    whose mask propagation is not modelled."""
    entry = mask_of(ctx, x)
    if entry is not None:
        return entry.mask
    src = unaccounted_mask(ctx, x)
    if src is not None:
        raise ctx.refuse(f"the Keras mask of layer {src!r} may reach this layer through layers whose mask "
                         "propagation is not modelled")
    return None


@KERAS_HANDLERS.register("GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
                         "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D")
def import_global_pooling(ctx: LayerContext, inputs: list[Value]) -> Value:
    """GlobalMaxPooling* -> ReduceMax, GlobalAveragePooling* -> Mean over the spatial axes.

    GlobalAveragePooling1D with a Keras mask -> Sum(x * mask) / Sum(mask) over time.
    """
    refuse_mask(ctx)
    n = int(ctx.cls[-2])
    x = inputs[0]
    check_rank(ctx, x, n + 2)
    cf = is_channels_first(ctx)
    first = 2 if cf else 1
    axes = tuple(range(first, first + n))
    keepdims = bool(ctx.get("keepdims", False))
    mask = incoming_mask(ctx, x) if ctx.cls == "GlobalAveragePooling1D" else None
    if mask is None:
        y = ctx.op("ReduceMax" if "Max" in ctx.cls else "Mean", [x], axes=axes, keepdims=keepdims)
    else:
        m = ctx.op("ExpandDims", [ctx.op("Cast", [mask], to=x.dtype.value)], axis=1 if cf else 2)
        total = ctx.op("Sum", [ctx.op("Mul", [x, m])], axes=axes, keepdims=keepdims)
        y = ctx.op("Div", [total, ctx.op("Sum", [m], axes=axes, keepdims=keepdims)])
    set_mask(ctx, y, None, ctx.name)  # Keras' global poolings return no mask
    return y
