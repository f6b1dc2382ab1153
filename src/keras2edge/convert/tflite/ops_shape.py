"""TFLite emitters for shape and data-movement ops: Reshape, Transpose, Concatenation, Pad,
StridedSlice, Gather, ExpandDims, Squeeze, Split and Tile.

Every index argument (shape, perm, paddings, begin/end/strides, axis, sizes, multiples) is an
INT32 constant input; negative axes are normalized.
"""

from __future__ import annotations

import numpy as np

from ...ir.dtypes import DType
from ...ir.node import Node
from ...ir.ops import norm_axis
from ...ir.value import Value
from ...runtime.codes import ACT_NONE
from .emitter import TFLITE_EMITTERS, TFLiteContext, tensor_type, tflite_quantization


def _x(node: Node) -> Value:
    x = node.inputs[0]
    assert x is not None
    return x


@TFLITE_EMITTERS.register("Reshape")
def emit_reshape(ctx: TFLiteContext, node: Node) -> None:
    """Reshape(shape) → RESHAPE [x, shape (INT32 constant, its -1 kept)] with the same new_shape option;
    LiteRT follows a resized batch through the -1 and TFLite Micro infers it."""
    target = [int(d) for d in node.attrs["shape"]]
    ctx.add1("RESHAPE", [ctx.tensor(_x(node)), ctx.int32(target, "shape")], ctx.out(node.output),
             {"new_shape": target})


@TFLITE_EMITTERS.register("Transpose")
def emit_transpose(ctx: TFLiteContext, node: Node) -> None:
    """Transpose(perm) → TRANSPOSE [x, perm (INT32)]."""
    x = _x(node)
    perm = [norm_axis(int(p), x.rank) for p in node.attrs["perm"]]
    ctx.add1("TRANSPOSE", [ctx.tensor(x), ctx.int32(perm, "perm")], ctx.out(node.output))


#: TFLite Micro's CONCATENATION takes at most 10 inputs (kMaxInputNum in micro/kernels/concatenation.cc).
MAX_CONCAT_INPUTS = 10


@TFLITE_EMITTERS.register("Concatenation")
def emit_concatenation(ctx: TFLiteContext, node: Node) -> None:
    """Concatenation(axis) → CONCATENATION(axis as given, negative allowed as in the converter).

    More than ``MAX_CONCAT_INPUTS`` inputs (an unrolled recurrent layer's sequence output) become a
    tree of CONCATENATIONs of at most that many, which TFLite Micro can run.
    """
    vals = [v for v in node.inputs if v is not None]
    axis = int(node.attrs["axis"])
    opts = {"axis": axis, "fused_activation_function": ACT_NONE}
    ins = [ctx.tensor(v) for v in vals]
    shapes = [ctx.shape(v) for v in vals]
    rank = len(shapes[0])
    ax = norm_axis(axis, rank)
    while len(ins) > MAX_CONCAT_INPUTS:
        nxt, nxt_shapes = [], []
        for k in range(0, len(ins), MAX_CONCAT_INPUTS):
            chunk, cshapes = ins[k:k + MAX_CONCAT_INPUTS], shapes[k:k + MAX_CONCAT_INPUTS]
            if len(chunk) == 1:
                nxt.append(chunk[0])
                nxt_shapes.append(cshapes[0])
                continue
            shape = list(cshapes[0])
            shape[ax] = sum(s[ax] for s in cshapes)
            t = ctx.tmp_like(node.output, f"part{k // MAX_CONCAT_INPUTS}", shape=shape)
            ctx.add1("CONCATENATION", chunk, t, opts)
            nxt.append(t)
            nxt_shapes.append(tuple(shape))
        ins, shapes = nxt, nxt_shapes
    ctx.add1("CONCATENATION", ins, ctx.out(node.output), opts)


@TFLITE_EMITTERS.register("Pad")
def emit_pad(ctx: TFLiteContext, node: Node) -> None:
    """Pad(pads, value) → PAD [x, paddings (INT32 [rank, 2])] for value 0, else PADV2 [x, paddings,
    value (scalar of x's type; quantized as the output when x is an integer value)]."""
    x = _x(node)
    pads = [[int(p[0]), int(p[1])] for p in node.attrs["pads"]]
    value = node.attrs["value"]
    ins = [ctx.tensor(x), ctx.int32(pads, "paddings")]
    if float(value) == 0.0:
        ctx.add1("PAD", ins, ctx.out(node.output), {})
        return
    q = node.output.quant
    pad_value = ctx.const(np.asarray(value, x.dtype.np), name="pad_value", share=q is None)
    if q is not None:  # an integer PADV2: its value is in the output's parameters (the kernels check them)
        ctx.tensors[pad_value].quantization = tflite_quantization(q)
    ins.append(pad_value)
    ctx.add1("PADV2", ins, ctx.out(node.output), {})


