"""Quantized reductions, bit-exact with TFLite Micro: MEAN and SUM (int8, int16), REDUCE_MAX and
REDUCE_MIN (int8); REDUCE_MAX and REDUCE_MIN int16, which TFLite Micro lacks, bit-exact with LiteRT's
reference kernel.

What maps to what (TFLM = github tensorflow/tflite-micro): ``micro/kernels/reduce.cc``,
``reduce_common.cc`` (prepare and eval) and ``kernels/internal/reference/reduce.h``
(QuantizedMeanOrSum, ReduceGeneric, ResolveAxis). Axes: a constant int32 tensor, negative values
counted from the end, duplicates ignored; ``keep_dims`` keeps the reduced dims as 1.

* MEAN / SUM (int8 and int16 alike; the accumulator is int32 for both, wrapping on overflow)::

      (M, s) = QuantizeMultiplier(double(s_in) / double(s_out))
      N      = number of reduced elements
      sum    = int32(sum q - z_in * N)
      MEAN:  k = min(floor(log2 N), 32, 31 + s);  M' = (M << k) // N;  s' = s - k
      y      = clamp(MBQM(sum, M', s') + z_out)           # SUM: with (M, s); dtype range, no activation

  TFLM has no special path when the input and output quantization are equal (LiteRT's optimized
  kernels do): the same formula applies, and the tests check such cases. An empty input gives zeros.
* REDUCE_MAX / REDUCE_MIN int8: max / min of the raw q; TFLM requires exactly equal scales and zero
  points (checked at its eval); an empty input gives -128 / 127 (the reducer's initial value). TFLM
  has no int16 REDUCE_MAX / REDUCE_MIN ("Only float32 and int8 types are supported"): the int16 ones
  follow LiteRT's reference kernel (``tflite/kernels/reduce.cc`` EvalType / PrepareSimple): the same
  raw max / min with the same equal-quantization check, and zero points 0 (int16 rule of PrepareSimple).

LiteRT BUILTIN_REF (ai-edge-litert 2.3.0): MEAN int8 and REDUCE_MAX / REDUCE_MIN equal TFLM; SUM int8
does not (off by up to a few hundred LSB on most outputs; not modelled here, asserted in
``tests/runtime/kernels/quantized/test_reduce.py``).

Speed: one NumPy reduction over the constant axes into an int32 (int64 when the bound
``N * (|q| + |z_in|)`` could overflow, then wrapped to int32 as the C code does), one pass to remove
the zero-point term, one requantization.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ... import fixed_point as fp
from ..base import EvalFn, OpContext, norm_axis, register
from .common import Requantizer, int_range, per_tensor


def _axes_and_shape(ctx: OpContext) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """(resolved axes, output shape, number of reduced elements N) of a reducer node."""
    ctx.check_arity(2)
    ctx.check_dtype(1, "int32")
    x = ctx.input(0)
    raw = np.asarray(ctx.const(1, "axes")).reshape(-1)
    axes = tuple(sorted({norm_axis(ctx, int(a), x.rank) for a in raw}))
    keep = bool(ctx.opt("keep_dims", False))
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape)) if keep else \
        tuple(d for i, d in enumerate(x.shape) if i not in axes)
    ctx.set_output(0, shape)
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    return axes, shape, n


def mean_multiplier(multiplier: int, shift: int, n: int) -> tuple[int, int]:
    """TFLM QuantizedMeanOrSum's folding of ``1 / n`` into ``(M, s)``: ``k = min(floor(log2 n), 32,
    31 + s)``, ``M' = (M << k) // n`` (int64; both non-negative, so C's truncation is a floor),
    ``s' = s - k``."""
    k = min(n.bit_length() - 1, 32, 31 + shift)
    return (multiplier << k) // n, shift - k


