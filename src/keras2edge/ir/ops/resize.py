"""Resizes of H and W of an NHWC tensor with TF semantics (align_corners, half_pixel_centers):
ResizeNearestNeighbor and ResizeBilinear. Channels pass through; int8 keeps the input's scale."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import DType
from ..value import Value
from .core import (T_BOOL, T_SEQ, Attr, ChannelFlow, DTypes, Family, InferFn, QuantRule, Shape, ShapeError, define,
                   need, need_arrays, shapes_of)


def _resize_infer(op: str) -> InferFn:
    def infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
        (x,) = need(op, ins, 0)
        if x.rank != 4:
            raise ShapeError(op, "needs a rank-4 (NHWC) input", shapes_of(ins))
        h, w = attrs["size"]
        return [(x.dtype, (x.shape[0], h, w, x.shape[3]))]
    return infer


def _src_coords(n_out: int, n_in: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    o = np.arange(n_out, dtype=np.float64)
    if align_corners and n_out > 1:
        return o * (n_in - 1) / (n_out - 1)
    scale = n_in / n_out
    return (o + 0.5) * scale - 0.5 if half_pixel else o * scale


def _resize_nearest_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    (x,) = need_arrays("ResizeNearestNeighbor", ins, 0)
    idx = []
    for n_out, n_in in zip(attrs["size"], x.shape[1:3]):
        if attrs["align_corners"]:
            src = np.floor(_src_coords(n_out, n_in, True, False) + 0.5)  # TF rounds halves up
        elif attrs["half_pixel_centers"]:
            src = np.floor((np.arange(n_out) + 0.5) * (n_in / n_out))
        else:
            src = np.floor(np.arange(n_out) * (n_in / n_out))
        idx.append(np.clip(src.astype(np.int64), 0, n_in - 1))
    return [x[:, idx[0]][:, :, idx[1]].copy()]


def _resize_bilinear_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    (x,) = need_arrays("ResizeBilinear", ins, 0)
    out = x.astype(np.float64)
    for axis, (n_out, n_in) in zip((1, 2), zip(attrs["size"], x.shape[1:3])):
        src = _src_coords(n_out, n_in, attrs["align_corners"], attrs["half_pixel_centers"])
        src = np.clip(src, 0, n_in - 1)
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        frac = (src - lo).reshape([-1 if i == axis else 1 for i in range(4)])
        out = np.take(out, lo, axis=axis) * (1 - frac) + np.take(out, hi, axis=axis) * frac
    return [out.astype(x.dtype)]


RESIZE_ATTRS = (Attr("size", T_SEQ), Attr("align_corners", T_BOOL, False), Attr("half_pixel_centers", T_BOOL, False))
for _op, _eval, _doc in (
        ("ResizeNearestNeighbor", _resize_nearest_eval, "nearest-neighbour resize of H, W (TF semantics)"),
        ("ResizeBilinear", _resize_bilinear_eval, "bilinear resize of H, W (TF semantics)")):
    define(_op, Family.RESIZE, ["x"], RESIZE_ATTRS, _resize_infer(_op), _eval, _doc, dtypes=[DTypes.FLOAT],
           channels=ChannelFlow.WINDOW, spatial=True, quant=QuantRule.SAME_SCALE)
