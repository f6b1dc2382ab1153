"""Runtime kernels: ONE table, ``KERNELS[(TFLite op name, dtype name)] -> prepare function``.

The table is filled by ``@register`` decorators in the family modules imported explicitly below
(no folder scanning); see :mod:`.base` for the prepare/eval contract. Families (float32, plus the
integer/bool versions of data movement, comparisons and index arithmetic):

* ``conv``: CONV_2D (im2col + one GEMM; groups; one-channel groups run as depthwise),
  DEPTHWISE_CONV_2D (tap loop, or einsum over a window view), TRANSPOSE_CONV;
* ``dense``: FULLY_CONNECTED, BATCH_MATMUL;
* ``elementwise``: ADD/SUB/MUL/DIV (fused activation), MAXIMUM, MINIMUM, POW, SQUARED_DIFFERENCE,
  FLOOR_DIV, FLOOR_MOD, comparisons, LOGICAL_*, SELECT/SELECT_V2, CAST;
* ``activations``: unary math and activations, GELU, PRELU, SOFTMAX, LOG_SOFTMAX;
* ``pooling``: MAX_POOL_2D, AVERAGE_POOL_2D; ``reduce``: MEAN, SUM, REDUCE_*, ARG_MAX/ARG_MIN;
* ``shape``: reshape/transpose/concat/pad/slicing/gather/split/tile/pack/... and SHAPE;
* ``resize``: RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR; ``quant``: QUANTIZE, DEQUANTIZE.
"""

from __future__ import annotations

from . import activations, conv, dense, elementwise, pooling, quant, reduce, resize, shape  # noqa: F401
from .base import (DTYPE_INPUT, KERNELS, ActivationFn, EvalFn, Memo, OpContext, PrepareFn, ScratchSpec, TensorSpec,
                   register, supported_ops)

__all__ = ["DTYPE_INPUT", "KERNELS", "ActivationFn", "EvalFn", "Memo", "OpContext", "PrepareFn", "ScratchSpec",
           "TensorSpec", "register", "supported_ops"]
