"""ONNX emitters for the activations: Relu, Logistic → Sigmoid, Tanh, the clamps (Relu6, ReluN1To1,
Relu0To1 → Clip), LeakyRelu, Elu, HardSwish, Gelu, PRelu, Softmax and LogSoftmax.

All keep their input's layout; Softmax/LogSoftmax remap the IR's last axis (axis 1 channels first).
"""

from __future__ import annotations

import math

from ...ir.node import Node
from ...ir.ops import Family, op_spec, ops_where
from .context import ONNX_EMITTERS, OnnxContext
from .layout import choose_layout, onnx_axis
from .ops_elementwise import unary_io

# IR activation -> the ONNX op of the same meaning (no attributes).
_SIMPLE = {"Relu": "Relu", "Logistic": "Sigmoid", "Tanh": "Tanh", "Softsign": "Softsign"}


@ONNX_EMITTERS.register(*_SIMPLE)
def emit_simple_activation(ctx: OnnxContext, node: Node) -> None:
    """Relu → Relu, Logistic → Sigmoid, Tanh → Tanh, Softsign → Softsign."""
    x, y = unary_io(ctx, node)
    ctx.add1(_SIMPLE[node.op], [x], y)


@ONNX_EMITTERS.register("Softmax", "LogSoftmax")
def emit_softmax(ctx: OnnxContext, node: Node) -> None:
    """Softmax(beta) → Softmax (x·beta first when beta ≠ 1); LogSoftmax → LogSoftmax; the IR's
    last axis is remapped to the layout (axis 1 channels first)."""
    x = node.inputs[0]
    assert x is not None
    layout = ctx.layout(x)
    xin = ctx.get(x, layout)
    beta = float(node.attrs.get("beta", 1.0))
    if beta != 1.0:
        xin = ctx.add1("Mul", [xin, ctx.scalar(beta, x)])
    op = "Softmax" if node.op == "Softmax" else "LogSoftmax"
    ctx.add1(op, [xin], ctx.set_output(node.output, layout), axis=onnx_axis(-1, x.rank, layout))


@ONNX_EMITTERS.register(*sorted(ops_where(family=Family.ACTIVATION) - ops_where(clamp=None)))
def emit_clip(ctx: OnnxContext, node: Node) -> None:
    """The clamping activations → Clip(low, high), the op's ``clamp``: Relu6 → Clip(0, 6);
    ReluN1To1 → Clip(-1, 1); Relu0To1 → Clip(0, 1)."""
    clamp = op_spec(node.op).clamp
    if clamp is None:
        raise ctx.unsupported(node, "not a clamping activation")
    lo, hi = clamp
    x, y = unary_io(ctx, node)
    ctx.add1("Clip", [x, ctx.scalar(lo, node.output), ctx.scalar(hi, node.output)], y)


@ONNX_EMITTERS.register("LeakyRelu")
def emit_leaky_relu(ctx: OnnxContext, node: Node) -> None:
    """LeakyRelu(alpha) → LeakyRelu(alpha)."""
    x, y = unary_io(ctx, node)
    ctx.add1("LeakyRelu", [x], y, alpha=float(node.attrs["alpha"]))


@ONNX_EMITTERS.register("Elu")
def emit_elu(ctx: OnnxContext, node: Node) -> None:
    """Elu → Elu(alpha=1)."""
    x, y = unary_io(ctx, node)
    ctx.add1("Elu", [x], y, alpha=1.0)


@ONNX_EMITTERS.register("HardSwish")
def emit_hard_swish(ctx: OnnxContext, node: Node) -> None:
    """HardSwish (x·relu6(x+3)/6) → HardSwish from opset 14; below, Mul(x, HardSigmoid(x, 1/6, 0.5))."""
    x, y = unary_io(ctx, node)
    if ctx.opset >= 14:
        ctx.add1("HardSwish", [x], y)
    else:
        ctx.add1("Mul", [x, ctx.add1("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)], y)


@ONNX_EMITTERS.register("Gelu")
def emit_gelu(ctx: OnnxContext, node: Node) -> None:
    """Gelu → Gelu (approximate "tanh" when approximate) from opset 20; below, decomposed:
    0.5·x·(1 + Erf(x/√2)), or 0.5·x·(1 + Tanh(√(2/π)·(x + 0.044715·x³)))."""
    x, y = unary_io(ctx, node)
    approx = bool(node.attrs["approximate"])
    if ctx.opset >= 20:
        ctx.add1("Gelu", [x], y, approximate="tanh" if approx else "none")
        return
    v = node.output

    def c(val: float) -> str:
        return ctx.scalar(val, v)

    if approx:
        x3 = ctx.add1("Mul", [ctx.add1("Mul", [x, x]), x])
        inner = ctx.add1("Add", [x, ctx.add1("Mul", [x3, c(0.044715)])])
        t = ctx.add1("Tanh", [ctx.add1("Mul", [inner, c(math.sqrt(2.0 / math.pi))])])
    else:
        t = ctx.add1("Erf", [ctx.add1("Mul", [x, c(1.0 / math.sqrt(2.0))])])
    half_x = ctx.add1("Mul", [x, c(0.5)])
    ctx.add1("Mul", [half_x, ctx.add1("Add", [t, c(1.0)])], y)


@ONNX_EMITTERS.register("PRelu")
def emit_prelu(ctx: OnnxContext, node: Node) -> None:
    """PRelu(x, alpha) → PRelu with alpha broadcast (and permuted) to x's layout."""
    x, alpha = node.inputs
    assert x is not None and alpha is not None
    layout = choose_layout(ctx, [x], x.rank, node.output)
    y = ctx.set_output(node.output, layout)
    ctx.add1("PRelu", [ctx.get(x, layout), ctx.operand(alpha, x.rank, layout)], y)
