"""Pre-flight checks of a ``.tflite`` file for a deployment target (TFLite Micro).

``check_tflm(path) -> TflmCheck``: unsupported operators (:mod:`.support`), the tensor arena
(:mod:`.arena`, :mod:`.costs`), flash size and the C that reads and writes each input and output
(:mod:`.report`). Imports NumPy and keras2edge's runtime only.
"""

from __future__ import annotations

from .report import TensorIO, TflmCheck, build_check, check_tflm
from .support import OpFinding

__all__ = ["OpFinding", "TensorIO", "TflmCheck", "build_check", "check_tflm"]
