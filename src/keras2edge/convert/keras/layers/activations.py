"""Keras activation names -> IR ops (composed from primitives where TFLite has no builtin).

``apply_activation(ctx, x, spec)`` accepts a name, None, or a Keras 3 serialized function
(``{"class_name": "function", "config": "silu"}``). Formulas are Keras' own; where Keras 2 and
3 differ (hard_sigmoid: 0.2x+0.5 in Keras 1/2, x/6+0.5 in Keras 3) the file's version decides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ....ir import Value
from ..context import LayerContext

ActivationFn = Callable[[LayerContext, Value], Value]
ACTIVATIONS: dict[str, ActivationFn] = {}


def _act(*names: str) -> Callable[[ActivationFn], ActivationFn]:
    def deco(fn: ActivationFn) -> ActivationFn:
        for n in names:
            ACTIVATIONS[n] = fn
        return fn
    return deco


def activation_name(spec: Any) -> str:
    """'relu' from 'relu', None, or {'class_name': 'function', 'config': 'relu', ...}."""
    if spec is None:
        return "linear"
    if isinstance(spec, dict):
        cfg = spec.get("config")
        if isinstance(cfg, str):
            return cfg
        if isinstance(cfg, dict) and "name" in cfg:
            return str(cfg["name"])
        return str(spec.get("class_name", "?"))
    return str(spec)


def apply_activation(ctx: LayerContext, x: Value, spec: Any) -> Value:
    """Apply the Keras activation ``spec`` to ``x``; refuse unknown names."""
    name = activation_name(spec)
    fn = ACTIVATIONS.get(name)
    if fn is None:
        raise ctx.refuse(f"activation {name!r} is not supported (supported: {', '.join(sorted(ACTIVATIONS))})")
    return fn(ctx, x)


def c(ctx: LayerContext, value: float, like: Value) -> Value:
    return ctx.const("c", np.asarray(value, dtype=like.dtype.np))


def relu_general(ctx: LayerContext, x: Value, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0) -> Value:
    """Keras ReLU: x >= max_value -> max_value; threshold < x < max_value -> x; else slope*(x - threshold)."""
    if threshold == 0.0 and negative_slope == 0.0:
        if max_value is None:
            return ctx.op("Relu", [x])
        if max_value == 6.0:
            return ctx.op("Relu6", [x])
        return ctx.op("Minimum", [ctx.op("Relu", [x]), c(ctx, max_value, x)])
    if threshold == 0.0 and max_value is None and 0 < negative_slope < 1:
        return ctx.op("LeakyRelu", [x], alpha=float(negative_slope))
    below = ctx.op("Mul", [ctx.op("Sub", [x, c(ctx, threshold, x)]), c(ctx, negative_slope, x)])
    # Keras keeps x only where x > threshold (x * (x > threshold)), so x == threshold gives 0.
    y = ctx.op("Select", [ctx.op("Greater", [x, c(ctx, threshold, x)]), x, below])
    if max_value is not None:
        y = ctx.op("Minimum", [y, c(ctx, max_value, x)])
    return y


@_act("linear")
def _linear(ctx: LayerContext, x: Value) -> Value:
    return x


@_act("relu")
def _relu(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("Relu", [x])


@_act("relu6")
def _relu6(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("Relu6", [x])


@_act("sigmoid")
def _sigmoid(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("Logistic", [x])


@_act("tanh")
def _tanh(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("Tanh", [x])


@_act("softmax")
def _softmax(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("Softmax", [x])


@_act("log_softmax")
def _log_softmax(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("LogSoftmax", [x])


@_act("elu")
def _elu(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("Elu", [x])


@_act("exponential")
def _exp(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("Exp", [x])


def softplus(ctx: LayerContext, x: Value) -> Value:
    """log(1 + exp(x)) computed stably as relu(x) + log(1 + exp(-|x|))."""
    tail = ctx.op("Log", [ctx.op("Add", [ctx.op("Exp", [ctx.op("Neg", [ctx.op("Abs", [x])])]), c(ctx, 1.0, x)])])
    return ctx.op("Add", [ctx.op("Relu", [x]), tail])


ACTIVATIONS["softplus"] = softplus


@_act("softsign")
def _softsign(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("Div", [x, ctx.op("Add", [ctx.op("Abs", [x]), c(ctx, 1.0, x)])])


@_act("selu")
def _selu(ctx: LayerContext, x: Value) -> Value:
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    neg = ctx.op("Minimum", [ctx.op("Elu", [x]), c(ctx, 0.0, x)])
    pos = ctx.op("Relu", [x])
    return ctx.op("Add", [ctx.op("Mul", [pos, c(ctx, scale, x)]), ctx.op("Mul", [neg, c(ctx, scale * alpha, x)])])


@_act("celu")
def _celu(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("Add", [ctx.op("Relu", [x]), ctx.op("Minimum", [ctx.op("Elu", [x]), c(ctx, 0.0, x)])])


@_act("hard_sigmoid")
def _hard_sigmoid(ctx: LayerContext, x: Value) -> Value:
    slope = 1.0 / 6.0 if ctx.options.major >= 3 else 0.2
    return ctx.op("Relu0To1", [ctx.op("Add", [ctx.op("Mul", [x, c(ctx, slope, x)]), c(ctx, 0.5, x)])])


@_act("sparse_sigmoid")
def _sparse_sigmoid(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("Relu0To1", [ctx.op("Add", [ctx.op("Mul", [x, c(ctx, 0.5, x)]), c(ctx, 0.5, x)])])


@_act("hard_silu", "hard_swish")
def _hard_swish(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("HardSwish", [x])


@_act("swish", "silu")
def _swish(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("Mul", [x, ctx.op("Logistic", [x])])


@_act("gelu")
def _gelu(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("Gelu", [x], approximate=False)


@_act("leaky_relu")
def _leaky(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("LeakyRelu", [x], alpha=0.2)


@_act("mish")
def _mish(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("Mul", [x, ctx.op("Tanh", [softplus(ctx, x)])])


@_act("log_sigmoid")
def _log_sigmoid(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("Neg", [softplus(ctx, ctx.op("Neg", [x]))])


@_act("hard_tanh")
def _hard_tanh(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("ReluN1To1", [x])


@_act("hard_shrink")
def _hard_shrink(ctx: LayerContext, x: Value) -> Value:
    keep = ctx.op("Greater", [ctx.op("Abs", [x]), c(ctx, 0.5, x)])
    return ctx.op("Select", [keep, x, c(ctx, 0.0, x)])


@_act("soft_shrink")
def _soft_shrink(ctx: LayerContext, x: Value) -> Value:
    clipped = ctx.op("Minimum", [ctx.op("Maximum", [x, c(ctx, -0.5, x)]), c(ctx, 0.5, x)])
    return ctx.op("Sub", [x, clipped])


@_act("tanh_shrink")
def _tanh_shrink(ctx: LayerContext, x: Value) -> Value:
    return ctx.op("Sub", [x, ctx.op("Tanh", [x])])


@_act("squareplus")
def _squareplus(ctx: LayerContext, x: Value) -> Value:
    root = ctx.op("Sqrt", [ctx.op("Add", [ctx.op("Square", [x]), c(ctx, 4.0, x)])])
    return ctx.op("Mul", [ctx.op("Add", [x, root]), c(ctx, 0.5, x)])


@_act("sparse_plus")
def _sparse_plus(ctx: LayerContext, x: Value) -> Value:
    mid = ctx.op("Add", [ctx.op("ReluN1To1", [x]), c(ctx, 1.0, x)])
    mid = ctx.op("Mul", [ctx.op("Square", [mid]), c(ctx, 0.25, x)])
    return ctx.op("Add", [mid, ctx.op("Relu", [ctx.op("Sub", [x, c(ctx, 1.0, x)])])])


@_act("glu")
def _glu(ctx: LayerContext, x: Value) -> Value:
    n = x.shape[-1]
    if n is None or n % 2:
        raise ctx.refuse(f"glu needs an even, known last dimension, got {n}")
    a, b = ctx.node("Split", [x], axis=-1, sizes=(n // 2, n // 2)).outputs
    return ctx.op("Mul", [a, ctx.op("Logistic", [b])])


@_act("sparsemax")
def _sparsemax(ctx: LayerContext, x: Value) -> Value:
    """Sparsemax over the last axis without a sort: element i is in the support iff
    1 + c_i * z_i > s_i, where c_i counts and s_i sums the z_j >= z_i (the sorted-prefix rule of
    Martins & Astudillo, which ties do not break); tau = (sum of the support - 1) / |support|."""
    zi = ctx.op("ExpandDims", [x], axis=-1)
    zj = ctx.op("ExpandDims", [x], axis=-2)
    ge = ctx.op("Cast", [ctx.op("GreaterEqual", [zj, zi])], to=x.dtype.value)
    count = ctx.op("Sum", [ge], axes=(-1,))
    total = ctx.op("Sum", [ctx.op("Mul", [ge, zj])], axes=(-1,))
    lhs = ctx.op("Add", [ctx.op("Mul", [count, x]), c(ctx, 1.0, x)])
    support = ctx.op("Cast", [ctx.op("Greater", [lhs, total])], to=x.dtype.value)
    k = ctx.op("Sum", [support], axes=(-1,), keepdims=True)
    ssum = ctx.op("Sum", [ctx.op("Mul", [support, x])], axes=(-1,), keepdims=True)
    tau = ctx.op("Div", [ctx.op("Sub", [ssum, c(ctx, 1.0, x)]), k])
    return ctx.op("Relu", [ctx.op("Sub", [x, tau])])
