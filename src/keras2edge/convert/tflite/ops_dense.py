"""TFLite emitters for the dense ops: FullyConnected → FULLY_CONNECTED (weights (N, K)), BatchMatMul →
BATCH_MATMUL."""

from __future__ import annotations

from ...ir.node import Node
from .emitter import TFLITE_EMITTERS, TFLiteContext
from .ops_conv import bias_input


@TFLITE_EMITTERS.register("FullyConnected")
def emit_fully_connected(ctx: TFLiteContext, node: Node) -> None:
    """FullyConnected (x @ w + b over the last axis, w (K, N)) → FULLY_CONNECTED [x, W (N, K), bias or -1]
    with a fused activation; inputs of rank != 2 keep their leading dims (keep_num_dims, version 5),
    as the converter writes a Dense on a sequence. Computed (non-constant) weights are transposed by a
    TRANSPOSE first."""
    x, w = node.inputs[0], node.inputs[1]
    assert x is not None and w is not None
    b = bias_input(node)
    xin = ctx.tensor(x)
    if w.is_const:
        wt = ctx.const_value(w, "nk", lambda a: a.T)
    else:
        k, n = ctx.shape(w)
        wt = ctx.tmp([n, k], w.dtype, "weights_nk")
        ctx.add1("TRANSPOSE", [ctx.tensor(w), ctx.int32([1, 0], "perm")], wt)
    bias = None if b is None else ctx.tensor(b)
    y, act = ctx.fused_output(node)
    ctx.add1("FULLY_CONNECTED", [xin, wt, bias], y,
             {"fused_activation_function": act, "weights_format": 0, "keep_num_dims": x.rank != 2,
              "asymmetric_quantize_inputs": False})


@TFLITE_EMITTERS.register("BatchMatMul")
def emit_batch_matmul(ctx: TFLiteContext, node: Node) -> None:
    """BatchMatMul(adj_x, adj_y) → BATCH_MATMUL(adj_x, adj_y) (batch dims broadcast)."""
    a, b = node.inputs
    assert a is not None and b is not None
    ctx.add1("BATCH_MATMUL", [ctx.tensor(a), ctx.tensor(b)], ctx.out(node.output),
             {"adj_x": bool(node.attrs["adj_x"]), "adj_y": bool(node.attrs["adj_y"]),
              "asymmetric_quantize_inputs": False})
