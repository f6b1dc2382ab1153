"""Data movement (any of float32/int32/int64/bool): RESHAPE, SQUEEZE, EXPAND_DIMS (zero-copy views),
TRANSPOSE, CONCATENATION, PAD, PADV2, MIRROR_PAD, STRIDED_SLICE, SLICE, GATHER, SPLIT, SPLIT_V, TILE,
BROADCAST_TO, PACK, UNPACK, SHAPE, DEPTH_TO_SPACE, SPACE_TO_DEPTH.

Shape/parameter inputs (new shape, perm, paddings, begin/end/strides, axes, multiples) must be known
at prepare time: constants in the file, or values the interpreter folded there (e.g. the
SHAPE -> STRIDED_SLICE -> PACK chain the converter emits for a dynamic batch).
"""

from __future__ import annotations

import numpy as np

from .base import MOVE, EvalFn, OpContext, norm_axis, register


def _ints(ctx: OpContext, i: int, what: str) -> list[int]:
    return [int(v) for v in np.asarray(ctx.const(i, what)).reshape(-1)]


def _copy(ins, outs, tmp):
    np.copyto(outs[0], ins[0].reshape(outs[0].shape))


def _resolve_shape(ctx: OpContext, shape: list[int], size: int) -> tuple[int, ...]:
    if shape.count(-1) > 1:
        raise ctx.fail(f"new shape {shape} has more than one -1")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or size % known:
            raise ctx.fail(f"cannot reshape {size} values to {shape}")
        shape = [size // known if d == -1 else d for d in shape]
    if any(d < 0 for d in shape) or int(np.prod(shape, dtype=np.int64)) != size:
        raise ctx.fail(f"cannot reshape {list(ctx.input(0).shape)} ({size} values) to {shape}")
    return tuple(shape)


@register("RESHAPE", *MOVE)
def reshape(ctx: OpContext) -> EvalFn:
    ctx.check_arity(1, 2)
    x = ctx.input(0)
    shape_in = ctx.opt_input(1)
    if shape_in is not None and len(shape_in.shape) == 1:
        shape = _ints(ctx, 1, "new shape")
    else:
        shape = [int(d) for d in ctx.opt("new_shape", []) or []]
        if shape_in is None and not ctx.options.get("new_shape") and x.size != 1:
            raise ctx.fail("neither a shape input nor the new_shape option is given")
        if shape == [0]:
            shape = []  # legacy: [0] meant a scalar
    ctx.set_output(0, _resolve_shape(ctx, shape, x.size))
    ctx.alias_input(0)
    return _copy


@register("SQUEEZE", *MOVE)
def squeeze(ctx: OpContext) -> EvalFn:
    ctx.check_arity(1)
    x = ctx.input(0)
    dims = [norm_axis(ctx, d, x.rank) for d in (ctx.opt("squeeze_dims", []) or [])]
    if not dims:
        dims = [i for i, d in enumerate(x.shape) if d == 1]
    for d in dims:
        if x.shape[d] != 1:
            raise ctx.fail(f"cannot squeeze dim {d} of shape {list(x.shape)}")
    ctx.set_output(0, tuple(d for i, d in enumerate(x.shape) if i not in dims))
    ctx.alias_input(0)
    return _copy


@register("EXPAND_DIMS", *MOVE)
def expand_dims(ctx: OpContext) -> EvalFn:
    ctx.check_arity(2)
    x = ctx.input(0)
    axis = _ints(ctx, 1, "axis")
    if len(axis) != 1:
        raise ctx.fail(f"axis must be one value, got {axis}")
    a = norm_axis(ctx, axis[0], x.rank + 1)
    ctx.set_output(0, x.shape[:a] + (1,) + x.shape[a:])
    ctx.alias_input(0)
    return _copy


@register("TRANSPOSE", *MOVE)
def transpose(ctx: OpContext) -> EvalFn:
    ctx.check_arity(2)
    x = ctx.input(0)
    perm = [norm_axis(ctx, p, x.rank) for p in _ints(ctx, 1, "permutation")]
    if sorted(perm) != list(range(x.rank)):
        raise ctx.fail(f"{perm} is not a permutation of {x.rank} axes")
    ctx.set_output(0, tuple(x.shape[p] for p in perm))

    def eval_(ins, outs, tmp):
        np.copyto(outs[0], ins[0].transpose(perm))

    return eval_


@register("CONCATENATION", *MOVE)
def concatenation(ctx: OpContext) -> EvalFn:
    ctx.check_arity(1, len(ctx.inputs))
    xs = [ctx.input(i) for i in range(len(ctx.inputs))]
    rank = xs[0].rank
    axis = norm_axis(ctx, int(ctx.opt("axis", 0)), rank)
    for t in xs:
        if t.dtype != xs[0].dtype or t.rank != rank or any(d != e for i, (d, e) in enumerate(zip(t.shape, xs[0].shape))
                                                           if i != axis):
            raise ctx.fail(f"inputs {[list(t.shape) for t in xs]} cannot be joined along axis {axis}")
    shape = list(xs[0].shape)
    shape[axis] = sum(t.shape[axis] for t in xs)
    ctx.set_output(0, shape)
    if int(ctx.opt("fused_activation_function", 0)) != 0:
        raise ctx.fail("a fused activation on CONCATENATION is not supported (TFLite rejects it too)")

    def eval_(ins, outs, tmp):
        np.concatenate(ins, axis=axis, out=outs[0])

    return eval_


def pad_layout(ctx: OpContext, pads: np.ndarray) -> tuple[tuple[slice, ...], list[tuple[slice, ...]]]:
    """Check ``pads`` ([rank, 2] non-negative (before, after) pairs of input 0), set output 0's shape,
    and return where the input goes in the output (``inner``) and the border as slabs: for each padded
    axis, the parts before and after the interior. Shared with the quantized PAD kernels."""
    x = ctx.input(0)
    if pads.shape != (x.rank, 2) or (pads < 0).any():
        raise ctx.fail(f"paddings {pads.tolist()} must be {x.rank} non-negative (before, after) pairs")
    shape = tuple(int(d + a + b) for d, (a, b) in zip(x.shape, pads))
    ctx.set_output(0, shape)
    inner = tuple(slice(int(a), int(a) + d) for d, (a, _) in zip(x.shape, pads))
    slabs = []
    for ax, (a, b) in enumerate(pads):
        pre = tuple(inner[:ax])
        if a:
            slabs.append(pre + (slice(0, int(a)),))
        if b:
            slabs.append(pre + (slice(int(a) + x.shape[ax], None),))
    return inner, slabs


def _pad(ctx: OpContext, value_input: bool) -> EvalFn:
    ctx.check_arity(2, 3 if value_input else 2)
    pads = np.asarray(ctx.const(1, "paddings")).astype(np.int64)
    value = 0
    if value_input and ctx.opt_input(2) is not None:
        v = np.asarray(ctx.const(2, "constant value")).reshape(-1)
        if v.size != 1:
            raise ctx.fail("the constant value must be a scalar")
        value = v[0]
    inner, slabs = pad_layout(ctx, pads)

    def eval_(ins, outs, tmp):
        out = outs[0]
        for s in slabs:
            out[s] = value
        out[inner] = ins[0]

    return eval_


@register("PAD", *MOVE)
def pad(ctx: OpContext) -> EvalFn:
    return _pad(ctx, False)


@register("PADV2", *MOVE)
def padv2(ctx: OpContext) -> EvalFn:
    return _pad(ctx, True)


@register("MIRROR_PAD", *MOVE)
def mirror_pad(ctx: OpContext) -> EvalFn:
    ctx.check_arity(2)
    x = ctx.input(0)
    pads = np.asarray(ctx.const(1, "paddings")).astype(np.int64)
    if pads.shape != (x.rank, 2) or (pads < 0).any():
        raise ctx.fail(f"paddings {pads.tolist()} must be {x.rank} non-negative (before, after) pairs")
    mode = "reflect" if int(ctx.opt("mode", 0)) == 0 else "symmetric"
    ctx.set_output(0, tuple(int(d + a + b) for d, (a, b) in zip(x.shape, pads)))
    pw = [(int(a), int(b)) for a, b in pads]

    def eval_(ins, outs, tmp):
        np.copyto(outs[0], np.pad(ins[0], pw, mode=mode))

    return eval_


def _bit(mask: int, i: int) -> bool:
    return bool((mask >> i) & 1)


@register("STRIDED_SLICE", *MOVE)
def strided_slice(ctx: OpContext) -> EvalFn:
    ctx.check_arity(4)
    x = ctx.input(0)
    begin, end = _ints(ctx, 1, "begin"), _ints(ctx, 2, "end")
    strides = _ints(ctx, 3, "strides")
    if not len(begin) == len(end) == len(strides):
        raise ctx.fail(f"begin {begin}, end {end} and strides {strides} differ in length")
    if 0 in strides:
        raise ctx.fail("a stride is 0")
    bm, em = int(ctx.opt("begin_mask", 0)), int(ctx.opt("end_mask", 0))
    elm, nam, sam = int(ctx.opt("ellipsis_mask", 0)), int(ctx.opt("new_axis_mask", 0)), \
        int(ctx.opt("shrink_axis_mask", 0))
    offset = bool(ctx.opt("offset", False))
    idx: list = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        if _bit(elm, i):
            idx.append(Ellipsis)
        elif _bit(nam, i):
            idx.append(np.newaxis)
        elif _bit(sam, i):
            idx.append(b)
        else:
            if offset:
                e = b + e
            idx.append(slice(None if _bit(bm, i) else b, None if _bit(em, i) else e, s))
    key = tuple(idx)
    try:
        shape = np.broadcast_to(np.zeros((), np.int8), x.shape)[key].shape
    except IndexError as err:
        raise ctx.fail(f"slice {key} is invalid for shape {list(x.shape)}: {err}") from None
    ctx.set_output(0, shape)

    def eval_(ins, outs, tmp):
        np.copyto(outs[0], ins[0][key])

    return eval_


@register("SLICE", *MOVE)
def slice_(ctx: OpContext) -> EvalFn:
    ctx.check_arity(3)
    x = ctx.input(0)
    begin, size = _ints(ctx, 1, "begin"), _ints(ctx, 2, "size")
    if len(begin) != x.rank or len(size) != x.rank:
        raise ctx.fail(f"begin {begin} and size {size} need {x.rank} entries")
    key = []
    for d, b, s in zip(x.shape, begin, size):
        e = d if s == -1 else b + s
        if not 0 <= b <= e <= d:
            raise ctx.fail(f"begin {begin} / size {size} are out of range for shape {list(x.shape)}")
        key.append(slice(b, e))
    key = tuple(key)
    ctx.set_output(0, tuple(k.stop - k.start for k in key))

    def eval_(ins, outs, tmp):
        np.copyto(outs[0], ins[0][key])

    return eval_


@register("GATHER", *MOVE)
def gather(ctx: OpContext) -> EvalFn:
    ctx.check_arity(2)
    p, ind = ctx.input(0), ctx.input(1)
    if ind.dtype not in (np.int32, np.int64):
        raise ctx.fail(f"indices must be int32 or int64, got {ind.dtype}")
    if int(ctx.opt("batch_dims", 0)) != 0:
        raise ctx.fail("batch_dims != 0 is not supported")
    axis = norm_axis(ctx, int(ctx.opt("axis", 0)), p.rank)
    ctx.set_output(0, p.shape[:axis] + ind.shape + p.shape[axis + 1:])
    n = p.shape[axis]
    if ind.is_const and ((ind.data < 0) | (ind.data >= n)).any():
        raise ctx.fail(f"indices out of range [0, {n})")

    def eval_(ins, outs, tmp):
        idx = ins[1]
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"gather indices out of range [0, {n}): min {idx.min()}, max {idx.max()}")
        np.take(ins[0], idx, axis=axis, out=outs[0])

    return eval_


