"""ONNX emitters for the dense ops: FullyConnected (→ Gemm / MatMul (+ Add), or a 1×1 Conv on a
channels-first input) and BatchMatMul (→ MatMul in NHWC)."""

from __future__ import annotations

import numpy as np

from ...ir.node import Node
from .context import ONNX_EMITTERS, OnnxContext
from .layout import CF, FLAT_CF, NHWC, permute_fc_rows
from .ops_conv import bias_names
from .ops_quant import weight


@ONNX_EMITTERS.register("FullyConnected")
def emit_fully_connected(ctx: OnnxContext, node: Node) -> None:
    """FullyConnected (x @ w + b over the last axis) → Gemm for rank-2 float input, else MatMul (+ Add).

    A channels-first input of rank >= 3 with constant (or dequantized constant) weights becomes a 1×1 Conv (stays NCHW);
    a flattened channels-first input (see ``layout.flatten_into_fc``) gets its weight rows permuted.
    """
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    assert x is not None and w is not None
    layout = ctx.layout(x)
    if layout == FLAT_CF:
        src, _ = ctx.flat_sources[id(x)]
        if w.is_const:
            wname = ctx.const_value(w, f"rows_nchw:{id(x)}", lambda a: permute_fc_rows(a, ctx.shape(src)),
                                    suffix="rows_nchw", shape=w.shape)
        else:  # quantized weights: the rows of the integer constant permuted, axis 1 unchanged
            name = weight(ctx, w, f"rows_nchw:{id(x)}", lambda a: permute_fc_rows(a, ctx.shape(src)), None)
            if name is None:
                raise ctx.unsupported(node, "a flattened channels-first input needs constant weights")
            wname = name
        xin = ctx.get(x, FLAT_CF)
    elif x.rank >= 3 and layout == CF and (b is None or b.rank == 1) and \
            (wconv := weight(ctx, w, f"conv1x1_{x.rank}", lambda a: np.ascontiguousarray(a.T).reshape(
                (a.shape[1], a.shape[0]) + (1,) * (x.rank - 2)), (1, 0))) is not None:
        wname = wconv
        xin = ctx.get(x, CF)
        y = ctx.set_output(node.output, CF)
        ctx.add1("Conv", [xin, wname] + bias_names(ctx, node), y, kernel_shape=[1] * (x.rank - 2))
        return
    else:
        xin = ctx.get(x, NHWC)
        wname = ctx.get(w)
    y = ctx.set_output(node.output, NHWC)
    if node.output.rank == 2 and node.output.dtype.is_float:
        ctx.add1("Gemm", [xin, wname] + bias_names(ctx, node), y)
    elif b is None:
        ctx.add1("MatMul", [xin, wname], y)
    else:
        ctx.add1("Add", [ctx.add1("MatMul", [xin, wname]), ctx.get(b)], y)


@ONNX_EMITTERS.register("BatchMatMul")
def emit_batch_matmul(ctx: OnnxContext, node: Node) -> None:
    """BatchMatMul → MatMul in NHWC (NumPy matmul broadcasting); adj_x / adj_y transpose the last two axes."""
    names = []
    for v, adj in zip(node.inputs, (node.attrs["adj_x"], node.attrs["adj_y"])):
        assert v is not None
        name = ctx.get(v, NHWC)
        if adj:
            r = v.rank
            perm = list(range(r - 2)) + [r - 1, r - 2]
            name = ctx.transpose(name, perm, ctx.shape(v))
        names.append(name)
    ctx.add1("MatMul", names, ctx.set_output(node.output, NHWC))
