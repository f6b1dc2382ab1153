"""Quantized data movement (int8 / uint8 / int16), bit-exact with TFLite Micro: RESHAPE, SQUEEZE,
EXPAND_DIMS, TRANSPOSE, CONCATENATION, PAD, PADV2, MIRROR_PAD, STRIDED_SLICE, SLICE, GATHER, SPLIT,
SPLIT_V, PACK, UNPACK, DEPTH_TO_SPACE, SPACE_TO_DEPTH, BATCH_TO_SPACE_ND, SPACE_TO_BATCH_ND,
BROADCAST_TO; and TILE (int8, int16), which TFLite Micro lacks: it follows LiteRT's reference
kernel ``tflite/kernels/tile.cc`` (a byte copy, no quantization read).

These ops copy bytes; none requantizes. Each is registered for exactly the dtypes TFLite Micro's
kernel (``tensorflow/lite/micro/kernels/<op>.cc``, revision 90b983c2) accepts, so any other dtype is
refused by the loader ("no kernel"), as TFLM refuses it:

============================  ======================  ===============================================
op                            dtypes                  what TFLM checks of the quantization
============================  ======================  ===============================================
RESHAPE, SQUEEZE              int8, uint8, int16      nothing (byte copy; RESHAPE/SQUEEZE alias)
BROADCAST_TO                  int8, uint8, int16      nothing
EXPAND_DIMS                   int8, int16             nothing (alias)
TRANSPOSE, STRIDED_SLICE,     int8, int16             nothing
SLICE, SPLIT, SPLIT_V, PACK,
UNPACK
CONCATENATION                 int8, int16             int8: every input's scale and zero point equal
                                                      the output's; int16: every zero point is 0
PAD, PADV2                    int8, int16             int8: pads with the output zero point, or with
                                                      the constant-value input, whose scale and zero
                                                      point must equal the output's; int16: pads
                                                      with 0 (whatever the zero point) or the value
GATHER                        int8 (int32 positions)  nothing
DEPTH_TO_SPACE,               int8                    nothing
SPACE_TO_DEPTH, MIRROR_PAD,
BATCH_TO_SPACE_ND
SPACE_TO_BATCH_ND             int8                    nothing; pads with an undefined value (below);
                                                      we pad with the output zero point
============================  ======================  ===============================================

Where TFLM checks nothing, input and output quantization may differ and the bytes are still copied
(TFLM's behaviour, kept). Where a kernel reads or compares quantization, it must be present and per
tensor (``common.per_tensor``); TFLM would read 0 for a missing one -- we refuse such a file instead.

Where TFLM and LiteRT (``BUILTIN_REF``, ``tflite/kernels/*.cc``) differ, and what this module does
(each point is asserted in ``tests/runtime/kernels/quantized/test_shape.py``):

* SPACE_TO_BATCH_ND pads with the output zero point, as LiteRT does. TFLM has no defined pad value:
  its kernel never sets the ``output_offset`` the reference function pads with, so the padding is
  the low byte of an uninitialized persistent buffer (0 in a fresh process, other values after other
  models ran in the same process). TFLM equals this kernel everywhere except on the padding.
* CONCATENATION int8 with different input scales: TFLM refuses it, and so does LiteRT 2.3 (LiteRT
  requantizes for uint8 only). uint8 CONCATENATION has no TFLM kernel: refused.
* STRIDED_SLICE: TFLM ignores ``ellipsis_mask``, ``new_axis_mask`` and ``offset`` (and reads an empty
  slice for a shrunk axis with a negative stride); we refuse such options rather than compute another
  slice than LiteRT would. GATHER: int64 positions have no TFLM kernel (LiteRT has one).
* int16 PAD / PADV2 without a value: TFLM fills 0 whatever the output zero point; LiteRT fills the
  zero point.
* BROADCAST_TO has no kernel in LiteRT's reference resolver; TFLM's is used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ...errors import RuntimeModelError
from .. import shape as move
from ..base import EvalFn, OpContext, PrepareFn, TensorSpec, norm_axis, register
from .common import per_tensor

ANY_Q = ("int8", "uint8", "int16")
I8_I16 = ("int8", "int16")
I8 = ("int8",)


# ------------------------------------------------------------------------------ shared checks

def _same_type(ctx: OpContext, main: int = 0) -> TensorSpec:
    """Input ``main``; every output must share its dtype (TF_LITE_ENSURE_TYPES_EQ in each TFLM kernel)."""
    x = ctx.input(main)
    for o in ctx.outputs:
        if o.dtype != x.dtype:
            raise ctx.fail(f"output '{o.name}' is {o.dtype} but input '{x.name}' is {x.dtype}; TFLite Micro "
                           "requires the same type")
    return x


def _max_rank(ctx: OpContext, t: TensorSpec, most: int, least: int = 0) -> None:
    if not least <= t.rank <= most:
        raise ctx.fail(f"tensor '{t.name}' has rank {t.rank}; TFLite Micro's {ctx.op} supports ranks "
                       f"{least} to {most}")


def _index_const(ctx: OpContext, i: int, what: str, dtypes: Sequence[str] = ("int32",)) -> list[int]:
    """A constant parameter input read as ints; TFLM reads it as int32 (GetTensorData<int32_t>), so
    another dtype would be misread there: refuse it."""
    t = ctx.input(i)
    if t.dtype.name not in dtypes:
        raise ctx.fail(f"input {i} ('{t.name}', the {what}) is {t.dtype}; TFLite Micro reads it as "
                       f"{' or '.join(dtypes)}")
    return [int(v) for v in np.asarray(ctx.const(i, what)).reshape(-1)]


def _moved(float_prepare: PrepareFn, main: int = 0, max_rank: int | None = None,
           check: Callable[[OpContext], None] | None = None) -> PrepareFn:
    """The float data-movement kernel ``float_prepare`` (``kernels/shape.py``) for quantized dtypes,
    after TFLM's type checks (outputs share input ``main``'s dtype; rank at most ``max_rank``) and
    ``check``."""

    def prepare(ctx: OpContext) -> EvalFn:
        x = _same_type(ctx, main)
        if max_rank is not None:
            _max_rank(ctx, x, max_rank)
        if check is not None:
            check(ctx)
        return float_prepare(ctx)

    prepare.__name__ = f"{float_prepare.__name__.rstrip('_')}_quantized"
    prepare.__doc__ = f"{float_prepare.__name__} on quantized bytes (TFLM checks first; module docstring)."
    return prepare


# ------------------------------------------------------------------------------ pure re-views and copies

register("RESHAPE", *ANY_Q)(_moved(move.reshape))
register("SQUEEZE", *ANY_Q)(_moved(move.squeeze, max_rank=8))


def _expand_dims_check(ctx: OpContext) -> None:
    _index_const(ctx, 1, "axis")


register("EXPAND_DIMS", *I8_I16)(_moved(move.expand_dims, check=_expand_dims_check))


def _transpose_check(ctx: OpContext) -> None:
    perm = _index_const(ctx, 1, "permutation")
    rank = ctx.input(0).rank
    if len(perm) != rank or any(not 0 <= p < rank for p in perm):
        raise ctx.fail(f"permutation {perm} must hold {rank} axes in [0, {rank}) (TFLite Micro takes no "
                       "negative axes)")


register("TRANSPOSE", *I8_I16)(_moved(move.transpose, max_rank=5, check=_transpose_check))


def _slice_check(ctx: OpContext) -> None:
    b, s = ctx.input(1), ctx.input(2)
    _index_const(ctx, 1, "begin", ("int32", "int64"))
    _index_const(ctx, 2, "size", ("int32", "int64"))
    if b.dtype != s.dtype:
        raise ctx.fail(f"begin is {b.dtype} but size is {s.dtype}; TFLite Micro requires one type")


register("SLICE", *I8_I16)(_moved(move.slice_, max_rank=5, check=_slice_check))


def _split_check(ctx: OpContext) -> None:
    _index_const(ctx, 0 if ctx.op == "SPLIT" else 2, "axis")


register("SPLIT", *I8_I16)(_moved(move.split, main=1, check=_split_check))
register("SPLIT_V", *I8_I16)(_moved(move.split_v, check=_split_check))
register("PACK", *I8_I16)(_moved(move.pack))
register("UNPACK", *I8_I16)(_moved(move.unpack))
register("DEPTH_TO_SPACE", *I8)(_moved(move.depth_to_space))
register("SPACE_TO_DEPTH", *I8)(_moved(move.space_to_depth))


def _batch_space_check(ctx: OpContext) -> None:
    _max_rank(ctx, ctx.input(0), 4, least=3)
    _index_const(ctx, 1, "block_shape")
    _index_const(ctx, 2, "crops" if ctx.op == "BATCH_TO_SPACE_ND" else "paddings")


register("BATCH_TO_SPACE_ND", *I8)(_moved(move.batch_to_space_nd, check=_batch_space_check))


def _tile_check(ctx: OpContext) -> None:
    _index_const(ctx, 1, "multiples", ("int32", "int64"))


#: TILE int8 / int16: TFLite Micro has no TILE kernel. LiteRT's reference kernel
#: (``tflite/kernels/tile.cc``) copies elements by their byte width and reads no quantization; int32 or
#: int64 multiples; same input and output type.
register("TILE", *I8_I16)(_moved(move.tile, check=_tile_check))


@register("SPACE_TO_BATCH_ND", *I8)
def space_to_batch_nd_int8(ctx: OpContext) -> EvalFn:
    """TFLM ``space_to_batch_nd.cc`` (rank 3 or 4, int32 block shape and paddings), padding with the
    output zero point as LiteRT does; TFLM's pad value is uninitialized (module docstring)."""
    _same_type(ctx)
    _batch_space_check(ctx)
    return move.space_to_batch_nd_padded(ctx, per_tensor(ctx, ctx.outputs[0])[1])


