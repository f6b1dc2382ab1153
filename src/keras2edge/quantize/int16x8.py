"""The 16x8 scheme ("int16x8", TFLite's 16x8 quantization): int16 activations, int8 weights.

Per TFLite's 16x8 spec (shared/docs/int8-arithmetic.md): activations symmetric int16 (zero point 0,
scale max|range| / 32767, ``params.activation_params16``); weights int8 symmetric per output channel
(as the int8 scheme); biases int64 with scale s_in * s_w[c]; Logistic, Tanh and Softmax write the
fixed int16 output of their spec (``fixed_output16``: 1/32768, 0). Ops whose builtin has no 16x8 kernel
in TFLite Micro and LiteRT (``check.support.int16_kernel``, probed) stay float between DEQUANTIZE and
QUANTIZE with a warning naming the Keras layer; ``keep_float`` layers stay float too
(``precision``). The planning and QDQ rewrite are the int8 scheme's (``int8.quantize_full``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ir.dtypes import DType
from .int8 import quantize_full
from .schemes import QuantizeOptions, register_scheme

if TYPE_CHECKING:
    from ..ir.graph import Graph


@register_scheme("int16x8")
def quantize_int16x8(graph: Graph, options: QuantizeOptions) -> Graph:
    """The "int16x8" scheme: a new graph in QDQ form with int16 activations (``graph`` is not modified)."""
    return quantize_full(graph, options, DType.INT16)


__all__ = ["quantize_int16x8"]