def _split_outputs(ctx: OpContext, x, axis: int, sizes: list[int]):
    if len(sizes) != len(ctx.outputs):
        raise ctx.fail(f"{len(sizes)} pieces but {len(ctx.outputs)} outputs")
    starts = np.cumsum([0] + sizes)
    keys = []
    for k, s in enumerate(sizes):
        shape = list(x.shape)
        shape[axis] = s
        ctx.set_output(k, shape)
        keys.append((slice(None),) * axis + (slice(int(starts[k]), int(starts[k + 1])),))

    xi = 1 if ctx.op == "SPLIT" else 0  # SPLIT is (axis, x); SPLIT_V is (x, sizes, axis)

    def eval_(ins, outs, tmp):
        xv = ins[xi]
        for o, key in zip(outs, keys):
            np.copyto(o, xv[key])

    return eval_


@register("SPLIT", *MOVE)
def split(ctx: OpContext) -> EvalFn:
    ctx.check_arity(2, n_out=None)
    x = ctx.input(1)
    axis = norm_axis(ctx, _ints(ctx, 0, "axis")[0], x.rank)
    num = int(ctx.opt("num_splits", len(ctx.outputs)) or len(ctx.outputs))
    if num <= 0 or x.shape[axis] % num:
        raise ctx.fail(f"dim {axis} of {list(x.shape)} does not split into {num} equal parts")
    return _split_outputs(ctx, x, axis, [x.shape[axis] // num] * num)


@register("SPLIT_V", *MOVE)
def split_v(ctx: OpContext) -> EvalFn:
    ctx.check_arity(3, n_out=None)
    x = ctx.input(0)
    sizes = _ints(ctx, 1, "size_splits")
    axis = norm_axis(ctx, _ints(ctx, 2, "axis")[0], x.rank)
    if sizes.count(-1) > 1:
        raise ctx.fail(f"size_splits {sizes} has more than one -1")
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
    if sum(sizes) != x.shape[axis] or min(sizes) < 0:
        raise ctx.fail(f"size_splits {sizes} do not add up to dim {axis} of {list(x.shape)}")
    return _split_outputs(ctx, x, axis, sizes)


@register("TILE", *MOVE)
def tile(ctx: OpContext) -> EvalFn:
    ctx.check_arity(2)
    x = ctx.input(0)
    mult = _ints(ctx, 1, "multiples")
    if len(mult) != x.rank or min(mult, default=1) < 0:
        raise ctx.fail(f"multiples {mult} need {x.rank} non-negative entries")
    ctx.set_output(0, tuple(d * m for d, m in zip(x.shape, mult)))
    inter = [v for m, d in zip(mult, x.shape) for v in (m, d)]
    src = [v for d in x.shape for v in (1, d)]

    def eval_(ins, outs, tmp):
        np.copyto(outs[0].reshape(inter), ins[0].reshape(src))

    return eval_


@register("BROADCAST_TO", *MOVE)
def broadcast_to(ctx: OpContext) -> EvalFn:
    ctx.check_arity(2)
    x = ctx.input(0)
    shape = tuple(_ints(ctx, 1, "shape"))
    try:
        np.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise ctx.fail(f"cannot broadcast {list(x.shape)} to {list(shape)}") from None
    ctx.set_output(0, np.broadcast_shapes(x.shape, shape))

    def eval_(ins, outs, tmp):
        np.copyto(outs[0], ins[0])

    return eval_


@register("PACK", *MOVE)
def pack(ctx: OpContext) -> EvalFn:
    n = len(ctx.inputs)
    ctx.check_arity(1, n)
    xs = [ctx.input(i) for i in range(n)]
    count = int(ctx.opt("values_count", n) or n)
    if count != n or any(t.shape != xs[0].shape or t.dtype != xs[0].dtype for t in xs):
        raise ctx.fail(f"values_count {count}; inputs {[list(t.shape) for t in xs]} must all share one shape")
    axis = norm_axis(ctx, int(ctx.opt("axis", 0)), xs[0].rank + 1)
    ctx.set_output(0, xs[0].shape[:axis] + (n,) + xs[0].shape[axis:])

    def eval_(ins, outs, tmp):
        np.stack(ins, axis=axis, out=outs[0])

    return eval_


@register("UNPACK", *MOVE)
def unpack(ctx: OpContext) -> EvalFn:
    ctx.check_arity(1, n_out=None)
    x = ctx.input(0)
    axis = norm_axis(ctx, int(ctx.opt("axis", 0)), x.rank)
    num = int(ctx.opt("num", x.shape[axis]) or x.shape[axis])
    if num != x.shape[axis] or len(ctx.outputs) != num:
        raise ctx.fail(f"cannot unpack dim {axis} of {list(x.shape)} into {len(ctx.outputs)} outputs")
    for k in range(num):
        ctx.set_output(k, x.shape[:axis] + x.shape[axis + 1:])
    pre = (slice(None),) * axis

    def eval_(ins, outs, tmp):
        for k, o in enumerate(outs):
            np.copyto(o, ins[0][pre + (k,)])

    return eval_


@register("SHAPE", *MOVE, "int8", "uint8", "int16", "float16")
def shape(ctx: OpContext) -> EvalFn:
    ctx.check_arity(1)
    out = ctx.outputs[0]
    if out.dtype not in (np.int32, np.int64):
        raise ctx.fail(f"output must be int32 or int64, got {out.dtype}")
    ctx.set_output_value(0, np.array(ctx.input(0).shape, out.dtype))
    return _copy


@register("DEPTH_TO_SPACE", *MOVE)
def depth_to_space(ctx: OpContext) -> EvalFn:
    ctx.check_arity(1)
    ctx.check_rank(0, 4)
    n, h, w, c = ctx.input(0).shape
    b = int(ctx.opt("block_size", 0))
    if b < 1 or c % (b * b):
        raise ctx.fail(f"block_size {b} does not divide {c} channels into b*b blocks")
    co = c // (b * b)
    ctx.set_output(0, (n, h * b, w * b, co))

    def eval_(ins, outs, tmp):
        np.copyto(outs[0].reshape(n, h, b, w, b, co), ins[0].reshape(n, h, w, b, b, co).transpose(0, 1, 3, 2, 4, 5))

    return eval_


@register("SPACE_TO_DEPTH", *MOVE)
def space_to_depth(ctx: OpContext) -> EvalFn:
    ctx.check_arity(1)
    ctx.check_rank(0, 4)
    n, h, w, c = ctx.input(0).shape
    b = int(ctx.opt("block_size", 0))
    if b < 1 or h % b or w % b:
        raise ctx.fail(f"block_size {b} does not divide the {h}x{w} input")
    ctx.set_output(0, (n, h // b, w // b, c * b * b))

    def eval_(ins, outs, tmp):
        np.copyto(outs[0].reshape(n, h // b, w // b, b, b, c),
                  ins[0].reshape(n, h // b, b, w // b, b, c).transpose(0, 1, 3, 2, 4, 5))

    return eval_


@register("SPACE_TO_BATCH_ND", *MOVE)
def space_to_batch_nd(ctx: OpContext) -> EvalFn:
    """Pad the M spatial dims, then move each block's offsets into the batch (block-major), as TF does.
    The converter emits it (with BATCH_TO_SPACE_ND) around convolutions with dilation and SAME padding."""
    return space_to_batch_nd_padded(ctx, 0)


def space_to_batch_nd_padded(ctx: OpContext, pad_value: int) -> EvalFn:
    """SPACE_TO_BATCH_ND padding with ``pad_value`` (0 for float; the quantized kernel's zero point)."""
    ctx.check_arity(3)
    x = ctx.input(0)
    block = _ints(ctx, 1, "block_shape")
    m = len(block)
    pads = np.asarray(ctx.const(2, "paddings")).astype(np.int64).reshape(-1, 2) if m else np.zeros((0, 2), np.int64)
    if m < 1 or x.rank < m + 1 or pads.shape != (m, 2) or min(block) < 1 or (pads < 0).any():
        raise ctx.fail(f"block_shape {block} / paddings {pads.tolist()} do not fit input {list(x.shape)}")
    b, spatial, rest = x.shape[0], x.shape[1:1 + m], x.shape[1 + m:]
    padded = [d + int(p0) + int(p1) for d, (p0, p1) in zip(spatial, pads)]
    if any(p % k for p, k in zip(padded, block)):
        raise ctx.fail(f"padded spatial dims {padded} are not multiples of block_shape {block}")
    nblk = int(np.prod(block))
    outer = [p // k for p, k in zip(padded, block)]
    ctx.set_output(0, (b * nblk, *outer, *rest))
    ipad = ctx.scratch((b, *padded, *rest), x.dtype)
    inner = (slice(None),) + tuple(slice(int(p0), int(p0) + d) for d, (p0, _) in zip(spatial, pads))
    split = [b] + [v for o, k in zip(outer, block) for v in (o, k)] + list(rest)
    perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)] + \
        list(range(1 + 2 * m, 1 + 2 * m + len(rest)))

    def eval_(ins, outs, tmp):
        p = tmp[ipad]
        p.fill(pad_value)
        p[inner] = ins[0]
        np.copyto(outs[0].reshape([*block, b, *outer, *rest]), p.reshape(split).transpose(perm))

    return eval_


@register("BATCH_TO_SPACE_ND", *MOVE)
def batch_to_space_nd(ctx: OpContext) -> EvalFn:
    """The inverse of SPACE_TO_BATCH_ND: move block offsets from the batch back into space, then crop."""
    ctx.check_arity(3)
    x = ctx.input(0)
    block = _ints(ctx, 1, "block_shape")
    m = len(block)
    crops = np.asarray(ctx.const(2, "crops")).astype(np.int64).reshape(-1, 2) if m else np.zeros((0, 2), np.int64)
    nblk = int(np.prod(block)) if m else 1
    if m < 1 or x.rank < m + 1 or crops.shape != (m, 2) or min(block) < 1 or (crops < 0).any() or x.shape[0] % nblk:
        raise ctx.fail(f"block_shape {block} / crops {crops.tolist()} do not fit input {list(x.shape)}")
    b = x.shape[0] // nblk
    spatial, rest = x.shape[1:1 + m], x.shape[1 + m:]
    full = [d * k for d, k in zip(spatial, block)]
    out_sp = [f - int(c0) - int(c1) for f, (c0, c1) in zip(full, crops)]
    if min(out_sp) < 0:
        raise ctx.fail(f"crops {crops.tolist()} remove more than the {full} spatial extent")
    ctx.set_output(0, (b, *out_sp, *rest))
    ifull = ctx.scratch((b, *full, *rest), x.dtype)
    # [k0..km-1, b, d0..dm-1, rest] -> [b, d0, k0, d1, k1, ..., rest]
    perm = [m] + [v for i in range(m) for v in (m + 1 + i, i)] + list(range(2 * m + 1, 2 * m + 1 + len(rest)))
    crop = (slice(None),) + tuple(slice(int(c0), int(c0) + o) for (c0, _), o in zip(crops, out_sp))
    inter = [b] + [v for d, k in zip(spatial, block) for v in (d, k)] + list(rest)

    def eval_(ins, outs, tmp):
        f = tmp[ifull]
        np.copyto(f.reshape(inter), ins[0].reshape([*block, b, *spatial, *rest]).transpose(perm))
        np.copyto(outs[0], f[crop])

    return eval_
