"""ONNX emitter for BatchNorm: BatchNormalization when the channels are axis 1, else Mul + Add."""

from __future__ import annotations

import numpy as np

from ...ir.node import Node
from ...ir.ops.normalization import batchnorm_scale_shift
from .context import ONNX_EMITTERS, OnnxContext
from .layout import CF, NHWC


@ONNX_EMITTERS.register("BatchNorm")
def emit_batch_norm(ctx: OnnxContext, node: Node) -> None:
    """BatchNorm (over the last axis) → BatchNormalization when the channels are axis 1 (a channels-first
    input, or rank 2); otherwise Mul + Add with the folded scale and shift (precomputed when the
    statistics are constants)."""
    x, mean, var = node.inputs[0], node.inputs[1], node.inputs[2]
    gamma = node.inputs[3] if len(node.inputs) > 3 else None
    beta = node.inputs[4] if len(node.inputs) > 4 else None
    assert x is not None and mean is not None and var is not None
    eps = float(node.attrs["epsilon"])
    layout = ctx.layout(x)
    channels = ctx.shape(x)[-1]
    if (x.rank >= 3 and layout == CF) or x.rank == 2:
        if channels is None:
            raise ctx.unsupported(node, "the channel dimension must be known")
        ones = np.ones(int(channels), x.dtype.np)
        scale = ctx.get(gamma) if gamma is not None else ctx.const(ones, name="bn_ones")
        bias = ctx.get(beta) if beta is not None else ctx.const(np.zeros_like(ones), name="bn_zeros")
        ctx.add1("BatchNormalization", [ctx.get(x, layout), scale, bias, ctx.get(mean), ctx.get(var)],
                 ctx.set_output(node.output, layout), epsilon=eps)
        return
    xin = ctx.get(x, NHWC)
    y = ctx.set_output(node.output, NHWC)
    stats = [v for v in (mean, var, gamma, beta) if v is not None]
    if all(v.is_const for v in stats):
        s, shift = batchnorm_scale_shift(mean.const, var.const, None if gamma is None else gamma.const,  # type: ignore[arg-type]
                                         None if beta is None else beta.const, eps)
        sname = ctx.initializer(np.asarray(s, x.dtype.np), f"{node.name}/scale")
        bname = ctx.initializer(np.asarray(shift, x.dtype.np), f"{node.name}/shift")
    else:
        sname = ctx.add1("Reciprocal", [ctx.add1("Sqrt", [ctx.add1("Add", [ctx.get(var), ctx.scalar(eps, x)])])])
        if gamma is not None:
            sname = ctx.add1("Mul", [sname, ctx.get(gamma)])
        bname = ctx.add1("Neg", [ctx.add1("Mul", [ctx.get(mean), sname])])
        if beta is not None:
            bname = ctx.add1("Add", [bname, ctx.get(beta)])
    ctx.add1("Add", [ctx.add1("Mul", [xin, sname]), bname], y)