def _mirror_pad_check(ctx: OpContext) -> None:
    _index_const(ctx, 1, "paddings", ("int32", "int64"))


register("MIRROR_PAD", *I8)(_moved(move.mirror_pad, check=_mirror_pad_check))


def _broadcast_to_check(ctx: OpContext) -> None:
    shape = _index_const(ctx, 1, "shape", ("int32", "int64"))
    if len(shape) > 5 or len(shape) < ctx.input(0).rank:
        raise ctx.fail(f"shape {shape} must have between {ctx.input(0).rank} and 5 dims (TFLite Micro)")


register("BROADCAST_TO", *ANY_Q)(_moved(move.broadcast_to, max_rank=5, check=_broadcast_to_check))


# ------------------------------------------------------------------------------ CONCATENATION

MAX_CONCAT_INPUTS = 10  # TFLM concatenation.cc kMaxInputNum


@register("CONCATENATION", *I8_I16)
def concatenation_quantized(ctx: OpContext) -> EvalFn:
    """TFLM ``concatenation.cc``: at most 10 inputs, no fused activation; int8 inputs must carry the
    output's scale and zero point exactly (no requantization), int16 ones zero point 0."""
    out = ctx.outputs[0]
    x = _same_type(ctx)
    n = len(ctx.inputs)
    if n > MAX_CONCAT_INPUTS:
        raise ctx.fail(f"{n} inputs; TFLite Micro's CONCATENATION takes at most {MAX_CONCAT_INPUTS}")
    s_out, z_out = per_tensor(ctx, out)
    for i in range(n):
        t = ctx.input(i)
        if t.dtype != x.dtype:
            raise ctx.fail(f"input {i} ('{t.name}') is {t.dtype}, input 0 is {x.dtype}")
        s, z = per_tensor(ctx, t)
        if x.dtype == np.int8 and (np.float32(s) != np.float32(s_out) or z != z_out):
            raise ctx.fail(f"input '{t.name}' has scale {s:.9g} and zero point {z}, the output '{out.name}' "
                           f"{s_out:.9g} and {z_out}; TFLite Micro's int8 CONCATENATION does not requantize "
                           "and requires them equal")
        if x.dtype == np.int16 and z != 0:
            raise ctx.fail(f"input '{t.name}' has zero point {z}; int16 CONCATENATION requires 0")
    if x.dtype == np.int16 and z_out != 0:
        raise ctx.fail(f"output '{out.name}' has zero point {z_out}; int16 CONCATENATION requires 0")
    return move.concatenation(ctx)


