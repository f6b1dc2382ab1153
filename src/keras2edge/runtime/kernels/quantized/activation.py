"""Quantized activation kernels (int8 / int16), bit-exact with TFLite Micro (TFLM).

What maps to what (TFLM = github tensorflow/tflite-micro; ``reference/`` is
``tensorflow/lite/kernels/internal/reference/``, ``micro/`` is ``tensorflow/lite/micro/kernels/``):

=============  ===========  =================================================================================
op             dtypes       TFLM files this kernel follows
=============  ===========  =================================================================================
LOGISTIC       int8, int16  ``micro/logistic_common.cc``, ``reference/integer_ops/logistic.h``
TANH           int8, int16  ``micro/tanh.cc``, ``reference/integer_ops/tanh.h``
HARD_SWISH     int8         ``micro/hard_swish_common.cc``, ``reference/hard_swish.h``
RELU           int8, int16  ``micro/activations_common.cc`` (CalculateReluOpData), ``micro/activations.h``
RELU6          int8, int16  ``micro/activations_common.cc`` (Relu6Prepare), ``micro/activations.h``
LEAKY_RELU     int8, int16  ``micro/leaky_relu_common.cc``, ``reference/leaky_relu.h``
PRELU          int8, int16  ``micro/prelu_common.cc``, ``reference/prelu.h`` (int16 input takes an int8 alpha)
SOFTMAX        int8→int8, int8→int16, int16→int16  ``micro/softmax_common.cc``, ``reference/softmax.h``
LOG_SOFTMAX    int8         ``micro/log_softmax.cc``, ``reference/log_softmax.h`` (LogSoftmaxQuantized)
RELU_N1_TO_1   int8         not in TFLM: LiteRT's reference kernel (``tflite/kernels/activations.cc``)
RELU_0_TO_1    int8         not in TFLM: LiteRT's reference kernel (``tflite/kernels/activations.cc``)
ELU            int8         ``micro/kernels/elu.cc`` (float32 LUT of ``expf(x) − 1``, ``float_lut``)
GELU           int8, int16  not in TFLM: LiteRT's ``tflite/kernels/activations.cc`` (GeluPrepare), float LUT
                            of ``reference/gelu.h`` (``runtime/float_lut.py``)
=============  ===========  =================================================================================

TFLM has no uint8 kernel for any of these ops, so none is registered here.

Every unary op is a lookup table built once in prepare by running TFLM's integer algorithm on every
possible input (256 for int8, 65536 for int16), so eval is one ``np.take`` indexed by the unsigned
view of the input: exact by construction, whatever the input. The int8 tables come from
:mod:`keras2edge.runtime.int8_tables` (proven element by element against TFLM there); the int16
ones and LEAKY_RELU's negative alpha are built here from :mod:`~keras2edge.runtime.fixed_point`.

We accept exactly what TFLM's prepare accepts and refuse, with the op and tensor named, what it
refuses (for example a LOGISTIC int8 output zero point other than −128, an int16 TANH with a
non-zero zero point, a SOFTMAX int8 output other than scale 1/256 and zero point −128). Where TFLM
silently *assumes* output parameters (LOGISTIC int8 assumes scale 1/256, TANH int8 scale 1/128 and
zero point 0) we compute what TFLM computes.

Where LiteRT's reference kernels (BUILTIN_REF) give other bytes (asserted in
``tests/runtime/kernels/quantized/test_activation.py``; docs/int8-findings.md):

* LOGISTIC / TANH int8: LiteRT uses a float LUT: ±1 at near-ties, and where TFLM saturates early
  (its input radius is up to 2× too small for coarse input scales); LiteRT also refuses a LOGISTIC
  output scale other than 1/256 and honours any TANH output parameters.
* RELU, LEAKY_RELU (int8 and int16), HARD_SWISH: LiteRT forms the real multipliers in float32, TFLM in
  double.
* RELU6: TFLM clamps the raw input to [z_in, q(6)] and ignores the output's parameters; LiteRT
  requantizes to them, so the two differ whenever input and output parameters differ.
* PRELU: TFLM also broadcasts the input (output larger than the input); LiteRT refuses that model.
* SOFTMAX int8→int8: both runtimes abort the process when a row's sum of exps reaches 512.0 (a
  row of 512 or more elements, many of them near the row's maximum): the last shift of the
  reciprocal product exceeds 31 (TFLM ``TFLITE_CHECK(exponent <= 31)`` in ``reference/softmax.h``).
  We do not crash: we compute what the formulas give with that larger shift (an int64 shift), which
  is the correctly rounded ``256·e/sum`` of the same fixed-point exps — every such element is −128 or
  −127 — and log a warning once per op that TFLite Micro would abort on this input.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ... import fixed_point as fp
from ... import float_lut, gemmlowp
from ... import int8_tables as tables
from ...errors import RuntimeModelError
from ..base import EvalFn, OpContext, TensorSpec, broadcast, register
from .common import int_range, per_tensor, take

log = logging.getLogger("keras2edge.runtime")

IntFn = Callable[[np.ndarray], np.ndarray]  # int64 q values -> int64 results (before the final clamp)

_UNSIGNED = {"int8": np.uint8, "int16": np.uint16}


# ------------------------------------------------------------------------------------------------
# Shared: one-input ops, whole-range lookup tables


def _unary_spec(ctx: OpContext) -> tuple[TensorSpec, TensorSpec]:
    """One input, one output of the input's shape and dtype (TFLM: TF_LITE_ENSURE_TYPES_EQ)."""
    ctx.check_arity(1)
    x, out = ctx.input(0), ctx.outputs[0]
    if out.dtype != x.dtype:
        raise ctx.fail(f"output '{out.name}' is {out.dtype}, input '{x.name}' is {x.dtype}; this op keeps the dtype")
    ctx.set_output(0, x.shape)
    return x, out


