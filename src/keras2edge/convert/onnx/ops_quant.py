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

A Dequantize of a constant (quantized weights, biases) is written where it is read: a convolution
or dense emitter asks :func:`weight` for its kernel in its own layout (OIHW, ...), which writes
the integer constant in that layout and a DequantizeLinear whose per-channel ``axis`` follows the
output-channel axis to its new place; any other reader gets the NHWC DequantizeLinear. ONNX's QuantizeLinear
rounds half to even where the IR (TFLite Micro) rounds half away from zero: on an exact tie
(x / scale = k + 0.5) the ONNX file's integer differs by one (shared/docs/int8-arithmetic.md §5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ...ir.dtypes import DType
from ...ir.node import Node
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
        ctx.defer(out, NHWC, lambda: _linear(ctx, node.op, ctx.get(x, NHWC), q, qtype, node.name, q.axis,
                                             ctx.claim(out)))
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
    _linear(ctx, node.op, ctx.get(x, layout), q, qtype, node.name, q.axis, ctx.set_output(node.output, layout))


def _cast(ctx: OnnxContext, x: str, out: str | None = None) -> str:
    """float16 ONNX tensor ``x`` widened to float32 (a Dequantize without parameters)."""
    return ctx.add1("Cast", [x], out, to=ONNX_DTYPE[DType.FLOAT32])


def _linear(ctx: OnnxContext, op: str, x: str, q: QuantParams, qtype: DType, name: str, axis: int | None,
            out: str | None = None) -> str:
    """QuantizeLinear/DequantizeLinear of ONNX tensor ``x`` with ``q`` (per channel on ``axis``)."""
    shape = (q.channels,) if q.axis is not None else ()
    scale = ctx.const(q.scale.reshape(shape), name=f"{name}/scale")
    zero_point = ctx.const(q.zero_point.astype(qtype.np).reshape(shape), name=f"{name}/zero_point")
    attrs = {"axis": axis} if q.axis is not None else {}
    return ctx.add1(OPS[op], [x, scale, zero_point], out, **attrs)


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
    return _linear(ctx, "Dequantize", ctx.const_value(c, key, fn), q, c.dtype, dq.name, axis)


def dequantized(data: np.ndarray, q: QuantParams) -> np.ndarray:
    """The float32 values a Dequantize of constant ``data`` computes: float32(float64(s) * (q - z)),
    per channel on ``q.axis`` (how int64 constants, which DequantizeLinear does not take, are written)."""
    shape = [1] * data.ndim
    if q.axis is not None:
        shape[q.axis] = -1
    s = q.scale.astype(np.float64).reshape(shape) if data.ndim else q.scale.astype(np.float64)[0]
    z = q.zero_point.reshape(shape) if data.ndim else q.zero_point[0]
    return (s * (data.astype(np.float64) - z)).astype(np.float32)