# ------------------------------------------------------------------------------ PAD / PADV2

MAX_PAD_RANK = 5  # reference_ops::PadKernelMaxDimensionCount


def _pad_value(ctx: OpContext, x: TensorSpec) -> int | None:
    """The fill value known at prepare time, or None when the constant-value input is a runtime
    tensor (read at eval). TFLM ``pad_common.cc`` / ``pad.cc``."""
    cv = ctx.opt_input(2)
    if cv is not None:
        if cv.dtype != x.dtype or cv.size != 1:
            raise ctx.fail(f"constant value '{cv.name}' is {cv.dtype} {list(cv.shape)}; it must be one "
                           f"{x.dtype} value")
    if x.dtype == np.int8:
        out = ctx.outputs[0]
        s_out, z_out = per_tensor(ctx, out)
        if cv is None:
            return z_out
        s, z = per_tensor(ctx, cv)
        if np.float32(s) != np.float32(s_out) or z != z_out:
            raise ctx.fail(f"constant value '{cv.name}' has scale {s:.9g} and zero point {z}, the output "
                           f"'{out.name}' {s_out:.9g} and {z_out}; TFLite Micro requires them equal")
    elif cv is None:
        return 0  # int16: TFLM pads with 0, not with the zero point
    return None if cv.data is None else int(np.asarray(cv.data).reshape(-1)[0])