def table_of(fn: IntFn, dtype: np.dtype | str) -> np.ndarray:
    """``fn`` evaluated on every value of an int8/int16 ``dtype``, clamped to its range, in the order
    the *unsigned view* of the input indexes it: entry ``b`` holds the result for the value whose
    bytes read ``b`` as unsigned (int8 −1 is entry 255). Eval is then ``np.take(table, x.view(uintN))``."""
    dt = np.dtype(dtype)
    info = np.iinfo(dt)
    q = np.arange(info.min, info.max + 1, dtype=np.int64)
    t = np.clip(fn(q), info.min, info.max).astype(dt)
    return np.roll(t, t.size // 2)  # entry q − qmin -> entry (q mod 2^bits)


def _signed_order(table: np.ndarray) -> np.ndarray:
    """An ``int8_tables`` table (entry q + 128) in unsigned-view order (entry q mod 256)."""
    return np.roll(table, table.size // 2)


#: int8 tensors of at least this many elements (and an even count) are looked up two bytes at a time.
PAIR_LUT_MIN = 1 << 17


def pair_table(table: np.ndarray) -> np.ndarray:
    """A 256-entry int8 table (unsigned-view order) as a 65,536-entry uint16 one indexed by two
    consecutive input bytes read as one uint16: entry v holds the two results of v's bytes, in memory
    order (so it is right on either endianness). One ``np.take`` then maps two elements: NumPy's
    gather costs per index, not per byte, so large tensors take half the time."""
    two = np.arange(1 << 16, dtype=np.uint16).view(np.uint8).reshape(-1, 2)  # each entry's bytes
    return np.ascontiguousarray(table.view(np.uint8)[two]).reshape(-1).view(np.uint16)


def _lut_eval(table: np.ndarray, size: int = 0) -> EvalFn:
    """eval = ``common.take`` of the table (chunked ``np.take``, in range by construction), indexed by
    the unsigned view of the input, into the output;
    an int8 input of ``size`` ≥ PAIR_LUT_MIN elements (even) takes its bytes in pairs (:func:`pair_table`,
    128 KiB held by the op) when input and output are contiguous."""
    unsigned = _UNSIGNED[table.dtype.name]
    pairs = pair_table(table) if table.dtype == np.int8 and size >= PAIR_LUT_MIN and size % 2 == 0 else None

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        x, o = ins[0], outs[0]
        if pairs is not None and x.flags.c_contiguous and o.flags.c_contiguous and x.size == o.size == size:  # type: ignore[union-attr]
            take(pairs, x.reshape(-1).view(np.uint16), o.reshape(-1).view(np.uint16))  # type: ignore[union-attr]
            return
        take(table, x.view(unsigned), o)  # type: ignore[union-attr]  # arity checked

    return eval_


def _lut_kernel(ctx: OpContext, build: Callable[[TensorSpec, TensorSpec], np.ndarray]) -> EvalFn:
    """A unary op computed by a table ``build(x, out)`` (unsigned-view order), built once per interpreter
    (re-plans for another batch reuse it). Errors from the table builders get the op and tensors named."""
    x, out = _unary_spec(ctx)
    key = x.quantization.scale if x.quantization is not None else np.zeros(0)

    def make(_: np.ndarray) -> np.ndarray:
        try:
            return build(x, out)
        except RuntimeModelError as e:
            if str(e).startswith(ctx.describe()):
                raise
            raise ctx.fail(str(e)) from None

    return _lut_eval(ctx.cached("lut", key, make), int(np.prod(x.shape)))


def _require_zero_points(ctx: OpContext, *specs: TensorSpec, want: int = 0) -> None:
    """TFLM's int16 kernels: TF_LITE_ENSURE_EQ(zero_point, 0) on these tensors."""
    for t in specs:
        zp = per_tensor(ctx, t)[1]
        if zp != want:
            raise ctx.fail(f"tensor '{t.name}' ({t.dtype}) has zero point {zp}; TFLite Micro's {ctx.op} {t.dtype} "
                           f"needs zero point {want}")


# ------------------------------------------------------------------------------------------------
# LOGISTIC and TANH


def _logistic_int8(ctx: OpContext) -> Callable[[TensorSpec, TensorSpec], np.ndarray]:
    def build(x: TensorSpec, out: TensorSpec) -> np.ndarray:
        s_in, z_in = per_tensor(ctx, x)
        z_out = per_tensor(ctx, out)[1]
        if z_out != -128:  # TFLM checks the zero point only; its kernel assumes scale 1/256
            raise ctx.fail(f"output '{out.name}' has zero point {z_out}; TFLite Micro's int8 LOGISTIC needs "
                           "zero point -128 (and assumes scale 1/256)")
        return _signed_order(tables.logistic_table(s_in, z_in))
    return build


def _tanh_int8(ctx: OpContext) -> Callable[[TensorSpec, TensorSpec], np.ndarray]:
    def build(x: TensorSpec, out: TensorSpec) -> np.ndarray:
        s_in, z_in = per_tensor(ctx, x)
        per_tensor(ctx, out)  # TFLM reads nothing of it: it assumes scale 1/128, zero point 0
        return _signed_order(tables.tanh_table(s_in, z_in))
    return build


def checked_log2(x: float) -> tuple[bool, int]:
    """TFLM CheckedLog2 (``kernels/internal/quantization_util.cc``), in float32 as the C++ does:
    ``l = logf(x) · (1 / logf(2))``, ``r = roundf(l)``; returns (|l − r| < 1e−3, int(r))."""
    f32 = np.float32
    with np.errstate(all="ignore"):
        l2 = f32(np.log(f32(x))) * (f32(1.0) / f32(np.log(f32(2.0))))
    r = float(fp.round_half_away(f32(l2)))
    return bool(abs(f32(l2) - f32(r)) < f32(1e-3)), int(r)


def sigmoid16_params(input_scale: float, pot_shifts: tuple[int, ...]) -> tuple[int, int]:
    """int16 LOGISTIC/TANH prepare (TFLM ``logistic_common.cc`` / ``tanh.cc``): the input is rescaled
    to units of 1/(3·4096) (the LUT covers ±10.7). A power-of-two input scale whose shift
    ``12 + log2(s_in)`` is in ``pot_shifts`` (LOGISTIC: 0; TANH: 0 or 1) gives (0, shift): eval then
    multiplies by ``3 << shift``. Otherwise ``m = double(s_in) · 4096 · 3`` is doubled while
    ``m ≤ 32767 / 2`` and the shift ≤ 30, and the multiplier is ``int32(m)`` (truncated)."""
    pot, log2 = checked_log2(input_scale)
    shift = 12 + log2
    if pot and shift in pot_shifts:
        return 0, shift
    m = float(np.float32(input_scale)) * 4096.0 * 3.0
    shift = 0
    while m <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        m *= 2.0
    return int(m), shift


# TFLM's sigmoid_table_uint16 (``kernels/internal/common.h``), "sigmoid(i/24) in Q0.16": 256 values,
# equal to round(65536 · sigmoid(i / 24)) (capped at 65535) except at these indices, one higher.
_SIGMOID_Q16_PLUS_ONE = (4, 8, 12, 14, 15, 16, 17, 19, 20, 21, 22, 25, 27, 28, 29, 30, 31, 33, 34, 35, 37, 39, 40,
                         41, 43, 44, 45, 46, 49, 50, 54, 62, 63, 64, 66, 82, 86, 93, 100, 103, 112, 116, 135, 255)


def sigmoid_table_q16() -> np.ndarray:
    """TFLM's 256-entry uint16 sigmoid table (int64 values), as described next to ``_SIGMOID_Q16_PLUS_ONE``."""
    i = np.arange(256, dtype=np.float64)
    t = np.minimum(np.floor(65536.0 / (1.0 + np.exp(-i / 24.0)) + 0.5), 65535).astype(np.int64)
    t[list(_SIGMOID_Q16_PLUS_ONE)] += 1
    return t


def _rescale16(q: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """``(q · M + round) >> shift`` in int32 (wrapping as the C++ does for huge input scales);
    ``M = 3 << shift, shift = 0`` in the power-of-two case."""
    if multiplier == 0:
        multiplier, shift = 3 << shift, 0
    rounding = (1 << (shift - 1)) if shift > 0 else 0
    return fp.wrap_int32(q * multiplier + rounding) >> shift


def logistic_int16(q: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """int16 LOGISTIC (``reference/integer_ops/logistic.h``): |v| with v the rescaled input; the
    sigmoid table at ``|v| >> 9`` interpolated linearly by the low 9 bits (saturating from index 255);
    mirrored for v < 0; back to Q0.15 with ``>> 10`` (rounding half-up for v ≥ 0)."""
    v = _rescale16(q, multiplier, shift)
    a = np.abs(v)
    uh = a >> 9
    sig = sigmoid_table_q16()
    idx = np.minimum(uh, 254)
    inside = (sig[idx] << 9) + (a & 0x1FF) * (sig[idx + 1] - sig[idx])
    r = np.where(uh >= 255, 0x7FFF << 10, inside)
    r = np.where(v >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1)
    return fp.wrap_int16(r >> 10)


def tanh_int16(q: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """int16 TANH (``reference/integer_ops/tanh.h``): tanh(x) = 2·sigmoid(2x) − 1 on the same table,
    indexed by ``|v| >> 8`` and interpolated by the low 8 bits, then ``>> 8`` to Q0.15."""
    v = _rescale16(q, multiplier, shift)
    a = np.abs(v)
    uh = a >> 8
    sig = sigmoid_table_q16()
    idx = np.minimum(uh, 254)
    inside = (sig[idx] << 8) + (a & 0xFF) * (sig[idx + 1] - sig[idx])
    r = np.where(uh >= 255, 0xFFFF << 8, inside)
    r = np.where(v >= 0, r - (1 << 23) + (1 << 7), -r + (1 << 23) + (1 << 7) - 1)
    return fp.wrap_int16(r >> 8)


def _sigmoid_int16(ctx: OpContext, fn: Callable[[np.ndarray, int, int], np.ndarray],
                   pot_shifts: tuple[int, ...]) -> Callable[[TensorSpec, TensorSpec], np.ndarray]:
    def build(x: TensorSpec, out: TensorSpec) -> np.ndarray:
        _require_zero_points(ctx, x, out)
        pot, log2 = checked_log2(per_tensor(ctx, out)[0])
        if not (pot and log2 == -15):
            raise ctx.fail(f"output '{out.name}' has scale {per_tensor(ctx, out)[0]!r}; TFLite Micro's int16 {ctx.op} "
                           "needs 1/32768 (2^-15)")
        m, s = sigmoid16_params(per_tensor(ctx, x)[0], pot_shifts)
        return table_of(lambda q: fn(q, m, s), "int16")
    return build


@register("LOGISTIC", "int8", "int16")
def logistic_int(ctx: OpContext) -> EvalFn:
    """LOGISTIC int8 (gemmlowp fixed point: ``int8_tables.logistic_table``) and int16 (TFLM's
    interpolated sigmoid table), one table lookup per element."""
    if ctx.input(0).dtype == np.int8:
        return _lut_kernel(ctx, _logistic_int8(ctx))
    return _lut_kernel(ctx, _sigmoid_int16(ctx, logistic_int16, (0,)))


@register("TANH", "int8", "int16")
def tanh_int(ctx: OpContext) -> EvalFn:
    """TANH int8 (gemmlowp fixed point: ``int8_tables.tanh_table``) and int16 (TFLM's interpolated
    sigmoid table), one table lookup per element."""
    if ctx.input(0).dtype == np.int8:
        return _lut_kernel(ctx, _tanh_int8(ctx))
    return _lut_kernel(ctx, _sigmoid_int16(ctx, tanh_int16, (0, 1)))


# ------------------------------------------------------------------------------------------------
# HARD_SWISH, RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU


@register("HARD_SWISH", "int8")
def hard_swish_int8(ctx: OpContext) -> EvalFn:
    """HARD_SWISH int8: ``int8_tables.hard_swish_table`` (TFLM's int16 fixed-point pipeline, double
    multipliers; LiteRT forms them in float32). TFLM refuses s_in / s_out ≥ 128; so do we."""
    def build(x: TensorSpec, out: TensorSpec) -> np.ndarray:
        return _signed_order(tables.hard_swish_table(*per_tensor(ctx, x), *per_tensor(ctx, out)))
    return _lut_kernel(ctx, build)


def relu_fn(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
            qmin: int, qmax: int, low: float = 0.0, high: float | None = None, *, float32: bool = False) -> IntFn:
    """ReluQuantized / ReluX: ``clamp(z_out + MBQM(q − z_in, M, s), lo, hi)`` with
    ``lo = max(qmin, z_out + roundf(low / s_out))`` and ``hi = min(qmax, z_out + roundf(high / s_out))``
    (qmax when ``high`` is None). (M, s) from ``double(s_in) / double(s_out)`` as the TFLM build we
    test does, or from the float32 quotient (``float32=True``: LiteRT's reference kernels)."""
    if float32:
        real = float(np.float32(input_scale) / np.float32(output_scale))
    else:
        real = fp.REAL_MULTIPLIERS["RELU"](input_scale, output_scale)
    m, s = fp.quantize_multiplier(real)
    lo = max(qmin, fp.quantize_scalar(low, output_scale, output_zero_point))
    hi = qmax if high is None else min(qmax, fp.quantize_scalar(high, output_scale, output_zero_point))

    def fn(q: np.ndarray) -> np.ndarray:
        return np.clip(fp.mbqm(q - input_zero_point, m, s) + output_zero_point, lo, hi)
    return fn


@register("RELU", "int8", "int16")
def relu_int(ctx: OpContext) -> EvalFn:
    """RELU int8/int16 (TFLM ReluQuantized): requantize and clamp at q(0); int16 needs zero points 0.
    LiteRT's reference RELU forms its multiplier in float32 (int8-findings)."""
    def build(x: TensorSpec, out: TensorSpec) -> np.ndarray:
        if x.dtype == np.int16:
            _require_zero_points(ctx, x, out)
        qmin, qmax = int_range(ctx, out)
        return table_of(relu_fn(*per_tensor(ctx, x), *per_tensor(ctx, out), qmin, qmax), x.dtype)
    return _lut_kernel(ctx, build)


@register("RELU6", "int8", "int16")
def relu6_int(ctx: OpContext) -> EvalFn:
    """RELU6 int8/int16 (TFLM Relu6Prepare / Relu6Quantized): **no requantization**: the raw input
    clamped to [z_in, six], six = clamp(round(6f / s_in) + z_in) (never fails). The output's own
    parameters are ignored, as TFLM does; LiteRT requantizes to them (they differ when in ≠ out)."""
    def build(x: TensorSpec, out: TensorSpec) -> np.ndarray:
        s_in, z_in = per_tensor(ctx, x)
        per_tensor(ctx, out)
        qmin, qmax = int_range(ctx, x)
        six = min(qmax, max(qmin, fp.quantize_scalar(6.0, s_in, z_in)))
        return table_of(lambda q: np.clip(q, z_in, six), x.dtype)
    return _lut_kernel(ctx, build)


@register("RELU_N1_TO_1", "int8")
def relu_n1_to_1_int8(ctx: OpContext) -> EvalFn:
    """RELU_N1_TO_1 int8. TFLite Micro has no such kernel (its interpreter refuses the model); this
    follows LiteRT's reference kernel (Relu1Eval → QuantizedReluX(−1, 1)): ``clamp(z_out + MBQM(q −
    z_in, M, s), max(−128, z_out + round(−1/s_out)), min(127, z_out + round(1/s_out)))`` with (M, s)
    from the **float32** quotient s_in / s_out (LiteRT's ReluPrepare), MBQM double rounding."""
    def build(x: TensorSpec, out: TensorSpec) -> np.ndarray:
        return table_of(relu_fn(*per_tensor(ctx, x), *per_tensor(ctx, out), -128, 127, -1.0, 1.0, float32=True),
                        "int8")
    return _lut_kernel(ctx, build)


@register("RELU_0_TO_1", "int8")
def relu_0_to_1_int8(ctx: OpContext) -> EvalFn:
    """RELU_0_TO_1 int8. TFLite Micro has no such kernel (its interpreter refuses the model); this
    follows LiteRT's reference kernel (Relu0to1Eval → QuantizedReluX(0, 1)), as RELU_N1_TO_1 does with
    bounds 0 and 1: ``clamp(z_out + MBQM(q − z_in, M, s), max(−128, z_out), min(127, z_out + round(1/s_out)))``,
    (M, s) from the float32 quotient s_in / s_out."""
    def build(x: TensorSpec, out: TensorSpec) -> np.ndarray:
        return table_of(relu_fn(*per_tensor(ctx, x), *per_tensor(ctx, out), -128, 127, 0.0, 1.0, float32=True),
                        "int8")
    return _lut_kernel(ctx, build)


def leaky_relu_fn(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
                  alpha: float) -> IntFn:
    """QuantizeLeakyRelu as an IntFn (``int8_tables.leaky_relu_values``: TFLM's sign handling of a negative
    alpha included)."""
    def fn(q: np.ndarray) -> np.ndarray:
        return tables.leaky_relu_values(q, input_scale, input_zero_point, output_scale, output_zero_point,
                                             alpha)
    return fn


@register("LEAKY_RELU", "int8", "int16")
def leaky_relu_int(ctx: OpContext) -> EvalFn:
    """LEAKY_RELU int8/int16 (TFLM QuantizeLeakyRelu): two multipliers (identity, alpha), any zero points."""
    alpha = float(np.float32(ctx.opt("alpha", 0.2)))

    def build(x: TensorSpec, out: TensorSpec) -> np.ndarray:
        return table_of(leaky_relu_fn(*per_tensor(ctx, x), *per_tensor(ctx, out), alpha), x.dtype)
    return _lut_kernel(ctx, build)


# ------------------------------------------------------------------------------------------------
# PRELU


#: Largest alpha (in elements) for which PRELU int8 builds a (alpha, 256) table: 1 MiB.
PRELU_TABLE_MAX_ALPHA = 4096


@dataclass(frozen=True)
class PreluParams:
    """TFLM PreluParams: zero points and the two (multiplier, shift) pairs, both from double
    quotients: ``s_in / s_out`` (identity) and ``s_in · s_alpha / s_out`` (TFLM ``micro/prelu_common.cc``)."""

    input_zero_point: int
    alpha_zero_point: int
    output_zero_point: int
    multiplier_1: int
    shift_1: int
    multiplier_2: int
    shift_2: int

    @classmethod
    def of(cls, x: tuple[float, int], alpha: tuple[float, int], out: tuple[float, int]) -> PreluParams:
        m1, s1 = fp.quantize_multiplier(fp.real_multiplier_requantize(x[0], out[0]))
        m2, s2 = fp.quantize_multiplier(fp.real_multiplier_mul(x[0], alpha[0], out[0]))
        return cls(x[1], alpha[1], out[1], m1, s1, m2, s2)


def prelu_reference(x: np.ndarray, alpha: np.ndarray, p: PreluParams, qmin: int, qmax: int) -> np.ndarray:
    """TFLM BroadcastPrelu4DSlow on int64 arrays (the plain integer path): ``d = q − z_in``;
    ``MBQM(d, M1, s1)`` for d ≥ 0, else ``MBQM(d · (a − z_a), M2, s2)``; ``+ z_out``, clamped."""
    d = np.asarray(x, np.int64) - p.input_zero_point
    neg = fp.mbqm(d * (np.asarray(alpha, np.int64) - p.alpha_zero_point), p.multiplier_2, p.shift_2)
    return np.clip(np.where(d >= 0, fp.mbqm(d, p.multiplier_1, p.shift_1), neg) + p.output_zero_point, qmin, qmax)


@register("PRELU", "int8", "int16")
def prelu_int(ctx: OpContext) -> EvalFn:
    """PRELU int8 (int8 alpha) and int16 (int8 alpha, as TFLM requires; zero points 0), alpha
    broadcast against the input and the input against alpha (TFLM ``micro/prelu_common.cc``,
    ``reference/prelu.h``); alpha is read per tensor (:class:`PreluParams`).

    Fast path (int8 input, constant alpha of at most ``PRELU_TABLE_MAX_ALPHA`` elements): a table
    ``T[j, b]`` = the plain integer result for alpha element j and input byte b, computed by
    :func:`prelu_reference` on all 256 inputs, so it is exact by construction; eval writes
    ``j·256 + b`` into an int32 scratch (broadcast) and takes from the table. Otherwise eval runs
    :func:`prelu_reference` (int64)."""
    ctx.check_arity(2)
    x, a, out = ctx.input(0), ctx.input(1), ctx.outputs[0]
    if out.dtype != x.dtype:
        raise ctx.fail(f"output '{out.name}' is {out.dtype}, input '{x.name}' is {x.dtype}")
    if a.dtype != np.int8:
        raise ctx.fail(f"alpha '{a.name}' is {a.dtype}; TFLite Micro's {x.dtype} PRELU needs an int8 alpha")
    shape = broadcast(ctx, x.shape, a.shape)
    ctx.set_output(0, shape)
    if x.dtype == np.int16:
        _require_zero_points(ctx, x, out)
    params = PreluParams.of(per_tensor(ctx, x), per_tensor(ctx, a), per_tensor(ctx, out))
    qmin, qmax = int_range(ctx, out)

    if x.dtype == np.int8 and a.data is not None and a.size <= PRELU_TABLE_MAX_ALPHA:
        table = ctx.cached("prelu", a.data, lambda av: _prelu_table(av, params))
        offsets = (np.arange(a.size, dtype=np.int32) * 256).reshape(a.shape)
        idx = ctx.scratch(shape, np.int32)

        def eval_table(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
            i = tmp[idx]
            np.copyto(i, ins[0].view(np.uint8))  # type: ignore[union-attr]  # arity checked
            i += offsets
            np.take(table, i, out=outs[0], mode="clip")  # in range by construction; "raise" buffers the output

        return eval_table

    def eval_plain(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        np.copyto(outs[0], prelu_reference(ins[0], ins[1], params, qmin, qmax), casting="unsafe")  # type: ignore[arg-type]

    return eval_plain


def _prelu_table(alpha: np.ndarray, params: PreluParams) -> np.ndarray:
    """Flat int8 table: entry ``j·256 + b`` = PRELU of the int8 whose byte is b, with alpha element j."""
    q = np.arange(256, dtype=np.uint8).view(np.int8).astype(np.int64)  # byte b -> its int8 value
    t = prelu_reference(q[None, :], np.asarray(alpha, np.int64).reshape(-1, 1), params, -128, 127)
    return t.astype(np.int8).reshape(-1)


# ------------------------------------------------------------------------------------------------
# SOFTMAX


def _softmax_spec(ctx: OpContext) -> tuple[TensorSpec, TensorSpec, int]:
    """One input of rank ≥ 1, output of its shape; returns (x, out, depth of the last axis)."""
    ctx.check_arity(1)
    x, out = ctx.input(0), ctx.outputs[0]
    if x.rank < 1:
        raise ctx.fail(f"input '{x.name}' is a scalar; SOFTMAX needs rank >= 1")
    ctx.set_output(0, x.shape)
    return x, out, int(x.shape[-1])


def _softmax_int8_params(ctx: OpContext, x: TensorSpec, out: TensorSpec) -> tables.SoftmaxParams:
    """SOFTMAX int8 input: output int8 (scale exactly 1/256, zero point −128) or int16 (1/65536 within
    0.1 %, zero point −32768), as TFLM's CalculateSoftmaxParams checks; beta · s_in · 2^26 must exceed 1."""
    s_in, _ = per_tensor(ctx, x)
    s_out, z_out = per_tensor(ctx, out)
    beta = float(np.float32(ctx.opt("beta", 1.0)))
    if out.dtype == np.int16:
        want = np.float32(1.0 / 65536)
        if z_out != -32768 or not abs(np.float32(s_out) - want) <= np.float32(0.001) * want:
            raise ctx.fail(f"output '{out.name}' has scale {s_out!r}, zero point {z_out}; TFLite Micro's int8 -> int16 "
                           "SOFTMAX needs scale 1/65536 and zero point -32768")
        s_out, z_out = float(tables.SOFTMAX_OUTPUT_SCALE), tables.SOFTMAX_OUTPUT_ZERO_POINT
    elif out.dtype != np.int8:
        raise ctx.fail(f"output '{out.name}' is {out.dtype}; an int8 SOFTMAX writes int8 or int16")
    elif np.float32(s_out) != tables.SOFTMAX_OUTPUT_SCALE or z_out != tables.SOFTMAX_OUTPUT_ZERO_POINT:
        raise ctx.fail(f"output '{out.name}' has scale {s_out!r}, zero point {z_out}; TFLite Micro's int8 SOFTMAX "
                       "needs exactly scale 1/256 (0.00390625) and zero point -128")
    try:
        return tables.softmax_params(beta, s_in, s_out, z_out)
    except RuntimeModelError as e:
        raise ctx.fail(f"beta {beta} × input scale {s_in!r} is too small: {e}") from None


def softmax_int8_rows(x: np.ndarray, exp_table: np.ndarray, exp_rescaled: np.ndarray, out_bits: int,
                      warn: Callable[[], None] | None = None) -> np.ndarray:
    """TFLM reference Softmax<int8, int8|int16> over the last axis of ``x`` (int8), vectorized over
    rows; returns the int64 result before the cast (clamped to the output type).

    ``exp_table[k]`` is exp of the difference −k (Q0.31, 0 below diff_min) and ``exp_rescaled`` its
    ``rdbpot(·, 12)`` (Q12.19), so each element costs two takes. Per row: the Q12.19 sum (int32
    wrap), its reciprocal (GetReciprocal), then ``rdbpot(srdhm(recip, e), bits + 31 − out_bits)``
    offset by the output minimum. Elements beyond diff_min have e = 0 and come out at the minimum,
    as TFLM's else-branch writes. ``warn`` is called when a row's shift exceeds 31 (TFLM aborts)."""
    k = np.subtract(x.max(axis=-1, keepdims=True), x, dtype=np.int16)  # max − q in [0, 255]
    total = fp.wrap_int32(np.take(exp_rescaled, k).sum(axis=-1, keepdims=True))
    recip, bits = tables.softmax_reciprocal(total)
    shift = bits + 31 - out_bits
    if warn is not None and shift.size and int(shift.max()) > 31:
        warn()
    e = np.take(exp_table, k)
    y = fp.rdbpot(fp.srdhm(recip, e), shift)
    y += -(1 << (out_bits - 1))
    return np.clip(y, -(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1)


@register("SOFTMAX", "int8", "int16")
def softmax_int(ctx: OpContext) -> EvalFn:
    """SOFTMAX over the last axis, any leading shape: int8 → int8 (output scale 1/256, zero point
    −128, refused otherwise), int8 → int16 (1/65536, −32768) — gemmlowp fixed-point exp and
    reciprocal (``int8_tables.softmax_*``) — and int16 → int16 (TFLM's 513-entry exp and 1/(1+x)
    LUTs, :func:`softmax_int16_rows`).

    int8 → int8 rows whose sum of exps reaches 512.0 make TFLite Micro (and LiteRT) abort; we return
    the formulas' value (module docstring) and log a warning once."""
    x, out, depth = _softmax_spec(ctx)
    if x.dtype == np.int16:
        return _softmax_int16(ctx, x, out)
    p = _softmax_int8_params(ctx, x, out)
    exp_table = tables.softmax_exp_table(p)
    exp_rescaled = fp.rdbpot(exp_table, 12)
    out_bits = 8 if out.dtype == np.int8 else 16
    warned: list[bool] = []

    def warn() -> None:
        if not warned:
            warned.append(True)
            log.warning("%s: a row's sum of exps reaches 512; TFLite Micro aborts the process on this input "
                        "(reference/softmax.h TFLITE_CHECK(exponent <= 31)); keras2edge returns the formulas' "
                        "value (-128 or -127 for every element of that row)", ctx.describe())

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        y = softmax_int8_rows(ins[0], exp_table, exp_rescaled, out_bits, warn if depth >= 512 else None)  # type: ignore[arg-type]
        np.copyto(outs[0], y, casting="unsafe")

    return eval_


# int16 SOFTMAX: the two 513-entry LUTs (TFLM ``softmax_common.cc`` InitializeLutForInt16, built by
# LUTPopulate<int16_t> in ``kernels/internal/common.h``, all in float32).
_INT16_RANGE = 65535  # int16 max − min


def _exp_f32(v: np.ndarray) -> np.ndarray:
    return np.exp(np.asarray(v, np.float64)).astype(np.float32)


def _one_over_one_plus_x_f32(v: np.ndarray) -> np.ndarray:
    return (np.float32(1.0) / (np.float32(1.0) + np.asarray(v, np.float32))).astype(np.float32)


def softmax_int16_luts() -> tuple[np.ndarray, np.ndarray]:
    """(exp LUT over [−10, 0], 1/(1+x) LUT over [0, 1]), 513 int16 values each (as int64), built by
    LUTPopulateInt16<float> (``float_lut.lut_int16_513``, the same routine LiteRT's int16 tables use)
    with a correctly rounded expf (TFLM's tables match it on these two fixed ranges)."""
    r = np.float32(_INT16_RANGE)
    exp_lut = float_lut.lut_int16_513(_exp_f32, np.float32(10.0) / r, 32767, np.float32(2.0) / r, 0)
    recip_lut = float_lut.lut_int16_513(_one_over_one_plus_x_f32, np.float32(1.0) / r, -32768,
                                        np.float32(2.0) / r, 0)
    return exp_lut.astype(np.int64), recip_lut.astype(np.int64)


def lut_lookup_int16(value: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """LUTLookup(int16, 513-entry LUT): ``lut[256 + (v >> 7)]`` plus the slope to the next entry times
    the low 7 bits, ``(slope · offset + 64) >> 7``; wraps to int16."""
    v = np.asarray(value, np.int64)
    index = 256 + (v >> 7)
    offset = v & 0x7F
    base = lut[index]
    return fp.wrap_int16(base + (((lut[index + 1] - base) * offset + 64) >> 7))


def softmax_int16_exp_table(multiplier: int, shift: int, exp_lut: np.ndarray) -> np.ndarray:
    """exp of every int16 difference −k (k = 0 … 65535), Q0.15, as SoftMaxCalculateExp computes it:
    ``MBQM(−k, M, s) + 32767`` saturated to int16, then the exp LUT."""
    d = -np.arange(65536, dtype=np.int64)
    return lut_lookup_int16(np.clip(fp.mbqm(d, multiplier, shift) + 32767, -32768, 32767), exp_lut)


def softmax_int16_rows(x: np.ndarray, exp_of_diff: np.ndarray, recip_lut: np.ndarray) -> np.ndarray:
    """TFLM SoftmaxInt16 over the last axis (``reference/softmax.h``), vectorized over rows: e = exp of
    (max − q) from the 65536-entry table; the int32 sum; ``h = clz32(sum)``; the normalized sum
    ``((sum << (h − 1)) + 2^13) >> 14`` recentred by −(2^15 + 2^16) and saturated; its 1/(1+x) LUT
    value r; output ``clamp((e · r + 2^(30 − h)) >> (31 − h), 0, 32767)``."""
    k = np.subtract(x.max(axis=-1, keepdims=True), x, dtype=np.int32)  # max − q in [0, 65535]
    e = np.take(exp_of_diff, k)
    total = fp.wrap_int32(e.sum(axis=-1, keepdims=True))
    h = clz32(total)
    shifted = ((total << (h - 1)) + (1 << 13)) >> 14
    recip = lut_lookup_int16(np.clip(shifted - ((1 << 15) + (1 << 16)), -32768, 32767), recip_lut)
    right = 31 - h
    return np.clip((e * recip + (np.int64(1) << (right - 1))) >> right, 0, 32767)


def _softmax_int16(ctx: OpContext, x: TensorSpec, out: TensorSpec) -> EvalFn:
    """int16 → int16: zero points 0, output scale 1/32768 within 0.1 % (TFLM CalculateSoftmaxParams);
    ``(M, s) = QuantizeMultiplier(double(s_in) · double(beta) / (10 / 65535))``."""
    if out.dtype != np.int16:
        raise ctx.fail(f"output '{out.name}' is {out.dtype}; an int16 SOFTMAX writes int16")
    _require_zero_points(ctx, x, out)
    s_in, s_out = per_tensor(ctx, x)[0], per_tensor(ctx, out)[0]
    want = np.float32(1.0 / 32768)
    if not abs(np.float32(s_out) - want) <= np.float32(0.001) * want:
        raise ctx.fail(f"output '{out.name}' has scale {s_out!r}; TFLite Micro's int16 SOFTMAX needs 1/32768")
    beta = float(np.float32(ctx.opt("beta", 1.0)))
    m, s = fp.quantize_multiplier(float(np.float32(s_in)) * beta / (10.0 / 65535.0))
    exp_lut, recip_lut = softmax_int16_luts()
    exp_of_diff = ctx.cached("softmax16", x.quantization.scale,  # type: ignore[union-attr]  # per_tensor checked
                             lambda _: softmax_int16_exp_table(m, s, exp_lut))

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        np.copyto(outs[0], softmax_int16_rows(ins[0], exp_of_diff, recip_lut), casting="unsafe")  # type: ignore[arg-type]

    return eval_



# ------------------------------------------------------------------------------------------------
# LOG_SOFTMAX

# Q0.31 constants of TFLM's log_x_for_x_greater_than_or_equal_to_1_impl (``kernels/internal/common.h``)
_LOG_2 = 1488522236  # log(2)
_SQRT_SQRT_HALF = 1805811301  # 0.5^(1/4)
_SQRT_HALF = 1518500250  # 0.5^(1/2)
_ONE_QUARTER = 536870912  # 1/4
_ALPHA_N = 117049297  # 11/240 · 2^(1/4)
_ALPHA_D = 127690142  # 1/20 · 2^(1/4)
_ALPHA_I = 1057819769  # 2 / 2^(1/4) − 2^(1/4)
_ALPHA_F = 638450708  # 1/4 · 2^(1/4)


def clz32(v: np.ndarray) -> np.ndarray:
    """CountLeadingZeros of int32 values read as uint32 (32 for 0, 0 for negatives), exact through
    float64's frexp."""
    v = np.asarray(v, np.int64)
    return np.where(v < 0, 0, 32 - np.frexp(v.astype(np.float64))[1].astype(np.int64))


def _sat_shift_left(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """SaturatingRoundingMultiplyByPOTParam for exponent ≥ 0 (per element): ``x · 2^e`` saturated to
    int32 (``|x| > 2^(31 − e) − 1`` saturates), the identity for e = 0."""
    x, e = np.asarray(x, np.int64), np.asarray(exponent, np.int64)
    threshold = (np.int64(1) << (31 - e)) - 1
    return np.where(x > threshold, fp.INT32_MAX, np.where(x < -threshold, fp.INT32_MIN, fp.wrap_int32(x << e)))


def _sat_add(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    return np.clip(np.asarray(a, np.int64) + b, fp.INT32_MIN, fp.INT32_MAX)


def log_x_for_x_ge_1(x: np.ndarray, input_integer_bits: int, output_integer_bits: int) -> np.ndarray:
    """log(x) for x ≥ 1 given in Q(input_integer_bits), result in Q(output_integer_bits): TFLM's
    log_x_for_x_greater_than_or_equal_to_1_impl. x is normalized two ways (by its headroom, and
    premultiplied by sqrt(1/2)); the mantissa r that is smaller and the matching exponent estimate
    (±1/4) are kept; log(r) comes from a rational approximation around 2^(−1/4) (constants above),
    divided through ``gemmlowp.one_over_one_plus_x_for_x_in_0_1``; the result accumulates with one
    extra integer bit and is rescaled (saturating) at the end. Products are ``srdhm``, sums wrap."""
    acc_bits = output_integer_bits + 1
    srdhm, wrap = fp.srdhm, fp.wrap_int32
    z_a = np.asarray(x, np.int64)
    shifted_quarter = int(fp.rdbpot(_ONE_QUARTER, acc_bits))
    h_a = clz32(z_a)
    r_a = _sat_shift_left(srdhm(_sat_shift_left(z_a, h_a - 1), _SQRT_HALF), 1)
    z_a_pow2 = _sat_add(_sat_shift_left(input_integer_bits - h_a, 31 - acc_bits), shifted_quarter)
    z_b = srdhm(z_a, _SQRT_HALF)
    h_b = clz32(z_b) - 1
    r_b = _sat_shift_left(z_a, h_b)
    z_b_pow2 = _sat_add(_sat_shift_left(input_integer_bits - h_b, 31 - acc_bits), -shifted_quarter)
    r = np.minimum(r_a, r_b)
    z_pow2 = np.maximum(z_a_pow2, z_b_pow2)
    p = fp.rounding_half_sum(r, _SQRT_SQRT_HALF)
    q = wrap(r - _SQRT_SQRT_HALF)
    q = wrap(q + q)
    common_sq = srdhm(q, q)
    num = wrap(srdhm(q, r) + srdhm(srdhm(q, common_sq), _ALPHA_N))
    denom_minus_one = wrap(srdhm(p, wrap(wrap(_ALPHA_I + q) + srdhm(_ALPHA_D, common_sq))) + srdhm(_ALPHA_F, q))
    recip_denom = gemmlowp.one_over_one_plus_x_for_x_in_0_1(denom_minus_one)
    num_scaled = fp.rdbpot(num, acc_bits)  # Rescale<acc_bits> of a Q0.31 value
    total = wrap(srdhm(z_pow2, _LOG_2) + srdhm(num_scaled, recip_denom))
    return fp.saturating_rounding_multiply_by_pot(total, acc_bits - output_integer_bits)


LOG_SOFTMAX_OUTPUT_SCALE = np.float32(16.0 / 256)
LOG_SOFTMAX_OUTPUT_ZERO_POINT = 127


def log_softmax_int8_rows(x: np.ndarray, q5_of_diff: np.ndarray, exp_rescaled: np.ndarray, diff_min: int,
                          reverse_multiplier: int, reverse_shift: int) -> np.ndarray:
    """TFLM LogSoftmaxQuantized<int8> over the last axis, vectorized over rows. ``q5_of_diff[k]`` is the
    difference −k rescaled to Q5.26 (MBQM by the input multiplier), ``exp_rescaled[k]`` its exp in
    Q12.19 (0 below diff_min). Per row: the int32 sum, ``L = log(sum)`` in Q5.26, the cut-off
    ``max(diff_min − 1, MBQM(L + INT32_MIN, reverse_multiplier, reverse_shift))``; elements above it
    give ``clamp(rdbpot(q5 − L, 22) + 127)``, the others −128."""
    k = np.subtract(x.max(axis=-1, keepdims=True), x, dtype=np.int16)  # max − q in [0, 255]
    total = fp.wrap_int32(np.take(exp_rescaled, k).sum(axis=-1, keepdims=True))
    log_sum = log_x_for_x_ge_1(total, 12, 5)
    cutoff = np.maximum(diff_min - 1, fp.mbqm(fp.wrap_int32(log_sum + fp.INT32_MIN), reverse_multiplier, reverse_shift))
    y = np.clip(fp.rdbpot(fp.wrap_int32(np.take(q5_of_diff, k) - log_sum), 31 - 5 - 4) + 127, -128, 127)
    return np.where(-k.astype(np.int64) > cutoff, y, -128)


@register("LOG_SOFTMAX", "int8")
def log_softmax_int8(ctx: OpContext) -> EvalFn:
    """LOG_SOFTMAX int8 over the last axis (TFLM ``micro/log_softmax.cc``): output scale exactly 16/256
    and zero point 127 (refused otherwise), beta 1. Prepare (PreprocessLogSoftmaxScalingExp): the
    SOFTMAX input multiplier (M, L) of ``s_in · 2^26`` and diff_min, plus the reverse multiplier
    ``QuantizeMultiplierSmallerThanOneExp(2^(31 − L) / M)``; eval :func:`log_softmax_int8_rows`."""
    x, out, _ = _softmax_spec(ctx)
    if out.dtype != np.int8:
        raise ctx.fail(f"output '{out.name}' is {out.dtype}; an int8 LOG_SOFTMAX writes int8")
    s_in, _ = per_tensor(ctx, x)
    s_out, z_out = per_tensor(ctx, out)
    if np.float32(s_out) != LOG_SOFTMAX_OUTPUT_SCALE or z_out != LOG_SOFTMAX_OUTPUT_ZERO_POINT:
        raise ctx.fail(f"output '{out.name}' has scale {s_out!r}, zero point {z_out}; TFLite Micro's int8 "
                       "LOG_SOFTMAX needs exactly scale 16/256 (0.0625) and zero point 127")
    try:
        p = tables.softmax_params(1.0, s_in)
        rev_m, rev_s = fp.quantize_multiplier_smaller_than_one_exp(
            float(1 << (31 - p.left_shift)) / float(p.multiplier))
    except RuntimeModelError as e:
        raise ctx.fail(f"input scale {s_in!r} is out of LOG_SOFTMAX's range: {e}") from None
    exp_rescaled = fp.rdbpot(tables.softmax_exp_table(p), 12)
    q5_of_diff = fp.mbqm_greater_than_one(-np.arange(256, dtype=np.int64), p.multiplier, p.left_shift)

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        y = log_softmax_int8_rows(ins[0], q5_of_diff, exp_rescaled, p.diff_min, rev_m, rev_s)  # type: ignore[arg-type]
        np.copyto(outs[0], y, casting="unsafe")

    return eval_


# ------------------------------------------------------------------------------------------------
# GELU (int8 / int16): not in TFLite Micro; LiteRT's float-built tables


@register("GELU", "int8", "int16")
def gelu_int8(ctx: OpContext) -> EvalFn:
    """GELU int8/int16. TFLite Micro has no GELU kernel: this follows LiteRT's reference kernel
    (``tflite/kernels/activations.cc`` GeluPrepare/GeluEval; transforms in ``reference/gelu.h``):
    LUTPopulate of ``(0.5f·x)·erfcf(−x/√2)``, or with ``approximate`` of the tanh form, for int8 a
    256-entry table, for int16 the 513-entry interpolated one (``float_lut``). LiteRT checks no zero
    point (an int16 output zero point only shifts the table's output range, as there); per-axis
    quantization is refused (LiteRT reads ``scale[0]``)."""
    x, out = _unary_spec(ctx)
    (si, zi), (so, zo) = per_tensor(ctx, x), per_tensor(ctx, out)
    kind = "GELU_APPROXIMATE" if bool(ctx.opt("approximate", False)) else "GELU"
    return _lut_eval(float_lut.op_table(kind, x.dtype.name, si, zi, so, zo), int(np.prod(x.shape)))


@register("ELU", "int8")
def elu_int8(ctx: OpContext) -> EvalFn:
    """ELU int8 (TFLM ``micro/kernels/elu.cc``: a 256-entry table built in float32 by PopulateLookupTable,
    ``x < 0 ? expf(x) − 1 : x`` on ``s_in·(q − z_in)``, ``roundf(·(1/s_out)) + z_out`` clamped;
    ``float_lut.op_table("ELU")``). TFLM has no int16 ELU; LiteRT 2.3's BUILTIN_REF has no ELU kernel
    of version 1 at all (it refuses the model), so TFLM is the only oracle. Per-axis quantization is
    refused (TFLM reads ``params.scale``, the first scale)."""
    x, out = _unary_spec(ctx)
    (si, zi), (so, zo) = per_tensor(ctx, x), per_tensor(ctx, out)
    return _lut_eval(float_lut.op_table("ELU", "int8", si, zi, so, zo), int(np.prod(x.shape)))
