"""ONNX emitters for elementwise ops: activations, unary math, binary arithmetic, comparisons,
logical ops, Select, PRelu and Cast.

All of them keep their input's layout (:func:`layout.choose_layout`); constant and lower-rank
operands are broadcast to match (a per-channel ``(C,)`` constant becomes ``(C, 1, 1)`` in NCHW).
"""

from __future__ import annotations

import math

from ...ir.dtypes import DType
from ...ir.node import Node
from .context import ONNX_DTYPE, ONNX_EMITTERS, OnnxContext
from .layout import choose_layout

# ---------------------------------------------------------------------------- unary

_SIMPLE_UNARY = {
    "Identity": "Identity", "Relu": "Relu", "Logistic": "Sigmoid", "Tanh": "Tanh", "Exp": "Exp",
    "Log": "Log", "Abs": "Abs", "Neg": "Neg", "Sqrt": "Sqrt", "Sin": "Sin", "Cos": "Cos",
    "Floor": "Floor", "Ceil": "Ceil", "Round": "Round", "Sign": "Sign", "LogicalNot": "Not",
}


def _unary_io(ctx: OnnxContext, node: Node) -> tuple[str, str]:
    x = node.inputs[0]
    assert x is not None
    layout = ctx.layout(x)
    return ctx.get(x, layout), ctx.set_output(node.output, layout)


@ONNX_EMITTERS.register(*_SIMPLE_UNARY)
def emit_unary(ctx: OnnxContext, node: Node) -> None:
    """Identity, Relu, Logistic → Sigmoid, Tanh, Exp, Log, Abs, Neg, Sqrt, Sin, Cos, Floor, Ceil,
    Round (half to even in both), Sign, LogicalNot → Not."""
    x, y = _unary_io(ctx, node)
    ctx.add1(_SIMPLE_UNARY[node.op], [x], y)


_CLIPS = {"Relu6": (0.0, 6.0), "ReluN1To1": (-1.0, 1.0), "Relu0To1": (0.0, 1.0)}


@ONNX_EMITTERS.register(*_CLIPS)
def emit_clip(ctx: OnnxContext, node: Node) -> None:
    """Relu6 → Clip(0, 6); ReluN1To1 → Clip(-1, 1); Relu0To1 → Clip(0, 1)."""
    lo, hi = _CLIPS[node.op]
    x, y = _unary_io(ctx, node)
    ctx.add1("Clip", [x, ctx.scalar(lo, node.output), ctx.scalar(hi, node.output)], y)


@ONNX_EMITTERS.register("LeakyRelu")
def emit_leaky_relu(ctx: OnnxContext, node: Node) -> None:
    """LeakyRelu(alpha) → LeakyRelu(alpha)."""
    x, y = _unary_io(ctx, node)
    ctx.add1("LeakyRelu", [x], y, alpha=float(node.attrs["alpha"]))


@ONNX_EMITTERS.register("Elu")
def emit_elu(ctx: OnnxContext, node: Node) -> None:
    """Elu → Elu(alpha=1)."""
    x, y = _unary_io(ctx, node)
    ctx.add1("Elu", [x], y, alpha=1.0)