def _pad_quantized(ctx: OpContext) -> EvalFn:
    ctx.check_arity(2, 3)
    x = _same_type(ctx)
    _max_rank(ctx, x, MAX_PAD_RANK)
    pads = np.asarray(_index_const(ctx, 1, "paddings"), np.int64)
    if pads.size != 2 * x.rank:
        raise ctx.fail(f"paddings {pads.tolist()} must be {x.rank} (before, after) pairs")
    value = _pad_value(ctx, x)
    inner, slabs = move.pad_layout(ctx, pads.reshape(x.rank, 2))

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        out = outs[0]
        v = value if value is not None else ins[2].reshape(-1)[0]  # type: ignore[union-attr]
        for s in slabs:
            out[s] = v
        out[inner] = ins[0]

    return eval_


@register("PAD", *I8_I16)
def pad_quantized(ctx: OpContext) -> EvalFn:
    """TFLM ``pad.cc`` (PAD and PADV2 share it; both accept the optional constant-value input):
    module docstring for the fill value."""
    return _pad_quantized(ctx)


@register("PADV2", *I8_I16)
def padv2_quantized(ctx: OpContext) -> EvalFn:
    """As :func:`pad_quantized`."""
    return _pad_quantized(ctx)


# ------------------------------------------------------------------------------ STRIDED_SLICE

MAX_STRIDED_SLICE_RANK = 4  # TFLM strided_slice_common.cc kMaxDim


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if v > hi else lo if v < lo else v


def _slice_axis(n: int, begin: int, end: int, stride: int, begin_masked: bool, end_masked: bool
                ) -> tuple[int, int]:
    """TFLM strided_slice_logic.h StridedSliceStartForAxis / StridedSliceEndForAxis (no shrink):
    negative indices count from the end, then clamp to [0, n] (stride > 0) or [-1, n - 1]; masks
    select the whole axis in the stride's direction."""
    lo, hi = (0, n) if stride > 0 else (-1, n - 1)
    start = _clamp(begin + n if begin < 0 else begin, lo, hi)
    stop = _clamp(end + n if end < 0 else end, lo, hi)
    if begin_masked:
        start = 0 if stride > 0 else n - 1
    if end_masked:
        stop = n if stride > 0 else -1
    return start, stop


def _python_slice(start: int, stop: int, stride: int) -> slice:
    """(start, stop, stride) as TFLM loops them (``start`` while ``< stop`` or ``> stop``) -> a slice;
    -1 means "before 0" here, not "the last element"."""
    if stride > 0:
        return slice(start, stop, stride)
    if start < 0:
        return slice(0, 0)
    return slice(start, None if stop < 0 else stop, stride)


