"""Zero skipping for FULLY_CONNECTED and CONV_2D (float32, int8, 16x8): work on weights proven zero at
prepare time is not done.

A constant weight (FULLY_CONNECTED ``[units, K]``, CONV_2D ``[Cout, KH, KW, Cin]``) whose pruning left

* input channels that are zero for every output channel and tap: those input columns / channels are
  not gathered and leave the GEMM (the input is gathered once into a narrower buffer, K' < K);
* output channels that are zero everywhere: not computed; their value does not depend on the input
  (the bias through the fused activation, or its requantization), so it is taken once, at prepare
  time, from the op's own kernel run on the full weights, and written as a constant.

The op then runs its *own* kernel (the function this decorator wraps) on the reduced weights, bias
and per-channel quantization, so nothing of its arithmetic is repeated here. Exactness: for int8 and
16x8 the dropped terms are exact integer zeros and the folded zero-point term ``z_in * sum_k w[c, k]``
is unchanged, so the outputs are bit-identical to the plain kernel's (tests: the trained fixtures and
the quantized kernels' random one-op cases, against the plain path and TFLite Micro). For float32 the GEMM adds the same non-zero products in another blocking order
(within float rounding of the plain path; LiteRT's own kernels differ from both by as much); and an
infinite or NaN input in a skipped column no longer turns ``x * 0`` into NaN.

Not applied (the plain kernel runs): weights not constant, a bias not constant, hybrid kernels (float
input, int8 weights: the input's per-row quantization scale depends on every column), grouped
convolutions, or when fewer than :data:`MIN_SKIPPED` of the GEMM's multiply-adds would be skipped
(the gather costs a pass over the input). Unstructured and N:M sparsity almost never zero a whole
input column or output channel, so they gain nothing here: NumPy's dense BLAS cannot skip scattered
zeros (docs/sparsity.md has the measurements).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from ..model import Quantization
from .base import EvalFn, OpContext, PrepareFn, TensorSpec

#: Switch for measurements and tests (``bench/sparsity.py`` times both paths); on by default.
ENABLED = True
#: Skip only when at least this fraction of the GEMM's multiply-adds goes (measured: docs/sparsity.md).
MIN_SKIPPED = 0.25


@dataclass(frozen=True)
class _Layout:
    in_axis: int   # the weight's input-channel axis
    out_axis: int  # its output-channel axis (0 for both ops)


LAYOUTS = {"FULLY_CONNECTED": _Layout(1, 0), "CONV_2D": _Layout(3, 0)}


def skip_zero_weights(fn: PrepareFn) -> PrepareFn:
    """Decorate the prepare function of FULLY_CONNECTED / CONV_2D with zero skipping (module docstring)."""

    @functools.wraps(fn)
    def prepare(ctx: OpContext) -> EvalFn:
        plan = _plan(ctx) if ENABLED else None
        if plan is None:
            return fn(ctx)
        return _prepare_skipping(ctx, fn, *plan)

    return prepare


def _plan(ctx: OpContext) -> tuple[np.ndarray, np.ndarray] | None:
    """(kept input channels, kept output channels) when skipping applies and pays, else None."""
    layout = LAYOUTS.get(ctx.op)
    if layout is None or len(ctx.inputs) < 2 or ctx.inputs[0] is None or ctx.inputs[1] is None:
        return None
    x, w = ctx.inputs[0], ctx.inputs[1]
    bias = ctx.inputs[2] if len(ctx.inputs) > 2 else None
    if not w.is_const or x.is_const or (bias is not None and not bias.is_const) or len(ctx.outputs) != 1:
        return None
    if w.dtype not in (np.float32, np.int8) or (w.dtype == np.int8) != (x.dtype in (np.int8, np.int16)):
        return None  # hybrid kernels, or dtypes the kernel will refuse itself
    if x.dtype == np.float32 and w.dtype != np.float32:
        return None
    expected_rank = 2 if ctx.op == "FULLY_CONNECTED" else 4
    if w.rank != expected_rank or w.size == 0:
        return None
    k = w.shape[layout.in_axis]
    if ctx.op == "CONV_2D" and (x.rank != 4 or x.shape[3] != k):
        return None  # grouped convolution (or a shape the kernel refuses)
    if ctx.op == "FULLY_CONNECTED" and (k <= 0 or x.size % k or int(ctx.opt("weights_format", 0)) != 0):
        return None
    if bias is not None and bias.size != w.shape[layout.out_axis]:
        return None
    nz = w.data != 0  # per plan, not cached: a mask of every weight held for the interpreter's life costs more
    other_in = tuple(a for a in range(w.rank) if a != layout.in_axis)
    other_out = tuple(a for a in range(w.rank) if a != layout.out_axis)
    keep_in = np.flatnonzero(nz.any(axis=other_in))
    keep_out = np.flatnonzero(nz.any(axis=other_out))
    cout = w.shape[layout.out_axis]
    if keep_out.size == 0 or keep_in.size == 0:
        return None  # a constant output: nothing left to compute (rare; the plain kernel handles it)
    skipped = 1.0 - (keep_in.size * keep_out.size) / (k * cout)
    if skipped < MIN_SKIPPED:
        return None
    return keep_in, keep_out


def _subset_quant(q: Quantization | None, keep: np.ndarray) -> Quantization | None:
    """Per-channel (axis 0) quantization of the kept output channels; per-tensor is unchanged."""
    if q is None or len(q.scale) <= 1:
        return q
    zp = q.zero_point if len(q.zero_point) == len(q.scale) else np.zeros(len(q.scale), np.int64)
    return replace(q, scale=np.asarray(q.scale)[keep], zero_point=np.asarray(zp)[keep])


def _prepare_skipping(ctx: OpContext, fn: PrepareFn, keep_in: np.ndarray, keep_out: np.ndarray) -> EvalFn:
    layout = LAYOUTS[ctx.op]
    x, w = ctx.inputs[0], ctx.inputs[1]
    assert x is not None and w is not None
    bias = ctx.inputs[2] if len(ctx.inputs) > 2 else None
    k, cout = w.shape[layout.in_axis], w.shape[layout.out_axis]
    all_out = keep_out.size == cout

    # 1. The plain kernel, prepared as usual: it validates the op, shapes the output, and (once, when
    # output channels are dropped) gives the dead channels' input-independent values.
    # (its own memo: the full weights' prepared forms are not kept next to the reduced ones)
    plain_ctx = replace(ctx, scratch_specs=[], outputs=[replace(o) for o in ctx.outputs], memo={})
    plain = fn(plain_ctx)
    out_shape = plain_ctx.outputs[0].shape
    ctx.set_output(0, out_shape)
    dead_values = None
    if not all_out:
        dead_values = ctx.cached(f"zeroskip_dead_{out_shape}", w.data,
                                 lambda _: _dead_values(plain, plain_ctx, x, keep_out, cout))
        if dead_values is None:
            return _adopt(ctx, plain, plain_ctx)

    # 2. The same kernel on the reduced problem.
    wr = ctx.cached("zeroskip_weights", w.data,
                    lambda a: np.ascontiguousarray(np.take(np.take(a, keep_out, axis=layout.out_axis),
                                                           keep_in, axis=layout.in_axis)))
    br = None if bias is None else ctx.cached("zeroskip_bias", bias.data,  # type: ignore[arg-type]
                                              lambda a: np.ascontiguousarray(a.reshape(-1)[keep_out]))
    if ctx.op == "FULLY_CONNECTED":
        rows = x.size // k
        x_red_shape: tuple[int, ...] = (rows, keep_in.size)
        options = dict(ctx.options, keep_num_dims=False)
    else:
        x_red_shape = x.shape[:3] + (keep_in.size,)
        options = dict(ctx.options)
    inputs: list[TensorSpec | None] = [
        replace(x, shape=x_red_shape),
        replace(w, shape=wr.shape, data=wr, quantization=_subset_quant(w.quantization, keep_out)),
    ]
    if len(ctx.inputs) > 2:
        inputs.append(None if bias is None else replace(bias, shape=br.shape, data=br,  # type: ignore[union-attr]
                                                        quantization=_subset_quant(bias.quantization, keep_out)))
    out = ctx.outputs[0]
    sub = replace(ctx, options=options, inputs=inputs, outputs=[replace(out, quantization=out.quantization)],
                  scratch_specs=[])
    inner = fn(sub)
    red_out_shape = sub.outputs[0].shape
    base = len(ctx.scratch_specs)
    for shape, dtype in sub.scratch_specs:
        ctx.scratch(shape, dtype)
    n_inner = len(sub.scratch_specs)
    ix = ctx.scratch(x_red_shape, x.dtype)
    io = None if all_out else ctx.scratch(red_out_shape, out.dtype)
    wdata, bdata = wr, br
    in_axis = 1 if ctx.op == "FULLY_CONNECTED" else 3

    def eval_(ins, outs, tmp):  # type: ignore[no-untyped-def]
        xg = tmp[ix]
        src = ins[0].reshape(-1, k) if ctx.op == "FULLY_CONNECTED" else ins[0]
        np.take(src, keep_in, axis=in_axis, out=xg)
        o = outs[0]
        if io is None:
            inner([xg, wdata, bdata], [o.reshape(red_out_shape)], tmp[base:base + n_inner])
            return
        r = tmp[io]
        inner([xg, wdata, bdata], [r], tmp[base:base + n_inner])
        o2 = o.reshape(-1, cout)
        o2[:] = dead_values
        o2[:, keep_out] = r.reshape(-1, keep_out.size)

    return eval_


def _adopt(ctx: OpContext, plain: EvalFn, plain_ctx: OpContext) -> EvalFn:
    """Use the plain kernel prepared on ``plain_ctx`` for ``ctx`` (its scratch buffers re-requested)."""
    base = len(ctx.scratch_specs)
    for shape, dtype in plain_ctx.scratch_specs:
        ctx.scratch(shape, dtype)
    n = len(plain_ctx.scratch_specs)

    def eval_(ins, outs, tmp):  # type: ignore[no-untyped-def]
        plain(ins, outs, tmp[base:base + n])

    return eval_


def _dead_values(plain: EvalFn, plain_ctx: OpContext, x: TensorSpec, keep_out: np.ndarray,
                 cout: int) -> np.ndarray | None:
    """One row of the plain kernel's output (length ``cout``) whose dead channels hold their constant
    value, or None when the values are not the same at every position (then nothing is skipped)."""
    zp = 0
    if x.quantization is not None and len(x.quantization.zero_point):
        zp = int(x.quantization.zero_point[0])
    xs = np.full(x.shape, zp, x.dtype)
    ins: list[np.ndarray | None] = [xs] + [None if t is None else t.data for t in plain_ctx.inputs[1:]]
    out = np.empty(plain_ctx.outputs[0].shape, plain_ctx.outputs[0].dtype)
    tmp = [np.empty(s, d) for s, d in plain_ctx.scratch_specs]
    with np.errstate(all="ignore"):
        plain(ins, [out], tmp)
    o2 = out.reshape(-1, cout)
    dead = np.setdiff1d(np.arange(cout), keep_out)
    if not (o2[:, dead] == o2[:1, dead]).all():
        return None
    row = o2[0].copy()
    row.flags.writeable = False
    return row

