"""Helpers for the ONNX emitter tests: counting ops of an emitted model. Running it in onnxruntime:
``tests/onnxrt.py``; one-op IR graphs and comparing outputs: ``tests/ir_graphs.py``."""

from __future__ import annotations

import onnx


def count_ops(model: onnx.ModelProto, op_type: str) -> int:
    return sum(1 for n in model.graph.node if n.op_type == op_type)
