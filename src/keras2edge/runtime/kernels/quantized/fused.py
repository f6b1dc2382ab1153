"""Prepare-time fusion of an int8 binary op with the unary op that made one of its inputs from the other:
``MUL(x, G(x))`` for a table-driven gate G (LOGISTIC: swish / SiLU, the converter's form of Keras
``swish``; TANH) becomes one 256-entry table of x, bit-exact by construction.

What maps to what: MUL's output for a pair of int8 inputs is ``elementwise.mul_int`` (TFLM
``mul_common.cc``) of the two values; G's output is its own 256-entry table (``activation.py``, built
by the same builder the gate's kernel uses from the same tensors). When the gate's input IS the MUL's
other input, the pair is a function of x alone, so ``table[x] = mul_int(x, G(x))`` is what the two
kernels compute, element by element, whatever the input: one ``np.take`` instead of the pair-index
passes and a 64 KiB gather (EfficientNetB0 has 49 such MULs on full feature maps).

The gate op stays in the plan: it runs when another op reads its output, or when an observer (or
``keep_intermediates``) watches the run, which then sees every op's output as without the fusion;
otherwise prepare marks it unread and it is skipped (``prepare.Step.unread``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..base import EvalFn, OpContext, TensorSpec
from .activation import _logistic_int8, _lut_eval, _tanh_int8

#: Gates whose int8 kernel is a 256-entry table: op -> the table builder of its kernel
#: (``builder(ctx)(x, out)`` -> int8 table in unsigned-view order, entry b for the input whose byte is b).
GATES: dict[str, Callable[[OpContext], Callable[[TensorSpec, TensorSpec], np.ndarray]]] = {
    "LOGISTIC": _logistic_int8,
    "TANH": _tanh_int8,
}

#: ``pair_values(q1, q2)`` -> the binary op's int8 results for int64 input values q1 (input 0), q2 (input 1).
PairValues = Callable[[np.ndarray, np.ndarray], np.ndarray]


def self_gated(ctx: OpContext) -> tuple[int, TensorSpec, TensorSpec, str] | None:
    """For a two-input int8 op: ``(x input index, x, gate, gate op)`` when one input is ``G(x)`` of the
    other (G in :data:`GATES`, int8 in and out, same shape as the op's output), else None."""
    for g in (0, 1):
        gate, x = ctx.inputs[g], ctx.inputs[1 - g]
        if gate is None or x is None or gate.producer is None:
            continue
        op, ins = gate.producer
        if (op in GATES and ins[:1] == (x.index,) and len(ins) == 1 and x.dtype == gate.dtype == np.int8
                and ctx.outputs[0].dtype == np.int8 and x.shape == gate.shape == ctx.outputs[0].shape
                and not x.is_const):
            return 1 - g, x, gate, op
    return None


def gated_table(ctx: OpContext, pair_values: PairValues) -> tuple[int, np.ndarray] | None:
    """``(x input index, table)`` with ``table[b] = op(x, G(x))`` for the x whose byte is b (int8,
    unsigned-view order), when :func:`self_gated` finds the pattern; else None."""
    found = self_gated(ctx)
    if found is None:
        return None
    xi, x, gate, op = found
    gate_table = GATES[op](ctx)(x, gate)  # what the gate's kernel looks up, entry b for x byte b
    xv = np.arange(256, dtype=np.uint8).view(np.int8).astype(np.int64)  # x for byte b
    gv = gate_table.astype(np.int64)
    q1, q2 = (xv, gv) if xi == 0 else (gv, xv)
    table = np.asarray(pair_values(q1, q2)).astype(np.int8)
    table.flags.writeable = False
    return xi, table


def gated_kernel(ctx: OpContext, pair_values: PairValues) -> EvalFn | None:
    """The fused eval of a self-gated op (:func:`gated_table`), or None. The eval looks the table up at
    x (``activation._lut_eval``: pairs of bytes per lookup on large tensors) and never reads the gate,
    which prepare records (``ctx.unread``): with no observer the gate op is then not run at all."""
    found = gated_table(ctx, pair_values)
    if found is None:
        return None
    xi, table = found
    ctx.unread = frozenset({1 - xi})
    lut = _lut_eval(table, int(np.prod(ctx.outputs[0].shape)))
    if xi == 0:
        return lut

    def eval_(ins, outs, tmp):
        lut(ins[1:], outs, tmp)

    return eval_
