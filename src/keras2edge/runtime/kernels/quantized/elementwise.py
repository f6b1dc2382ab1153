"""Quantized elementwise kernels (int8 / int16), bit-exact with TFLite Micro.

What maps to what (TFLM = github tensorflow/tflite-micro, paths under ``tensorflow/lite/``):

* ADD int8 / int16 ← ``micro/kernels/add.cc``, ``add_common.cc``; ``kernels/internal/reference/
  integer_ops/add.h`` (int8), ``reference/add.h`` AddElementwise / BroadcastAdd6DSlow (int16)
* SUB int8 / int16 ← ``micro/kernels/sub.cc``, ``sub_common.cc``; ``reference/sub.h``
* MUL int8 / int16 ← ``micro/kernels/mul_common.cc``; ``reference/integer_ops/mul.h``
* DIV int8 ← ``micro/kernels/div.cc``, ``reference/div.h`` DivElementwise (``div_int``)
* SQUARED_DIFFERENCE int8 / int16 ← ``micro/kernels/squared_difference.cc``
* MAXIMUM / MINIMUM int8 / int16 ← ``micro/kernels/maximum_minimum.cc``
* EQUAL, NOT_EQUAL, GREATER, GREATER_EQUAL, LESS, LESS_EQUAL int8 → bool ←
  ``micro/kernels/comparisons.cc``, ``reference/comparisons.h`` ComparisonWithScaling
* SELECT_V2 int8 / int16 ← ``micro/kernels/select.cc`` (TFLM has no SELECT v1)
* ABS int8 / int16, RSQRT int8 / int16 ← ``micro/kernels/elementwise.cc`` (AbsEvalQuantized,
  RsqrtEvalQuantized; ``kernels/internal/common.h`` GetInvSqrtQuantizedMultiplierExp; int16 RSQRT
  as the tflite-micro wheel runs it, LiteRT's float-built int16 table differs)
* CAST from int8 ← ``micro/kernels/cast.cc`` (a static_cast of the raw integers)
* EXP int8 / int16, LOG int8 / int16: TFLite Micro has no such kernels; these follow
  LiteRT's reference kernels (github google-ai-edge/LiteRT ``tflite/kernels/exp.cc``,
  ``elementwise.cc``): float-built lookup tables (``runtime/float_lut.py``: LUTPopulate, the int16
  513-entry interpolated LUT), one ``np.take`` in eval; bit-exact with LiteRT BUILTIN_REF

Arithmetic (int8-arithmetic.md §3.6, §3.7; real multipliers from ``fixed_point.REAL_MULTIPLIERS``):

* ADD/SUB: ``a = (q1 − z1)·2^L``, ``b = (q2 − z2)·2^L`` (L = 20 for int8, 15 for int16);
  ``r = MBQM<1(a, M1, e1) ± MBQM<1(b, M2, e2)``; ``y = clamp(MBQM<1(r, Mo, eo) + z_out)`` with the
  fused-activation bounds. SUB subtracts the two *rounded* scaled values.
* MUL: ``y = clamp(MBQM((q1 − z1)·(q2 − z2), M, s) + z_out)``, M may be > 1 (left shift, int32 wrap).
* DIV: TFLM's reciprocal-based integer division (``div_int``), x86 behaviour where it is undefined.
* SQUARED_DIFFERENCE: ADD's scaled inputs with L = 7 (int8) or 0 (int16), ``d = scaled1 − scaled2``,
  ``y = clamp(MBQM(d², Mo, eo) + z_out)``, Mo from ``twice_max² / (2^(2L)·s_out)``; no activation.
* MAXIMUM/MINIMUM: raw max/min of the stored integers, no requantization and no quantization check
  (TFLM has no prepare step for them; LiteRT BUILTIN_REF computes the same): inputs with different
  scales or zero points give what TFLM gives, a comparison of the raw integers.
* comparisons: each side ``MBQM<1((q − z)·2^8, M, e)`` with (M, e) from the input's own scale
  (QuantizeMultiplierSmallerThanOneExp: TFLM aborts on a scale ≥ 1; refused here), then compared.
* SELECT_V2, CAST: the raw integers; no quantization read.
* ABS: ``v = |q − z_in|``; equal float32 scales: ``clamp(v + z_out)``, else
  ``clamp(MBQM(v, M, s) + z_out)``.
* RSQRT: ``v = q − z_in`` (v < 0: error at invoke; v = 0: the maximum), gemmlowp Newton
  1/sqrt(v) scaled by 2^20, then one MBQM by 1/(sqrt(s_in)·s_out).

Broadcasting: NumPy broadcasting of the same per-element function, for any rank (TFLM's
BroadcastBinaryOpSimple handles up to rank 8; tested to rank 7).

How eval runs (prepare does the rest once):

* int8 ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE and the comparisons: one 65,536-entry int8 (bool)
  table over every (q1, q2) pair, built in prepare by the plain integer pipeline (``add_sub_int``,
  ``mul_int``, ``div_int``, ``squared_difference_int``, ``comparison_table``): exact by
  construction, since it is the same function evaluated on every possible input. Eval forms the
  index ``byte(q1)·256 + byte(q2)`` in a uint16 scratch (two passes, broadcasting) and takes (one
  pass): about 0.1 ms for 56×56×24 elements. ABS and RSQRT: one take from a 256 / 65,536 table.
* int16 ADD/SUB/SQUARED_DIFFERENCE: each input's scaled value is a 65,536-entry int32 table per
  input (one take each); the sum (difference, square) and the output MBQM run in place in int64
  scratch. int16 MUL: the product and MBQM in place.

Zero points of int16 tensors: TFLM's int16 MUL, SQUARED_DIFFERENCE and ABS require 0 (refused here
with the same rule); its int16 ADD and SUB accept any zero point and compute the general pipeline
(no int32 overflow: |q − z| ≤ 65535 and 65535·2^15 < 2^31), so this runtime accepts them too.
ADD's ``pot_scale_int16`` option (true by default) is ignored, as TFLM ignores it.

Where the tflite-micro wheel differs from TFLM's source: it forms the ABS, DIV and RSQRT real
multipliers in double where the source writes float32 expressions (``REAL_MULTIPLIERS``). TFLM's
GREATER lists int16 but its prepare never sets the int16 rescaling (the wheel returns all false)
and its other comparisons refuse int16, so no int16 comparison is registered.

LiteRT BUILTIN_REF differences (asserted in tests/runtime/kernels/quantized/test_elementwise.py):
it forms the MUL, ABS, DIV and RSQRT multipliers in float32 (off by one at rare scales); it
refuses non-zero int16 zero points in ADD/SUB and a zero divisor in DIV; with
``pot_scale_int16`` it takes a power-of-two int16 ADD path (off by one at some elements); it has no
int16 SQUARED_DIFFERENCE. ADD, SUB, int8 SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, the comparisons,
SELECT_V2 and CAST agree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import astuple, dataclass
from functools import lru_cache

import numpy as np

from ... import fixed_point as fp
from ... import float_lut, gemmlowp
from ...errors import RuntimeModelError
from ..base import EvalFn, OpContext, TensorSpec, broadcast, register
from .common import INT_RANGES, activation_clamp, int_range, per_tensor, take
from . import fused

log = logging.getLogger("keras2edge.runtime")

# ---------------------------------------------------------------------------------------------
# Parameters (prepare-time, from the tensors' float32 scales)


@dataclass(frozen=True)
class AddParams:
    """ADD/SUB parameters (TFLM OpDataAdd / OpDataSub): offsets are the negated zero points."""

    left_shift: int
    z1: int
    m1: int
    e1: int
    z2: int
    m2: int
    e2: int
    mo: int
    eo: int
    zo: int
    lo: int
    hi: int


def add_params(op: str, s1: float, z1: int, s2: float, z2: int, so: float, zo: int, lo: int, hi: int,
               left_shift: int) -> AddParams:
    """The three (M, shift) pairs of ADD or SUB (``REAL_MULTIPLIERS[op]``, double), each through
    QuantizeMultiplierSmallerThanOneExp: a real multiplier outside (0, 1) raises RuntimeModelError
    (TFLM aborts the process in prepare)."""
    r1, r2, ro = fp.REAL_MULTIPLIERS[op](s1, s2, so, left_shift)
    (m1, e1), (m2, e2), (mo, eo) = (fp.quantize_multiplier_smaller_than_one_exp(r) for r in (r1, r2, ro))
    return AddParams(left_shift, z1, m1, e1, z2, m2, e2, mo, eo, zo, lo, hi)


def scaled_input(q: np.ndarray, zero_point: int, left_shift: int, multiplier: int, shift: int) -> np.ndarray:
    """One input's side of ADD/SUB: ``MBQM<1((q − z)·2^left_shift, M, shift)`` (int64 values of the
    int32 result; the left shift cannot overflow int32: |q − z| ≤ 65535 and 65535·2^15 < 2^31,
    255·2^20 < 2^31)."""
    x = (np.asarray(q, np.int64) - zero_point) << left_shift
    return fp.mbqm_smaller_than_one_exp(x, multiplier, shift)


def add_sub_int(q1: np.ndarray, q2: np.ndarray, p: AddParams, sign: int) -> np.ndarray:
    """The plain integer ADD (sign = 1) or SUB (sign = −1) of TFLM, broadcasting: int64 results in
    ``[p.lo, p.hi]``."""
    a = scaled_input(q1, p.z1, p.left_shift, p.m1, p.e1)
    b = scaled_input(q2, p.z2, p.left_shift, p.m2, p.e2)
    r = a + b if sign > 0 else a - b
    return np.clip(fp.mbqm_smaller_than_one_exp(r, p.mo, p.eo) + p.zo, p.lo, p.hi)


def mul_int(q1: np.ndarray, q2: np.ndarray, z1: int, z2: int, m: int, s: int, zo: int, lo: int, hi: int) -> np.ndarray:
    """The plain integer MUL of TFLM: ``clamp(MBQM((q1 − z1)·(q2 − z2), M, s) + zo, lo, hi)``
    (the product fits int32 for int8 and for zero-point-0 int16)."""
    acc = (np.asarray(q1, np.int64) - z1) * (np.asarray(q2, np.int64) - z2)
    return np.clip(fp.mbqm(acc, m, s) + zo, lo, hi)


def squared_difference_params(s1: float, z1: int, s2: float, z2: int, so: float, zo: int, lo: int, hi: int,
                              left_shift: int) -> AddParams:
    """SQUARED_DIFFERENCE's parameters (TFLM ``micro/kernels/squared_difference.cc`` PrepareQuantized,
    double): the inputs' multipliers as ADD's, the output's ``twice_max² / (2^(2·left_shift)·s_out)``
    through QuantizeMultiplier (it may exceed 1). left_shift is 7 for int8, 0 for int16."""
    f1, f2, fo = (float(np.float32(v)) for v in (s1, s2, so))
    twice_max = 2.0 * max(f1, f2)
    (m1, e1), (m2, e2) = (fp.quantize_multiplier_smaller_than_one_exp(r) for r in (f1 / twice_max, f2 / twice_max))
    mo, eo = fp.quantize_multiplier(twice_max * twice_max / ((1 << (2 * left_shift)) * fo))
    return AddParams(left_shift, z1, m1, e1, z2, m2, e2, mo, eo, zo, lo, hi)


def squared_difference_int(q1: np.ndarray, q2: np.ndarray, p: AddParams) -> np.ndarray:
    """The plain integer SQUARED_DIFFERENCE of TFLM: ``d = scaled1 − scaled2`` (as ADD's scaled
    inputs), ``clamp(MBQM(d², Mo, eo) + zo)``; d² fits int32 (|d| ≤ 32768 for both widths)."""
    d = scaled_input(q1, p.z1, p.left_shift, p.m1, p.e1) - scaled_input(q2, p.z2, p.left_shift, p.m2, p.e2)
    return np.clip(fp.mbqm(d * d, p.mo, p.eo) + p.zo, p.lo, p.hi)


# ---------------------------------------------------------------------------------------------
# int8: one table over every input pair

def pair_operands() -> tuple[np.ndarray, np.ndarray]:
    """For table index k = byte(q1)·256 + byte(q2): the int8 values q1 and q2 (raw byte order), as
    int64. Made when a table is built, not kept (1.5 MB a process would otherwise hold from import)."""
    k = np.arange(1 << 16, dtype=np.int64)
    return ((k >> 8).astype(np.uint8).view(np.int8)).astype(np.int64), \
        ((k & 0xFF).astype(np.uint8).view(np.int8)).astype(np.int64)


@lru_cache(maxsize=64)
def pair_table(op: str, key: tuple) -> np.ndarray:
    """The read-only int8 table ``T[byte(q1)·256 + byte(q2)]`` of ADD/SUB/SQUARED_DIFFERENCE (key:
    AddParams) or MUL and DIV (key: (z1, z2, M, s, zo, lo, hi)), from the plain integer pipeline."""
    q1, q2 = pair_operands()
    if op == "MUL":
        v = mul_int(q1, q2, *key)
    elif op == "DIV":
        v = div_int(q1, q2, *key)
    elif op == "SQUARED_DIFFERENCE":
        v = squared_difference_int(q1, q2, AddParams(*key))
    else:
        v = add_sub_int(q1, q2, AddParams(*key), 1 if op == "ADD" else -1)
    table = v.astype(np.int8)
    table.flags.writeable = False
    return table


def pair_index(q1: np.ndarray, q2: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``idx = byte(q1)·256 + byte(q2)`` (uint16, broadcast to idx's shape): two passes."""
    np.multiply(q1.view(np.uint8), np.uint16(256), out=idx)
    np.bitwise_or(idx, q2.view(np.uint8), out=idx)
    return idx


