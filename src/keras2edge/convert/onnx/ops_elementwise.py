"""ONNX emitters for elementwise ops: unary math, binary arithmetic, comparisons, logical ops,
Select, Cast and Identity (the activations are in ``ops_activation``).

All of them keep their input's layout (:func:`layout.choose_layout`); constant and lower-rank
operands are broadcast to match (a per-channel ``(C,)`` constant becomes ``(C, 1, 1)`` in NCHW).
"""

from __future__ import annotations

from ...ir.dtypes import DType
from ...ir.node import Node
from .context import ONNX_DTYPE, ONNX_EMITTERS, OnnxContext
from .layout import choose_layout

# ---------------------------------------------------------------------------- unary

_SIMPLE_UNARY = {
    "Identity": "Identity", "Exp": "Exp", "Log": "Log", "Abs": "Abs", "Neg": "Neg", "Sqrt": "Sqrt",
    "Sin": "Sin", "Cos": "Cos", "Floor": "Floor", "Ceil": "Ceil", "Round": "Round", "Sign": "Sign",
    "LogicalNot": "Not",
}


def unary_io(ctx: OnnxContext, node: Node) -> tuple[str, str]:
    x = node.inputs[0]
    assert x is not None
    layout = ctx.layout(x)
    return ctx.get(x, layout), ctx.set_output(node.output, layout)


@ONNX_EMITTERS.register(*_SIMPLE_UNARY)
def emit_unary(ctx: OnnxContext, node: Node) -> None:
    """Identity, Exp, Log, Abs, Neg, Sqrt, Sin, Cos, Floor, Ceil, Round (half to even in both), Sign,
    LogicalNot → Not."""
    x, y = unary_io(ctx, node)
    ctx.add1(_SIMPLE_UNARY[node.op], [x], y)


@ONNX_EMITTERS.register("Rsqrt")
def emit_rsqrt(ctx: OnnxContext, node: Node) -> None:
    """Rsqrt → Reciprocal(Sqrt(x))."""
    x, y = unary_io(ctx, node)
    ctx.add1("Reciprocal", [ctx.add1("Sqrt", [x])], y)


@ONNX_EMITTERS.register("Square")
def emit_square(ctx: OnnxContext, node: Node) -> None:
    """Square → Mul(x, x)."""
    x, y = unary_io(ctx, node)
    ctx.add1("Mul", [x, x], y)


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


@ONNX_EMITTERS.register("Cast")
def emit_cast(ctx: OnnxContext, node: Node) -> None:
    """Cast(to) → Cast(to); float → int truncates toward zero in both."""
    x, y = unary_io(ctx, node)
    ctx.add1("Cast", [x], y, to=ONNX_DTYPE[DType(node.attrs["to"])])
