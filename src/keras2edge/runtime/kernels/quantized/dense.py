"""Quantized matrix products, bit-exact with TFLite Micro: FULLY_CONNECTED and BATCH_MATMUL.

What maps to what (TFLM = github tensorflow/tflite-micro):

* ``fully_connected_int8`` (int8 in / int8 weights / int32 bias or none / int8 out) and its 16x8 form
  (int16 in / int8 weights / int64, int32 or no bias / int16 out) <- ``micro/kernels/fully_connected.cc``,
  ``fully_connected_common.cc`` and ``kernels/internal/reference/integer_ops/fully_connected.h``
  (FullyConnected / FullyConnectedPerChannel)::

      acc[b, c] = sum_k w[c, k] * (x[b, k] - z_in) (+ bias[c])
      y[b, c]   = clamp(MBQM(acc, M_c, s_c) + z_out, act_lo, act_hi)

  int8 and int16-with-int32-bias accumulate in int32 (wrapping, as the C code does on overflow) and use
  the int32 MultiplyByQuantizedMultiplier (double rounding); int16 with an int64 bias, or with no bias
  (TFLM takes the int64 path unless the ``quantized_bias_type`` option says INT32), accumulates in int64
  and uses the int64 overload (``fixed_point.mbqm_int64``: 16-bit multiplier, one half-up rounding).
  The real multiplier is ``REAL_MULTIPLIERS["FULLY_CONNECTED"]`` (double, per channel or per tensor).
  Weights per tensor or per axis 0, zero point 0. Input of any rank: ``[size / K, K]`` (with
  ``keep_num_dims`` the output keeps the input's leading dims).

* ``batch_matmul_int8`` / ``_int16`` <- ``micro/kernels/batch_matmul.cc`` and
  ``kernels/internal/reference/batch_matmul.h``: ``acc = sum_k (a - z_a)(b - z_b)`` for every
  broadcast batch, ``y = clamp(MBQM(acc, M, s) + z_out)`` over the whole int8 range (no fused
  activation); int16: all zero points 0, int64 accumulator, ``mbqm_int64``. Both operands and the output
  per tensor; ranks 2 to 5; adj_x / adj_y transpose the last two dims; either operand may be a graph
  input. The real multiplier is ``s_a * s_b / s_out`` in double: TFLM's source multiplies
  ``s_a * s_b`` in float32 (GetQuantizedConvolutionMultipler), the wheel we test does not (a test
  with scales that tell the two apart pins it, as docs/int8-findings.md found for per-tensor FC).

* Hybrid FULLY_CONNECTED / BATCH_MATMUL (float32 input, int8 weights) are in ``kernels/hybrid.py``.

LiteRT BUILTIN_REF differs on FULLY_CONNECTED only: it rounds ``double(acc) * (s_in * s_w / s_out)``
half-away in one step (int8, and 16x8 with an int64 bias or none), which differs from TFLM's two
roundings by +-1 at (and near) ties (int8-arithmetic.md §3.2, docs/int8-findings.md); with a 16x8
int32 bias its outputs do not follow from the bias at all. BATCH_MATMUL int8/int16 agree with TFLM.
``tests/runtime/kernels/quantized/test_dense.py`` asserts each of these.

Speed: the integer GEMM is one float BLAS product of the raw integer values, which is exact because
every partial sum is an integer of magnitude at most ``bound`` (computed in prepare from the actual
weights when they are constant): float32 when ``bound <= 2^24``, float64 when ``bound <= 2^53``,
an int64 NumPy product otherwise. FULLY_CONNECTED folds the input zero point and the bias into one
per-channel integer term at prepare time (``bias[c] - z_in * sum_k w[c, k]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ... import fixed_point as fp
from ..base import EvalFn, OpContext, TensorSpec, broadcast, register
from ..zeroskip import skip_zero_weights
from .common import activation_clamp, int_range, per_tensor, qparams, requantize

#: Largest |partial sum| for which a float32 / float64 GEMM of integers is exact: every partial sum is
#: then an integer the format represents exactly, so no addition (in any order, FMA or not) rounds.
F32_EXACT = 1 << 24
F64_EXACT = 1 << 53


def gemm_dtype(bound: int) -> np.dtype:
    """The cheapest dtype whose matrix product of integers with partial sums bounded by ``bound`` is
    exact (see :data:`F32_EXACT`): float32, float64, or int64 (NumPy's own loop, exact by nature)."""
    if bound <= F32_EXACT:
        return np.dtype(np.float32)
    if bound <= F64_EXACT:
        return np.dtype(np.float64)
    return np.dtype(np.int64)


def requantize_int64(acc: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int, zero_point: int,
                     lo: int, hi: int, out: np.ndarray) -> None:
    """``out = clamp(zero_point + MBQM_int64(acc, M, shift), lo, hi)``: the requantization of TFLM's
    int16-activation kernels with an int64 accumulator (``fixed_point.mbqm_int64``)."""
    v = fp.mbqm_int64(acc, multiplier, shift)
    v += zero_point
    np.clip(v, lo, hi, out=v)
    np.copyto(out, v, casting="unsafe")


def _qmax_abs(ctx: OpContext, t: TensorSpec) -> int:
    lo, hi = int_range(ctx, t)
    return max(-lo, hi)


def _check_out_dtype(ctx: OpContext, dtype: np.dtype) -> None:
    out = ctx.outputs[0]
    if out.dtype != dtype:
        raise ctx.fail(f"output '{out.name}' is {out.dtype}; with a {dtype} input TFLite Micro writes {dtype}")


# ---------------------------------------------------------------------------------------------
# FULLY_CONNECTED


@dataclass(frozen=True)
class _FcQuant:
    """What prepare derives from the tensors' quantization."""

    z_in: int
    multiplier: np.ndarray  # int64 (C,) or (1,)
    shift: np.ndarray
    z_out: int
    lo: int
    hi: int
    acc64: bool  # int64 accumulator and mbqm_int64 (16x8 with an int64 bias or none)


def _fc_weights_quant(ctx: OpContext, w: TensorSpec, units: int) -> np.ndarray:
    """The weights' scales (1 or ``units``), checked as TFLM needs them: zero point 0, axis 0."""
    p = qparams(ctx, w)
    if np.any(p.zero_point != 0):
        raise ctx.fail(f"weights '{w.name}' have zero point {p.zero_point[:4].tolist()}; TFLite Micro's "
                       "FULLY_CONNECTED needs symmetric weights (zero point 0)")
    if not p.per_tensor and p.axis != 0:
        raise ctx.fail(f"weights '{w.name}' are quantized per axis on dimension {p.axis}; FULLY_CONNECTED's "
                       f"per-channel scales must be on dimension 0 (one per output unit, {units})")
    return p.scale


def _fc_bias(ctx: OpContext, x: TensorSpec, units: int) -> tuple[TensorSpec | None, bool]:
    """(bias spec or None, int64 accumulator?) after the dtype rules of TFLM's int8 / 16x8 kernels."""
    bias = ctx.opt_input(2)
    if x.dtype == np.int8:
        if bias is not None and bias.dtype != np.int32:
            raise ctx.fail(f"bias '{bias.name}' is {bias.dtype}; int8 FULLY_CONNECTED needs an int32 bias")
        acc64 = False
    else:
        if bias is not None and bias.dtype not in (np.int32, np.int64):
            raise ctx.fail(f"bias '{bias.name}' is {bias.dtype}; 16x8 FULLY_CONNECTED needs an int64 (or int32) bias")
        # TFLM: int32 accumulation iff the bias is int32, or absent with quantized_bias_type INT32.
        int32_code = 2  # TensorType INT32
        acc64 = not ((bias is not None and bias.dtype == np.int32)
                     or (bias is None and int(ctx.opt("quantized_bias_type", 0)) == int32_code))
    if bias is not None and bias.size != units:
        raise ctx.fail(f"bias '{bias.name}' has {bias.size} values; the weights have {units} units")
    return bias, acc64


def _fc_quant(ctx: OpContext, x: TensorSpec, w: TensorSpec, bias: TensorSpec | None, units: int,
              acc64: bool) -> _FcQuant:
    s_in, z_in = per_tensor(ctx, x)
    out = ctx.outputs[0]
    s_out, z_out = per_tensor(ctx, out)
    s_w = _fc_weights_quant(ctx, w, units)
    if s_w.size == 1 and bias is not None:
        # GetQuantizedConvolutionMultipler (kernels/kernel_util.cc): per-tensor FC refuses a bias whose
        # scale is far from s_in * s_w (a missing bias scale reads as 0 there).
        b_scale = float(bias.quantization.scale[0]) if bias.quantization is not None and \
            len(bias.quantization.scale) else 0.0
        if abs(s_in * float(s_w[0]) - b_scale) / s_out > 0.02:
            raise ctx.fail(f"bias '{bias.name}' has scale {b_scale}, but input scale x weight scale is "
                           f"{s_in * float(s_w[0])}; TFLite Micro requires |difference| / output scale <= 0.02")
    real = fp.REAL_MULTIPLIERS["FULLY_CONNECTED"](s_in, s_w, s_out)
    m, s = fp.quantize_multiplier(np.asarray(real))
    lo, hi = activation_clamp(ctx, out)
    return _FcQuant(z_in, np.asarray(m, np.int64), np.asarray(s, np.int64), z_out, lo, hi, acc64)


@register("FULLY_CONNECTED", "int8", "int16")
@skip_zero_weights
def fully_connected_int8(ctx: OpContext) -> EvalFn:
    """int8 and 16x8 FULLY_CONNECTED (module docstring)."""
    ctx.check_arity(2, 3, n_out=None)
    if len(ctx.outputs) != 1:
        raise ctx.fail(f"expects 1 output, got {len(ctx.outputs)} (shuffled weight formats are not supported)")
    if int(ctx.opt("weights_format", 0)) != 0:
        raise ctx.fail("only the DEFAULT weights_format is supported")
    x, w = ctx.input(0), ctx.input(1)
    _check_out_dtype(ctx, x.dtype)
    if w.dtype != np.int8:
        raise ctx.fail(f"weights '{w.name}' are {w.dtype}; quantized FULLY_CONNECTED needs int8 weights")
    ctx.check_rank(1, 2)
    units, k = w.shape
    if k <= 0 or x.size % k:
        raise ctx.fail(f"input {list(x.shape)} has {x.size} values, not a multiple of the weights' input size {k}")
    batch = x.size // k
    bias, acc64 = _fc_bias(ctx, x, units)
    q = _fc_quant(ctx, x, w, bias, units, acc64)
    if ctx.opt("keep_num_dims", False):
        if x.shape[-1] != k:
            raise ctx.fail(f"keep_num_dims needs the input's last dim {x.shape[-1]} to equal the weights' {k}")
        ctx.set_output(0, x.shape[:-1] + (units,))
    else:
        ctx.set_output(0, (batch, units))
    return _fc_eval(ctx, x, w, bias, q, batch, units, k)


def _fc_bounds(ctx: OpContext, x: TensorSpec, w: TensorSpec, bias: TensorSpec | None, k: int) -> tuple[int, int]:
    """(bound on |partial sums of x @ w.T| over raw input values, bound on |acc| with the folded zero
    point and bias): from the actual weights and bias when constant, from the dtypes otherwise."""
    xmax = _qmax_abs(ctx, x)
    wsum = int(np.abs(w.data.astype(np.int16)).sum(axis=1, dtype=np.int64).max()) if w.is_const and w.size else 128 * k
    lo, hi = int_range(ctx, x)
    bmax = int(np.abs(bias.data.astype(np.int64)).max()) if bias is not None and bias.is_const and bias.size else \
        (0 if bias is None else -int(np.iinfo(bias.dtype).min))
    return wsum * xmax, wsum * (hi - lo) + bmax


def _fc_fold(w: np.ndarray, bias: np.ndarray | None, z_in: int) -> np.ndarray:
    """``bias[c] - z_in * sum_k w[c, k]`` (int64): the zero-point term and the bias in one."""
    fold = -z_in * w.sum(axis=1, dtype=np.int64)
    if bias is not None:
        fold += bias.astype(np.int64).reshape(-1)
    return fold


def _fc_eval(ctx: OpContext, x: TensorSpec, w: TensorSpec, bias: TensorSpec | None, q: _FcQuant,
             batch: int, units: int, k: int) -> EvalFn:
    gemm_bound, acc_bound = _fc_bounds(ctx, x, w, bias, k)
    gdt = gemm_dtype(gemm_bound)
    # int32 accumulators wrap like the C code's when they can overflow; int64 never does here.
    wrap = not q.acc64 and acc_bound > fp.INT32_MAX
    adt = np.int64 if (q.acc64 or wrap) else np.int32
    xf = ctx.scratch((batch, k), gdt)
    accf = ctx.scratch((batch, units), gdt)
    acci = ctx.scratch((batch, units), adt)
    # the weights are converted at every call into a scratch buffer (one pass over them) rather than
    # held as a float copy for the interpreter's life (5 MB for MobileNetV2's classifier)
    wf = ctx.scratch((units, k), gdt)
    fold_const = bias is None or bias.is_const
    fold = ctx.cached(f"fold_{q.z_in}", w.data, lambda a: _fc_fold(a, None if bias is None else bias.data, q.z_in)
                      ).astype(adt) if w.is_const and fold_const else None
    requant = requantize_int64 if q.acc64 else requantize
    has_bias = bias is not None

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        xs, af, ai = tmp[xf], tmp[accf], tmp[acci]
        np.copyto(xs, ins[0].reshape(batch, k))  # type: ignore[union-attr]
        wt = tmp[wf]
        np.copyto(wt, ins[1], casting="unsafe")  # type: ignore[arg-type]
        np.matmul(xs, wt.T, out=af)
        np.copyto(ai, af, casting="unsafe")  # integer-valued (exact GEMM): the cast is exact
        f = fold if fold is not None else \
            _fc_fold(ins[1], ins[2] if has_bias else None, q.z_in)  # type: ignore[arg-type]
        np.add(ai, f, out=ai, casting="unsafe")
        acc = fp.wrap_int32(ai) if wrap else ai
        requant(acc, q.multiplier, q.shift, q.z_out, q.lo, q.hi, outs[0].reshape(batch, units))

    return eval_


# ---------------------------------------------------------------------------------------------
# BATCH_MATMUL


@register("BATCH_MATMUL", "int8", "int16")
def batch_matmul_int8(ctx: OpContext) -> EvalFn:
    """int8 and int16 BATCH_MATMUL (module docstring)."""
    ctx.check_arity(2)
    a, b = ctx.input(0), ctx.input(1)
    if b.dtype != a.dtype:
        raise ctx.fail(f"inputs have different dtypes {a.dtype} and {b.dtype}; TFLite Micro needs both {a.dtype}")
    _check_out_dtype(ctx, a.dtype)
    for i, t in enumerate((a, b)):
        if not 2 <= t.rank <= 5:
            raise ctx.fail(f"input {i} ('{t.name}') has rank {t.rank}; TFLite Micro's BATCH_MATMUL takes ranks 2 to 5")
    adj_x, adj_y = bool(ctx.opt("adj_x", False)), bool(ctx.opt("adj_y", False))
    m, ka = (a.shape[-1], a.shape[-2]) if adj_x else (a.shape[-2], a.shape[-1])
    kb, n = (b.shape[-1], b.shape[-2]) if adj_y else (b.shape[-2], b.shape[-1])
    if ka != kb:
        raise ctx.fail(f"inner dimensions differ: {ka} vs {kb} (adj_x={adj_x}, adj_y={adj_y})")
    batch = broadcast(ctx, a.shape[:-2], b.shape[:-2])
    out = ctx.outputs[0]
    ctx.set_output(0, batch + (m, n))
    (s_a, z_a), (s_b, z_b), (s_out, z_out) = (per_tensor(ctx, t) for t in (a, b, out))
    acc64 = a.dtype == np.int16
    if acc64 and (z_a, z_b, z_out) != (0, 0, 0):
        raise ctx.fail(f"int16 BATCH_MATMUL needs zero points 0 (got {z_a}, {z_b} and output {z_out}), as TFLite "
                       "Micro does")
    real = fp.REAL_MULTIPLIERS["FULLY_CONNECTED"](s_a, np.float32(s_b), s_out)
    mult, shift = fp.quantize_multiplier(float(real[0]))
    lo, hi = int_range(ctx, out)
    # |a - z_a| and |b - z_b| are at most (qmax - qmin); the products' partial sums at most K times that.
    span = hi - lo
    bound = ka * span * span
    gdt = gemm_dtype(bound)
    wrap = not acc64 and bound > fp.INT32_MAX
    fa = ctx.scratch(a.shape, gdt)
    fb = None if b.is_const else ctx.scratch(b.shape, gdt)
    acc = ctx.scratch(batch + (m, n), gdt)
    acci = acc if gdt == np.int64 else ctx.scratch(batch + (m, n), np.int64)
    bconst = ctx.cached(f"b_{gdt.name}_{z_b}", b.data, lambda v: np.subtract(v, z_b, dtype=gdt)) if b.is_const else None
    requant = requantize_int64 if acc64 else requantize

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        xa = tmp[fa]
        np.subtract(ins[0], z_a, out=xa, dtype=gdt)
        if bconst is None:
            xb = tmp[fb]  # type: ignore[index]
            np.subtract(ins[1], z_b, out=xb, dtype=gdt)
        else:
            xb = bconst
        r = tmp[acc]
        np.matmul(xa.swapaxes(-1, -2) if adj_x else xa, xb.swapaxes(-1, -2) if adj_y else xb, out=r)
        v = tmp[acci]
        if v is not r:
            np.copyto(v, r, casting="unsafe")  # integer-valued (exact GEMM): the cast is exact
        requant(fp.wrap_int32(v) if wrap else v, mult, shift, z_out, lo, hi, outs[0])

    return eval_
