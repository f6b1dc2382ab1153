"""ONNX emitters for shape and data-movement ops: Reshape, Transpose, Concatenation, Pad,
StridedSlice, Gather, ExpandDims, Squeeze, Split and Tile.

Axis-carrying ops remap their axes (and per-axis lists) to the input's layout and keep it;
Reshape works on the IR element order (NHWC), except for the flatten-into-Dense case; Transpose
composes its permutation with the input's layout.
"""

from __future__ import annotations

import numpy as np

from ...ir.dtypes import DType
from ...ir.node import Node
from ...ir.ops import norm_axis
from ...ir.value import Value
from .context import INT64_MAX, INT64_MIN, ONNX_DTYPE, ONNX_EMITTERS, OnnxContext
from .layout import (CF, FLAT_CF, NHWC, choose_layout, compose_transpose, dropped_shape, flatten_into_fc,
                     onnx_axis, permute, removed_axes_result)


def _x(node: Node) -> Value:
    x = node.inputs[0]
    assert x is not None
    return x


@ONNX_EMITTERS.register("Reshape")
def emit_reshape(ctx: OnnxContext, node: Node) -> None:
    """Reshape → Reshape with the IR target (its -1 kept; allowzero=1 only if a target dim is 0).

    Reads NHWC (or channels first when only length-1 axes differ). A flatten of a channels-first
    tensor read only by FullyConnected nodes with constant weights flattens it as it is; those FCs
    permute their weight rows (``layout.flatten_into_fc``).
    """
    x = _x(node)
    target = [int(d) for d in node.attrs["shape"]]
    extra = {"allowzero": 1} if 0 in target else {}
    if flatten_into_fc(ctx, node):
        xin = ctx.get(x, CF)
        y = ctx.set_output(node.output, FLAT_CF)
        ctx.flat_sources[id(node.output)] = (x, target)
    else:
        xin = ctx.get_memory_order(x)
        y = ctx.set_output(node.output, NHWC)
    ctx.add1("Reshape", [xin, ctx.i64(target, "shape")], y, **extra)


@ONNX_EMITTERS.register("Transpose")
def emit_transpose(ctx: OnnxContext, node: Node) -> None:
    """Transpose → its permutation composed with the input's layout: nothing when they cancel,
    else one Transpose (a Reshape when only length-1 axes move) giving NHWC."""
    x = _x(node)
    perm = [norm_axis(p, x.rank) for p in node.attrs["perm"]]
    layout = ctx.layout(x)
    xin = ctx.get(x, layout)
    if x.rank >= 3 and compose_transpose(layout, perm, CF) == list(range(x.rank)):
        ctx.alias(node.output, CF, xin)
        return
    c = compose_transpose(layout, perm, NHWC)
    if c == list(range(x.rank)):
        ctx.alias(node.output, NHWC, xin)
        return
    held = permute(ctx.shape(x), layout) if x.rank >= 3 else list(ctx.shape(x))
    ctx.transpose(xin, c, held, ctx.set_output(node.output, NHWC))


@ONNX_EMITTERS.register("Concatenation")
def emit_concatenation(ctx: OnnxContext, node: Node) -> None:
    """Concatenation(axis) → Concat with the axis remapped to the layout most inputs are in."""
    out = node.output
    layout = choose_layout(ctx, node.inputs, out.rank)
    names = [ctx.get(v, layout) for v in node.inputs if v is not None]
    axis = onnx_axis(int(node.attrs["axis"]), out.rank, layout)
    ctx.add1("Concat", names, ctx.set_output(out, layout), axis=axis)


@ONNX_EMITTERS.register("Pad")
def emit_pad(ctx: OnnxContext, node: Node) -> None:
    """Pad(pads, value) → Pad(mode=constant) with the (before, after) pairs permuted to the layout."""
    x = _x(node)
    layout = ctx.layout(x)
    pairs = permute([tuple(int(i) for i in p) for p in node.attrs["pads"]], layout)
    pads = [p[0] for p in pairs] + [p[1] for p in pairs]
    value = ctx.scalar(node.attrs["value"], x)
    ctx.add1("Pad", [ctx.get(x, layout), ctx.i64(pads, "pads"), value], ctx.set_output(node.output, layout),
             mode="constant")


@ONNX_EMITTERS.register("StridedSlice")
def emit_strided_slice(ctx: OnnxContext, node: Node) -> None:
    """StridedSlice (Python x[b:e:s] per axis) → Slice over the axes that are not taken whole;
    a missing begin/end becomes the INT64 bound in the step's direction."""
    x = _x(node)
    layout = ctx.layout(x)
    starts, ends, axes, steps = [], [], [], []
    for a, (b, e, s) in enumerate(zip(node.attrs["begin"], node.attrs["end"], node.attrs["strides"])):
        s = 1 if s is None else int(s)
        if s == 0:
            raise ctx.unsupported(node, "a slice step of 0")
        if b in (None, 0) and e is None and s == 1:
            continue
        if b is None:
            b = 0 if s > 0 else INT64_MAX
        if e is None:
            e = INT64_MAX if s > 0 else INT64_MIN
        starts.append(int(b))
        ends.append(int(e))
        axes.append(onnx_axis(a, x.rank, layout))
        steps.append(s)
    xin = ctx.get(x, layout)
    y = ctx.set_output(node.output, layout)
    if not axes:
        ctx.add1("Identity", [xin], y)
        return
    ctx.add1("Slice", [xin, ctx.i64(starts, "starts"), ctx.i64(ends, "ends"), ctx.i64(axes, "axes"),
                       ctx.i64(steps, "steps")], y)


