"""The IR op vocabulary, one module per op family (the same family names as the emitters'
``ops_<family>.py`` and the runtime's ``kernels/<family>.py``):

elementwise (unary math, binary arithmetic, comparisons, logical, Select, Cast, Identity),
activation, conv, dense, pool, reduce, shape, resize, normalization, quant; ``core`` holds ``OpSpec``
(every per-op fact: family, typed attributes, dtypes, weight axes, channel flow, int8 rule, MACs),
the registry ``OPS`` and the shape helpers.

Ops are close to TFLite builtins so lowering is 1:1; layouts are TFLite/Keras NHWC; weight layouts
are Keras' own (each spec's ``weights`` names the channel axes). ``evaluate`` gives each op's exact
float semantics in NumPy; constant folding and tests use it.
"""

from __future__ import annotations

from . import activation, conv, dense, elementwise, normalization, pool, quant, reduce, resize, shape  # noqa: F401 - fill OPS
from ..activation import with_fused_activation
from .core import (OPS, REQUIRED, Attr, ChannelFlow, DTypes, EvalFn, Family, InferFn, OpSpec, QuantRule, Shape,
                   WeightAxes, broadcast_shapes, conv_out_dim, norm_axis, op_spec, ops_where, same_pads)

# Ops that can clamp their own output get the ``activation`` attribute (ir/activation.py).
for _name, _spec in list(OPS.items()):
    if _spec.fused_activation:
        OPS[_name] = with_fused_activation(_spec, OPS)

__all__ = ["OPS", "REQUIRED", "Attr", "ChannelFlow", "DTypes", "EvalFn", "Family", "InferFn", "OpSpec", "QuantRule",
           "Shape", "WeightAxes", "broadcast_shapes", "conv_out_dim", "norm_axis", "op_spec", "ops_where",
           "same_pads"]