def _pair_eval(table: np.ndarray, itmp: int) -> EvalFn:
    def eval_(ins, outs, tmp):
        idx = pair_index(ins[0], ins[1], tmp[itmp])
        take(table, idx, outs[0])  # indices are < 65536 by construction

    return eval_


# ---------------------------------------------------------------------------------------------
# In-place int64 steps for the int16 paths (values are int32 results, products < 2^62)


def _srdhm_inplace(x: np.ndarray, multiplier: int) -> None:
    """x = SRDHM(x, M) for int64 x holding int32 values and M ≥ 0 (M = INT32_MIN, the saturating
    case, never occurs: QuantizeMultiplier gives M ≥ 0)."""
    x *= multiplier
    x += 1 << 30
    x >>= 31


def _rdbpot_inplace(x: np.ndarray, exponent: int, rem: np.ndarray) -> None:
    """x = RDBPOT(x, e) (half-away): ``(x >> e) + ((x & mask) − [x < 0] > mask >> 1)``; ``rem`` is an
    int64 scratch of x's shape."""
    if exponent == 0:
        return
    mask = (1 << exponent) - 1
    np.bitwise_and(x, mask, out=rem)
    np.subtract(rem, x < 0, out=rem)
    x >>= exponent
    x += rem > (mask >> 1)


