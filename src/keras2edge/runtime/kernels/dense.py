"""Matrix products, float32: FULLY_CONNECTED and BATCH_MATMUL (one BLAS GEMM each).

FULLY_CONNECTED: weights ``[units, in]``, optional bias ``[units]`` (input 2 absent or -1). The input
is flattened to ``[size / in, in]``; the output is ``[size / in, units]``, or with ``keep_num_dims``
the input's leading dims followed by ``units``. The transposed weights are used as a view (BLAS reads
them transposed, no copy).

int8 constant weights (the converter's dynamic-range mode) run the hybrid kernels of :mod:`.hybrid`.
"""

from __future__ import annotations

import numpy as np

from . import hybrid
from .base import FLOAT, EvalFn, OpContext, broadcast, fused_activation, register
from .zeroskip import skip_zero_weights


@register("FULLY_CONNECTED", *FLOAT)
@skip_zero_weights
def fully_connected_float32(ctx: OpContext) -> EvalFn:
    ctx.check_arity(2, 3, n_out=None)
    if len(ctx.outputs) != 1:
        raise ctx.fail(f"expects 1 output, got {len(ctx.outputs)} (shuffled weight formats are not supported)")
    x, w = ctx.input(0), ctx.input(1)
    if w.dtype not in (np.float32, np.int8):
        raise ctx.fail(f"weights '{w.name}' are {w.dtype}; the float kernel needs float32 (or int8: hybrid) weights")
    if int(ctx.opt("weights_format", 0)) != 0:
        raise ctx.fail("only the DEFAULT weights_format is supported")
    ctx.check_rank(1, 2)
    units, k = w.shape
    if k <= 0 or x.size % k:
        raise ctx.fail(f"input {list(x.shape)} has {x.size} values, not a multiple of the weights' input size {k}")
    batch = x.size // k
    bias = ctx.opt_input(2)
    if bias is not None and (bias.dtype != np.float32 or bias.size != units):
        raise ctx.fail(f"bias '{bias.name}' must be float32 with {units} values, got {bias.dtype} {list(bias.shape)}")
    if ctx.opt("keep_num_dims", False):
        if x.shape[-1] != k:
            raise ctx.fail(f"keep_num_dims needs the input's last dim {x.shape[-1]} to equal the weights' {k}")
        ctx.set_output(0, x.shape[:-1] + (units,))
    else:
        ctx.set_output(0, (batch, units))
    if w.dtype == np.int8:
        return hybrid.prepare_fully_connected(ctx, batch, k, units)
    act = fused_activation(ctx)
    wt = w.data.T if w.is_const else None
    bconst = bias.data if bias is not None and bias.is_const else None
    has_bias = bias is not None

    def eval_(ins, outs, tmp):
        out = outs[0]
        o2 = out.reshape(batch, units)
        np.matmul(ins[0].reshape(batch, k), wt if wt is not None else ins[1].T, out=o2)
        if has_bias:
            np.add(o2, bconst if bconst is not None else ins[2], out=o2)
        act(out)

    return eval_


@register("BATCH_MATMUL", *FLOAT)
def batch_matmul_float32(ctx: OpContext) -> EvalFn:
    ctx.check_arity(2)
    a, b = ctx.input(0), ctx.input(1)
    if b.dtype == np.int8:
        return hybrid.prepare_batch_matmul(ctx)
    if b.dtype != a.dtype:
        raise ctx.fail(f"inputs have different dtypes {a.dtype} and {b.dtype}")
    if a.rank < 2 or b.rank < 2:
        raise ctx.fail("both inputs need rank >= 2")
    adj_x, adj_y = bool(ctx.opt("adj_x", False)), bool(ctx.opt("adj_y", False))
    m, ka = (a.shape[-1], a.shape[-2]) if adj_x else (a.shape[-2], a.shape[-1])
    kb, nn = (b.shape[-1], b.shape[-2]) if adj_y else (b.shape[-2], b.shape[-1])
    if ka != kb:
        raise ctx.fail(f"inner dimensions differ: {ka} vs {kb} (adj_x={adj_x}, adj_y={adj_y})")
    batch = broadcast(ctx, a.shape[:-2], b.shape[:-2])
    ctx.set_output(0, batch + (m, nn))

    def eval_(ins, outs, tmp):
        x, y = ins
        np.matmul(x.swapaxes(-1, -2) if adj_x else x, y.swapaxes(-1, -2) if adj_y else y, out=outs[0])

    return eval_
