"""Image resizing, float32: RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR with TFLite's exact rules.

Source coordinates (TFLite reference_ops, float32 arithmetic):
``scale = (align_corners and out > 1) ? (in - 1) / (out - 1) : in / out``;
bilinear: ``y = half_pixel ? (o + 0.5) * scale - 0.5 : o * scale``, ``y0 = max(floor(y), 0)``,
``y1 = min(ceil(y), in - 1)``, value = the 4-term sum with weights ``(y - y0)`` and ``1 - (y - y0)``;
nearest: ``min(align_corners ? round_half_away((o + off) * scale) : floor((o + off) * scale), in - 1)``
with ``off = 0.5`` for half_pixel_centers (then also ``max(., 0)``). Index and weight tables are
built in prepare; eval is four gathers (two for nearest) and elementwise math.
"""

from __future__ import annotations

import numpy as np

from .base import FLOAT, EvalFn, OpContext, register

F32 = np.float32


def _scale(n_in: int, n_out: int, align: bool) -> np.float32:
    if align and n_out > 1:
        return F32(n_in - 1) / F32(n_out - 1)
    return F32(n_in) / F32(n_out)


def resize_geometry(ctx: OpContext) -> tuple[int, int, int, int, int, int, bool, bool]:
    """Check a resize node and shape its output: ``(n, h, w, c, out_h, out_w, align_corners,
    half_pixel_centers)``. Shared with the quantized kernels."""
    ctx.check_arity(2)
    ctx.check_rank(0, 4)
    n, h, w, c = ctx.input(0).shape
    size = [int(v) for v in np.asarray(ctx.const(1, "size")).reshape(-1)]
    if len(size) != 2 or min(size) < 1:
        raise ctx.fail(f"size {size} must be two positive ints")
    align, half = bool(ctx.opt("align_corners", False)), bool(ctx.opt("half_pixel_centers", False))
    if align and half:
        raise ctx.fail("align_corners and half_pixel_centers cannot both be set")
    ctx.set_output(0, (n, size[0], size[1], c))
    return n, h, w, c, size[0], size[1], align, half


def _bilinear_axis(n_in: int, n_out: int, align: bool, half: bool):
    scale = _scale(n_in, n_out, align)
    o = np.arange(n_out, dtype=F32)
    v = (o + F32(0.5)) * scale - F32(0.5) if half else o * scale
    lo = np.maximum(np.floor(v).astype(np.int64), 0)
    hi = np.minimum(np.ceil(v).astype(np.int64), n_in - 1)
    frac = (v - lo.astype(F32)).astype(F32)
    return lo, hi, frac, (F32(1) - frac).astype(F32)


@register("RESIZE_BILINEAR", *FLOAT)
def resize_bilinear_float32(ctx: OpContext) -> EvalFn:
    n, h, w, c, oh, ow, align, half = resize_geometry(ctx)
    y0, y1, dy, ry = _bilinear_axis(h, oh, align, half)
    x0, x1, dx, rx = _bilinear_axis(w, ow, align, half)
    wy0, wy1 = ry[None, :, None, None], dy[None, :, None, None]
    wx0, wx1 = rx[None, None, :, None], dx[None, None, :, None]
    irow = ctx.scratch((n, oh, w, c))
    ia = ctx.scratch((n, oh, ow, c))

    def eval_(ins, outs, tmp):
        x, out = ins[0], outs[0]
        rows, a = tmp[irow], tmp[ia]
        # value = x[y0,x0]*(1-dy)*(1-dx) + x[y1,x0]*dy*(1-dx) + x[y0,x1]*(1-dy)*dx + x[y1,x1]*dy*dx
        np.take(x, y0, axis=1, out=rows)
        np.take(rows, x0, axis=2, out=out)
        np.multiply(out, wy0, out=out)
        np.multiply(out, wx0, out=out)
        np.take(x, y1, axis=1, out=rows)
        np.take(rows, x0, axis=2, out=a)
        np.multiply(a, wy1, out=a)
        np.multiply(a, wx0, out=a)
        np.add(out, a, out=out)
        np.take(x, y0, axis=1, out=rows)
        np.take(rows, x1, axis=2, out=a)
        np.multiply(a, wy0, out=a)
        np.multiply(a, wx1, out=a)
        np.add(out, a, out=out)
        np.take(x, y1, axis=1, out=rows)
        np.take(rows, x1, axis=2, out=a)
        np.multiply(a, wy1, out=a)
        np.multiply(a, wx1, out=a)
        np.add(out, a, out=out)

    return eval_


def _nearest_axis(n_in: int, n_out: int, align: bool, half: bool) -> np.ndarray:
    scale = _scale(n_in, n_out, align)
    v = (np.arange(n_out, dtype=F32) + F32(0.5 if half else 0.0)) * scale
    if align:
        idx = np.trunc(v.astype(np.float64) + np.copysign(0.5, v)).astype(np.int64)  # round half away
    else:
        idx = np.floor(v).astype(np.int64)
    idx = np.minimum(idx, n_in - 1)
    if half:
        idx = np.maximum(idx, 0)
    return idx


@register("RESIZE_NEAREST_NEIGHBOR", *FLOAT, "int32", "int64")
def resize_nearest_neighbor(ctx: OpContext) -> EvalFn:
    n, h, w, c, oh, ow, align, half = resize_geometry(ctx)
    yi = _nearest_axis(h, oh, align, half)
    xi = _nearest_axis(w, ow, align, half)
    irow = ctx.scratch((n, oh, w, c), ctx.input(0).dtype)

    def eval_(ins, outs, tmp):
        rows = tmp[irow]
        np.take(ins[0], yi, axis=1, out=rows)
        np.take(rows, xi, axis=2, out=outs[0])

    return eval_
