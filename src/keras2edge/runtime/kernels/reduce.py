"""Reductions over constant axes: MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD, REDUCE_ANY,
REDUCE_ALL (``keep_dims`` option), and ARG_MAX / ARG_MIN (``output_type``)."""

from __future__ import annotations

import numpy as np

from .base import FLOAT, INDEX, EvalFn, OpContext, norm_axis, register


def _axes(ctx: OpContext, rank: int) -> tuple[int, ...]:
    raw = np.asarray(ctx.const(1, "axes")).reshape(-1)
    return tuple(sorted({norm_axis(ctx, int(a), rank) for a in raw}))


def _reduce(ctx: OpContext, fn) -> EvalFn:
    ctx.check_arity(2)
    x = ctx.input(0)
    axes = _axes(ctx, x.rank)
    keep = bool(ctx.opt("keep_dims", False))
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape)) if keep else \
        tuple(d for i, d in enumerate(x.shape) if i not in axes)
    ctx.set_output(0, shape)
    if x.size == 0 and fn in (np.max, np.min, np.mean):
        # max/min have no value; mean would be 0/0 (NaN, and NumPy warns on stderr)
        raise ctx.fail(f"cannot take the {fn.__name__} of an empty tensor")

    def eval_(ins, outs, tmp):
        fn(ins[0], axis=axes, keepdims=keep, out=outs[0])

    return eval_


for _op, _fn, _dtypes in (("MEAN", np.mean, FLOAT), ("SUM", np.sum, FLOAT + INDEX),
                          ("REDUCE_MAX", np.max, FLOAT + INDEX), ("REDUCE_MIN", np.min, FLOAT + INDEX),
                          ("REDUCE_PROD", np.prod, FLOAT + INDEX), ("REDUCE_ANY", np.any, ("bool",)),
                          ("REDUCE_ALL", np.all, ("bool",))):
    def _mk(fn):
        def prepare(ctx: OpContext) -> EvalFn:
            return _reduce(ctx, fn)
        return prepare
    register(_op, *_dtypes)(_mk(_fn))


def _arg(ctx: OpContext, fn) -> EvalFn:
    ctx.check_arity(2)
    x = ctx.input(0)
    axis = norm_axis(ctx, int(np.asarray(ctx.const(1, "axis")).reshape(-1)[0]), x.rank)
    out = ctx.outputs[0]
    if out.dtype not in (np.int32, np.int64):
        raise ctx.fail(f"output must be int32 or int64, got {out.dtype}")
    ctx.set_output(0, x.shape[:axis] + x.shape[axis + 1:])

    def eval_(ins, outs, tmp):
        np.copyto(outs[0], fn(ins[0], axis=axis), casting="unsafe")

    return eval_


@register("ARG_MAX", *FLOAT, *INDEX)
def arg_max(ctx: OpContext) -> EvalFn:
    return _arg(ctx, np.argmax)


@register("ARG_MIN", *FLOAT, *INDEX)
def arg_min(ctx: OpContext) -> EvalFn:
    return _arg(ctx, np.argmin)
