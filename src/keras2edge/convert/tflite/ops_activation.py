"""TFLite emitters for the activations: RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1, ELU, LOGISTIC, TANH,
HARD_SWISH, LEAKY_RELU, GELU, PRELU, SOFTMAX and LOG_SOFTMAX.

The clamping activations (Relu, Relu6, ReluN1To1) are usually folded into the op before them (see
:meth:`TFLiteContext.fused_output`); these emitters write the standalone form.
"""

from __future__ import annotations

import numpy as np

from ...ir.node import Node
from ...runtime.codes import ACT_NONE
from .emitter import TFLITE_EMITTERS, TFLiteContext
from .ops_elementwise import operand, operands

# IR activation -> the builtin of the same meaning (no options).
_SIMPLE: dict[str, str] = {
    "Relu": "RELU", "Relu6": "RELU6", "ReluN1To1": "RELU_N1_TO_1", "Relu0To1": "RELU_0_TO_1", "Elu": "ELU",
    "Logistic": "LOGISTIC", "Tanh": "TANH", "HardSwish": "HARD_SWISH",
}


@TFLITE_EMITTERS.register(*_SIMPLE)
def emit_simple_activation(ctx: TFLiteContext, node: Node) -> None:
    """Relu → RELU, Relu6 → RELU6, ReluN1To1 → RELU_N1_TO_1, Relu0To1 → RELU_0_TO_1, Elu → ELU,
    Logistic → LOGISTIC, Tanh → TANH, HardSwish → HARD_SWISH (no options)."""
    ctx.add1(_SIMPLE[node.op], [ctx.tensor(operand(node))], ctx.out(node.output))


@TFLITE_EMITTERS.register("Softsign")
def emit_softsign(ctx: TFLiteContext, node: Node) -> None:
    """Softsign → DIV(x, ADD(ABS(x), 1)): TFLite has no SOFTSIGN builtin."""
    x = ctx.tensor(operand(node))
    a = ctx.tmp_like(node.output, "abs")
    ctx.add1("ABS", [x], a)
    d = ctx.tmp_like(node.output, "one_plus_abs")
    one = ctx.const(np.ones((), node.output.dtype.np), name="one")
    ctx.add1("ADD", [a, one], d, {"fused_activation_function": ACT_NONE})
    ctx.add1("DIV", [x, d], ctx.out(node.output), {"fused_activation_function": ACT_NONE})


@TFLITE_EMITTERS.register("Softmax")
def emit_softmax(ctx: TFLiteContext, node: Node) -> None:
    """Softmax(beta) → SOFTMAX(beta) over the last axis."""
    x = node.inputs[0]
    assert x is not None
    ctx.add1("SOFTMAX", [ctx.tensor(x)], ctx.out(node.output), {"beta": float(node.attrs["beta"])})


@TFLITE_EMITTERS.register("LogSoftmax")
def emit_log_softmax(ctx: TFLiteContext, node: Node) -> None:
    """LogSoftmax → LOG_SOFTMAX over the last axis."""
    x = node.inputs[0]
    assert x is not None
    ctx.add1("LOG_SOFTMAX", [ctx.tensor(x)], ctx.out(node.output))


@TFLITE_EMITTERS.register("LeakyRelu")
def emit_leaky_relu(ctx: TFLiteContext, node: Node) -> None:
    """LeakyRelu(alpha) → LEAKY_RELU(alpha)."""
    ctx.add1("LEAKY_RELU", [ctx.tensor(operand(node))], ctx.out(node.output), {"alpha": float(node.attrs["alpha"])})


@TFLITE_EMITTERS.register("Gelu")
def emit_gelu(ctx: TFLiteContext, node: Node) -> None:
    """Gelu(approximate) → GELU(approximate): exact erf form or the tanh approximation."""
    ctx.add1("GELU", [ctx.tensor(operand(node))], ctx.out(node.output), {"approximate": bool(node.attrs["approximate"])})


@TFLITE_EMITTERS.register("PRelu")
def emit_prelu(ctx: TFLiteContext, node: Node) -> None:
    """PRelu(x, alpha) → PRELU (alpha broadcast over x)."""
    ctx.add1("PRELU", operands(ctx, node), ctx.out(node.output))
