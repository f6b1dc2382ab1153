"""Quantized kernels (int8 / uint8 / int16 activations), one module per op family, registered in the
same table as the float kernels (``KERNELS[(op, "int8")]``...). :mod:`.common` holds what they share
(checked quantization parameters, integer ranges, fused-activation clamps, requantization); the
integer arithmetic itself is :mod:`keras2edge.runtime.fixed_point`, :mod:`~keras2edge.runtime.gemmlowp`
and :mod:`~keras2edge.runtime.int8_tables`. Every kernel follows TFLite Micro's reference kernels bit
for bit, and says in its docstring where LiteRT's reference kernels differ.
"""

from __future__ import annotations

from . import activation, conv, dense, elementwise, pool, quant, reduce, resize, shape  # noqa: F401
