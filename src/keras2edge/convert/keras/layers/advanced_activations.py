"""Keras activation layers: ReLU, LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax.

Maps:
- ReLU(max_value, negative_slope, threshold) -> ``activations.relu_general`` (Relu, Relu6,
  LeakyRelu or a Select composition);
- LeakyReLU -> LeakyRelu with Keras 3 ``negative_slope`` or Keras 1/2 ``alpha`` (default 0.3);
- PReLU -> PRelu with the ``alpha`` weight, shaped like the input without the batch axis and 1
  on the ``shared_axes``;
- ELU(alpha) -> Elu when alpha == 1, else Relu(x) + alpha * min(Elu(x), 0), i.e.
  x > 0 ? x : alpha * (exp(x) - 1);
- ThresholdedReLU(theta) -> Select(Greater(x, theta), x, 0), i.e. x * (x > theta);
- Softmax(axis) -> Softmax over the last axis, with Transposes around it for another axis.
"""

from __future__ import annotations

from ....ir import Value
from ....ir.ops import norm_axis
from ..context import KERAS_HANDLERS, LayerContext
from .activations import c, relu_general
from .pooling import incoming_mask


@KERAS_HANDLERS.register("ReLU")
def import_relu(ctx: LayerContext, inputs: list[Value]) -> Value:
    """ReLU(max_value, negative_slope, threshold) -> relu_general."""
    mv = ctx.get("max_value")
    return relu_general(ctx, inputs[0], None if mv is None else float(mv),
                        float(ctx.get("negative_slope", 0.0) or 0.0), float(ctx.get("threshold", 0.0) or 0.0))


@KERAS_HANDLERS.register("LeakyReLU")
def import_leaky_relu(ctx: LayerContext, inputs: list[Value]) -> Value:
    """LeakyReLU(negative_slope | alpha, default 0.3) -> LeakyRelu."""
    slope = ctx.get("negative_slope", ctx.get("alpha", 0.3))
    return ctx.op("LeakyRelu", [inputs[0]], alpha=float(0.3 if slope is None else slope))


@KERAS_HANDLERS.register("PReLU")
def import_prelu(ctx: LayerContext, inputs: list[Value]) -> Value:
    """PReLU -> PRelu(x, alpha); alpha is (input shape without batch) with 1 on shared_axes."""
    x = inputs[0]
    shared = ctx.get("shared_axes")
    raw = [] if shared is None else (list(shared) if isinstance(shared, (list, tuple)) else [shared])
    shared_set = {int(a) % x.rank for a in raw}
    expected = tuple(1 if i + 1 in shared_set else d for i, d in enumerate(x.shape[1:]))
    (alpha,) = ctx.arrays(1, "alpha")
    alpha = ctx.check_shape(alpha, expected, "alpha")
    return ctx.op("PRelu", [x, ctx.const("alpha", alpha)])


@KERAS_HANDLERS.register("ELU")
def import_elu(ctx: LayerContext, inputs: list[Value]) -> Value:
    """ELU(alpha) -> Elu (alpha 1), else Relu(x) + alpha * Minimum(Elu(x), 0)."""
    x = inputs[0]
    alpha = float(ctx.get("alpha", 1.0))
    if alpha == 1.0:
        return ctx.op("Elu", [x])
    neg = ctx.op("Minimum", [ctx.op("Elu", [x]), c(ctx, 0.0, x)])
    return ctx.op("Add", [ctx.op("Relu", [x]), ctx.op("Mul", [neg, c(ctx, alpha, x)])])


@KERAS_HANDLERS.register("ThresholdedReLU")
def import_thresholded_relu(ctx: LayerContext, inputs: list[Value]) -> Value:
    """ThresholdedReLU(theta) -> Select(x > theta, x, 0)."""
    x = inputs[0]
    theta = float(ctx.get("theta", 1.0))
    return ctx.op("Select", [ctx.op("Greater", [x, c(ctx, theta, x)]), x, c(ctx, 0.0, x)])


@KERAS_HANDLERS.register("Softmax")
def import_softmax(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Softmax(axis) -> Softmax over the last axis (Transpose to it and back for another axis)."""
    x = inputs[0]
    if isinstance(ctx.call_kwargs.get("mask"), Value) or incoming_mask(ctx, x) is not None:
        raise ctx.refuse("a Softmax call with a mask is not supported")
    raw = ctx.get("axis", -1)
    if isinstance(raw, (list, tuple)):
        if len(raw) != 1:
            raise ctx.refuse(f"softmax over several axes {list(raw)} is not supported")
        raw = raw[0]
    try:
        axis = norm_axis(int(raw), x.rank)
    except ValueError:
        raise ctx.refuse(f"axis={raw} is out of range for an input of shape {list(x.shape)}") from None
    if axis == x.rank - 1:
        return ctx.op("Softmax", [x])
    perm = tuple(i for i in range(x.rank) if i != axis) + (axis,)
    inverse = tuple(perm.index(i) for i in range(x.rank))
    y = ctx.op("Softmax", [ctx.op("Transpose", [x], perm=perm)])
    return ctx.op("Transpose", [y], perm=inverse)
