"""Quantized convolutions, bit-exact with TFLite Micro: CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV
for int8 activations (int8 weights per channel or per tensor, int32 bias) and 16x8 (int16
activations with zero point 0, int8 weights, int64 or int32 bias).

What maps to what (TFLM = github tensorflow/tflite-micro, ``tensorflow/lite/...``):

* ``conv_2d_quantized``           ← ``micro/kernels/conv.cc``, ``conv_common.cc``,
  ``kernels/internal/reference/integer_ops/conv.h`` ConvPerChannel (groups = Cin / filter Cin);
* ``depthwise_conv_2d_quantized`` ← ``micro/kernels/depthwise_conv.cc``, ``depthwise_conv_common.cc``,
  ``reference/integer_ops/depthwise_conv.h`` (output channel ``c·M + m``);
* ``transpose_conv_quantized``    ← ``micro/kernels/transpose_conv.cc``, ``reference/integer_ops/
  transpose_conv.h`` (scatter into an int32 / int64 buffer, then requantize);
* multipliers: ``kernels/kernel_util.cc`` PopulateConvolutionQuantizationParams, i.e.
  ``fixed_point.real_multiplier_per_channel`` (double) and QuantizeMultiplier; the clamp:
  CalculateActivationRangeQuantized (``common.activation_clamp``).

Integer rules (int8-arithmetic.md §3.3–3.5): ``acc = Σ w·(x − z_in)`` over the taps inside the image
(TFLM skips the others) ``+ bias``; ``y = clamp(MBQM(acc, M_c, shift_c) + z_out)``. 16x8: no input or
output offset (the kernels ignore the zero points: we refuse non-zero ones); with an int64 bias (and for
DEPTHWISE_CONV_2D and TRANSPOSE_CONV always) the accumulator is int64 and requantized with the int64
overload of MBQM (``fixed_point.mbqm_int64``: 16-bit multiplier, one rounding); CONV_2D with an int32 bias,
or no bias and ``quantized_bias_type`` INT32, accumulates in int32 and uses the int32 MBQM. TRANSPOSE_CONV
16x8 also takes an int16 bias (TFLM widens it to int64).

How it is computed (exact, not approximated):

* ``x − z_in`` is formed once per call in a float buffer; padding taps then contribute 0, which is
  TFLM's skip. CONV_2D is im2col (``kernels/conv.py``'s window view) + one BLAS GEMM per chunk,
  DEPTHWISE_CONV_2D a loop over the KH·KW taps on whole strided slices, TRANSPOSE_CONV one GEMM and a
  scatter-add per tap. Every partial sum is an integer; float32 holds them exactly while
  ``K·255·128 ≤ 2^24`` (K = products per output: KH·KW·Cin/groups, KH·KW, KH·KW·Cin), or, for a
  constant filter, while ``max_c Σ|w_c|·max|x − z_in| ≤ 2^24`` (a bound on every partial sum), float64 beyond
  (exact below 2^53, i.e. K < 2^38 for int8, K < 2^31 for 16x8 where |x·w| ≤ 2^22). BLAS may sum in any
  order: exact integer sums do not depend on it.
* Requantization: ``common.Requantizer32`` (float32, the constant bias folded in) when prepare proves
  it exact from the constant filter (|acc_c| ≤ Σ|w_c|·max|x − z_in|), else ``common.Requantizer``
  (float64); both proven equal to ``fixed_point.mbqm`` and tested against it. With Requantizer32, a
  1x1 CONV_2D runs GEMM + requantization per block of output pixels and a one-image DEPTHWISE_CONV_2D
  taps + requantization per band of output rows (``Requantizer32.stream``): the accumulators are
  requantized while in cache and the arena holds one block of them.
* Filters are converted to the accumulator dtype into scratch at every call (one pass over int8
  weights) instead of held as float copies: memory, not time, is what that saves.
* ``PLAIN = True`` (read at prepare) switches every kernel to int64 accumulation and the integer
  requantization: the reference the fast path is tested and timed against.

Not reproduced: TFLM's int32 accumulator wraps on overflow (undefined behaviour in C), which needs more
than 2^31 / 32640 ≈ 65800 products per output in int8 (but only 2^31 / 2^22 = 512 in 16x8 CONV_2D with
an int32 bias, where quantizers must keep |acc| small); we keep the exact sum. A DEPTHWISE_CONV_2D whose
``depth_multiplier`` option is 0 (unset) takes M from the filter shape; TFLM loops over M = 0 multipliers
and leaves the output unwritten.

LiteRT BUILTIN_REF computes the same integers for all three ops (the tests compare it on every int8
case), but refuses an int8 CONV_2D without a bias at prepare (``tflite/kernels/conv.cc``: "has_bias was
not true"); TFLM and this runtime run it with a zero bias.

Hybrid CONV_2D / DEPTHWISE_CONV_2D (float32 input, int8 filter) are in ``kernels/hybrid.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ... import fixed_point as fp
from ..base import (
    EvalFn,
    OpContext,
    TensorSpec,
    conv_out_size,
    conv_pad_before,
    register,
)
from ..conv import _ColChunks, _strides, _TapLoop, _window, _Windows
from ..zeroskip import skip_zero_weights
from .common import (
    Requantizer,
    Requantizer32,
    activation_clamp,
    int_range,
    per_tensor,
    qparams,
)

#: Read at prepare time: True makes every quantized conv accumulate in int64 and requantize with the
#: integer ``fixed_point.mbqm`` (the plain path the fast one is checked and timed against).
PLAIN = False

#: float32 holds every partial sum exactly while it stays ≤ 2^24 (int8: |(x − z_in)·w| ≤ 255·128).
FLOAT32_EXACT = 1 << 24
INT8_PRODUCT = 255 * 128
#: TensorType INT32, the ``quantized_bias_type`` that selects 16x8 CONV_2D's int32 accumulator.
TENSOR_INT32 = 2

Requant = Callable[[np.ndarray, np.ndarray, "np.ndarray | None", Sequence[np.ndarray]], None]


@dataclass
class _Setup:
    """What prepare decided for one quantized conv: input zero point, accumulator dtype, bias source
    and the requantization step ``requant(acc, out, bias, tmp)``."""

    zp_in: int
    acc_dtype: np.dtype
    bias_index: int | None  # op input holding the bias (None: no bias)
    bias_const: np.ndarray | None  # int64 bias when constant
    requant: Requant
    r32: Requantizer32 | None = None  # the float32 requantizer, when prepare proved it exact
    r32_work: tuple[int, ...] = ()  # its work buffers (scratch indices)

    def work(self, tmp: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [tmp[j] for j in self.r32_work]

    def bias(self, ins: Sequence[np.ndarray | None]) -> np.ndarray | None:
        if self.bias_index is None:
            return None
        if self.bias_const is not None:
            return self.bias_const
        return np.asarray(ins[self.bias_index]).reshape(-1).astype(np.int64)


def _bias_dtypes(op: str, int16: bool) -> tuple[str, ...]:
    """Bias dtypes TFLM reads correctly (any other one it reinterprets as the wrong width)."""
    if not int16:
        return ("int32",)
    return {"CONV_2D": ("int32", "int64"), "DEPTHWISE_CONV_2D": ("int64",)}.get(op, ("int16", "int64"))


def _setup(ctx: OpContext, x_i: int, w_i: int, b_i: int, axis: int, terms: int, out_shape: Sequence[int]) -> _Setup:
    """Check the quantization of input ``x_i``, filter ``w_i`` (quantized along ``axis`` when per
    channel), optional bias ``b_i`` and the output; build the per-channel requantization."""
    x, w, out = ctx.input(x_i), ctx.input(w_i), ctx.outputs[0]
    int16 = x.dtype == np.int16
    if out.dtype != x.dtype:
        raise ctx.fail(f"output '{out.name}' is {out.dtype}, input '{x.name}' is {x.dtype}; they must match")
    if w.dtype != np.int8:
        raise ctx.fail(f"filter '{w.name}' is {w.dtype}; quantized convolutions need int8 filters "
                       "(TFLite Micro supports no other filter type for these inputs)")
    s_in, zp_in = per_tensor(ctx, x)
    s_out, zp_out = per_tensor(ctx, out)
    wq = qparams(ctx, w)
    nchan = w.shape[axis]
    if not wq.per_tensor and wq.axis != axis:
        raise ctx.fail(f"filter '{w.name}' is quantized per axis on dimension {wq.axis}; {ctx.op} needs per-tensor "
                       f"or per-channel quantization on dimension {axis} ({nchan} scales)")
    if np.any(wq.zero_point != 0):
        raise ctx.fail(f"filter '{w.name}' has zero point {wq.zero_point[:4].tolist()}; int8 filters must be "
                       "symmetric (zero point 0): TFLite Micro ignores a filter zero point")
    if int16 and (zp_in != 0 or zp_out != 0):
        raise ctx.fail(f"16x8 {ctx.op} needs zero point 0 on input '{x.name}' and output '{out.name}' (got "
                       f"{zp_in} and {zp_out}); TFLite Micro ignores them")
    lo, hi = activation_clamp(ctx, out)
    real = fp.real_multiplier_per_channel(s_in, np.broadcast_to(wq.scale, (nchan,)), s_out)
    mult, shift = fp.quantize_multiplier(real)
    b = ctx.opt_input(b_i)
    if b is not None:
        allowed = _bias_dtypes(ctx.op, int16)
        if b.dtype.name not in allowed:
            raise ctx.fail(f"bias '{b.name}' is {b.dtype}; {'16x8' if int16 else 'int8'} {ctx.op} needs a "
                           f"{' or '.join(allowed)} bias")
        if b.size != nchan:
            raise ctx.fail(f"bias '{b.name}' has {b.size} values, expected {nchan} (one per output channel)")
    wide = int16 and not (ctx.op == "CONV_2D" and (
        (b is not None and b.dtype == np.int32)
        or (b is None and int(ctx.opt("quantized_bias_type", 0)) == TENSOR_INT32)))
    bound = terms * (32768 * 128 if int16 else INT8_PRODUCT)
    acc_bound = None
    if w.is_const:
        # |every partial sum of channel c| ≤ Σ|w_c|·max|x − z_in| whatever the input (each product of
        # the filter enters an output at most once): float32 is exact for most real layers whose K·255·128
        # is above 2^24, and Requantizer32's error bound needs it
        qlo, qhi = int_range(ctx, x)
        wabs = np.abs(np.asarray(w.data, np.int16)).sum(axis=tuple(i for i in range(w.rank) if i != axis),
                                                        dtype=np.int64)  # int16: no 8-byte copy of the filter
        acc_bound = wabs * max(qhi - zp_in, zp_in - qlo)
        bound = min(bound, int(acc_bound.max(initial=0)))
    acc_dtype = np.dtype(np.int64 if PLAIN else np.float32 if bound <= FLOAT32_EXACT else np.float64)
    bconst = None if b is None or b.data is None else np.asarray(b.data).reshape(-1).astype(np.int64)
    if wide:
        requant = _wide_requant(mult, shift, lo, hi)
    else:
        rq = Requantizer(mult, shift, zp_out, lo, hi)
        r32 = None
        if not PLAIN and acc_bound is not None and (b is None or bconst is not None):
            r32 = Requantizer32.build(rq, bconst, acc_bound, nchan)
        if r32 is not None:
            work = _r32_work(ctx, out_shape)

            def requant(acc, out, bias, tmp):
                r32(acc, out, [tmp[j] for j in work])  # the bias is r32's constant
            return _Setup(zp_in, acc_dtype, None if b is None else b_i, bconst, requant, r32, work)
        requant = _requant(ctx, rq, out_shape)
    return _Setup(zp_in, acc_dtype, None if b is None else b_i, bconst, requant)


def _r32_work(ctx: OpContext, out_shape: Sequence[int]) -> tuple[int, ...]:
    """Requantizer32's work buffers: two of one block (the whole output for TRANSPOSE_CONV, whose
    accumulator is a cropped, non-contiguous view), and two more for the laid-out constants when the
    output spans several blocks."""
    size = int(np.prod(out_shape))
    if ctx.op == "TRANSPOSE_CONV":
        return ctx.scratch((size,), np.float32), ctx.scratch((size,), np.float32)
    size = min(size, Requantizer32.BLOCK + int(out_shape[-1]))
    return tuple(ctx.scratch((size,), np.float32) for _ in range(4 if size > Requantizer32.BLOCK else 2))


def _requant(ctx: OpContext, rq: Requantizer, out_shape: Sequence[int]) -> Requant:
    """The int32-MBQM requantization when Requantizer32 does not apply: the float64 fast path with two
    work buffers (one block of rows each, or the whole output for TRANSPOSE_CONV, whose accumulator
    is a cropped, non-contiguous view), or the plain integer path under PLAIN."""
    if PLAIN:
        def plain(acc, out, bias, tmp):
            rq.plain(acc, out, bias)
        return plain
    size = int(np.prod(out_shape))
    if ctx.op != "TRANSPOSE_CONV":
        size = min(size, Requantizer.BLOCK + int(out_shape[-1]))
    iz, iw = ctx.scratch((size,), np.float64), ctx.scratch((size,), np.float64)

    def fast(acc, out, bias, tmp):
        rq(acc, out, bias, (tmp[iz], tmp[iw]))
    return fast


def _wide_requant(mult: np.ndarray, shift: np.ndarray, lo: int, hi: int) -> Requant:
    """16x8 with an int64 accumulator: ``clamp(int32(MBQM_int64(acc + bias, M_c, shift_c)))``, no offset
    (TFLM ``kernels/internal/common.cc``, the int64 overload)."""
    def requant(acc, out, bias, tmp):
        a = np.asarray(acc).astype(np.int64)
        if bias is not None:
            a += bias
        v = fp.wrap_int32(fp.mbqm_int64(a, mult, shift))
        np.clip(v, lo, hi, out=v)
        np.copyto(out, v, casting="unsafe")
    return requant


def _weights(ctx: OpContext, w: TensorSpec, key: str, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray | None:
    """The filter transformed once (cached per interpreter) when it is a constant, else None."""
    return ctx.cached(key, w.data, fn) if w.is_const else None


# ------------------------------------------------------------------------------------------ CONV_2D

#: Most K ranges :func:`k_split` makes (beyond, the float64 GEMM is used: 16x8 filters need hundreds).
MAX_K_SPLIT = 8


def k_split(w: np.ndarray, max_diff: int) -> tuple[tuple[int, int], ...]:
    """Split the K axis of a constant int8 filter ``w`` [Cout, K] into ranges whose float32 GEMMs are
    exact: for every channel c and range R, ``Σ_{k∈R} |w[c, k]|·max_diff ≤ 2^24``, which bounds every
    partial sum of that range (``max_diff`` = max|x − z_in|). Ranges of equal length, the fewest that
    pass, up to :data:`MAX_K_SPLIT`; () when none does. Two to four float32 GEMMs run about twice as
    fast as the one float64 GEMM they replace (ResNet50's 3x3x256 and 1x1x1024 convolutions)."""
    limit = FLOAT32_EXACT // max(max_diff, 1)
    wabs = np.abs(np.asarray(w, np.int16))  # int16: no 8-byte copy of the filter
    k = wabs.shape[1]
    total = int(wabs.sum(axis=1, dtype=np.int64).max(initial=0))
    for parts in range(max(2, -(-total // limit)), min(MAX_K_SPLIT, k) + 1):
        edges = np.linspace(0, k, parts + 1).astype(np.int64)
        if int(np.add.reduceat(wabs, edges[:-1], axis=1, dtype=np.int64).max()) <= limit:
            return tuple((int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]))
    return ()


class _ConvGemm:
    """CONV_2D's exact accumulation ``acc[n, oy, ox, o] = Σ w · xf`` over the taps inside the image, for a
    float (or int64) ``xf`` = the input minus its zero point: im2col through ``kernels/conv.py``'s
    zero-padded window view, chunked to the column budget, and one GEMM per chunk (per group).
    Prepare checks the geometry, shapes output 0 and asks for the scratch buffers."""

    def __init__(self, ctx: OpContext) -> None:
        ctx.check_rank(0, 4)
        ctx.check_rank(1, 4)
        x, w = ctx.input(0), ctx.input(1)
        n, _, _, cin = x.shape
        cout, kh, kw, cin_g = w.shape
        if cin_g <= 0 or cin % cin_g:
            raise ctx.fail(f"input has {cin} channels, not a multiple of the filter's {cin_g} input channels")
        groups = cin // cin_g
        if cout % groups:
            raise ctx.fail(f"{cout} output channels cannot be split into {groups} groups")
        sh, sw, dh, dw, padding = _strides(ctx)
        oh, ow, rows, cols = _window(ctx, x.shape, kh, kw, sh, sw, dh, dw, padding)
        ctx.set_output(0, (n, oh, ow, cout))
        self.ctx, self.x_shape, self.groups, self.cout, self.cout_g = ctx, x.shape, groups, cout, cout // groups
        self.k, self.kh, self.kw, self.cin_g, self.strides = kh * kw * cin_g, kh, kw, cin_g, (sh, sw, dh, dw)
        self.out_shape = (n, oh, ow, cout)
        self.pointwise = kh == kw == 1 and rows == [(0, 0, oh, 0)] and cols == [(0, 0, ow, 0)] and sh == sw == 1 \
            and groups == 1

    def prepare(self, ft: np.dtype, stream_rows: int = 0, ksplit: Sequence[tuple[int, int]] = ()) -> None:
        """Ask for the buffers of accumulator dtype ``ft``: x − z_in, the accumulator, the column matrix.
        ``stream_rows`` > 0 (pointwise only): the accumulator holds that many output pixels, for
        :meth:`stream` (one GEMM per block of pixels, requantized while it is in cache). ``ksplit``
        (groups = 1, a float64 accumulator): the K ranges of :func:`k_split`; the GEMM operands are then
        float32 and each range's GEMM is exact in float32, the ranges summed in the float64 accumulator."""
        ctx, (n, oh, ow, _) = self.ctx, self.out_shape
        self.ksplit = tuple(ksplit) if self.groups == 1 else ()
        gt = np.dtype(np.float32) if self.ksplit else ft  # dtype of the GEMM operands
        self.ft = gt
        self.stream_rows = stream_rows if self.pointwise else 0
        m = n * oh * ow
        # streamed: x − z_in is formed per block of pixels too (in cache, and one block in the arena)
        self.ixf = ctx.scratch((min(m, self.stream_rows), self.x_shape[3]) if self.stream_rows else self.x_shape, gt)
        self.iacc = ctx.scratch((min(m, self.stream_rows), self.cout) if self.stream_rows else self.out_shape, ft)
        self.iw = ctx.scratch((self.cout, self.k), gt)
        rows = min(m, self.stream_rows) if self.stream_rows else m  # most GEMM rows at a time
        if not self.pointwise:
            sh, sw, dh, dw = self.strides
            self.win = _Windows(ctx, self.x_shape, self.kh, self.kw, sh, sw, dh, dw, oh, ow, dtype=gt)
            self.chunks = _ColChunks(n, oh, ow * self.k * self.groups * gt.itemsize)
            cn, cr = self.chunks.max_images, self.chunks.max_rows
            rows = cn * cr * ow
            self.icol = ctx.scratch((cn * cr * ow * self.groups * self.k,), gt)
            if self.groups > 1:
                self.iout = ctx.scratch((self.groups * cn * cr * ow * self.cout_g,), gt)
        if self.ksplit:
            self.ipart = ctx.scratch((rows * self.cout,), np.float32)

    def _gemm(self, a: np.ndarray, wm: np.ndarray, out: np.ndarray, tmp: Sequence[np.ndarray]) -> None:
        """``out = a @ wm`` (exact): one GEMM, or with ``ksplit`` one float32 GEMM per K range added
        into the float64 ``out``."""
        if not self.ksplit:
            np.matmul(a, wm, out=out)
            return
        part = tmp[self.ipart][:out.size].reshape(out.shape)
        for i, (k0, k1) in enumerate(self.ksplit):
            np.matmul(a[:, k0:k1], wm[k0:k1], out=part)
            if i == 0:
                np.copyto(out, part)
            else:
                np.add(out, part, out=out)

    def wmat(self, wt: np.ndarray, tmp: Sequence[np.ndarray]) -> np.ndarray:
        """OHWI filter -> per group [K, Cout_g] in the accumulator dtype, K ordered (kh, kw, ci) like the
        column matrix: converted into a scratch buffer at every call (one pass over the int8 filter,
        about 1 ms per MobileNetV2 inference in all, instead of a float copy of every filter held for
        the interpreter's life) and used transposed (BLAS reads it in place)."""
        cout, k, g = self.cout, self.k, self.groups
        wf = tmp[self.iw]
        np.copyto(wf, np.asarray(wt).reshape(cout, k), casting="unsafe")
        if g == 1:
            return wf.T
        return wf.reshape(g, self.cout_g, k).transpose(0, 2, 1)

    def xf(self, tmp: Sequence[np.ndarray]) -> np.ndarray:
        return tmp[self.ixf]

    def stream(self, wm: np.ndarray, x: np.ndarray, zp: int, tmp: Sequence[np.ndarray], r32: Requantizer32,
               out: np.ndarray, work: list[np.ndarray]) -> None:
        """Pointwise CONV_2D, per block of output pixels (``stream_rows`` each): x − z_in of the block's
        input pixels, the GEMM and the requantization; the block goes from one step to the next through
        the cache, and the arena holds one block of x − z_in and of the accumulators instead of the
        whole input and output."""
        xf, acc = tmp[self.ixf], tmp[self.iacc]
        n, oh, ow, cout = self.out_shape
        m = n * oh * ow
        x2 = x.reshape(m, x.shape[3])

        def produce(r0: int, r1: int) -> np.ndarray:
            a, xb = acc[:r1 - r0], xf[:r1 - r0]
            np.subtract(x2[r0:r1], zp, out=xb, dtype=self.ft)
            self._gemm(xb, wm, a, tmp)
            return a

        r32.stream(produce, m, out.reshape(m, cout), work)

    def run(self, wm: np.ndarray, tmp: Sequence[np.ndarray]) -> np.ndarray:
        """The accumulator [N, OH, OW, Cout] from the filled ``xf`` buffer."""
        xf, acc = tmp[self.ixf], tmp[self.iacc]
        n, oh, ow, cout = self.out_shape
        if self.pointwise:
            m = n * oh * ow
            self._gemm(xf.reshape(m, xf.shape[3]), wm, acc.reshape(m, cout), tmp)
            return acc
        g, k, kh, kw, cin_g, cout_g = self.groups, self.k, self.kh, self.kw, self.cin_g, self.cout_g
        view = self.win.view(xf, tmp, g)
        for n0, n1, r0, r1 in self.chunks:
            nn, rr = n1 - n0, r1 - r0
            mc = nn * rr * ow
            col = tmp[self.icol][:mc * g * k].reshape(nn, rr, ow, g, kh, kw, cin_g)
            np.copyto(col, view[n0:n1, r0:r1])
            a2 = acc[n0:n1, r0:r1].reshape(mc, cout)
            if g == 1:
                self._gemm(col.reshape(mc, k), wm, a2, tmp)
            else:
                gm = tmp[self.iout][:g * mc * cout_g].reshape(g, mc, cout_g)
                np.matmul(col.reshape(mc, g, k).transpose(1, 0, 2), wm, out=gm)
                np.copyto(a2.reshape(mc, g, cout_g), gm.transpose(1, 0, 2))
        return acc


@register("CONV_2D", "int8", "int16")
@skip_zero_weights
def conv_2d_quantized(ctx: OpContext) -> EvalFn:
    """CONV_2D int8 / 16x8 (TFLM ``reference/integer_ops/conv.h`` ConvPerChannel), groups included."""
    ctx.check_arity(2, 3)
    gemm = _ConvGemm(ctx)
    st = _setup(ctx, 0, 1, 2, 0, gemm.k, gemm.out_shape)
    streamed = gemm.pointwise and st.r32 is not None
    ksplit = ()
    w = ctx.input(1)
    if st.acc_dtype == np.float64 and w.is_const and gemm.groups == 1:
        qlo, qhi = int_range(ctx, ctx.input(0))
        ksplit = k_split(np.asarray(w.data).reshape(gemm.cout, gemm.k), max(qhi - st.zp_in, st.zp_in - qlo))
    gemm.prepare(st.acc_dtype, st.r32.rows_per_block(gemm.cout) if streamed else 0, ksplit)

    def eval_(ins, outs, tmp):
        wm = gemm.wmat(ins[1], tmp)
        if streamed:
            gemm.stream(wm, ins[0], st.zp_in, tmp, st.r32, outs[0], st.work(tmp))
            return
        # x − z_in: padding taps then read 0, which is TFLM's skipped tap
        np.subtract(ins[0], st.zp_in, out=gemm.xf(tmp), dtype=gemm.ft)
        st.requant(gemm.run(wm, tmp), outs[0], st.bias(ins), tmp)

    return eval_


# ------------------------------------------------------------------------------- DEPTHWISE_CONV_2D

class _DepthwiseTaps:
    """DEPTHWISE_CONV_2D's exact accumulation: the float kernel's tap loop (``kernels/conv._TapLoop``:
    each of the KH·KW taps one multiply-add over whole rows, taps outside the image skipped, which is
    TFLM's "padded taps contribute nothing") run on ``xf``, the input minus its zero point with each
    input channel repeated M times (output channel c·M + m reads input channel c), in float32 or
    float64, where every partial sum is an exact integer. Prepare checks the geometry and shapes output 0."""

    def __init__(self, ctx: OpContext) -> None:
        ctx.check_rank(0, 4)
        ctx.check_rank(1, 4)
        x, w = ctx.input(0), ctx.input(1)
        n, _, _, cin = x.shape
        one, kh, kw, cout = w.shape
        if one != 1 or cin <= 0 or cout % cin:
            raise ctx.fail(f"filter shape {list(w.shape)} is not [1, KH, KW, Cin*M] for {cin} input channels")
        mult = cout // cin
        dm = int(ctx.opt("depth_multiplier", mult) or mult)
        if dm != mult:
            raise ctx.fail(f"depth_multiplier {dm} does not match the filter ({cout} channels for {cin} inputs)")
        sh, sw, dh, dw, padding = _strides(ctx)
        oh, ow, rows, cols = _window(ctx, x.shape, kh, kw, sh, sw, dh, dw, padding)
        ctx.set_output(0, (n, oh, ow, cout))
        self.ctx, self.mult, self.kh, self.kw, self.cout = ctx, mult, kh, kw, cout
        self.x_shape, self.out_shape = x.shape, (n, oh, ow, cout)
        self.geometry = (oh, ow, rows, cols, sh, sw)

    def prepare(self, ft: np.dtype, band_rows: int = 0) -> None:
        """Ask for the buffers of accumulator dtype ``ft``. ``band_rows`` > 0 (one image): the taps and
        the accumulator run per band of that many output rows (:meth:`stream`)."""
        n, h, wd, _ = self.x_shape
        self.ft = ft
        # with a horizontal stride the tap loop reads phase planes: x − z_in is written there directly
        self.strided = self.geometry[5] > 1
        self.ixf = None if self.strided else self.ctx.scratch((n, h, wd, self.cout), ft)
        self.band_rows = min(band_rows, self.out_shape[1]) if n == 1 else 0
        ow, c = self.out_shape[2:]
        self.iacc = self.ctx.scratch((1, self.band_rows, ow * c) if self.band_rows else self.out_shape, ft)
        self.loop = _TapLoop(self.ctx, (n, h, wd, self.cout), *self.geometry, dtype=np.dtype(ft),
                             band_rows=self.band_rows)
        self.itiles = self.ctx.scratch((self.kh, self.kw, self.out_shape[2] * self.cout), ft)

    def wmat(self, wt: np.ndarray, tmp: Sequence[np.ndarray]) -> np.ndarray:
        """[1, KH, KW, C] weights -> the tap loop's [KH, KW, OW·C] row tiles, in the accumulator's dtype,
        laid out in a scratch buffer at every call (one small pass) rather than held per op."""
        tiles = tmp[self.itiles]
        kh, kw, c = self.kh, self.kw, self.cout
        np.copyto(tiles.reshape(kh, kw, -1, c), np.asarray(wt).reshape(kh, kw, 1, c), casting="unsafe")
        return tiles

    def fill(self, x: np.ndarray, zp: int, tmp: Sequence[np.ndarray]) -> None:
        """``xf = x − z_in`` with each input channel repeated M times: into the ``xf`` buffer, or with a
        horizontal stride straight into the tap loop's phase planes (one pass, no full-size copy)."""
        n, h, wd, cin = self.x_shape
        m, ft = self.mult, self.ft
        if not self.strided:
            np.subtract(x[..., None], zp, out=tmp[self.ixf].reshape(n, h, wd, cin, m), dtype=ft)
            return
        sw = self.geometry[5]
        for p, view in self.loop.phase_views(tmp):
            np.subtract(x[:, :, p::sw, :, None], zp, out=view.reshape(n, h, -1, cin, m), dtype=ft)

    def run(self, tiles: np.ndarray, tmp: Sequence[np.ndarray]) -> np.ndarray:
        acc = tmp[self.iacc]
        if self.strided:
            self.loop.run(None, acc, tmp, tiles, phases_filled=True)
        else:
            self.loop.run(tmp[self.ixf], acc, tmp, tiles)
        return acc

    def stream(self, tiles: np.ndarray, tmp: Sequence[np.ndarray], r32: Requantizer32, out: np.ndarray,
               work: list[np.ndarray]) -> None:
        """One image, band by band of output rows: the band's taps, then its requantization while its
        accumulators are in cache (the arena holds one band of them and of the tap products)."""
        planes = self.loop.planes_of(None if self.strided else tmp[self.ixf], tmp, self.strided)
        acc = tmp[self.iacc]
        _, oh, ow, c = self.out_shape
        rows = self.band_rows

        def produce(r0: int, r1: int) -> np.ndarray:
            band = r0 // (rows * ow)
            a = acc[:, :(r1 - r0) // ow]
            self.loop.run_band(planes, a, tmp, tiles, band)
            return a.reshape(r1 - r0, c)

        r32.stream(produce, oh * ow, out.reshape(oh * ow, c), work, rows=rows * ow)


@register("DEPTHWISE_CONV_2D", "int8", "int16")
def depthwise_conv_2d_quantized(ctx: OpContext) -> EvalFn:
    """DEPTHWISE_CONV_2D int8 / 16x8 (TFLM ``reference/integer_ops/depthwise_conv.h``), any depth
    multiplier, through :class:`_DepthwiseTaps`."""
    ctx.check_arity(2, 3)
    taps = _DepthwiseTaps(ctx)
    st = _setup(ctx, 0, 1, 2, 3, taps.kh * taps.kw, taps.out_shape)
    _, _, ow, cout = taps.out_shape
    # bands of whole output rows that fit one Requantizer32 block (none when one row is already larger)
    band = st.r32.rows_per_block(cout) // ow if st.r32 is not None else 0
    taps.prepare(st.acc_dtype, band)
    streamed = taps.band_rows > 0

    def eval_(ins, outs, tmp):
        wt = taps.wmat(ins[1], tmp)
        taps.fill(ins[0], st.zp_in, tmp)
        if streamed:
            taps.stream(wt, tmp, st.r32, outs[0], st.work(tmp))
        else:
            st.requant(taps.run(wt, tmp), outs[0], st.bias(ins), tmp)

    return eval_


# ---------------------------------------------------------------------------------- TRANSPOSE_CONV

@register("TRANSPOSE_CONV", "int8", "int16")
def transpose_conv_quantized(ctx: OpContext) -> EvalFn:
    """TRANSPOSE_CONV int8 / 16x8 (TFLM ``reference/integer_ops/transpose_conv.h``): inputs
    [output_shape, filter OHWI, x, bias?]; every input pixel scatters ``(x − z_in)·w`` into the output
    window (one GEMM, then one add per tap), the window cropped by the padding of the forward conv."""
    ctx.check_arity(3, 4)
    ctx.check_rank(1, 4)
    ctx.check_rank(2, 4)
    out_shape = tuple(int(d) for d in np.asarray(ctx.const(0, "output shape")).reshape(-1))
    w, x = ctx.input(1), ctx.input(2)
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
    fh, fw = conv_out_size(padding, oh, kh, sh, 1), conv_out_size(padding, ow, kw, sw, 1)
    if (fh, fw) != (h, wd):
        raise ctx.fail(f"output_shape {list(out_shape)} does not invert to the input's {h}x{wd} with a {kh}x{kw} "
                       f"filter, strides ({sh}, {sw}) and {'SAME' if padding == 0 else 'VALID'} padding "
                       f"(it gives {fh}x{fw})")
    pt, _ = conv_pad_before(oh, kh, sh, 1, fh)
    pl, _ = conv_pad_before(ow, kw, sw, 1, fw)
    ctx.set_output(0, out_shape)
    st = _setup(ctx, 2, 1, 3, 0, kh * kw * cin, out_shape)
    ft = st.acc_dtype
    hf, wf = max((h - 1) * sh + kh, pt + oh), max((wd - 1) * sw + kw, pl + ow)
    ixf = ctx.scratch((n, h, wd, cin), ft)
    icols = ctx.scratch((n, h, wd, kh, kw, cout), ft)
    ifull = ctx.scratch((n, hf, wf, cout), ft)
    m = n * h * wd

    def wmat(wt: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(wt).astype(ft).transpose(3, 1, 2, 0).reshape(cin, kh * kw * cout))

    wconst = _weights(ctx, w, f"wmat-{ft}", wmat)
    taps = [(i, j, slice(i, i + (h - 1) * sh + 1, sh), slice(j, j + (wd - 1) * sw + 1, sw))
            for i in range(kh) for j in range(kw)]

    def eval_(ins, outs, tmp):
        wm = wconst if wconst is not None else wmat(ins[1])
        xf, cols, full = tmp[ixf], tmp[icols], tmp[ifull]
        np.subtract(ins[2], st.zp_in, out=xf, dtype=ft)
        np.matmul(xf.reshape(m, cin), wm, out=cols.reshape(m, kh * kw * cout))
        full.fill(0)
        for i, j, ys, xs in taps:
            f = full[:, ys, xs]
            np.add(f, cols[:, :, :, i, j], out=f)
        st.requant(full[:, pt:pt + oh, pl:pl + ow], outs[0], st.bias(ins), tmp)

    return eval_
