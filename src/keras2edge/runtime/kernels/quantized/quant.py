"""Quantized quant kernels: QUANTIZE with an integer input (requantization), bit-exact with TFLite Micro.

What maps to what (TFLM = github tensorflow/tflite-micro): QUANTIZE int→int ←
``tensorflow/lite/micro/kernels/quantize_common.cc`` (PrepareQuantizeReference, EvalQuantizeReference)
and ``tensorflow/lite/kernels/internal/reference/requantize.h`` (Requantize).

    (M, s) = QuantizeMultiplier(double(s_in) / double(s_out))        # fixed_point.REAL_MULTIPLIERS
    y      = clamp(MBQM(q − z_in, M, s) + z_out, out_min, out_max)   # int32 arithmetic, C wrap

TFLM's input → output pairs, the only ones accepted here (others are refused naming these):
int8 → int8 / uint8 / int16 / int32, uint8 → int8, int16 → int8 / int16 / int32, int32 → int8 / int16.
TFLM reads the output quantization per tensor only (it refuses more than one scale), and the input's
first scale and zero point; this kernel refuses a per-axis input or output.

"Same scale" cases: when s_in == s_out the multiplier is (2^30, 1) and MBQM is the identity
(SRDHM(2x, 2^30) = x for |x| < 2^30), so y = clamp(q − z_in + z_out). TFLM additionally has a
byte-XOR fast path for int8 ↔ uint8 with zero points 128 apart; it gives the same values
(q ^ 0x80 = q ± 128), so no separate path is needed — both are covered by the tests.

Eval: for an 8- or 16-bit input the whole function is a table over every input value (256 or 65,536
entries of the output dtype, indexed by the raw unsigned bits, built in prepare by ``requantize_int``):
one ``take``. An int32 input runs ``requantize_int`` itself (the subtraction ``q − z_in`` wraps in
int32 as in C). float32 → int QUANTIZE and DEQUANTIZE are in ``kernels/quant.py``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ... import fixed_point as fp
from ..base import EvalFn, OpContext, register
from .common import INT_RANGES, per_tensor

#: TFLM's QUANTIZE integer input dtype -> output dtypes (quantize_common.cc).
REQUANTIZE_PAIRS: dict[str, tuple[str, ...]] = {
    "int8": ("int8", "uint8", "int16", "int32"),
    "uint8": ("int8",),
    "int16": ("int8", "int16", "int32"),
    "int32": ("int8", "int16"),
}


def requantize_int(q: np.ndarray, zi: int, m: int, s: int, zo: int, out_dtype: str) -> np.ndarray:
    """The plain integer Requantize of TFLM: ``clamp(MBQM(wrap32(q − zi), M, s) + zo)`` into
    ``out_dtype``'s range (int64 values). ``+ zo`` wraps in int32 first, as the C ``int32_t`` sum does."""
    lo, hi = INT_RANGES[out_dtype]
    d = fp.wrap_int32(np.asarray(q, np.int64) - zi)
    return np.clip(fp.wrap_int32(fp.mbqm(d, m, s) + zo), lo, hi)


@lru_cache(maxsize=64)
def requantize_table(in_dtype: str, zi: int, m: int, s: int, zo: int, out_dtype: str) -> np.ndarray:
    """Read-only table of ``requantize_int`` over every ``in_dtype`` value (8 or 16 bits), indexed by
    the value's raw unsigned bits."""
    bits = np.dtype(in_dtype).itemsize * 8
    q = np.arange(1 << bits, dtype=f"uint{bits}").view(in_dtype)
    table = requantize_int(q, zi, m, s, zo, out_dtype).astype(out_dtype)
    table.flags.writeable = False
    return table


@register("QUANTIZE", "int8", "uint8", "int16", "int32")
def quantize_int(ctx: OpContext) -> EvalFn:
    """QUANTIZE from an integer tensor (TFLM ``quantize_common.cc`` + ``reference/requantize.h``)."""
    ctx.check_arity(1)
    x, out = ctx.input(0), ctx.outputs[0]
    allowed = REQUANTIZE_PAIRS[x.dtype.name]
    if out.dtype.name not in allowed:
        pairs = "; ".join(f"{i} -> {', '.join(o)}" for i, o in REQUANTIZE_PAIRS.items())
        raise ctx.fail(f"QUANTIZE {x.dtype} -> {out.dtype} ('{x.name}' -> '{out.name}') is not a requantization "
                       f"TFLite Micro supports ({pairs})")
    ctx.set_output(0, x.shape)
    si, zi = per_tensor(ctx, x)
    so, zo = per_tensor(ctx, out)
    m, s = fp.quantize_multiplier(fp.REAL_MULTIPLIERS["QUANTIZE"](si, so))
    if x.dtype.itemsize <= 2:
        table = requantize_table(x.dtype.name, zi, m, s, zo, out.dtype.name)
        unsigned = np.dtype(f"uint{x.dtype.itemsize * 8}")

        def eval_(ins, outs, tmp):
            np.take(table, ins[0].view(unsigned), out=outs[0], mode="clip")  # indices < table size
        return eval_

    def eval_int32(ins, outs, tmp):
        np.copyto(outs[0], requantize_int(ins[0], zi, m, s, zo, out.dtype.name), casting="unsafe")
    return eval_int32
