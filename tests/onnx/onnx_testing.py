"""Helpers for the ONNX emitter tests: run models in onnxruntime (inputs and outputs optionally
channels-first), count ops. One-op IR graphs and comparing outputs: ``tests/ir_graphs.py``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
import onnxruntime as ort

from tests.ort_session import ort_session


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort_session(model.SerializeToString(), threads=None)


def cf(a: np.ndarray) -> np.ndarray:
    """NHWC (IR order) -> channels first."""
    return np.transpose(a, [0, a.ndim - 1] + list(range(1, a.ndim - 1))) if a.ndim >= 3 else a


def nhwc(a: np.ndarray) -> np.ndarray:
    """Channels first -> NHWC (IR order)."""
    return np.transpose(a, [0] + list(range(2, a.ndim)) + [1]) if a.ndim >= 3 else a


def run_onnx(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], *, nchw_inputs: bool = False,
             nchw_outputs: bool = False) -> dict[str, np.ndarray]:
    """Run the model on IR-order feeds; outputs by name, returned in IR order."""
    sess = session(model)
    names = [o.name for o in sess.get_outputs()]
    f = {k: (cf(v) if nchw_inputs else v) for k, v in feeds.items()}
    outs = sess.run(names, f)
    return {n: (nhwc(o) if nchw_outputs else o) for n, o in zip(names, outs)}


def count_ops(model: onnx.ModelProto, op_type: str) -> int:
    return sum(1 for n in model.graph.node if n.op_type == op_type)
