"""ONNX emitters for the quantization ops: Quantize -> QuantizeLinear, Dequantize -> DequantizeLinear
(of float16: Cast to float32).

Scale and zero point become initializers (a scalar per tensor; 1-D with ``axis`` per channel), shared
by content (an activation's QuantizeLinear and DequantizeLinear read one pair; named after the first
node that needs it). The op works on NHWC values, so the IR axis is the ONNX axis, and for
per-tensor parameters too: with a channels-first value, onnxruntime 1.32's layout optimizer
(ORT_ENABLE_ALL, its default) rewrites
DequantizeLinear + Transpose into a QuantizeLinear whose zero point type it gets wrong, and the model
fails to load. int16 needs opset 21. DequantizeLinear takes no int64: a Dequantize of an int64 constant
(a 16x8 op's bias) is written as the float32 values it computes (:func:`dequantized`).

A Dequantize of a constant (quantized weights, biases) is written where it is read, once per layout
(its output named ``w_<k>``, the integer initializer after the IR constant): a convolution
or dense emitter asks :func:`weight` for its kernel in its own layout (OIHW, ...), which writes
the integer constant in that layout and a DequantizeLinear whose per-channel ``axis`` follows the
output-channel axis to its new place; any other reader gets the NHWC DequantizeLinear. ONNX's QuantizeLinear
rounds half to even where the IR (TFLite Micro) rounds half away from zero: on an exact tie
(x / scale = k + 0.5) the ONNX file's integer differs by one (shared/docs/int8-arithmetic.md §5).

Data movement runs on the integers (:func:`integer_moves`): an op that only moves or picks elements
(the op spec's ``selects``: Reshape, Split, Squeeze, Concatenation, Gather, ...; window ops stay float)
between Dequantize outputs and Quantize nodes that all carry one parameter set is written on the
QuantizeLinear's integer tensor, the Dequantize before it and the Quantize after it left out (both
alias the integer tensor): the same elements, exactly, as DequantizeLinear -> op -> QuantizeLinear
gives. Such a Dequantize goes only if every reader moves integers, so every op that computes still
reads a DequantizeLinear and feeds a QuantizeLinear, the pattern onnxruntime fuses into its integer
kernels (QLinearConv, QLinearAdd, ...): leaving a pair out in front of one changes its results. An
unrolled LSTM's gate Split -> Squeeze -> Split took a pair per slice.

The file stays small (a QDQ file is no larger than the float one where the int8 ``.tflite`` is not):
a QuantizeLinear/DequantizeLinear node is unnamed and has no doc string (its output names it); its
scale and zero point are initializers ``s_<k>``/``z_<k>`` shared by content; the float value a
QuantizeLinear reads is held under a short name ``t_<k>`` and the DequantizeLinear after it takes the
value's IR name (the Keras layer's), so every consumer reads the name it reads in the float file
(:func:`short_values`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ...ir.dtypes import DType
from ...ir.graph import Graph
from ...ir.node import Node
from ...ir.ops import op_spec
from ...ir.quant import QuantParams
from ...ir.value import Value
from .context import ONNX_DTYPE, ONNX_EMITTERS, OnnxContext
from .layout import CF, NHWC

OPS = {"Quantize": "QuantizeLinear", "Dequantize": "DequantizeLinear"}
#: The first opset whose QuantizeLinear/DequantizeLinear take each integer type.
MIN_OPSET = {DType.INT8: 13, DType.UINT8: 13, DType.INT16: 21, DType.INT32: 13}


@ONNX_EMITTERS.register(*OPS)
def emit_quant(ctx: OnnxContext, node: Node) -> None:
    """Quantize → QuantizeLinear, Dequantize → DequantizeLinear (x, scale, zero_point[, axis])."""
    x = node.inputs[0]
    if x is None:
        raise ctx.unsupported(node, "missing input")
    q = node.attrs["quant"]
    if q is None:  # Dequantize of float16 (stored weights): an exact widening, written where it is read
        out = node.output
        if x.is_const:
            ctx.defer(out, NHWC, lambda: _cast(ctx, ctx.get(x, NHWC), ctx.claim(out)))
        else:
            _cast(ctx, ctx.get(x, NHWC), ctx.set_output(out, NHWC))
        return
    qtype = q.qtype if node.op == "Quantize" else x.dtype
    if node.op == "Dequantize" and x.is_const and x.dtype == DType.INT64:
        out = node.output
        ctx.defer(out, NHWC, lambda: ctx.add1("Identity", [ctx.initializer(dequantized(x.const, q), x.name)],
                                              ctx.claim(out)))
        return
    if node.op == "Quantize" and qtype == DType.INT32:
        raise ctx.unsupported(node, "QuantizeLinear does not produce int32")
    if ctx.opset < MIN_OPSET[qtype]:
        raise ctx.unsupported(node, f"{OPS[node.op]} on {qtype.value} needs opset {MIN_OPSET[qtype]} or newer "
                                    f"(this file is opset {ctx.opset})")
    if node.op == "Dequantize" and x.is_const:
        out = node.output
        ctx.defer(out, NHWC, lambda: _linear(ctx, node.op, ctx.get(x, NHWC), q, qtype, q.axis,
                                             ctx.claim(out) if any(o is out for o in ctx.graph.outputs) else ctx.fresh("w"),
                                             constant=True))
        return
    # Per-tensor parameters work in any layout. A Quantize works where its input is; a Dequantize
    # where its readers want it (channels first when bound for a convolution), so a layout change
    # is a Transpose of the integers before it: a Transpose right after a DequantizeLinear trips
    # onnxruntime 1.32's QDQ propagation at opset >= 21 (see the module docstring).
    if q.axis is not None or x.rank < 3:
        layout = NHWC
    elif node.op == "Quantize":
        layout = ctx.layout(x)
    else:
        layout = CF if id(node.output) in ctx.bound_for_cf else NHWC
    if node.op == "Quantize" and x.producer is not None and id(x.producer) in ctx.integer_moves:
        ctx.alias(node.output, ctx.layout(x), ctx.get(x))  # x holds the integers already
        return
    if node.op == "Dequantize" and _absorbed(ctx, node):
        ctx.alias(node.output, ctx.layout(x), ctx.get(x))  # every reader moves the integers
        return
    if node.op == "Quantize":  # the float value's IR name when only moves read the integers (see short_values)
        dqs = [r for r, _ in node.output.uses if r.op == "Dequantize"]
        name = x.name if id(x) in ctx.short_values and dqs and all(_absorbed(ctx, r) for r in dqs) else "q"
    else:  # the IR name of the float value, handed over when that one is held under a short name
        src = x.producer.inputs[0] if x.producer is not None and x.producer.op == "Quantize" else None
        name = src.name if src is not None and id(src) in ctx.short_values else f"{(src or x).name}/dq"
    _linear(ctx, node.op, ctx.get(x, layout), q, qtype, q.axis, ctx.set_output(node.output, layout, name=name))


def _absorbed(ctx: OnnxContext, dequantize: Node) -> bool:
    """Whether ``dequantize`` (of an activation) is left out: every reader moves its integers."""
    readers = [r for r, _ in dequantize.output.uses]
    return bool(readers) and all(id(r) in ctx.integer_moves for r in readers)


def integer_moves(graph: Graph) -> set[int]:
    """Ids of the nodes the ONNX file runs on integers (see the module): a ``selects`` op (not a
    window op: ONNX MaxPool has no int16 kernel in onnxruntime) whose float inputs are activation
    Dequantize outputs with one per-tensor parameter set p, whose outputs only Quantize nodes of p
    read, and whose input Dequantizes have no reader that computes (checked to a fixed point: a
    Dequantize stays when any reader needs its float values)."""
    outputs = {id(v) for v in graph.outputs}

    def params(v: Value) -> QuantParams | None:
        d = v.producer
        if d is None or d.op != "Dequantize" or id(v) in outputs or d.inputs[0] is None or d.inputs[0].is_const:
            return None
        q = d.attrs["quant"]
        return q if q is not None and q.axis is None else None

    moves: dict[int, Node] = {}
    for node in graph.nodes:
        spec = op_spec(node.op)
        floats = [v for v in node.inputs if v is not None and v.dtype.is_float]
        if not spec.selects or spec.spatial or not floats:
            continue
        ps = {params(v) for v in floats}
        p = ps.pop() if len(ps) == 1 else None
        if p is None or any(id(o) in outputs or not o.uses or any(u.op != "Quantize" or u.attrs["quant"] != p
                                                                    for u, _ in o.uses) for o in node.outputs):
            continue
        moves[id(node)] = node
    changed = True
    while changed:
        changed = False
        for nid, node in list(moves.items()):
            if any(id(r) not in moves for v in node.inputs if v is not None and v.dtype.is_float for r, _ in v.uses):
                del moves[nid]
                changed = True
    return set(moves)


def short_values(graph: Graph) -> set[int]:
    """Ids of the float values (not Dequantize outputs: a requantize keeps its names) that only
    Quantize nodes read, one of them read by a Dequantize: the
    ONNX file holds each under a short fresh name and gives its IR name (the Keras layer's) to the
    DequantizeLinear, the tensor every consumer reads; the float model names the same tensor the same
    way, and a Quantize -> Dequantize pair adds only short names (see :func:`_linear`)."""
    outputs = {id(v) for v in graph.outputs}
    found: set[int] = set()
    for node in graph.nodes:
        for v in node.outputs:
            uses = [n for n, _ in v.uses]
            if (id(v) in outputs or not v.dtype.is_float or not uses or node.op == "Dequantize"
                    or any(n.op != "Quantize" for n in uses)):
                continue
            if any(r.op == "Dequantize" for n in uses for r, _ in n.output.uses):
                found.add(id(v))
    return found


def _cast(ctx: OnnxContext, x: str, out: str | None = None) -> str:
    """float16 ONNX tensor ``x`` widened to float32 (a Dequantize without parameters)."""
    return ctx.add1("Cast", [x], out, to=ONNX_DTYPE[DType.FLOAT32])


def _linear(ctx: OnnxContext, op: str, x: str, q: QuantParams, qtype: DType, axis: int | None,
            out: str | None = None, *, constant: bool = False) -> str:
    """QuantizeLinear/DequantizeLinear of ONNX tensor ``x`` with ``q`` (per channel on ``axis``): an
    unnamed node (its output names it) whose scale and zero point are initializers shared by content.
    The zero point of a ``constant``'s DequantizeLinear (weights, biases: per channel, an int32 array
    as long as the bias) is left out when it is 0, its default; an activation's is always written:
    without it onnxruntime 1.31's QDQ fusions give other results (k3-bn_eps's output moved by 4.0)."""
    shape = (q.channels,) if q.axis is not None else ()
    inputs = [x, ctx.const(q.scale.reshape(shape), name="s")]
    if not constant or np.any(q.zero_point):
        inputs.append(ctx.const(q.zero_point.astype(qtype.np).reshape(shape), name="z"))
    attrs = {"axis": axis} if q.axis is not None else {}
    return ctx.add1(OPS[op], inputs, out, name="", doc="", **attrs)


def weight(ctx: OnnxContext, w: Value, key: str, fn: Callable[[np.ndarray], np.ndarray],
           perm: Sequence[int] | None) -> str | None:
    """The ONNX tensor of weight ``w`` rearranged by ``fn`` (cached under ``key``): a constant's
    initializer, or for a Dequantize of a constant the integer constant rearranged and dequantized
    on the channel axis's new place (``perm``: the transpose ``fn`` applies; None: axes unchanged).
    None if ``w`` is neither (a computed tensor)."""
    if w.is_const:
        return ctx.const_value(w, key, fn)
    dq = w.producer
    c = dq.inputs[0] if dq is not None and dq.op == "Dequantize" else None
    if dq is None or c is None or not c.is_const:
        return None
    q: QuantParams | None = dq.attrs["quant"]
    if q is None:  # float16 weights: stored in the op's layout, widened by a Cast
        return _cast(ctx, ctx.const_value(c, key, fn))
    if c.dtype == DType.INT64:
        real = dequantized(c.const, q)  # type: ignore[arg-type]
        return ctx.initializer(real if fn is None else np.ascontiguousarray(fn(real)), f"{c.name}_{key or 'const'}")
    axis = q.axis if q.axis is None or perm is None else list(perm).index(q.axis)
    return ctx.memo(("dequantized", id(c), key), lambda: _linear(
        ctx, "Dequantize", ctx.const_value(c, key, fn), q, c.dtype, axis, ctx.fresh("w"), constant=True))


def dequantized(data: np.ndarray, q: QuantParams) -> np.ndarray:
    """The float32 values a Dequantize of constant ``data`` computes: float32(float64(s) * (q - z)),
    per channel on ``q.axis`` (how int64 constants, which DequantizeLinear does not take, are written)."""
    shape = [1] * data.ndim
    if q.axis is not None:
        shape[q.axis] = -1
    s = q.scale.astype(np.float64).reshape(shape) if data.ndim else q.scale.astype(np.float64)[0]
    z = q.zero_point.reshape(shape) if data.ndim else q.zero_point[0]
    return (s * (data.astype(np.float64) - z)).astype(np.float32)
