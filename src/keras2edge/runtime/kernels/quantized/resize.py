"""Quantized resizing, bit-exact with TFLite Micro: RESIZE_NEAREST_NEIGHBOR (int8, int16) and
RESIZE_BILINEAR (int8); RESIZE_BILINEAR int16, which TFLM lacks, bit-exact with LiteRT's reference
kernel (the same integer function). TFLM has no uint8 kernel for either; the loader refuses uint8
("no kernel"), as TFLM does.

Neither op requantizes and TFLM checks no quantization parameters: both work on the raw integers,
so input and output are expected to share scale and zero point (a bilinear blend of raw values is a
blend of real values only then). TFLM ``micro/kernels/resize_nearest_neighbor.cc`` and
``resize_bilinear.cc`` also require a rank-4 input and a constant int32 ``size`` of two values.

* RESIZE_NEAREST_NEIGHBOR (reference ``resize_nearest_neighbor.h``): a gather whose source indices
  are the float kernel's (float32 scale, floor or round-half-away, the half-pixel offset); shared
  with ``kernels/resize.py``.
* RESIZE_BILINEAR int8 (reference ``resize_bilinear.h`` ResizeBilinearInteger): integers only, with
  10 fractional bits; see :func:`bilinear_axis`. The result of the 4-tap sum S (20 fractional bits)
  is ``trunc((S ± 2^19) / 2^20)`` with the sign of S: half away from zero (the wheel is built
  without ``TFLITE_SINGLE_ROUNDING``). LiteRT's reference kernel is the same function.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import resize as fresize
from ..base import EvalFn, OpContext, register

ONE = 1 << 10  # 1.0 in the 10-fractional-bit coordinates
HALF_OUT = 1 << 19  # 0.5 in the 20-fractional-bit products


def _check(ctx: OpContext) -> None:
    """TFLM's prepare checks: same input/output type, a rank-4 input, ``size`` constant int32 [2]."""
    ctx.check_arity(2)
    x, size = ctx.input(0), ctx.input(1)
    if ctx.outputs[0].dtype != x.dtype:
        raise ctx.fail(f"output '{ctx.outputs[0].name}' is {ctx.outputs[0].dtype} but input '{x.name}' is "
                       f"{x.dtype}; TFLite Micro requires the same type")
    if size.dtype != np.int32 or size.shape != (2,):
        raise ctx.fail(f"size '{size.name}' is {size.dtype} {list(size.shape)}; TFLite Micro needs int32 [2]")


@register("RESIZE_NEAREST_NEIGHBOR", "int8", "int16")
def resize_nearest_neighbor_quantized(ctx: OpContext) -> EvalFn:
    """The float kernel's index tables on raw integers (TFLM ``resize_nearest_neighbor.cc``)."""
    _check(ctx)
    return fresize.resize_nearest_neighbor(ctx)


def _cdiv(a: np.ndarray, b: int) -> np.ndarray:
    """C integer division (truncation toward zero) of int64 ``a`` by positive ``b``."""
    q = np.abs(a) // b
    return np.where(a < 0, -q, q)