def _finish(x: np.ndarray, zo: int, lo: int, hi: int, out: np.ndarray) -> None:
    x += zo
    np.clip(x, lo, hi, out=x)
    np.copyto(out, x, casting="unsafe")


# ---------------------------------------------------------------------------------------------
# Prepare


@dataclass(frozen=True)
class _Binary:
    a: TensorSpec
    b: TensorSpec
    out: TensorSpec
    shape: tuple[int, ...]


def _binary(ctx: OpContext) -> _Binary:
    ctx.check_arity(2)
    a, b, out = ctx.input(0), ctx.input(1), ctx.outputs[0]
    if a.dtype != b.dtype or out.dtype != a.dtype:
        raise ctx.fail(f"inputs and output must share one dtype, got {a.dtype}, {b.dtype} -> {out.dtype} "
                       f"('{a.name}', '{b.name}' -> '{out.name}')")
    shape = broadcast(ctx, a.shape, b.shape)
    ctx.set_output(0, shape)
    return _Binary(a, b, out, shape)


def _qparams3(ctx: OpContext, t: _Binary) -> tuple[tuple[float, int], tuple[float, int], tuple[float, int]]:
    return per_tensor(ctx, t.a), per_tensor(ctx, t.b), per_tensor(ctx, t.out)


def _add_sub(ctx: OpContext, op: str) -> EvalFn:
    t = _binary(ctx)
    (s1, z1), (s2, z2), (so, zo) = _qparams3(ctx, t)
    lo, hi = activation_clamp(ctx, t.out)
    int8 = t.out.dtype == np.int8
    left_shift = fp.ADD_LEFT_SHIFT if int8 else 15
    try:
        p = add_params(op, s1, z1, s2, z2, so, zo, lo, hi, left_shift)
    except RuntimeModelError as e:
        raise ctx.fail(f"scales {s1:g} ('{t.a.name}'), {s2:g} ('{t.b.name}') -> {so:g} ('{t.out.name}'): {e}; "
                       "TFLite Micro aborts on such a model") from None
    if int8:
        return _pair_eval(pair_table(op, astuple(p)), ctx.scratch(t.shape, np.uint16))
    return _add_sub_int16(ctx, t, p, 1 if op == "ADD" else -1)


@lru_cache(maxsize=32)
def int16_scaled_table(zero_point: int, left_shift: int, multiplier: int, shift: int) -> np.ndarray:
    """Read-only int32 table of ``scaled_input`` for every int16 input, indexed by its raw uint16 bits."""
    q = np.arange(1 << 16, dtype=np.uint16).view(np.int16)
    table = scaled_input(q, zero_point, left_shift, multiplier, shift).astype(np.int32)
    table.flags.writeable = False
    return table