def _indices(ctx: OnnxContext, i: Value, layout: str) -> str:
    """Gather indices as int32/int64 (other types are cast to int64, truncating like the IR)."""
    if i.is_const:
        if i.dtype in (DType.INT32, DType.INT64):
            return ctx.get(i)
        return ctx.const_value(i, "int64", lambda a: a.astype(np.int64))
    name = ctx.get(i, layout)
    if i.dtype not in (DType.INT32, DType.INT64):
        name = ctx.add1("Cast", [name], to=ONNX_DTYPE[DType.INT64])
    return name


@ONNX_EMITTERS.register("Gather")
def emit_gather(ctx: OnnxContext, node: Node) -> None:
    """Gather(axis) → Gather (indices cast to int64 when not integer).

    Rank-1 params (a lookup table) give the indices' layout; channels-first params with rank-0
    or rank-1 indices stay channels first (axis remapped); otherwise NHWC.
    """
    p, i = node.inputs
    assert p is not None and i is not None
    out = node.output
    axis = norm_axis(int(node.attrs["axis"]), p.rank)
    if p.rank == 1:
        layout = ctx.layout(i) if i.rank >= 3 else NHWC
        ctx.add1("Gather", [ctx.get(p), _indices(ctx, i, layout)], ctx.set_output(out, layout), axis=0)
        return
    if not p.is_const and p.rank >= 3 and ctx.layout(p) == CF and i.rank <= 1:
        pin, idx = ctx.get(p, CF), _indices(ctx, i, NHWC)
        ax = onnx_axis(axis, p.rank, CF)
        if i.rank == 1:
            ctx.add1("Gather", [pin, idx], ctx.set_output(out, CF), axis=ax)
            return
        _, out_layout, fix = removed_axes_result(CF, p.rank, {axis})
        y = ctx.set_output(out, out_layout)
        r = ctx.add1("Gather", [pin, idx], None if fix else y, axis=ax)
        if fix is not None:
            ctx.transpose(r, fix, dropped_shape(ctx.shape(p), CF, {axis}), y)
        return
    ctx.add1("Gather", [ctx.get(p, NHWC), _indices(ctx, i, NHWC)], ctx.set_output(out, NHWC), axis=axis)


@ONNX_EMITTERS.register("ExpandDims")
def emit_expand_dims(ctx: OnnxContext, node: Node) -> None:
    """ExpandDims(axis) → Unsqueeze; a channels-first input stays channels first when the new axis
    is neither the batch position nor after the channels, else it is read NHWC."""
    x = _x(node)
    a = norm_axis(int(node.attrs["axis"]), x.rank + 1)
    if x.rank >= 3 and ctx.layout(x) == CF and 1 <= a <= x.rank - 1:
        xin, layout, ax = ctx.get(x, CF), CF, a + 1
    else:
        xin, layout, ax = ctx.get(x, NHWC), NHWC, a
    ctx.add1("Unsqueeze", [xin, ctx.i64([ax], "axes")], ctx.set_output(node.output, layout))


@ONNX_EMITTERS.register("Squeeze")
def emit_squeeze(ctx: OnnxContext, node: Node) -> None:
    """Squeeze(axes) → Squeeze with axes remapped; the result is NHWC or channels first when the
    remaining axes allow, else one Transpose (usually a Reshape) fixes it up."""
    x = _x(node)
    removed = {norm_axis(a, x.rank) for a in node.attrs["axes"]}
    layout = ctx.layout(x)
    xin = ctx.get(x, layout)
    if not removed:
        ctx.add1("Identity", [xin], ctx.set_output(node.output, layout))
        return
    axes, out_layout, fix = removed_axes_result(layout, x.rank, removed)
    y = ctx.set_output(node.output, out_layout)
    r = ctx.add1("Squeeze", [xin, ctx.i64(axes, "axes")], None if fix else y)
    if fix is not None:
        ctx.transpose(r, fix, dropped_shape(ctx.shape(x), layout, removed), y)


@ONNX_EMITTERS.register("Split")
def emit_split(ctx: OnnxContext, node: Node) -> None:
    """Split(axis, sizes) → Split with the sizes as its ``split`` input and the axis remapped."""
    x = _x(node)
    layout = ctx.layout(x)
    xin = ctx.get(x, layout)
    outs = [ctx.set_output(v, layout) for v in node.outputs]
    ctx.add("Split", [xin, ctx.i64([int(s) for s in node.attrs["sizes"]], "split")], outs,
            axis=onnx_axis(int(node.attrs["axis"]), x.rank, layout))


@ONNX_EMITTERS.register("Tile")
def emit_tile(ctx: OnnxContext, node: Node) -> None:
    """Tile(multiples) → Tile with the repeats permuted to the layout."""
    x = _x(node)
    layout = ctx.layout(x)
    reps = permute([int(m) for m in node.attrs["multiples"]], layout)
    ctx.add1("Tile", [ctx.get(x, layout), ctx.i64(reps, "repeats")], ctx.set_output(node.output, layout))
