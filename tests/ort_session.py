"""onnxruntime sessions for tests, skipped (with the reason) when the installed onnxruntime is too
old to read the model's ONNX IR version.

keras2edge writes opsets 13..24; opset 24 needs ONNX IR 12, which onnxruntime reads from 1.24.
onnxruntime 1.23 is the last release for Python 3.10, so there those cases cannot be run and are
skipped visibly rather than failing (every other case still runs).
"""

from __future__ import annotations

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
