"""Convolutions, float32: CONV_2D (groups, dilation), DEPTHWISE_CONV_2D, TRANSPOSE_CONV.

Layouts (TFLite): activations NHWC; CONV_2D filter OHWI ``[Cout, KH, KW, Cin/groups]``;
DEPTHWISE_CONV_2D filter ``[1, KH, KW, Cin*M]`` (output channel ``c*M + m``); TRANSPOSE_CONV inputs
``[output_shape, filter OHWI, x, bias?]``. A CONV_2D or DEPTHWISE_CONV_2D with an int8 filter and a float32
input is a hybrid op (the converter's dynamic-range mode): its prepare is :mod:`.hybrid`'s (LiteRT's
hybrid semantics).

Speed: CONV_2D is im2col + one float32 GEMM (BLAS). A 1x1 stride-1 conv skips im2col (the input
*is* the column matrix). The column matrix is filled tap by tap from strided input slices, and
the parts of a tap that fall into the padding are zeroed, so no padded copy of the input is made.
DEPTHWISE_CONV_2D loops over the KH*KW taps (never over pixels or channels): each tap is a
multiply-add of a strided input slice with that tap's per-channel weights. The float kernel does it
block by block (``TAP_BLOCK_BYTES`` of output: whole images, or bands of rows), every tap, the bias
and the activation of a block while it is in cache, in the same summation order as over the whole
tensor. Padding amounts, valid output ranges and reshaped weights are computed once in prepare.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import float_exact
from .base import FLOAT, EvalFn, OpContext, conv_out_size, conv_pad_before, fused_activation, register
from .zeroskip import skip_zero_weights


def _tap_ranges(n_in: int, n_out: int, k: int, stride: int, dilation: int, pad: int):
    """For each tap offset along one axis that reads any input: (i, out_lo, out_hi, in_lo) such that
    output positions [out_lo, out_hi) read input positions in_lo, in_lo + stride, ... (all inside
    [0, n_in)). Taps wholly in the padding read nothing and are skipped without being visited: only
    offsets i with i * dilation in [pad - (n_out - 1) * stride, pad + n_in - 1] can reach the input, so
    the work is bounded by the input and output sizes, never by a window size taken from the file."""
    first = max(0, -((((n_out - 1) * stride) - pad) // dilation))  # ceil((pad - (n_out-1)*stride) / d)
    last = min(k - 1, (pad + n_in - 1) // dilation)
    res = []
    for i in range(first, last + 1):
        off = i * dilation - pad  # input position of output 0 for this tap
        lo = 0 if off >= 0 else (-off + stride - 1) // stride  # first o with off + o*stride >= 0
        # highest o with off + o*stride <= n_in - 1
        hi = (n_in - 1 - off) // stride + 1 if n_in - 1 - off >= 0 else 0
        lo, hi = min(lo, n_out), max(min(hi, n_out), 0)
        if hi > lo:
            res.append((i, lo, hi, off + lo * stride))
    return res


def _sl(lo: int, hi: int, start: int, stride: int) -> tuple[slice, slice]:
    """(output slice, input slice) for one tap along one axis."""
    return slice(lo, hi), slice(start, start + (hi - lo - 1) * stride + 1 if hi > lo else start, stride)


#: Upper bound on one conv's im2col scratch. Bigger column matrices are built and multiplied in
#: chunks of images or of output rows (VGG16's first layers would need 115 MB at once).
COL_BUDGET = 8 << 20
#: Depthwise convolutions use einsum over a window view from this many channels while the output
#: and the (padded) input have at most this many bytes each (measured on x86-64 with NumPy 2.4; the
#: limit also keeps the padded copy from growing the arena); the tap loop otherwise.
EINSUM_MIN_CHANNELS = 48
EINSUM_MAX_BYTES = 640 << 10
#: Output bytes per block of the float depthwise tap loop: each block's taps run while its output
#: rows, products and input rows stay in the L2 cache (2 MB per core here). MobileNetV2's depthwise
#: layers, CPU ms (x86-64 EPYC, NumPy 2.4, one thread), whole-tensor passes -> 512 KB blocks:
#: batch 32: 554 -> 285; batch 4: 52 -> 36; batch 1: 10.8 -> 9.3 (256 KB: 297, 37, 9.8).
TAP_BLOCK_BYTES = 512 << 10


class _ColChunks:
    """The output split into (n0, n1, r0, r1) spans (images, output rows) whose column matrix fits the
    budget: the whole batch, groups of images, or groups of rows of one image. Iterating yields the
    spans; nothing is stored per span (a 10^9-row input must not become a list of 10^9 tuples)."""

    def __init__(self, n: int, oh: int, row_bytes: int, budget: int | None = None) -> None:
        budget = COL_BUDGET if budget is None else budget
        img = oh * row_bytes
        self.n, self.oh = n, oh
        if n * img <= budget:
            self.images, self.rows = max(n, 1), oh
        elif img <= budget:
            self.images, self.rows = max(1, budget // img), oh
        else:
            self.images, self.rows = 1, max(1, budget // max(row_bytes, 1))

    @property
    def max_images(self) -> int:
        return min(self.images, self.n)

    @property
    def max_rows(self) -> int:
        return min(self.rows, self.oh)

    def __iter__(self) -> Iterator[tuple[int, int, int, int]]:
        for b in range(0, self.n, self.images):
            for r in range(0, self.oh, self.rows):
                yield b, min(b + self.images, self.n), r, min(r + self.rows, self.oh)


def _window(ctx: OpContext, x_shape, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, padding: int):
    _, h, w, _ = x_shape
    if padding not in (0, 1):
        raise ctx.fail(f"unknown padding {padding} (SAME=0, VALID=1)")
    if min(sh, sw, dh, dw) < 1:
        raise ctx.fail(f"strides ({sh}, {sw}) and dilations ({dh}, {dw}) must be >= 1")
    oh = conv_out_size(padding, h, kh, sh, dh)
    ow = conv_out_size(padding, w, kw, sw, dw)
    if oh <= 0 or ow <= 0:
        raise ctx.fail(f"a {kh}x{kw} window (dilation {dh}x{dw}) does not fit a {h}x{w} input with padding "
                       f"{'SAME' if padding == 0 else 'VALID'}")
    pt, _ = conv_pad_before(h, kh, sh, dh, oh)
    pl, _ = conv_pad_before(w, kw, sw, dw, ow)
    rows = _tap_ranges(h, oh, kh, sh, dh, pt)
    cols = _tap_ranges(w, ow, kw, sw, dw, pl)
    return oh, ow, rows, cols



class _Windows:
    """The (zero-padded) input of a window op seen as a strided view [N, OH, OW, (G,) KH, KW, C(/G)].

    Prepare asks for a padded scratch buffer when the windows reach outside the input; eval copies the
    input into its interior and zeroes only the border (the arena is shared, so it is never clean).
    """

    def __init__(self, ctx: OpContext, x_shape, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int,
                 oh: int, ow: int, dtype=None) -> None:
        n, h, wd, c = x_shape
        self.dims = (n, oh, ow, kh, kw, c, sh, sw, dh, dw)
        pt, pl = conv_pad_before(h, kh, sh, dh, oh)[0], conv_pad_before(wd, kw, sw, dw, ow)[0]
        hp, wp = (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1
        hc, wc = min(h, hp - pt), min(wd, wp - pl)  # input rows/cols the windows reach
        self.interior = (slice(None), slice(pt, pt + hc), slice(pl, pl + wc))
        self.source = (slice(None), slice(0, hc), slice(0, wc))
        self.padded = pt > 0 or pl > 0 or hp > pt + hc or wp > pl + wc
        border = [(slice(0, pt), slice(None)), (slice(pt + hc, hp), slice(None)),
                  (slice(pt, pt + hc), slice(0, pl)), (slice(pt, pt + hc), slice(pl + wc, wp))]
        self.border = [(slice(None), r, c_) for r, c_ in border
                       if r.stop > r.start and (c_.stop is None or c_.stop > c_.start)]
        # dtype: of the array ``view`` is given (the input's unless said; quantized kernels pass floats)
        dtype = ctx.input(0).dtype if dtype is None else dtype
        self.ipad = ctx.scratch((n, hp, wp, c), dtype) if self.padded else None

    def view(self, xv: np.ndarray, tmp, groups: int | None = None) -> np.ndarray:
        n, oh, ow, kh, kw, c, sh, sw, dh, dw = self.dims
        if self.padded:
            xp = tmp[self.ipad]
            for b in self.border:
                xp[b] = 0
            xp[self.interior] = xv[self.source]
        else:
            xp = xv
        s0, s1, s2, s3 = xp.strides
        if groups is None:
            return as_strided(xp, (n, oh, ow, kh, kw, c), (s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3),
                              writeable=False)
        cg = c // groups
        return as_strided(xp, (n, oh, ow, groups, kh, kw, cg), (s0, s1 * sh, s2 * sw, s3 * cg, s1 * dh, s2 * dw, s3),
                          writeable=False)


def _strides(ctx: OpContext) -> tuple[int, int, int, int, int]:
    return (int(ctx.opt("stride_h", 1)), int(ctx.opt("stride_w", 1)), int(ctx.opt("dilation_h_factor", 1)),
            int(ctx.opt("dilation_w_factor", 1)), int(ctx.opt("padding", 0)))


def _bias(ctx: OpContext, i: int, n: int):
    b = ctx.opt_input(i)
    if b is None:
        return None
    if b.dtype != np.float32:
        raise ctx.fail(f"bias '{b.name}' must be float32, got {b.dtype}")
    if b.size != n:
        raise ctx.fail(f"bias '{b.name}' has {b.size} values, expected {n} (one per output channel)")
    return b


@register("CONV_2D", *FLOAT)
@skip_zero_weights
def conv_2d_float32(ctx: OpContext) -> EvalFn:
    ctx.check_arity(2, 3)
    ctx.check_rank(0, 4)
    ctx.check_rank(1, 4)
    x, w = ctx.input(0), ctx.input(1)
    if w.dtype == np.int8:
        from . import hybrid  # imported here: hybrid builds on this module's window helpers
        return hybrid.prepare_conv_2d(ctx)
    if w.dtype != np.float32:
        raise ctx.fail(f"filter '{w.name}' is {w.dtype}; the float kernel needs float32 (or int8: hybrid) filters")
    n, h, wd, cin = x.shape
    cout, kh, kw, cin_g = w.shape
    if cin_g <= 0 or cin % cin_g:
        raise ctx.fail(f"input has {cin} channels, not a multiple of the filter's {cin_g} input channels")
    groups = cin // cin_g
    if cout % groups:
        raise ctx.fail(f"{cout} output channels cannot be split into {groups} groups")
    if groups == 1 and float_exact.wanted(ctx, kh * kw * cin):
        return float_exact.prepare(ctx, depthwise=False)  # a hybrid model: LiteRT's summation order
    cout_g = cout // groups
    if groups > 1 and cin_g == 1:
        # One input channel per group is a depthwise convolution (ConvNeXt's 7x7 convs come this way):
        # output channel g*M+m reads input channel g; run the tap loop, not G tiny GEMMs.
        def dw_weights(wt: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(wt[..., 0].transpose(1, 2, 0))
        wconst = ctx.cached("dw", w.data, dw_weights) if w.is_const else None
        return _depthwise(ctx, x.shape, kh, kw, cout, cout_g, wconst, dw_weights)
    bias = _bias(ctx, 2, cout)
    sh, sw, dh, dw, padding = _strides(ctx)
    oh, ow, rows, cols = _window(ctx, x.shape, kh, kw, sh, sw, dh, dw, padding)
    ctx.set_output(0, (n, oh, ow, cout))
    act = fused_activation(ctx)
    m = n * oh * ow
    k = kh * kw * cin_g
    bvec = None if bias is None else (np.ascontiguousarray(bias.data) if bias.is_const else None)
    has_bias = bias is not None

    def wmat(wt: np.ndarray) -> np.ndarray:
        # OHWI -> per group [K, Cout_g] with K ordered (kh, kw, ci) like the column matrix.
        if groups == 1:
            return np.ascontiguousarray(wt.reshape(cout, k).T)
        return np.ascontiguousarray(wt.reshape(groups, cout_g, k).transpose(0, 2, 1))

    wconst = ctx.cached("wmat", w.data, wmat) if w.is_const else None
    direct = kh == kw == 1 and rows == [(0, 0, oh, 0)] and cols == [(0, 0, ow, 0)]
    pointwise = direct and sh == sw == 1 and groups == 1
    strided = direct and groups == 1 and not pointwise
    if strided:
        icol = ctx.scratch((n, oh, ow, cin))
    elif not pointwise:
        # im2col: the (zero-padded) input seen through a strided window view
        # [N, OH, OW, G, KH, KW, Cin/G] is copied into the column matrix in ONE call per chunk
        # (row-major (kh, kw, ci) per group, like the reshaped filter).
        win = _Windows(ctx, x.shape, kh, kw, sh, sw, dh, dw, oh, ow)
        chunks = _ColChunks(n, oh, ow * kh * kw * cin * 4)
        cn, cr = chunks.max_images, chunks.max_rows
        icol = ctx.scratch((cn * cr * ow * groups * k,))
        if groups > 1:
            iout = ctx.scratch((groups * cn * cr * ow * cout_g,))

    def eval_(ins, outs, tmp):
        xv, out = ins[0], outs[0]
        wm = wconst if wconst is not None else wmat(ins[1])
        if pointwise:
            np.matmul(xv.reshape(m, cin), wm, out=out.reshape(m, cout))
        elif strided:
            a = tmp[icol]
            np.copyto(a, xv[:, ::sh, ::sw, :][:, :oh, :ow])
            np.matmul(a.reshape(m, cin), wm, out=out.reshape(m, cout))
        else:
            view = win.view(xv, tmp, groups)
            for n0, n1, r0, r1 in chunks:
                nn, rr = n1 - n0, r1 - r0
                mc = nn * rr * ow
                col = tmp[icol][:mc * groups * k].reshape(nn, rr, ow, groups, kh, kw, cin_g)
                np.copyto(col, view[n0:n1, r0:r1])
                o2 = out[n0:n1, r0:r1].reshape(mc, cout)
                if groups == 1:
                    np.matmul(col.reshape(mc, k), wm, out=o2)
                else:
                    g = tmp[iout][:groups * mc * cout_g].reshape(groups, mc, cout_g)
                    np.matmul(col.reshape(mc, groups, k).transpose(1, 0, 2), wm, out=g)
                    np.copyto(o2.reshape(mc, groups, cout_g), g.transpose(1, 0, 2))
        if has_bias:
            np.add(out, bvec if bvec is not None else ins[2], out=out)
        act(out)

    return eval_


@register("DEPTHWISE_CONV_2D", *FLOAT)
def depthwise_conv_2d_float32(ctx: OpContext) -> EvalFn:
    ctx.check_arity(2, 3)
    ctx.check_rank(0, 4)
    ctx.check_rank(1, 4)
    x, w = ctx.input(0), ctx.input(1)
    if w.dtype == np.int8:
        from . import hybrid  # imported here: hybrid builds on this module's window helpers
        return hybrid.prepare_depthwise_conv_2d(ctx)
    if w.dtype != np.float32:
        raise ctx.fail(f"filter '{w.name}' is {w.dtype}; the float kernel needs float32 (or int8: hybrid) filters")
    cin = x.shape[3]
    one, kh, kw, cout = w.shape
    if one != 1 or cin <= 0 or cout % cin:
        raise ctx.fail(f"filter shape {list(w.shape)} is not [1, KH, KW, Cin*M] for {cin} input channels")
    mult = cout // cin
    dm = int(ctx.opt("depth_multiplier", mult) or mult)
    if dm != mult:
        raise ctx.fail(f"depth_multiplier {dm} does not match the filter ({cout} channels for {cin} inputs)")
    if float_exact.wanted(ctx, kh * kw):
        return float_exact.prepare(ctx, depthwise=True)  # a hybrid model: LiteRT's summation order
    wconst = np.ascontiguousarray(w.data.reshape(kh, kw, cout)) if w.is_const else None
    return _depthwise(ctx, x.shape, kh, kw, cout, mult, wconst, lambda wv: wv.reshape(kh, kw, cout))


def _depthwise(ctx: OpContext, x_shape, kh: int, kw: int, cout: int, mult: int, wconst, wfn) -> EvalFn:
    """The depthwise tap loop, shared by DEPTHWISE_CONV_2D and CONV_2D with one input channel per
    group. ``wconst``: the [KH, KW, Cout] weights if constant, else ``wfn(filter input)`` makes them."""
    n, h, wd, cin = x_shape
    bias = _bias(ctx, 2, cout)
    sh, sw, dh, dw, padding = _strides(ctx)
    oh, ow, rows, cols = _window(ctx, x_shape, kh, kw, sh, sw, dh, dw, padding)
    ctx.set_output(0, (n, oh, ow, cout))
    act = fused_activation(ctx)
    irep = ctx.scratch((n, h, wd, cout)) if mult > 1 else None
    # Two ways, both exact in the same summation order: einsum over a strided window view (one C
    # loop; measured faster for small maps of many channels), or the tap loop (two passes per tap
    # over whole rows, see _TapLoop).
    use_einsum = cout >= EINSUM_MIN_CHANNELS and n * max(oh * ow, h * wd) * cout * 4 <= EINSUM_MAX_BYTES
    if use_einsum:
        win = _Windows(ctx, (n, h, wd, cout), kh, kw, sh, sw, dh, dw, oh, ow)
    else:
        loop = _TapLoop(ctx, (n, h, wd, cout), oh, ow, rows, cols, sh, sw, block_bytes=TAP_BLOCK_BYTES)
        tiles = loop.tiles(wconst) if wconst is not None else None  # depends on OW: per plan
    bconst = bias.data if bias is not None and bias.is_const else None
    has_bias = bias is not None
    # The blocked tap loop adds the bias and clamps each block while it is in cache: the bias tiled
    # along the output row (OW*C), like the tap weights. Same operations per value, same result.
    blocked = not use_einsum and bool(loop.blocks)
    btile = np.tile(bconst, ow) if blocked and bconst is not None else None

    def eval_(ins, outs, tmp):
        xv, out = ins[0], outs[0]
        wt = wconst if wconst is not None else wfn(ins[1])
        if mult > 1:
            rep = tmp[irep]
            np.copyto(rep.reshape(n, h, wd, cin, mult), xv[..., None])
            xv = rep
        if blocked:
            bt = btile if btile is not None or not has_bias else np.tile(ins[2], ow)

            def finish(block: np.ndarray) -> None:
                if bt is not None:
                    np.add(block, bt, out=block)
                act(block)

            loop.run(xv, out, tmp, tiles if tiles is not None else loop.tiles(wt), finish=finish)
            return
        if use_einsum:
            np.einsum("nhwijc,ijc->nhwc", win.view(xv, tmp), wt, out=out)
        else:
            loop.run(xv, out, tmp, tiles if tiles is not None else loop.tiles(wt))
        if has_bias:
            np.add(out, bconst if bconst is not None else ins[2], out=out)
        act(out)

    return eval_


def _blocks(n: int, oh: int, row_bytes: int, budget: int) -> tuple[int, int]:
    """(images, output rows) per block of a ``budget``-byte output block: whole images while one
    fits, else bands of rows of one image (at least one row)."""
    img = oh * row_bytes
    if img <= budget:
        return max(1, min(n, budget // max(img, 1))), oh
    return 1, max(1, min(oh, budget // max(row_bytes, 1)))


class _TapLoop:
    """The depthwise tap loop over whole rows: each of the KH*KW taps is one multiply and one add of
    ``[N, rows, cols*C]`` slices whose last axis is contiguous, with the tap's weights tiled along the
    row (``tiles[i, j]`` = ``w[i, j]`` repeated OW times), so NumPy's inner loop runs over whole rows
    instead of C channels at a time (3x faster on MobileNetV2's 112x112x32 layer than broadcasting
    ``w[i, j]`` over [N, OH, OW, C]; same products, same summation order, same result).

    A horizontal stride S > 1 would make each tap's columns non-contiguous, so the input is first
    split into S phase planes (plane p holds input columns p, p + S, ...: one copy pass); a tap then
    reads consecutive columns of one plane. Taps that fall partly in the padding read only the output
    rows/columns they reach (``_tap_ranges``); no padded copy is made.
    """

    def __init__(self, ctx: OpContext, x_shape, oh: int, ow: int, rows, cols, sh: int, sw: int,
                 dtype: np.dtype | None = None, band_rows: int = 0, block_bytes: int = 0) -> None:
        """``dtype``: of the values and the accumulator (default: the op's input and output dtypes; the
        quantized kernels accumulate exact integers in float32 or float64). ``band_rows`` > 0: the
        caller runs bands of that many output rows (:meth:`run_band`), and the products' scratch
        holds one band. ``block_bytes`` > 0 (and no ``band_rows``): :meth:`run` works through the
        output in blocks of images and rows of about that many bytes, each block's taps done while it
        is in cache (:func:`_blocks`); the phase planes and the products' scratch then hold one block."""
        n, h, wd, c = x_shape
        self.n, self.h, self.wd, self.c, self.oh, self.ow, self.sw = n, h, wd, c, oh, ow, sw
        self.planes = -(-wd // sw)  # columns per phase plane
        dt = dtype or ctx.outputs[0].dtype
        self.block_images, block_rows = _blocks(n, oh, ow * c * np.dtype(dt).itemsize, block_bytes) \
            if block_bytes > 0 and band_rows <= 0 else (n, 0)
        nb = self.block_images
        self.iphase = ctx.scratch((sw, nb, h, self.planes * c), dtype or ctx.input(0).dtype) if sw > 1 else None
        self.band_rows = min(band_rows, oh) if band_rows > 0 else 0
        self.itmp = ctx.scratch((nb, self.band_rows or block_rows or oh, ow * c), dt)
        taps = []
        for i, rlo, rhi, rin in rows:
            oy, iy = _sl(rlo, rhi, rin, sh)
            for j, clo, chi, cin_ in cols:
                cnt = chi - clo
                taps.append((i, j, oy, iy, slice(clo * c, chi * c), cin_ % sw, (cin_ // sw) * c, cnt * c))
        # The tap that covers the whole output (if any) goes first and initialises it without a zero fill.
        taps.sort(key=lambda t: not (t[2] == slice(0, oh) and t[4] == slice(0, ow * c)))
        self.full_first = bool(taps) and taps[0][2] == slice(0, oh) and taps[0][4] == slice(0, ow * c)
        self.taps = taps
        self.bands = [self._band(a, min(oh, a + self.band_rows)) for a in range(0, oh, self.band_rows)] \
            if self.band_rows else []
        self.blocks = [self._band(a, min(oh, a + block_rows), resort=False) for a in range(0, oh, block_rows)] \
            if block_rows else []

    def _band(self, a: int, b: int, resort: bool = True) -> tuple[int, int, bool, list]:
        """Output rows [a, b): ``(a, b, full_first, taps)``, each tap cut to those rows (its output rows
        counted from a, its input rows moved by the rows it skips times the vertical stride).
        ``resort=False`` keeps the whole output's tap order (and its first tap), so every output
        value is summed in the same order as by :meth:`run` over the whole output: the float result
        does not depend on the blocking."""
        taps = []
        for i, j, oy, iy, ox, p, q, k in self.taps:
            lo, hi = max(oy.start, a), min(oy.stop, b)
            if lo >= hi:
                continue
            step = iy.step
            start = iy.start + (lo - oy.start) * step
            taps.append((i, j, slice(lo - a, hi - a), slice(start, start + (hi - lo - 1) * step + 1, step), ox, p, q, k))
        if not resort:
            return a, b, self.full_first, taps
        whole = (slice(0, b - a), slice(0, self.ow * self.c))
        taps.sort(key=lambda t: (t[2], t[4]) != whole)
        return a, b, bool(taps) and (taps[0][2], taps[0][4]) == whole, taps

    def tiles(self, wt: np.ndarray) -> np.ndarray:
        """[KH, KW, C] weights -> [KH, KW, OW*C], each tap's weights repeated along the output row."""
        kh, kw, c = wt.shape
        return np.ascontiguousarray(np.broadcast_to(wt[:, :, None, :], (kh, kw, self.ow, c))).reshape(kh, kw, -1)

    def phase_views(self, tmp) -> list[tuple[int, np.ndarray]]:
        """With a horizontal stride S > 1: ``(p, view)`` per phase plane, ``view`` the [N, H, cols, C]
        part of plane p to fill with input columns p, p + S, ... (``run(..., phases_filled=True)``
        then skips its own copy: a caller that transforms the input anyway writes it there directly)."""
        n, h, c, sw, ph = self.n, self.h, self.c, self.sw, tmp[self.iphase]
        return [(p, ph[p, :, :, :len(range(p, self.wd, sw)) * c].reshape(n, h, -1, c))
                for p in range(min(sw, self.wd))]

    def planes_of(self, xv: np.ndarray | None, tmp, phases_filled: bool = False) -> np.ndarray:
        """The [S, N, H, cols·C] planes the taps read: ``xv`` [N, H, W, C] itself (S = 1) or its phase
        planes (copied here unless the caller ``phases_filled`` them; ``xv`` may then be None)."""
        n, h, c, sw = self.n, self.h, self.c, self.sw
        if sw > 1:
            if not phases_filled:
                for p, view in self.phase_views(tmp):
                    np.copyto(view, xv[:, :, p::sw])
            return tmp[self.iphase]
        return xv.reshape(1, n, h, self.wd * c)

    def run(self, xv: np.ndarray | None, out: np.ndarray, tmp, tiles: np.ndarray,
            phases_filled: bool = False, finish: Callable[[np.ndarray], None] | None = None) -> None:
        """Accumulate the taps of ``xv`` [N, H, W, C] (None when ``phases_filled``) into ``out``.
        ``finish``: with ``block_bytes``, called on each finished block of ``out`` ([images, rows,
        OW*C], in place: bias and activation while the block is in cache)."""
        if self.blocks:
            self._run_blocks(xv, out, tmp, tiles, finish)
            return
        planes = self.planes_of(xv, tmp, phases_filled)
        self._taps(planes, out.reshape(self.n, self.oh, self.ow * self.c), tmp[self.itmp], tiles,
                   self.full_first, self.taps)

    def _run_blocks(self, xv: np.ndarray, out: np.ndarray, tmp, tiles: np.ndarray,
                    finish: Callable[[np.ndarray], None] | None) -> None:
        """:meth:`run` block by block (``block_bytes``): for each group of images, its phase planes
        (stride > 1), then each band of output rows with all its taps. Same products, same order."""
        n, h, c, sw, nb = self.n, self.h, self.c, self.sw, self.block_images
        o3 = out.reshape(n, self.oh, self.ow * c)
        t3 = tmp[self.itmp]
        for n0 in range(0, n, nb):
            n1 = min(n, n0 + nb)
            if sw > 1:
                ph = tmp[self.iphase]
                for p in range(min(sw, self.wd)):
                    cols = len(range(p, self.wd, sw))
                    np.copyto(ph[p, :n1 - n0, :, :cols * c].reshape(n1 - n0, h, cols, c), xv[n0:n1, :, p::sw])
                planes = ph[:, :n1 - n0]
            else:
                planes = xv[n0:n1].reshape(1, n1 - n0, h, self.wd * c)
            for a, b, full_first, taps in self.blocks:
                block = o3[n0:n1, a:b]
                self._taps(planes, block, t3[:n1 - n0, :b - a], tiles, full_first, taps)
                if finish is not None:
                    finish(block)

    def run_band(self, planes: np.ndarray, out: np.ndarray, tmp, tiles: np.ndarray, band: int) -> None:
        """Output rows ``bands[band]`` of every image into ``out`` [N, rows of the band, OW·C]."""
        _, _, full_first, taps = self.bands[band]
        self._taps(planes, out, tmp[self.itmp], tiles, full_first, taps)

    @staticmethod
    def _taps(planes: np.ndarray, o2: np.ndarray, t2: np.ndarray, tiles: np.ndarray, full_first: bool,
              taps: list) -> None:
        start = 0
        if full_first:
            i, j, oy, iy, ox, p, q, k = taps[0]
            np.multiply(planes[p, :, iy, q:q + k], tiles[i, j, :k], out=o2)
            start = 1
        else:
            o2.fill(0)
        for i, j, oy, iy, ox, p, q, k in taps[start:]:
            o = o2[:, oy, ox]
            tv = t2[:, oy, ox]
            np.multiply(planes[p, :, iy, q:q + k], tiles[i, j, :k], out=tv)
            np.add(o, tv, out=o)


@register("TRANSPOSE_CONV", *FLOAT)
def transpose_conv_float32(ctx: OpContext) -> EvalFn:
    ctx.check_arity(3, 4)
    ctx.check_rank(1, 4)
    ctx.check_rank(2, 4)
    shape = ctx.const(0, "output shape")
    w, x = ctx.input(1), ctx.input(2)
    if w.dtype != np.float32:
        raise ctx.fail(f"filter '{w.name}' is {w.dtype}; the float kernel needs float32")
    out_shape = tuple(int(d) for d in np.asarray(shape).reshape(-1))
    if len(out_shape) != 4:
        raise ctx.fail(f"output_shape {list(out_shape)} must have 4 entries")
    n, h, wd, cin = x.shape
    cout, kh, kw, cin_w = w.shape
    on, oh, ow, oc = out_shape
    if cin_w != cin or oc != cout or on != n:
        raise ctx.fail(f"input {list(x.shape)}, filter {list(w.shape)} (OHWI) and output_shape {list(out_shape)} "
                       "do not agree")
    sh, sw = int(ctx.opt("stride_h", 1)), int(ctx.opt("stride_w", 1))
    padding = int(ctx.opt("padding", 0))
    if padding not in (0, 1) or min(sh, sw) < 1:
        raise ctx.fail(f"bad padding {padding} or strides ({sh}, {sw})")
    bias = _bias(ctx, 3, cout)
    # TFLite: the padding of the forward conv that maps the output back to the input, whose
    # output size must be this op's input size.
    fh, fw = conv_out_size(padding, oh, kh, sh, 1), conv_out_size(padding, ow, kw, sw, 1)
    if (fh, fw) != (h, wd):
        raise ctx.fail(f"output_shape {list(out_shape)} does not invert to the input's {h}x{wd} with a {kh}x{kw} "
                       f"filter, strides ({sh}, {sw}) and {'SAME' if padding == 0 else 'VALID'} padding "
                       f"(it gives {fh}x{fw})")
    pt, _ = conv_pad_before(oh, kh, sh, 1, fh)
    pl, _ = conv_pad_before(ow, kw, sw, 1, fw)
    ctx.set_output(0, out_shape)
    act = fused_activation(ctx)
    hf = max((h - 1) * sh + kh, pt + oh)
    wf = max((wd - 1) * sw + kw, pl + ow)
    icols = ctx.scratch((n, h, wd, kh, kw, cout))
    ifull = ctx.scratch((n, hf, wf, cout))
    m = n * h * wd

    def wmat(wt: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(wt.transpose(3, 1, 2, 0).reshape(cin, kh * kw * cout))

    wconst = ctx.cached("wmat", w.data, wmat) if w.is_const else None
    bconst = bias.data if bias is not None and bias.is_const else None
    has_bias = bias is not None
    taps = [(i, j, slice(i, i + (h - 1) * sh + 1, sh), slice(j, j + (wd - 1) * sw + 1, sw))
            for i in range(kh) for j in range(kw)]

    def eval_(ins, outs, tmp):
        xv, out = ins[2], outs[0]
        wm = wconst if wconst is not None else wmat(ins[1])
        cols = tmp[icols]
        np.matmul(xv.reshape(m, cin), wm, out=cols.reshape(m, kh * kw * cout))
        full = tmp[ifull]
        full.fill(0)
        for i, j, ys, xs in taps:
            f = full[:, ys, xs]
            np.add(f, cols[:, :, :, i, j], out=f)
        np.copyto(out, full[:, pt:pt + oh, pl:pl + ow])
        if has_bias:
            np.add(out, bconst if bconst is not None else ins[3], out=out)
        act(out)

    return eval_