@register("STRIDED_SLICE", *I8_I16)
def strided_slice_quantized(ctx: OpContext) -> EvalFn:
    """TFLM ``strided_slice.cc`` / ``strided_slice_common.cc`` and reference ``strided_slice.h``:
    rank <= 4, constant int32 begin/end/strides (one per axis), begin/end/shrink masks; ellipsis,
    new-axis masks and ``offset`` are refused (TFLM ignores them: module docstring)."""
    ctx.check_arity(4)
    x = _same_type(ctx)
    _max_rank(ctx, x, MAX_STRIDED_SLICE_RANK)
    begin, end = _index_const(ctx, 1, "begin"), _index_const(ctx, 2, "end")
    strides = _index_const(ctx, 3, "strides")
    if not len(begin) == len(end) == len(strides) == x.rank:
        raise ctx.fail(f"begin {begin}, end {end} and strides {strides} need {x.rank} entries each "
                       "(TFLite Micro reads one per input axis)")
    for name in ("ellipsis_mask", "new_axis_mask", "offset"):
        if ctx.opt(name, 0):
            raise ctx.fail(f"{name} is set; TFLite Micro ignores it (and would slice differently), so this "
                           "runtime refuses it")
    bm, em, sm = (int(ctx.opt(k, 0)) for k in ("begin_mask", "end_mask", "shrink_axis_mask"))
    key: list[int | slice] = []
    for i, n in enumerate(x.shape):
        stride = strides[i]
        if stride == 0:
            raise ctx.fail(f"stride {i} is 0")
        start, stop = _slice_axis(n, begin[i], end[i], stride, bool(bm >> i & 1), bool(em >> i & 1))
        if sm >> i & 1:
            if stride < 0 or not 0 <= start < n:
                raise ctx.fail(f"axis {i} is shrunk at index {begin[i]} with stride {stride}; TFLite Micro "
                               "needs an index inside the axis and a positive stride there")
            key.append(start)
        else:
            key.append(_python_slice(start, stop, stride))
    index = tuple(key)
    ctx.set_output(0, np.broadcast_to(np.zeros((), np.int8), x.shape)[index].shape)

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        np.copyto(outs[0], ins[0][index])  # type: ignore[index]

    return eval_


# ------------------------------------------------------------------------------ GATHER

@register("GATHER", *I8)
def gather_int8(ctx: OpContext) -> EvalFn:
    """TFLM ``gather.cc``: int8 params, int32 positions only, ``axis`` and ``batch_dims`` (negative
    ones count from the end). Positions outside the axis are undefined behaviour in TFLM (a DCHECK);
    here they raise RuntimeModelError at run time."""
    ctx.check_arity(2)
    p = _same_type(ctx)
    ind = ctx.input(1)
    if ind.dtype != np.int32:
        raise ctx.fail(f"positions '{ind.name}' are {ind.dtype}; TFLite Micro's GATHER takes int32 only")
    axis = norm_axis(ctx, int(ctx.opt("axis", 0)), p.rank)
    bd = int(ctx.opt("batch_dims", 0))
    bd = bd + ind.rank if bd < 0 else bd
    if not 0 <= bd <= axis or bd >= p.rank or bd > ind.rank or p.shape[:bd] != ind.shape[:bd]:
        raise ctx.fail(f"batch_dims {ctx.opt('batch_dims', 0)} does not fit params {list(p.shape)}, positions "
                       f"{list(ind.shape)} and axis {axis}")
    ctx.set_output(0, p.shape[:axis] + ind.shape[bd:] + p.shape[axis + 1:])
    n = p.shape[axis]
    batch = int(np.prod(p.shape[:bd], dtype=np.int64))
    outer = int(np.prod(p.shape[bd:axis], dtype=np.int64))
    inner = int(np.prod(p.shape[axis + 1:], dtype=np.int64))
    coords = int(np.prod(ind.shape[bd:], dtype=np.int64))
    where = ctx.describe()
    if ind.is_const and ind.size and (ind.data.min() < 0 or ind.data.max() >= n):  # type: ignore[union-attr]
        raise ctx.fail(f"positions outside [0, {n})")
    # batch_dims > 0: out[b, o, c] = params[b, o, positions[b, c]] by broadcast fancy indexing.
    bi = np.arange(batch).reshape(batch, 1, 1)
    oi = np.arange(outer).reshape(1, outer, 1)

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        params, idx, out = ins[0], ins[1], outs[0]
        if idx.size and (idx.min() < 0 or idx.max() >= n):  # type: ignore[union-attr]
            raise RuntimeModelError(f"{where}: positions outside [0, {n}) (min {idx.min()}, max {idx.max()})")
        if bd == 0:
            np.take(params, idx, axis=axis, out=out)
            return
        src = params.reshape(batch, outer, n, inner)  # type: ignore[union-attr]
        np.copyto(out.reshape(batch, outer, coords, inner), src[bi, oi, idx.reshape(batch, 1, coords)])

    return eval_