@TFLITE_EMITTERS.register("StridedSlice")
def emit_strided_slice(ctx: TFLiteContext, node: Node) -> None:
    """StridedSlice (Python x[b:e:s] per axis) → STRIDED_SLICE [x, begin, end, strides (INT32)];
    a missing begin sets the axis' begin_mask bit, a missing end its end_mask bit (TF and Python clamp
    and wrap negative indices the same way)."""
    x = _x(node)
    begin, end, strides = [], [], []
    bmask = emask = 0
    for a, (b, e, s) in enumerate(zip(node.attrs["begin"], node.attrs["end"], node.attrs["strides"])):
        s = 1 if s is None else int(s)
        if s == 0:
            raise ctx.unsupported(node, "a slice step of 0")
        if b is None:
            bmask |= 1 << a
            b = 0
        if e is None:
            emask |= 1 << a
            e = 0
        begin.append(int(b))
        end.append(int(e))
        strides.append(s)
    ctx.add1("STRIDED_SLICE", [ctx.tensor(x), ctx.int32(begin, "begin"), ctx.int32(end, "end"),
                               ctx.int32(strides, "strides")], ctx.out(node.output),
             {"begin_mask": bmask, "end_mask": emask, "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0,
              "offset": False})


@TFLITE_EMITTERS.register("Gather")
def emit_gather(ctx: TFLiteContext, node: Node) -> None:
    """Gather(axis) → GATHER [params, indices (INT32)](axis, batch_dims 0).

    Constant indices are written as INT32 with negative ones wrapped (TFLite rejects them); computed
    indices of another type are CAST to INT32 (float → int truncates, as the IR does).
    """
    p, i = node.inputs
    assert p is not None and i is not None
    axis = norm_axis(int(node.attrs["axis"]), p.rank)
    if i.is_const:
        n = ctx.shape(p)[axis]
        idx = ctx.const_value(i, "int32", lambda a: np.where(a.astype(np.int64) < 0, a.astype(np.int64) + n,
                                                            a.astype(np.int64)).astype(np.int32))
    elif i.dtype == DType.INT32:
        idx = ctx.tensor(i)
    else:
        idx = ctx.tmp_like(i, "indices", dtype=DType.INT32)
        ctx.add1("CAST", [ctx.tensor(i)], idx,
                 {"in_data_type": tensor_type(i.dtype), "out_data_type": tensor_type(DType.INT32)})
    ctx.add1("GATHER", [ctx.tensor(p), idx], ctx.out(node.output), {"axis": axis, "batch_dims": 0})


@TFLITE_EMITTERS.register("ExpandDims")
def emit_expand_dims(ctx: TFLiteContext, node: Node) -> None:
    """ExpandDims(axis) → EXPAND_DIMS [x, axis (INT32 scalar)]."""
    x = _x(node)
    axis = norm_axis(int(node.attrs["axis"]), x.rank + 1)
    ctx.add1("EXPAND_DIMS", [ctx.tensor(x), ctx.int32(axis, "axis")], ctx.out(node.output))


@TFLITE_EMITTERS.register("Squeeze")
def emit_squeeze(ctx: TFLiteContext, node: Node) -> None:
    """Squeeze(axes) → SQUEEZE(squeeze_dims); no axes → RESHAPE to the same shape (an empty
    squeeze_dims would remove every length-1 axis)."""
    x = _x(node)
    axes = sorted({norm_axis(int(a), x.rank) for a in node.attrs["axes"]})
    if not axes:
        target = ctx.reshape_target(node.output)
        ctx.add1("RESHAPE", [ctx.tensor(x), ctx.int32(target, "shape")], ctx.out(node.output), {"new_shape": target})
        return
    ctx.add1("SQUEEZE", [ctx.tensor(x)], ctx.out(node.output), {"squeeze_dims": axes})


@TFLITE_EMITTERS.register("Split")
def emit_split(ctx: TFLiteContext, node: Node) -> None:
    """Split(axis, sizes) → SPLIT_V [x, size_splits (INT32), axis (INT32 scalar)](num_splits).

    SPLIT_V has no BOOL kernel in LiteRT, so a bool tensor is cut by one STRIDED_SLICE per piece.
    """
    x = _x(node)
    axis = norm_axis(int(node.attrs["axis"]), x.rank)
    sizes = [int(s) for s in node.attrs["sizes"]]
    xin = ctx.tensor(x)
    if x.dtype == DType.BOOL:
        start = 0
        full_mask = ((1 << x.rank) - 1) & ~(1 << axis)
        for v, n in zip(node.outputs, sizes):
            begin = [0] * x.rank
            end = [0] * x.rank
            begin[axis], end[axis] = start, start + n
            ctx.add1("STRIDED_SLICE", [xin, ctx.int32(begin, "begin"), ctx.int32(end, "end"),
                                       ctx.int32([1] * x.rank, "strides")], ctx.out(v),
                     {"begin_mask": full_mask, "end_mask": full_mask, "ellipsis_mask": 0, "new_axis_mask": 0,
                      "shrink_axis_mask": 0, "offset": False})
            start += n
        return
    outs = [ctx.out(v) for v in node.outputs]
    ctx.add("SPLIT_V", [xin, ctx.int32(sizes, "size_splits"), ctx.int32(axis, "axis")], outs,
            {"num_splits": len(sizes)})


@TFLITE_EMITTERS.register("Tile")
def emit_tile(ctx: TFLiteContext, node: Node) -> None:
    """Tile(multiples) → TILE [x, multiples (INT32)] (TFLite Micro has no TILE)."""
    x = _x(node)
    ctx.add1("TILE", [ctx.tensor(x), ctx.int32([int(m) for m in node.attrs["multiples"]], "multiples")],
             ctx.out(node.output))
