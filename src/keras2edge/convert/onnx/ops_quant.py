"""ONNX emitters for the quantization ops: Quantize -> QuantizeLinear, Dequantize -> DequantizeLinear
(of float16: Cast to float32).

Scale and zero point become initializers (a scalar per tensor; 1-D with ``axis`` per channel). The
op works on NHWC values, so the IR axis is the ONNX axis, and for per-tensor parameters too: with a
channels-first value, onnxruntime 1.32's layout optimizer (ORT_ENABLE_ALL, its default) rewrites
DequantizeLinear + Transpose into a QuantizeLinear whose zero point type it gets wrong, and the model
fails to load. int16 needs opset 21. ONNX's QuantizeLinear
rounds half to even where the IR (TFLite Micro) rounds half away from zero: on an exact tie
(x / scale = k + 0.5) the ONNX file's integer differs by one (shared/docs/int8-arithmetic.md §5).
"""

from __future__ import annotations

from ...ir.dtypes import DType
from ...ir.node import Node
from .context import ONNX_DTYPE, ONNX_EMITTERS, OnnxContext
from .layout import NHWC

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
    if q is None:  # Dequantize of float16 (stored weights): an exact widening
        ctx.add1("Cast", [ctx.get(x, NHWC)], ctx.set_output(node.output, NHWC), to=ONNX_DTYPE[DType.FLOAT32])
        return
    qtype = q.qtype if node.op == "Quantize" else x.dtype
    if node.op == "Quantize" and qtype == DType.INT32:
        raise ctx.unsupported(node, "QuantizeLinear does not produce int32")
    if ctx.opset < MIN_OPSET[qtype]:
        raise ctx.unsupported(node, f"{OPS[node.op]} on {qtype.value} needs opset {MIN_OPSET[qtype]} or newer "
                                    f"(this file is opset {ctx.opset})")
    per_axis = q.axis is not None
    layout = NHWC
    shape = (q.channels,) if per_axis else ()
    scale = ctx.initializer(q.scale.reshape(shape), f"{node.name}/scale")
    zero_point = ctx.initializer(q.zero_point.astype(qtype.np).reshape(shape), f"{node.name}/zero_point")
    attrs = {"axis": q.axis} if per_axis else {}
    ctx.add1(OPS[node.op], [ctx.get(x, layout), scale, zero_point], ctx.set_output(node.output, layout), **attrs)
