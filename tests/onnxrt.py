"""Running ONNX in onnxruntime, the oracle of the ONNX emitter tests: a session (skipped, with the
reason, when the installed onnxruntime is too old to read the model's ONNX IR version), an emitted
model run on IR-order feeds (``run_onnx``), and an IR graph exported and run (``run_graph_onnx``).

keras2edge writes opsets 13..24; opset 24 needs ONNX IR 12, which onnxruntime reads from 1.24.
onnxruntime 1.23 is the last release for Python 3.10, so there those cases cannot be run and are
skipped visibly rather than failing (every other case still runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

_TOO_NEW = "Unsupported model IR version"


def ort_session(model: bytes | str, *, threads: int | None = 1) -> ort.InferenceSession:
    """A CPU session on ``model`` (serialized bytes or a path); ``threads`` intra-op threads."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads is not None:
        opts.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own Fail class
        if _TOO_NEW in str(e):
            pytest.skip(f"onnxruntime {ort.__version__} cannot read this model's ONNX IR version: {e}")
        raise


def _cf(a: np.ndarray) -> np.ndarray:
    """NHWC (IR order) -> channels first."""
    return np.transpose(a, [0, a.ndim - 1] + list(range(1, a.ndim - 1))) if a.ndim >= 3 else a


def _nhwc(a: np.ndarray) -> np.ndarray:
    """Channels first -> NHWC (IR order)."""
    return np.transpose(a, [0] + list(range(2, a.ndim)) + [1]) if a.ndim >= 3 else a


def run_onnx(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], *, nchw_inputs: bool = False,
             nchw_outputs: bool = False) -> dict[str, np.ndarray]:
    """Run the model on IR-order feeds (all intra-op threads); outputs by name, returned in IR order."""
    sess = ort_session(model.SerializeToString(), threads=None)
    names = [o.name for o in sess.get_outputs()]
    f = {k: (_cf(v) if nchw_inputs else v) for k, v in feeds.items()}
    outs = sess.run(names, f)
    return {n: (_nhwc(o) if nchw_outputs else o) for n, o in zip(names, outs)}


def run_graph_onnx(graph: Any, feeds: Mapping[str, np.ndarray], **kw: Any) -> list[np.ndarray]:
    """Export the IR ``graph`` to ONNX in memory (``to_onnx(graph, **kw)``) and run it in onnxruntime
    (1 thread); outputs in order."""
    from keras2edge.convert.onnx import to_onnx

    sess = ort_session(to_onnx(graph, **kw).SerializeToString())
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, {n: feeds[n] for n in names})
