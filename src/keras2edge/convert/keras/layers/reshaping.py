"""Keras padding, cropping and up-sampling layers.

Maps:
- ZeroPadding1D/2D -> Pad (padding as an int, a symmetric pair, ((top, bottom), (left, right)),
  or the Keras 1 dict {top_pad, bottom_pad, left_pad, right_pad});
- Cropping1D/2D -> StridedSlice (end None, "to the end", where the crop is 0);
- UpSampling1D(size) -> ExpandDims + Concatenation of ``size`` copies + Reshape (a plain repeat
  along time, no TILE needed);
- UpSampling2D -> ResizeNearestNeighbor (nearest: an exact repeat for the integer factors
  Keras uses) or ResizeBilinear. Bilinear follows the version that wrote the file: Keras 3 and
  tf.keras (2.4+, "-tf" versions) use tf.image.resize, i.e. half-pixel centers; multi-backend
  Keras 2.2.3-2.3.x used tf.image.resize_bilinear (align_corners=False, no half-pixel centers).
``data_format="channels_first"`` pads/crops the axes of the layout Keras has; resizing is
wrapped in Transposes to NHWC and back.
"""

from __future__ import annotations

import re
from typing import Any

from ....ir import Value
from ..context import KERAS_HANDLERS, LayerContext
from .conv import check_rank, is_channels_first, spatial_tuple, to_channels_first, to_channels_last
from .core import reshape_to


def _pair_list(ctx: LayerContext, value: Any, n: int, what: str) -> list[tuple[int, int]]:
    """Keras padding/cropping in any form -> one (before, after) pair per spatial axis."""
    if isinstance(value, dict):  # Keras 1 ZeroPadding2D dict form
        keys = ("top_pad", "bottom_pad", "left_pad", "right_pad")
        if n != 2 or not set(value) <= set(keys):
            raise ctx.refuse(f"cannot read {what}={value!r}")
        v = [int(value.get(k, 0)) for k in keys]
        return [(v[0], v[1]), (v[2], v[3])]
    if isinstance(value, (int, float)):
        return [(int(value), int(value))] * n
    if not isinstance(value, (list, tuple)):
        raise ctx.refuse(f"cannot read {what}={value!r}")
    if n == 1:
        if len(value) != 2 or any(isinstance(v, (list, tuple)) for v in value):
            raise ctx.refuse(f"{what}={value!r} is not an int or a (before, after) pair")
        return [(int(value[0]), int(value[1]))]
    if len(value) != n:
        raise ctx.refuse(f"{what}={value!r} does not have {n} entries")
    out = []
    for v in value:
        if isinstance(v, (list, tuple)):
            if len(v) != 2:
                raise ctx.refuse(f"{what}={value!r} is not made of (before, after) pairs")
            out.append((int(v[0]), int(v[1])))
        else:
            out.append((int(v), int(v)))
    return out


def _spatial_axes(ctx: LayerContext, x: Value, n: int, data_format: bool = True) -> list[int]:
    check_rank(ctx, x, n + 2)
    first = 2 if data_format and is_channels_first(ctx) else 1
    return list(range(first, first + n))


@KERAS_HANDLERS.register("ZeroPadding1D", "ZeroPadding2D")
def import_zero_padding(ctx: LayerContext, inputs: list[Value]) -> Value:
    """ZeroPadding1D/2D -> Pad with zeros on the spatial axes."""
    n = 1 if "1D" in ctx.cls else 2
    x = inputs[0]
    axes = _spatial_axes(ctx, x, n)
    pairs = _pair_list(ctx, ctx.get("padding", 1), n, "padding")
    pads = [(0, 0)] * x.rank
    for a, p in zip(axes, pairs):
        pads[a] = p
    return ctx.op("Pad", [x], pads=tuple(pads), value=0.0)


@KERAS_HANDLERS.register("Cropping1D", "Cropping2D")
def import_cropping(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Cropping1D/2D -> StridedSlice of the spatial axes (Cropping1D has no data_format)."""
    n = 1 if "1D" in ctx.cls else 2
    x = inputs[0]
    axes = _spatial_axes(ctx, x, n, data_format=n == 2)
    pairs = _pair_list(ctx, ctx.get("cropping", 1), n, "cropping")
    begin: list[int] = [0] * x.rank
    end: list[int | None] = [None] * x.rank
    for a, (lo, hi) in zip(axes, pairs):
        dim = x.shape[a]
        if dim is not None and lo + hi >= dim:
            raise ctx.refuse(f"cropping {lo}+{hi} leaves nothing of axis {a} (size {dim})")
        begin[a] = lo
        if hi:
            end[a] = -hi if dim is None else int(dim) - hi
    return ctx.op("StridedSlice", [x], begin=tuple(begin), end=tuple(end), strides=(1,) * x.rank)


@KERAS_HANDLERS.register("UpSampling1D")
def import_upsampling1d(ctx: LayerContext, inputs: list[Value]) -> Value:
    """UpSampling1D(size) -> ExpandDims + Concatenation of ``size`` copies + Reshape to (B, T*size, C)."""
    x = inputs[0]
    check_rank(ctx, x, 3)
    size = int(ctx.get("size", ctx.get("length", 2)))
    e = ctx.op("ExpandDims", [x], axis=2)
    if size > 1:
        e = ctx.op("Concatenation", [e] * size, axis=2)
    t = x.shape[1]
    return reshape_to(ctx, e, (None if t is None else int(t) * size, x.shape[2]))


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text.split("-")[0])[:3])


def half_pixel_bilinear(keras_version: str) -> bool:
    """Whether UpSampling2D(bilinear) of this Keras version resized with half-pixel centers."""
    if "-tf" in keras_version:  # tf.keras (2.2.4-tf, 2.3.0-tf): tf.image.resize (v2)
        return True
    v = _version(keras_version)
    return not v or v >= (2, 4)


@KERAS_HANDLERS.register("UpSampling2D")
def import_upsampling2d(ctx: LayerContext, inputs: list[Value]) -> Value:
    """UpSampling2D -> ResizeNearestNeighbor (nearest) or ResizeBilinear (bilinear) to H*sh, W*sw."""
    x = inputs[0]
    check_rank(ctx, x, 4)
    cf = is_channels_first(ctx)
    if cf:
        x = to_channels_last(ctx, x)
    sh, sw = spatial_tuple(ctx, ctx.get("size", 2), 2, "size")
    h, w = x.shape[1], x.shape[2]
    if h is None or w is None:
        raise ctx.refuse(f"the spatial size of the input {list(inputs[0].shape)} must be known "
                         "(pin it with --input-shape)")
    size = (int(h) * sh, int(w) * sw)
    interp = str(ctx.get("interpolation", "nearest")).lower()
    if interp == "nearest":
        # Integer factors: every source pixel repeated, identical with or without half-pixel centers.
        y = ctx.op("ResizeNearestNeighbor", [x], size=size, align_corners=False, half_pixel_centers=False)
    elif interp == "bilinear":
        y = ctx.op("ResizeBilinear", [x], size=size, align_corners=False,
                   half_pixel_centers=half_pixel_bilinear(ctx.options.keras_version))
    else:
        raise ctx.refuse(f"interpolation={interp!r} is not supported (supported: nearest, bilinear)")
    return to_channels_first(ctx, y) if cf else y
