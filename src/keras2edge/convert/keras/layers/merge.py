"""Keras merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot.

Maps:
- Add / Multiply / Maximum / Minimum -> a left fold of the binary op over the inputs;
- Subtract -> Sub (exactly two inputs); Average -> the Add fold times 1/n;
- Concatenate(axis) -> Concatenation (negative axes normalized);
- Dot(axes, normalize) -> for two rank-2 inputs Mul + Sum(keepdims) = (B, 1); for two rank-3
  inputs BatchMatMul with adj_x/adj_y picking the contracted axes (Keras' batch_dot);
  ``normalize`` L2-normalizes each input along its axis first, with Keras' floor on the norm
  (tf.keras: rsqrt(max(sum x^2, 1e-12)); Keras 3: min(rsqrt(sum x^2), 1/1e-7)). Other ranks are
  refused.
Inputs of lower rank get axes inserted at position 1 until the ranks agree, as Keras' Merge
base class does, then broadcast.
"""

from __future__ import annotations

import numpy as np

from ....ir import Value
from ....ir.ops import norm_axis
from ..context import KERAS_HANDLERS, LayerContext

_FOLD = {"Add": "Add", "Multiply": "Mul", "Maximum": "Maximum", "Minimum": "Minimum", "Average": "Add"}


def _equal_ranks(ctx: LayerContext, inputs: list[Value]) -> list[Value]:
    rank = max(v.rank for v in inputs)
    out = []
    for v in inputs:
        while v.rank < rank:
            v = ctx.op("ExpandDims", [v], axis=1)
        out.append(v)
    return out


def _need(ctx: LayerContext, inputs: list[Value], low: int, high: int | None = None) -> None:
    if len(inputs) < low or (high is not None and len(inputs) > high):
        want = str(low) if high == low else f"at least {low}"
        raise ctx.refuse(f"needs {want} inputs, got {len(inputs)}")


@KERAS_HANDLERS.register("Add", "Multiply", "Maximum", "Minimum", "Average")
def import_elementwise_merge(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Add/Multiply/Maximum/Minimum -> left fold of Add/Mul/Maximum/Minimum; Average = sum * (1/n)."""
    _need(ctx, inputs, 1)
    xs = _equal_ranks(ctx, inputs)
    op = _FOLD[ctx.cls]
    y = xs[0]
    for v in xs[1:]:
        y = ctx.op(op, [y, v])
    if ctx.cls == "Average" and len(xs) > 1:
        y = ctx.op("Mul", [y, ctx.scalar(1.0 / len(xs), y)])
    return y


@KERAS_HANDLERS.register("Subtract")
def import_subtract(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Subtract -> Sub of exactly two inputs."""
    _need(ctx, inputs, 2, 2)
    a, b = _equal_ranks(ctx, inputs)
    return ctx.op("Sub", [a, b])


@KERAS_HANDLERS.register("Concatenate")
def import_concatenate(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Concatenate(axis) -> Concatenation along the normalized axis."""
    _need(ctx, inputs, 1)
    rank = inputs[0].rank
    if any(v.rank != rank for v in inputs):
        raise ctx.refuse(f"inputs of different ranks {[list(v.shape) for v in inputs]}")
    axis = int(ctx.get("axis", -1))
    try:
        ax = norm_axis(axis, rank)
    except ValueError:
        raise ctx.refuse(f"axis {axis} is out of range for rank-{rank} inputs") from None
    if ax == 0:
        raise ctx.refuse("concatenation along the batch axis is not supported")
    if len(inputs) == 1:
        return inputs[0]
    return ctx.op("Concatenation", list(inputs), axis=ax)


def _l2_normalize(ctx: LayerContext, x: Value, axis: int) -> Value:
    # Keras 2 (tf.math.l2_normalize): x * rsqrt(max(sum(x^2), 1e-12)).
    # Keras 3 (ops.normalize): x * min(rsqrt(sum(x^2)), 1/epsilon), epsilon = 1e-7; the same as
    # flooring the sum of squares at epsilon^2.
    floor = 1e-14 if ctx.options.major >= 3 else 1e-12
    ss = ctx.op("Sum", [ctx.op("Square", [x])], axes=(axis,), keepdims=True)
    inv = ctx.op("Rsqrt", [ctx.op("Maximum", [ss, ctx.scalar(floor, x)])])
    return ctx.op("Mul", [x, inv])


@KERAS_HANDLERS.register("Dot")
def import_dot(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Dot(axes, normalize) of two rank-2 or two rank-3 inputs (Keras batch_dot)."""
    _need(ctx, inputs, 2, 2)
    a, b = inputs
    cfg_axes = ctx.get("axes", -1)
    raw = list(cfg_axes) if isinstance(cfg_axes, (list, tuple)) else [cfg_axes, cfg_axes]
    if len(raw) != 2 or not all(isinstance(v, (int, np.integer)) for v in raw):
        raise ctx.refuse(f"axes={cfg_axes!r} is not an int or a pair of ints")
    if a.rank != b.rank or a.rank not in (2, 3):
        raise ctx.refuse(f"only two rank-2 or two rank-3 inputs are supported, got shapes "
                         f"{list(a.shape)} and {list(b.shape)}")
    ax, bx = int(raw[0]) % a.rank, int(raw[1]) % b.rank
    if ax == 0 or bx == 0:
        raise ctx.refuse("a dot product over the batch axis is not supported")
    if a.shape[ax] is not None and b.shape[bx] is not None and a.shape[ax] != b.shape[bx]:
        raise ctx.refuse(f"contracted axes differ in size: {a.shape[ax]} vs {b.shape[bx]}")
    if ctx.get("normalize", False):
        a, b = _l2_normalize(ctx, a, ax), _l2_normalize(ctx, b, bx)
    if a.rank == 2:
        return ctx.op("Sum", [ctx.op("Mul", [a, b])], axes=(1,), keepdims=True)
    # batch_dot: result = (a's free axis, b's free axis); contract a on ax and b on bx.
    return ctx.op("BatchMatMul", [a, b], adj_x=ax == 1, adj_y=bx == 2)
