"""Float32 CONV_2D and DEPTHWISE_CONV_2D in LiteRT's reference summation order, for models with hybrid ops.

A hybrid op quantizes its float input per image with ``scale = max|x| / 127``, so a last-bit difference
before it becomes whole quantization steps after it (tests/runtime/kernels/test_hybrid_float_inputs.py;
the dynamic MobileNetV3Large differed from LiteRT by 0.8 % through its four float convolutions alone).
In a model with hybrid ops (``OpContext.hybrid_model``) the float convolutions whose depth is small
(the converter keeps float only filters under 1,024 elements) run here, bit for bit as LiteRT's
``reference_ops::Conv`` / ``DepthwiseConv``:

* ``total = 0``; for each tap (ky, kx) and, for CONV_2D, each input channel ci in order:
  ``total += float32(x * w)`` (float32 product, then float32 sum: no fused multiply-add, as the
  ai-edge-litert 2.3 x86 wheel computes, measured);
* then ``total + bias`` and the fused activation's clamp.

Taps outside the image are skipped by LiteRT; here they read a zero border, which adds ±0 to a sum
that is never −0 (it starts at +0 and x + (−x) is +0): the same result. One NumPy multiply and add
per (tap, channel) over the whole output: about ``K`` passes, so deeper filters keep the fast kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import EvalFn, OpContext, conv_out_size, fused_activation

#: the largest depth (KH·KW·Cin per group) run in the reference order; deeper filters stay on BLAS.
MAX_DEPTH = 1024


def wanted(ctx: OpContext, depth: int) -> bool:
    """Whether this float convolution runs in the reference order (a hybrid model, a small depth)."""
    return ctx.hybrid_model and depth <= MAX_DEPTH


def _pads(ctx: OpContext, h: int, w: int, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int,
          padding: int) -> tuple[int, int, int, int]:
    oh, ow = conv_out_size(padding, h, kh, sh, dh), conv_out_size(padding, w, kw, sw, dw)
    if oh <= 0 or ow <= 0:
        raise ctx.fail(f"the filter does not fit the input {h}x{w}")
    top = max((oh - 1) * sh + (kh - 1) * dh + 1 - h, 0) // 2 if padding == 0 else 0
    left = max((ow - 1) * sw + (kw - 1) * dw + 1 - w, 0) // 2 if padding == 0 else 0
    return oh, ow, top, left


def prepare(ctx: OpContext, depthwise: bool) -> EvalFn:
    """The reference-order kernel of a float CONV_2D (no groups) or DEPTHWISE_CONV_2D."""
    x, w = ctx.input(0), ctx.input(1)
    n, h, wd, cin = x.shape
    if depthwise:
        _, kh, kw, cout = w.shape
        mult = cout // cin
    else:
        cout, kh, kw, _ = w.shape
        mult = 1
    sh, sw = int(ctx.opt("stride_h", 1)), int(ctx.opt("stride_w", 1))
    dh, dw = int(ctx.opt("dilation_h_factor", 1)), int(ctx.opt("dilation_w_factor", 1))
    oh, ow, top, left = _pads(ctx, h, wd, kh, kw, sh, sw, dh, dw, int(ctx.opt("padding", 0)))
    hp = max(h + top, (oh - 1) * sh + (kh - 1) * dh + 1)
    wp = max(wd + left, (ow - 1) * sw + (kw - 1) * dw + 1)
    ctx.set_output(0, (n, oh, ow, cout))
    act = fused_activation(ctx)
    b = ctx.opt_input(2)
    ipad = ctx.scratch((n, hp, wp, cin * mult))
    m = n * oh * ow
    # CONV_2D runs channel-first ([C, M]: every multiply an outer product over contiguous rows): one
    # transposed copy of the tap's window, then per input channel a [Cout, M] product and sum.
    itmp = ctx.scratch((n, oh, ow, cout) if depthwise else (cout, m))
    iacc = None if depthwise else ctx.scratch((cout, m))
    icol = None if depthwise else ctx.scratch((cin, m))

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        xv, wv, out = ins[0], ins[1], outs[0]
        xp, t = tmp[ipad], tmp[itmp]
        xp.fill(0)
        inner = xp[:, top:top + h, left:left + wd]
        if mult > 1:
            np.copyto(inner.reshape(n, h, wd, cin, mult), xv[..., None])  # type: ignore[index]
        else:
            np.copyto(inner, xv)  # type: ignore[arg-type]
        acc = out if iacc is None else tmp[iacc]
        acc.fill(0)
        for i in range(kh):
            for j in range(kw):
                win = xp[:, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw]
                if depthwise:
                    np.multiply(win, wv[0, i, j], out=t)  # type: ignore[index]
                    np.add(acc, t, out=acc)
                    continue
                col = tmp[icol]  # type: ignore[index]
                np.copyto(col.reshape(cin, n, oh, ow), win.transpose(3, 0, 1, 2))
                for c in range(cin):
                    np.multiply(wv[:, i, j, c, None], col[c], out=t)  # type: ignore[index]
                    np.add(acc, t, out=acc)
        if iacc is not None:
            np.copyto(out.reshape(m, cout), acc.T)
        if b is not None:
            np.add(out, ins[2], out=out)  # type: ignore[arg-type]
        act(out)

    return eval_