def _mean_or_sum(ctx: OpContext, mean: bool) -> EvalFn:
    x, out = ctx.input(0), ctx.outputs[0]
    if out.dtype != x.dtype:
        raise ctx.fail(f"output '{out.name}' is {out.dtype}, input is {x.dtype}; they must match")
    axes, shape, n = _axes_and_shape(ctx)
    (s_in, z_in), (s_out, z_out) = per_tensor(ctx, x), per_tensor(ctx, out)
    m, s = fp.quantize_multiplier(fp.REAL_MULTIPLIERS[ctx.op](s_in, s_out))
    if mean and n > 0:
        m, s = mean_multiplier(m, s, n)
    lo, hi = int_range(ctx, out)
    qlo, qhi = int_range(ctx, x)
    wrap = n * (max(-qlo, qhi) + abs(z_in)) > fp.INT32_MAX
    adt = np.int64 if wrap else np.int32
    acc = ctx.scratch((max(int(np.prod(shape, dtype=np.int64)), 1),), adt)  # flat: a rank-0 output too
    offset = z_in * n  # |z_in * N| fits the accumulator: int32 unless wrap (then int64)
    empty = x.size == 0
    keep = len(shape) == x.rank
    rq = Requantizer(np.int64(m), np.int64(s), z_out, lo, hi)  # common.requantize's step, set up once

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        if empty:
            outs[0].fill(0)
            return
        a = tmp[acc].reshape(shape)
        np.sum(ins[0], axis=axes, dtype=adt, keepdims=keep, out=a)
        a -= offset
        flat = tmp[acc]  # 1-D views: the Requantizer needs arrays, and a rank-0 one turns into a scalar
        rq(fp.wrap_int32(flat) if wrap else flat, outs[0].reshape(-1))

    return eval_


def _min_max(ctx: OpContext, fn: np.ufunc) -> EvalFn:
    x, out = ctx.input(0), ctx.outputs[0]
    if out.dtype != x.dtype:
        raise ctx.fail(f"output '{out.name}' is {out.dtype}, input is {x.dtype}; they must match")
    axes, shape, _ = _axes_and_shape(ctx)
    (s_in, z_in), (s_out, z_out) = per_tensor(ctx, x), per_tensor(ctx, out)
    if s_in != s_out or z_in != z_out:
        raise ctx.fail(f"input '{x.name}' (scale {s_in}, zero point {z_in}) and output '{out.name}' (scale {s_out}, "
                       f"zero point {z_out}) must have exactly the same quantization: {ctx.op} does not requantize "
                       "in TFLite Micro")
    if x.dtype == np.int16 and z_in != 0:
        raise ctx.fail(f"int16 {ctx.op} needs zero point 0 on '{x.name}' and '{out.name}' (got {z_in}; LiteRT's rule)")
    lo, hi = int_range(ctx, x)
    initial = lo if fn is np.maximum else hi
    keep = len(shape) == x.rank

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        fn.reduce(ins[0], axis=axes, keepdims=keep, initial=initial, out=outs[0])

    return eval_


@register("MEAN", "int8", "int16")
def mean_int8(ctx: OpContext) -> EvalFn:
    """int8 / int16 MEAN (module docstring)."""
    return _mean_or_sum(ctx, mean=True)


@register("SUM", "int8", "int16")
def sum_int8(ctx: OpContext) -> EvalFn:
    """int8 / int16 SUM (module docstring)."""
    return _mean_or_sum(ctx, mean=False)


@register("REDUCE_MAX", "int8", "int16")
def reduce_max_int8(ctx: OpContext) -> EvalFn:
    """int8 / int16 REDUCE_MAX (module docstring; int16 follows LiteRT, TFLite Micro has none)."""
    return _min_max(ctx, np.maximum)


@register("REDUCE_MIN", "int8", "int16")
def reduce_min_int8(ctx: OpContext) -> EvalFn:
    """int8 / int16 REDUCE_MIN (module docstring; int16 follows LiteRT, TFLite Micro has none)."""
    return _min_max(ctx, np.minimum)