def _add_sub_int16(ctx: OpContext, t: _Binary, p: AddParams, sign: int) -> EvalFn:
    ta = int16_scaled_table(p.z1, p.left_shift, p.m1, p.e1)
    tb = int16_scaled_table(p.z2, p.left_shift, p.m2, p.e2)
    ia, ib = ctx.scratch(t.a.shape, np.int32), ctx.scratch(t.b.shape, np.int32)
    ir, irem = ctx.scratch(t.shape, np.int64), ctx.scratch(t.shape, np.int64)
    combine = np.add if sign > 0 else np.subtract

    def eval_(ins, outs, tmp):
        a, b, r = tmp[ia], tmp[ib], tmp[ir]
        np.take(ta, ins[0].view(np.uint16), out=a, mode="clip")
        np.take(tb, ins[1].view(np.uint16), out=b, mode="clip")
        combine(a, b, out=r, dtype=np.int64)  # |a|, |b| < 2^30: the int32 sum of TFLM cannot overflow
        _srdhm_inplace(r, p.mo)
        _rdbpot_inplace(r, -p.eo, tmp[irem])
        _finish(r, p.zo, p.lo, p.hi, outs[0])

    return eval_


@register("ADD", "int8", "int16")
def add_int8(ctx: OpContext) -> EvalFn:
    """ADD int8/int16 (TFLM ``add.cc``): the left-shift pipeline, three MBQMs, fused activation."""
    return _add_sub(ctx, "ADD")


@register("SUB", "int8", "int16")
def sub_int8(ctx: OpContext) -> EvalFn:
    """SUB int8/int16 (TFLM ``sub.cc``): as ADD, subtracting the two rounded scaled inputs."""
    return _add_sub(ctx, "SUB")


@register("MUL", "int8", "int16")
def mul_int8(ctx: OpContext) -> EvalFn:
    """MUL int8/int16 (TFLM ``mul_common.cc``): one MBQM of the zero-point-free product; int16 needs
    zero points 0 on both inputs and the output (TFLM refuses otherwise)."""
    t = _binary(ctx)
    (s1, z1), (s2, z2), (so, zo) = _qparams3(ctx, t)
    lo, hi = activation_clamp(ctx, t.out)
    m, s = fp.quantize_multiplier(fp.REAL_MULTIPLIERS["MUL"](s1, s2, so))
    if t.out.dtype == np.int8:
        gated = fused.gated_kernel(ctx, lambda q1, q2: mul_int(q1, q2, z1, z2, m, s, zo, lo, hi))
        if gated is not None:  # MUL(x, LOGISTIC(x)) and the like: one table of x (fused.py)
            return gated
        return _pair_eval(pair_table("MUL", (z1, z2, m, s, zo, lo, hi)), ctx.scratch(t.shape, np.uint16))
    _require_zero_points(ctx, t, (z1, z2, zo))
    return _mul_int16(ctx, t, m, s, lo, hi)


def _mbqm_inplace(x: np.ndarray, multiplier: int, shift: int, rem: np.ndarray) -> None:
    """x = MBQM(x, M, shift) in place (double rounding) for int64 x holding int32 values: the left
    shift wraps to int32 as TFLM's ``x * (1 << left_shift)`` does; ``rem`` is an int64 scratch."""
    left, right = max(shift, 0), max(-shift, 0)
    if left:
        x <<= left
        x += 1 << 31
        x &= 0xFFFFFFFF
        x -= 1 << 31
    _srdhm_inplace(x, multiplier)
    _rdbpot_inplace(x, right, rem)


def _mul_int16(ctx: OpContext, t: _Binary, m: int, s: int, lo: int, hi: int) -> EvalFn:
    ir, irem = ctx.scratch(t.shape, np.int64), ctx.scratch(t.shape, np.int64)

    def eval_(ins, outs, tmp):
        x = tmp[ir]
        np.multiply(ins[0], ins[1], out=x, dtype=np.int64)  # |q1·q2| ≤ 2^30: fits int32 as in TFLM
        _mbqm_inplace(x, m, s, tmp[irem])
        _finish(x, 0, lo, hi, outs[0])

    return eval_


@register("SQUARED_DIFFERENCE", "int8", "int16")
def squared_difference_int8(ctx: OpContext) -> EvalFn:
    """SQUARED_DIFFERENCE int8/int16 (TFLM ``squared_difference.cc``): the inputs rescaled as in ADD
    (left shift 7 for int8, 0 for int16), the rounded difference squared, one MBQM; no activation.
    int16 needs zero points 0 on all three tensors (TFLM refuses otherwise)."""
    t = _binary(ctx)
    (s1, z1), (s2, z2), (so, zo) = _qparams3(ctx, t)
    lo, hi = int_range(ctx, t.out)
    int8 = t.out.dtype == np.int8
    if not int8:
        _require_zero_points(ctx, t, (z1, z2, zo))
    p = squared_difference_params(s1, z1, s2, z2, so, zo, lo, hi, 7 if int8 else 0)
    if int8:
        return _pair_eval(pair_table("SQUARED_DIFFERENCE", astuple(p)), ctx.scratch(t.shape, np.uint16))
    ta = int16_scaled_table(0, 0, p.m1, p.e1)
    tb = int16_scaled_table(0, 0, p.m2, p.e2)
    ia, ib = ctx.scratch(t.a.shape, np.int32), ctx.scratch(t.b.shape, np.int32)
    ir, irem = ctx.scratch(t.shape, np.int64), ctx.scratch(t.shape, np.int64)

    def eval_(ins, outs, tmp):
        a, b, r = tmp[ia], tmp[ib], tmp[ir]
        np.take(ta, ins[0].view(np.uint16), out=a, mode="clip")
        np.take(tb, ins[1].view(np.uint16), out=b, mode="clip")
        np.subtract(a, b, out=r, dtype=np.int64)
        r *= r  # ≤ 2^30: TFLM's int32 square does not overflow
        _mbqm_inplace(r, p.mo, p.eo, tmp[irem])
        _finish(r, p.zo, p.lo, p.hi, outs[0])

    return eval_


def _require_zero_points(ctx: OpContext, t: _Binary, zps: tuple[int, int, int]) -> None:
    nonzero = [f"'{x.name}' ({z})" for x, z in zip((t.a, t.b, t.out), zps) if z != 0]
    if nonzero:
        raise ctx.fail(f"int16 {ctx.op} needs zero point 0 on both inputs and the output (TFLite Micro's rule); "
                       f"non-zero: {', '.join(nonzero)}")


def _max_min(ctx: OpContext, fn: Callable[..., np.ndarray]) -> EvalFn:
    _binary(ctx)
    for t in (ctx.input(0), ctx.input(1), ctx.outputs[0]):
        int_range(ctx, t)  # int8 / int16 only reach here; no quantization is read (TFLM reads none)

    def eval_(ins, outs, tmp):
        fn(ins[0], ins[1], out=outs[0])

    return eval_


