"""TFLite emitters for the quantization ops: Quantize -> QUANTIZE, Dequantize -> DEQUANTIZE.

The parameters travel on the tensors (QuantizationParameters of the integer tensor, written from the
IR value's ``quant``): QUANTIZE's output, DEQUANTIZE's input. TFLite's QUANTIZE is per-tensor (TFLite
Micro supports nothing else), so a per-channel Quantize is refused; DEQUANTIZE takes per-axis
parameters (quantized_dimension = the IR axis: NHWC in both).
"""

from __future__ import annotations

from ...ir.node import Node
from .emitter import TFLITE_EMITTERS, TFLiteContext

OPS = {"Quantize": "QUANTIZE", "Dequantize": "DEQUANTIZE"}


@TFLITE_EMITTERS.register(*OPS)
def emit_quant(ctx: TFLiteContext, node: Node) -> None:
    """Quantize (float → int, per tensor) → QUANTIZE; Dequantize (int → float32) → DEQUANTIZE."""
    x = node.inputs[0]
    if x is None:
        raise ctx.unsupported(node, "missing input")
    if node.op == "Quantize" and node.attrs["quant"].axis is not None:
        raise ctx.unsupported(node, "TFLite's QUANTIZE quantizes per tensor; this Quantize is per channel "
                                    f"(axis {node.attrs['quant'].axis})")
    ctx.add1(OPS[node.op], [ctx.tensor(x)], ctx.out(node.output))
