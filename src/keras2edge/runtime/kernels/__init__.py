"""Runtime kernels: ONE table, ``KERNELS[(TFLite op name, dtype name)] -> prepare function``.

The table is filled by ``@register`` decorators in the family modules imported explicitly below
(no folder scanning); see :mod:`.base` for the prepare/eval contract and shared helpers, and
:mod:`.families` for which builtin belongs to which family module (``elementwise``, ``activation``,
``conv``, ``dense``, ``pool``, ``reduce``, ``shape``, ``resize``, ``quant``). Kernels are float32, plus
the integer/bool versions of data movement, comparisons and index arithmetic. Notable strategies:
Quantized kernels live in :mod:`.quantized`, one module per family. CONV_2D is im2col + one GEMM (groups; one-channel groups run as depthwise), DEPTHWISE_CONV_2D a tap
loop (or einsum over a window view).
"""

from __future__ import annotations

from . import activation, conv, dense, elementwise, pool, quant, reduce, resize, shape  # noqa: F401
from . import quantized  # noqa: F401  # the int8 / uint8 / int16 kernels (their own family modules)
from .base import (DTYPE_INPUT, KERNELS, ActivationFn, EvalFn, Memo, OpContext, PrepareFn, ScratchSpec, TensorSpec,
                   register, supported_ops)

__all__ = ["DTYPE_INPUT", "KERNELS", "ActivationFn", "EvalFn", "Memo", "OpContext", "PrepareFn", "ScratchSpec",
           "TensorSpec", "register", "supported_ops"]