@register("MAXIMUM", "int8", "int16")
def maximum_int8(ctx: OpContext) -> EvalFn:
    """MAXIMUM int8/int16 (TFLM ``maximum_minimum.cc``): max of the raw integers, broadcasting."""
    return _max_min(ctx, np.maximum)


@register("MINIMUM", "int8", "int16")
def minimum_int8(ctx: OpContext) -> EvalFn:
    """MINIMUM int8/int16 (TFLM ``maximum_minimum.cc``): min of the raw integers, broadcasting."""
    return _max_min(ctx, np.minimum)


# ---------------------------------------------------------------------------------------------
# Comparisons (int8 -> bool) and SELECT_V2 (int8 / int16)

COMPARISON_LEFT_SHIFT = 8  # TFLM comparisons.cc kLeftShift

_COMPARE: dict[str, Callable[..., np.ndarray]] = {
    "EQUAL": np.equal, "NOT_EQUAL": np.not_equal, "GREATER": np.greater, "GREATER_EQUAL": np.greater_equal,
    "LESS": np.less, "LESS_EQUAL": np.less_equal,
}


@lru_cache(maxsize=64)
def comparison_table(op: str, z1: int, m1: int, e1: int, z2: int, m2: int, e2: int) -> np.ndarray:
    """Read-only bool table ``T[byte(q1)·256 + byte(q2)]`` of an int8 comparison: both sides rescaled
    to ``MBQM<1((q − z)·2^8, M(s), e(s))`` (the scale itself is the multiplier) and compared."""
    q1, q2 = pair_operands()
    a = scaled_input(q1, z1, COMPARISON_LEFT_SHIFT, m1, e1)
    b = scaled_input(q2, z2, COMPARISON_LEFT_SHIFT, m2, e2)
    table = _COMPARE[op](a, b)
    table.flags.writeable = False
    return table


def _comparison(ctx: OpContext) -> EvalFn:
    ctx.check_arity(2)
    a, b = ctx.input(0), ctx.input(1)
    if b.dtype != a.dtype:
        raise ctx.fail(f"inputs have different dtypes {a.dtype} ('{a.name}') and {b.dtype} ('{b.name}')")
    shape = broadcast(ctx, a.shape, b.shape)
    ctx.set_output(0, shape, np.bool_)
    sides = []
    for t in (a, b):
        s, z = per_tensor(ctx, t)
        if not 0.0 < s < 1.0:
            raise ctx.fail(f"tensor '{t.name}' has scale {s:g}; TFLite Micro's int8 comparisons use the scale as a "
                           "multiplier below 1 (QuantizeMultiplierSmallerThanOneExp) and abort otherwise")
        sides += [z, *fp.quantize_multiplier(s)]
    return _pair_eval(comparison_table(ctx.op, *sides), ctx.scratch(shape, np.uint16))


for _op in _COMPARE:
    register(_op, "int8")(_comparison)


@register("SELECT_V2", "int8", "int16")
def select_v2_int8(ctx: OpContext) -> EvalFn:
    """SELECT_V2 int8/int16 (TFLM ``micro/kernels/select.cc``): ``where(condition, x, y)`` on the raw
    integers, broadcasting all three; no quantization is read or checked (TFLM reads none)."""
    ctx.check_arity(3)
    c, x, y = ctx.input(0), ctx.input(1), ctx.input(2)
    if c.dtype != np.bool_:
        raise ctx.fail(f"condition '{c.name}' must be bool, got {c.dtype}")
    if x.dtype != y.dtype or ctx.outputs[0].dtype != x.dtype:
        raise ctx.fail(f"'{x.name}', '{y.name}' and the output must share one dtype, got {x.dtype}, {y.dtype} -> "
                       f"{ctx.outputs[0].dtype}")
    ctx.set_output(0, broadcast(ctx, c.shape, x.shape, y.shape))

    def eval_(ins, outs, tmp):
        np.copyto(outs[0], ins[2])
        np.copyto(outs[0], ins[1], where=ins[0])

    return eval_


# ---------------------------------------------------------------------------------------------
# ABS (int8 / int16)


def abs_multiplier(input_scale: float, output_scale: float) -> tuple[int, int] | None:
    """ABS's (M, shift), or None when the two float32 scales are equal (no rescale). TFLM's source
    (``elementwise.cc`` SetAbsOutputMultiplier) divides in float32; the tflite-micro build we test
    divides in double, ``REAL_MULTIPLIERS["ABS"]`` (found by the int16 sweeps in
    tests/runtime/kernels/quantized/test_elementwise.py); LiteRT BUILTIN_REF divides in float32."""
    if np.float32(input_scale) == np.float32(output_scale):
        return None
    return fp.quantize_multiplier(fp.REAL_MULTIPLIERS["ABS"](input_scale, output_scale))


def abs_int(q: np.ndarray, zi: int, zo: int, multiplier: tuple[int, int] | None, lo: int, hi: int) -> np.ndarray:
    """The plain integer ABS of TFLM: ``v = |q − z_in|``; ``clamp(v + z_out)`` without rescale, else
    ``clamp(MBQM(v, M, s) + z_out)``."""
    v = np.abs(np.asarray(q, np.int64) - zi)
    if multiplier is not None:
        v = fp.mbqm(v, *multiplier)
    return np.clip(v + zo, lo, hi)


@lru_cache(maxsize=64)
def abs_table(dtype: str, zi: int, zo: int, multiplier: tuple[int, int] | None) -> np.ndarray:
    """Read-only table of ``abs_int`` over every int8 / int16 value, indexed by the raw unsigned bits."""
    bits = np.dtype(dtype).itemsize * 8
    q = np.arange(1 << bits, dtype=f"uint{bits}").view(dtype)
    lo, hi = INT_RANGES[dtype]
    table = abs_int(q, zi, zo, multiplier, lo, hi).astype(dtype)
    table.flags.writeable = False
    return table


