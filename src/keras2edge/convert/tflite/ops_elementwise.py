"""TFLite emitters for elementwise ops: unary math, binary arithmetic, comparisons, logical ops,
Select, Cast and Identity (the activations are in ``ops_activation``).

Every IR op here has a builtin of the same meaning; binary builtins broadcast like NumPy.
"""

from __future__ import annotations

from ...ir.dtypes import DType
from ...ir.node import Node
from ...ir.value import Value
from .emitter import TFLITE_EMITTERS, TFLiteContext, tensor_type


def operand(node: Node, k: int = 0) -> Value:
    v = node.inputs[k]
    assert v is not None
    return v


# ---------------------------------------------------------------------------- unary


_UNARY: dict[str, str] = {
    "Exp": "EXP", "Log": "LOG", "Abs": "ABS", "Neg": "NEG", "Sqrt": "SQRT", "Rsqrt": "RSQRT", "Square": "SQUARE",
    "Sin": "SIN", "Cos": "COS", "Floor": "FLOOR", "Ceil": "CEIL", "Round": "ROUND", "Sign": "SIGN",
    "LogicalNot": "LOGICAL_NOT",
}


@TFLITE_EMITTERS.register(*_UNARY)
def emit_unary(ctx: TFLiteContext, node: Node) -> None:
    """Exp/Log/Abs/Neg/Sqrt/Rsqrt/Square/Sin/Cos/Floor/Ceil → the builtin of the same name, Round →
    ROUND (half to even in both), Sign → SIGN, LogicalNot → LOGICAL_NOT (no options)."""
    ctx.add1(_UNARY[node.op], [ctx.tensor(operand(node))], ctx.out(node.output))


@TFLITE_EMITTERS.register("Identity")
def emit_identity(ctx: TFLiteContext, node: Node) -> None:
    """Identity → nothing (uses read the input tensor); a graph output gets its own tensor through
    RESHAPE to the same shape, so it keeps its name."""
    x = operand(node)
    if not ctx.is_output(node.output):
        ctx.alias(node.output, ctx.tensor(x))
        return
    shape = ctx.reshape_target(node.output)
    ctx.add1("RESHAPE", [ctx.tensor(x), ctx.int32(shape, "shape")], ctx.out(node.output), {"new_shape": shape})


# ---------------------------------------------------------------------------- binary


_FUSING_BINARY = {"Add": "ADD", "Sub": "SUB", "Mul": "MUL"}
_BINARY = {"FloorDiv": "FLOOR_DIV", "FloorMod": "FLOOR_MOD", "Maximum": "MAXIMUM", "Minimum": "MINIMUM",
           "Pow": "POW", "SquaredDifference": "SQUARED_DIFFERENCE", "LogicalAnd": "LOGICAL_AND",
           "LogicalOr": "LOGICAL_OR", "Equal": "EQUAL", "NotEqual": "NOT_EQUAL", "Less": "LESS",
           "LessEqual": "LESS_EQUAL", "Greater": "GREATER", "GreaterEqual": "GREATER_EQUAL"}


def operands(ctx: TFLiteContext, node: Node) -> list[int]:
    return [ctx.tensor(operand(node, 0)), ctx.tensor(operand(node, 1))]


@TFLITE_EMITTERS.register(*_FUSING_BINARY)
def emit_add_sub_mul(ctx: TFLiteContext, node: Node) -> None:
    """Add → ADD, Sub → SUB, Mul → MUL (NumPy broadcasting); a following Relu/Relu6/ReluN1To1
    becomes fused_activation_function; int16 ADD/SUB say ``pot_scale_int16`` false (any scales)."""
    ins = operands(ctx, node)
    y, act = ctx.fused_output(node)
    opts: dict[str, object] = {"fused_activation_function": act}
    if node.op != "Mul" and node.output.dtype == DType.INT16:
        opts["pot_scale_int16"] = False  # 16x8: general scales, as the converter writes (ADD v3, SUB v5)
    ctx.add1(_FUSING_BINARY[node.op], ins, y, opts)


@TFLITE_EMITTERS.register("Div")
def emit_div(ctx: TFLiteContext, node: Node) -> None:
    """Div → DIV on floats (fused activation as for ADD); on integers the IR floors, so → FLOOR_DIV."""
    ins = operands(ctx, node)
    if not node.output.dtype.is_float:
        ctx.add1("FLOOR_DIV", ins, ctx.out(node.output))
        return
    y, act = ctx.fused_output(node)
    ctx.add1("DIV", ins, y, {"fused_activation_function": act})


@TFLITE_EMITTERS.register(*_BINARY)
def emit_binary(ctx: TFLiteContext, node: Node) -> None:
    """FloorDiv → FLOOR_DIV, FloorMod → FLOOR_MOD, Maximum → MAXIMUM, Minimum → MINIMUM, Pow → POW,
    SquaredDifference → SQUARED_DIFFERENCE, LogicalAnd/LogicalOr → LOGICAL_AND/LOGICAL_OR, and the
    comparisons Equal/NotEqual/Less/LessEqual/Greater/GreaterEqual → the builtin of the same name (bool
    output)."""
    ctx.add1(_BINARY[node.op], operands(ctx, node), ctx.out(node.output))


@TFLITE_EMITTERS.register("Select")
def emit_select(ctx: TFLiteContext, node: Node) -> None:
    """Select(cond, a, b) → SELECT_V2 (broadcasts all three, unlike SELECT)."""
    ins = [ctx.tensor(operand(node, k)) for k in range(3)]
    ctx.add1("SELECT_V2", ins, ctx.out(node.output))


@TFLITE_EMITTERS.register("Cast")
def emit_cast(ctx: TFLiteContext, node: Node) -> None:
    """Cast(to) → CAST (float → int truncates toward zero, anything → bool is ``!= 0``, as in the IR);
    CastOptions carries the input and output types, as the converter writes them."""
    x = operand(node)
    ctx.add1("CAST", [ctx.tensor(x)], ctx.out(node.output),
             {"in_data_type": _type_code(x.dtype), "out_data_type": _type_code(node.output.dtype)})


def _type_code(dt: DType) -> int:
    return tensor_type(dt)
