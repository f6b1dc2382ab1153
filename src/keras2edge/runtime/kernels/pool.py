"""2-D pooling, float32: MAX_POOL_2D and AVERAGE_POOL_2D (NHWC).

As in TFLite, the window only covers real input pixels: with SAME padding a max ignores the padding
and an average divides by the number of input pixels under the window (padding excluded). Both loop
over the window's taps with strided slices; the per-pixel divisor is a table made in prepare.
"""

from __future__ import annotations

import numpy as np

from .base import FLOAT, EvalFn, OpContext, fused_activation, register
from .conv import _sl, _window


def _pool(ctx: OpContext, kind: str) -> EvalFn:
    ctx.check_arity(1)
    ctx.check_rank(0, 4)
    x = ctx.input(0)
    n, c = x.shape[0], x.shape[3]
    kh, kw = int(ctx.opt("filter_height", 1)), int(ctx.opt("filter_width", 1))
    sh, sw = int(ctx.opt("stride_h", 1)), int(ctx.opt("stride_w", 1))
    if kh < 1 or kw < 1:
        raise ctx.fail(f"bad filter size {kh}x{kw}")
    oh, ow, rows, cols = _window(ctx, x.shape, kh, kw, sh, sw, 1, 1, int(ctx.opt("padding", 0)))
    ctx.set_output(0, (n, oh, ow, c))
    act = fused_activation(ctx)
    taps = [(*_sl(rlo, rhi, rin, sh), *_sl(clo, chi, cin, sw)) for _, rlo, rhi, rin in rows for _, clo, chi, cin in cols]
    full = [t for t in taps if t[0] == slice(0, oh) and t[2] == slice(0, ow)]
    first = full[0] if full else None
    rest = [t for t in taps if t is not first]
    if kind == "avg":
        count = np.zeros((oh, ow), np.float32)
        for oy, _, ox, _ in taps:
            count[oy, ox] += 1
        if (count == 0).any():
            raise ctx.fail("a pooling window covers no input pixel")
        count = count[None, :, :, None]

    def eval_(ins, outs, tmp):
        xv, out = ins[0], outs[0]
        if first is not None:
            oy, iy, ox, ix = first
            np.copyto(out, xv[:, iy, ix])
        else:
            out.fill(-np.inf if kind == "max" else 0)
        fn = np.maximum if kind == "max" else np.add
        for oy, iy, ox, ix in rest:
            o = out[:, oy, ox]
            fn(o, xv[:, iy, ix], out=o)
        if kind == "avg":
            np.divide(out, count, out=out)
        act(out)

    return eval_


@register("MAX_POOL_2D", *FLOAT)
def max_pool_2d_float32(ctx: OpContext) -> EvalFn:
    return _pool(ctx, "max")


@register("AVERAGE_POOL_2D", *FLOAT)
def average_pool_2d_float32(ctx: OpContext) -> EvalFn:
    return _pool(ctx, "avg")
