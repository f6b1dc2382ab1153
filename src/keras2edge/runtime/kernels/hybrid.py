"""Hybrid (dynamic-range) kernels: float32 activations with int8 constant weights, as LiteRT runs them.

The TFLite converter's dynamic-range mode (``optimizations=[DEFAULT]`` without a representative dataset)
keeps activations float32 and stores CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and BATCH_MATMUL
weights as int8 with per-tensor or per-channel scales (zero point 0). TFLite Micro has no hybrid
kernels; the semantics here are LiteRT's (``OpResolverType.BUILTIN_REF``, the x86 build of
``ai-edge-litert`` 2.3), which quantizes the float input on the fly, accumulates in integers and
scales back to float32. The float kernels (``conv.py``, ``dense.py``) call the ``prepare_*`` functions
below when their weights are int8 (their table key is (op, float32), already taken).

What maps to what (LiteRT ``tflite/kernels``; every float operation below is float32 unless said):

* Input quantization, per "batch" (one image for convolutions, one row of K for FULLY_CONNECTED and
  BATCH_MATMUL): ``tensor_utils::SymmetricQuantizeFloats`` — ``range = max(|min|, |max|)``,
  ``sf = range / 127``, ``q = clamp(round_half_away(x * (127 / range)), -127, 127)`` (``sf = 1``,
  ``q = 0`` when ``range == 0``) — or ``AsymmetricQuantizeFloats``: ``rmin = min(0, min)``,
  ``rmax = max(0, max)``; ``scale = double(rmax - rmin) / 255`` (the subtraction in float32: this is
  what the wheel computes, one float32 step off the current source's double subtraction in about 10 %
  of rows, measured); the zero point from that double scale as in ``ChooseQuantizationParams``
  (the smaller-error end, ``round`` half away, clamped to [-128, 127]); ``sf = float(scale)``,
  ``q = clamp(zp + round_half_away(x * (1 / sf)), -128, 127)`` (``sf = 1``, ``zp = 0`` when
  ``rmin == rmax``): the wheel rounds before adding the zero point, unlike the source's
  ``round(zp + x * inv)`` (the two differ near halves: in about 1 of 10^4 elements of random rows).
* CONV_2D (``conv.cc``): per-tensor filter (one scale, or per-channel scales that are all equal, and
  no groups): ``EvalHybrid`` → ``optimized_ops::HybridConv`` (used by the reference resolver too):
  symmetric input, padding quantized as 0, ``out = float(acc) * (sf * s_w) + bias``. Per-channel
  filter with differing scales, or groups > 1: ``EvalHybridPerChannel`` →
  ``reference_ops::HybridConvPerChannel``: asymmetric input, ``acc = sum w * (q - zp)`` over the
  taps inside the image, ``out = (float(acc) * s_w[c]) * sf + bias``.
* DEPTHWISE_CONV_2D (``depthwise_conv.cc`` ``EvalHybridPerChannel`` →
  ``reference_integer_ops::DepthwiseConvHybridPerChannel``): asymmetric input, one scale per output
  channel, ``out = float(acc) * (s_w[c] * sf) + bias``.
* FULLY_CONNECTED (``fully_connected.cc`` ``EvalHybridDense``): symmetric rows, or asymmetric with
  the option ``asymmetric_quantize_inputs``; per-channel when the filter has more than one scale (even
  equal ones): ``out = bias + float(acc - zp * rowsum) * (sf * s_w[u])``; per tensor
  ``sf * s_w`` is formed first. All fused activations (ApplyActivationToVector): the clamps exactly;
  TANH as NumPy's ``tanh`` (LiteRT's vectorized tanh differs in the last bits: within 1e-5, not
  bit-exact); SIGN_BIT as ``signbit``.
* BATCH_MATMUL (``batch_matmul.cc`` ``EvalHybrid`` → ``reference_ops::BatchMatMul``): rows of the
  (adj_x-transposed) LHS quantized as FULLY_CONNECTED does; ``total = sum q * w`` (int32), then
  ``total -= rowsum * float(zp)`` in float32 and truncated back to int32 (exact below 2^24),
  ``out = (sf * s_w[n]) * float(total)``; per-channel scales along the RHS output columns.
  **Differs from LiteRT** where the LHS has two batch dimensions larger than 1 (after LiteRT's
  ``[..., 1, K, N]`` RHS squeeze, which it does without adj_x only): LiteRT steps its per-row
  scaling-factor and zero-point pointers by M rows per index of *every* batch dimension, so it scales
  rows with other rows' factors; we compute the product (equal to LiteRT on the same data with the
  batch dimensions merged; ``tests/runtime/kernels/test_hybrid.py`` asserts both).

The float ops of a model with hybrid ops matter as much: a last bit before a hybrid op can be a whole
step after it (its input quantization rounds ``x * 127 / max|x|``). So in such a model
(``OpContext.hybrid_model``) float LOGISTIC, CONV_2D and DEPTHWISE_CONV_2D run LiteRT's reference
arithmetic bit for bit (``float_exact.py``, ``activation.py``): the dynamic MobileNetV3Large and
EfficientNetB0 equal LiteRT exactly (they differed by 0.0080 and 0.0106 relative L2 before).

Integer accumulation (exact by construction, see :func:`k_splits`): the GEMM runs on integer-valued
float32 operands; a span of the depth K whose ``span * max|q| * max|w|`` stays below 2^24 is summed
exactly by float32 BLAS in any order; longer depths run span by span, summed exactly in float64, and
the result is rounded to float32 once, as C's int32 -> float conversion does. Weight zero points must be
0 (LiteRT ignores them; we refuse them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..codes import ACT_NONE, ACT_RELU, ACT_RELU6, ACT_RELU_N1_TO_1, ACT_SIGN_BIT, ACT_TANH
from .base import ActivationFn, EvalFn, OpContext, broadcast, fused_activation
from .conv import _ColChunks, _sl, _window, _Windows

#: float32 sums of integers are exact below this magnitude.
F32_EXACT = float(1 << 24)


# ------------------------------------------------------------------------------ weights

def weight_scales(ctx: OpContext, i: int, axis: int, what: str) -> np.ndarray:
    """The float32 scales of the int8 constant weights ``input i``: one, or one per index of ``axis``
    (the output-channel axis LiteRT indexes them by). Zero points must all be 0."""
    w = ctx.input(i)
    if w.data is None:
        raise ctx.fail(f"{what} '{w.name}' is int8 but not a constant: hybrid kernels need constant weights")
    q = w.quantization
    if q is None or len(q.scale) == 0:
        raise ctx.fail(f"{what} '{w.name}' is int8 with no quantization parameters (hybrid weights need a scale)")
    scale = np.asarray(q.scale, np.float32).reshape(-1)
    zp = np.asarray(q.zero_point, np.int64).reshape(-1)
    if zp.size and np.any(zp != 0):
        raise ctx.fail(f"{what} '{w.name}' has non-zero zero points {sorted(set(zp.tolist()))[:4]}: hybrid "
                       "weights are symmetric (LiteRT ignores the zero point)")
    if scale.size > 1 and (int(q.quantized_dimension) != axis or scale.size != w.shape[axis]):
        raise ctx.fail(f"{what} '{w.name}' has {scale.size} scales along quantized_dimension "
                       f"{q.quantized_dimension} of {list(w.shape)}; hybrid {ctx.op} wants one per index of "
                       f"axis {axis} ({w.shape[axis]})")
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ctx.fail(f"{what} '{w.name}' has non-positive or non-finite scales")
    return scale


def k_splits(k: int, max_in: int, w: np.ndarray) -> list[tuple[int, int]]:
    """Split the depth K of an integer GEMM on float32 operands into spans whose dot products are exact:
    every partial sum of a span of length L is at most ``L * max_in * max|w| < 2^24``, so float32 BLAS
    computes it exactly in any order (``max|w|`` is the weights' real maximum, known at prepare)."""
    max_w = int(np.abs(w.astype(np.int32)).max()) if w.size else 0
    span = max(1, int((F32_EXACT - 1) // max(1, max_in * max_w)))
    return [(k0, min(k0 + span, k)) for k0 in range(0, max(k, 1), span)]


def exact_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, splits: list[tuple[int, int]],
                 part: np.ndarray | None, acc: np.ndarray | None) -> None:
    """out (float32) <- float32(a @ b) for integer-valued float32 ``a`` [..., M, K] and ``b`` [..., K, N],
    rounded once as C's int32 -> float conversion rounds the exact integer result.

    One span: one float32 GEMM (exact, see :func:`k_splits`). Several: one float32 GEMM per span into
    ``part``, summed exactly in float64 ``acc`` (integers below 2^53), then one rounding to float32.
    ``part`` and ``acc`` have out's shape (None when there is one span)."""
    if len(splits) == 1:
        np.matmul(a, b, out=out)
        return
    for j, (k0, k1) in enumerate(splits):
        np.matmul(a[..., k0:k1], b[..., k0:k1, :], out=part)
        if j == 0:
            np.copyto(acc, part)  # type: ignore[arg-type]
        else:
            np.add(acc, part, out=acc)  # type: ignore[arg-type]
    np.copyto(out, acc, casting="same_kind")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ input quantization

def _round_half_away(y: np.ndarray, t: np.ndarray) -> None:
    """y <- round half away from zero (TfLiteRound on float32), via ``t`` (same shape, float32).

    ``rint`` rounds ties to even; ``y - rint(y)`` is exact, and only where it is ±0.5 can the two
    rules differ: +0.5 with a non-negative result rounded down, -0.5 with a non-positive one rounded up."""
    np.rint(y, out=t)
    np.subtract(y, t, out=y)
    ties = np.flatnonzero(np.abs(y) == 0.5)
    if ties.size:
        d, r = y.reshape(-1)[ties], t.reshape(-1)[ties]
        r += np.where((d > 0) & (r >= 0), 1, 0) - np.where((d < 0) & (r <= 0), 1, 0)
        t.reshape(-1)[ties] = r
    np.copyto(y, t)


def symmetric_params(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SymmetricQuantizeFloats per row: (scaling factor, 127 / range) in float32; 1 and 0 for zero rows."""
    rng = np.maximum(np.abs(lo), np.abs(hi)).astype(np.float32)
    zero = rng == 0
    safe = np.where(zero, np.float32(1), rng)
    sf = np.where(zero, np.float32(1), safe / np.float32(127)).astype(np.float32)
    inv = np.where(zero, np.float32(0), np.float32(127) / safe).astype(np.float32)
    return sf, inv


def asymmetric_params(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AsymmetricQuantizeFloats per row: (scaling factor float32, zero point int64, 1 / sf float32)."""
    rmin = np.minimum(np.float32(0), lo).astype(np.float32)
    rmax = np.maximum(np.float32(0), hi).astype(np.float32)
    same = rmin == rmax
    scale = (rmax - rmin).astype(np.float64) / 255.0  # float32 subtraction, double division (see module doc)
    scale[same] = 1.0
    rmin64, rmax64 = rmin.astype(np.float64), rmax.astype(np.float64)
    zp_min, zp_max = -128.0 - rmin64 / scale, 127.0 - rmax64 / scale
    err_min, err_max = 128.0 + np.abs(rmin64 / scale), 127.0 + np.abs(rmax64 / scale)
    zpd = np.where(err_min < err_max, zp_min, zp_max)
    zp = np.clip(np.sign(zpd) * np.floor(np.abs(zpd) + 0.5), -128, 127).astype(np.int64)  # round: half away
    zp[same] = 0
    sf = scale.astype(np.float32)
    inv = (np.float32(1) / sf).astype(np.float32)
    inv[same] = 0
    return sf, zp, inv


def quantize_rows(x: np.ndarray, out: np.ndarray, work: np.ndarray, asymmetric: bool,
                  keep_zero_point: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Quantize each row ``x[r]`` (all trailing dims) as LiteRT's hybrid kernels do; write the int8
    values as float32 into ``out`` (minus the row's zero point unless ``keep_zero_point``).

    Returns (scaling factor float32 [R], zero point int64 [R]). ``out`` and ``work``: float32, x's shape.
    """
    r = x.shape[0]
    if x.size == 0:  # no rows, or empty rows: nothing to quantize
        return np.ones(r, np.float32), np.zeros(r, np.int64)
    flat = x.reshape(r, -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    bshape = (r,) + (1,) * (x.ndim - 1)
    if asymmetric:
        sf, zp, inv = asymmetric_params(lo, hi)
        qmin = -128
    else:
        sf, inv = symmetric_params(lo, hi)
        zp, qmin = np.zeros(r, np.int64), -127
    np.multiply(x, inv.reshape(bshape), out=out)
    _round_half_away(out, work)
    if asymmetric:
        # The wheel rounds the product, then adds the zero point: zp + round(x * inv), not
        # round(zp + x * inv) as the source reads (measured: 0 of 200 rows differ, 24 for the source's
        # order and 51 for a fused multiply-add, on rows searched where the rules disagree).
        zpf = zp.astype(np.float32).reshape(bshape)
        np.add(out, zpf, out=out)
        np.clip(out, qmin, 127, out=out)
        if not keep_zero_point:
            np.subtract(out, zpf, out=out)
    else:
        np.clip(out, qmin, 127, out=out)
    return sf, zp


# ------------------------------------------------------------------------------ activations

def _tanh(a: np.ndarray) -> None:
    np.tanh(a, out=a)


def _signbit(a: np.ndarray) -> None:
    np.copyto(a, np.signbit(a))


def vector_activation(ctx: OpContext) -> ActivationFn:
    """ApplyActivationToVector (hybrid FULLY_CONNECTED): the clamps, plus TANH and SIGN_BIT."""
    code = int(ctx.opt("fused_activation_function", ACT_NONE))
    if code == ACT_TANH:
        return _tanh
    if code == ACT_SIGN_BIT:
        return _signbit
    if code in (ACT_NONE, ACT_RELU, ACT_RELU6, ACT_RELU_N1_TO_1):
        return fused_activation(ctx)
    raise ctx.fail(f"fused activation {code} is not supported by the hybrid kernel")


class _Bias:
    """The optional float32 bias (input ``i``, ``n`` values): a constant taken once, else read at eval."""

    def __init__(self, ctx: OpContext, i: int, n: int) -> None:
        b = ctx.opt_input(i)
        if b is not None and (b.dtype != np.float32 or b.size != n):
            raise ctx.fail(f"bias '{b.name}' of a hybrid {ctx.op} must be float32 with {n} values, got {b.dtype} "
                           f"{list(b.shape)}")
        self.i, self.n, self.present = i, n, b is not None
        self.const = None if b is None or b.data is None else np.ascontiguousarray(b.data, np.float32).reshape(n)

    def add(self, out: np.ndarray, ins: Sequence[np.ndarray | None]) -> None:
        """out[..., c] += bias[c] (float32)."""
        if self.present:
            np.add(out, self.const if self.const is not None else ins[self.i].reshape(self.n), out=out)  # type: ignore[union-attr]


def _float_output(ctx: OpContext) -> None:
    out = ctx.outputs[0]
    if out.dtype != np.float32:
        raise ctx.fail(f"output '{out.name}' of a hybrid {ctx.op} must be float32, got {out.dtype}")


# ------------------------------------------------------------------------------ CONV_2D

def prepare_conv_2d(ctx: OpContext) -> EvalFn:
    """Hybrid CONV_2D: float32 input, int8 OHWI filter, float32 bias (see the module docstring)."""
    x, w = ctx.input(0), ctx.input(1)
    n, cin = x.shape[0], x.shape[3]
    cout, kh, kw, cin_g = w.shape
    if cin_g <= 0 or cin % cin_g or cout % (cin // cin_g):
        raise ctx.fail(f"input has {cin} channels; the filter {list(w.shape)} does not divide them into groups")
    groups = cin // cin_g
    cout_g = cout // groups
    scales = weight_scales(ctx, 1, 0, "filter")
    per_channel = groups > 1 or (scales.size > 1 and bool(np.any(scales != scales[0])))
    if per_channel and scales.size != cout:
        raise ctx.fail(f"grouped hybrid CONV_2D needs one filter scale per output channel ({cout}), got "
                       f"{scales.size} (LiteRT's per-channel path indexes them by channel)")
    bias = _Bias(ctx, 2, cout)
    _float_output(ctx)
    sh = int(ctx.opt("stride_h", 1))
    sw = int(ctx.opt("stride_w", 1))
    dh, dw = int(ctx.opt("dilation_h_factor", 1)), int(ctx.opt("dilation_w_factor", 1))
    padding = int(ctx.opt("padding", 0))
    oh, ow, rows, cols = _window(ctx, x.shape, kh, kw, sh, sw, dh, dw, padding)
    ctx.set_output(0, (n, oh, ow, cout))
    act = fused_activation(ctx)
    m, k = n * oh * ow, kh * kw * cin_g
    splits = k_splits(k, 255 if per_channel else 127, np.asarray(w.data))

    def wmat(wt: np.ndarray) -> np.ndarray:
        # OHWI -> [K, Cout] (or per group [G, K, Cout_g]), K ordered (kh, kw, ci) like the columns.
        if groups == 1:
            return np.ascontiguousarray(wt.reshape(cout, k).T, dtype=np.float32)
        return np.ascontiguousarray(wt.reshape(groups, cout_g, k).transpose(0, 2, 1), dtype=np.float32)

    wm = ctx.cached("hybrid_wmat", w.data, wmat)
    iv, iwork = ctx.scratch(x.shape), ctx.scratch(x.shape)
    direct = kh == kw == 1 and rows == [(0, 0, oh, 0)] and cols == [(0, 0, ow, 0)]
    pointwise = direct and sh == sw == 1 and groups == 1
    win = None if direct else _Windows(ctx, x.shape, kh, kw, sh, sw, dh, dw, oh, ow)
    chunks = _ColChunks(n, oh, ow * kh * kw * cin * 4)
    cn, cr = (n, oh) if pointwise else (chunks.max_images, chunks.max_rows)
    rows_max = cn * cr * ow
    icol = None if pointwise else ctx.scratch((rows_max * groups * k,))
    many = len(splits) > 1
    ipart = ctx.scratch((rows_max * cout,)) if many else None
    iacc = ctx.scratch((rows_max * cout,), np.float64) if many else None
    igrp = ctx.scratch((rows_max * cout,)) if groups > 1 else None
    epilogue = _conv_epilogue(scales, per_channel, bias, act, n)

    def gemm(a2: np.ndarray, o2: np.ndarray, mc: int, tmp: Sequence[np.ndarray]) -> None:
        """o2 [mc, Cout] <- exact a2 [mc, G*K] @ filter, per group."""
        shape = (mc, cout) if groups == 1 else (groups, mc, cout_g)
        part = tmp[ipart][:mc * cout].reshape(shape) if ipart is not None else None
        acc = tmp[iacc][:mc * cout].reshape(shape) if iacc is not None else None
        if groups == 1:
            exact_matmul(a2, wm, o2, splits, part, acc)
            return
        g = tmp[igrp][:mc * cout].reshape(shape)  # type: ignore[index]
        exact_matmul(a2.reshape(mc, groups, k).transpose(1, 0, 2), wm, g, splits, part, acc)
        np.copyto(o2.reshape(mc, groups, cout_g), g.transpose(1, 0, 2))

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        xv, out = ins[0], outs[0]
        v = tmp[iv]
        sf, _ = quantize_rows(xv, v, tmp[iwork], asymmetric=per_channel)  # type: ignore[arg-type]
        if pointwise:
            gemm(v.reshape(m, cin), out.reshape(m, cout), m, tmp)
            epilogue(out, sf, ins)
            return
        if direct:
            view = v[:, ::sh, ::sw][:, :oh, :ow].reshape(n, oh, ow, groups, 1, 1, cin_g)
        else:
            view = win.view(v, tmp, groups)  # type: ignore[union-attr]  # [N, OH, OW, G, KH, KW, Cin/G]
        for n0, n1, r0, r1 in chunks:
            nn, rr = n1 - n0, r1 - r0
            mc = nn * rr * ow
            col = tmp[icol][:mc * groups * k]  # type: ignore[index]
            np.copyto(col.reshape(nn, rr, ow, groups, kh, kw, cin_g), view[n0:n1, r0:r1])
            gemm(col.reshape(mc, groups * k), out[n0:n1, r0:r1].reshape(mc, cout), mc, tmp)
        epilogue(out, sf, ins)

    return eval_


def _conv_epilogue(scales: np.ndarray, per_channel: bool, bias: _Bias, act: ActivationFn, n: int):
    """out (float32 accumulators, [N, ..., C]) -> scaled float output, per image ``sf[b]``."""
    s_w = np.float32(scales[0])

    def run(out: np.ndarray, sf: np.ndarray, ins: Sequence[np.ndarray | None]) -> None:
        o = out.reshape(n, -1)
        if per_channel:  # (acc * s_w[c]) * sf: HybridConvPerChannel's order
            np.multiply(out, scales, out=out)
            np.multiply(o, sf[:, None], out=o)
        else:  # acc * (sf * s_w): HybridConv scales the factor first
            np.multiply(o, (sf * s_w).astype(np.float32)[:, None], out=o)
        bias.add(out, ins)
        act(out)

    return run


# ------------------------------------------------------------------------------ DEPTHWISE_CONV_2D

def prepare_depthwise_conv_2d(ctx: OpContext) -> EvalFn:
    """Hybrid DEPTHWISE_CONV_2D: float32 input, int8 [1, KH, KW, Cout] filter with one scale per output
    channel, float32 bias; the tap loop of the float kernel on the offset-folded quantized input."""
    x, w = ctx.input(0), ctx.input(1)
    n, h, wd, cin = x.shape
    one, kh, kw, cout = w.shape
    if one != 1 or cin <= 0 or cout % cin:
        raise ctx.fail(f"filter shape {list(w.shape)} is not [1, KH, KW, Cin*M] for {cin} input channels")
    mult = cout // cin
    dm = int(ctx.opt("depth_multiplier", mult) or mult)
    if dm != mult:
        raise ctx.fail(f"depth_multiplier {dm} does not match the filter ({cout} channels for {cin} inputs)")
    scales = weight_scales(ctx, 1, 3, "filter")
    if scales.size != cout:
        raise ctx.fail(f"hybrid DEPTHWISE_CONV_2D needs one filter scale per output channel ({cout}), got "
                       f"{scales.size} (LiteRT indexes them by channel)")
    bias = _Bias(ctx, 2, cout)
    _float_output(ctx)
    sh, sw = int(ctx.opt("stride_h", 1)), int(ctx.opt("stride_w", 1))
    dh, dw = int(ctx.opt("dilation_h_factor", 1)), int(ctx.opt("dilation_w_factor", 1))
    padding = int(ctx.opt("padding", 0))
    oh, ow, rows, cols = _window(ctx, x.shape, kh, kw, sh, sw, dh, dw, padding)
    ctx.set_output(0, (n, oh, ow, cout))
    act = fused_activation(ctx)
    wdata = np.asarray(w.data)
    # float32 taps are exact while KH*KW*255*max|w| < 2^24 (any real kernel); float64 beyond.
    dt = np.dtype(np.float32 if len(k_splits(kh * kw, 255, wdata)) == 1 else np.float64)
    wt = ctx.cached(f"hybrid_dw_{dt.name}", w.data, lambda a: np.ascontiguousarray(a.reshape(kh, kw, cout), dt))
    iv, iwork = ctx.scratch(x.shape), ctx.scratch(x.shape)
    irep = ctx.scratch((n, h, wd, cout)) if mult > 1 else None
    iacc = ctx.scratch((n, oh, ow, cout), dt) if dt == np.float64 else None
    itap = ctx.scratch((n, oh, ow, cout), dt)
    taps = [(i, j, *_sl(rlo, rhi, rin, sh), *_sl(clo, chi, cin_, sw))
            for i, rlo, rhi, rin in rows for j, clo, chi, cin_ in cols]

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        xv, out = ins[0], outs[0]
        v = tmp[iv]
        sf, _ = quantize_rows(xv, v, tmp[iwork], asymmetric=True)  # type: ignore[arg-type]
        if irep is not None:
            rep = tmp[irep]
            np.copyto(rep.reshape(n, h, wd, cin, mult), v[..., None])
            v = rep
        acc = out if iacc is None else tmp[iacc]
        t = tmp[itap]
        acc.fill(0)
        # Exact in any order: every partial sum of integers stays below 2^24 (float32) or 2^53 (float64).
        for i, j, oy, iy, ox, ix in taps:
            o, tv = acc[:, oy, ox], t[:, oy, ox]
            np.multiply(v[:, iy, ix], wt[i, j], out=tv)
            np.add(o, tv, out=o)
        if iacc is not None:
            np.copyto(out, acc, casting="same_kind")
        rs = (sf[:, None] * scales[None, :]).astype(np.float32)  # s_w[c] * sf first, then acc * that
        o3 = out.reshape(n, -1, cout)
        np.multiply(o3, rs[:, None, :], out=o3)
        bias.add(out, ins)
        act(out)

    return eval_


# ------------------------------------------------------------------------------ FULLY_CONNECTED

def prepare_fully_connected(ctx: OpContext, batch: int, k: int, units: int) -> EvalFn:
    """Hybrid FULLY_CONNECTED (EvalHybridDense): rows of K quantized symmetric or asymmetric
    (``asymmetric_quantize_inputs``); the output shape is set by the caller."""
    w = ctx.input(1)
    scales = weight_scales(ctx, 1, 0, "weights")
    per_channel = scales.size > 1  # VerifyPerChannelQuantization: more than one scale, equal or not
    asym = bool(ctx.opt("asymmetric_quantize_inputs", False))
    bias = _Bias(ctx, 2, units)
    _float_output(ctx)
    act = vector_activation(ctx)
    splits = k_splits(k, 255 if asym else 127, np.asarray(w.data))
    wt = ctx.cached("hybrid_fc", w.data, lambda a: np.ascontiguousarray(a.T, np.float32))
    iv, iwork = ctx.scratch((batch, k)), ctx.scratch((batch, k))
    many = len(splits) > 1
    ipart = ctx.scratch((batch, units)) if many else None
    iacc = ctx.scratch((batch, units), np.float64) if many else None
    s_w = np.float32(scales[0])

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        x2 = ins[0].reshape(batch, k)  # type: ignore[union-attr]
        o2 = outs[0].reshape(batch, units)
        v = tmp[iv]
        sf, _ = quantize_rows(x2, v, tmp[iwork], asymmetric=asym)
        exact_matmul(v, wt, o2, splits, None if ipart is None else tmp[ipart], None if iacc is None else tmp[iacc])
        if per_channel:
            rs = (sf[:, None] * scales[None, :]).astype(np.float32)
        else:
            rs = (sf * s_w).astype(np.float32)[:, None]
        np.multiply(o2, rs, out=o2)
        bias.add(o2, ins)
        act(outs[0])

    return eval_


# ------------------------------------------------------------------------------ BATCH_MATMUL

def prepare_batch_matmul(ctx: OpContext) -> EvalFn:
    """Hybrid BATCH_MATMUL: float32 LHS, int8 constant RHS (EvalHybrid + reference BatchMatMul)."""
    a, b = ctx.input(0), ctx.input(1)
    if a.rank < 2 or b.rank < 2:
        raise ctx.fail("both inputs need rank >= 2")
    adj_x, adj_y = bool(ctx.opt("adj_x", False)), bool(ctx.opt("adj_y", False))
    asym = bool(ctx.opt("asymmetric_quantize_inputs", False))
    m, ka = (a.shape[-1], a.shape[-2]) if adj_x else (a.shape[-2], a.shape[-1])
    kb, nn = (b.shape[-1], b.shape[-2]) if adj_y else (b.shape[-2], b.shape[-1])
    if ka != kb:
        raise ctx.fail(f"inner dimensions differ: {ka} vs {kb} (adj_x={adj_x}, adj_y={adj_y})")
    if max(a.rank, b.rank) > 5:
        raise ctx.fail("BATCH_MATMUL supports rank <= 5")
    batch = broadcast(ctx, a.shape[:-2], b.shape[:-2])
    out_shape = batch + (m, nn)
    ctx.set_output(0, out_shape)
    _float_output(ctx)
    n_axis = b.rank - 2 if adj_y else b.rank - 1
    scales = weight_scales(ctx, 1, n_axis, "RHS")
    per_channel = scales.size > 1
    k = ka
    splits = k_splits(k, 128, np.asarray(b.data))

    def rhs(bv: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(bv.swapaxes(-1, -2) if adj_y else bv, np.float32)  # [..., K, N]

    wm = ctx.cached("hybrid_bmm", b.data, rhs)
    # rowsum[..., 1, N] = sum_k w: the zero-point term, formed in float32 as LiteRT does
    rowsum = ctx.cached("hybrid_bmm_rowsum", b.data,
                        lambda bv: np.asarray(bv, np.int64).swapaxes(-1, -2).sum(axis=-2, keepdims=True)
                        .astype(np.float32) if adj_y else
                        np.asarray(bv, np.int64).sum(axis=-2, keepdims=True).astype(np.float32))
    a_rows = a.shape[:-2] + (m, k)
    rows = int(np.prod(a_rows[:-1], dtype=np.int64))
    iv, iwork = ctx.scratch(a_rows), ctx.scratch(a_rows)
    ixt = ctx.scratch(a_rows) if adj_x else None
    many = len(splits) > 1
    ipart = ctx.scratch(out_shape) if many else None
    iacc = ctx.scratch(out_shape, np.float64) if many else None
    s_w = np.float32(scales[0])
    lead = (1,) * (len(out_shape) - len(a_rows))

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        xv, out = ins[0], outs[0]
        if ixt is not None:
            np.copyto(tmp[ixt], xv.swapaxes(-1, -2))  # type: ignore[union-attr]
            xv = tmp[ixt]
        v = tmp[iv]
        sf, zp = quantize_rows(xv.reshape(rows, k), v.reshape(rows, k), tmp[iwork].reshape(rows, k),  # type: ignore[union-attr]
                               asymmetric=asym, keep_zero_point=True)
        # float(total): the exact sum of q * w, rounded once
        exact_matmul(v, wm, out, splits, None if ipart is None else tmp[ipart], None if iacc is None else tmp[iacc])
        sfr = sf.reshape(lead + a_rows[:-1] + (1,))
        if asym:
            # total -= row_sum * float(zp): float32 product and difference, then back to int32 (exact)
            # (integer-valued float32 operands give an integer-valued difference: the cast back is exact)
            np.subtract(out, rowsum * zp.astype(np.float32).reshape(sfr.shape), out=out)
        rs = (sfr * scales).astype(np.float32) if per_channel else (sfr * s_w).astype(np.float32)
        np.multiply(out, rs, out=out)

    return eval_
