"""TFLite emitter for a BatchNorm the cleanup could not fold: MUL by the scale, then ADD the shift."""

from __future__ import annotations

import numpy as np

from ...ir.node import Node
from ...ir.ops.normalization import batchnorm_scale_shift
from ...runtime.codes import ACT_NONE
from .emitter import TFLITE_EMITTERS, TFLiteContext


@TFLITE_EMITTERS.register("BatchNorm")
def emit_batch_norm(ctx: TFLiteContext, node: Node) -> None:
    """BatchNorm (inference, last axis) that the cleanup could not fold → MUL by scale then ADD shift,
    precomputed constants when the statistics are constants, else RSQRT(var + eps)·gamma computed
    in the graph."""
    x, mean, var = node.inputs[0], node.inputs[1], node.inputs[2]
    gamma = node.inputs[3] if len(node.inputs) > 3 else None
    beta = node.inputs[4] if len(node.inputs) > 4 else None
    assert x is not None and mean is not None and var is not None
    eps = float(node.attrs["epsilon"])
    dt = x.dtype.np
    stats = [v for v in (mean, var, gamma, beta) if v is not None]
    c = ctx.shape(var)
    if all(v.is_const for v in stats):
        sc, shift = batchnorm_scale_shift(mean.const, var.const, None if gamma is None else gamma.const,  # type: ignore[arg-type]
                                          None if beta is None else beta.const, eps)
        scale_t = ctx.const(np.asarray(sc, dt), name="scale", share=False)
        shift_t = ctx.const(np.asarray(shift, dt), name="shift", share=False)
    else:
        ve = ctx.tmp(c, x.dtype, "var_eps")
        ctx.add1("ADD", [ctx.tensor(var), ctx.const(np.asarray(eps, dt), name="epsilon")], ve,
                 {"fused_activation_function": ACT_NONE})
        scale_t = ctx.tmp(c, x.dtype, "scale")
        ctx.add1("RSQRT", [ve], scale_t)
        if gamma is not None:
            g = ctx.tmp(c, x.dtype, "scale_gamma")
            ctx.add1("MUL", [scale_t, ctx.tensor(gamma)], g, {"fused_activation_function": ACT_NONE})
            scale_t = g
        ms = ctx.tmp(c, x.dtype, "mean_scale")
        ctx.add1("MUL", [ctx.tensor(mean), scale_t], ms, {"fused_activation_function": ACT_NONE})
        shift_t = ctx.tmp(c, x.dtype, "shift")
        if beta is not None:
            ctx.add1("SUB", [ctx.tensor(beta), ms], shift_t, {"fused_activation_function": ACT_NONE})
        else:
            ctx.add1("NEG", [ms], shift_t)
    scaled = ctx.tmp_like(node.output, "scaled")
    ctx.add1("MUL", [ctx.tensor(x), scale_t], scaled, {"fused_activation_function": ACT_NONE})
    y, act = ctx.fused_output(node)
    ctx.add1("ADD", [scaled, shift_t], y, {"fused_activation_function": act})
