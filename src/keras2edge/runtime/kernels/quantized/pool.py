"""Quantized 2-D pooling, bit-exact with TFLite Micro: AVERAGE_POOL_2D and MAX_POOL_2D, int8 and int16.

What maps to what (TFLM = github tensorflow/tflite-micro): ``micro/kernels/pooling.cc``,
``pooling_common.cc`` (prepare: padding, the equal-quantization check, the activation range) and
``kernels/internal/reference/integer_ops/pooling.h`` (AveragePool / MaxPool for int8 and int16).

* No requantization: input and output must share their quantization (TFLM: ``|s_in - s_out| <= 1e-6``,
  the difference taken in float32, and equal zero points); anything else is refused here.
* The window is clipped to the image: padding taps are neither read nor counted.
* AVERAGE works on the raw q values (zero point not removed): with ``sum`` over the ``n`` in-image
  taps, ``avg = sum > 0 ? (sum + n/2) / n : (sum - n/2) / n`` in C integer arithmetic (truncating
  division, ``n/2`` floored), i.e. ``sign(sum) * floor((|sum| + floor(n/2)) / n)``: round half away
  from zero. Then the fused activation's clamp.
* MAX: the largest raw q of the clipped window, then the clamp.

LiteRT BUILTIN_REF computes the same (int8-arithmetic.md §3.8). Speed: one NumPy pass per window tap
(strided slices of the whole batch, as the float kernel in ``kernels/pool.py``), never per pixel; the
per-pixel tap counts of AVERAGE are a table made in prepare (a scalar when all windows are full), and
the rounded division is done in float64, exact by the bound in :func:`average_float`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..base import EvalFn, OpContext, register
from ..conv import _sl, _window
from .common import activation_clamp, per_tensor


def _check_same_quantization(ctx: OpContext) -> None:
    """TFLM PoolingPrepare: ``|s_in - s_out| <= 1e-6`` (float32 difference) and equal zero points."""
    x, out = ctx.input(0), ctx.outputs[0]
    (s_in, z_in), (s_out, z_out) = per_tensor(ctx, x), per_tensor(ctx, out)
    if float(abs(np.float32(s_in) - np.float32(s_out))) > 1e-6 or z_in != z_out:
        raise ctx.fail(f"input '{x.name}' (scale {s_in}, zero point {z_in}) and output '{out.name}' (scale {s_out}, "
                       f"zero point {z_out}) must share their quantization: {ctx.op} does not requantize in "
                       "TFLite Micro (insert a QUANTIZE op)")


def _pool(ctx: OpContext, kind: str) -> EvalFn:
    ctx.check_arity(1)
    ctx.check_rank(0, 4)
    x = ctx.input(0)
    out = ctx.outputs[0]
    if out.dtype != x.dtype:
        raise ctx.fail(f"output '{out.name}' is {out.dtype}, input is {x.dtype}; they must match")
    _check_same_quantization(ctx)
    lo, hi = activation_clamp(ctx, out)
    n, c = x.shape[0], x.shape[3]
    kh, kw = int(ctx.opt("filter_height", 1)), int(ctx.opt("filter_width", 1))
    sh, sw = int(ctx.opt("stride_h", 1)), int(ctx.opt("stride_w", 1))
    if kh < 1 or kw < 1:
        raise ctx.fail(f"bad filter size {kh}x{kw}")
    oh, ow, rows, cols = _window(ctx, x.shape, kh, kw, sh, sw, 1, 1, int(ctx.opt("padding", 0)))
    ctx.set_output(0, (n, oh, ow, c))
    taps = [(*_sl(rlo, rhi, rin, sh), *_sl(clo, chi, cin, sw))
            for _, rlo, rhi, rin in rows for _, clo, chi, cin in cols]
    full = [t for t in taps if t[0] == slice(0, oh) and t[2] == slice(0, ow)]
    first = full[0] if full else None
    rest = [t for t in taps if t is not first]
    if kind == "max":
        return _max_eval(taps, first, rest, lo, hi)
    count = np.zeros((oh, ow), np.int32)
    for oy, _, ox, _ in taps:
        count[oy, ox] += 1
    if (count == 0).any():
        raise ctx.fail("a pooling window covers no input pixel")
    return _avg_eval(ctx, (n, oh, ow, c), first, rest, count, lo, hi)


def _max_eval(taps: list, first: tuple | None, rest: list, lo: int, hi: int) -> EvalFn:
    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        xv, o = ins[0], outs[0]
        if first is not None:
            oy, iy, ox, ix = first
            np.copyto(o, xv[:, iy, ix])  # type: ignore[index]
        else:
            o.fill(np.iinfo(o.dtype).min)  # TFLM starts from the dtype's lowest value
        for oy, iy, ox, ix in rest:
            v = o[:, oy, ox]
            np.maximum(v, xv[:, iy, ix], out=v)  # type: ignore[index]
        np.clip(o, lo, hi, out=o)

    return eval_


def average_int(sums: np.ndarray, count: np.ndarray | int) -> np.ndarray:
    """TFLM's rounded average in plain integers (the definition; tests hold :func:`average_float` to
    it): ``sum > 0 ? (sum + n/2) / n : (sum - n/2) / n`` with C's truncating division."""
    s, n = np.asarray(sums, np.int64), np.asarray(count, np.int64)
    q = (np.abs(s) + n // 2) // n  # non-negative operands: floor division is C's truncation
    return np.where(s < 0, -q, q)


def average_float(sums: np.ndarray, half: np.ndarray | float, inv: np.ndarray | float, out: np.ndarray) -> None:
    """:func:`average_int` in float64 into ``out`` (float64, ``sums``' shape; ``sums`` holds the
    integer sums in float32 or float64), with
    ``half = n//2 + 0.5`` and ``inv = float64(1/n)`` precomputed.

    Exact: ``b = |sum| + n//2`` is an integer, so ``(b + 0.5) / n = (2b + 1) / (2n)`` has an odd
    numerator and lies at least ``1/(2n)`` from every integer; the computed ``(b + 0.5) * inv`` (two
    roundings, relative error < 2^-52) is within ``(b + 0.5) / n * 2^-52`` of it, less than
    ``1/(2n)`` whenever ``b + 0.5 < 2^51``. Here ``|sum| <= n * 2^15`` (int16 taps) and ``n`` is at
    most the window size, so ``b < 2^51`` for any window under 2^35 taps (checked in prepare); the floor
    is then ``floor(b / n)``, TFLM's quotient."""
    np.abs(sums, out=out)
    out += half
    out *= inv
    np.floor(out, out=out)
    np.copysign(out, sums, out=out)  # a zero sum gives floor((n//2 + 0.5) / n) = 0 either way


def _avg_eval(ctx: OpContext, shape: tuple[int, ...], first: tuple | None, rest: list, count: np.ndarray,
              lo: int, hi: int) -> EvalFn:
    if int(count.max()) >= 1 << 35:
        raise ctx.fail(f"a pooling window of {int(count.max())} taps is too large")
    uniform = bool((count == count.flat[0]).all())
    n_taps = np.float64(count.flat[0]) if uniform else count[None, :, :, None].astype(np.float64)
    half, inv = np.floor(n_taps / 2) + 0.5, 1.0 / n_taps
    # The tap sums are integers of magnitude <= taps * 2^15 (int16; 2^7 for int8): float32 holds them
    # exactly (and so every partial sum) up to 2^24, float64 beyond.
    qmax = 1 << (8 * ctx.input(0).dtype.itemsize - 1)
    acc = ctx.scratch(shape, np.float32 if int(count.max()) * qmax <= 1 << 24 else np.float64)
    avg = ctx.scratch(shape, np.float64)

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        xv, o, s, a = ins[0], outs[0], tmp[acc], tmp[avg]
        if first is not None:
            oy, iy, ox, ix = first
            np.copyto(s, xv[:, iy, ix])  # type: ignore[index]
        else:
            s.fill(0)
        for oy, iy, ox, ix in rest:
            v = s[:, oy, ox]
            np.add(v, xv[:, iy, ix], out=v)  # type: ignore[index]
        average_float(s, half, inv, a)
        np.clip(a, lo, hi, out=a)
        np.copyto(o, a, casting="unsafe")

    return eval_


@register("AVERAGE_POOL_2D", "int8", "int16")
def average_pool_2d_int8(ctx: OpContext) -> EvalFn:
    """int8 / int16 AVERAGE_POOL_2D (module docstring)."""
    return _pool(ctx, "avg")


@register("MAX_POOL_2D", "int8", "int16")
def max_pool_2d_int8(ctx: OpContext) -> EvalFn:
    """int8 / int16 MAX_POOL_2D (module docstring)."""
    return _pool(ctx, "max")