@register("ABS", "int8", "int16")
def abs_int8(ctx: OpContext) -> EvalFn:
    """ABS int8/int16 (TFLM ``micro/kernels/elementwise.cc`` AbsEvalQuantized): one table lookup.
    int16 needs zero points 0; an int16 tensor without quantization is a plain integer ABS (TFLM's
    non-quantized int16 path), wrapping |−32768| to −32768 as the C++ cast to int16 does."""
    ctx.check_arity(1)
    x, out = ctx.input(0), ctx.outputs[0]
    if out.dtype != x.dtype:
        raise ctx.fail(f"input '{x.name}' is {x.dtype} but output '{out.name}' is {out.dtype}; ABS keeps the dtype")
    ctx.set_output(0, x.shape)
    if x.dtype == np.int16 and x.quantization is None and out.quantization is None:
        def eval_raw(ins, outs, tmp):
            np.abs(ins[0], out=outs[0])
        return eval_raw
    (si, zi), (so, zo) = per_tensor(ctx, x), per_tensor(ctx, out)
    if x.dtype == np.int16 and (zi, zo) != (0, 0):
        raise ctx.fail(f"int16 ABS needs zero point 0 on '{x.name}' ({zi}) and '{out.name}' ({zo}) "
                       "(TFLite Micro's rule)")
    table = abs_table(x.dtype.name, zi, zo, abs_multiplier(si, so))
    unsigned = np.dtype(f"uint{x.dtype.itemsize * 8}")

    def eval_(ins, outs, tmp):
        np.take(table, ins[0].view(unsigned), out=outs[0], mode="clip")  # indices < table size

    return eval_


# ---------------------------------------------------------------------------------------------
# DIV (int8)

#: DIV's output shift range: above it TFLM's final RoundingDivideByPOT gets a negative exponent,
#: below it an exponent ≥ 64 (``1ll << e`` undefined even on x86); both are refused.
DIV_MAX_SHIFT = 22
DIV_MIN_SHIFT = -25


def _clz32(v: np.ndarray) -> np.ndarray:
    """CountLeadingZeros of uint32 values held in int64 (32 for 0)."""
    bits = np.frexp(np.maximum(v, 1).astype(np.float64))[1].astype(np.int64)  # bit length, exact below 2^53
    return np.where(v == 0, 32, 32 - bits)


def _clrsb32(x: np.ndarray) -> np.ndarray:
    """CountLeadingSignBits of int32 values (``__builtin_clrsb``; 31 for 0)."""
    return np.where(x >= 0, _clz32(x), _clz32(~x)) - 1


