"""QUANTIZE (float32 -> int8/uint8/int16) and DEQUANTIZE (int8/uint8/int16/float16 -> float32); DENSIFY
(a sparse constant weight -> dense, the weight-storage sibling of DEQUANTIZE).

As TFLite's reference kernels: QUANTIZE computes ``round_half_away(x / scale)`` in float32, adds the
zero point and clamps to the output type (AffineQuantize); DEQUANTIZE computes
``float(double(scale) * (q - zero_point))`` per tensor, ``scale[c] * (q - zp[c])`` in float32 per
channel (PerChannelDequantize), and an exact cast for float16. Requantization (int -> int QUANTIZE)
belongs to the integer kernels (``quantized/quant.py``).

Against TFLite Micro (``micro/kernels/quantize_common.cc``, ``dequantize_common.cc``; tested element
for element in tests/runtime/kernels/quantized/test_quant.py): per-tensor QUANTIZE float32 -> int8 /
int16 and DEQUANTIZE int8 / uint8 / int16 -> float32 are bit-exact, except that where x / scale is
beyond the int32 range TFLM's ``int32(roundf(x / s))`` is undefined C++ (x86 gives INT32_MIN, so a
huge positive value quantizes to the minimum) and this kernel saturates. TFLM reads quantization
per tensor only: its per-channel DEQUANTIZE applies the *first* scale and zero point to every
channel; this kernel follows the file's per-channel meaning, as LiteRT does (and TFLM refuses a
per-channel QUANTIZE, which this kernel computes per channel, as LiteRT). TFLM has no float ->
uint8 QUANTIZE; LiteRT refuses int16 DEQUANTIZE with a non-zero zero point (TFLM runs it).
"""

from __future__ import annotations

import numpy as np

from .base import FLOAT, EvalFn, OpContext, register


def affine_quantize(x: np.ndarray, scale: np.floating | np.ndarray, zero_point: np.integer | np.ndarray,
                    dtype: np.dtype | type | None = None, *, out: np.ndarray | None = None,
                    work: np.ndarray | None = None) -> np.ndarray:
    """float -> int8/uint8/int16 as TFLite's AffineQuantize (``reference/quantize.h``):
    ``clamp(round_half_away(float32(x) / float32(scale)) + zero_point)`` to the range of ``dtype``.

    The one implementation of float quantization: the QUANTIZE kernel's eval and the float inputs
    ``keras2edge run`` quantizes for an integer model both call it. ``scale`` is a float32 scalar or an
    array broadcasting against ``x`` (per channel); ``zero_point`` likewise. ``out`` (its dtype is the
    target when ``dtype`` is None) and ``work`` (float64, ``x``'s shape) avoid allocations. Values beyond
    the int32 range saturate (the C++ cast is undefined there; int8-arithmetic.md §3.1).
    """
    target = np.dtype(dtype if dtype is not None else out.dtype)  # type: ignore[union-attr]
    info = np.iinfo(target)
    v = np.empty(np.shape(x), np.float64) if work is None else work
    np.copyto(v, x / scale)  # float32 quotient, as the reference computes it
    # round half away from zero (TfLiteRound), exact in float64 for float32 quotients
    np.add(v, np.copysign(0.5, v), out=v)
    np.trunc(v, out=v)
    np.add(v, zero_point, out=v)
    np.clip(v, info.min, info.max, out=v)
    if out is None:
        return v.astype(target)
    np.copyto(out, v, casting="unsafe")
    return out


def affine_dequantize(q: np.ndarray, scale: np.floating | np.ndarray, zero_point: np.integer | np.ndarray, *,
                      per_channel: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """int8/uint8/int16 -> float32 as TFLite's DEQUANTIZE (``reference/dequantize.h``): per tensor
    ``float32(double(scale) * (q - zero_point))``; per channel (``scale``/``zero_point`` arrays
    broadcasting against ``q``) ``scale[c] * float32(q - zp[c])`` in float32 (PerChannelDequantize).

    The one implementation of dequantization: the DEQUANTIZE kernel and the outputs ``keras2edge run``
    dequantizes both call it.
    """
    if out is None:
        out = np.empty(np.shape(q), np.float32)
    if per_channel:
        np.multiply(scale, (q.astype(np.int32) - np.asarray(zero_point).astype(np.int32)).astype(np.float32),
                    out=out)
    else:
        np.copyto(out, np.float64(scale) * (q.astype(np.int32) - np.int32(zero_point)), casting="unsafe")
    return out


def _qparams(ctx: OpContext, t, rank: int):
    q = t.quantization
    if q is None or len(q.scale) == 0:
        raise ctx.fail(f"tensor '{t.name}' has no quantization parameters")
    scale = np.asarray(q.scale, np.float32).reshape(-1)
    zp = np.asarray(q.zero_point, np.int64).reshape(-1)
    if zp.size == 0:
        zp = np.zeros_like(scale, np.int64)
    if scale.size == 1:
        return scale[0], zp[0], None
    axis = int(q.quantized_dimension)
    if not 0 <= axis < rank or t.shape[axis] != scale.size or zp.size != scale.size:
        raise ctx.fail(f"tensor '{t.name}': {scale.size} scales for quantized_dimension {axis} of {list(t.shape)}")
    shape = [1] * rank
    shape[axis] = scale.size
    return scale.reshape(shape), zp.reshape(shape), axis


@register("QUANTIZE", *FLOAT)
def quantize_float32(ctx: OpContext) -> EvalFn:
    ctx.check_arity(1)
    x = ctx.input(0)
    out = ctx.outputs[0]
    if out.dtype not in (np.int8, np.uint8, np.int16):
        raise ctx.fail(f"output must be int8, uint8 or int16, got {out.dtype}")
    ctx.set_output(0, x.shape)
    scale, zp, _ = _qparams(ctx, out, x.rank)
    itmp = ctx.scratch(x.shape, np.float64)

    def eval_(ins, outs, tmp):
        affine_quantize(ins[0], scale, zp, out=outs[0], work=tmp[itmp])

    return eval_


@register("DEQUANTIZE", "int8", "uint8", "int16")
def dequantize_int(ctx: OpContext) -> EvalFn:
    ctx.check_arity(1)
    x = ctx.input(0)
    ctx.set_output(0, x.shape, np.float32)
    scale, zp, axis = _qparams(ctx, x, x.rank)
    per_channel = axis is not None

    def eval_(ins, outs, tmp):
        affine_dequantize(ins[0], scale, zp, per_channel=per_channel, out=outs[0])

    return eval_


@register("DEQUANTIZE", "float16")
def dequantize_float16(ctx: OpContext) -> EvalFn:
    ctx.check_arity(1)
    x = ctx.input(0)
    ctx.set_output(0, x.shape, np.float32)

    def eval_(ins, outs, tmp):
        np.copyto(outs[0], ins[0], casting="unsafe")

    return eval_


@register("DENSIFY", "float32", "float16", "int8")
def densify(ctx: OpContext) -> EvalFn:
    """DENSIFY: a sparse constant (``Tensor.sparsity``) as a dense tensor. The loader has densified the
    constant already (``runtime.sparse.densify``, bounds checked), so the output is that array, bound
    at prepare time (no copy, nothing to run)."""
    ctx.check_arity(1)
    x = ctx.input(0)
    data = ctx.const(0, "sparse weight")
    ctx.set_output(0, x.shape, x.dtype)
    ctx.outputs[0].data = data
    return _nothing


def _nothing(ins, outs, tmp) -> None:  # type: ignore[no-untyped-def]
    """Eval of an op whose output was bound at prepare time."""