def bilinear_axis(ctx: OpContext, n_in: int, n_out: int, align: bool, half: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One axis of TFLM ResizeBilinearInteger: ``(lo, hi, w_lo, w_hi)`` per output index.

    ``scale10 = (1024·in + out/2) / out`` (align_corners and out > 1: ``(1024·(in−1) + (out−1)/2) /
    (out−1)``), integer division; the source coordinate ``p = v·scale10`` (half_pixel_centers:
    ``+ scale10/2 − 512``); ``lo = max(p / 1024, 0)``, ``hi = min((p + 1023) / 1024, in − 1)`` in C
    division (p may be negative); weights ``w_hi = p − 1024·lo`` and ``w_lo = 1024 − w_hi``. ``lo`` is
    not clamped above in TFLM: a size for which it passes ``in − 1`` would read outside the input
    there, and is refused here."""
    if align and n_out > 1:
        scale10 = (ONE * (n_in - 1) + (n_out - 1) // 2) // (n_out - 1)
    else:
        scale10 = (ONE * n_in + n_out // 2) // n_out
    if (n_out - 1) * scale10 + scale10 // 2 + ONE >= 1 << 31:
        raise ctx.fail(f"resizing {n_in} to {n_out} overflows TFLite Micro's int32 coordinates")
    p = np.arange(n_out, dtype=np.int64) * scale10
    if half:
        p += scale10 // 2 - (ONE // 2)
    lo = np.maximum(_cdiv(p, ONE), 0)
    hi = np.minimum(_cdiv(p + ONE - 1, ONE), n_in - 1)
    if lo.size and lo.max() > n_in - 1:
        raise ctx.fail(f"resizing {n_in} to {n_out} samples index {int(lo.max())}, outside the input "
                       "(TFLite Micro's integer coordinates would read out of bounds)")
    w_hi = p - ONE * lo
    return lo, hi, ONE - w_hi, w_hi


@register("RESIZE_BILINEAR", "int8", "int16")
def resize_bilinear_int8(ctx: OpContext) -> EvalFn:
    """TFLM ``resize_bilinear.cc`` -> reference ResizeBilinearInteger (module docstring). int16: TFLite
    Micro has no such kernel; LiteRT's reference kernel (``tflite/kernels/resize_bilinear.cc``) runs the
    same ResizeBilinearInteger on int16 (no quantization read), computed here in int64 (|S| ≤ 2^37).

    Computed separably, exactly: the vertical pass ``R = q[y0]·wy0 + q[y1]·wy1``, then
    ``S = R[x0]·wx0 + R[x1]·wx1``, which is TFLM's four-tap int64 sum regrouped (integers, so equal).
    Bound for int32: each axis's weights satisfy ``|w_lo| + |w_hi| <= 2048`` (w_hi in [−512, 1023]),
    so ``|S| <= 128·2048·2048 = 2^29`` and ``S + 2^19`` fits int32."""
    _check(ctx)
    n, h, w, c, oh, ow, align, half = fresize.resize_geometry(ctx)
    y0, y1, wy0, wy1 = bilinear_axis(ctx, h, oh, align, half)
    x0, x1, wx0, wx1 = bilinear_axis(ctx, w, ow, align, half)
    acc = np.int32 if ctx.input(0).dtype == np.int8 else np.int64  # int16: |S| ≤ 2^15·2^22 needs int64
    wy0_, wy1_ = (a.astype(acc).reshape(1, oh, 1, 1) for a in (wy0, wy1))
    wx0_, wx1_ = (a.astype(acc).reshape(1, 1, ow, 1) for a in (wx0, wx1))
    i_x = ctx.scratch((n, h, w, c), acc)
    i_r, i_t = ctx.scratch((n, oh, w, c), acc), ctx.scratch((n, oh, w, c), acc)
    i_s, i_u = ctx.scratch((n, oh, ow, c), acc), ctx.scratch((n, oh, ow, c), acc)

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        xi, r, t, s, u = tmp[i_x], tmp[i_r], tmp[i_t], tmp[i_s], tmp[i_u]
        np.copyto(xi, ins[0])  # type: ignore[arg-type]
        np.take(xi, y0, axis=1, out=r, mode="clip")  # in range: "raise" buffers out
        r *= wy0_
        np.take(xi, y1, axis=1, out=t, mode="clip")
        t *= wy1_
        r += t
        np.take(r, x0, axis=2, out=s, mode="clip")
        s *= wx0_
        np.take(r, x1, axis=2, out=u, mode="clip")
        u *= wx1_
        s += u
        # trunc((S ± 2^19) / 2^20), sign of S: (S + 2^19) >> 20 for S >= 0, (S + 2^19 − 1) >> 20 below.
        s += HALF_OUT
        np.subtract(s, s < HALF_OUT, out=s)
        s >>= 20
        np.copyto(outs[0], s, casting="unsafe")

    return eval_