def rdbpot_x86(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT as the x86 build of TFLM computes it for any exponent in
    [0, 63] (DIV's exponents ``31 − clz(x2) + clrsb(x1) − s`` stay there for s in
    [DIV_MIN_SHIFT, DIV_MAX_SHIFT]): ``mask = int32((1ll << e) − 1)`` (all ones from e = 32 on)
    and ``x >> e`` with the count taken mod 32 (the x86 ``sar``). Equals ``fixed_point.rdbpot``
    for e ≤ 31; e ≥ 32 is undefined C++ that TFLM's DIV reaches on ordinary inputs (small
    quotients)."""
    x, e = np.asarray(x, np.int64), np.asarray(exponent, np.int64)
    mask = fp.wrap_int32((np.int64(1) << e) - 1)
    threshold = (mask >> 1) + (x < 0)
    return (x >> (e & 31)) + (fp.wrap_int32(x & mask) > threshold)


def div_int(q1: np.ndarray, q2: np.ndarray, z1: int, z2: int, m: int, s: int, zo: int, lo: int, hi: int) -> np.ndarray:
    """The plain integer DIV of TFLM (``reference/div.h`` DivElementwise), x86 build, broadcasting:

        x1, x2 = q1 − z1, q2 − z2;  if x2 < 0: x1, x2 = −x1, −x2
        recip, rs = GetReciprocal(x2, 31)          # Q0.31 of 1 / (x2 / 2^rs), gemmlowp Newton
        h = CountLeadingSignBits(x1)
        y = RDBPOT(SRDHM(SRDHM(x1 · 2^h, recip), M), −(s − rs − h)) + zo, clamped

    A zero divisor (x2 = 0, only DCHECKed in TFLM) gives what the x86 build gives: the shift
    ``x2 << 32`` is ``x2 << 0`` there, so recip = one_over_one_plus_x(−2^31) and rs = −1."""
    x1 = np.asarray(q1, np.int64) - z1
    x2 = np.asarray(q2, np.int64) - z2
    x1, x2 = np.broadcast_arrays(x1, x2)
    x1 = np.where(x2 < 0, -x1, x1)
    x2 = np.abs(x2)
    h2 = _clz32(x2)
    recip = gemmlowp.one_over_one_plus_x_for_x_in_0_1(((x2 << (h2 & 31)) & 0xFFFFFFFF) - (1 << 31))
    headroom = _clrsb32(x1)
    unscaled = fp.srdhm(x1 << headroom, recip)  # x1·2^headroom fits int32 by definition
    total_shift = s - (31 - h2) - headroom
    return np.clip(fp.wrap_int32(rdbpot_x86(fp.srdhm(unscaled, m), -total_shift) + zo), lo, hi)


@register("DIV", "int8")
def div_int8(ctx: OpContext) -> EvalFn:
    """DIV int8 (TFLM ``micro/kernels/div.cc`` + ``reference/div.h``): one table over every pair of
    ``div_int``, fused activation. Where TFLM's arithmetic is undefined C++ (a zero divisor, and
    shift exponents ≥ 32, reached whenever |x1| is small and |x2| large, e.g. −31 / −128 with unit
    scales gives 127) this follows the x86 build of the tflite-micro wheel and of LiteRT (Arm builds
    may differ). LiteRT BUILTIN_REF runs the same integer code with the float32 multiplier of the
    TFLM source (the wheel uses double, ``REAL_MULTIPLIERS["DIV"]``) and refuses a zero divisor."""
    t = _binary(ctx)
    (s1, z1), (s2, z2), (so, zo) = _qparams3(ctx, t)
    lo, hi = activation_clamp(ctx, t.out)
    m, s = fp.quantize_multiplier(fp.REAL_MULTIPLIERS["DIV"](s1, s2, so))
    if m and not DIV_MIN_SHIFT <= s <= DIV_MAX_SHIFT:
        raise ctx.fail(f"real multiplier s1/(s2·s_out) = {fp.exact_real_multiplier(m, s):g} is outside "
                       f"[2^{DIV_MIN_SHIFT - 1}, 2^{DIV_MAX_SHIFT - 1}): TFLite Micro's int8 DIV then shifts by "
                       "amounts C++ leaves undefined; rescale the tensors")
    return _pair_eval(pair_table("DIV", (z1, z2, m, s, zo, lo, hi)), ctx.scratch(t.shape, np.uint16))


# ---------------------------------------------------------------------------------------------
# RSQRT (int8)

RSQRT_SHIFT = 20  # TFLM RsqrtEvalQuantized kShift: keeps the intermediate 1/sqrt an integer


def _srmbpot(x: int, exponent: int) -> int:
    return int(fp.saturating_rounding_multiply_by_pot(x, exponent))


def _srdhm(a: int, b: int) -> int:
    return int(fp.srdhm(a, b))


def inv_sqrt_quantized_multiplier_exp(value: int) -> tuple[int, int]:
    """GetInvSqrtQuantizedMultiplierExp(value, kReverseShift = −1) (TFLM ``kernels/internal/common.h``):
    (M, left shift) with ``M · 2^(shift − 31) ≈ 1/sqrt(value)``, by 5 gemmlowp Newton–Raphson steps
    in Q3.28 from x = 1 (``x ← 1.5·x − (v/2)·x³``), then ``· sqrt(2)/2`` (value normalized to
    [2^27, 2^29) by an even left shift). value ≤ 1 gives (INT32_MAX, 0). Scalar, exact."""
    if value <= 1:
        return fp.INT32_MAX, 0
    shift = 11
    while value >= 1 << 29:
        value //= 4
        shift += 1
    pairs = (32 - value.bit_length() - 1) // 2 - 1
    shift -= pairs
    value <<= 2 * pairs
    half_input = _srmbpot(value >> 1, -1)  # F3
    half_three = (1 << 28) + (1 << 27)  # 1.5 in F3
    x = 1 << 28  # F3 one
    for _ in range(5):
        x3 = _srmbpot(_srdhm(_srdhm(x, x), x), 6)  # F9 -> F3
        x = _srmbpot(int(fp.wrap_int32(_srdhm(half_three, x) - _srdhm(half_input, x3))), 3)  # F6 -> F3
    x = _srdhm(x, 1518500250)  # · sqrt(2)/2 (F0)
    if shift < 0:
        x = int(fp.wrap_int32(x << -shift))
        shift = 0
    return x, -shift


def rsqrt_multiplier(input_scale: float, output_scale: float) -> tuple[int, int]:
    """RSQRT's output (M, shift): QuantizeMultiplier(``1 / (sqrt(s_in) · s_out)``) — the tflite-micro
    wheel evaluates it in double (``REAL_MULTIPLIERS["RSQRT"]``; its source writes float32
    sqrt and product)."""
    return fp.quantize_multiplier(fp.REAL_MULTIPLIERS["RSQRT"](input_scale, output_scale))


@lru_cache(maxsize=1 << 16)
def rsqrt_data(v: int) -> int:
    """``MBQM(1, Mv, sv + 20)`` with (Mv, sv) = ``inv_sqrt_quantized_multiplier_exp(v)``: 1/sqrt(v)
    as an integer scaled by 2^20, for v ≥ 1 (memoized: it does not depend on the scales)."""
    mv, sv = inv_sqrt_quantized_multiplier_exp(v)
    return int(fp.mbqm(1, mv, sv + RSQRT_SHIFT))


def rsqrt_int(q: np.ndarray, zi: int, m: int, s: int, zo: int, lo: int, hi: int) -> np.ndarray:
    """The plain integer RSQRT of TFLM (``micro/kernels/elementwise.cc`` RsqrtEvalQuantized) for
    ``v = q − z_in ≥ 0``: v = 0 → hi; else ``y = MBQM(rsqrt_data(v), M, s − 20) + z_out``, clamped.
    (v < 0 is refused by TFLM at invoke; such entries here are hi and never used.)"""
    v = np.asarray(q, np.int64) - zi
    data = np.array([rsqrt_data(t) if t > 0 else 0 for t in v.ravel().tolist()], np.int64).reshape(v.shape)
    return np.where(v > 0, np.clip(fp.mbqm(data, m, s - RSQRT_SHIFT) + zo, lo, hi), hi)


@lru_cache(maxsize=64)
def rsqrt_table(dtype: str, zi: int, m: int, s: int, zo: int) -> np.ndarray:
    """Read-only table of ``rsqrt_int`` over every int8 / int16 value, indexed by the raw unsigned bits."""
    info = np.iinfo(dtype)
    q = np.arange(1 << info.bits, dtype=f"uint{info.bits}").view(dtype)
    table = rsqrt_int(q, zi, m, s, zo, int(info.min), int(info.max)).astype(dtype)
    table.flags.writeable = False
    return table


def _table_unary(ctx: OpContext, whose: str) -> tuple[TensorSpec, tuple[float, int], tuple[float, int]]:
    """Prepare of a one-input table op (RSQRT, EXP, LOG): the same dtype in and out, per-tensor
    parameters on both, zero points 0 for int16 (``whose`` rule: TFLite Micro's or LiteRT's).
    Returns (input tensor, (s_in, z_in), (s_out, z_out)); the output shape is set."""
    ctx.check_arity(1)
    x, out = ctx.input(0), ctx.outputs[0]
    if out.dtype != x.dtype:
        raise ctx.fail(f"input '{x.name}' is {x.dtype} but output '{out.name}' is {out.dtype}; {ctx.op} keeps the dtype")
    ctx.set_output(0, x.shape)
    (si, zi), (so, zo) = per_tensor(ctx, x), per_tensor(ctx, out)
    if x.dtype == np.int16 and (zi, zo) != (0, 0):
        raise ctx.fail(f"int16 {ctx.op} needs zero point 0 on '{x.name}' ({zi}) and '{out.name}' ({zo}) "
                       f"({whose}'s rule)")
    return x, (si, zi), (so, zo)


@register("RSQRT", "int8", "int16")
def rsqrt_int8(ctx: OpContext) -> EvalFn:
    """RSQRT int8 / int16 (TFLM ``micro/kernels/elementwise.cc`` RsqrtEvalQuantized; the tflite-micro
    wheel runs int16 too, with zero points 0, and this follows it): one table lookup. An input below
    its zero point (a negative real value) is an error at invoke, as in TFLM ("Rsqrt is only defined
    for positive values"): one extra ``min`` pass. LiteRT's int16 RSQRT is a float-built 513-entry LUT
    that differs from TFLM on up to 40% of the values (docs/int8-findings.md)."""
    x, (si, zi), (so, zo) = _table_unary(ctx, "TFLite Micro")
    table = rsqrt_table(x.dtype.name, zi, *rsqrt_multiplier(si, so), zo)
    unsigned = np.dtype(f"uint{x.dtype.itemsize * 8}")
    where = ctx.describe()

    def eval_(ins, outs, tmp):
        q = ins[0]
        if q.size and int(q.min()) < zi:
            raise RuntimeModelError(f"{where}: input '{x.name}' holds values below its zero point {zi} (negative "
                                    "reals); RSQRT is only defined for positive values")
        np.take(table, q.view(unsigned), out=outs[0], mode="clip")

    return eval_


# ---------------------------------------------------------------------------------------------
# CAST from int8

#: TFLM ``micro/kernels/cast.cc``: the output types an int8 input may be cast to.
CAST_INT8_OUTPUTS = ("int8", "int16", "int32", "uint32", "float32")


@register("CAST", "int8")
def cast_int8(ctx: OpContext) -> EvalFn:
    """CAST int8 → int8 / int16 / int32 / uint32 / float32 (TFLM ``micro/kernels/cast.cc``): a C
    ``static_cast`` of the stored integers (uint32 wraps), quantization ignored, as in TFLM."""
    ctx.check_arity(1)
    x, out = ctx.input(0), ctx.outputs[0]
    if out.dtype.name not in CAST_INT8_OUTPUTS:
        raise ctx.fail(f"CAST int8 -> {out.dtype} ('{x.name}' -> '{out.name}'): TFLite Micro casts int8 only to "
                       f"{', '.join(CAST_INT8_OUTPUTS)}")
    ctx.set_output(0, x.shape)

    def eval_(ins, outs, tmp):
        np.copyto(outs[0], ins[0], casting="unsafe")

    return eval_


# ---------------------------------------------------------------------------------------------
# EXP, LOG (int8 / int16): not in TFLite Micro; LiteRT's float-built tables


def _litert_lut(ctx: OpContext, kind: str) -> EvalFn:
    """A one-input op computed by LiteRT's float-built LUT (``float_lut.op_table``): one ``np.take``.
    Checks LiteRT's prepare makes: same dtype in and out, per-tensor quantization on both (it reads
    ``scale[0]``; a per-axis tensor is refused here), zero points 0 for int16."""
    x, (si, zi), (so, zo) = _table_unary(ctx, "LiteRT")
    table = float_lut.op_table(kind, x.dtype.name, si, zi, so, zo)
    unsigned = np.dtype(f"uint{x.dtype.itemsize * 8}")

    def eval_(ins, outs, tmp):
        np.take(table, ins[0].view(unsigned), out=outs[0], mode="clip")  # indices < table size

    return eval_


@register("EXP", "int8", "int16")
def exp_int8(ctx: OpContext) -> EvalFn:
    """EXP int8/int16. TFLite Micro has no EXP kernel for these dtypes: this follows LiteRT's reference
    kernel (``tflite/kernels/exp.cc``: LUTPopulate of ``expf``; int16 requires zero points 0)."""
    return _litert_lut(ctx, "EXP")


@register("LOG", "int8", "int16")
def log_int8(ctx: OpContext) -> EvalFn:
    """LOG int8/int16. TFLite Micro has no LOG kernel: this follows LiteRT's reference kernel
    (``tflite/kernels/elementwise.cc`` LogLUTPrepare: ``logf``, and x ≤ 0 maps to the real value of
    the output's lowest integer; int16 requires zero points 0)."""
    return _litert_lut(ctx, "LOG")


# ---------------------------------------------------------------------------------------------
# NEG (int8 / int16)


@register("NEG", "int8", "int16")
def neg_int(ctx: OpContext) -> EvalFn:
    """NEG int8/int16. TFLite Micro has no int8 or int16 NEG kernel ("Type INT8 not supported" at
    invoke): this follows LiteRT's reference kernel (``tflite/kernels/neg.cc``: ``reference_ops::Negate``
    on the raw integers), ``out = −q`` wrapping in the dtype (−128 stays −128), the quantization
    parameters ignored. That is the negated real value only when the output has the input's scale and
    zero point ``−z_in`` (and no input is the dtype's minimum); otherwise LiteRT and this kernel return
    the same other integers, and prepare logs a warning."""
    ctx.check_arity(1)
    x, out = ctx.input(0), ctx.outputs[0]
    if out.dtype != x.dtype:
        raise ctx.fail(f"input '{x.name}' is {x.dtype} but output '{out.name}' is {out.dtype}; NEG keeps the dtype")
    ctx.set_output(0, x.shape)
    if x.quantization is not None and out.quantization is not None and len(x.quantization.scale) \
            and len(out.quantization.scale):
        (si, zi), (so, zo) = per_tensor(ctx, x), per_tensor(ctx, out)
        if np.float32(si) != np.float32(so) or zo != -zi:
            log.warning("%s: NEG on %s negates the integers (LiteRT's kernel; TFLite Micro has none): input "
                        "'%s' (scale %g, zero point %d) and output '%s' (scale %g, zero point %d) need equal "
                        "scales and opposite zero points for the result to be the negated value",
                        f"op #{ctx.index} NEG", x.dtype, x.name, si, zi, out.name,
                        so, zo)

    def eval_(ins, outs, tmp):
        np.negative(ins[0], out=outs[0])

    return eval_