@ONNX_EMITTERS.register("HardSwish")
def emit_hard_swish(ctx: OnnxContext, node: Node) -> None:
    """HardSwish (x·relu6(x+3)/6) → HardSwish from opset 14; below, Mul(x, HardSigmoid(x, 1/6, 0.5))."""
    x, y = _unary_io(ctx, node)
    if ctx.opset >= 14:
        ctx.add1("HardSwish", [x], y)
    else:
        ctx.add1("Mul", [x, ctx.add1("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)], y)


@ONNX_EMITTERS.register("Rsqrt")
def emit_rsqrt(ctx: OnnxContext, node: Node) -> None:
    """Rsqrt → Reciprocal(Sqrt(x))."""
    x, y = _unary_io(ctx, node)
    ctx.add1("Reciprocal", [ctx.add1("Sqrt", [x])], y)


@ONNX_EMITTERS.register("Square")
def emit_square(ctx: OnnxContext, node: Node) -> None:
    """Square → Mul(x, x)."""
    x, y = _unary_io(ctx, node)
    ctx.add1("Mul", [x, x], y)


@ONNX_EMITTERS.register("Gelu")
def emit_gelu(ctx: OnnxContext, node: Node) -> None:
    """Gelu → Gelu (approximate "tanh" when approximate) from opset 20; below, decomposed:
    0.5·x·(1 + Erf(x/√2)), or 0.5·x·(1 + Tanh(√(2/π)·(x + 0.044715·x³)))."""
    x, y = _unary_io(ctx, node)
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


# ---------------------------------------------------------------------------- n-ary elementwise

def _nary_io(ctx: OnnxContext, node: Node, inputs: list | None = None) -> tuple[list[str], str]:
    """Inputs as broadcast operands in the chosen layout, and the output name."""
    ins = [v for v in (inputs if inputs is not None else node.inputs)]
    out = node.output
    layout = choose_layout(ctx, ins, out.rank, out)
    names = [ctx.operand(v, out.rank, layout) for v in ins]
    return names, ctx.set_output(out, layout)


_SIMPLE_BINARY = {
    "Add": "Add", "Sub": "Sub", "Mul": "Mul", "Maximum": "Max", "Minimum": "Min", "Pow": "Pow",
    "LogicalAnd": "And", "LogicalOr": "Or", "Equal": "Equal", "Less": "Less", "LessEqual": "LessOrEqual",
    "Greater": "Greater", "GreaterEqual": "GreaterOrEqual",
}


@ONNX_EMITTERS.register(*_SIMPLE_BINARY)
def emit_binary(ctx: OnnxContext, node: Node) -> None:
    """Add, Sub, Mul, Maximum → Max, Minimum → Min, Pow, LogicalAnd → And, LogicalOr → Or,
    Equal, Less, LessEqual → LessOrEqual, Greater, GreaterEqual → GreaterOrEqual (NumPy broadcasting)."""
    (a, b), y = _nary_io(ctx, node)
    ctx.add1(_SIMPLE_BINARY[node.op], [a, b], y)


@ONNX_EMITTERS.register("NotEqual")
def emit_not_equal(ctx: OnnxContext, node: Node) -> None:
    """NotEqual → Not(Equal(a, b))."""
    (a, b), y = _nary_io(ctx, node)
    ctx.add1("Not", [ctx.add1("Equal", [a, b])], y)


@ONNX_EMITTERS.register("SquaredDifference")
def emit_squared_difference(ctx: OnnxContext, node: Node) -> None:
    """SquaredDifference → d = Sub(a, b); Mul(d, d)."""
    (a, b), y = _nary_io(ctx, node)
    d = ctx.add1("Sub", [a, b])
    ctx.add1("Mul", [d, d], y)


def _is_float(node: Node) -> bool:
    return node.output.dtype.is_float


def _floor_mod(ctx: OnnxContext, node: Node, a: str, b: str, out: str | None = None) -> str:
    """a mod b with the sign of b (Python/NumPy semantics)."""
    if not _is_float(node):
        return ctx.add1("Mod", [a, b], out, fmod=0)
    # ONNX requires fmod=1 for floats (C fmod: sign of a); fix the sign as NumPy does.
    r = ctx.add1("Mod", [a, b], fmod=1)
    zero = ctx.scalar(0, node.output)
    nonzero = ctx.add1("Not", [ctx.add1("Equal", [r, zero])])
    differ = ctx.add1("Xor", [ctx.add1("Less", [r, zero]), ctx.add1("Less", [b, zero])])
    fix = ctx.add1("And", [nonzero, differ])
    return ctx.add1("Where", [fix, ctx.add1("Add", [r, b]), r], out)


@ONNX_EMITTERS.register("FloorMod")
def emit_floor_mod(ctx: OnnxContext, node: Node) -> None:
    """FloorMod → Mod(fmod=0) for integers; floats: Mod(fmod=1) then add b where the signs differ."""
    (a, b), y = _nary_io(ctx, node)
    _floor_mod(ctx, node, a, b, y)


@ONNX_EMITTERS.register("FloorDiv")
def emit_floor_div(ctx: OnnxContext, node: Node) -> None:
    """FloorDiv → Floor(Div(a, b)) for floats; integers: Div(a − FloorMod(a, b), b), exact."""
    (a, b), y = _nary_io(ctx, node)
    if _is_float(node):
        ctx.add1("Floor", [ctx.add1("Div", [a, b])], y)
    else:
        ctx.add1("Div", [ctx.add1("Sub", [a, _floor_mod(ctx, node, a, b)]), b], y)


@ONNX_EMITTERS.register("Div")
def emit_div(ctx: OnnxContext, node: Node) -> None:
    """Div → Div for floats; integers floor-divide in the IR (ONNX Div truncates), as FloorDiv."""
    if _is_float(node):
        (a, b), y = _nary_io(ctx, node)
        ctx.add1("Div", [a, b], y)
    else:
        emit_floor_div(ctx, node)


@ONNX_EMITTERS.register("Select")
def emit_select(ctx: OnnxContext, node: Node) -> None:
    """Select(cond, a, b) → Where(cond, a, b) (a non-bool cond is cast to bool: nonzero is true)."""
    (c, a, b), y = _nary_io(ctx, node)
    cond = node.inputs[0]
    assert cond is not None
    if cond.dtype != DType.BOOL:
        c = ctx.add1("Cast", [c], to=ONNX_DTYPE[DType.BOOL])
    ctx.add1("Where", [c, a, b], y)


@ONNX_EMITTERS.register("PRelu")
def emit_prelu(ctx: OnnxContext, node: Node) -> None:
    """PRelu(x, alpha) → PRelu with alpha broadcast (and permuted) to x's layout."""
    x, alpha = node.inputs
    assert x is not None and alpha is not None
    layout = choose_layout(ctx, [x], x.rank, node.output)
    y = ctx.set_output(node.output, layout)
    ctx.add1("PRelu", [ctx.get(x, layout), ctx.operand(alpha, x.rank, layout)], y)


@ONNX_EMITTERS.register("Cast")
def emit_cast(ctx: OnnxContext, node: Node) -> None:
    """Cast(to) → Cast(to); float → int truncates toward zero in both."""
    x, y = _unary_io(ctx, node)
    ctx.add1("Cast", [x], y, to=ONNX_DTYPE[DType(node.attrs["to"])])

